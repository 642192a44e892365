"""A finished conversation: OpenAI chat messages and how it ended (tau2's termination reasons).

Shared by the engine that records conversations and the verifiers that grade them.

Messages and tool calls are immutable and can hold no reference back to themselves, so they are
built with ``gc=False``: thousands of live conversations hold millions of them, and the cyclic
garbage collector walking them all was the main source of event-loop stalls under load
(``cove-async bench latency``).
"""

from __future__ import annotations

import enum
from typing import Literal

import msgspec

__all__ = (
    "GREETING",
    "STOP_MARKERS",
    "FunctionCall",
    "Message",
    "TerminationReason",
    "ToolCall",
    "Trajectory",
    "tool_exchange",
)

GREETING = "Hi! How can I help you today?"
"""The agent's opening line: tau2 starts every conversation with it, hard-coded."""

STOP_MARKERS = ("###STOP###", "###TRANSFER###", "###OUT-OF-SCOPE###")
"""Tokens by which the user simulator ends a conversation (done, transferred, out of scope)."""


class TerminationReason(enum.Enum):
    """Why a conversation ended, with tau2's names (its ``TerminationReason`` values)."""

    USER_STOP = "user_stop"
    AGENT_STOP = "agent_stop"
    MAX_STEPS = "max_steps"
    TIMEOUT = "timeout"
    TOO_MANY_ERRORS = "too_many_errors"
    AGENT_ERROR = "agent_error"
    USER_ERROR = "user_error"
    INFRASTRUCTURE_ERROR = "infrastructure_error"
    CONTEXT_WINDOW_EXCEEDED = "context_window_exceeded"
    UNEXPECTED_ERROR = "unexpected_error"


class FunctionCall(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """The function part of an OpenAI tool call."""

    name: str
    arguments: str
    """The arguments as the JSON text the model produced (it may not parse)."""


class ToolCall(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One tool call in an assistant message, in OpenAI's wire shape."""

    id: str
    function: FunctionCall
    type: Literal["function"] = "function"


class Message(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False):
    """One OpenAI chat message.

    An assistant message carries text, tool calls or both; a tool message answers the call whose
    id is ``tool_call_id``, and its ``content`` is exactly what the agent saw.
    """

    role: Literal["system", "user", "assistant", "tool"]
    content: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None


class Trajectory(msgspec.Struct, frozen=True, kw_only=True):
    """A whole conversation, in order, and the reason it stopped."""

    messages: tuple[Message, ...]
    termination: TerminationReason


def tool_exchange(call_id: str, name: str, arguments: str, result: str) -> tuple[Message, Message]:
    """An assistant message making one tool call, and the tool message answering it."""
    call = ToolCall(id=call_id, function=FunctionCall(name=name, arguments=arguments))
    return Message(role="assistant", tool_calls=(call,)), Message(role="tool", tool_call_id=call_id, content=result)
