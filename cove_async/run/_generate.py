"""The main job: sample tasks, hold every requested episode, grade it, keep it exactly once.

:func:`generate` is what ``cove-async generate`` runs, as a library call. It is resumable: the
output directory remembers the run, so calling it again with the same config after a crash,
a ``kill -9`` or a stop runs only what is missing.

Stopping: :meth:`Generation.stop` (the CLI calls it on the first SIGINT or SIGTERM) ends
intake; episodes in flight finish and are written. Cancelling the call (a second signal) drops
the episodes in flight: they were never written, so a resume runs them.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import msgspec
import structlog
from prometheus_client import CollectorRegistry

from cove_async.backends import OpenAIChatBackend
from cove_async.domains import Domain, get_domain
from cove_async.engine import Caps, Engine, EngineConfig, EngineStatistics, EpisodeJob, Outcome, Policy
from cove_async.errors import ConfigError
from cove_async.metrics import EngineMetrics, serve_metrics, watch_loop_lag
from cove_async.policies import LLMAgent, LLMUser
from cove_async.policies.scripted import ScriptedAgent, ScriptedUser
from cove_async.prompts import prompts_for
from cove_async.run._records import RunSink
from cove_async.run._sampling import knobs_for, sample_tasks
from cove_async.sandbox import Snapshot
from cove_async.store import Models, Seeds, open_run
from cove_async.tasks import Task

__all__ = ("GenerateConfig", "GenerateSummary", "Generation", "PolicySpec", "generate")

log = structlog.get_logger()


class PolicySpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Who plays one side: ``scripted`` (in-process) or an OpenAI-compatible server.

    Attributes:
        urls: base URLs of the servers (empty for scripted).
        model: the model name sent to the servers.
        temperature: sampling temperature.
        top_p: nucleus sampling.
        max_tokens: completion cap per turn.
        extra_body: further request fields passed through (``{"logprobs": true}``...).
        policy_version: the trainer's tag of the weights behind the server, kept on each turn.
        api_key: bearer token for the servers, if they need one (never stored with the run).
    """

    urls: tuple[str, ...] = ()
    model: str = ""
    temperature: float = 0.0
    top_p: float | None = None
    max_tokens: int | None = None
    extra_body: dict[str, Any] = {}
    policy_version: str | None = None
    api_key: str | None = None

    @property
    def scripted(self) -> bool:
        return not self.urls

    def describe(self, side: str) -> str:
        """The model name recorded on trajectories."""
        return f"scripted-{side}" if self.scripted else self.model


class GenerateConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Everything ``generate`` needs. All but :data:`VOLATILE` fields decide the results.

    Attributes:
        domain: ``retail`` or ``airline``.
        tasks: how many tasks to sample (ignored when ``tasks_file`` is given).
        samples_per_task: episodes per task (a GRPO group).
        seed: the run seed: task sampling and every request seed derive from it.
        world_seed: the synthetic world's seed.
        tasks_file: play these tasks (JSONL from ``cove-async tasks``) instead of sampling.
        knobs: difficulty knobs over the domain's defaults (``constraints``, ``fuzziness``, ...).
        agent: who plays the agent.
        user: who plays the user.
        fault_rate: share of episodes where the scripted agent makes one deliberate mistake.
        caps: per-episode limits.
        concurrency: episodes in flight at most.
        metrics_port: serve Prometheus metrics on this port (0: pick one; None: off).
        metrics_host: the address to serve them on.
    """

    domain: str
    out: Path
    tasks: int = 100
    samples_per_task: int = 1
    seed: int = 0
    world_seed: int = 0
    tasks_file: Path | None = None
    knobs: dict[str, Any] = {}
    agent: PolicySpec = PolicySpec()
    user: PolicySpec = PolicySpec()
    fault_rate: float = 0.0
    caps: Caps = Caps()
    concurrency: int = 1000
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"

    def __post_init__(self) -> None:
        if self.tasks < 0:
            raise ConfigError(f"--tasks must be >= 0, got {self.tasks}")
        if self.samples_per_task < 1:
            raise ConfigError(f"--samples-per-task must be >= 1, got {self.samples_per_task}")
        if self.concurrency < 1:
            raise ConfigError(f"--concurrency must be >= 1, got {self.concurrency}")
        if not 0.0 <= self.fault_rate <= 1.0:
            raise ConfigError(f"--fault-rate must be between 0 and 1, got {self.fault_rate}")
        if self.fault_rate and not self.agent.scripted:
            raise ConfigError("--fault-rate needs the scripted agent (faults are injected by it)")


VOLATILE = ("out", "concurrency", "metrics_port", "metrics_host")
"""Config fields that do not change results: free to differ when a run resumes."""


class GenerateSummary(msgspec.Struct, frozen=True, kw_only=True):
    """What a call to :func:`generate` did, and where the run stands.

    Attributes:
        run_id: the run's id.
        requested: episodes the run asks for in all.
        skipped: episodes already written before this call (resume).
        finished: episodes written by this call.
        perfect: of those, how many were perfect.
        failed: episodes that produced no trajectory (not graded); retried on resume.
        remaining: requested episodes still without a trajectory (after a stop).
        terminations: finished episodes by termination reason.
        faults_injected: episodes in which the scripted agent made a deliberate mistake, by kind.
        faults_detected: of those, how many the verifier did not pass as perfect, by kind.
        elapsed_s: wall time of this call.
        trajectories_per_s: finished / elapsed.
        out: the trajectory file.
    """

    run_id: str
    requested: int
    skipped: int
    finished: int
    perfect: int
    failed: int
    remaining: int
    terminations: dict[str, int]
    faults_injected: dict[str, int]
    faults_detected: dict[str, int]
    elapsed_s: float
    trajectories_per_s: float
    out: str

    @property
    def pass_rate(self) -> float:
        return self.perfect / self.finished if self.finished else 0.0


class _Tally:
    """Counts outcomes as they are written (wraps the run's sink)."""

    def __init__(self, sink: RunSink) -> None:
        self.sink = sink
        self.finished = self.perfect = self.failed = 0
        self.terminations: Counter[str] = Counter()
        self.injected: Counter[str] = Counter()
        self.detected: Counter[str] = Counter()

    async def write(self, outcomes: Sequence[Outcome]) -> None:
        await self.sink.write(outcomes)
        for outcome in outcomes:
            if outcome.verdict is None:
                self.failed += 1
                continue
            self.finished += 1
            self.perfect += outcome.verdict.perfect
            self.terminations[outcome.result.termination.value] += 1
            for extra in outcome.result.extras:
                fault = extra.get("fault")
                if isinstance(fault, str):
                    self.injected[fault] += 1
                    self.detected[fault] += not outcome.verdict.perfect


def load_world(domain: Domain, world_seed: int) -> Snapshot:
    """The synthetic world of ``domain`` at its default size."""
    return domain.generate_world(domain.world_size(), world_seed)


def _world_label(world_seed: int) -> str:
    return f"synthetic:seed={world_seed}"


@contextlib.asynccontextmanager
async def _policies(config: GenerateConfig, domain: str) -> AsyncIterator[tuple[Policy, Policy]]:
    """The user and agent policies, with their HTTP clients open while in use."""
    async with contextlib.AsyncExitStack() as stack:
        sides: list[Policy] = []
        for side, spec in (("user", config.user), ("agent", config.agent)):
            if spec.scripted:
                sides.append(
                    ScriptedUser(domain) if side == "user" else ScriptedAgent(domain, fault_rate=config.fault_rate)
                )
                continue
            backend = await stack.enter_async_context(
                OpenAIChatBackend(endpoints=spec.urls, model=spec.model, name=side, api_key=spec.api_key)
            )
            policy_type = LLMUser if side == "user" else LLMAgent
            sides.append(
                policy_type(
                    backend,
                    model=spec.model,
                    temperature=spec.temperature,
                    top_p=spec.top_p,
                    max_tokens=spec.max_tokens,
                )
            )
        yield sides[0], sides[1]


class Generation:
    """One call of :func:`generate` in progress: its engine's statistics, and a way to stop it."""

    def __init__(self) -> None:
        self.engine: Engine | None = None
        self.total = 0
        self._stop_requested = False

    def statistics(self) -> EngineStatistics | None:
        return None if self.engine is None else self.engine.statistics()

    def stop(self) -> None:
        """Start no more episodes; those in flight finish and are written."""
        self._stop_requested = True
        if self.engine is not None:
            self.engine.stop()

    @property
    def stopping(self) -> bool:
        """Whether a stop was asked for."""
        return self._stop_requested

    def attach(self, engine: Engine) -> None:
        """Follow ``engine`` (stopping it at once if a stop came before it started)."""
        self.engine = engine
        if self._stop_requested:
            engine.stop()


async def generate(
    config: GenerateConfig,
    *,
    generation: Generation | None = None,
    snapshot: Snapshot | None = None,
) -> GenerateSummary:
    """Run (or resume) the job ``config`` describes, writing ``config.out/trajectories.jsonl``.

    Args:
        config: the job.
        generation: a handle for progress reporting and stopping (one is made if not given).
        snapshot: the world, if the caller has it already (must be the world ``config`` names).

    Raises:
        ConfigError: bad knobs, an unknown domain, a tasks file of another domain.
        RunMismatchError: ``config.out`` holds a run made with another config.
        StoreError: the output directory cannot be used.
    """
    generation = generation or Generation()
    started = time.perf_counter()
    domain = get_domain(config.domain)
    knobs = knobs_for(domain.name, config.knobs)
    if snapshot is None:
        snapshot = await anyio.to_thread.run_sync(load_world, domain, config.world_seed)
    tasks = await anyio.to_thread.run_sync(_tasks, config, snapshot, knobs)
    requested = [(t.task_id, i) for t in tasks for i in range(config.samples_per_task)]
    generation.total = len(requested)
    by_id = {t.task_id: t for t in tasks}
    prompts = prompts_for(domain.name)

    async with await open_run(config.out, _identity(config), volatile=VOLATILE) as run:
        await run.add_tasks(tasks)
        pending = await run.pending(requested)
        skipped = len(requested) - len(pending)
        log.info("run_opened", run_id=run.run_id, requested=len(requested), pending=len(pending), resumed=run.resumed)
        tally = _Tally(
            RunSink(
                run,
                tools=tuple(domain.toolset.openai_tools()),
                system_prompt=lambda task: prompts(task)[0],
                seeds=Seeds(run=config.seed, world=None if config.tasks_file else config.world_seed),
                models=Models(agent=config.agent.describe("agent"), user=config.user.describe("user")),
            )
        )
        async with _policies(config, domain.name) as (user, agent), anyio.create_task_group() as tg:
            metrics = None
            if config.metrics_port is not None:
                registry = CollectorRegistry()
                metrics = EngineMetrics(registry)
                await tg.start(partial(serve_metrics, registry, host=config.metrics_host, port=config.metrics_port))
                tg.start_soon(watch_loop_lag, metrics)
            engine = Engine(
                snapshot=snapshot,
                toolset=domain.toolset,
                user=user,
                agent=agent,
                prompts=prompts,
                config=EngineConfig(concurrency=config.concurrency, caps=config.caps, run_seed=config.seed),
                metrics=metrics,
            )
            generation.attach(engine)
            jobs = (EpisodeJob(task=by_id[task_id], sample_index=sample) for task_id, sample in pending)
            await engine.run(jobs, tally)
            tg.cancel_scope.cancel()  # the metrics server and lag watcher
        remaining = len(requested) - run.done_count
    elapsed = time.perf_counter() - started
    return GenerateSummary(
        run_id=run.run_id,
        requested=len(requested),
        skipped=skipped,
        finished=tally.finished,
        perfect=tally.perfect,
        failed=tally.failed,
        remaining=remaining,
        terminations=dict(sorted(tally.terminations.items())),
        faults_injected=dict(sorted(tally.injected.items())),
        faults_detected=dict(sorted(tally.detected.items())),
        elapsed_s=elapsed,
        trajectories_per_s=tally.finished / elapsed if elapsed > 0 else 0.0,
        out=str(run.trajectories_path),
    )


def _tasks(config: GenerateConfig, snapshot: Snapshot, knobs: msgspec.Struct) -> list[Task]:
    if config.tasks_file is not None:
        from cove_async.run._sampling import read_tasks

        tasks = read_tasks(config.tasks_file)
        other = {t.domain for t in tasks} - {config.domain}
        if other:
            raise ConfigError(f"{config.tasks_file} holds {sorted(other)} tasks, but --domain is {config.domain}")
        return tasks
    return list(
        sample_tasks(
            config.domain,
            snapshot,
            n=config.tasks,
            seed=config.seed,
            world=_world_label(config.world_seed),
            knobs=knobs,
        )
    )


def _identity(config: GenerateConfig) -> dict[str, Any]:
    """The run config as stored: secrets left out, the task file by content rather than path."""
    stored: dict[str, Any] = msgspec.to_builtins(config, enc_hook=str)
    for side in ("agent", "user"):
        stored[side].pop("api_key", None)
    if config.tasks_file is not None:
        stored["tasks_file"] = "sha256:" + hashlib.sha256(config.tasks_file.read_bytes()).hexdigest()
    return stored
