"""``cove-async serve``: the rollout daemon for RL trainers (see :mod:`cove_async.daemon`)."""

from __future__ import annotations

import argparse
import os
import signal
from functools import partial
from pathlib import Path

import anyio
import structlog

from cove_async._runtime import tune_gc
from cove_async.daemon import DaemonConfig, serve_daemon
from cove_async.errors import ConfigError

__all__ = ("register",)

log = structlog.get_logger()

TOKEN_ENV = "COVE_DAEMON_TOKEN"
"""The environment variable the token is read from when ``--token`` is not given."""


def _config(args: argparse.Namespace) -> DaemonConfig:
    try:
        return DaemonConfig(
            state_dir=args.state_dir,
            host=args.host,
            port=args.port,
            token=args.token or os.environ.get(TOKEN_ENV) or None,
            concurrency=args.concurrency,
            max_request_bytes=args.max_request_bytes,
            max_job_episodes=args.max_job_episodes,
            max_samples_per_task=args.max_samples_per_task,
            max_active_jobs=args.max_active_jobs,
            tau2_dir=args.tau2_dir,
            scrape=tuple(args.scrape),
            scrape_interval_s=args.scrape_interval,
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


async def _main(config: DaemonConfig) -> None:
    async with anyio.create_task_group() as tg:

        async def on_signals() -> None:
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for signum in signals:
                    # Jobs in flight are dropped, not lost: the next daemon on this state
                    # directory runs them again and streams resume from their cursors.
                    log.warning("daemon_stopping", signal=signal.Signals(signum).name)
                    tg.cancel_scope.cancel()
                    return

        tg.start_soon(on_signals)
        await serve_daemon(config)


def _cmd_serve(args: argparse.Namespace) -> None:
    config = _config(args)
    tune_gc()
    anyio.run(partial(_main, config), backend="asyncio", backend_options={"use_uvloop": args.uvloop})


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``serve`` to the command line."""
    serve = commands.add_parser("serve", help="run the rollout daemon: jobs over HTTP, results streamed (NDJSON)")
    serve.add_argument("--state-dir", type=Path, required=True, help="where jobs and results live (resumed on start)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind; anything but loopback needs --token")
    serve.add_argument("--port", type=int, default=8321)
    serve.add_argument("--token", help=f"bearer token every request must carry (default: ${TOKEN_ENV})")
    serve.add_argument("--concurrency", type=int, default=1000, help="episodes in flight across all jobs")
    serve.add_argument("--max-request-bytes", type=int, default=16 * 1024 * 1024, help="largest request body")
    serve.add_argument("--max-job-episodes", type=int, default=1_000_000, help="most tasks x samples per job")
    serve.add_argument("--max-samples-per-task", type=int, default=1024, help="largest GRPO group")
    serve.add_argument("--max-active-jobs", type=int, default=64, help="unfinished jobs at once")
    serve.add_argument("--tau2-dir", type=Path, help="tau2's data folder, for tasks set in tau2's world")
    serve.add_argument(
        "--scrape", action="append", default=[], metavar="URL", help="also re-export this server's /metrics"
    )
    serve.add_argument("--scrape-interval", type=float, default=5.0, help="seconds between scrapes (0: off)")
    serve.add_argument("--no-uvloop", dest="uvloop", action="store_false", help="plain asyncio event loop")
    serve.set_defaults(run=_cmd_serve)
