"""The scripted airline players: the agent solves sampled tasks from the conversation alone, its
faults are caught by the verifier, and both players are pure functions of the conversation."""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import anyio
import msgspec
import pytest

from cove_async.chat import Message, TerminationReason, Trajectory
from cove_async.domains import get_domain
from cove_async.engine import Caps, EpisodeContext, EpisodeResult, Policy, Turn, run_episode
from cove_async.policies.scripted import Fault, ScriptedAgent, ScriptedUser
from cove_async.policies.scripted._airline_agent import AirlineAgent
from cove_async.policies.scripted._airline_user import AirlineUser
from cove_async.policies.scripted._dice import Dice
from cove_async.sandbox import Snapshot
from cove_async.tasks import Intent, Task
from cove_async.tasks.airline import AirlineKnobs, sample_airline_task
from cove_async.verify import ASSENT, Verdict, compile_task, verify

AIRLINE = get_domain("airline")


@pytest.fixture
def anyio_backend() -> tuple[str, dict[str, object]]:
    """Episodes here are CPU-bound and backend-agnostic: run them once, on the engine's loop."""
    return ("asyncio", {"use_uvloop": True})


# --- running episodes through the engine's episode path ---------------------------------------------


class _Agent:
    """An engine policy around one :class:`AirlineAgent` per episode, with a chosen seed and fault."""

    role: Literal["user", "agent"] = "agent"

    def __init__(self, seed: int, fault: Fault | None) -> None:
        self.seed, self.fault = seed, fault

    async def next_turn(self, context: EpisodeContext, messages: Sequence[Message]) -> Turn:
        player = context.memo.get("agent")
        if player is None:
            player = context.memo["agent"] = AirlineAgent(seed=self.seed, fault=self.fault)
        reply = player.reply(messages)
        return Turn(message=reply.message, extras={} if reply.fault is None else {"fault": reply.fault.value})


class _User:
    role: Literal["user", "agent"] = "user"

    def __init__(self, seed: int) -> None:
        self.seed = seed

    async def next_turn(self, context: EpisodeContext, messages: Sequence[Message]) -> Turn:
        player = context.memo.get("user")
        if player is None:
            player = context.memo["user"] = AirlineUser(context.task, seed=self.seed)
        return Turn(message=player.reply(messages))


@dataclass
class _Episode:
    task: Task
    seed: int
    fault: Fault | None
    result: EpisodeResult
    verdict: Verdict

    @property
    def injected(self) -> list[tuple[int, str]]:
        """(message index, fault) for every reply that injected a fault."""
        return [(int(str(e["message_index"])), str(e["fault"])) for e in self.result.extras if "fault" in e]


def _context(task: Task, index: int) -> EpisodeContext:
    return EpisodeContext(
        episode_id=f"e{index}",
        task=task,
        sample_index=0,
        run_seed=7,
        tools=tuple(AIRLINE.toolset.openai_tools()),
        agent_system_prompt="",
        user_system_prompt="",
    )


async def _run(
    world: Snapshot,
    tasks: Sequence[Task],
    *,
    agent: Policy | None = None,
    user: Policy | None = None,
    fault: Fault | None = None,
    seed_offset: int = 0,
) -> list[_Episode]:
    out = []
    for i, task in enumerate(tasks):
        seed = i + seed_offset
        result = await run_episode(
            _context(task, i),
            user=user or _User(seed),
            agent=agent or _Agent(seed, fault),
            sandbox=world.fork(),
            toolset=AIRLINE.toolset,
            caps=Caps(),
        )
        trajectory = Trajectory(messages=result.messages, termination=result.termination)
        out.append(_Episode(task, seed, fault, result, verify(compile_task(task, world, AIRLINE.toolset), trajectory)))
    return out


def _sample(world: Snapshot, count: int, world_seed: int) -> list[Task]:
    return [
        sample_airline_task(
            world, random.Random(i), task_id=f"airline-s{world_seed}-{i:06d}", world="w", knobs=AirlineKnobs()
        )
        for i in range(count)
    ]


@pytest.fixture(scope="module")
def world() -> Snapshot:
    return AIRLINE.generate_world(AIRLINE.world_size(), 0)


