"""Many episodes at once: admission, the verifier actor, the sink actor, and a clean stop.

::

    jobs ──► intake ──(admission: at most `concurrency` episodes)──► episode tasks
                                                                        │ EpisodeResult
                                                                        ▼ (bounded channel)
                                                              verifier actor (batches)
                                                                        │ [Outcome, ...]
                                                                        ▼ (bounded channel)
                                                                  sink actor ──► Sink

Backpressure runs backwards along the arrows: a slow sink fills its channel, the verifier blocks,
its channel fills, finished episodes wait to hand over while still holding their admission
slot, and intake stops starting new ones. Memory stays bounded by the caps, not by the input.

Every admitted job comes out exactly once: as an :class:`Outcome` carrying the episode and its
verdict, or carrying the reason the verifier could not grade it. Stopping (:meth:`Engine.stop`)
ends intake, lets admitted episodes finish and drains both channels before :meth:`Engine.run`
returns.
"""

from __future__ import annotations

import time
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Literal, Protocol, TypeVar

import anyio
import msgspec
import structlog
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from cove_async.chat import TerminationReason, Trajectory
from cove_async.domains import Toolset
from cove_async.engine._episode import Caps, EpisodeResult, run_episode
from cove_async.engine._policy import EpisodeContext, Policy
from cove_async.errors import CoveError
from cove_async.metrics import EngineMetrics
from cove_async.sandbox import Snapshot
from cove_async.tasks import Task
from cove_async.verify import Expectation, RewardShaping, Verdict, compile_task, verify

__all__ = ("Engine", "EngineConfig", "EngineStatistics", "EpisodeJob", "Outcome", "Sink", "record_outcomes")

log = structlog.get_logger()

T = TypeVar("T")


class EpisodeJob(msgspec.Struct, frozen=True, kw_only=True):
    """One conversation to hold: a task and which of its samples this is."""

    task: Task
    sample_index: int


class Outcome(msgspec.Struct, frozen=True, kw_only=True):
    """A finished episode and its verdict (None, with the reason, if it could not be graded)."""

    task: Task
    result: EpisodeResult
    verdict: Verdict | None
    grading_error: str | None = None


class Sink(Protocol):
    """Where outcomes go (a JSONL file and the run ledger, a daemon's stream, a test's list)."""

    async def write(self, outcomes: Sequence[Outcome]) -> None:
        """Take a batch; return once it is safely stored."""
        ...


class EngineConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How the engine runs.

    Attributes:
        concurrency: episodes in flight at most (admission control).
        caps: per-episode limits.
        run_seed: the seed every policy seed is derived from.
        batch: outcomes handed to the verifier and the sink at once, at most.
        channel_size: items buffered between the stages (bounded, so a slow stage slows the others).
        expectation_cache: compiled tasks kept for the samples still to come.
        shaping: how verdicts become scores.
    """

    concurrency: int = 1000
    caps: Caps = Caps()
    run_seed: int = 0
    batch: int = 64
    channel_size: int = 256
    expectation_cache: int = 10_000
    shaping: RewardShaping = RewardShaping()

    def __post_init__(self) -> None:
        for name in ("concurrency", "batch", "channel_size", "expectation_cache"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")


class EngineStatistics(msgspec.Struct, frozen=True, kw_only=True):
    """Progress of a run so far."""

    started: int
    finished: int
    perfect: int
    ungraded: int
    in_flight: int
    elapsed_s: float

    @property
    def trajectories_per_s(self) -> float:
        return self.finished / self.elapsed_s if self.elapsed_s > 0 else 0.0


class _Counters:
    def __init__(self) -> None:
        self.started = self.finished = self.perfect = self.ungraded = 0
        self.t0 = time.perf_counter()


async def _batches(receive: MemoryObjectReceiveStream[T], size: int) -> AsyncIterator[list[T]]:
    """Items from ``receive`` in batches: wait for one, then take what is already there, up to ``size``."""
    async with receive:
        async for first in receive:
            batch = [first]
            while len(batch) < size:
                try:
                    batch.append(receive.receive_nowait())
                except (anyio.WouldBlock, anyio.EndOfStream):
                    break
            yield batch


class _Admission:
    """This engine's own slot, then a slot of the limiter it shares with other engines (if any)."""

    def __init__(self, own: anyio.Semaphore, shared: anyio.Semaphore | None) -> None:
        self._own = own
        self._shared = shared

    async def acquire(self) -> None:
        await self._own.acquire()
        if self._shared is not None:
            try:
                await self._shared.acquire()
            except BaseException:
                self._own.release()
                raise

    def release(self) -> None:
        if self._shared is not None:
            self._shared.release()
        self._own.release()


