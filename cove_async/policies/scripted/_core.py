"""What every scripted policy shares: the faults an agent can inject and the shape of its reply.

A scripted agent is a pure function of the conversation. It never sees the task, the sandbox
or any hidden state, only the messages: the user's words, its own earlier messages and the tool
results. That is the point: when it solves a sampled task, the task is solvable from the
conversation alone. Being pure also lets it run inside the simulated inference server, where
only the request's messages exist.
"""

from __future__ import annotations

import enum

import msgspec

from cove_async.chat import Message

__all__ = ("AgentReply", "Fault")


class Fault(enum.Enum):
    """A mistake a scripted agent makes on purpose, so that failing trajectories exist and get caught."""

    WRONG_RECORD = "wrong_record"
    """Act on a similar but wrong record of the same user."""
    EXTRA_WRITE = "extra_write"
    """Make one extra successful write that no request asked for."""
    SKIPPED_CONFIRMATION = "skipped_confirmation"
    """Write without asking the user to confirm first."""
    HALLUCINATED_ARGUMENT = "hallucinated_argument"
    """Put a made-up id or value into a write's arguments."""
    EARLY_STOP = "early_stop"
    """End the conversation with work left to do."""


class AgentReply(msgspec.Struct, frozen=True):
    """A scripted agent's next message, and the fault it injects with it, if any."""

    message: Message
    fault: Fault | None = None