@pytest.fixture(scope="module")
def tasks(world: Snapshot) -> list[Task]:
    return _sample(world, 120, 0)


@pytest.fixture(scope="module")
def episodes(world: Snapshot, tasks: list[Task]) -> list[_Episode]:
    """120 default-knob tasks played by both players, with no fault."""
    return anyio.run(lambda: _run(world, tasks), backend="asyncio", backend_options={"use_uvloop": True})


_ID_LIKE = re.compile(r"\b(?:[A-Z0-9]{6}|HAT\d{3}|(?:credit_card|gift_card|certificate)_\d+|[a-z]+_[a-z]+_\d+)\b")


def _unknown_ids(e: _Episode) -> list[str]:
    """Id-like tokens the user said that its instruction never gave it."""
    told = e.task.instruction.known_info + "\n" + e.task.instruction.reason_for_call
    said = [m.content or "" for m in e.result.messages if m.role == "user"]
    return [token for text in said for token in _ID_LIKE.findall(text) if token not in told]


def _stray_assent(e: _Episode) -> list[str]:
    """User messages with an assent word that do not answer a yes/no question."""
    messages = e.result.messages
    return [
        m.content or ""
        for k, m in enumerate(messages)
        if m.role == "user" and ASSENT.search(m.content or "") and "(yes/no)" not in (messages[k - 1].content or "")
    ]


def _summary(episodes: Sequence[_Episode]) -> tuple[float, Counter[str]]:
    failures: Counter[str] = Counter()
    for e in episodes:
        if not e.verdict.perfect:
            failures["; ".join(c.family for c in e.task.constraints) + " :: " + " | ".join(e.verdict.reasons())] += 1
    return 1 - sum(failures.values()) / len(episodes), failures


# --- (1) the agent solves sampled tasks -------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.anyio
async def test_scripted_players_solve_sampled_tasks_through_the_engine(world: Snapshot) -> None:
    """On 1,000 tasks of world 0 and 300 of world 1, the engine's scripted policies reach a perfect verdict >= 99%."""
    other = AIRLINE.generate_world(AIRLINE.world_size(), 1)
    agent, user = ScriptedAgent("airline"), ScriptedUser("airline")
    results = await _run(world, _sample(world, 1000, 0), agent=agent, user=user)
    results += await _run(other, _sample(other, 300, 1), agent=agent, user=user)
    rate, failures = _summary(results)
    print(f"\nscripted airline: {rate:.2%} perfect on {len(results)} tasks")  # noqa: T201
    for reason, count in failures.most_common():
        print(f"  {count} x {reason}")  # noqa: T201
    assert rate >= 0.99, failures.most_common(10)
    assert all(e.result.termination is TerminationReason.USER_STOP for e in results if e.verdict.perfect)
    assert not [x for e in results for x in _unknown_ids(e)]
    assert not [x for e in results for x in _stray_assent(e)]


def test_small_sample_is_perfect(episodes: list[_Episode]) -> None:
    """Every family the default knobs draw is handled: the quick sample is all perfect."""
    rate, failures = _summary(episodes)
    assert rate == 1.0, failures.most_common(5)
    families = {c.family for e in episodes for c in e.task.constraints}
    assert {"book_reservation", "cancel_reservation", "change_flights", "refuse_compensation"} <= families


# --- (2) faults are injected only when they matter, and are caught ------------------------------------


def _check_caught(e: _Episode) -> None:
    """The verdict of an episode with an injected fault is not perfect, for the fault's own reason."""
    v = e.verdict
    assert not v.perfect
    ((index, name),) = e.injected
    message = e.result.messages[index]
    unsatisfied = [c for c in v.constraints if not c.satisfied]
    if name == Fault.SKIPPED_CONFIRMATION.value:
        assert v.unconfirmed_writes >= 1
        assert any(w.message_index == index and not w.confirmed for w in v.writes)
        last_user = next(m for m in reversed(e.result.messages[:index]) if m.role == "user")
        assert not ASSENT.search(last_user.content or "")
    elif name == Fault.EXTRA_WRITE.value:
        assert message.tool_calls[0].function.name == "send_certificate"
        assert v.redundant >= 1 or v.collateral
    elif name == Fault.WRONG_RECORD.value:
        wrong = msgspec.json.decode(message.tool_calls[0].function.arguments)["reservation_id"]
        assert unsatisfied
        named = " ".join(v.reasons())
        assert wrong in named or any(c.key == wrong for c in v.collateral)
    elif name == Fault.HALLUCINATED_ARGUMENT.value:
        assert unsatisfied
    else:
        assert name == Fault.EARLY_STOP.value
        assert message.content and "###STOP###" in message.content
        assert e.result.termination is TerminationReason.AGENT_STOP
        assert unsatisfied


