"""The scripted retail players: solvability from the conversation alone, faults caught, replay, determinism.

Conversations run through the real episode path (``run_episode`` on a fork of a synthetic world,
with the engine's ``ScriptedAgent``/``ScriptedUser`` wrappers, or a small adapter when a fault is
forced) and are graded by the real verifier. Nothing is mocked.
"""

from __future__ import annotations

import inspect
import json
import random
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import msgspec
import pytest

from cove_async.chat import GREETING, FunctionCall, Message, TerminationReason, ToolCall, Trajectory
from cove_async.domains import get_domain
from cove_async.engine import Caps, EpisodeContext, EpisodeResult, Policy, Turn, run_episode
from cove_async.policies.scripted import Fault, ScriptedAgent, ScriptedUser
from cove_async.policies.scripted import _retail_agent as agent_module
from cove_async.policies.scripted._retail_agent import RetailAgent, asks_confirmation
from cove_async.policies.scripted._retail_user import RetailUser
from cove_async.sandbox import Snapshot
from cove_async.tasks import Intent, Task
from cove_async.tasks.retail import RETAIL_FAMILIES, RetailKnobs, sample_retail_task
from cove_async.verify import ASSENT, Expectation, Verdict, compile_task, verify

RETAIL = get_domain("retail")
TOOLS = tuple(RETAIL.toolset.openai_tools())
UVLOOP_ONLY = pytest.mark.parametrize("anyio_backend", [pytest.param(("asyncio", {"use_uvloop": True}), id="uvloop")])

_ORDER_ID = re.compile(r"#W\d+")
_ITEM_ID = re.compile(r"\b\d{10}\b")
_METHOD_ID = re.compile(r"\b(?:credit_card|gift_card|paypal)_\d+\b")


# --- worlds, tasks, episodes ---------------------------------------------------------------------


@dataclass(frozen=True)
class Sampled:
    snapshot: Snapshot
    tasks: list[Task]
    expectations: list[Expectation]


def _sample(seed: int, count: int) -> Sampled:
    snapshot = RETAIL.generate_world(RETAIL.world_size(), seed)
    rng = random.Random(1000 + seed)
    tasks = [
        sample_retail_task(
            snapshot, rng, task_id=f"retail-s{seed}-{i:04d}", world=f"synthetic:seed={seed}", knobs=RetailKnobs()
        )
        for i in range(count)
    ]
    return Sampled(snapshot, tasks, [compile_task(t, snapshot, RETAIL.toolset) for t in tasks])


@pytest.fixture(scope="module")
def default_world() -> Sampled:
    """1,000 tasks with the default knobs from the default synthetic world."""
    return _sample(0, 1000)


@pytest.fixture(scope="module")
def other_world() -> Sampled:
    return _sample(1, 300)


def _context(task: Task, sample_index: int = 0) -> EpisodeContext:
    return EpisodeContext(
        episode_id=f"{task.task_id}/{sample_index}",
        task=task,
        sample_index=sample_index,
        run_seed=7,
        tools=TOOLS,
        agent_system_prompt="",
        user_system_prompt="",
    )


class ForcedAgent:
    """The scripted retail agent with one fault forced (the engine wrapper draws faults by rate)."""

    role: Literal["user", "agent"] = "agent"

    def __init__(self, fault: Fault | None) -> None:
        self.fault = fault

    async def next_turn(self, context: EpisodeContext, messages: Sequence[Message]) -> Turn:
        player = context.memo.get("forced_agent")
        if player is None:
            player = context.memo["forced_agent"] = RetailAgent(seed=context.sample_index * 7919 + 13, fault=self.fault)
        reply = player.reply(messages)
        return Turn(message=reply.message, extras={} if reply.fault is None else {"fault": reply.fault.value})


async def _episode(world: Sampled, i: int, agent: Policy, sample_index: int = 0) -> tuple[EpisodeResult, Verdict]:
    task = world.tasks[i]
    result = await run_episode(
        _context(task, sample_index),
        user=ScriptedUser("retail"),
        agent=agent,
        sandbox=world.snapshot.fork(),
        toolset=RETAIL.toolset,
        caps=Caps(),
    )
    trajectory = Trajectory(messages=result.messages, termination=result.termination)
    return result, verify(world.expectations[i], trajectory)


