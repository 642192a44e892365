"""One conversation: a user actor and an agent actor taking turns over two channels.

The two actors run in the episode's task group and pass the floor to each other over bounded
memory object streams, as in tau2's half-duplex orchestrator: the agent greets; the user
speaks; the agent answers with a message or with tool calls, which it runs itself against the
episode's sandbox (a tool call is microseconds on the event loop, so it is not worth a channel
hop; measurements.md section 4) until it speaks to the user again. Either side ends the episode
by returning, which closes its channel and so ends the other side's loop.

The supervisor part enforces the caps and decides the termination reason: a user stop marker,
an agent stop, a turn cap, too many tool errors, the wall clock, or a policy error, each
recorded with its reason. Nothing that a policy or a tool does can crash the engine.

Passing the floor: a side hands over with ``send_nowait`` and then waits on its own inbox. Half
duplex guarantees the peer's one-slot channel is empty at that moment, and the wait that follows
yields to the event loop anyway, so the extra checkpoint inside ``send()`` only cost time:
dropping it cut the engine's CPU per scripted retail episode by about a fifth (1.28 to ~1.0 ms).
"""

from __future__ import annotations

import time

import anyio
import msgspec
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from cove_async.chat import GREETING, STOP_MARKERS, Message, TerminationReason
from cove_async.domains import Toolset
from cove_async.engine._policy import EpisodeContext, Policy, PolicyError, Turn
from cove_async.sandbox import Sandbox

__all__ = ("Caps", "EpisodeResult", "TurnRecord", "run_episode")

AGENT_STOP_MARKER = "###STOP###"


