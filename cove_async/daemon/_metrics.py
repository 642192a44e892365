"""The daemon's Prometheus metrics, on top of the engine's and the inference servers'.

``GET /metrics`` on the daemon exports, on one registry:

**Engine** (shared by every job's engine; :class:`cove_async.metrics.EngineMetrics`):
``cove_build_info``, ``cove_trajectories_total{outcome}`` (perfect|imperfect|failed),
``cove_episodes_in_flight``, ``cove_episode_duration_seconds`` (histogram),
``cove_turns_total{role}``, ``cove_tool_calls_total{tool}``, ``cove_tool_errors_total{tool}``,
``cove_llm_request_duration_seconds{backend,role}`` (histogram),
``cove_llm_time_to_first_token_seconds{backend,role}`` (histogram),
``cove_llm_tokens_total{direction,role}``, ``cove_llm_retries_total{reason}``,
``cove_timeouts_total{reason}``, ``cove_verifier_duration_seconds`` (histogram),
``cove_verifier_score`` (histogram), ``cove_channel_depth{channel}``, ``cove_sandboxes_live``,
``cove_event_loop_lag_seconds`` (histogram), ``cove_admission_wait_seconds`` (histogram).

**Daemon** (this module; no label takes a job id):

- ``cove_daemon_jobs{state}``: jobs by state (preparing, running, done, cancelled, error).
- ``cove_daemon_jobs_submitted_total``: jobs accepted by ``POST /v1/jobs``.
- ``cove_daemon_jobs_finished_total{state}``: jobs that reached done, cancelled or error.
- ``cove_daemon_episodes_requested_total``: episodes asked for by submitted jobs.
- ``cove_daemon_episodes_remaining``: episodes of unfinished jobs not yet written.
- ``cove_daemon_trajectories_streamed_total``: trajectories sent to clients (a trajectory sent
  again after a reconnect counts again).
- ``cove_daemon_streams_open``: results streams open now.
- ``cove_daemon_stream_resumes_total``: streams opened after a cursor (reconnects, resumes).
- ``cove_daemon_admission_capacity``: the shared cap on episodes in flight across jobs.
- ``cove_daemon_admission_in_use``: shared slots held now.
- ``cove_daemon_admission_waiting``: jobs' intakes queued for a shared slot now.
- ``cove_daemon_backends_paused``: servers paused one by one now (``cove_daemon_backends_paused_all``:
  1 while every server is paused).
- ``cove_daemon_pauses_total``: pause calls.
- ``cove_daemon_pause_waiting``: LLM calls and admissions waiting for a resume now.
- ``cove_daemon_pause_wait_seconds`` (histogram): how long each of those waited.
- ``cove_daemon_http_requests_total{route,method,code}``: API requests answered (route is the
  route template, such as ``/v1/jobs/{id}``).
- ``cove_daemon_http_request_duration_seconds{route,method}`` (histogram): time to answer
  (streams: time to the first byte).

**Inference servers** (scraped from each server's own ``/metrics``, see :mod:`._scrape`),
labelled ``backend`` (base URL), ``model`` and ``server`` (vllm|sglang):
``cove_backend_up{backend}``, ``cove_backend_scrape_duration_seconds{backend}``,
``cove_backend_requests_running``, ``cove_backend_requests_waiting``,
``cove_backend_kv_cache_usage_ratio``, ``cove_backend_prompt_tokens_total``,
``cove_backend_generation_tokens_total``, ``cove_backend_preemptions_total``,
``cove_backend_requests_finished_total``, and histograms
``cove_backend_time_to_first_token_seconds``, ``cove_backend_inter_token_latency_seconds``,
``cove_backend_e2e_request_latency_seconds``, ``cove_backend_request_queue_time_seconds``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import msgspec
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from cove_async.metrics import LATENCY_BUCKETS

__all__ = ("JOB_STATES", "DaemonMetrics", "DaemonReading")

JOB_STATES = ("preparing", "running", "done", "cancelled", "error")

_PAUSE_BUCKETS = (0.01, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)


class DaemonReading(msgspec.Struct, frozen=True, kw_only=True):
    """The daemon's state as a scrape reports it (read from the daemon at scrape time)."""

    jobs: dict[str, int]
    episodes_remaining: int
    streams_open: int
    admission_capacity: int
    admission_in_use: int
    admission_waiting: int
    paused_servers: int
    paused_all: bool
    pause_waiting: int


