"""What the simulated server says: the :class:`Responder` seam and a task-free default.

The server decodes each chat request into a :class:`cove_async.backends.ChatRequest` and asks
the responder registered under the request's ``model`` for a :class:`Reply`. The scripted CoVe
policies plug in here (``scripted-agent``, ``scripted-user``); :class:`DefaultResponder` needs no
task knowledge and exists for tests and load benchmarks.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import msgspec

from cove_async.backends import ChatRequest
from cove_async.chat import FunctionCall, Message, ToolCall
from cove_async.errors import ConfigError

__all__ = ("DefaultResponder", "Reply", "Responder", "dummy_arguments")


class Reply(msgspec.Struct, frozen=True, kw_only=True):
    """The assistant's answer to one chat request: text, tool calls or both.

    Attributes:
        content: the text; None for none.
        tool_calls: the calls, each with its id and its arguments as JSON text.
        finish_reason: overrides the reported finish reason; None reports ``tool_calls`` when
            there are calls and ``stop`` otherwise.
    """

    content: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: str | None = None


class Responder(Protocol):
    """Produces the reply of one simulated model.

    Implementations may await (a scripted policy may consult a sandbox) but should not sleep:
    the server's latency model adds the time a model would take. Exceptions become HTTP 500
    answers (logged), never a crashed server.
    """

    async def respond(self, request: ChatRequest) -> Reply:
        """The reply to ``request``.

        Args:
            request: the decoded request body: ``model``, ``messages``, ``tools``,
                ``tool_choice``, ``seed``, sampling settings; ``extra_body`` holds the
                caller's ``metadata`` and ``user`` when sent.
        """
        ...


_FILLER = (
    "certainly",
    "noted",
    "the",
    "request",
    "is",
    "being",
    "handled",
    "and",
    "details",
    "follow",
    "shortly",
    "thanks",
)


_MAX_DEPTH = 16


def _resolve(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    for _ in range(_MAX_DEPTH):
        ref = schema.get("$ref")
        if not isinstance(ref, str):
            return schema
        if ref != "#" and not ref.startswith("#/"):
            raise ConfigError(
                f"cannot resolve JSON schema reference {ref!r}: only local '#/...' references are supported"
            )
        target: Any = root
        for key in filter(None, ref[1:].split("/")):
            if not isinstance(target, Mapping) or key not in target:
                raise ConfigError(f"JSON schema reference {ref!r} points nowhere in the tool's parameters")
            target = target[key]
        schema = target
    raise ConfigError(f"JSON schema references chain deeper than {_MAX_DEPTH} levels (a recursive $ref?)")


def _dummy(schema: Mapping[str, Any], root: Mapping[str, Any], name: str, depth: int) -> Any:
    if depth > _MAX_DEPTH:
        raise ConfigError(f"JSON schema for {name!r} nests deeper than {_MAX_DEPTH} levels (a recursive $ref?)")
    schema = _resolve(schema, root)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    if "default" in schema:
        return schema["default"]
    for key in ("anyOf", "oneOf", "allOf"):
        options = schema.get(key)
        if options:
            non_null = [o for o in options if _resolve(o, root).get("type") != "null"]
            return _dummy((non_null or options)[0], root, name, depth + 1)
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        properties: Mapping[str, Any] = schema.get("properties", {})
        return {
            key: _dummy(properties[key], root, key, depth + 1)
            for key in schema.get("required", ())
            if key in properties
        }
    if kind == "array":
        count = int(schema.get("minItems", 1))
        return [_dummy(schema.get("items", {}), root, name, depth + 1) for _ in range(count)]
    if kind == "integer":
        return int(schema.get("minimum", 1))
    if kind == "number":
        return float(schema.get("minimum", 1.0))
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    text = f"mock-{name}"
    min_length = int(schema.get("minLength", 0))
    return text + "x" * max(min_length - len(text), 0)


def dummy_arguments(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """Arguments that satisfy a tool's JSON schema, made up without knowing what they mean.

    Only required properties are filled. A value is the schema's ``const``, else its first
    ``enum`` value, else its ``default``, else a placeholder of the right type: ``"mock-<name>"``
    for strings, the minimum (or 1) for numbers, True, one item for arrays. ``anyOf`` / ``oneOf``
    take their first non-null option; local ``$ref`` (``#/$defs/...``) are followed.

    Args:
        parameters: the ``function.parameters`` object of an OpenAI tool schema.

    Raises:
        ConfigError: the schema uses a non-local ``$ref`` or nests without end.
    """
    value = _dummy(parameters, parameters, "arguments", 0)
    if not isinstance(value, dict):
        raise ConfigError(f"tool parameters must describe a JSON object, got a schema for {type(value).__name__}")
    return value


def _call_id(request: ChatRequest, index: int) -> str:
    last = (request.messages[-1].content or "") if request.messages else ""
    key = f"{request.seed}|{len(request.messages)}|{index}|{last}".encode()
    return "call_" + hashlib.blake2b(key, digest_size=8).hexdigest()


def _tool_name(tool: Mapping[str, Any]) -> str:
    function = tool.get("function")
    name = function.get("name") if isinstance(function, Mapping) else None
    return name if isinstance(name, str) else ""


class DefaultResponder:
    """A deterministic model that needs no task: it calls a tool, then talks.

    With tools offered, it calls one when the last message is the user's (or when
    ``tool_choice`` is ``required`` or names a function), with :func:`dummy_arguments`; after a
    tool result, or with no tools, it answers in text of ``reply_words`` words that quotes the
    first words of the message it answers. The tool called is the one ``tool_choice`` names, else
    the first offered. The same request always gets the same reply (call ids included).

    Args:
        call_tools: False to always answer in text.
        reply_words: words in a text reply (at least 1).
    """

    def __init__(self, *, call_tools: bool = True, reply_words: int = 12) -> None:
        if reply_words < 1:
            raise ConfigError(f"reply_words must be >= 1, got {reply_words}")
        self.call_tools = call_tools
        self.reply_words = reply_words

    def _wants_tool(self, request: ChatRequest, tools: Sequence[dict[str, Any]]) -> bool:
        if not self.call_tools or not tools or request.tool_choice == "none":
            return False
        if request.tool_choice == "required" or isinstance(request.tool_choice, dict):
            return True
        return bool(request.messages) and request.messages[-1].role == "user"

    def _tool(self, request: ChatRequest, tools: Sequence[dict[str, Any]]) -> dict[str, Any]:
        choice = request.tool_choice
        if isinstance(choice, dict):
            wanted = _tool_name(choice)
            for tool in tools:
                if _tool_name(tool) == wanted:
                    return tool
        return tools[0]

    def _text(self, request: ChatRequest) -> str:
        last: Message | None = request.messages[-1] if request.messages else None
        quoted = (last.content or "").split()[:4] if last is not None else []
        words = ["Re:", *quoted] if quoted else ["Hello"]
        start = (request.seed or 0) % len(_FILLER)
        while len(words) < self.reply_words:
            words.append(_FILLER[(start + len(words)) % len(_FILLER)])
        return " ".join(words[: self.reply_words]) + "."

    async def respond(self, request: ChatRequest) -> Reply:
        """A tool call with dummy arguments, or a text reply (see the class)."""
        tools = request.tools or ()
        if self._wants_tool(request, tools):
            tool = self._tool(request, tools)
            function = tool.get("function", {})
            arguments = dummy_arguments(function.get("parameters") or {"type": "object"})
            call = ToolCall(
                id=_call_id(request, 0),
                function=FunctionCall(name=_tool_name(tool), arguments=msgspec.json.encode(arguments).decode()),
            )
            return Reply(tool_calls=(call,))
        return Reply(content=self._text(request))