class Caps(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Limits on one episode (defaults: the CoVe paper's turn caps, tau2's error limit).

    Attributes:
        max_user_turns: user messages before the episode ends as ``max_steps``.
        max_agent_turns: assistant messages (texts and tool-call messages) before ``max_steps``.
        max_tool_errors: tool calls answered with an error, in total, before ``too_many_errors``.
        timeout_s: wall-clock seconds for the whole episode before ``timeout``.
    """

    max_user_turns: int = 32
    max_agent_turns: int = 40
    max_tool_errors: int = 10
    timeout_s: float = 600.0

    def __post_init__(self) -> None:
        for name in ("max_user_turns", "max_agent_turns", "max_tool_errors"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {self.timeout_s}")


class TurnRecord(msgspec.Struct, frozen=True, kw_only=True):
    """Timing and cost of one policy turn, pointing at the message it produced."""

    role: str
    message_index: int
    latency_s: float
    ttft_s: float | None
    prompt_tokens: int
    completion_tokens: int
    model: str
    policy_version: str | None = None


class EpisodeResult(msgspec.Struct, frozen=True, kw_only=True):
    """A finished conversation and how it went."""

    episode_id: str
    task_id: str
    sample_index: int
    messages: tuple[Message, ...]
    termination: TerminationReason
    failure: str | None
    turns: tuple[TurnRecord, ...]
    extras: tuple[dict[str, object], ...]
    tool_calls: int
    tool_errors: int
    duration_s: float


class _State:
    """What the two actors of one episode share. Only one of them runs at a time (half duplex)."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.turns: list[TurnRecord] = []
        self.extras: list[dict[str, object]] = []
        self.termination: TerminationReason | None = None
        self.failure: str | None = None
        self.user_turns = 0
        self.agent_turns = 0
        self.tool_calls = 0
        self.tool_errors = 0

    def end(self, reason: TerminationReason, failure: str | None = None) -> None:
        if self.termination is None:  # the first reason wins
            self.termination = reason
            self.failure = failure

    def record(self, role: str, turn: Turn) -> None:
        self.turns.append(
            TurnRecord(
                role=role,
                message_index=len(self.messages),
                latency_s=turn.latency_s,
                ttft_s=turn.ttft_s,
                prompt_tokens=turn.prompt_tokens,
                completion_tokens=turn.completion_tokens,
                model=turn.model,
                policy_version=turn.policy_version,
            )
        )
        if turn.extras:
            self.extras.append({"message_index": len(self.messages), **turn.extras})
        self.messages.append(turn.message)


async def _user_actor(
    state: _State,
    context: EpisodeContext,
    policy: Policy,
    caps: Caps,
    inbox: MemoryObjectReceiveStream[None],
    outbox: MemoryObjectSendStream[None],
) -> None:
    async with inbox, outbox:
        async for _ in inbox:
            if state.user_turns >= caps.max_user_turns:
                state.end(TerminationReason.MAX_STEPS, f"user reached {caps.max_user_turns} turns")
                return
            try:
                turn = await policy.next_turn(context, state.messages)
            except PolicyError as exc:
                state.end(TerminationReason.USER_ERROR, str(exc))
                return
            if turn.message.role != "user" or not (turn.message.content or "").strip():
                # tau2 rejects empty user messages as well; an empty turn is a simulator failure.
                state.end(TerminationReason.USER_ERROR, "the user simulator produced an empty or non-user message")
                return
            state.user_turns += 1
            state.record("user", turn)
            if any(marker in (turn.message.content or "") for marker in STOP_MARKERS):
                state.end(TerminationReason.USER_STOP)
                return
            outbox.send_nowait(None)  # see "Passing the floor" above


async def _agent_actor(
    state: _State,
    context: EpisodeContext,
    policy: Policy,
    caps: Caps,
    sandbox: Sandbox,
    toolset: Toolset,
    inbox: MemoryObjectReceiveStream[None],
    outbox: MemoryObjectSendStream[None],
) -> None:
    async with inbox, outbox:
        state.messages.append(Message(role="assistant", content=GREETING))
        outbox.send_nowait(None)
        async for _ in inbox:
            while True:  # the agent keeps the floor while it calls tools
                if state.agent_turns >= caps.max_agent_turns:
                    state.end(TerminationReason.MAX_STEPS, f"agent reached {caps.max_agent_turns} turns")
                    return
                try:
                    turn = await policy.next_turn(context, state.messages)
                except PolicyError as exc:
                    state.end(TerminationReason.AGENT_ERROR, str(exc))
                    return
                message = turn.message
                if message.role != "assistant" or (not message.tool_calls and not (message.content or "").strip()):
                    state.end(TerminationReason.AGENT_ERROR, "the agent produced an empty or non-assistant message")
                    return
                state.agent_turns += 1
                state.record("agent", turn)
                if not message.tool_calls:
                    break
                for call in message.tool_calls:
                    result = toolset.execute(sandbox, call.function.name, call.function.arguments)
                    state.messages.append(Message(role="tool", tool_call_id=call.id, content=result.content))
                    state.tool_calls += 1
                    state.tool_errors += result.error
                if state.tool_errors > caps.max_tool_errors:
                    state.end(TerminationReason.TOO_MANY_ERRORS, f"{state.tool_errors} tool errors")
                    return
            if AGENT_STOP_MARKER in (message.content or ""):
                state.end(TerminationReason.AGENT_STOP)
                return
            outbox.send_nowait(None)  # see "Passing the floor" above


async def run_episode(
    context: EpisodeContext,
    *,
    user: Policy,
    agent: Policy,
    sandbox: Sandbox,
    toolset: Toolset,
    caps: Caps,
) -> EpisodeResult:
    """Hold one conversation to its end and return it; never raises for what a policy or tool does.

    Cancellation from outside (engine shutdown) propagates: the episode is then not finished and
    the engine records it as such.
    """
    state = _State()
    started = time.perf_counter()
    to_user_send, to_user_receive = anyio.create_memory_object_stream[None](1)
    to_agent_send, to_agent_receive = anyio.create_memory_object_stream[None](1)
    with anyio.move_on_after(caps.timeout_s) as scope:
        async with anyio.create_task_group() as tg:
            tg.start_soon(_user_actor, state, context, user, caps, to_user_receive, to_agent_send)
            # The agent acts in the episode's own task: one task fewer to spawn per episode.
            await _agent_actor(state, context, agent, caps, sandbox, toolset, to_agent_receive, to_user_send)
    if scope.cancelled_caught:
        state.end(TerminationReason.TIMEOUT, f"episode exceeded {caps.timeout_s} s")
    if state.termination is None:  # both channels closed without a reason: a bug, but never a crash
        state.end(TerminationReason.UNEXPECTED_ERROR, "the conversation ended without a termination reason")
    assert state.termination is not None
    return EpisodeResult(
        episode_id=context.episode_id,
        task_id=context.task.task_id,
        sample_index=context.sample_index,
        messages=tuple(state.messages),
        termination=state.termination,
        failure=state.failure,
        turns=tuple(state.turns),
        extras=tuple(state.extras),
        tool_calls=state.tool_calls,
        tool_errors=state.tool_errors,
        duration_s=time.perf_counter() - started,
    )