class _Gauges(Collector):
    def __init__(self, read: Callable[[], DaemonReading]) -> None:
        self._read = read

    def collect(self) -> Iterable[Metric]:
        r = self._read()
        jobs = GaugeMetricFamily("cove_daemon_jobs", "Jobs by state.", labels=["state"])
        for state in JOB_STATES:
            jobs.add_metric([state], r.jobs.get(state, 0))
        yield jobs
        for name, doc, value in (
            ("cove_daemon_episodes_remaining", "Episodes of unfinished jobs not yet written.", r.episodes_remaining),
            ("cove_daemon_streams_open", "Results streams open now.", r.streams_open),
            ("cove_daemon_admission_capacity", "Shared cap on episodes in flight across jobs.", r.admission_capacity),
            ("cove_daemon_admission_in_use", "Shared admission slots held now.", r.admission_in_use),
            ("cove_daemon_admission_waiting", "Job intakes queued for a shared slot now.", r.admission_waiting),
            ("cove_daemon_backends_paused", "Servers paused one by one now.", r.paused_servers),
            ("cove_daemon_backends_paused_all", "1 while every server is paused.", int(r.paused_all)),
            ("cove_daemon_pause_waiting", "LLM calls and admissions waiting for a resume now.", r.pause_waiting),
        ):
            yield GaugeMetricFamily(name, doc, value=value)


class DaemonMetrics:
    """The daemon's own metrics (see the module docs for the full list), on ``registry``.

    Args:
        registry: the daemon's registry (the engine's metrics and the server scrape go there too).
        read: returns the daemon's state for the gauges, called at each scrape.
    """

    def __init__(self, registry: CollectorRegistry, read: Callable[[], DaemonReading]) -> None:
        r = registry
        self.jobs_submitted = Counter("cove_daemon_jobs_submitted", "Jobs accepted.", registry=r)
        self._jobs_finished = Counter(
            "cove_daemon_jobs_finished", "Jobs that reached a final state, by state.", ["state"], registry=r
        )
        self.episodes_requested = Counter(
            "cove_daemon_episodes_requested", "Episodes asked for by submitted jobs.", registry=r
        )
        self.trajectories_streamed = Counter(
            "cove_daemon_trajectories_streamed", "Trajectories sent to clients.", registry=r
        )
        self.stream_resumes = Counter(
            "cove_daemon_stream_resumes", "Results streams opened after a cursor.", registry=r
        )
        self.pauses = Counter("cove_daemon_pauses", "Pause calls.", registry=r)
        self.pause_wait = Histogram(
            "cove_daemon_pause_wait_seconds",
            "How long an LLM call or an admission waited for a resume.",
            buckets=_PAUSE_BUCKETS,
            registry=r,
        )
        self._http_requests = Counter(
            "cove_daemon_http_requests", "API requests answered.", ["route", "method", "code"], registry=r
        )
        self._http_duration = Histogram(
            "cove_daemon_http_request_duration_seconds",
            "Time to answer an API request (streams: to the first byte).",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        r.register(_Gauges(read))
        self._request_children: dict[tuple[str, str, int], Counter] = {}
        self._duration_children: dict[tuple[str, str], Histogram] = {}
        for state in ("done", "cancelled", "error"):
            self._jobs_finished.labels(state)

    def job_finished(self, state: str) -> None:
        """Count a job reaching ``state``."""
        self._jobs_finished.labels(state).inc()

    def http_request(self, *, route: str, method: str, code: int, duration_s: float) -> None:
        """Count an answered API request and observe its duration."""
        counter = self._request_children.get((route, method, code))
        if counter is None:
            counter = self._request_children[(route, method, code)] = self._http_requests.labels(route, method, code)
        counter.inc()
        histogram = self._duration_children.get((route, method))
        if histogram is None:
            histogram = self._duration_children[(route, method)] = self._http_duration.labels(route, method)
        histogram.observe(duration_s)
