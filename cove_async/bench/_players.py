"""Who plays in benchmark episodes: the scripted players when they exist, else the oracles.

The benchmarks measure the engine, so they need players that cost (almost) nothing and always
finish. The scripted players (:mod:`cove_async.policies.scripted`) are the real thing: the agent
works from the conversation alone. Until a domain has both of them, the oracle pair
(:class:`~cove_async.policies.OracleAgent`, :class:`~cove_async.policies.BriefUser`) stands in;
every result says which pair played.

Over HTTP the same players answer inside the simulated server, found by model name: the
scripted responders of :mod:`cove_async.mockllm._scripted`, or the oracle responders here,
which find the episode's task by the request's OpenAI ``user`` field as the scripted user does.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable
from typing import Literal

from cove_async.backends import ChatRequest
from cove_async.engine import EpisodeContext, Policy
from cove_async.mockllm import Reply, Responder
from cove_async.mockllm._scripted import (
    SCRIPTED_AGENT_MODEL,
    SCRIPTED_USER_MODEL,
    scripted_responders,
    unflip_user_view,
)
from cove_async.mockllm._wire import RequestRejected
from cove_async.policies import BriefUser, OracleAgent
from cove_async.tasks import Task

__all__ = (
    "ORACLE_AGENT_MODEL",
    "ORACLE_USER_MODEL",
    "Players",
    "in_process_players",
    "player_kind",
    "player_models",
    "player_responders",
    "resolve_players",
)

Players = Literal["scripted", "oracle"]

ORACLE_AGENT_MODEL = "oracle-agent"
"""The model name the oracle agent is served under by the benchmark's server."""
ORACLE_USER_MODEL = "oracle-user"
"""The model name the brief user is served under."""


def player_kind(domain: str) -> Players:
    """``scripted`` when the domain's scripted agent and user are both installed, else ``oracle``."""
    for side in ("agent", "user"):
        if importlib.util.find_spec(f"cove_async.policies.scripted._{domain}_{side}") is None:
            return "oracle"
    return "scripted"


def resolve_players(choice: str, domain: str, notes: list[str]) -> Players:
    """The players to use for ``choice`` (``auto``, ``scripted`` or ``oracle``), noting fallbacks in ``notes``.

    Raises:
        BenchError: ``scripted`` was asked for and is not installed, or an unknown choice.
    """
    from cove_async.bench._common import BenchError

    if choice not in ("auto", "scripted", "oracle"):
        raise BenchError(f"players must be auto, scripted or oracle, got {choice!r}")
    if choice == "oracle":
        return "oracle"
    kind = player_kind(domain)
    if kind == "oracle":
        if choice == "scripted":
            raise BenchError(f"the scripted players of {domain} are not installed; use --players oracle or auto")
        notes.append(f"{domain}: the scripted players are not installed; the oracle agent and brief user played")
    return kind


def in_process_players(domain: str, kind: Players, *, fault_rate: float = 0.0) -> tuple[Policy, Policy]:
    """The (user, agent) policies of ``kind`` for in-process episodes."""
    if kind == "scripted":
        from cove_async.policies.scripted import ScriptedAgent, ScriptedUser

        return ScriptedUser(domain), ScriptedAgent(domain, fault_rate=fault_rate)
    return BriefUser(), OracleAgent()


def player_models(kind: Players) -> tuple[str, str]:
    """The (user, agent) model names the benchmark server serves ``kind`` under."""
    if kind == "scripted":
        return SCRIPTED_USER_MODEL, SCRIPTED_AGENT_MODEL
    return ORACLE_USER_MODEL, ORACLE_AGENT_MODEL


def _context(task: Task, sample_index: int) -> EpisodeContext:
    return EpisodeContext(
        episode_id=f"{task.task_id}/{sample_index}",
        task=task,
        sample_index=sample_index,
        run_seed=0,
        tools=(),
        agent_system_prompt="",
        user_system_prompt="",
    )


class _OracleResponder:
    """Plays one oracle side inside the server: the task comes from the request's ``user`` field."""

    def __init__(self, tasks: Iterable[Task], side: Literal["user", "agent"]) -> None:
        self._tasks = {task.task_id: task for task in tasks}
        self._side = side
        self._policy: Policy = BriefUser() if side == "user" else OracleAgent()

    async def respond(self, request: ChatRequest) -> Reply:
        tag = request.extra_body.get("user")
        task_id, _, sample = tag.rpartition("/") if isinstance(tag, str) else ("", "", "")
        task = self._tasks.get(task_id)
        if task is None:
            raise RequestRejected(
                f"the benchmark's oracle {self._side} does not know the episode {tag!r}; "
                "the request's `user` field must name a task the server was started with",
                param="user",
            )
        if self._side == "user":
            messages = unflip_user_view(request.messages)
        else:
            messages = [m for m in request.messages if m.role != "system"]
        turn = await self._policy.next_turn(_context(task, int(sample or 0)), messages)
        return Reply(content=turn.message.content, tool_calls=turn.message.tool_calls)


def player_responders(kind: Players, tasks: list[Task], domain: str) -> dict[str, Responder]:
    """The server-side players of ``kind`` by model name, knowing ``tasks``."""
    if kind == "scripted":
        return scripted_responders(tasks, domain=domain)
    return {ORACLE_AGENT_MODEL: _OracleResponder(tasks, "agent"), ORACLE_USER_MODEL: _OracleResponder(tasks, "user")}