# --- what a user may say -------------------------------------------------------------------------


def _check_user_words(task: Task, messages: Sequence[Message]) -> None:
    """The customer never says an id it was not given, and says an assent word only to confirm."""
    told = " ".join(ref.text for ref in task.fuzzy)
    known_orders = set(_ORDER_ID.findall(told))
    known_methods = set(_METHOD_ID.findall(told))
    for i, message in enumerate(messages):
        if message.role != "user":
            continue
        text = message.content or ""
        assert set(_ORDER_ID.findall(text)) <= known_orders, (task.task_id, text)
        assert set(_METHOD_ID.findall(text)) <= known_methods, (task.task_id, text)
        assert not _ITEM_ID.search(text), (task.task_id, text)
        assert task.user.key not in text, (task.task_id, text)
        asked = messages[i - 1].role == "assistant" and asks_confirmation((messages[i - 1].content or "").lower())
        if ASSENT.search(text):
            assert asked, f"{task.task_id}: assent outside a confirmation: {text!r}"


def _failure_lines(world: Sampled, failures: list[tuple[int, Verdict]]) -> list[str]:
    return [
        f"{world.tasks[i].task_id} {[c.family for c in world.tasks[i].constraints]}: {v.reasons()}" for i, v in failures
    ]


# --- (1) solvable from the conversation alone ----------------------------------------------------


@pytest.mark.slow
@UVLOOP_ONLY
@pytest.mark.anyio
async def test_scripted_pair_solves_sampled_tasks(default_world: Sampled, other_world: Sampled) -> None:
    """>= 99% perfect on 1,000 default tasks plus 300 from another world, through the real engine path."""
    agent, user_words = ScriptedAgent("retail"), 0
    total, perfect = 0, 0
    families: Counter[str] = Counter()
    refusals_passed = 0
    report: list[str] = []
    for world in (default_world, other_world):
        failures: list[tuple[int, Verdict]] = []
        for i, task in enumerate(world.tasks):
            result, verdict = await _episode(world, i, agent)
            _check_user_words(task, result.messages)
            user_words += sum(m.role == "user" for m in result.messages)
            assert not result.extras, "no fault without a fault rate"
            total += 1
            families.update(c.family for c in task.constraints)
            if verdict.perfect:
                perfect += 1
                refusals_passed += any(c.intent is Intent.REFUSE for c in task.constraints)
            else:
                failures.append((i, verdict))
        report += _failure_lines(world, failures)
    rate = perfect / total
    print(f"\nscripted retail pair: {perfect}/{total} perfect ({rate:.2%}), {user_words / total:.1f} user turns each")  # noqa: T201
    for line in report:
        print("  not perfect:", line)  # noqa: T201
    assert rate >= 0.99, report[:10]
    assert set(families) == set(RETAIL_FAMILIES), sorted(set(RETAIL_FAMILIES) - set(families))
    assert refusals_passed >= 100


# --- (2) faults are caught, for the reason they make -------------------------------------------------


def _fault_reason_matches(fault: Fault, verdict: Verdict, result: EpisodeResult) -> bool:
    unsatisfied = any(not c.satisfied for c in verdict.constraints)
    if fault is Fault.WRONG_RECORD:
        return unsatisfied or bool(verdict.collateral)
    if fault is Fault.EXTRA_WRITE:
        return verdict.redundant > 0 or bool(verdict.collateral)
    if fault is Fault.HALLUCINATED_ARGUMENT:
        return verdict.failed_writes > 0 or unsatisfied
    if fault is Fault.EARLY_STOP:
        return unsatisfied and result.termination is TerminationReason.AGENT_STOP
    # SKIPPED_CONFIRMATION: the verifier's unconfirmed-write check.
    return verdict.unconfirmed_writes > 0 and any(not w.confirmed for w in verdict.writes)


