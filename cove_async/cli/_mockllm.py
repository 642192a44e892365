"""``cove-async mock-llm``: the simulated OpenAI-compatible inference server, playing the scripted policies."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from functools import partial
from pathlib import Path

import anyio
import msgspec
import structlog

from cove_async._runtime import tune_gc
from cove_async.cli._common import UsageError
from cove_async.domains import DOMAIN_NAMES
from cove_async.errors import ConfigError, CoveError
from cove_async.metrics import serve_metrics
from cove_async.mockllm import DEFAULT_MODEL, DefaultResponder, FaultRates, LatencyModel, MockLLMServer, Responder
from cove_async.mockllm._scripted import scripted_responders
from cove_async.run import read_tasks

__all__ = ("register",)

log = structlog.get_logger()


class _Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the server needs, checked before the event loop starts."""

    host: str
    port: int
    latency: LatencyModel
    faults: FaultRates
    responders: dict[str, Responder]
    seed: int
    metrics_port: int | None
    metrics_host: str
    tasks: int


def _rate(flag: str, value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise UsageError(f"{flag} must be a share of requests between 0 and 1, got {value}")
    return value


def _settings(args: argparse.Namespace) -> _Settings:
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be between 0 and 65535 (0 picks a free one), got {args.port}")
    if args.metrics_port is not None and not 0 <= args.metrics_port <= 65535:
        raise UsageError(f"--metrics-port must be between 0 and 65535, got {args.metrics_port}")
    latency = LatencyModel(
        ttft_s=args.ttft_ms / 1000,
        per_token_s=args.tpot_ms / 1000,
        batch_slowdown=args.batch_slowdown,
        max_running=args.max_running,
    )
    share_5xx = _rate("--fault-5xx", args.fault_5xx)
    faults = FaultRates(
        # Half plain 500s, half 503s with Retry-After: both kinds a real server sends.
        error_500=share_5xx / 2,
        error_503=share_5xx / 2,
        error_429=_rate("--fault-429", args.fault_429),
        hang=_rate("--fault-hang", args.fault_hang),
        malformed_json=_rate("--fault-malformed", args.fault_malformed),
        bad_tool_arguments=_rate("--fault-bad-arguments", args.fault_bad_arguments),
        empty_choices=_rate("--fault-empty-choices", args.fault_empty_choices),
        retry_after_s=args.retry_after,
    )
    tasks = read_tasks(args.tasks) if args.tasks else []
    responders = scripted_responders(tasks, domain=args.domain, source=str(args.tasks or ""))
    responders[DEFAULT_MODEL] = DefaultResponder()
    return _Settings(
        host=args.host,
        port=args.port,
        latency=latency,
        faults=faults,
        responders=responders,
        seed=args.seed,
        metrics_port=args.metrics_port,
        metrics_host=args.metrics_host,
        tasks=len(tasks),
    )


async def _serve(settings: _Settings) -> None:
    server = MockLLMServer(
        latency=settings.latency, faults=settings.faults, responders=settings.responders, seed=settings.seed
    )
    async with anyio.create_task_group() as tg:
        # Listen for signals before announcing the server, so a stop sent right after the
        # announcement is never missed.
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            url = await tg.start(partial(server.run, host=settings.host, port=settings.port))
            metrics_port = None
            if settings.metrics_port is not None:
                metrics_port = await tg.start(
                    partial(serve_metrics, server.registry, host=settings.metrics_host, port=settings.metrics_port)
                )
            ready = {
                "url": url,
                "base_url": server.base_url,
                "models": list(server.models),
                "tasks": settings.tasks,
                "metrics_port": metrics_port,
            }
            sys.stdout.write(json.dumps(ready) + "\n")
            sys.stdout.flush()
            async for signum in signals:
                log.warning("stopping", signal=signal.Signals(signum).name, detail="finishing requests in progress")
                break
        tg.cancel_scope.cancel()


def _cmd_mock_llm(args: argparse.Namespace) -> int:
    try:
        settings = _settings(args)
    except ValueError as exc:  # a Struct's own range checks
        raise ConfigError(str(exc)) from None
    try:
        tune_gc()
        anyio.run(partial(_serve, settings), backend="asyncio", backend_options={"use_uvloop": args.uvloop})
    except ExceptionGroup as group:
        # A server that cannot start (the port is taken) fails inside the task group; report the
        # error itself, so the command line prints its one line.
        ours, others = group.split(CoveError)
        if ours is None or others is not None:
            raise
        raise _first(ours) from None
    return 0


def _first(group: BaseExceptionGroup[CoveError]) -> CoveError:
    error = group.exceptions[0]
    return _first(error) if isinstance(error, BaseExceptionGroup) else error


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``mock-llm`` to the command line."""
    mock = commands.add_parser(
        "mock-llm",
        help="serve the simulated OpenAI-compatible inference server (scripted-agent, scripted-user, mock)",
        description=(
            "A real OpenAI-compatible /v1/chat/completions server. Models: 'scripted-agent' (the "
            "domain's scripted agent), 'scripted-user' (the scripted user of the task named by the "
            "request's `user` field, from --tasks) and 'mock' (a task-free default). Prints one JSON "
            "line with its URL once it listens; stops gracefully on SIGINT or SIGTERM."
        ),
    )
    mock.add_argument("--host", default="127.0.0.1", help="address to bind (0.0.0.0 for every interface)")
    mock.add_argument("--port", type=int, default=8000, help="TCP port (0 picks a free one)")
    mock.add_argument("--tasks", type=Path, help="JSONL task file (from `cove-async tasks`) the scripted user plays")
    mock.add_argument("--domain", choices=DOMAIN_NAMES, help="fix the scripted agent's domain (default: from tools)")
    mock.add_argument("--ttft-ms", type=float, default=0.0, help="time to first token, milliseconds")
    mock.add_argument("--tpot-ms", type=float, default=0.0, help="time per further output token, milliseconds")
    mock.add_argument(
        "--batch-slowdown",
        type=float,
        default=0.0,
        help="per-token slowdown per other running request (0.01: 2x at 100)",
    )
    mock.add_argument("--max-running", type=int, default=256, help="requests decoded at once; the rest wait")
    mock.add_argument("--fault-5xx", type=float, default=0.0, metavar="R", help="share answered 500 or 503")
    mock.add_argument("--fault-429", type=float, default=0.0, metavar="R", help="share answered 429")
    mock.add_argument("--fault-malformed", type=float, default=0.0, metavar="R", help="share with a body cut in half")
    mock.add_argument("--fault-hang", type=float, default=0.0, metavar="R", help="share never answered")
    mock.add_argument(
        "--fault-bad-arguments",
        type=float,
        default=0.0,
        metavar="R",
        help="share with tool arguments that are not JSON",
    )
    mock.add_argument("--fault-empty-choices", type=float, default=0.0, metavar="R", help='share with "choices": []')
    mock.add_argument("--retry-after", type=float, default=1.0, help="Retry-After of 503 and 429 answers, seconds")
    mock.add_argument("--seed", type=int, default=0, help="seeds the fault draws and completion ids")
    mock.add_argument(
        "--metrics-port", type=int, help="also serve /metrics on this port (it is always on the main port too)"
    )
    mock.add_argument("--metrics-host", default="127.0.0.1")
    mock.add_argument("--no-uvloop", dest="uvloop", action="store_false", help="plain asyncio event loop")
    mock.set_defaults(run=_cmd_mock_llm)
