"""Many episodes: every job comes out exactly once, backpressure bounds intake, stop loses nothing."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import anyio
import msgspec
import pytest
from prometheus_client import CollectorRegistry

from cove_async.chat import Message
from cove_async.engine import Engine, EngineConfig, EpisodeContext, EpisodeJob, Outcome, Turn
from cove_async.metrics import EngineMetrics
from cove_async.policies import BriefUser, OracleAgent
from cove_async.sandbox import Snapshot
from cove_async.tasks import Call, Constraint, Intent, Ref, Task
from tests.engine.conftest import RETAIL
from tests.verify.test_verifier import _task

pytestmark = pytest.mark.anyio


class ListSink:
    def __init__(self) -> None:
        self.outcomes: list[Outcome] = []
        self.batches = 0

    async def write(self, outcomes: Sequence[Outcome]) -> None:
        self.outcomes.extend(outcomes)
        self.batches += 1


class GatedSink(ListSink):
    """Holds every write until the test opens the gate."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = anyio.Event()
        self.waiting = anyio.Event()

    async def write(self, outcomes: Sequence[Outcome]) -> None:
        self.waiting.set()
        await self.gate.wait()
        await super().write(outcomes)


def _engine(world: Snapshot, **config: int) -> Engine:
    return Engine(
        snapshot=world,
        toolset=RETAIL.toolset,
        user=BriefUser(),
        agent=OracleAgent(),
        prompts=lambda task: ("agent policy", "user guidelines"),
        config=EngineConfig(**config),  # type: ignore[arg-type]
    )


def _jobs(task: Task, n: int) -> list[EpisodeJob]:
    return [EpisodeJob(task=task, sample_index=i) for i in range(n)]


async def test_every_job_comes_out_once_and_perfect(world: Snapshot, task: Task) -> None:
    sink = ListSink()
    stats = await _engine(world, concurrency=50, batch=16).run(_jobs(task, 300), sink)
    keys = Counter((o.task.task_id, o.result.sample_index) for o in sink.outcomes)
    assert len(keys) == 300
    assert set(keys.values()) == {1}
    assert all(o.verdict is not None and o.verdict.perfect for o in sink.outcomes)
    assert (stats.started, stats.finished, stats.perfect, stats.in_flight) == (300, 300, 300, 0)
    assert sink.batches < 300  # outcomes travel in batches


async def test_a_slow_sink_stops_intake(world: Snapshot, task: Task) -> None:
    sink = GatedSink()
    engine = _engine(world, concurrency=8, batch=4, channel_size=8)
    async with anyio.create_task_group() as tg:
        tg.start_soon(engine.run, _jobs(task, 500), sink)
        await sink.waiting.wait()
        for _ in range(50):  # let everything that can move, move
            await anyio.lowlevel.checkpoint()
        started = engine.statistics().started
        # Admitted episodes wait for room downstream while holding their slot: intake is bounded by
        # the caps and channel sizes, not by the 500 jobs on offer.
        assert started <= 8 + 8 + 2 * 4 + 4 + 8
        sink.gate.set()
    assert engine.statistics().finished == 500


async def test_stop_finishes_what_was_started(world: Snapshot, task: Task) -> None:
    sink = ListSink()
    engine = _engine(world, concurrency=10, batch=4)

    class StoppingSink(ListSink):
        async def write(self, outcomes: Sequence[Outcome]) -> None:
            await sink.write(outcomes)
            if len(sink.outcomes) >= 20:
                engine.stop()

    stats = await engine.run(_jobs(task, 1000), StoppingSink())
    assert 20 <= stats.finished < 1000
    assert stats.finished == stats.started == len(sink.outcomes)
    assert len({o.result.sample_index for o in sink.outcomes}) == stats.finished


async def test_an_ungradable_task_is_recorded_not_dropped(world: Snapshot, task: Task) -> None:
    broken = _task(
        world.load(RETAIL.schema.kind("users"), task.user.key),  # type: ignore[arg-type]
        Constraint(
            id="c0",
            family="cancel_pending_order",
            intent=Intent.CHANGE,
            targets=(Ref(kind="orders", key="#W0000000"),),
            writes=(
                Call(name="cancel_pending_order", arguments={"order_id": "#W0000000", "reason": "no longer needed"}),
            ),
        ),
        plan=(Call(name="get_user_details", arguments={"user_id": task.user.key}),),
    )
    broken = msgspec.structs.replace(broken, task_id="broken")
    sink = ListSink()
    stats = await _engine(world).run([*_jobs(task, 3), *_jobs(broken, 2)], sink)
    assert stats.finished == 5
    assert stats.ungraded == 2
    errors = [o.grading_error for o in sink.outcomes if o.verdict is None]
    assert errors == ["constraint c0: canonical call cancel_pending_order failed: Error: Order not found"] * 2


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match="concurrency must be >= 1, got 0"):
        EngineConfig(concurrency=0)


