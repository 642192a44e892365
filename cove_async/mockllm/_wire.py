"""The simulated server's wire formats: chat requests in, OpenAI chat completions and errors out.

Requests are decoded leniently, as a server must: unknown fields are ignored, message content
may be a list of text parts, ``developer`` messages count as ``system``. The common case (plain
string content, as the engine and the ``openai`` client send) takes one msgspec pass straight
into :class:`cove_async.chat.Message`; anything else falls back to a looser decoder.
"""

from __future__ import annotations

from typing import Any

import msgspec

from cove_async.backends import ChatRequest
from cove_async.chat import FunctionCall, Message, ToolCall
from cove_async.errors import CoveError

__all__ = (
    "ChatOptions",
    "RequestRejected",
    "ToolsCache",
    "chat_completion_body",
    "decode_chat_request",
    "error_body",
    "models_body",
)


class RequestRejected(CoveError):
    """A chat request the server refuses; becomes an OpenAI-style error answer.

    Attributes:
        status: the HTTP status.
        kind: the error ``type`` (``BadRequestError``, ``NotFoundError``...).
        param: the offending request field, when one is to blame.
    """

    def __init__(self, message: str, *, status: int = 400, kind: str = "BadRequestError", param: str | None = None):
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.param = param


class ChatOptions(msgspec.Struct, frozen=True, kw_only=True):
    """What a request asks of the answer beyond the message (vLLM's per-token extras).

    Attributes:
        logprobs: return ``choices[0].logprobs`` (OpenAI ``logprobs: true``).
        top_logprobs: alternatives per position in those logprobs.
        return_token_ids: return ``choices[0].token_ids`` and top-level ``prompt_token_ids``
            (vLLM's ``return_token_ids``).
        tokens_as_ids: name logprob tokens ``token_id:<id>`` (vLLM's ``return_tokens_as_token_ids``).
        tools_json: the ``tools`` list as the client sent it (JSON text; empty for none), which
            is what the prompt's token count includes.
    """

    logprobs: bool = False
    top_logprobs: int = 0
    return_token_ids: bool = False
    tokens_as_ids: bool = False
    tools_json: str = ""


_ToolList = tuple[dict[str, Any], ...]
_decode_tools = msgspec.json.Decoder(_ToolList | None).decode


class ToolsCache:
    """Decoded ``tools`` lists by their JSON text, so each distinct list is decoded once.

    A conversation resends the same tool schemas on every turn, and decoding them (16 schemas,
    ~13 KB for tau2 retail) costs more than the rest of the request. The decoded dicts are shared
    between requests: responders must treat them as read-only.

    Args:
        capacity: distinct lists kept; when full, the cache starts over (a bound, not an LRU:
            runs use a handful of tool sets).
    """

    def __init__(self, capacity: int = 64) -> None:
        self._capacity = capacity
        self._entries: dict[bytes, _ToolList | None] = {}

    def get(self, raw: bytes) -> _ToolList | None:
        """The decoded list for ``raw`` (JSON text of the ``tools`` field).

        Raises:
            RequestRejected: ``raw`` is not a list of objects (nor null).
        """
        try:
            return self._entries[raw]
        except KeyError:
            pass
        try:
            tools: _ToolList | None = _decode_tools(raw)
        except msgspec.DecodeError as exc:
            raise RequestRejected(
                f"invalid chat request: tools must be a list of tool objects ({exc})", param="tools"
            ) from None
        if len(self._entries) >= self._capacity:
            self._entries.clear()
        self._entries[raw] = tools
        return tools


class _Body(msgspec.Struct, kw_only=True):
    model: str | None = None
    # Kept as raw JSON: decoded through ToolsCache, which skips lists it has seen.
    tools: msgspec.Raw = msgspec.Raw(b"")
    tool_choice: str | dict[str, Any] | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    seed: int | None = None
    n: int | None = None
    stream: bool | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    return_token_ids: bool | None = None
    return_tokens_as_token_ids: bool | None = None
    metadata: dict[str, Any] | None = None
    user: str | None = None


