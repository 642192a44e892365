"""Every Prometheus metric of the engine, on one injected registry.

Names follow Prometheus conventions: the ``cove_`` prefix, base units as suffixes (``_seconds``),
``_total`` on counters, scores as 0..1 ratios. Label sets are small and bounded: roles,
outcomes and token directions are fixed vocabularies; tool, backend, channel and reason labels
take at most ``max_label_values`` distinct values each, later ones being counted as ``other`` (a
model that invents tool names must not grow the series without limit). Nothing is labelled by
episode, task or sample: those belong in logs.

Recording goes through the typed methods, which cache label children, so a hot-path update is
a dictionary lookup and an increment rather than prometheus-client's ``labels()`` validation.
"""

from __future__ import annotations

from typing import Literal, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

import cove_async

__all__ = (
    "LAG_BUCKETS",
    "LATENCY_BUCKETS",
    "SCORE_BUCKETS",
    "VERIFIER_BUCKETS",
    "EngineMetrics",
    "Outcome",
    "Role",
)

Outcome = Literal["perfect", "imperfect", "failed"]
Role = Literal["user", "agent"]

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0)
"""Seconds, 1 ms to 60 s: LLM requests, time to first token, admission waits."""
VERIFIER_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
"""Seconds, 100 us to 1 s: verification is in-process CPU work."""
LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Seconds of event-loop lag; the acceptance target (p99 <= 50 ms) sits on a bucket edge."""
EPISODE_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
"""Seconds per episode, from in-process scripted runs to long LLM conversations."""
SCORE_BUCKETS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
"""Verifier scores (0..1); the ``le="0.0"`` bucket counts zero scores exactly."""

_OUTCOMES: frozenset[str] = frozenset(("perfect", "imperfect", "failed"))
_ROLES: frozenset[str] = frozenset(("user", "agent"))
OTHER = "other"
_M = TypeVar("_M", Counter, Gauge, Histogram)


class _Bounded:
    """Maps free-form label values to at most ``limit`` distinct ones, the rest to ``other``."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._seen: set[str] = set()

    def __call__(self, value: str) -> str:
        if value in self._seen:
            return value
        if len(self._seen) >= self._limit:
            return OTHER
        self._seen.add(value)
        return value


