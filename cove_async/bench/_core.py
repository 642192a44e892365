"""``core``: the engine in-process, no HTTP: verified trajectories per second and CPU per trajectory.

Each domain gets a synthetic world and a task file sampled once (not timed). Then, per event
loop (uvloop and plain asyncio, alternating so drift hits both alike), a warm-up run and
``repetitions`` timed runs of the whole ``generate`` pipeline: the engine with in-process
players, the verifier, and the run's sink (JSONL artefact, fsynced, and the aiosqlite ledger)
in a fresh output directory. The process is pinned to one CPU, so "per core" means one core.

Two kinds of run alternate:

- **plain** runs give the headline numbers: trajectories per second (wall) and process CPU per
  trajectory (every thread: the store's writer threads included);
- **split** runs wrap the players, the toolset and the sink in timing shims to split the CPU by
  phase: ``policy`` (both players' own steps), ``tools_and_sandbox`` (tool calls made in
  episodes, against their forks), ``verifier`` (compiling and verifying, from the engine's own
  ``cove_verifier_duration_seconds``), ``sinks`` (the sink's own steps on the loop thread plus
  all CPU of other threads, which only the store uses) and ``engine_other`` (the rest: actors,
  channels, admission, forks, metrics). The shims cost a few microseconds per call, so split runs are
  slightly slower than plain ones; their throughput is not the headline.
"""

from __future__ import annotations

import contextvars
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import msgspec
import structlog
from prometheus_client import CollectorRegistry

from cove_async.bench._common import (
    Budget,
    CpuClock,
    GcTimer,
    Loop,
    Spread,
    median,
    pinned,
    run_on,
    spread,
    timed_await,
)
from cove_async.bench._players import Players, in_process_players, resolve_players
from cove_async.chat import Message
from cove_async.domains import Domain, Toolset, get_domain
from cove_async.domains._tools import ToolResult
from cove_async.engine import Engine, EngineConfig, EpisodeContext, EpisodeJob, Outcome, Policy, Turn
from cove_async.metrics import EngineMetrics
from cove_async.run import RunSink, load_world, sample_tasks
from cove_async.sandbox import Sandbox, Snapshot
from cove_async.store import Models, Seeds, open_run
from cove_async.tasks import Task

__all__ = ("CoreParams", "CoreResults", "CoreRow", "run_core")

log = structlog.get_logger()

PHASES = ("policy", "tools_and_sandbox", "verifier", "sinks", "engine_other")
"""The CPU phases of a trajectory, in the order they are reported; they add up to the total."""


class CoreParams(msgspec.Struct, frozen=True, kw_only=True):
    """Settings of the ``core`` scenario.

    Attributes:
        domains: the domains to measure.
        episodes: episodes per timed run.
        warmup_episodes: episodes of the untimed run before each loop's measurements.
        repetitions: timed runs per (domain, loop, kind of run).
        concurrency: episodes in flight.
        loops: the event loops to compare.
        cpu: the CPU to pin the process to (None: no pinning).
        seed: the task file's seed (the world's is 0).
        players: ``auto`` (scripted when installed, else the oracle pair), ``scripted`` or ``oracle``.
    """

    domains: tuple[str, ...] = ("retail", "airline")
    episodes: int = 2000
    warmup_episodes: int = 300
    repetitions: int = 3
    concurrency: int = 1000
    loops: tuple[Loop, ...] = ("uvloop", "asyncio")
    cpu: int | None = 0
    seed: int = 0
    players: Literal["auto", "scripted", "oracle"] = "auto"


class CoreRow(msgspec.Struct, kw_only=True):
    """One domain on one event loop.

    Attributes:
        domain: the domain.
        loop: the event loop.
        players: who played (``scripted`` or ``oracle``).
        episodes: episodes per timed run.
        traj_per_s: verified trajectories per second, median of the plain runs.
        engine_cpu_us_per_traj: process CPU per trajectory (all threads), median of the plain runs.
        perfect_rate: the share of perfect verdicts (the last plain run).
        phases: CPU per trajectory by phase, microseconds, medians of the split runs.
        policy_by_side: the ``policy`` phase by side (``user``, ``agent``), microseconds.
        split_total_us: the split runs' CPU per trajectory (shims included).
        gc_us_per_traj: time in Python's garbage collector per trajectory (plain runs); it is
            spent wherever a collection happens to start, mostly counted in ``engine_other``.
        spread: the spread of every headline measure over the repetitions.
    """

    domain: str
    loop: str
    players: str
    episodes: int
    traj_per_s: float
    engine_cpu_us_per_traj: float
    perfect_rate: float
    phases: dict[str, float]
    policy_by_side: dict[str, float]
    split_total_us: float
    gc_us_per_traj: float
    spread: dict[str, Spread]


