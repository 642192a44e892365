"""One rollout job: its files, its engine run, its counters and its results feed.

A job lives in ``STATE/jobs/<id>/``:

- ``job.json``: the request as submitted (written before the job id is returned; mode 0600,
  since it may hold server API keys needed to resume);
- ``status.json``: state, error, acknowledged cursor, current policy version (rewritten
  atomically on change);
- ``run/``: the durable run (:func:`cove_async.store.open_run`): ``trajectories.jsonl`` is the
  results stream, the ledger makes every episode count exactly once across restarts.

Running a job samples or loads its tasks, opens its run, opens its LLM backends (wrapped so
that pauses hold them), and runs an :class:`~cove_async.engine.Engine` whose admission is the
daemon's shared limiter behind the job's pause gate. Outcomes go to the run; with group
delivery, a task's samples are held until all of them are graded and then written together,
so a group is contiguous in the stream. A group member that could not be graded is recorded
as a failure and its group goes out without it.

A job cancelled by ``DELETE`` stops at once (episodes in flight are dropped, never written)
and stays cancelled. A job interrupted by the daemon stopping keeps state ``running`` and is
resumed by the next daemon on the same state directory: the run's ledger knows what is written.
"""

from __future__ import annotations

import contextlib
import os
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import msgspec
import structlog

from cove_async.client._api import InlineTasks, JobRequest, JobState, JobStatus, LLMBackend, PolicyKind, SampleTasks
from cove_async.daemon._feed import JobFeed
from cove_async.daemon._pause import PausableBackend, PauseBoard, PauseGate, server_key
from cove_async.domains import Domain, get_domain
from cove_async.engine import Caps, Engine, EngineConfig, EpisodeJob, Outcome, Policy
from cove_async.errors import CoveError
from cove_async.metrics import EngineMetrics
from cove_async.run import RunSink
from cove_async.sandbox import Snapshot
from cove_async.store import Models, Run, Seeds, open_run
from cove_async.tasks import Task

__all__ = ("FINAL_STATES", "Job", "JobServices", "JobStore", "StoredJob")

log = structlog.get_logger()

FINAL_STATES: frozenset[JobState] = frozenset(("done", "cancelled", "error"))


class StoredJob(msgspec.Struct, frozen=True, kw_only=True):
    """``job.json``: what was submitted, and when."""

    id: str
    created_at: float
    request: JobRequest


class _StoredStatus(msgspec.Struct, kw_only=True):
    """``status.json``: what changes over a job's life."""

    state: JobState = "preparing"
    error: str | None = None
    acked: int = 0
    policy_version: str | None = None


_STATUS_DECODER = msgspec.json.Decoder(_StoredStatus)
_JOB_DECODER = msgspec.json.Decoder(StoredJob)


def _write_atomic(path: Path, data: bytes, *, fsync: bool) -> None:
    """Replace ``path`` by ``data`` (owner-only permissions). Blocking."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


class JobStore:
    """The job directories under ``STATE/jobs``."""

    def __init__(self, state_dir: Path) -> None:
        self.root = state_dir / "jobs"

    def create(self, stored: StoredJob) -> Path:
        """Make the job's directory and write ``job.json`` durably. Blocking."""
        directory = self.root / stored.id
        directory.mkdir(parents=True, exist_ok=False)
        _write_atomic(directory / "job.json", msgspec.json.encode(stored), fsync=True)
        _write_atomic(directory / "status.json", msgspec.json.encode(_StoredStatus()), fsync=True)
        return directory

    def load_all(self) -> Iterator[tuple[StoredJob, _StoredStatus, Path]]:
        """Every job on disk, oldest first; unreadable ones are logged and skipped. Blocking."""
        if not self.root.is_dir():
            return
        found = []
        for directory in self.root.iterdir():
            try:
                stored = _JOB_DECODER.decode((directory / "job.json").read_bytes())
                status = _STATUS_DECODER.decode((directory / "status.json").read_bytes())
            except (OSError, msgspec.DecodeError) as exc:
                log.warning("job_unreadable", directory=str(directory), error=str(exc))
                continue
            found.append((stored, status, directory))
        found.sort(key=lambda item: (item[0].created_at, item[0].id))
        yield from found


