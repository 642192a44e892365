"""``target URL [URL...]``: how many verified trajectories per second a user's own servers yield.

The agent is played by the model on the given OpenAI-compatible servers (vLLM, SGLang, ...);
the user simulator by the scripted user in-process (or by a model, with ``user_urls``). A
short ramp doubles the episodes in flight, one window per step, reading the servers'
``/metrics`` when they have them (vLLM's names: requests running and waiting, request
latency), and stops at saturation: when trajectories per second stop growing (two steps under
+10%) or the median LLM latency passes ``latency_explosion`` times its first value. The
report names the saturating concurrency (the lowest step within 5% of the best throughput)
and the trajectories per second it yields.
"""

from __future__ import annotations

import msgspec
import structlog

from cove_async.bench._common import BenchError, Budget, run_on
from cove_async.bench._episodes import LLMSide, Window, llm_players, measure_window
from cove_async.bench._players import Players, in_process_players, resolve_players
from cove_async.domains import get_domain
from cove_async.run import load_world, sample_tasks
from cove_async.sandbox import Snapshot
from cove_async.tasks import Task

__all__ = ("TargetParams", "TargetResults", "run_target")

log = structlog.get_logger()


class TargetParams(msgspec.Struct, frozen=True, kw_only=True):
    """Settings of the ``target`` scenario.

    Attributes:
        urls: the agent model's servers.
        model: the model name to ask for.
        user_urls: the user simulator's servers (empty: the scripted user in-process).
        user_model: the user simulator's model name.
        domain: the domain played.
        tasks: tasks sampled (cycled).
        start: episodes in flight at the first step.
        max_concurrency: the ramp stops here at the latest.
        warmup_s: warm-up per step.
        window_s: window per step.
        latency_explosion: stop when the median LLM latency exceeds this multiple of the first step's.
        request_timeout_s: per-request timeout.
    """

    urls: tuple[str, ...]
    model: str
    user_urls: tuple[str, ...] = ()
    user_model: str = ""
    domain: str = "retail"
    tasks: int = 200
    start: int = 8
    max_concurrency: int = 4096
    warmup_s: float = 5.0
    window_s: float = 15.0
    latency_explosion: float = 4.0
    request_timeout_s: float = 300.0

    def __post_init__(self) -> None:
        if not self.urls:
            raise BenchError("target needs at least one server URL")
        if self.user_urls and not self.user_model:
            raise BenchError("--user-url needs --user-model")
        if self.start < 1 or self.max_concurrency < self.start:
            raise BenchError(
                f"the ramp must start at >= 1 and end at >= its start, got {self.start}..{self.max_concurrency}"
            )


class TargetResults(msgspec.Struct, kw_only=True):
    """The ``target`` scenario's measurements.

    Attributes:
        urls: the servers measured.
        model: the agent model.
        user: who played the user (``scripted``, ``oracle`` or the user model).
        server_metrics: whether the servers expose vLLM-style ``/metrics``.
        steps: one window per step of the ramp.
        stopped_because: why the ramp ended.
        saturating_concurrency: the lowest step within 5% of the best throughput.
        traj_per_s_at_saturation: its trajectories per second.
        llm_requests_per_s_at_saturation: its LLM requests per second.
    """

    urls: list[str]
    model: str
    user: str
    server_metrics: bool
    steps: list[Window]
    stopped_because: str
    saturating_concurrency: int | None
    traj_per_s_at_saturation: float | None
    llm_requests_per_s_at_saturation: float | None


async def _step(
    params: TargetParams, snapshot: Snapshot, tasks: list[Task], level: int, user_kind: Players | None
) -> Window:
    user_side = LLMSide(urls=params.user_urls, model=params.user_model) if params.user_urls else None
    in_process_user = None if user_kind is None else in_process_players(params.domain, user_kind)[0]
    async with llm_players(
        LLMSide(urls=params.urls, model=params.model),
        user_side,
        in_flight=level,
        request_timeout_s=params.request_timeout_s,
        in_process_user=in_process_user,
    ) as (user, agent, backends):
        return await measure_window(
            domain=params.domain,
            snapshot=snapshot,
            tasks=tasks,
            user=user,
            agent=agent,
            concurrency=level,
            warmup_s=params.warmup_s,
            window_s=params.window_s,
            metrics_urls=tuple(dict.fromkeys(params.urls + params.user_urls)),
            backends=backends,
        )


def run_target(params: TargetParams, budget: Budget) -> tuple[TargetResults, list[str]]:
    """Ramp the concurrency against the user's servers until they saturate (blocking)."""
    notes: list[str] = []
    user_kind = None if params.user_urls else resolve_players("auto", params.domain, notes)
    snapshot = load_world(get_domain(params.domain), 0)
    tasks = list(sample_tasks(params.domain, snapshot, n=params.tasks, seed=0, world="synthetic:seed=0"))
    steps: list[Window] = []
    level = params.start
    stopped = f"reached the largest concurrency asked for ({params.max_concurrency})"
    flat = 0
    while level <= params.max_concurrency:
        if budget.exhausted(params.warmup_s + params.window_s):
            stopped = "the time budget ran out"
            break
        window = run_on("uvloop", _step, params, snapshot, tasks, level, user_kind)
        steps.append(window)
        best = max(s.traj_per_s for s in steps[:-1]) if len(steps) > 1 else 0.0
        if len(steps) > 1 and window.traj_per_s < 1.1 * best:
            flat += 1
        else:
            flat = 0
        first_p50 = steps[0].llm_latency_ms["p50"]
        if window.failed > window.trajectories:
            stopped = f"most episodes failed ({window.failed} in the window); the last: {window.last_failure}"
            break
        if flat >= 2:
            stopped = "throughput stopped growing (two steps under +10%)"
            break
        if first_p50 > 0 and window.llm_latency_ms["p50"] > params.latency_explosion * first_p50:
            stopped = f"median LLM latency passed {params.latency_explosion:g}x its first value"
            break
        level *= 2
    peak = max((s.traj_per_s for s in steps), default=0.0)
    saturating = next((s for s in steps if s.traj_per_s >= 0.95 * peak), None) if peak > 0 else None
    if not steps:
        notes.append("no step was measured")
    return (
        TargetResults(
            urls=list(params.urls),
            model=params.model,
            user=params.user_model if user_kind is None else user_kind,
            server_metrics=any(s.server_latency_s is not None or s.server_running is not None for s in steps),
            steps=steps,
            stopped_because=stopped,
            saturating_concurrency=None if saturating is None else saturating.concurrency,
            traj_per_s_at_saturation=None if saturating is None else saturating.traj_per_s,
            llm_requests_per_s_at_saturation=None if saturating is None else saturating.llm_requests_per_s,
        ),
        notes,
    )