_VERIFIER_SLICE_S = 0.002
"""How long the verifier grades before it lets the episodes run."""

_FAILED_TERMINATIONS = frozenset(
    (
        TerminationReason.AGENT_ERROR,
        TerminationReason.USER_ERROR,
        TerminationReason.INFRASTRUCTURE_ERROR,
        TerminationReason.UNEXPECTED_ERROR,
    )
)


def record_outcomes(metrics: EngineMetrics, outcomes: Sequence[Outcome]) -> None:
    """Count finished episodes: outcome, duration, turns, LLM requests and tool calls.

    Counting from the finished episodes, once per batch, keeps the metrics off the turn loop;
    turns and tool calls are summed over the batch first, so each counter is touched once.
    An episode that ended in an error (a backend that failed after its retries, an ungradable
    task) counts as ``failed`` whatever its verdict.
    """
    turns: Counter[Literal["user", "agent"]] = Counter()
    tool_calls: Counter[tuple[str, bool]] = Counter()
    for outcome in outcomes:
        result = outcome.result
        verdict = outcome.verdict
        if verdict is None or result.termination in _FAILED_TERMINATIONS:
            label: Literal["perfect", "imperfect", "failed"] = "failed"
        else:
            label = "perfect" if verdict.perfect else "imperfect"
        metrics.trajectory(label, duration_s=result.duration_s)
        if result.termination is TerminationReason.TIMEOUT:
            metrics.timeout("episode")
        for turn in result.turns:
            role: Literal["user", "agent"] = "user" if turn.role == "user" else "agent"
            turns[role] += 1
            if turn.latency_s > 0:
                metrics.llm_request(
                    backend=turn.model,
                    role=role,
                    duration_s=turn.latency_s,
                    ttft_s=turn.ttft_s,
                    prompt_tokens=turn.prompt_tokens,
                    completion_tokens=turn.completion_tokens,
                )
        names: dict[str, str] = {}
        for message in result.messages:
            if message.role == "assistant":
                for call in message.tool_calls:
                    names[call.id] = call.function.name
            elif message.role == "tool":
                name = names.get(message.tool_call_id or "", "unknown")
                tool_calls[name, (message.content or "").startswith("Error")] += 1
    for role, count in turns.items():
        metrics.turn(role, count)
    for (name, error), count in tool_calls.items():
        metrics.tool_call(name, error=error, count=count)