@dataclass(frozen=True, slots=True)
class JobServices:
    """What the daemon lends its jobs.

    Attributes:
        admission: the shared limiter on episodes in flight across jobs.
        board: which servers are paused.
        engine_metrics: the engine metrics every job's engine records into.
        prepare: a job's world and tasks (sampled, or as given), loaded off the event loop.
        tau2_dir: tau2's data folder, for tasks set in tau2's world.
        on_finished: told when a job reaches a final state (metrics).
    """

    admission: anyio.Semaphore
    board: PauseBoard
    engine_metrics: EngineMetrics | None
    prepare: Callable[[Domain, JobRequest], Awaitable[tuple[Snapshot, list[Task]]]]
    tau2_dir: Path | None
    on_finished: Callable[[JobState], None]


def _identity(request: JobRequest) -> dict[str, Any]:
    """The run config stored in the ledger: what decides results (no keys, no labels, no caps on speed)."""
    config: dict[str, Any] = msgspec.to_builtins(request)
    for side in ("agent", "user"):
        if isinstance(config[side], dict):
            config[side].pop("api_key", None)
    for volatile in ("name", "concurrency", "policy_version", "group"):
        config.pop(volatile, None)
    return config


def domain_of(request: JobRequest) -> str:
    """The domain a job plays."""
    source = request.tasks
    return source.tasks[0].domain if isinstance(source, InlineTasks) else source.domain


def requested_count(request: JobRequest) -> int:
    """Episodes a job asks for: tasks x samples per task (0 for tau2 ids, which are refused)."""
    source = request.tasks
    if isinstance(source, InlineTasks):
        tasks = len(source.tasks)
    elif isinstance(source, SampleTasks):
        tasks = source.n
    else:
        tasks = len(source.ids)
    return tasks * request.samples_per_task


def servers_of(request: JobRequest) -> frozenset[str]:
    """The :func:`server_key` of every LLM server a job uses."""
    return frozenset(
        server_key(url) for side in (request.agent, request.user) if isinstance(side, LLMBackend) for url in side.urls
    )


class _JobSink:
    """The job's engine sink: outcomes to the run (groups held until whole), counters, the feed."""

    def __init__(self, job: Job, run_sink: RunSink, expected: dict[str, int] | None) -> None:
        self._job = job
        self._run_sink = run_sink
        self._expected = expected
        self._held: dict[str, list[Outcome]] = {}

    async def write(self, outcomes: Sequence[Outcome]) -> None:
        if self._expected is None:
            ready = list(outcomes)
        else:
            ready = []
            for outcome in outcomes:
                task_id = outcome.task.task_id
                if outcome.verdict is None:
                    # No trajectory will come for it: its group goes out without it.
                    ready.append(outcome)
                    self._expected[task_id] -= 1
                else:
                    self._held.setdefault(task_id, []).append(outcome)
                held = self._held.get(task_id, [])
                if held and len(held) >= self._expected[task_id]:
                    ready.extend(self._held.pop(task_id))
        if ready:
            await self._commit(ready)

    async def flush(self) -> None:
        """Write groups still incomplete (members lost to errors); called when the engine is done."""
        rest = [outcome for group in self._held.values() for outcome in group]
        self._held.clear()
        if rest:
            await self._commit(rest)

    async def _commit(self, outcomes: list[Outcome]) -> None:
        await self._run_sink.write(outcomes)
        job = self._job
        for outcome in outcomes:
            if outcome.verdict is None:
                job.failed += 1
            else:
                job.perfect += outcome.verdict.perfect
        await job.feed.refresh()