class EngineMetrics:
    """The engine's Prometheus metrics, registered on ``registry``.

    Create one per registry (a second on the same registry raises ``ValueError``, as
    prometheus-client does for duplicate names). Tests pass a fresh ``CollectorRegistry``.

    Attributes:
        episodes_in_flight: ``cove_episodes_in_flight``, episodes admitted and not finished.
        sandboxes_live: ``cove_sandboxes_live``, sandboxes (forks) currently open.
        admission_wait: ``cove_admission_wait_seconds``, time an episode waited for admission.
        episode_duration: ``cove_episode_duration_seconds``, wall time of finished episodes.
        event_loop_lag: ``cove_event_loop_lag_seconds``, fed by :func:`watch_loop_lag`.
    """

    def __init__(self, registry: CollectorRegistry, *, max_label_values: int = 64) -> None:
        """Register every metric on ``registry``.

        Args:
            registry: where the metrics live (``prometheus_client.REGISTRY`` for the process default).
            max_label_values: distinct values kept per free-form label (tool, backend, channel, reason).

        Raises:
            ValueError: ``max_label_values`` < 1, or the registry already holds these metrics.
        """
        if max_label_values < 1:
            raise ValueError(f"max_label_values must be >= 1, got {max_label_values}")
        r = registry
        Info("cove_build", "cove-async version.", registry=r).info({"version": cove_async.__version__})
        self._trajectories = Counter(
            "cove_trajectories_total", "Episodes finished, by outcome.", ["outcome"], registry=r
        )
        self.episodes_in_flight = Gauge("cove_episodes_in_flight", "Episodes admitted and not finished.", registry=r)
        self.episode_duration = Histogram(
            "cove_episode_duration_seconds", "Wall time of finished episodes.", buckets=EPISODE_BUCKETS, registry=r
        )
        self._turns = Counter("cove_turns_total", "Policy turns taken, by role.", ["role"], registry=r)
        self._tool_calls = Counter("cove_tool_calls_total", "Tool calls executed, by tool.", ["tool"], registry=r)
        self._tool_errors = Counter(
            "cove_tool_errors_total", "Tool calls answered with an error, by tool.", ["tool"], registry=r
        )
        self._llm_duration = Histogram(
            "cove_llm_request_duration_seconds",
            "LLM request latency (request sent to reply parsed), by backend and role.",
            ["backend", "role"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self._llm_ttft = Histogram(
            "cove_llm_time_to_first_token_seconds",
            "Time to first token of LLM requests that report it, by backend and role.",
            ["backend", "role"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self._tokens = Counter(
            "cove_llm_tokens_total",
            "Tokens processed, by direction (prompt, completion) and role.",
            ["direction", "role"],
            registry=r,
        )
        self._retries = Counter("cove_llm_retries_total", "LLM requests retried, by reason.", ["reason"], registry=r)
        self._timeouts = Counter("cove_timeouts_total", "Timeouts, by reason.", ["reason"], registry=r)
        self._verifier_duration = Histogram(
            "cove_verifier_duration_seconds", "Time to verify one episode.", buckets=VERIFIER_BUCKETS, registry=r
        )
        self._verifier_score = Histogram(
            "cove_verifier_score", "Verifier scores (0..1).", buckets=SCORE_BUCKETS, registry=r
        )
        self._channel_depth = Gauge(
            "cove_channel_depth", "Items buffered in a channel between actors, by channel.", ["channel"], registry=r
        )
        self.sandboxes_live = Gauge("cove_sandboxes_live", "Sandboxes currently open.", registry=r)
        self.event_loop_lag = Histogram(
            "cove_event_loop_lag_seconds",
            "How late the event loop woke a sleeping watcher.",
            buckets=LAG_BUCKETS,
            registry=r,
        )
        self.admission_wait = Histogram(
            "cove_admission_wait_seconds",
            "Time an episode waited for an in-flight slot.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self._tool_label = _Bounded(max_label_values)
        self._backend_label = _Bounded(max_label_values)
        self._channel_label = _Bounded(max_label_values)
        self._retry_label = _Bounded(max_label_values)
        self._timeout_label = _Bounded(max_label_values)
        # Label children, cached: labels() validates and locks on every call.
        self._children: dict[tuple[object, ...], Counter | Gauge | Histogram] = {}

    def _child(self, metric: _M, *values: str) -> _M:
        key = (id(metric), *values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*values)
        return child  # type: ignore[return-value]

    def trajectory(self, outcome: Outcome, *, duration_s: float | None = None) -> None:
        """Count a finished episode: ``perfect``, ``imperfect`` (verified, not perfect) or ``failed``."""
        if outcome not in _OUTCOMES:
            raise ValueError(f"outcome must be one of perfect, imperfect, failed; got {outcome!r}")
        self._child(self._trajectories, outcome).inc()
        if duration_s is not None:
            self.episode_duration.observe(duration_s)

    def turn(self, role: Role, count: int = 1) -> None:
        """Count ``count`` policy turns of ``role``."""
        if role not in _ROLES:
            raise ValueError(f"role must be 'user' or 'agent', got {role!r}")
        self._child(self._turns, role).inc(count)

    def tool_call(self, tool: str, *, error: bool, count: int = 1) -> None:
        """Count ``count`` calls of ``tool`` that all ended with an error, or all without."""
        label = self._tool_label(tool)
        self._child(self._tool_calls, label).inc(count)
        if error:
            self._child(self._tool_errors, label).inc(count)

    def llm_request(
        self,
        *,
        backend: str,
        role: Role,
        duration_s: float,
        ttft_s: float | None = None,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
    ) -> None:
        """Record one completed LLM request: its latency, time to first token and tokens."""
        if role not in _ROLES:
            raise ValueError(f"role must be 'user' or 'agent', got {role!r}")
        label = self._backend_label(backend)
        self._child(self._llm_duration, label, role).observe(duration_s)
        if ttft_s is not None:
            self._child(self._llm_ttft, label, role).observe(ttft_s)
        if prompt_tokens:
            self._child(self._tokens, "prompt", role).inc(prompt_tokens)
        if completion_tokens:
            self._child(self._tokens, "completion", role).inc(completion_tokens)

    def retry(self, reason: str) -> None:
        """Count an LLM request retried (``connect``, ``status_5xx``, ``status_429``, ``timeout``, ...)."""
        self._child(self._retries, self._retry_label(reason)).inc()

    def timeout(self, reason: str) -> None:
        """Count a timeout (``request``, ``turn``, ``episode``, ...)."""
        self._child(self._timeouts, self._timeout_label(reason)).inc()

    def verified(self, *, duration_s: float, score: float) -> None:
        """Record one verification: how long it took and the score it gave."""
        self._verifier_duration.observe(duration_s)
        self._verifier_score.observe(score)

    def channel_depth(self, channel: str, depth: int) -> None:
        """Set how many items ``channel`` holds now (read from the stream's statistics)."""
        self._child(self._channel_depth, self._channel_label(channel)).set(depth)