class CoreResults(msgspec.Struct, kw_only=True):
    """The ``core`` scenario's measurements.

    Attributes:
        rows: one per (domain, loop).
        uvloop_speedup: per domain, uvloop's trajectories per second over plain asyncio's
            (median of the ratios of runs made back to back).
    """

    rows: list[CoreRow]
    uvloop_speedup: dict[str, float]


# Set (to True) in an episode's agent and user tasks by the policy shim, so the toolset shim
# can tell an episode's tool calls from the verifier's replays, which run in the verifier's task.
_IN_EPISODE: contextvars.ContextVar[bool] = contextvars.ContextVar("bench_in_episode", default=False)


class _TimedPolicy:
    """A policy that adds the CPU of its inner policy's own steps to ``acc``."""

    def __init__(self, inner: Policy, acc: dict[str, float]) -> None:
        self.role = inner.role
        self._inner = inner
        self._acc = acc
        self._key = f"policy_{inner.role}"

    async def next_turn(self, context: EpisodeContext, messages: Sequence[Message]) -> Turn:
        _IN_EPISODE.set(True)
        return await timed_await(self._inner.next_turn(context, messages), self._acc, self._key)


class _TimedToolset(Toolset):
    """The domain's toolset, timing the calls made inside episodes."""

    def __init__(self, base: Toolset, acc: dict[str, float]) -> None:
        super().__init__(base.domain, list(base.tools.values()), base.owner)
        self._acc = acc

    def execute(self, sandbox: Sandbox, name: str, arguments: str | Mapping[str, Any]) -> ToolResult:
        if not _IN_EPISODE.get():
            return super().execute(sandbox, name, arguments)
        started = time.thread_time()
        try:
            return super().execute(sandbox, name, arguments)
        finally:
            self._acc["tools"] += time.thread_time() - started


class _TimedSink:
    def __init__(self, inner: RunSink, acc: dict[str, float]) -> None:
        self._inner = inner
        self._acc = acc

    async def write(self, outcomes: Sequence[Outcome]) -> None:
        await timed_await(self._inner.write(outcomes), self._acc, "sinks")


class _Counting:
    """Counts outcomes and perfect verdicts on their way to the run's sink."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.finished = 0
        self.perfect = 0

    async def write(self, outcomes: Sequence[Outcome]) -> None:
        await self._inner.write(outcomes)
        self.finished += len(outcomes)
        self.perfect += sum(o.verdict is not None and o.verdict.perfect for o in outcomes)


class _Run(msgspec.Struct, kw_only=True):
    finished: int
    perfect: int
    wall_s: float
    cpu: dict[str, float]
    """Seconds: ``process``, ``thread``, ``other`` and, in split runs, each shim's key and ``verifier``."""


async def _one_run(
    domain: Domain, snapshot: Snapshot, tasks: Sequence[Task], kind: Players, split: bool, concurrency: int
) -> _Run:
    from cove_async.prompts import prompts_for

    acc = dict.fromkeys(("policy_user", "policy_agent", "tools", "sinks"), 0.0)
    user, agent = in_process_players(domain.name, kind)
    toolset: Toolset = domain.toolset
    registry = CollectorRegistry()
    metrics = EngineMetrics(registry)
    if split:
        user, agent = _TimedPolicy(user, acc), _TimedPolicy(agent, acc)
        toolset = _TimedToolset(toolset, acc)
    prompts = prompts_for(domain.name)
    with tempfile.TemporaryDirectory(prefix="cove-bench-core-") as out:
        async with await open_run(Path(out), {"bench": "core", "domain": domain.name}) as run:
            await run.pending([(t.task_id, 0) for t in tasks])
            run_sink = RunSink(
                run,
                tools=tuple(domain.toolset.openai_tools()),
                system_prompt=lambda task: prompts(task)[0],
                seeds=Seeds(run=0, world=0),
                models=Models(agent=agent.role, user=user.role),
            )
            sink = _Counting(_TimedSink(run_sink, acc) if split else run_sink)
            engine = Engine(
                snapshot=snapshot,
                toolset=toolset,
                user=user,
                agent=agent,
                prompts=prompts,
                config=EngineConfig(concurrency=concurrency),
                metrics=metrics,
            )
            clock = CpuClock()
            with GcTimer() as gc_time:
                clock.start()
                await engine.run((EpisodeJob(task=t, sample_index=0) for t in tasks), sink)
                clock.stop()
    cpu = {"process": clock.process_s, "thread": clock.thread_s, "other": clock.other_s, "gc": gc_time.seconds}
    if split:
        cpu.update(acc)
        cpu["verifier"] = registry.get_sample_value("cove_verifier_duration_seconds_sum") or 0.0
    return _Run(finished=sink.finished, perfect=sink.perfect, wall_s=clock.wall_s, cpu=cpu)