class _FastBody(_Body, kw_only=True):
    messages: tuple[Message, ...]


class _LooseFunction(msgspec.Struct):
    name: str
    arguments: str | dict[str, Any] = ""


class _LooseToolCall(msgspec.Struct):
    function: _LooseFunction
    id: str = ""


class _LoosePart(msgspec.Struct):
    type: str = "text"
    text: str | None = None


class _LooseMessage(msgspec.Struct):
    role: str
    content: str | list[_LoosePart] | None = None
    tool_calls: list[_LooseToolCall] | None = None
    tool_call_id: str | None = None


class _LooseBody(_Body, kw_only=True):
    messages: tuple[_LooseMessage, ...]


_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant", "tool": "tool"}

_decode_fast = msgspec.json.Decoder(_FastBody).decode
_decode_loose = msgspec.json.Decoder(_LooseBody).decode


def _message(loose: _LooseMessage, index: int) -> Message:
    role = _ROLES.get(loose.role)
    if role is None:
        raise RequestRejected(
            f"messages[{index}].role {loose.role!r} is not supported; use system, developer, user, assistant or tool",
            param="messages",
        )
    content = loose.content
    if isinstance(content, list):
        content = "".join(part.text or "" for part in content if part.type == "text")
    calls = tuple(
        ToolCall(
            id=call.id,
            function=FunctionCall(
                name=call.function.name,
                arguments=call.function.arguments
                if isinstance(call.function.arguments, str)
                else msgspec.json.encode(call.function.arguments).decode(),
            ),
        )
        for call in loose.tool_calls or ()
    )
    return Message(role=role, content=content, tool_calls=calls, tool_call_id=loose.tool_call_id)  # type: ignore[arg-type]


def decode_chat_request(body: bytes, *, default_model: str, tools: ToolsCache) -> tuple[ChatRequest, ChatOptions]:
    """The engine-side request and the per-token options of a ``/v1/chat/completions`` body.

    Args:
        body: the request body.
        default_model: the model of a request that names none.
        tools: where decoded tool lists are kept between requests.

    ``max_completion_tokens`` wins over ``max_tokens`` when both are set; a missing ``model``
    becomes ``default_model``; ``metadata`` and ``user`` are kept in ``extra_body``.

    Raises:
        RequestRejected: the body is not a chat request this server can answer (not JSON, no
            messages, a wrong type, ``n`` other than 1, ``stream: true``).
    """
    parsed: _Body
    try:
        fast = _decode_fast(body)
        messages = fast.messages
        parsed = fast
    except msgspec.DecodeError:
        try:
            loose = _decode_loose(body)
        except msgspec.ValidationError as exc:
            raise RequestRejected(f"invalid chat request: {exc}") from None
        except msgspec.DecodeError as exc:
            raise RequestRejected(f"the request body is not valid JSON: {exc}") from None
        messages = tuple(_message(m, i) for i, m in enumerate(loose.messages))
        parsed = loose
    if not messages:
        raise RequestRejected("messages must hold at least one message", param="messages")
    if parsed.n not in (None, 1):
        raise RequestRejected(f"n must be 1 on the simulated server, got {parsed.n}", param="n")
    if parsed.stream:
        raise RequestRejected("stream=true is not supported by the simulated server; send stream=false", param="stream")
    max_tokens = parsed.max_completion_tokens if parsed.max_completion_tokens is not None else parsed.max_tokens
    if max_tokens is not None and max_tokens < 1:
        raise RequestRejected(f"max_tokens must be >= 1, got {max_tokens}", param="max_tokens")
    top_logprobs = parsed.top_logprobs or 0
    if top_logprobs < 0:
        raise RequestRejected(f"top_logprobs must be >= 0, got {top_logprobs}", param="top_logprobs")
    tools_json = bytes(parsed.tools)
    tool_list = tools.get(tools_json) if tools_json else None
    extra: dict[str, Any] = {}
    if parsed.metadata is not None:
        extra["metadata"] = parsed.metadata
    if parsed.user is not None:
        extra["user"] = parsed.user
    request = ChatRequest(
        messages=messages,
        tools=tool_list,
        tool_choice=parsed.tool_choice,
        temperature=parsed.temperature,
        top_p=parsed.top_p,
        max_tokens=max_tokens,
        seed=parsed.seed,
        extra_body=extra,
        model=parsed.model or default_model,
    )
    options = ChatOptions(
        logprobs=bool(parsed.logprobs),
        top_logprobs=top_logprobs,
        return_token_ids=bool(parsed.return_token_ids),
        tokens_as_ids=bool(parsed.return_tokens_as_token_ids),
        tools_json=tools_json.decode() if tool_list else "",
    )
    return request, options