class Engine:
    """Runs episodes against one world, grades them, and hands the outcomes to a sink.

    Args:
        snapshot: the world every episode forks.
        toolset: the domain's tools.
        user: the user simulator's policy, shared by all episodes (policies keep no per-episode state
            between calls, or key it by episode id).
        agent: the agent's policy.
        prompts: (agent system prompt, user system prompt) for a task.
        config: how to run.
        metrics: where to record Prometheus metrics (None: not recorded).
        admission: a limiter shared with other engines (a daemon's jobs), taken after this
            engine's own ``config.concurrency`` slot; anyio's semaphore wakes waiters in FIFO
            order, so engines sharing one take turns fairly.
    """

    def __init__(
        self,
        *,
        snapshot: Snapshot,
        toolset: Toolset,
        user: Policy,
        agent: Policy,
        prompts: Callable[[Task], tuple[str, str]],
        config: EngineConfig,
        metrics: EngineMetrics | None = None,
        admission: anyio.Semaphore | None = None,
    ) -> None:
        self.snapshot = snapshot
        self.toolset = toolset
        self.user = user
        self.agent = agent
        self.prompts = prompts
        self.config = config
        self.metrics = metrics
        self._shared_admission = admission
        self._tools = tuple(toolset.openai_tools())
        self._expectations: OrderedDict[str, Expectation] = OrderedDict()
        self._counters = _Counters()
        self._stopping = anyio.Event()

    def statistics(self) -> EngineStatistics:
        """Progress so far (cheap; for progress bars and metrics)."""
        c = self._counters
        return EngineStatistics(
            started=c.started,
            finished=c.finished,
            perfect=c.perfect,
            ungraded=c.ungraded,
            in_flight=c.started - c.finished,
            elapsed_s=time.perf_counter() - c.t0,
        )

    def stop(self) -> None:
        """Start no more episodes; those in flight finish and are written."""
        self._stopping.set()

    async def run(self, jobs: Iterable[EpisodeJob], sink: Sink) -> EngineStatistics:
        """Run every job (until :meth:`stop`), writing each outcome to ``sink`` exactly once."""
        cfg = self.config
        done_send, done_receive = anyio.create_memory_object_stream[tuple[Task, EpisodeResult]](cfg.channel_size)
        out_send, out_receive = anyio.create_memory_object_stream[list[Outcome]](max(1, cfg.channel_size // cfg.batch))
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._verifier, done_receive, out_send)
            tg.start_soon(self._sink, out_receive, sink)
            async with done_send:
                await self._intake(jobs, done_send)
        return self.statistics()

    async def _intake(
        self, jobs: Iterable[EpisodeJob], done: MemoryObjectSendStream[tuple[Task, EpisodeResult]]
    ) -> None:
        admission = _Admission(anyio.Semaphore(self.config.concurrency), self._shared_admission)
        metrics = self.metrics
        async with anyio.create_task_group() as episodes:
            for job in jobs:
                if self._stopping.is_set():
                    break
                waited_from = time.perf_counter()
                await admission.acquire()
                if self._stopping.is_set():
                    admission.release()
                    break
                if metrics is not None:
                    metrics.admission_wait.observe(time.perf_counter() - waited_from)
                self._counters.started += 1
                episodes.start_soon(self._episode, job, admission, done)

    async def _episode(
        self,
        job: EpisodeJob,
        admission: _Admission,
        done: MemoryObjectSendStream[tuple[Task, EpisodeResult]],
    ) -> None:
        task = job.task
        agent_prompt, user_prompt = self.prompts(task)
        context = EpisodeContext(
            episode_id=f"{task.task_id}/{job.sample_index}",
            task=task,
            sample_index=job.sample_index,
            run_seed=self.config.run_seed,
            tools=self._tools,
            agent_system_prompt=agent_prompt,
            user_system_prompt=user_prompt,
        )
        metrics = self.metrics
        if metrics is not None:
            metrics.episodes_in_flight.inc()
            metrics.sandboxes_live.inc()
        # The episode's task has a context of its own, so the binding needs no undoing.
        structlog.contextvars.bind_contextvars(episode_id=context.episode_id)
        # The admission slot is held until the result is handed over: a full channel slows intake.
        try:
            try:
                result = await run_episode(
                    context,
                    user=self.user,
                    agent=self.agent,
                    sandbox=self.snapshot.fork(),
                    toolset=self.toolset,
                    caps=self.config.caps,
                )
            finally:  # a cancelled episode's sandbox is gone too
                if metrics is not None:
                    metrics.sandboxes_live.dec()
            await done.send((task, result))
        finally:
            admission.release()
            if metrics is not None:
                metrics.episodes_in_flight.dec()

    def _expectation(self, task: Task) -> Expectation:
        cache = self._expectations
        expectation = cache.get(task.task_id)
        if expectation is None:
            expectation = cache[task.task_id] = compile_task(task, self.snapshot, self.toolset)
            if len(cache) > self.config.expectation_cache:
                cache.popitem(last=False)
        else:
            cache.move_to_end(task.task_id)
        return expectation

    async def _verifier(
        self,
        receive: MemoryObjectReceiveStream[tuple[Task, EpisodeResult]],
        send: MemoryObjectSendStream[list[Outcome]],
    ) -> None:
        async with send:
            metrics = self.metrics
            async for batch in _batches(receive, self.config.batch):
                if metrics is not None:
                    metrics.channel_depth("finished", receive.statistics().current_buffer_used)
                outcomes = []
                yielded = time.perf_counter()
                for task, result in batch:
                    trajectory = Trajectory(messages=result.messages, termination=result.termination)
                    started = time.perf_counter()
                    try:
                        verdict = verify(self._expectation(task), trajectory, self.config.shaping)
                        outcomes.append(Outcome(task=task, result=result, verdict=verdict))
                    except CoveError as exc:  # an ungradable task is recorded, never dropped
                        outcomes.append(Outcome(task=task, result=result, verdict=None, grading_error=str(exc)))
                    else:
                        if metrics is not None:
                            metrics.verified(duration_s=time.perf_counter() - started, score=verdict.score)
                    # Grading is CPU work: a whole batch at once held the loop for ~10 ms.
                    if time.perf_counter() - yielded > _VERIFIER_SLICE_S:
                        await anyio.lowlevel.checkpoint()
                        yielded = time.perf_counter()
                await send.send(outcomes)
                await anyio.lowlevel.checkpoint()

    async def _sink(self, receive: MemoryObjectReceiveStream[list[Outcome]], sink: Sink) -> None:
        async with receive:
            async for outcomes in receive:
                await sink.write(outcomes)
                if self.metrics is not None:
                    record_outcomes(self.metrics, outcomes)
                c = self._counters
                c.finished += len(outcomes)
                c.perfect += sum(o.verdict is not None and o.verdict.perfect for o in outcomes)
                c.ungraded += sum(o.verdict is None for o in outcomes)
