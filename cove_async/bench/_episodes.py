"""Engine episodes over HTTP: both players are LLM policies talking to OpenAI-compatible servers.

Shared by the ``http``, ``latency`` and ``target`` scenarios and the fault drill. The engine
runs :class:`~cove_async.policies._llm.LLMAgent` and :class:`~cove_async.policies._llm.LLMUser`
(or an in-process user) with ``concurrency`` episodes in flight, fed an endless stream of jobs
(the tasks, over and over, with rising sample indices), so the load is steady. After a warm-up,
a measurement window counts what finished inside it; then the run is cancelled (episodes still
in flight are dropped: nothing is written anywhere).

Little's law: with ``C`` episodes in flight, each making ``k`` LLM calls of latency ``L``, no
engine can finish more than ``C / (k L)`` episodes per second; :class:`Window` reports that
bound from the calls per episode measured in the window and the servers' own mean request
latency, and the throughput's ratio to it.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

import aiohttp
import anyio
import msgspec
import structlog

from cove_async.backends import Limits, OpenAIChatBackend, RetryPolicy, Timeouts
from cove_async.bench._common import CpuClock, GcTimer, LagSampler, percentile, rss_mib
from cove_async.bench._server import scrape_metrics
from cove_async.chat import Message, TerminationReason
from cove_async.domains import get_domain
from cove_async.engine import Caps, Engine, EngineConfig, EpisodeContext, EpisodeJob, Outcome, Policy, Turn
from cove_async.sandbox import Snapshot
from cove_async.tasks import Task

__all__ = ("EpisodeCounts", "LLMSide", "Window", "endless_jobs", "llm_players", "measure_window", "run_episodes")

log = structlog.get_logger()


class LLMSide(msgspec.Struct, frozen=True, kw_only=True):
    """One side played over HTTP: its servers and model name."""

    urls: tuple[str, ...]
    model: str


class Window(msgspec.Struct, kw_only=True):
    """What one concurrency level did in its measurement window.

    Attributes:
        concurrency: episodes in flight.
        window_s: the window's length.
        trajectories: episodes finished in the window without an error, graded (verified trajectories).
        traj_per_s: trajectories per second.
        llm_requests_per_s: LLM requests completed per second in the window.
        llm_calls_per_traj: LLM calls per finished episode (all finished so far, warm-up included).
        perfect_rate: the share of perfect verdicts.
        failed: episodes that ended in an error (agent, user or infrastructure) in the window.
        last_failure: the reason of the last of those (empty when none failed).
        client_cpu_us_per_traj: this process's CPU per trajectory (engine, players, HTTP).
        client_cpu_us_per_request: the same per LLM call.
        client_cpu_share: this process's CPU over the window's wall time (1.0 = one core busy).
        server_cpu_share: the benchmark server's CPU share (None for servers we did not start).
        llm_latency_ms: LLM call latency seen by the engine (p50, p90, p99), retries included.
        server_latency_s: the servers' mean request latency over the window (from ``/metrics``).
        bound_traj_per_s: the Little's-law bound from the servers' latency (None without ``/metrics``).
        throughput_ratio_to_bound: traj_per_s over that bound.
        nominal_latency_s: the latency model's fixed per-request latency, when it has one.
        nominal_bound_traj_per_s: the bound from that latency.
        throughput_ratio_to_nominal_bound: traj_per_s over the nominal bound.
        request_ratio_to_bound: requests per second times the latency (nominal, else the
            servers') over the episodes in flight: the share of episodes waiting on a model at
            any moment. The same law as the trajectory ratio, counted per request, so it is
            not disturbed by episodes finishing in bursts.
        loop_lag_ms: event-loop lag over the window (p50, p99, max).
        gc_share: the share of the window's wall time spent in Python's garbage collector.
        gc_full_collections: full (generation 2) collections in the window.
        rss_mib: this process's resident memory at the end of the window.
        rss_per_episode_kib: memory growth since before the run, per episode in flight.
        server_running: requests the servers were running at the end (``vllm:num_requests_running``).
        server_waiting: requests waiting there (``vllm:num_requests_waiting``).
    """

    concurrency: int
    window_s: float
    trajectories: int
    traj_per_s: float
    llm_requests_per_s: float
    llm_calls_per_traj: float
    perfect_rate: float
    failed: int
    last_failure: str
    client_cpu_us_per_traj: float
    client_cpu_us_per_request: float
    client_cpu_share: float
    server_cpu_share: float | None
    llm_latency_ms: dict[str, float]
    server_latency_s: float | None
    bound_traj_per_s: float | None
    throughput_ratio_to_bound: float | None
    nominal_latency_s: float | None
    nominal_bound_traj_per_s: float | None
    throughput_ratio_to_nominal_bound: float | None
    request_ratio_to_bound: float | None
    loop_lag_ms: dict[str, float]
    gc_share: float
    gc_full_collections: int
    rss_mib: float
    rss_per_episode_kib: float
    server_running: float | None
    server_waiting: float | None


FAILED_TERMINATIONS = frozenset(
    (
        TerminationReason.AGENT_ERROR,
        TerminationReason.USER_ERROR,
        TerminationReason.INFRASTRUCTURE_ERROR,
        TerminationReason.UNEXPECTED_ERROR,
    )
)
"""Endings that make an episode a failure rather than a trajectory (as the engine's metrics count them)."""


class EpisodeCounts:
    """A sink that counts outcomes (and keeps the turn latencies while ``recording``).

    Args:
        keep_ids: also keep every outcome's episode id (for runs of a known set of jobs).
    """

    def __init__(self, *, keep_ids: bool = False) -> None:
        self.keep_ids = keep_ids
        self.episode_ids: list[str] = []
        self.finished = 0
        self.verified = 0
        """Outcomes graded by the verifier whose episode did not end in an error."""
        self.perfect = 0
        self.failed = 0
        self.llm_calls = 0
        self.latencies: list[float] = []
        self.recording = False
        self.terminations: Counter[str] = Counter()
        self.failures: list[tuple[str, str]] = []
        """(episode id, reason) of every episode that ended in an error."""
        self.ungraded: list[tuple[str, str]] = []

    async def write(self, outcomes: Sequence[Outcome]) -> None:
        for outcome in outcomes:
            result = outcome.result
            self.finished += 1
            if self.keep_ids:
                self.episode_ids.append(result.episode_id)
            self.terminations[result.termination.value] += 1
            if outcome.verdict is None:
                self.ungraded.append((result.episode_id, outcome.grading_error or ""))
            elif outcome.verdict.perfect:
                self.perfect += 1
            if result.termination in FAILED_TERMINATIONS:
                self.failed += 1
                self.failures.append((result.episode_id, result.failure or ""))
            elif outcome.verdict is not None:
                self.verified += 1
            calls = [t.latency_s for t in result.turns if t.latency_s > 0]
            self.llm_calls += len(calls)
            if self.recording:
                self.latencies.extend(calls)


class _Staggered:
    """Delays each episode's first user turn by a random share of ``stagger_s`` while the ramp lasts.

    Admission starts every episode at once, so without it the first wave runs in lock-step and
    finishes in bursts; spreading the first turns over about one episode's length gives the
    steady mix of episode ages a long run has.
    """

    def __init__(self, inner: Policy, stagger_s: float, seed: int = 0) -> None:
        self.role = inner.role
        self._inner = inner
        self._stagger_s = stagger_s
        self._until = time.monotonic() + stagger_s
        self._rng = random.Random(seed)

    async def next_turn(self, context: EpisodeContext, messages: Sequence[Message]) -> Turn:
        if len(messages) <= 1 and time.monotonic() < self._until:
            await anyio.sleep(self._rng.uniform(0.0, self._stagger_s))
        return await self._inner.next_turn(context, messages)


def endless_jobs(tasks: Sequence[Task]) -> Iterator[EpisodeJob]:
    """The tasks over and over, sample 0 of each, then sample 1 of each, and so on."""
    for sample in itertools.count():
        for task in tasks:
            yield EpisodeJob(task=task, sample_index=sample)


@contextlib.asynccontextmanager
async def llm_players(
    agent: LLMSide,
    user: LLMSide | None,
    *,
    in_flight: int,
    retry: RetryPolicy | None = None,
    request_timeout_s: float = 600.0,
    in_process_user: Policy | None = None,
) -> AsyncIterator[tuple[Policy, Policy, list[OpenAIChatBackend]]]:
    """The (user, agent) LLM policies with their backends open for the block.

    When both sides use the same servers they share one backend (one connection pool: an
    episode waits on one side at a time, so one pool needs about ``in_flight`` connections,
    where two would hold twice the file descriptors). ``user`` None plays the user in-process
    with ``in_process_user``.

    Raises:
        ValueError: neither a user side nor an in-process user.
    """
    from cove_async.policies._llm import LLMAgent, LLMUser

    if user is None and in_process_user is None:
        raise ValueError("without a user server, pass in_process_user")
    async with contextlib.AsyncExitStack() as stack:
        backends: dict[tuple[str, ...], OpenAIChatBackend] = {}

        async def backend(side: LLMSide) -> OpenAIChatBackend:
            if side.urls not in backends:
                backends[side.urls] = await stack.enter_async_context(
                    OpenAIChatBackend(
                        endpoints=side.urls,
                        model=side.model,
                        name=f"bench-{len(backends)}",
                        limits=Limits(max_in_flight_per_endpoint=max(in_flight, 1)),
                        timeouts=Timeouts(request_s=request_timeout_s),
                        retry=retry or RetryPolicy(),
                    )
                )
            return backends[side.urls]

        agent_policy: Policy = LLMAgent(await backend(agent), model=agent.model)
        if user is None:
            assert in_process_user is not None
            user_policy = in_process_user
        else:
            user_policy = LLMUser(await backend(user), model=user.model)
        yield user_policy, agent_policy, list(backends.values())


def _engine(domain: str, snapshot: Snapshot, user: Policy, agent: Policy, concurrency: int, caps: Caps) -> Engine:
    from cove_async.prompts import prompts_for

    d = get_domain(domain)
    return Engine(
        snapshot=snapshot,
        toolset=d.toolset,
        user=user,
        agent=agent,
        prompts=prompts_for(domain),
        config=EngineConfig(concurrency=concurrency, caps=caps),
    )


async def measure_window(
    *,
    domain: str,
    snapshot: Snapshot,
    tasks: Sequence[Task],
    user: Policy,
    agent: Policy,
    concurrency: int,
    warmup_s: float,
    window_s: float,
    metrics_urls: Sequence[str] = (),
    server_cpu: Callable[[], float] | None = None,
    nominal_latency_s: float | None = None,
    caps: Caps | None = None,
    backends: Sequence[OpenAIChatBackend] = (),
    stagger_s: float = 0.0,
    baseline_rss_mib: float | None = None,
) -> Window:
    """Run episodes at ``concurrency`` and measure one window after a warm-up.

    Args:
        domain: the tasks' domain.
        snapshot: its world.
        tasks: the tasks to play, cycled.
        user: the user policy.
        agent: the agent policy.
        concurrency: episodes in flight.
        warmup_s: seconds before the window opens.
        window_s: the window's length.
        metrics_urls: servers whose ``/metrics`` to read (for their latency and queue).
        server_cpu: reads the benchmark server's CPU seconds, when it is ours.
        nominal_latency_s: the latency model's fixed latency, for the nominal bound.
        caps: episode caps (default: the engine's).
        backends: the LLM backends, whose completed requests are counted in the window
            (without them, the calls of the episodes finished in the window are).
        stagger_s: spread the first wave's first turns over this many seconds (part of the warm-up).
        baseline_rss_mib: the memory before any episode ran (default: measured now).
    """
    counts = EpisodeCounts()
    lag = LagSampler()
    if stagger_s > 0:
        user = _Staggered(user, stagger_s)
    engine = _engine(domain, snapshot, user, agent, concurrency, caps or Caps())
    baseline_rss = rss_mib() if baseline_rss_mib is None else baseline_rss_mib

    def requests() -> int:
        return sum(b.statistics().completed for b in backends)

    clock = CpuClock()
    with GcTimer() as gc_time:
        async with aiohttp.ClientSession() as session, anyio.create_task_group() as tg:
            tg.start_soon(lag.run)
            tg.start_soon(engine.run, endless_jobs(tasks), counts)
            await anyio.sleep(warmup_s)
            before = await _server_reading(session, metrics_urls)
            server_cpu0 = server_cpu() if server_cpu else math.nan
            lag.reset()
            gc_time.reset()
            counts.recording = True
            finished0, perfect0, failed0, calls0 = counts.finished, counts.perfect, counts.failed, counts.llm_calls
            requests0 = requests()
            clock.start()
            await anyio.sleep(window_s)
            clock.stop()
            gc_seconds, gc_full = gc_time.seconds, gc_time.collections[2]
            counts.recording = False
            server_cpu1 = server_cpu() if server_cpu else math.nan
            rss = rss_mib()
            finished = counts.verified - finished0
            last_failure_text = counts.failures[-1][1] if counts.failed > failed0 else ""
            perfect, failed = counts.perfect - perfect0, counts.failed - failed0
            calls = counts.llm_calls - calls0
            sent = requests() - requests0 if backends else calls
            after = await _server_reading(session, metrics_urls)
            tg.cancel_scope.cancel(reason="measurement window over")
    wall = clock.wall_s
    tps = finished / wall
    # Calls per episode over every episode finished so far, warm-up included: a window that is
    # short against the episodes' length sees the short ones finish first.
    per_traj = counts.llm_calls / counts.finished if counts.finished else math.nan
    server_latency = _mean_latency(before, after)
    if server_latency is not None and server_latency < _NO_LATENCY_S:
        server_latency = None  # a server that adds no latency sets no Little's-law bound
    bound = concurrency / (per_traj * server_latency) if server_latency and finished else None
    nominal = concurrency / (per_traj * nominal_latency_s) if nominal_latency_s and finished else None
    latency = nominal_latency_s or server_latency
    window = Window(
        concurrency=concurrency,
        window_s=round(wall, 2),
        trajectories=finished,
        traj_per_s=round(tps, 1),
        llm_requests_per_s=round(sent / wall, 1),
        llm_calls_per_traj=round(per_traj, 2),
        perfect_rate=round(perfect / finished, 4) if finished else math.nan,
        failed=failed,
        last_failure=last_failure_text[:300],
        client_cpu_us_per_traj=round(clock.process_s / finished * 1e6, 1) if finished else math.nan,
        client_cpu_us_per_request=round(clock.process_s / sent * 1e6, 1) if sent else math.nan,
        client_cpu_share=round(clock.process_s / wall, 3),
        server_cpu_share=None if server_cpu is None else round((server_cpu1 - server_cpu0) / wall, 3),
        llm_latency_ms={f"p{q}": round(percentile(counts.latencies, q) * 1e3, 2) for q in (50, 90, 99)},
        server_latency_s=None if server_latency is None else round(server_latency, 4),
        bound_traj_per_s=None if bound is None else round(bound, 1),
        throughput_ratio_to_bound=None if bound is None else round(tps / bound, 3),
        nominal_latency_s=nominal_latency_s,
        nominal_bound_traj_per_s=None if nominal is None else round(nominal, 1),
        throughput_ratio_to_nominal_bound=None if nominal is None else round(tps / nominal, 3),
        request_ratio_to_bound=None if not latency else round(sent / wall * latency / concurrency, 3),
        loop_lag_ms=lag.percentiles_ms(),
        gc_share=round(gc_seconds / wall, 3),
        gc_full_collections=gc_full,
        rss_mib=round(rss, 1),
        rss_per_episode_kib=round((rss - baseline_rss) * 1024 / concurrency, 1),
        server_running=after.get("vllm:num_requests_running"),
        server_waiting=after.get("vllm:num_requests_waiting"),
    )
    log.info(
        "bench_episode_window",
        domain=domain,
        concurrency=concurrency,
        traj_per_s=window.traj_per_s,
        ratio_to_bound=window.throughput_ratio_to_bound,
        lag_p99_ms=window.loop_lag_ms["p99"],
    )
    return window


async def _server_reading(session: aiohttp.ClientSession, urls: Sequence[str]) -> dict[str, float]:
    """The servers' ``/metrics``, summed over servers (empty when none has them)."""
    total: dict[str, float] = {}
    for url in urls:
        reading = await scrape_metrics(session, url)
        for key, value in (reading or {}).items():
            total[key] = total.get(key, 0.0) + value
    return total


_NO_LATENCY_S = 0.001


def _mean_latency(before: dict[str, float], after: dict[str, float]) -> float | None:
    name = "vllm:e2e_request_latency_seconds"
    try:
        count = after[name + "_count"] - before.get(name + "_count", 0.0)
        total = after[name + "_sum"] - before.get(name + "_sum", 0.0)
    except KeyError:
        return None
    return total / count if count > 0 else None


async def run_episodes(
    *,
    domain: str,
    snapshot: Snapshot,
    jobs: Sequence[EpisodeJob],
    user: Policy,
    agent: Policy,
    concurrency: int,
    caps: Caps | None = None,
) -> tuple[EpisodeCounts, float, dict[str, Any]]:
    """Run exactly ``jobs`` to the end; returns the counts, the wall time and the engine's statistics."""
    counts = EpisodeCounts(keep_ids=True)
    engine = _engine(domain, snapshot, user, agent, concurrency, caps or Caps())
    started = time.perf_counter()
    stats = await engine.run(jobs, counts)
    return counts, time.perf_counter() - started, msgspec.to_builtins(stats)