class _OutMessage(msgspec.Struct, kw_only=True):
    content: str | None
    tool_calls: tuple[ToolCall, ...] | msgspec.UnsetType = msgspec.UNSET
    role: str = "assistant"


class _OutLogprobs(msgspec.Struct, kw_only=True):
    content: list[dict[str, Any]]


class _OutChoice(msgspec.Struct, kw_only=True):
    message: _OutMessage
    finish_reason: str
    logprobs: _OutLogprobs | None = None
    index: int = 0
    token_ids: list[int] | msgspec.UnsetType = msgspec.UNSET


class _OutUsage(msgspec.Struct, kw_only=True):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class _OutCompletion(msgspec.Struct, kw_only=True):
    id: str
    created: int
    model: str
    choices: list[_OutChoice]
    usage: _OutUsage
    object: str = "chat.completion"
    prompt_token_ids: list[int] | msgspec.UnsetType = msgspec.UNSET


_encode = msgspec.json.Encoder().encode


def chat_completion_body(
    *,
    response_id: str,
    created: int,
    model: str,
    content: str | None,
    tool_calls: tuple[ToolCall, ...],
    finish_reason: str,
    prompt_tokens: int,
    completion_tokens: int,
    logprobs: list[dict[str, Any]] | None = None,
    token_ids: list[int] | None = None,
    prompt_token_ids: list[int] | None = None,
    empty_choices: bool = False,
) -> bytes:
    """An OpenAI ``chat.completion`` object as JSON bytes.

    ``tool_calls`` is omitted when empty (as vLLM does); ``token_ids`` and ``prompt_token_ids``
    appear only when given; ``empty_choices`` sends ``"choices": []`` (a fault).
    """
    choices = (
        []
        if empty_choices
        else [
            _OutChoice(
                message=_OutMessage(content=content, tool_calls=tool_calls or msgspec.UNSET),
                finish_reason=finish_reason,
                logprobs=None if logprobs is None else _OutLogprobs(content=logprobs),
                token_ids=msgspec.UNSET if token_ids is None else token_ids,
            )
        ]
    )
    return _encode(
        _OutCompletion(
            id=response_id,
            created=created,
            model=model,
            choices=choices,
            usage=_OutUsage(
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                total_tokens=prompt_tokens + completion_tokens,
            ),
            prompt_token_ids=msgspec.UNSET if prompt_token_ids is None else prompt_token_ids,
        )
    )


class _ErrorDetail(msgspec.Struct, kw_only=True):
    message: str
    type: str
    code: int
    param: str | None = None


class _ErrorBody(msgspec.Struct, kw_only=True):
    error: _ErrorDetail


def error_body(message: str, *, status: int, kind: str, param: str | None = None) -> bytes:
    """An OpenAI-style error object (``{"error": {"message", "type", "param", "code"}}``) as JSON."""
    return _encode(_ErrorBody(error=_ErrorDetail(message=message, type=kind, code=status, param=param)))


class _Model(msgspec.Struct, kw_only=True):
    id: str
    created: int
    object: str = "model"
    owned_by: str = "cove-async"


class _ModelList(msgspec.Struct, kw_only=True):
    data: list[_Model]
    object: str = "list"


def models_body(names: list[str], *, created: int) -> bytes:
    """The ``/v1/models`` list of the served model names."""
    return _encode(_ModelList(data=[_Model(id=name, created=created) for name in names]))
