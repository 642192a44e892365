"""What goes to and comes back from an OpenAI-compatible chat server, as the engine sees it.

:class:`ChatRequest` is the engine's side of a ``/v1/chat/completions`` call (the model name
and endpoint belong to the backend); :class:`ChatResponse` is the decoded reply with its usage,
its timing and whatever per-token data the server returned (vLLM's logprobs and token ids).
The fields of :class:`ChatRequest` carry their OpenAI wire names, so a server may decode a
request body straight into it with ``msgspec.json.decode(body, type=ChatRequest)``: ``model``
lands in ``model``, other top-level fields (``logprobs``, ``stream``...) are ignored, and
``extra_body`` stays empty (on the wire its fields are top-level).
"""

from __future__ import annotations

from typing import Any

import msgspec

from cove_async.chat import Message

__all__ = ("ChatRequest", "ChatResponse", "Usage")


class ChatRequest(msgspec.Struct, frozen=True, kw_only=True):
    """One chat completion to ask for.

    Attributes:
        messages: the conversation so far, system prompt first.
        tools: OpenAI tool schemas (``{"type": "function", "function": {...}}``), or None for none.
        tool_choice: ``"auto"``, ``"none"``, ``"required"`` or a named-function object; None
            leaves it to the server.
        temperature: sampling temperature; None leaves the server's default.
        top_p: nucleus sampling mass; None leaves the server's default.
        max_tokens: cap on generated tokens; None leaves the server's default.
        seed: the sampling seed (see :func:`cove_async.backends.derive_seed`); None for none.
        extra_body: further top-level body fields passed through verbatim (vLLM's
            ``logprobs``, ``top_logprobs``, ``return_token_ids``, ``chat_template_kwargs``...).
            They are applied last, so they override the fields above when both are set.
        model: overrides the backend's model name for this request; None keeps it.
    """

    messages: tuple[Message, ...]
    tools: tuple[dict[str, Any], ...] | None = None
    tool_choice: str | dict[str, Any] | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    seed: int | None = None
    extra_body: dict[str, Any] = {}
    model: str | None = None


class Usage(msgspec.Struct, frozen=True, kw_only=True):
    """Token accounting of one completion, as the server reported it (zeros when it did not).

    Attributes:
        prompt_tokens: tokens read.
        completion_tokens: tokens generated.
        cached_tokens: prompt tokens served from the prefix cache, when the server says.
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int | None = None

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens


class ChatResponse(msgspec.Struct, frozen=True, kw_only=True):
    """A decoded chat completion: the assistant's message and what it cost.

    Attributes:
        message: the assistant message (text, tool calls or both); every tool call's arguments
            parse as JSON (the backend checks before returning).
        finish_reason: ``stop``, ``tool_calls``, ``length``... as the server said; None if absent.
        usage: token accounting.
        model: the model name the server reported.
        response_id: the server's completion id.
        endpoint: the base URL that answered.
        attempts: how many HTTP attempts it took (1 when the first one succeeded).
        latency_s: wall time of the successful attempt, from sending the request to the end of the
            reply body.
        total_s: wall time of the whole call, including waits for capacity and retries.
        ttft_s: time to first token, when known (None for non-streamed replies).
        logprobs: the choice's ``logprobs`` object, verbatim, when the server returned one.
        token_ids: the completion's token ids (vLLM ``return_token_ids``), when returned.
        prompt_token_ids: the prompt's token ids, when returned.
    """

    message: Message
    finish_reason: str | None
    usage: Usage
    model: str = ""
    response_id: str = ""
    endpoint: str = ""
    attempts: int = 1
    latency_s: float = 0.0
    total_s: float = 0.0
    ttft_s: float | None = None
    logprobs: Any = None
    token_ids: tuple[int, ...] | None = None
    prompt_token_ids: tuple[int, ...] | None = None

    def extras(self) -> dict[str, Any]:
        """The per-token data the server returned, keyed by wire name; empty when there was none.

        This is what an engine keeps on the turn (``logprobs``, ``token_ids``,
        ``prompt_token_ids``), so a trainer can use the tokens the server actually sampled.
        """
        out: dict[str, Any] = {}
        if self.logprobs is not None:
            out["logprobs"] = self.logprobs
        if self.token_ids is not None:
            out["token_ids"] = self.token_ids
        if self.prompt_token_ids is not None:
            out["prompt_token_ids"] = self.prompt_token_ids
        return out