class Job:
    """A submitted job and, while it runs, its engine.

    Args:
        stored: the submission.
        directory: the job's directory.
        state: the state read from disk (``preparing`` for a new job).
        acked: the acknowledged cursor.
        error: the recorded error, if any.
        policy_version: the policy version tag now (the submitted one unless moved on).
    """

    def __init__(
        self,
        stored: StoredJob,
        directory: Path,
        *,
        state: JobState = "preparing",
        acked: int = 0,
        error: str | None = None,
        policy_version: str | None = None,
    ) -> None:
        self.id = stored.id
        self.created_at = stored.created_at
        self.request = stored.request
        self.directory = directory
        self.state: JobState = state
        self.acked = acked
        self.error = error
        self.policy_version = policy_version if policy_version is not None else stored.request.policy_version
        self.requested = requested_count(stored.request)
        self.servers = servers_of(stored.request)
        self.feed = JobFeed(directory / "run" / "trajectories.jsonl")
        self.perfect = 0
        self.failed = 0
        self._engine: Engine | None = None
        self._agents: list[Any] = []
        self._scope: anyio.CancelScope | None = None
        self._cancel_requested = False
        self._status_lock = anyio.Lock()
        if state in FINAL_STATES:
            self.feed.finished = True

    @property
    def final(self) -> bool:
        """Whether the job has reached a final state."""
        return self.state in FINAL_STATES

    def status(self) -> JobStatus:
        """The job's status as the API reports it."""
        engine = self._engine
        return JobStatus(
            id=self.id,
            name=self.request.name,
            state=self.state,
            created_at=self.created_at,
            requested=self.requested,
            written=self.feed.count,
            perfect=self.perfect,
            failed=self.failed,
            in_flight=0 if engine is None or self.final else engine.statistics().in_flight,
            acked=self.acked,
            samples_per_task=self.request.samples_per_task,
            group=self.request.group,
            policy_version=self.policy_version,
            error=self.error,
        )

    async def save_status(self) -> None:
        """Write ``status.json`` (atomically; fsynced for final states)."""
        data = msgspec.json.encode(
            _StoredStatus(state=self.state, error=self.error, acked=self.acked, policy_version=self.policy_version)
        )
        async with self._status_lock:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(
                    lambda: _write_atomic(self.directory / "status.json", data, fsync=self.final)
                )

    async def acknowledge(self, cursor: int) -> None:
        """Record that the client processed every trajectory up to ``cursor`` (never moves back)."""
        if cursor > self.acked:
            self.acked = cursor
            await self.save_status()

    async def set_policy_version(self, version: str) -> None:
        """Tag the agent's turns from now on with ``version`` (after a weight update)."""
        self.policy_version = version
        for agent in self._agents:
            agent.policy_version = version
        await self.save_status()

    def cancel(self) -> bool:
        """Stop the job now: episodes in flight are dropped. Returns False if it had already ended."""
        if self.final:
            return False
        self._cancel_requested = True
        if self._scope is not None:
            self._scope.cancel()
        return True

    async def run(self, services: JobServices) -> None:
        """Run (or resume) the job to a final state; returns early only when cancelled from outside.

        Errors that stop the job (a bad task, a backend that cannot be opened) put it in state
        ``error`` with the message; a daemon shutdown leaves it ``running`` for the next daemon.
        """
        bound = structlog.contextvars.bound_contextvars(job_id=self.id)
        with bound, anyio.CancelScope() as scope:
            self._scope = scope
            if self._cancel_requested:
                scope.cancel()
            try:
                await self._run(services)
            except CoveError as exc:
                log.warning("job_failed", error=str(exc))
                await self._finish(services, "error", str(exc))
            except Exception as exc:  # a bug must not take the daemon down with it
                log.exception("job_crashed")
                await self._finish(services, "error", f"internal error: {type(exc).__name__}: {exc}")
            else:
                await self._finish(services, "done")
        if scope.cancelled_caught:
            await self._finish(services, "cancelled")

    async def _finish(self, services: JobServices, state: JobState, error: str | None = None) -> None:
        with anyio.CancelScope(shield=True):
            self.state = state
            self.error = error
            services.on_finished(state)
            # Streams end now; a crash before the status is saved only makes the next daemon
            # resume the job, find nothing pending and end it again.
            self.feed.finish()
            await self.save_status()
            log.info("job_finished", state=state, written=self.feed.count, failed=self.failed, error=error)

    async def _run(self, services: JobServices) -> None:
        request = self.request
        domain = get_domain(domain_of(request))
        snapshot, tasks = await services.prepare(domain, request)
        run_dir = self.directory / "run"
        async with await open_run(run_dir, _identity(request)) as run, contextlib.AsyncExitStack() as stack:
            await run.add_tasks(tasks)
            by_id = {task.task_id: task for task in tasks}
            requested = [(task.task_id, i) for task in tasks for i in range(request.samples_per_task)]
            pending = await run.pending(requested)
            stats = await run.statistics()
            self.perfect, self.failed = stats.perfect, 0
            await self.feed.refresh()
            self.feed.reopen()
            user, agent = await self._policies(stack, services, domain)
            engine = self._engine = Engine(
                snapshot=snapshot,
                toolset=domain.toolset,
                user=user,
                agent=agent,
                prompts=_prompts(domain.name, services.tau2_dir),
                config=EngineConfig(
                    concurrency=request.concurrency or services.admission.max_value or 1,
                    caps=Caps(**msgspec.to_builtins(request.caps)),
                    run_seed=request.seed,
                ),
                metrics=services.engine_metrics,
                admission=PauseGate(services.admission, servers=self.servers, board=services.board),
            )
            if self.state != "running":
                self.state = "running"
                await self.save_status()
            log.info("job_running", requested=len(requested), pending=len(pending), written=self.feed.count)
            sink = _JobSink(
                self,
                _run_sink(run, domain, request, by_id, services.tau2_dir),
                Counter(task_id for task_id, _ in pending) if request.group else None,
            )
            await engine.run((EpisodeJob(task=by_id[t], sample_index=s) for t, s in pending), sink)
            await sink.flush()

    async def _policies(
        self, stack: contextlib.AsyncExitStack, services: JobServices, domain: Domain
    ) -> tuple[Policy, Policy]:
        request = self.request
        user = await self._policy(stack, services, domain, "user", request.user)
        agent = await self._policy(stack, services, domain, "agent", request.agent)
        return user, agent

    async def _policy(
        self,
        stack: contextlib.AsyncExitStack,
        services: JobServices,
        domain: Domain,
        side: str,
        spec: PolicyKind | LLMBackend,
    ) -> Policy:
        if spec == "oracle":
            from cove_async.policies import BriefUser, OracleAgent

            return BriefUser() if side == "user" else OracleAgent()
        if spec == "scripted":
            from cove_async.policies.scripted import ScriptedAgent, ScriptedUser

            if side == "user":
                return ScriptedUser(domain.name)
            return ScriptedAgent(domain.name, fault_rate=self.request.fault_rate)
        assert isinstance(spec, LLMBackend)
        from cove_async.backends import OpenAIChatBackend
        from cove_async.policies._llm import LLMAgent, LLMUser

        backend = await stack.enter_async_context(
            OpenAIChatBackend(endpoints=spec.urls, model=spec.model, name=side, api_key=spec.api_key)
        )
        gated = PausableBackend(backend, servers={server_key(url) for url in spec.urls}, board=services.board)
        policy_type = LLMAgent if side == "agent" else LLMUser
        policy = policy_type(
            gated,
            model=spec.model,
            temperature=spec.temperature,
            top_p=spec.top_p,
            max_tokens=spec.max_tokens,
            extra_body=spec.extra_body,
            policy_version=self.policy_version if side == "agent" else None,
        )
        if side == "agent":
            self._agents.append(policy)
        return policy


