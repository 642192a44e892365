"""The rollout daemon (``cove-async serve``): rollout jobs for RL trainers over HTTP.

A trainer submits a job (tasks, a GRPO group size, the policy and user-simulator backends),
then streams its verified trajectories as NDJSON, resuming from a cursor after a disconnect or
a daemon restart; it pauses and resumes the inference servers around weight updates. Jobs share
one admission limiter, fairly; results are durable (:mod:`cove_async.store`). The wire types
live in :mod:`cove_async.client` (so the client installs light); the metric names are listed in
``_metrics``.

Layering inside: ``_errors``, ``_pause``, ``_feed``, ``_scrape``, ``_metrics`` → ``_jobs`` →
``_daemon`` → ``_http``.
"""

from cove_async.daemon._daemon import Daemon, DaemonConfig, is_loopback, serve_daemon
from cove_async.daemon._errors import ApiError
from cove_async.daemon._feed import JobFeed
from cove_async.daemon._metrics import DaemonMetrics
from cove_async.daemon._pause import PausableBackend, PauseBoard, PauseGate, group_key, server_key
from cove_async.daemon._scrape import BackendScraper

__all__ = (
    "ApiError",
    "BackendScraper",
    "Daemon",
    "DaemonConfig",
    "DaemonMetrics",
    "JobFeed",
    "PausableBackend",
    "PauseBoard",
    "PauseGate",
    "group_key",
    "is_loopback",
    "serve_daemon",
    "server_key",
)