async def test_metrics_count_what_the_run_did(world: Snapshot, task: Task) -> None:
    registry = CollectorRegistry()
    engine = Engine(
        snapshot=world,
        toolset=RETAIL.toolset,
        user=BriefUser(),
        agent=OracleAgent(),
        prompts=lambda task: ("agent policy", "user guidelines"),
        config=EngineConfig(concurrency=16, batch=8),
        metrics=EngineMetrics(registry),
    )
    sink = ListSink()
    await engine.run(_jobs(task, 40), sink)
    value = registry.get_sample_value
    assert value("cove_trajectories_total", {"outcome": "perfect"}) == 40
    assert value("cove_episodes_in_flight") == 0
    assert value("cove_sandboxes_live") == 0
    writes = sum(len(c.writes) for c in task.constraints)
    assert value("cove_turns_total", {"role": "user"}) == 40 * (2 + writes)  # request, a yes per write, stop
    calls = Counter(c.name for c in task.plan)
    for name, n in calls.items():
        assert value("cove_tool_calls_total", {"tool": name}) == 40 * n
    assert value("cove_verifier_duration_seconds_count") == 40
    assert value("cove_admission_wait_seconds_count") == 40


class _StalledUser(BriefUser):
    """Never answers: episodes stay in flight until they are cancelled."""

    def __init__(self, stalled: int) -> None:
        self.waiting = 0
        self.all_stalled = anyio.Event()
        self._stalled = stalled

    async def next_turn(self, context: EpisodeContext, messages: Sequence[Message]) -> Turn:
        self.waiting += 1
        if self.waiting == self._stalled:
            self.all_stalled.set()
        await anyio.sleep_forever()
        raise AssertionError("unreachable")


async def test_cancelled_episodes_leave_no_live_sandbox_or_episode_behind(world: Snapshot, task: Task) -> None:
    registry = CollectorRegistry()
    user = _StalledUser(16)
    engine = Engine(
        snapshot=world,
        toolset=RETAIL.toolset,
        user=user,
        agent=OracleAgent(),
        prompts=lambda task: ("agent policy", "user guidelines"),
        config=EngineConfig(concurrency=16),
        metrics=EngineMetrics(registry),
    )
    value = registry.get_sample_value
    with anyio.move_on_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(engine.run, _jobs(task, 40), ListSink())
            await user.all_stalled.wait()
            assert (value("cove_sandboxes_live"), value("cove_episodes_in_flight")) == (16, 16)
            tg.cancel_scope.cancel()
    assert (value("cove_sandboxes_live"), value("cove_episodes_in_flight")) == (0, 0)


async def test_engines_sharing_a_limiter_never_exceed_it_and_take_turns(world: Snapshot, task: Task) -> None:
    shared = anyio.Semaphore(3)
    live = peak = 0
    order: list[str] = []

    class CountingAgent(OracleAgent):
        def __init__(self, name: str) -> None:
            self.name = name

        async def next_turn(self, context, messages):
            nonlocal live, peak
            if len(messages) == 2:  # the agent's first turn: the episode is live
                live += 1
                peak = max(peak, live)
                order.append(self.name)
            turn = await super().next_turn(context, messages)
            await anyio.lowlevel.checkpoint()
            if turn.message.content:  # its closing words: the episode is about to end
                live -= 1
            return turn

    def engine(name: str) -> Engine:
        return Engine(
            snapshot=world,
            toolset=RETAIL.toolset,
            user=BriefUser(),
            agent=CountingAgent(name),
            prompts=lambda task: ("agent policy", "user guidelines"),
            config=EngineConfig(concurrency=10),
            admission=shared,
        )

    sinks = ListSink(), ListSink()
    async with anyio.create_task_group() as tg:
        tg.start_soon(engine("a").run, _jobs(task, 30), sinks[0])
        tg.start_soon(engine("b").run, _jobs(task, 30), sinks[1])
    assert [len(s.outcomes) for s in sinks] == [30, 30]
    assert peak <= 3
    # FIFO waiters: neither engine runs all of its episodes before the other starts.
    assert "b" in order[:15] and "a" in order[:15]