def _prompts(domain: str, tau2_dir: Path | None) -> Callable[[Task], tuple[str, str]]:
    from cove_async.prompts import prompts_for

    return prompts_for(domain, tau2_dir=tau2_dir)


def _run_sink(run: Run, domain: Domain, request: JobRequest, by_id: dict[str, Task], tau2_dir: Path | None) -> RunSink:
    prompts = _prompts(domain.name, tau2_dir)
    seed = request.tasks.world_seed if isinstance(request.tasks, SampleTasks) else None
    return RunSink(
        run,
        tools=tuple(domain.toolset.openai_tools()),
        system_prompt=lambda task: prompts(task)[0],
        seeds=Seeds(run=request.seed, world=seed),
        models=Models(agent=_describe(request.agent, "agent"), user=_describe(request.user, "user")),
    )


def _describe(spec: PolicyKind | LLMBackend, side: str) -> str:
    if isinstance(spec, LLMBackend):
        return spec.model
    return f"{spec}-{side}"


def snapshot_for(domain: Domain, world: str, tau2_dir: Path | None) -> Snapshot:
    """The world a ``Task.world`` label names: ``synthetic:seed=N`` or ``tau2``. Blocking.

    Raises:
        CoveError: a label the daemon cannot load (the message says which labels work).
    """
    prefix = "synthetic:seed="
    if world.startswith(prefix):
        try:
            seed = int(world[len(prefix) :])
        except ValueError:
            raise CoveError(f"world {world!r}: the seed after {prefix!r} must be a whole number") from None
        return domain.generate_world(domain.world_size(), seed)
    if world == "tau2" or world.startswith("tau2:"):
        if tau2_dir is None:
            raise CoveError(f"world {world!r} needs tau2's data: start the daemon with --tau2-dir")
        return domain.load_tau2(tau2_dir)
    raise CoveError(f"world {world!r} is not one the daemon can load; use 'synthetic:seed=N' or 'tau2'")
