"""Who speaks in an episode: the policies behind the user and agent actors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, Protocol

import msgspec

from cove_async.chat import Message
from cove_async.errors import CoveError
from cove_async.tasks import Task

__all__ = ("EpisodeContext", "Policy", "PolicyError", "Turn")


class Turn(msgspec.Struct, frozen=True, kw_only=True):
    """One message a policy produced, with what it cost.

    Attributes:
        message: the message (role ``user`` for the user simulator, ``assistant`` for the agent).
        prompt_tokens: tokens the model read (0 for in-process policies).
        completion_tokens: tokens it wrote.
        latency_s: wall time from request to reply.
        ttft_s: time to first token, when the backend reports it.
        model: the model that spoke (``scripted-agent`` for in-process policies).
        policy_version: the trainer's tag of the weights that produced it, if any.
        extras: what the server returned beyond the message (logprobs, token ids), kept verbatim.
    """

    message: Message
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    ttft_s: float | None = None
    model: str = ""
    policy_version: str | None = None
    extras: dict[str, Any] = {}


class EpisodeContext(msgspec.Struct, frozen=True, kw_only=True):
    """What a policy may know about the episode it speaks in.

    The agent is shown the domain's policy and tools, never the task; the user simulator is
    shown the task's instruction. Both see the seeds, so a sampled policy is reproducible.

    ``memo`` is the episode's scratch space for policies that keep state between their turns
    (a scripted player parsing the conversation incrementally): it lives and dies with the
    episode, so shared policy objects need no per-episode bookkeeping of their own.
    """

    episode_id: str
    task: Task
    sample_index: int
    run_seed: int
    tools: tuple[dict[str, Any], ...]
    agent_system_prompt: str
    user_system_prompt: str
    memo: dict[str, Any] = msgspec.field(default_factory=dict)


class PolicyError(CoveError):
    """A policy could not produce a turn (a backend failure after retries, a malformed reply).

    The episode records it as an agent or user error and ends; the engine carries on.
    """


class Policy(Protocol):
    """Produces the next message of one side of the conversation."""

    role: Literal["user", "agent"]

    async def next_turn(self, context: EpisodeContext, messages: Sequence[Message]) -> Turn:
        """The next message, given the conversation so far (as the engine records it).

        Raises:
            PolicyError: no turn could be produced; the reason is recorded on the episode.
        """
        ...