@pytest.mark.anyio
@pytest.mark.parametrize("fault", list(Fault), ids=lambda f: f.value)
async def test_forced_fault_is_caught_whenever_injected(world: Snapshot, tasks: list[Task], fault: Fault) -> None:
    """With a fault forced, each episode injects it at most once; injected ones fail for its reason, others pass."""
    results = await _run(world, tasks, fault=fault)
    injected = [e for e in results if e.injected]
    assert all(len(e.injected) <= 1 and e.injected[0][1] == fault.value for e in injected)
    # Most tasks give every fault an opportunity (a write, a second reservation, a question to answer).
    assert len(injected) >= len(results) // 3
    for e in injected:
        _check_caught(e)
    clean = [e for e in results if not e.injected]
    assert all(e.verdict.perfect for e in clean), [e.verdict.reasons() for e in clean if not e.verdict.perfect]


@pytest.mark.anyio
async def test_faults_without_an_opportunity_are_not_injected(world: Snapshot) -> None:
    """Refusal-only tasks have no write to fake and nothing to leave undone: those faults stay out."""
    knobs = AirlineKnobs(constraints=1, refusal_rate=1.0)
    refusals = [
        sample_airline_task(world, random.Random(i), task_id=f"r{i}", world="w", knobs=knobs) for i in range(25)
    ]
    for fault in (Fault.SKIPPED_CONFIRMATION, Fault.HALLUCINATED_ARGUMENT, Fault.WRONG_RECORD, Fault.EARLY_STOP):
        for e in await _run(world, refusals, fault=fault):
            assert not e.injected and e.verdict.perfect, (fault, e.verdict.reasons())
    # The extra write needs no opportunity beyond a known user: it is always made, and always caught.
    for e in await _run(world, refusals, fault=Fault.EXTRA_WRITE):
        assert e.injected
        _check_caught(e)


# --- (3) fresh and incremental objects agree ----------------------------------------------------------


@pytest.fixture(scope="module")
def faulty(world: Snapshot, tasks: list[Task]) -> list[_Episode]:
    """A few episodes per fault, so replay covers the fault bookkeeping too."""

    async def run() -> list[_Episode]:
        out: list[_Episode] = []
        for fault in Fault:
            out += await _run(world, tasks[:12], fault=fault)
        return out

    return anyio.run(run, backend="asyncio", backend_options={"use_uvloop": True})


def test_fresh_object_replies_like_the_incremental_one(episodes: list[_Episode], faulty: list[_Episode]) -> None:
    """At every turn, a new player fed the whole prefix says exactly what the one fed turn by turn said."""
    for e in [*episodes[:40], *faulty]:
        messages = e.result.messages
        faults = dict(e.injected)
        for k in range(1, len(messages)):
            if messages[k].role == "assistant":
                reply = AirlineAgent(seed=e.seed, fault=e.fault).reply(messages[:k])
                assert reply.message == messages[k], (e.task.task_id, k)
                assert (reply.fault.value if reply.fault else None) == faults.get(k)
            elif messages[k].role == "user":
                assert AirlineUser(e.task, seed=e.seed).reply(messages[:k]) == messages[k], (e.task.task_id, k)


