"""Tools as the agent sees them: schemas, argument checks, execution, tau2's output strings.

A domain lists its tools as :class:`Tool` values and bundles them in a :class:`Toolset`.
:meth:`Toolset.execute` is the one door through which an agent's call reaches a sandbox, and
nothing raises out of it: unknown tools, unparsable or ill-typed arguments and failures inside
the tool all come back as an ``Error: ...`` message with ``error=True``, as in tau2.

Output strings follow tau2 byte for byte: a string is returned as is; a number or bool as
``str(x)``; a record as ``json.dumps`` of its fields in declaration order (tau2 dumps pydantic
models the same way); a list element by element.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from cove_async.domains._render import render
from cove_async.errors import ConfigError, ToolCallError
from cove_async.sandbox import Sandbox

__all__ = ("Tool", "ToolKind", "ToolResult", "Toolset")


class ToolKind(enum.Enum):
    """Whether a tool reads the world, writes it, or touches neither (tau2's ToolType)."""

    READ = "read"
    WRITE = "write"
    GENERIC = "generic"


class _Failed(Exception):
    """A tool call that failed, carrying the message the agent is shown."""


class ToolResult(msgspec.Struct, frozen=True, kw_only=True):
    """What the agent sees after a tool call."""

    content: str
    error: bool = False


@dataclass(frozen=True, slots=True)
class Tool:
    """One agent tool.

    Args:
        name: tau2's tool name.
        kind: read, write or generic.
        description: what the model is told the tool does (our words).
        parameters: a JSON schema object of the arguments, with tau2's names, types, enums and
            required list.
        run: ``run(sandbox, **arguments)``; returns the result to render, or raises
            :class:`ToolCallError` (any other exception is reported the same way).
    """

    name: str
    kind: ToolKind
    description: str
    parameters: Mapping[str, Any]
    run: Callable[..., object]

    def openai_schema(self) -> dict[str, Any]:
        """The tool in OpenAI's ``tools=[...]`` format."""
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": dict(self.parameters)},
        }


_JSON_TYPES: dict[str, str] = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "array": "a list",
    "object": "an object",
}


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _check(value: Any, schema: Mapping[str, Any], where: str) -> Any:
    """``value`` checked against a JSON schema fragment; integral floats become ints.

    Raises:
        ToolCallError: naming the argument path, what was expected and what came.
    """
    expected = schema.get("type")
    if expected is None and "anyOf" in schema:
        errors = []
        for option in schema["anyOf"]:
            try:
                return _check(value, option, where)
            except ToolCallError as exc:
                errors.append(str(exc))
        raise ToolCallError(errors[0])
    got = _type_name(value)
    if expected == "integer" and isinstance(value, float) and value.is_integer():
        value, got = int(value), "integer"
    if expected == "number" and got == "integer":
        got = "number"
    if expected is not None and got != expected:
        raise ToolCallError(f"argument '{where}' must be {_JSON_TYPES.get(expected, expected)}, got {got}")
    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join(repr(v) for v in schema["enum"])
        raise ToolCallError(f"argument '{where}' must be one of {allowed}, got {value!r}")
    if expected == "array":
        items = schema.get("items", {})
        return [_check(v, items, f"{where}[{i}]") for i, v in enumerate(value)]
    if expected == "object" and "properties" in schema:
        return _check_object(value, schema, where + ".")
    return value