def _phases(run: _Run) -> dict[str, float]:
    """CPU per trajectory by phase, microseconds."""
    n = max(run.finished, 1)
    c = run.cpu
    policy = c["policy_user"] + c["policy_agent"]
    sinks = c["sinks"] + c["other"]
    known = policy + c["tools"] + c["verifier"] + sinks
    values = {
        "policy": policy,
        "tools_and_sandbox": c["tools"],
        "verifier": c["verifier"],
        "sinks": sinks,
        "engine_other": c["process"] - known,
    }
    return {k: v / n * 1e6 for k, v in values.items()}


def run_core(params: CoreParams, budget: Budget) -> tuple[CoreResults, list[str]]:
    """Measure the ``core`` scenario (blocking; runs its own event loops).

    Returns:
        The results, and notes for the reader.
    """
    notes: list[str] = []
    rows: list[CoreRow] = []
    speedups: dict[str, float] = {}
    with pinned(params.cpu):
        for name in params.domains:
            domain = get_domain(name)
            kind = resolve_players(params.players, name, notes)
            snapshot = load_world(domain, 0)
            tasks = list(sample_tasks(name, snapshot, n=params.episodes, seed=params.seed, world="synthetic:seed=0"))
            warm = tasks[: params.warmup_episodes]
            plain: dict[Loop, list[_Run]] = {loop: [] for loop in params.loops}
            split: dict[Loop, list[_Run]] = {loop: [] for loop in params.loops}
            for loop in params.loops:
                if warm:
                    run_on(loop, _one_run, domain, snapshot, warm, kind, False, params.concurrency)
            for rep in range(params.repetitions):
                if rep and budget.exhausted():
                    break
                for loop in params.loops:
                    plain[loop].append(run_on(loop, _one_run, domain, snapshot, tasks, kind, False, params.concurrency))
                    split[loop].append(run_on(loop, _one_run, domain, snapshot, tasks, kind, True, params.concurrency))
                    last = plain[loop][-1]
                    log.info(
                        "bench_core_run",
                        domain=name,
                        loop=loop,
                        repetition=rep,
                        traj_per_s=round(last.finished / last.wall_s),
                        cpu_us_per_traj=round(last.cpu["process"] / max(last.finished, 1) * 1e6),
                    )
            for loop in params.loops:
                rows.append(_row(name, loop, kind, params.episodes, plain[loop], split[loop]))
            if "uvloop" in plain and "asyncio" in plain:
                ratios = [
                    (u.finished / u.wall_s) / (a.finished / a.wall_s)
                    for u, a in zip(plain["uvloop"], plain["asyncio"], strict=False)
                ]
                speedups[name] = median(ratios, 3)
    return CoreResults(rows=rows, uvloop_speedup=speedups), notes


def _row(domain: str, loop: str, kind: str, episodes: int, plain: list[_Run], split: list[_Run]) -> CoreRow:
    tps = [r.finished / r.wall_s for r in plain]
    cpu = [r.cpu["process"] / max(r.finished, 1) * 1e6 for r in plain]
    phase_runs = [_phases(r) for r in split]
    phases = {p: median([run[p] for run in phase_runs]) for p in PHASES}
    sides = {
        side: median([r.cpu[f"policy_{side}"] / max(r.finished, 1) * 1e6 for r in split]) for side in ("user", "agent")
    }
    split_total = [r.cpu["process"] / max(r.finished, 1) * 1e6 for r in split]
    last = plain[-1]
    out = {f"phases.{p}": spread([run[p] for run in phase_runs]) for p in PHASES}
    return CoreRow(
        domain=domain,
        loop=loop,
        players=kind,
        episodes=episodes,
        traj_per_s=median(tps),
        engine_cpu_us_per_traj=median(cpu),
        perfect_rate=round(last.perfect / max(last.finished, 1), 4),
        phases=phases,
        policy_by_side=sides,
        split_total_us=median(split_total),
        gc_us_per_traj=median([r.cpu["gc"] / max(r.finished, 1) * 1e6 for r in plain]),
        spread={"traj_per_s": spread(tps), "engine_cpu_us_per_traj": spread(cpu), **out},
    )