@pytest.mark.slow
@UVLOOP_ONLY
@pytest.mark.anyio
@pytest.mark.parametrize("fault", list(Fault), ids=[f.value for f in Fault])
async def test_forced_fault_is_caught(default_world: Sampled, fault: Fault) -> None:
    """Every episode where the fault was injected is imperfect for that fault's reason; the others stay perfect."""
    injected = 0
    for i in range(200):
        result, verdict = await _episode(default_world, i, ForcedAgent(fault))
        marks = [extra["fault"] for extra in result.extras]
        if not marks:
            assert verdict.perfect, (default_world.tasks[i].task_id, verdict.reasons())
            continue
        assert marks == [fault.value], marks
        injected += 1
        assert not verdict.perfect, default_world.tasks[i].task_id
        assert _fault_reason_matches(fault, verdict, result), (default_world.tasks[i].task_id, verdict.reasons())
    # Every fault has an opportunity in a good share of tasks (wrong record needs a similar record).
    assert injected >= 60, injected


# --- (3) a fresh player answers as the incremental one ---------------------------------------------


def _drive(snapshot: Snapshot, task: Task, seed: int, fault: Fault | None) -> tuple[list[Message], list[Fault]]:
    """A conversation driven directly (no engine), the way the engine does it."""
    fork = snapshot.fork()
    user, agent = RetailUser(task, seed=seed), RetailAgent(seed=seed + 1, fault=fault)
    messages = [Message(role="assistant", content=GREETING)]
    faults: list[Fault] = []
    for _ in range(32):
        messages.append(user.reply(messages))
        if "###STOP###" in (messages[-1].content or ""):
            break
        while True:
            reply = agent.reply(messages)
            faults += [reply.fault] if reply.fault else []
            messages.append(reply.message)
            for call in reply.message.tool_calls:
                result = RETAIL.toolset.execute(fork, call.function.name, call.function.arguments)
                messages.append(Message(role="tool", tool_call_id=call.id, content=result.content))
            if not reply.message.tool_calls:
                break
        if "###STOP###" in (messages[-1].content or ""):
            break
    return messages, faults


def test_fresh_player_replies_as_incremental_one(default_world: Sampled) -> None:
    faults: list[Fault | None] = [None, *Fault]
    for i in range(60):
        task, fault = default_world.tasks[i], faults[i % len(faults)]
        messages, injected = _drive(default_world.snapshot, task, i, fault)
        seen: list[Fault] = []
        user_view = [m for m in messages if m.role == "user" or (m.role == "assistant" and m.content)]
        for k, message in enumerate(messages):
            if message.role == "assistant" and k > 0:
                fresh = RetailAgent(seed=i + 1, fault=fault).reply(messages[:k])
                assert fresh.message == message, (task.task_id, k)
                seen += [fresh.fault] if fresh.fault else []
            elif message.role == "user":
                assert RetailUser(task, seed=i).reply(messages[:k]) == message, (task.task_id, k)
        assert seen == injected
        # The simulated server shows the user the conversation without the tool traffic: same words.
        for k, message in enumerate(user_view):
            if message.role == "user":
                assert RetailUser(task, seed=i).reply(user_view[:k]) == message, (task.task_id, k)


def _through_a_server(messages: Sequence[Message]) -> list[Message]:
    """The conversation as a server may hand it back: new tool call ids, arguments re-encoded with spaces."""
    renamed: dict[str, str] = {}
    out: list[Message] = []
    for message in messages:
        if message.tool_calls:
            calls = []
            for call in message.tool_calls:
                renamed[call.id] = f"srv-{len(renamed)}"
                arguments = json.dumps(json.loads(call.function.arguments), indent=1)
                calls.append(
                    ToolCall(id=renamed[call.id], function=FunctionCall(name=call.function.name, arguments=arguments))
                )
            out.append(msgspec.structs.replace(message, tool_calls=tuple(calls)))
        elif message.role == "tool":
            out.append(msgspec.structs.replace(message, tool_call_id=renamed[message.tool_call_id or ""]))
        else:
            out.append(message)
    return out


def _calls(message: Message) -> list[tuple[str, object]]:
    return [(c.function.name, json.loads(c.function.arguments)) for c in message.tool_calls]


