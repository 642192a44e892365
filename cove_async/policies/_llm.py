"""LLM players: an agent and a user simulator that ask an OpenAI-compatible chat server for each turn.

Both build one :class:`~cove_async.backends.ChatRequest` per turn and send it through a
:class:`~cove_async.backends.ChatBackend` with the episode id as the routing key, so an episode
stays on one server and its prefix cache. Each request carries:

- a seed from :func:`~cove_async.backends.derive_seed` over (run seed, task, sample, turn,
  role), where ``turn`` is the index the new message will have in the conversation; so a rerun
  asks for exactly the same samples;
- the OpenAI ``user`` field set to ``"<task_id>/<sample_index>"`` (the episode), which servers
  ignore or log and which the simulated server uses to find the task its scripted user plays;
- the caller's ``extra_body`` (vLLM's ``logprobs``, ``return_token_ids``...); what the server
  returns of it is kept on the turn.

Failures, the way tau2 handles them and the way we do:

- A call that fails after the backend's retries (connection, timeout, HTTP error, no choices,
  a body that is not JSON) raises :class:`PolicyError`; the episode ends as ``agent_error`` or
  ``user_error`` with the message, and the engine goes on. tau2 lets the exception abort the
  simulation and its runner re-runs the whole simulation (``--max-retries``), recording an
  infrastructure error at the end; we record the failed episode instead, and a resumed run or a
  new sample is the re-run.
- Tool-call arguments that do not parse as a JSON object: tau2 parses them with ``json.loads``
  into a ``dict``-typed field, so text that is not JSON, and JSON that is not an object
  (``[]``, ``"x"``), both raise and fail the simulation as above. Here the backend rejects
  non-JSON (:class:`~cove_async.backends.BackendProtocolError`) and :class:`LLMAgent` rejects
  non-objects; either ends the episode as ``agent_error``, and nothing is run against the
  sandbox. (``RetryPolicy(retry_protocol_errors=True)`` on the backend asks again instead.)
- An empty reply (no text, no tool calls; typically ``finish_reason`` ``length``): tau2's message
  validation rejects it, failing the simulation; we raise :class:`PolicyError` naming the finish
  reason, so it is an ``agent_error`` / ``user_error``.
- Text and tool calls in one agent message: tau2 allows it unless
  ``--enforce-communication-protocol``; so do we (the calls run, the text is kept).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal

import structlog

from cove_async.backends import BackendError, BackendStatusError, ChatBackend, ChatRequest, ChatResponse, derive_seed
from cove_async.chat import Message
from cove_async.engine import EpisodeContext, PolicyError, Turn
from cove_async.errors import ConfigError

__all__ = ("LLMAgent", "LLMUser", "episode_user_field", "flip_for_user")

log = structlog.get_logger()

_USER_FIELD: Final = "user"


def episode_user_field(task_id: str, sample_index: int) -> str:
    """The OpenAI ``user`` value sent with every request of an episode: ``"<task_id>/<sample_index>"``."""
    return f"{task_id}/{sample_index}"


class _LLMPolicy:
    """What both sides share: settings, the request, the call and its error translation."""

    role: Literal["user", "agent"]

    def __init__(
        self,
        backend: ChatBackend,
        *,
        model: str,
        temperature: float | None = 0.0,
        top_p: float | None = None,
        max_tokens: int | None = None,
        extra_body: Mapping[str, Any] | None = None,
        policy_version: str | None = None,
    ) -> None:
        if temperature is not None and temperature < 0:
            raise ConfigError(f"temperature must be >= 0, got {temperature}")
        if top_p is not None and not 0.0 < top_p <= 1.0:
            raise ConfigError(f"top_p must be in (0, 1], got {top_p}")
        if max_tokens is not None and max_tokens < 1:
            raise ConfigError(f"max_tokens must be >= 1, got {max_tokens}")
        self.backend = backend
        self.model = model
        self.temperature = temperature
        self.top_p = top_p
        self.max_tokens = max_tokens
        self.extra_body: dict[str, Any] = dict(extra_body or {})
        self.policy_version = policy_version

    def _request(
        self,
        context: EpisodeContext,
        messages: tuple[Message, ...],
        turn: int,
        tools: tuple[dict[str, Any], ...] | None,
    ) -> ChatRequest:
        return ChatRequest(
            messages=messages,
            tools=tools,
            tool_choice="auto" if tools else None,
            temperature=self.temperature,
            top_p=self.top_p,
            max_tokens=self.max_tokens,
            seed=derive_seed(
                run_seed=context.run_seed,
                task_id=context.task.task_id,
                sample_index=context.sample_index,
                turn=turn,
                role=self.role,
            ),
            # The episode tag goes last: it must survive a caller's extra_body.
            extra_body={**self.extra_body, _USER_FIELD: episode_user_field(context.task.task_id, context.sample_index)},
            model=self.model,
        )

    async def _complete(self, context: EpisodeContext, request: ChatRequest) -> ChatResponse:
        try:
            return await self.backend.complete(request, route_key=context.episode_id)
        except BackendError as exc:
            status = f" HTTP {exc.status}" if isinstance(exc, BackendStatusError) else ""
            where = exc.endpoint or "no endpoint"
            log.warning(
                "llm_turn_failed",
                role=self.role,
                model=self.model,
                endpoint=where,
                reason=exc.reason,
                attempts=exc.attempts,
            )
            raise PolicyError(
                f"{self.role} model {self.model!r} at {where}: {exc.reason}{status} after {exc.attempts} "
                f"attempt(s): {exc}"
            ) from exc

    def _empty(self, response: ChatResponse, what: str) -> PolicyError:
        return PolicyError(
            f"{self.role} model {self.model!r} at {response.endpoint} returned {what} "
            f"(finish_reason={response.finish_reason!r}, {response.usage.completion_tokens} completion tokens); "
            "raise max_tokens if the reply was cut off"
        )

    def _turn(self, message: Message, response: ChatResponse) -> Turn:
        return Turn(
            message=message,
            prompt_tokens=response.usage.prompt_tokens,
            completion_tokens=response.usage.completion_tokens,
            # What the episode waited for this turn: capacity waits and retries included.
            latency_s=response.total_s,
            ttft_s=response.ttft_s,
            model=response.model or self.model,
            policy_version=self.policy_version,
            extras=response.extras(),
        )


class LLMAgent(_LLMPolicy):
    """The agent, played by a model: it sees the domain policy, the tools and the whole conversation.

    Args:
        backend: the chat backend (open it before the engine runs).
        model: the model name to ask for.
        temperature: sampling temperature (None: the server's default).
        top_p: nucleus sampling mass (None: the server's default).
        max_tokens: cap on generated tokens per turn (None: the server's default).
        extra_body: extra top-level request fields, passed through verbatim (vLLM's ``logprobs``,
            ``top_logprobs``, ``return_token_ids``, ``chat_template_kwargs``...). Its ``user``, if
            any, is replaced by the episode tag.
        policy_version: the trainer's tag of the weights being served, recorded on every turn.

    Raises:
        ConfigError: a sampling setting out of range.
    """

    role: Literal["user", "agent"] = "agent"

    async def next_turn(self, context: EpisodeContext, messages: Sequence[Message]) -> Turn:
        """The agent's next message: text for the customer, tool calls, or both.

        The request is the agent's system prompt followed by the conversation as recorded
        (user texts, the agent's own messages, tool results), with the episode's tools and
        ``tool_choice`` ``auto``.

        Raises:
            PolicyError: the backend failed (the message names the endpoint, the HTTP status
                if any and what went wrong), or the model returned an empty message.
        """
        system = Message(role="system", content=context.agent_system_prompt)
        request = self._request(context, (system, *messages), len(messages), context.tools or None)
        response = await self._complete(context, request)
        message = response.message
        if not message.tool_calls and not (message.content or "").strip():
            raise self._empty(response, "an empty message (no text, no tool calls)")
        for index, call in enumerate(message.tool_calls):
            # The backend checked that the arguments are JSON; JSON starting with "{" is an object.
            if not call.function.arguments.lstrip().startswith("{"):
                raise PolicyError(
                    f"agent model {self.model!r} at {response.endpoint} called {call.function.name!r} "
                    f"(tool call {index}) with arguments that are not a JSON object: "
                    f"{call.function.arguments[:200]!r}"
                )
        return self._turn(message, response)


class LLMUser(_LLMPolicy):
    """The customer, played by a model the way tau2's user simulator is.

    The model sees the conversation from the customer's side: the user simulator's system
    prompt, then the agent's text messages as ``user`` messages and its own earlier messages as
    ``assistant`` messages. The agent's tool calls and the tool results are not shown (tau2
    leaves out every agent message that calls a tool, text included). No tools are offered.

    Args: as :class:`LLMAgent`.

    Raises:
        ConfigError: a sampling setting out of range.
    """

    role: Literal["user", "agent"] = "user"

    async def next_turn(self, context: EpisodeContext, messages: Sequence[Message]) -> Turn:
        """The customer's next message (role ``user``, text only).

        Raises:
            PolicyError: the backend failed, or the model returned no text (tool calls it may
                have made anyway are dropped: the user simulator has no tools).
        """
        view = [Message(role="system", content=context.user_system_prompt)]
        view.extend(flip_for_user(messages))
        request = self._request(context, tuple(view), len(messages), None)
        response = await self._complete(context, request)
        text = response.message.content
        if not (text or "").strip():
            raise self._empty(response, "no text")
        return self._turn(Message(role="user", content=text), response)


def flip_for_user(messages: Sequence[Message]) -> list[Message]:
    """The conversation as the user simulator's model sees it (no system message).

    The agent's text messages become ``user`` messages; the customer's own become
    ``assistant`` messages; agent messages that call tools, tool results and system messages
    are left out.
    """
    view: list[Message] = []
    for message in messages:
        if message.role == "assistant":
            if not message.tool_calls:
                view.append(Message(role="user", content=message.content))
        elif message.role == "user":
            view.append(Message(role="assistant", content=message.content))
    return view
