"""One episode: turn taking, caps, stop markers and failures each end it with the right reason."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import anyio
import pytest

from cove_async.chat import FunctionCall, Message, TerminationReason, ToolCall, Trajectory
from cove_async.domains import get_domain
from cove_async.engine import Caps, EpisodeContext, EpisodeResult, Policy, PolicyError, Turn, run_episode
from cove_async.policies import BriefUser, OracleAgent
from cove_async.sandbox import Snapshot
from cove_async.tasks import Task
from cove_async.verify import compile_task, verify

pytestmark = pytest.mark.anyio

RETAIL = get_domain("retail")


def _context(task: Task) -> EpisodeContext:
    return EpisodeContext(
        episode_id="e0",
        task=task,
        sample_index=0,
        run_seed=0,
        tools=tuple(RETAIL.toolset.openai_tools()),
        agent_system_prompt="",
        user_system_prompt="",
    )


class Scripted:
    """Replies from a fixed list, then repeats the last reply."""

    def __init__(self, role: Literal["user", "agent"], *replies: Message) -> None:
        self.role = role
        self.replies = list(replies)

    async def next_turn(self, context: EpisodeContext, messages: Sequence[Message]) -> Turn:
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        return Turn(message=reply)


class Failing:
    role: Literal["user", "agent"] = "agent"

    async def next_turn(self, context: EpisodeContext, messages: Sequence[Message]) -> Turn:
        raise PolicyError("backend gave up after 4 attempts: 503")


class Hanging:
    role: Literal["user", "agent"] = "agent"

    async def next_turn(self, context: EpisodeContext, messages: Sequence[Message]) -> Turn:
        await anyio.sleep_forever()
        raise AssertionError("unreachable")


def _user(text: str) -> Message:
    return Message(role="user", content=text)


def _agent(text: str) -> Message:
    return Message(role="assistant", content=text)


async def _run(world: Snapshot, task: Task, user: Policy, agent: Policy, caps: Caps | None = None) -> EpisodeResult:
    return await run_episode(
        _context(task), user=user, agent=agent, sandbox=world.fork(), toolset=RETAIL.toolset, caps=caps or Caps()
    )


async def test_oracle_episode_is_perfect(world: Snapshot, task: Task) -> None:
    result = await _run(world, task, BriefUser(), OracleAgent())
    assert result.termination is TerminationReason.USER_STOP
    assert result.messages[0].content == "Hi! How can I help you today?"
    assert [m.role for m in result.messages[:3]] == ["assistant", "user", "assistant"]
    assert result.tool_calls == len(task.plan)
    assert result.tool_errors == 0
    # Turn records point at the messages they produced.
    assert all(
        result.messages[t.message_index].role == ("user" if t.role == "user" else "assistant") for t in result.turns
    )
    verdict = verify(
        compile_task(task, world, RETAIL.toolset), Trajectory(messages=result.messages, termination=result.termination)
    )
    assert verdict.perfect, verdict.reasons()


async def test_a_user_that_never_stops_hits_the_user_cap(world: Snapshot, task: Task) -> None:
    result = await _run(
        world,
        task,
        Scripted("user", _user("and another thing")),
        Scripted("agent", _agent("ok")),
        Caps(max_user_turns=3),
    )
    assert result.termination is TerminationReason.MAX_STEPS
    assert result.failure == "user reached 3 turns"
    assert sum(m.role == "user" for m in result.messages) == 3


async def test_an_agent_that_keeps_calling_tools_hits_the_agent_cap(world: Snapshot, task: Task) -> None:
    call = Message(
        role="assistant",
        tool_calls=(ToolCall(id="x", function=FunctionCall(name="calculate", arguments='{"expression": "1+1"}')),),
    )
    result = await _run(world, task, BriefUser(), Scripted("agent", call), Caps(max_agent_turns=5))
    assert result.termination is TerminationReason.MAX_STEPS
    assert result.failure == "agent reached 5 turns"
    assert result.tool_calls == 5


async def test_tool_errors_past_the_limit_end_the_episode(world: Snapshot, task: Task) -> None:
    bad = Message(
        role="assistant", tool_calls=(ToolCall(id="x", function=FunctionCall(name="no_such_tool", arguments="{}")),)
    )
    result = await _run(world, task, BriefUser(), Scripted("agent", bad), Caps(max_tool_errors=2))
    assert result.termination is TerminationReason.TOO_MANY_ERRORS
    assert result.tool_errors == 3
    assert result.messages[-1].content == "Error: Tool 'no_such_tool' not found."


async def test_stop_markers(world: Snapshot, task: Task) -> None:
    transfer = await _run(
        world, task, Scripted("user", _user("hi"), _user("###TRANSFER###")), Scripted("agent", _agent("ok"))
    )
    assert transfer.termination is TerminationReason.USER_STOP
    agent_stop = await _run(world, task, BriefUser(), Scripted("agent", _agent("Goodbye. ###STOP###")))
    assert agent_stop.termination is TerminationReason.AGENT_STOP


async def test_policy_failures_are_recorded_not_raised(world: Snapshot, task: Task) -> None:
    result = await _run(world, task, BriefUser(), Failing())
    assert result.termination is TerminationReason.AGENT_ERROR
    assert result.failure == "backend gave up after 4 attempts: 503"
    empty = await _run(world, task, Scripted("user", _user("  ")), OracleAgent())
    assert empty.termination is TerminationReason.USER_ERROR


async def test_the_wall_clock_cap(world: Snapshot, task: Task) -> None:
    result = await _run(world, task, BriefUser(), Hanging(), Caps(timeout_s=0.01))
    assert result.termination is TerminationReason.TIMEOUT
    assert result.failure == "episode exceeded 0.01 s"


def test_caps_are_validated() -> None:
    with pytest.raises(ValueError, match="max_user_turns must be >= 1, got 0"):
        Caps(max_user_turns=0)
