"""The ``/v1/chat/completions`` wire format: request bodies out, replies in.

Replies are decoded leniently (servers add fields: vLLM's ``reasoning_content``, OpenAI's
``refusal`` and ``annotations``...) but checked for what the engine relies on: a first choice
with a message, and tool-call arguments that are JSON. Anything else is a
:class:`BackendProtocolError` carrying the start of the body.
"""

from __future__ import annotations

from typing import Any

import msgspec

from cove_async.backends._errors import BackendProtocolError
from cove_async.backends._types import ChatRequest, ChatResponse, Usage
from cove_async.chat import FunctionCall, Message, ToolCall

__all__ = ("RequestEncoder", "decode_response", "snippet")

_SNIPPET_CHARS = 200


def snippet(body: bytes) -> str:
    """The start of a body, as text, short enough for an error message or a log line."""
    text = body[: _SNIPPET_CHARS + 1].decode("utf-8", errors="replace")
    return text if len(text) <= _SNIPPET_CHARS else text[:_SNIPPET_CHARS] + "..."


class RequestEncoder:
    """Encodes :class:`ChatRequest` bodies for one model name.

    Tool schemas are the same tuple for every request of a domain and are the largest part of
    an early request, so their encoding is kept per tuple (by identity, a handful at most).
    """

    _MAX_CACHED_TOOLSETS = 8

    def __init__(self, *, model: str) -> None:
        self._model = model
        self._encoder = msgspec.json.Encoder()
        self._tools: dict[int, tuple[tuple[dict[str, Any], ...], msgspec.Raw]] = {}

    def _encoded_tools(self, tools: tuple[dict[str, Any], ...]) -> msgspec.Raw:
        cached = self._tools.get(id(tools))
        # The tuple is held in the cache, so its id cannot be reused while the entry lives.
        if cached is not None and cached[0] is tools:
            return cached[1]
        raw = msgspec.Raw(self._encoder.encode(tools))
        if len(self._tools) >= self._MAX_CACHED_TOOLSETS:
            self._tools.pop(next(iter(self._tools)))
        self._tools[id(tools)] = (tools, raw)
        return raw

    def encode(self, request: ChatRequest) -> bytes:
        """The JSON body for ``request``; ``extra_body`` fields are applied last."""
        body: dict[str, Any] = {"model": request.model or self._model, "messages": request.messages}
        if request.tools is not None:
            body["tools"] = self._encoded_tools(request.tools)
        if request.tool_choice is not None:
            body["tool_choice"] = request.tool_choice
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.top_p is not None:
            body["top_p"] = request.top_p
        if request.max_tokens is not None:
            body["max_tokens"] = request.max_tokens
        if request.seed is not None:
            body["seed"] = request.seed
        if request.extra_body:
            body.update(request.extra_body)
        return self._encoder.encode(body)


# The wire structs live for one decode and hold no cycles: keeping them out of the garbage
# collector's sight saves it work on every reply.
class _Function(msgspec.Struct, gc=False):
    name: str
    arguments: str


class _ToolCall(msgspec.Struct, gc=False):
    function: _Function
    id: str = ""


class _Message(msgspec.Struct, gc=False):
    content: str | None = None
    tool_calls: list[_ToolCall] | None = None


class _Choice(msgspec.Struct, gc=False):
    message: _Message | None = None
    finish_reason: str | None = None
    logprobs: Any = None
    token_ids: tuple[int, ...] | None = None


class _PromptDetails(msgspec.Struct, gc=False):
    cached_tokens: int | None = None


class _Usage(msgspec.Struct, gc=False):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    prompt_tokens_details: _PromptDetails | None = None


class _Completion(msgspec.Struct, gc=False):
    id: str = ""
    model: str = ""
    choices: list[_Choice] | None = None
    usage: _Usage | None = None
    prompt_token_ids: tuple[int, ...] | None = None


_DECODER = msgspec.json.Decoder(_Completion)
_ANY_JSON = msgspec.json.Decoder()
_NO_USAGE = Usage()


def decode_response(
    body: bytes, *, endpoint: str, attempts: int = 1, latency_s: float = 0.0, total_s: float = 0.0
) -> ChatResponse:
    """Decode and check a chat completion body.

    Args:
        body: the HTTP body of a 200 reply.
        endpoint: the URL it came from, for error messages and the response.
        attempts: how many attempts it took, for the response.
        latency_s: the attempt's wall time, for the response.
        total_s: the call's wall time, for the response.

    Raises:
        BackendProtocolError: the body is not JSON of the expected shape, has no choices or no
            message, or a tool call's arguments are not JSON.
    """
    try:
        completion = _DECODER.decode(body)
    except msgspec.DecodeError as exc:
        raise BackendProtocolError(
            f"malformed chat completion from {endpoint}: {exc}; body starts: {snippet(body)!r}",
            snippet=snippet(body),
            endpoint=endpoint,
        ) from exc
    if not completion.choices:
        raise BackendProtocolError(
            f"chat completion from {endpoint} has no choices (expected at least one); body starts: {snippet(body)!r}",
            snippet=snippet(body),
            endpoint=endpoint,
        )
    choice = completion.choices[0]
    wire = choice.message
    if wire is None:
        raise BackendProtocolError(
            f"chat completion from {endpoint} has no message in choices[0]; body starts: {snippet(body)!r}",
            snippet=snippet(body),
            endpoint=endpoint,
        )
    calls: tuple[ToolCall, ...] = ()
    if wire.tool_calls:
        calls = tuple(_tool_call(index, call, completion.id, endpoint) for index, call in enumerate(wire.tool_calls))
    usage = completion.usage
    return ChatResponse(
        message=Message(role="assistant", content=wire.content, tool_calls=calls),
        finish_reason=choice.finish_reason,
        usage=_NO_USAGE
        if usage is None
        else Usage(
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cached_tokens=None if usage.prompt_tokens_details is None else usage.prompt_tokens_details.cached_tokens,
        ),
        model=completion.model,
        response_id=completion.id,
        endpoint=endpoint,
        attempts=attempts,
        latency_s=latency_s,
        total_s=total_s,
        logprobs=choice.logprobs,
        token_ids=choice.token_ids,
        prompt_token_ids=completion.prompt_token_ids,
    )


def _tool_call(index: int, call: _ToolCall, response_id: str, endpoint: str) -> ToolCall:
    arguments = call.function.arguments
    try:
        _ANY_JSON.decode(arguments)
    except msgspec.DecodeError as exc:
        raise BackendProtocolError(
            f"tool call {index} ({call.function.name!r}) from {endpoint} has arguments that are not JSON "
            f"({exc}): {arguments[:_SNIPPET_CHARS]!r}",
            snippet=arguments[:_SNIPPET_CHARS],
            endpoint=endpoint,
        ) from exc
    # A few servers leave the id out; the conversation still needs one to answer the call.
    call_id = call.id or f"call_{response_id}_{index}"
    return ToolCall(id=call_id, function=FunctionCall(name=call.function.name, arguments=arguments))
