"""The engine's Prometheus metrics: one ``EngineMetrics`` per registry, a loop-lag watcher, ``/metrics``."""

from cove_async.metrics._engine import (
    LAG_BUCKETS,
    LATENCY_BUCKETS,
    SCORE_BUCKETS,
    VERIFIER_BUCKETS,
    EngineMetrics,
    Outcome,
    Role,
)
from cove_async.metrics._http import serve_metrics
from cove_async.metrics._lag import watch_loop_lag

__all__ = (
    "LAG_BUCKETS",
    "LATENCY_BUCKETS",
    "SCORE_BUCKETS",
    "VERIFIER_BUCKETS",
    "EngineMetrics",
    "Outcome",
    "Role",
    "serve_metrics",
    "watch_loop_lag",
)
