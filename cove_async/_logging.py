"""Logging set-up, done once by the entry points (the CLI, the daemon), never by library code."""

from __future__ import annotations

import logging
import sys

import structlog

__all__ = ("configure_logging",)


def configure_logging(*, level: str = "info", json: bool | None = None) -> None:
    """Send structlog events to stderr: JSON lines unless stderr is a terminal.

    Args:
        level: the lowest level logged (``debug``, ``info``, ``warning``, ``error``).
        json: force JSON (True) or console rendering (False); None picks by ``isatty``.
    """
    if json is None:
        json = not sys.stderr.isatty()
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level.upper()]),
        logger_factory=_current_stderr,
        # Not cached: a cached logger keeps the stderr it first saw, which breaks whenever
        # stderr is replaced (tests, a daemon redirecting output). We log a line per episode,
        # not per turn, so the few microseconds do not matter.
        cache_logger_on_first_use=False,
    )


def _current_stderr(*_args: object) -> structlog.PrintLogger:
    return structlog.PrintLogger(file=sys.stderr)
