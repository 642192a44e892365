"""The two tools every tau2 domain has that touch no records: ``calculate`` and the human hand-off.

Both domains list them with the same arguments and outputs, so they are defined once here and
each domain puts :data:`CALCULATE` and :data:`TRANSFER_TO_HUMAN_AGENTS` in its toolset.

tau2's ``calculate`` checks the characters of the expression and then hands it to Python's
``eval``. We evaluate the same syntax tree ourselves with the same operators, so results and
error texts are the same, with one difference on purpose: an integer power whose result would
exceed :data:`MAX_POWER_BITS` is refused instead of computed, because ``9**9**9**9`` would
otherwise hold the event loop for hours. Such a result could never be rendered as a float anyway,
so the refusal uses the words tau2 would show when converting it.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from typing import Any

from cove_async.domains._tools import Tool, ToolKind
from cove_async.sandbox import Sandbox

__all__ = ("CALCULATE", "MAX_POWER_BITS", "TRANSFER_TO_HUMAN_AGENTS", "calculate")

_ALLOWED = frozenset("0123456789+-*/(). ")

MAX_POWER_BITS = 100_000
"""The largest integer power (in bits) that :func:`calculate` computes."""

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}


def _power(base: Any, exponent: Any) -> Any:
    if (
        type(base) is int
        and type(exponent) is int
        and exponent > 0
        and abs(base) > 1
        and (abs(base).bit_length() - 1) * exponent > MAX_POWER_BITS
    ):
        raise OverflowError("int too large to convert to float")
    return operator.pow(base, exponent)


def _evaluate(node: ast.AST) -> Any:
    """The value Python's ``eval`` gives ``node``, for the trees the allowed characters can spell."""
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant):
        return node.value  # a number, or the Ellipsis that "..." spells
    if isinstance(node, ast.BinOp):
        left = _evaluate(node.left)
        right = _evaluate(node.right)
        if isinstance(node.op, ast.Pow):
            return _power(left, right)
        return _BINARY[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp):
        return _UNARY[type(node.op)](_evaluate(node.operand))
    if isinstance(node, ast.Tuple):
        return tuple(_evaluate(element) for element in node.elts)
    if isinstance(node, ast.Call):
        # "(2)(3)": Python evaluates the callee and the arguments before failing the call.
        callee = _evaluate(node.func)
        for argument in node.args:
            if isinstance(argument, ast.Starred):
                unpacked = _evaluate(argument.value)
                if not isinstance(unpacked, tuple):
                    raise TypeError(f"{callee} argument after * must be an iterable, not {type(unpacked).__name__}")
            else:
                _evaluate(argument)
        for keyword in node.keywords:  # only "**x" can be spelled without letters
            merged = _evaluate(keyword.value)
            raise TypeError(f"{callee} argument after ** must be a mapping, not {type(merged).__name__}")
        raise TypeError(f"'{type(callee).__name__}' object is not callable")
    raise ValueError(f"unsupported expression element {type(node).__name__}")


def calculate(expression: str) -> str:
    """Evaluate an arithmetic expression and round the result to two decimals, as tau2 does.

    Args:
        expression: digits, ``+ - * / ( ) .`` and spaces only.

    Returns:
        ``str(round(float(value), 2))``, e.g. ``"4.0"`` for ``"2 + 2"``.

    Raises:
        ValueError: the expression holds another character ("Invalid characters in expression").
        SyntaxError, ZeroDivisionError, OverflowError, TypeError: as Python's ``eval`` would.
    """
    if not _ALLOWED.issuperset(expression):
        raise ValueError("Invalid characters in expression")
    # eval() drops leading blanks before parsing a string; compile() does not.
    tree = compile(expression.lstrip(" "), "<string>", "eval", ast.PyCF_ONLY_AST)
    return str(round(float(_evaluate(tree)), 2))


def _run_calculate(sandbox: Sandbox, expression: str) -> str:
    return calculate(expression)


def _run_transfer(sandbox: Sandbox, summary: str) -> str:
    return "Transfer successful"


CALCULATE = Tool(
    name="calculate",
    kind=ToolKind.GENERIC,
    description=(
        "Evaluate an arithmetic expression and return the result rounded to two decimal places. "
        "Use it for any sum, difference or price arithmetic instead of working it out by hand."
    ),
    parameters={
        "type": "object",
        "properties": {
            "expression": {
                "type": "string",
                "description": (
                    "The expression, e.g. '(1299.99 - 1149.5) * 2'. Only digits, + - * /, "
                    "parentheses, decimal points and spaces are accepted."
                ),
            }
        },
        "required": ["expression"],
    },
    run=_run_calculate,
)
"""tau2's ``calculate`` tool (the same in every domain)."""

TRANSFER_TO_HUMAN_AGENTS = Tool(
    name="transfer_to_human_agents",
    kind=ToolKind.GENERIC,
    description=(
        "Hand the conversation over to a human agent, passing a summary of the customer's issue. "
        "Use it only when the customer explicitly asks for a human, or when the policy and the "
        "other tools leave no way to resolve the request."
    ),
    parameters={
        "type": "object",
        "properties": {
            "summary": {"type": "string", "description": "A short account of the customer's issue and what was tried."}
        },
        "required": ["summary"],
    },
    run=_run_transfer,
)
"""tau2's ``transfer_to_human_agents`` tool (the same in every domain)."""