def test_repeated_call_with_the_same_conversation_gives_the_same_reply(episodes: list[_Episode]) -> None:
    """Asking twice for the same prefix does not advance either player's state."""
    e = episodes[0]
    messages = e.result.messages
    agent, user = AirlineAgent(seed=e.seed), AirlineUser(e.task, seed=e.seed)
    for k in range(1, len(messages)):
        if messages[k].role == "assistant":
            assert agent.reply(messages[:k]) == agent.reply(messages[:k])
            assert agent.reply(messages[:k]).message == messages[k]
        elif messages[k].role == "user":
            assert user.reply(messages[:k]) == user.reply(messages[:k]) == messages[k]


# --- (4) determinism and variety ----------------------------------------------------------------------


@pytest.mark.anyio
async def test_same_seed_same_bytes_other_seed_other_words(world: Snapshot, tasks: list[Task]) -> None:
    """A task and seed give byte-identical conversations; other seeds phrase the same tasks differently."""
    sample = tasks[:20]
    first = await _run(world, sample)
    again = await _run(world, sample)
    other = await _run(world, sample, seed_offset=1000)
    encode = msgspec.json.encode
    assert [encode(e.result.messages) for e in first] == [encode(e.result.messages) for e in again]

    def words(e: _Episode) -> list[str]:
        return [m.content or "" for m in e.result.messages if m.role == "user"]

    differing = sum(words(a) != words(b) for a, b in zip(first, other, strict=True))
    assert differing >= len(sample) * 3 // 4
    assert all(e.verdict.perfect for e in other)


def test_dice_is_a_seeded_random() -> None:
    """The players' generator depends on (seed, length) only and draws through random.Random's API."""
    assert [Dice(5, 9).random() for _ in range(3)] == [Dice(5, 9).random()] * 3
    a, b = Dice(5, 9), Dice(5, 10)
    assert [a.randrange(1000) for _ in range(5)] != [b.randrange(1000) for _ in range(5)]
    picks = Counter(Dice(1, n).choice("abcd") for n in range(4000))
    assert set(picks) == set("abcd") and min(picks.values()) > 800


# --- (5) what the user says ---------------------------------------------------------------------------


def test_user_only_says_ids_its_instruction_gives(episodes: list[_Episode], faulty: list[_Episode]) -> None:
    """Every id-like token a user says (reservation, flight, payment, user) is in its task's instruction."""
    for e in [*episodes, *faulty]:
        assert not _unknown_ids(e), (e.task.task_id, _unknown_ids(e))


def test_user_assents_only_to_a_confirmation_question(episodes: list[_Episode], faulty: list[_Episode]) -> None:
    """A user message with an assent word always answers an agent's yes/no question; requests never have one."""
    for e in [*episodes, *faulty]:
        assert not _stray_assent(e), (e.task.task_id, _stray_assent(e))


def test_user_declines_a_summary_that_names_the_wrong_reservation(episodes: list[_Episode]) -> None:
    """Shown a change on another reservation than the task's, the user says no and names the right one."""
    e = next(
        e for e in episodes if e.task.constraints[0].family == "cancel_reservation" and e.task.difficulty.fuzziness
    )
    messages = e.result.messages
    k = next(i for i, m in enumerate(messages) if m.role == "assistant" and "(yes/no)" in (m.content or ""))
    right = str(e.task.constraints[0].params["reservation_id"])
    wrong = Message(role="assistant", content=(messages[k].content or "").replace(right, "ZZZZZZ"))
    answer = AirlineUser(e.task, seed=e.seed).reply([*messages[:k], wrong]).content or ""
    assert answer.startswith("No") and not ASSENT.search(answer)
    assert AirlineUser(e.task, seed=e.seed).reply(messages[: k + 1]) == messages[k + 1]


def test_agent_refuses_forbidden_requests_without_writing(episodes: list[_Episode]) -> None:
    """Where a task holds a refusal, the agent says why and makes no write the refusal forbids on its record."""
    seen = 0
    for e in episodes:
        for c in e.task.constraints:
            if c.intent is Intent.REFUSE:
                seen += 1
                keys = {ref.key for ref in c.targets}
                for m in e.result.messages:
                    for call in m.tool_calls:
                        if call.function.name in c.forbidden_calls:
                            assert not keys & set(re.findall(r'"([^"]+)"', call.function.arguments))
                assert any("sorry" in (m.content or "").lower() for m in e.result.messages if m.role == "assistant")
    assert seen >= 10
