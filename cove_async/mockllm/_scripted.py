"""Responders that make the simulated server play the scripted CoVe policies over HTTP.

``scripted-agent`` answers as the domain's scripted agent, which works from the conversation
alone, so the request's messages are all it needs. ``scripted-user`` answers as the scripted
user of a task: it finds the task by the request's OpenAI ``user`` field
(``"<task_id>/<sample_index>"``, which :class:`~cove_async.policies._llm.LLMUser` sends) in a
task file loaded at start.

Both build a fresh player per request: the players' contract is that a fresh one given the
whole conversation answers as one fed turn by turn would. A turn therefore costs
O(conversation) here, which the server can afford. A player replays its own earlier turns, so
it needs one seed for a whole episode, while a request's ``seed`` changes every turn: the
player's seed comes from the episode tag (the ``user`` field) when the request has one, and
from ``seed`` otherwise (:func:`player_seed`).

The user's requests arrive the way an LLM user simulator sees the conversation (tau2's
flipped roles: the agent's texts as ``user``, the customer's own as ``assistant``, no tool
traffic); they are turned back into the engine's view before the player reads them.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, Protocol

from cove_async.backends import ChatRequest, derive_seed
from cove_async.chat import Message
from cove_async.domains import DOMAIN_NAMES, get_domain
from cove_async.errors import ConfigError
from cove_async.mockllm._responder import Reply, Responder
from cove_async.mockllm._wire import RequestRejected
from cove_async.tasks import Task

__all__ = (
    "SCRIPTED_AGENT_MODEL",
    "SCRIPTED_USER_MODEL",
    "ScriptedAgentResponder",
    "ScriptedUserResponder",
    "player_seed",
    "scripted_responders",
    "unflip_user_view",
)

SCRIPTED_AGENT_MODEL: Final = "scripted-agent"
"""The model name the scripted agent is served under."""

SCRIPTED_USER_MODEL: Final = "scripted-user"
"""The model name the scripted user is served under."""


class _AgentReply(Protocol):
    @property
    def message(self) -> Message: ...


class _AgentPlayer(Protocol):
    def reply(self, messages: Sequence[Message]) -> _AgentReply: ...


class _UserPlayer(Protocol):
    def reply(self, messages: Sequence[Message]) -> Message: ...


def _player_class(domain: str, side: str) -> Any:
    # Imported on first use: the players live above the server in the layering, and a server
    # that only serves the default model should not load them.
    module = importlib.import_module(f"cove_async.policies.scripted._{domain}_{side}")
    return getattr(module, f"{domain.capitalize()}{side.capitalize()}")


def _tool_name(tool: Mapping[str, Any]) -> str | None:
    function = tool.get("function")
    name = function.get("name") if isinstance(function, Mapping) else None
    return name if isinstance(name, str) else None


def player_seed(request: ChatRequest, role: str) -> int:
    """The seed of the scripted player answering ``request`` as ``role`` (``agent`` or ``user``).

    With an episode tag (the ``user`` field, ``"<task_id>/<sample_index>"``) it is derived from
    the tag and the role, so every turn of an episode gets the same player; without one it is
    the request's ``seed`` (0 when absent).
    """
    tag = request.extra_body.get("user")
    if isinstance(tag, str) and tag:
        return derive_seed(run_seed=0, task_id=tag, sample_index=0, turn=0, role=role)
    return request.seed or 0


class ScriptedAgentResponder:
    """Answers as the scripted agent of the request's domain.

    The domain is the one given, or else the one whose toolset has the most of the request's
    tool names (tau2's tool schemas and ours share names). The player gets the request's
    messages without the system prompt, which it does not need, and its seed from
    :func:`player_seed`.

    Args:
        domain: always play this domain (None: tell it from the request's tools).

    Raises:
        ConfigError: an unknown domain.
    """

    def __init__(self, *, domain: str | None = None) -> None:
        if domain is not None and domain not in DOMAIN_NAMES:
            raise ConfigError(f"no scripted agent for domain {domain!r}; known: {', '.join(DOMAIN_NAMES)}")
        self.domain = domain
        self._tool_names = {name: frozenset(get_domain(name).toolset.tools) for name in DOMAIN_NAMES}
        self._classes: dict[str, Any] = {}

    def _domain_of(self, request: ChatRequest) -> str:
        if self.domain is not None:
            return self.domain
        names = {name for tool in request.tools or () if (name := _tool_name(tool))}
        scores = sorted(((len(names & known), domain) for domain, known in self._tool_names.items()), reverse=True)
        best, domain = scores[0]
        if best == 0 or (len(scores) > 1 and scores[1][0] == best):
            raise RequestRejected(
                f"{SCRIPTED_AGENT_MODEL} cannot tell the domain from the request's tools "
                f"({', '.join(sorted(names)) or 'none'}); send a domain's tools ({', '.join(DOMAIN_NAMES)}) "
                "or start the server with the domain set",
                param="tools",
            )
        return domain

    async def respond(self, request: ChatRequest) -> Reply:
        """The scripted agent's next message for the conversation in ``request``.

        Raises:
            RequestRejected: the domain cannot be told from the request.
        """
        domain = self._domain_of(request)
        cls = self._classes.get(domain)
        if cls is None:
            cls = self._classes[domain] = _player_class(domain, "agent")
        player: _AgentPlayer = cls(seed=player_seed(request, "agent"))
        message = player.reply([m for m in request.messages if m.role != "system"]).message
        return Reply(content=message.content, tool_calls=message.tool_calls)


def unflip_user_view(messages: Sequence[Message]) -> list[Message]:
    """The engine's view of a conversation sent as the user simulator sees it (inverse of the flip).

    ``user`` messages (the agent's texts) become ``assistant`` messages and ``assistant``
    messages (the customer's own) become ``user`` messages; system and tool messages are dropped.
    The agent's tool calls and the tool results were never in the user's view, so they stay out.
    """
    view: list[Message] = []
    for message in messages:
        if message.role == "user":
            view.append(Message(role="assistant", content=message.content))
        elif message.role == "assistant":
            view.append(Message(role="user", content=message.content))
    return view


class ScriptedUserResponder:
    """Answers as the scripted user playing the task the request names.

    A request names its task by its OpenAI ``user`` field, ``"<task_id>/<sample_index>"``.

    Args:
        tasks: the tasks that may be played (task ids must be unique).
        source: where they came from, for error messages (a file name).

    Raises:
        ConfigError: two tasks share an id, or a task's domain has no scripted user.
    """

    def __init__(self, tasks: Iterable[Task] = (), *, source: str = "") -> None:
        self.source = source
        self._tasks: dict[str, Task] = {}
        for task in tasks:
            if task.task_id in self._tasks:
                raise ConfigError(f"task id {task.task_id!r} appears twice{self._where()}; task ids must be unique")
            if task.domain not in DOMAIN_NAMES:
                raise ConfigError(
                    f"task {task.task_id!r}{self._where()} is a {task.domain!r} task; "
                    f"scripted users exist for {', '.join(DOMAIN_NAMES)}"
                )
            self._tasks[task.task_id] = task
        self._classes: dict[str, Any] = {}

    @classmethod
    def from_file(cls, path: Path) -> ScriptedUserResponder:
        """The responder for the tasks in a JSONL task file (as ``cove-async tasks`` writes).

        Raises:
            DataError: a line is not a task.
            ConfigError: duplicate task ids.
            OSError: the file cannot be read.
        """
        from cove_async.run import read_tasks

        return cls(read_tasks(path), source=str(path))

    def __len__(self) -> int:
        return len(self._tasks)

    def _where(self) -> str:
        return f" in {self.source}" if self.source else ""

    def _task(self, request: ChatRequest) -> Task:
        tag = request.extra_body.get("user")
        if not isinstance(tag, str) or "/" not in tag:
            raise RequestRejected(
                f"{SCRIPTED_USER_MODEL} needs the request's `user` field set to '<task_id>/<sample_index>' "
                f"to know which task to play; got {tag!r}",
                param="user",
            )
        task_id = tag.rpartition("/")[0]
        task = self._tasks.get(task_id)
        if task is None:
            loaded = f"{len(self._tasks)} tasks loaded{self._where()}" if self._tasks else "no task file was loaded"
            raise RequestRejected(
                f"{SCRIPTED_USER_MODEL} does not know task {task_id!r} ({loaded}); "
                "start the server with --tasks FILE holding the tasks the engine plays",
                param="user",
            )
        return task

    async def respond(self, request: ChatRequest) -> Reply:
        """The scripted customer's next message in the request's conversation.

        Raises:
            RequestRejected: no ``user`` field, or a task the responder does not know.
        """
        task = self._task(request)
        cls = self._classes.get(task.domain)
        if cls is None:
            cls = self._classes[task.domain] = _player_class(task.domain, "user")
        player: _UserPlayer = cls(task, seed=player_seed(request, "user"))
        message = player.reply(unflip_user_view(request.messages))
        return Reply(content=message.content)


def scripted_responders(
    tasks: Iterable[Task] = (), *, domain: str | None = None, source: str = ""
) -> dict[str, Responder]:
    """The scripted players by model name: ``scripted-agent`` (served first, so the default) and ``scripted-user``.

    Args:
        tasks: the tasks the scripted user may play.
        domain: fix the agent's domain (None: from each request's tools).
        source: where the tasks came from, for error messages.
    """
    return {
        SCRIPTED_AGENT_MODEL: ScriptedAgentResponder(domain=domain),
        SCRIPTED_USER_MODEL: ScriptedUserResponder(tasks, source=source),
    }