def test_fresh_agent_follows_a_conversation_rewritten_by_a_server(default_world: Sampled) -> None:
    faults: list[Fault | None] = [None, *Fault]
    for i in range(60, 90):
        task, fault = default_world.tasks[i], faults[i % len(faults)]
        messages, _ = _drive(default_world.snapshot, task, i, fault)
        served = _through_a_server(messages)
        for k, message in enumerate(messages):
            if message.role == "assistant" and k > 0:
                fresh = RetailAgent(seed=i + 1, fault=fault).reply(served[:k]).message
                assert fresh.content == message.content, (task.task_id, k)
                assert _calls(fresh) == _calls(message), (task.task_id, k)


# --- (4) determinism and variety ---------------------------------------------------------------------


@pytest.mark.anyio
async def test_same_seed_same_bytes_other_seeds_other_words(default_world: Sampled) -> None:
    agent = ScriptedAgent("retail")
    for i in range(5):
        first, _ = await _episode(default_world, i, agent)
        again, _ = await _episode(default_world, i, agent)
        assert msgspec.json.encode(first.messages) == msgspec.json.encode(again.messages)
    openings: set[str] = set()
    texts: set[str] = set()
    for sample in range(12):
        result, verdict = await _episode(default_world, 0, agent, sample_index=sample)
        assert verdict.perfect
        openings.add(result.messages[1].content or "")
        texts.update(m.content or "" for m in result.messages if m.role != "tool")
    assert len(openings) >= 4, openings
    assert len(texts) >= 30


# --- (5) the agent never reads the task; the user checks proposals -----------------------------------


@pytest.mark.anyio
async def test_agent_replies_do_not_depend_on_the_task(default_world: Sampled) -> None:
    assert list(inspect.signature(RetailAgent).parameters) == ["seed", "fault"]
    imports = re.findall(r"^(?:from|import) (\S+)", inspect.getsource(agent_module), re.MULTILINE)
    assert not [name for name in imports if name.startswith("cove_async.tasks")], imports
    task, stranger = default_world.tasks[3], default_world.tasks[4]
    # Same task id (so the same seeds), every other part of the task replaced.
    swapped = msgspec.structs.replace(stranger, task_id=task.task_id, world=task.world, user=stranger.user)
    result, _ = await _episode(default_world, 3, ScriptedAgent("retail"))
    policy = ScriptedAgent("retail")
    real, fake = _context(task), _context(swapped)
    for k, message in enumerate(result.messages):
        if message.role == "assistant" and k > 0:
            turn = await policy.next_turn(real, result.messages[:k])
            other = await policy.next_turn(fake, result.messages[:k])
            assert turn.message == other.message == message


def test_user_says_yes_only_to_the_change_it_wants(default_world: Sampled) -> None:
    checked = 0
    for i, task in enumerate(default_world.tasks[:80]):
        if not any(c.intent is Intent.CHANGE for c in task.constraints):
            continue
        messages, _ = _drive(default_world.snapshot, task, i, None)
        k = next(
            k for k, m in enumerate(messages) if m.role == "assistant" and asks_confirmation((m.content or "").lower())
        )
        proposal = messages[k].content or ""
        assert ASSENT.search(RetailUser(task, seed=i).reply(messages[: k + 1]).content or "")
        orders = _ORDER_ID.findall(proposal)
        wrong = (
            proposal.replace(orders[0], "#W0000001")
            if orders
            else proposal.replace("default address to", "default address to 1 Elm St,")
        )
        reply = RetailUser(task, seed=i).reply([*messages[:k], Message(role="assistant", content=wrong)])
        assert not ASSENT.search(reply.content or ""), (task.task_id, wrong, reply.content)
        checked += 1
    assert checked >= 30


def test_user_never_says_unknown_ids_or_stray_assent(default_world: Sampled) -> None:
    for i, task in enumerate(default_world.tasks[:150]):
        messages, _ = _drive(default_world.snapshot, task, i, None)
        _check_user_words(task, messages)
        assert "###STOP###" in (messages[-1].content or "")