def _check_object(value: Mapping[str, Any], schema: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    properties: Mapping[str, Any] = schema.get("properties", {})
    extra = [k for k in value if k not in properties]
    if extra and schema.get("additionalProperties") is True:
        # tau2 builds nested objects as pydantic models, which drop unknown keys.
        value = {k: v for k, v in value.items() if k in properties}
    elif extra:
        raise ToolCallError(f"unexpected argument '{prefix}{extra[0]}'")
    missing = [k for k in schema.get("required", ()) if k not in value]
    if missing:
        raise ToolCallError(f"missing required argument '{prefix}{missing[0]}'")
    return {k: _check(v, properties[k], prefix + k) for k, v in value.items()}


def _loads(text: str) -> Any:
    """``json.loads(text)``, as tau2 parses arguments, through msgspec where the two agree.

    msgspec is several times faster; where it refuses what the stdlib takes (NaN, numbers out
    of float range, lone surrogates) or the text is not JSON at all, the stdlib decides, and
    its error message is the one the agent sees.
    """
    try:
        return msgspec.json.decode(text)
    except msgspec.DecodeError:
        return json.loads(text)


class Toolset:
    """A domain's tools, and the executor that runs an agent's calls against a sandbox.

    Args:
        domain: the domain name (``"retail"``).
        tools: every agent tool of the domain.
        owner: the name of tau2's tool class (``"RetailTools"``), which tau2's messages for a
            call with missing or unexpected arguments start with.
    """

    def __init__(self, domain: str, tools: Sequence[Tool], owner: str) -> None:
        self.domain = domain
        self.owner = owner
        self.tools: dict[str, Tool] = {t.name: t for t in tools}
        if len(self.tools) != len(tools):
            raise ConfigError(f"{domain}: two tools share a name")

    @property
    def names(self) -> list[str]:
        """Tool names in declaration order."""
        return list(self.tools)

    def is_write(self, name: str) -> bool:
        """Whether ``name`` is a tool that may change the world (False for unknown names)."""
        tool = self.tools.get(name)
        return tool is not None and tool.kind is ToolKind.WRITE

    def openai_tools(self, tau2_dir: str | Path | None = None) -> list[dict[str, Any]]:
        """The ``tools=[...]`` list to send to a model.

        Args:
            tau2_dir: a tau2 data directory holding ``<domain>/tool_schemas.json``; when given,
                tau2's exact tool text is used, so data made for tau2 shows the model the very
                schemas tau2 shows at evaluation.
        """
        if tau2_dir is None:
            return [t.openai_schema() for t in self.tools.values()]
        path = Path(tau2_dir) / self.domain / "tool_schemas.json"
        try:
            schemas: list[dict[str, Any]] = json.loads(path.read_bytes())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read tau2 tool schemas from {path}: {exc}") from exc
        names = {s["function"]["name"] for s in schemas}
        if names != set(self.tools):
            raise ConfigError(f"{path} lists tools {sorted(names)}, expected {sorted(self.tools)}")
        return schemas

    def execute(self, sandbox: Sandbox, name: str, arguments: str | Mapping[str, Any]) -> ToolResult:
        """Run one tool call; never raises for anything the caller sent.

        Args:
            sandbox: the episode's world.
            name: the tool name the agent asked for.
            arguments: the arguments, as the JSON text a model emits or already decoded.
        """
        try:
            return ToolResult(content=render(self._run(sandbox, name, arguments)))
        except _Failed as failed:
            return ToolResult(content=str(failed), error=True)
        except Exception as exc:  # a result that cannot be rendered is a bug in its tool, reported alike
            return ToolResult(content=f"Error: {exc}", error=True)

    def replay(self, sandbox: Sandbox, name: str, arguments: str | Mapping[str, Any]) -> str | None:
        """Run one tool call for its effect on ``sandbox`` alone: the error text, or None.

        Verifiers replay writes whose output nobody reads; rendering it took a fifth of their time.
        """
        try:
            self._run(sandbox, name, arguments)
        except _Failed as failed:
            return str(failed)
        return None

    def _run(self, sandbox: Sandbox, name: str, arguments: str | Mapping[str, Any]) -> object:
        tool = self.tools.get(name)
        if tool is None:
            raise _Failed(f"Error: Tool '{name}' not found.")
        try:
            return tool.run(sandbox, **self._arguments(tool, arguments))
        except Exception as exc:  # argument errors and bugs in a tool alike: tau2 reports both this way
            raise _Failed(f"Error: {exc}") from None
        finally:
            sandbox.flush()

    def _arguments(self, tool: Tool, arguments: str | Mapping[str, Any]) -> dict[str, Any]:
        if isinstance(arguments, str):
            try:
                arguments = _loads(arguments) if arguments.strip() else {}
            except ValueError as exc:
                raise ToolCallError(f"arguments are not valid JSON: {exc}") from None
        if not isinstance(arguments, Mapping):
            raise ToolCallError(f"arguments must be a JSON object, got {_type_name(arguments)}")
        properties: Mapping[str, Any] = tool.parameters.get("properties", {})
        # tau2 passes arguments straight to a Python method, so a wrong name or a missing
        # argument produces Python's own TypeError text; we say the same words.
        extra = [k for k in arguments if k not in properties]
        if extra:
            raise ToolCallError(f"{self.owner}.{tool.name}() got an unexpected keyword argument '{extra[0]}'")
        missing = [k for k in tool.parameters.get("required", ()) if k not in arguments]
        if missing:
            quoted = [f"'{m}'" for m in missing]
            listed = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]
            plural = "argument" if len(missing) == 1 else "arguments"
            raise ToolCallError(
                f"{self.owner}.{tool.name}() missing {len(missing)} required positional {plural}: {listed}"
            )
        return {k: _check(v, properties[k], k) for k, v in arguments.items()}
