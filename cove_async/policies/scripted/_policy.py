"""The scripted players as engine policies: one player object per episode, kept in its memo."""

from __future__ import annotations

import importlib
import random
from collections.abc import Sequence
from typing import Any, Literal, Protocol

from cove_async.backends import derive_seed
from cove_async.chat import Message
from cove_async.domains import DOMAIN_NAMES
from cove_async.engine import EpisodeContext, Turn
from cove_async.errors import ConfigError
from cove_async.policies.scripted._core import AgentReply, Fault
from cove_async.tasks import Task

__all__ = ("ScriptedAgent", "ScriptedUser", "fault_for")


class _AgentPlayer(Protocol):
    def reply(self, messages: Sequence[Message]) -> AgentReply: ...


class _UserPlayer(Protocol):
    def reply(self, messages: Sequence[Message]) -> Message: ...


def _player_class(domain: str, side: Literal["agent", "user"]) -> Any:
    if domain not in DOMAIN_NAMES:
        raise ConfigError(f"no scripted players for domain {domain!r}; known: {', '.join(DOMAIN_NAMES)}")
    module = importlib.import_module(f"cove_async.policies.scripted._{domain}_{side}")
    return getattr(module, f"{domain.capitalize()}{side.capitalize()}")


def _seed(context: EpisodeContext, role: str) -> int:
    return derive_seed(
        run_seed=context.run_seed, task_id=context.task.task_id, sample_index=context.sample_index, turn=0, role=role
    )


def fault_for(context: EpisodeContext, fault_rate: float) -> Fault | None:
    """The fault an episode's scripted agent injects, if any: a seeded draw, so reruns agree."""
    if fault_rate <= 0:
        return None
    rng = random.Random(_seed(context, "fault"))
    return rng.choice(tuple(Fault)) if rng.random() < fault_rate else None


class ScriptedAgent:
    """The scripted agent of a domain: it solves tasks from the conversation alone.

    Args:
        domain: ``"retail"`` or ``"airline"``.
        fault_rate: the share of episodes in which it makes one deliberate mistake (a
            :class:`Fault` drawn per episode from the run seed); 0 for none.

    Raises:
        ConfigError: an unknown domain or a fault rate outside [0, 1].
    """

    role: Literal["user", "agent"] = "agent"
    model = "scripted-agent"

    def __init__(self, domain: str, *, fault_rate: float = 0.0) -> None:
        if not 0.0 <= fault_rate <= 1.0:
            raise ConfigError(f"fault rate must be between 0 and 1, got {fault_rate}")
        self._player = _player_class(domain, "agent")
        self.fault_rate = fault_rate

    async def next_turn(self, context: EpisodeContext, messages: Sequence[Message]) -> Turn:
        player: _AgentPlayer | None = context.memo.get("scripted_agent")
        if player is None:
            fault = fault_for(context, self.fault_rate)
            player = context.memo["scripted_agent"] = self._player(seed=_seed(context, "agent"), fault=fault)
        reply = player.reply(messages)
        extras = {} if reply.fault is None else {"fault": reply.fault.value}
        return Turn(message=reply.message, model=self.model, extras=extras)


class ScriptedUser:
    """The scripted user of a domain: it plays the episode's task.

    Raises:
        ConfigError: an unknown domain.
    """

    role: Literal["user", "agent"] = "user"
    model = "scripted-user"

    def __init__(self, domain: str) -> None:
        self._player = _player_class(domain, "user")

    def player(self, task: Task, seed: int) -> _UserPlayer:
        """A fresh player of ``task`` (for callers outside the engine, such as the simulated server)."""
        player: _UserPlayer = self._player(task, seed=seed)
        return player

    async def next_turn(self, context: EpisodeContext, messages: Sequence[Message]) -> Turn:
        player: _UserPlayer | None = context.memo.get("scripted_user")
        if player is None:
            player = context.memo["scripted_user"] = self.player(context.task, _seed(context, "user"))
        return Turn(message=player.reply(messages), model=self.model)
