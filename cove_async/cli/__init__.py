"""The ``cove-async`` command line.

Every command reports a bad flag or bad input as one clear line on stderr and exit code 2;
results go to stdout (a table for people, ``--json`` for programs), logs to stderr. Each
command lives in its own module with a ``register(commands)`` function that adds its parser
and sets ``run`` (returning None or an exit code).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from cove_async._logging import configure_logging
from cove_async.cli import _bench, _generate, _mockllm, _serve, _worlds
from cove_async.errors import CoveError

__all__ = ("main",)

_COMMANDS = (_worlds, _generate, _mockllm, _serve, _bench)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cove-async", description="Verified tool-use trajectories and exact rewards (CoVe), at scale."
    )
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    commands = parser.add_subparsers(dest="command", required=True)
    for module in _COMMANDS:
        module.register(commands)
    return parser


def _unwrapped(run: Callable[[argparse.Namespace], int | None], args: argparse.Namespace) -> int | None:
    """Run a command; a task group's group of one expected error becomes that error."""
    try:
        return run(args)
    except BaseExceptionGroup as group:
        leaves = _leaves(group)
        if len(leaves) == 1 and isinstance(leaves[0], CoveError | OSError):
            raise leaves[0] from None
        raise


def _leaves(error: BaseException) -> list[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in _leaves(inner)]
    return [error]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    args = _parser().parse_args(argv)
    configure_logging(level=args.log_level)
    try:
        code: int | None = _unwrapped(args.run, args)
    except CoveError as exc:
        sys.stderr.write(f"cove-async: error: {exc}\n")
        return 2
    except OSError as exc:
        sys.stderr.write(f"cove-async: error: {exc.filename or ''}: {exc.strerror}\n")
        return 2
    return code or 0
