"""The default responder: schema-valid dummy calls, text after tool results, same request same reply."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec
import pytest

from cove_async.backends import ChatRequest
from cove_async.chat import Message, tool_exchange
from cove_async.errors import ConfigError
from cove_async.mockllm import DefaultResponder, Reply, dummy_arguments

pytestmark = pytest.mark.anyio

_TYPES: dict[str, type | tuple[type, ...]] = {
    "string": str,
    "integer": int,
    "number": (int, float),
    "boolean": bool,
    "array": list,
    "object": dict,
    "null": type(None),
}


def _violations(value: Any, schema: Mapping[str, Any], root: Mapping[str, Any], path: str = "$") -> list[str]:
    """A small JSON-schema checker (the subset tool schemas use), independent of the generator."""
    if "$ref" in schema:
        target: Any = root
        for key in schema["$ref"].removeprefix("#/").split("/"):
            target = target[key]
        return _violations(value, target, root, path)
    if "anyOf" in schema:
        results = [_violations(value, option, root, path) for option in schema["anyOf"]]
        return [] if any(not r for r in results) else results[0]
    found: list[str] = []
    kinds = schema.get("type")
    if kinds is not None:
        kinds = kinds if isinstance(kinds, list) else [kinds]
        is_bool = isinstance(value, bool)
        if not any(isinstance(value, _TYPES[k]) and (k == "boolean" or not is_bool) for k in kinds):
            found.append(f"{path}: {value!r} is not {kinds}")
    if "enum" in schema and value not in schema["enum"]:
        found.append(f"{path}: {value!r} not in enum")
    if "const" in schema and value != schema["const"]:
        found.append(f"{path}: {value!r} is not the const")
    if isinstance(value, dict):
        found += [f"{path}.{k}: missing" for k in schema.get("required", ()) if k not in value]
        properties = schema.get("properties", {})
        for key, item in value.items():
            if key not in properties:
                found.append(f"{path}.{key}: not a property")
            else:
                found += _violations(item, properties[key], root, f"{path}.{key}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            found.append(f"{path}: fewer than minItems")
        for i, item in enumerate(value):
            found += _violations(item, schema.get("items", {}), root, f"{path}[{i}]")
    if isinstance(value, str) and len(value) < schema.get("minLength", 0):
        found.append(f"{path}: shorter than minLength")
    if isinstance(value, int | float) and not isinstance(value, bool) and value < schema.get("minimum", value):
        found.append(f"{path}: below minimum")
    return found


def _tau2_tools(tau2_dir: Path) -> list[dict[str, Any]]:
    tools: list[dict[str, Any]] = []
    for domain in ("airline", "retail"):
        tools += json.loads((tau2_dir / domain / "tool_schemas.json").read_bytes())
    return tools


def test_dummy_arguments_satisfy_every_tau2_tool_schema(tau2_dir: Path) -> None:
    tools = _tau2_tools(tau2_dir)
    assert len(tools) > 20
    for tool in tools:
        parameters = tool["function"]["parameters"]
        arguments = dummy_arguments(parameters)
        assert _violations(arguments, parameters, parameters) == [], tool["function"]["name"]
        assert set(arguments) == set(parameters.get("required", ()))


def test_dummy_arguments_honour_schema_keywords() -> None:
    schema: dict[str, Any] = {
        "type": "object",
        "$defs": {"Kind": {"type": "string", "enum": ["a", "b"]}},
        "properties": {
            "fixed": {"const": 7},
            "mode": {"type": "string", "default": "fast"},
            "kind": {"$ref": "#/$defs/Kind"},
            "maybe": {"anyOf": [{"type": "null"}, {"type": "integer", "minimum": 5}]},
            "either": {"oneOf": [{"type": "boolean"}, {"type": "string"}]},
            "nullable": {"type": ["null", "number"]},
            "tags": {"type": "array", "items": {"type": "string", "minLength": 12}, "minItems": 2},
            "nested": {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]},
            "optional": {"type": "string"},
        },
        "required": ["fixed", "mode", "kind", "maybe", "either", "nullable", "tags", "nested"],
    }
    arguments = dummy_arguments(schema)
    assert arguments == {
        "fixed": 7,
        "mode": "fast",
        "kind": "a",
        "maybe": 5,
        "either": True,
        "nullable": 1.0,
        "tags": ["mock-tagsxxx"] * 2,
        "nested": {"x": 1},
    }
    assert _violations(arguments, schema, schema) == []


def test_unresolvable_schemas_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="only local"):
        dummy_arguments({"type": "object", "properties": {"a": {"$ref": "http://x/y"}}, "required": ["a"]})
    with pytest.raises(ConfigError, match="points nowhere"):
        dummy_arguments({"type": "object", "properties": {"a": {"$ref": "#/$defs/Nope"}}, "required": ["a"]})
    loop = {"$defs": {"L": {"$ref": "#/$defs/L"}}, "properties": {"a": {"$ref": "#/$defs/L"}}, "required": ["a"]}
    with pytest.raises(ConfigError, match="chain deeper"):
        dummy_arguments(loop)
    tree = {"type": "object", "properties": {"a": {"$ref": "#"}}, "required": ["a"]}
    with pytest.raises(ConfigError, match="nests deeper"):
        dummy_arguments(tree)
    with pytest.raises(ConfigError, match="must describe a JSON object"):
        dummy_arguments({"type": "string"})


def _tool(name: str) -> dict[str, Any]:
    parameters = {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]}
    return {"type": "function", "function": {"name": name, "parameters": parameters}}


TOOLS = (_tool("lookup"), _tool("update"))


def _request(*messages: Message, **kwargs: Any) -> ChatRequest:
    return ChatRequest(messages=messages, tools=TOOLS, seed=5, **kwargs)


async def test_a_user_message_gets_a_call_to_the_first_tool() -> None:
    reply = await DefaultResponder().respond(_request(Message(role="user", content="find my order")))
    assert reply.content is None
    (call,) = reply.tool_calls
    assert call.function.name == "lookup"
    assert msgspec.json.decode(call.function.arguments) == {"id": "mock-id"}
    assert call.id.startswith("call_")


async def test_after_a_tool_result_it_answers_in_text() -> None:
    call, result = tool_exchange("c1", "lookup", '{"id": "x"}', "order #1 is pending")
    reply = await DefaultResponder(reply_words=6).respond(_request(Message(role="user", content="hi"), call, result))
    assert reply.tool_calls == ()
    assert reply.content is not None
    assert reply.content.startswith("Re: order #1 is pending")
    assert len(reply.content.split()) == 6


@pytest.mark.parametrize(
    ("tool_choice", "expected"),
    [
        ("none", None),
        ("required", "lookup"),
        ({"type": "function", "function": {"name": "update"}}, "update"),
    ],
)
async def test_tool_choice_is_followed(tool_choice: str | dict[str, Any], expected: str | None) -> None:
    call, result = tool_exchange("c1", "lookup", "{}", "done")
    reply = await DefaultResponder().respond(_request(call, result, tool_choice=tool_choice))
    assert [c.function.name for c in reply.tool_calls] == ([expected] if expected else [])


async def test_without_tools_or_with_calls_off_it_talks() -> None:
    user = Message(role="user", content="hello")
    assert (await DefaultResponder().respond(ChatRequest(messages=(user,)))).content
    assert (await DefaultResponder(call_tools=False).respond(_request(user))).tool_calls == ()
    with pytest.raises(ConfigError, match="reply_words must be >= 1"):
        DefaultResponder(reply_words=0)


async def test_the_same_request_gets_the_same_reply() -> None:
    request = _request(Message(role="user", content="find my order"))
    first: Reply = await DefaultResponder().respond(request)
    assert first == await DefaultResponder().respond(request)
    other = await DefaultResponder().respond(_request(Message(role="user", content="something else")))
    assert other.tool_calls[0].id != first.tool_calls[0].id
