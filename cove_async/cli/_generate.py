"""``cove-async tasks``, ``generate`` and ``export``: task files, the main job, training rows."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any, TextIO

import anyio
import msgspec
import structlog

from cove_async._runtime import tune_gc
from cove_async.cli._common import UsageError, write_table
from cove_async.domains import DOMAIN_NAMES, get_domain
from cove_async.engine import Caps
from cove_async.errors import ConfigError
from cove_async.run import (
    KNOB_NAMES,
    GenerateConfig,
    GenerateSummary,
    Generation,
    PolicySpec,
    generate,
    knobs_for,
    load_world,
    sample_tasks,
    write_tasks,
)
from cove_async.store import export

__all__ = ("register",)

log = structlog.get_logger()


def _knobs(args: argparse.Namespace) -> dict[str, Any]:
    knobs: dict[str, Any] = {name: getattr(args, name) for name in KNOB_NAMES if getattr(args, name) is not None}
    for pair in args.knob:
        name, sep, raw = pair.partition("=")
        if not sep:
            raise UsageError(f"--knob {pair!r}: expected NAME=VALUE")
        try:
            knobs[name] = json.loads(raw)
        except json.JSONDecodeError:
            knobs[name] = raw
    return knobs


def _cmd_tasks(args: argparse.Namespace) -> None:
    domain = get_domain(args.domain)
    knobs = knobs_for(domain.name, _knobs(args))
    started = time.perf_counter()
    snapshot = load_world(domain, args.world_seed)
    tasks = sample_tasks(
        domain.name, snapshot, n=args.n, seed=args.seed, world=f"synthetic:seed={args.world_seed}", knobs=knobs
    )
    count = write_tasks(tasks, args.out)
    elapsed = time.perf_counter() - started
    log.info("tasks_written", domain=domain.name, n=count, out=str(args.out), seconds=round(elapsed, 3))
    sys.stdout.write(json.dumps({"domain": domain.name, "tasks": count, "out": str(args.out)}) + "\n")


def _policy(value: str, model: str, args: argparse.Namespace) -> PolicySpec:
    if value == "scripted":
        return PolicySpec()
    urls = tuple(u for u in value.split(",") if u)
    for url in urls:
        if not url.startswith(("http://", "https://")):
            raise UsageError(f"{url!r} is neither 'scripted' nor an http(s) URL")
    if not model:
        raise UsageError(f"a server needs a model name: add --agent-model/--user-model for {value}")
    try:
        extra_body = json.loads(args.extra_body) if args.extra_body else {}
    except json.JSONDecodeError as exc:
        raise UsageError(f"--extra-body is not JSON: {exc}") from None
    if not isinstance(extra_body, dict):
        raise UsageError(f"--extra-body must be a JSON object, got {args.extra_body}")
    return PolicySpec(
        urls=urls,
        model=model,
        temperature=args.temperature,
        top_p=args.top_p,
        max_tokens=args.max_tokens,
        extra_body=extra_body,
        policy_version=args.policy_version,
        api_key=args.api_key,
    )


def _generate_config(args: argparse.Namespace) -> GenerateConfig:
    try:
        caps = Caps(timeout_s=args.episode_timeout) if args.episode_timeout else Caps()
        return GenerateConfig(
            domain=args.domain,
            out=args.out,
            tasks=args.tasks,
            samples_per_task=args.samples_per_task,
            seed=args.seed,
            world_seed=args.world_seed,
            tasks_file=args.tasks_file,
            knobs=_knobs(args),
            agent=_policy(args.agent, args.agent_model, args),
            user=_policy(args.user, args.user_model, args),
            fault_rate=args.fault_rate,
            caps=caps,
            concurrency=args.concurrency,
            metrics_port=args.metrics_port,
            metrics_host=args.metrics_host,
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


class _Progress:
    """A one-line progress bar on stderr: done, rate, pass rate, in flight."""

    def __init__(self, generation: Generation, stream: TextIO) -> None:
        self.generation = generation
        self.stream = stream
        self.live = stream.isatty()

    def line(self) -> str:
        stats = self.generation.statistics()
        if stats is None:
            return "sampling tasks..."
        total = self.generation.total
        passed = stats.perfect / stats.finished if stats.finished else 0.0
        return (
            f"{stats.finished}/{total} done  {stats.trajectories_per_s:,.0f} traj/s  "
            f"pass {passed:.1%}  in flight {stats.in_flight}"
        )

    async def run(self) -> None:
        # A terminal gets a bar redrawn in place; a log file gets a line every few seconds.
        interval = 0.5 if self.live else 5.0
        while True:
            await anyio.sleep(interval)
            self.stream.write(("\r" + self.line() + "\033[K") if self.live else self.line() + "\n")
            self.stream.flush()


async def _generate_main(config: GenerateConfig, progress: bool) -> GenerateSummary:
    generation = Generation()
    summary: GenerateSummary | None = None
    async with anyio.create_task_group() as tg:

        async def on_signals() -> None:
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for signum in signals:
                    if not generation.stopping:
                        log.warning(
                            "stopping", signal=signal.Signals(signum).name, detail="finishing episodes in flight"
                        )
                        generation.stop()
                    else:
                        log.warning(
                            "stopping_now", signal=signal.Signals(signum).name, detail="in-flight episodes dropped"
                        )
                        tg.cancel_scope.cancel()

        tg.start_soon(on_signals)
        bar = _Progress(generation, sys.stderr)
        if progress:
            tg.start_soon(bar.run)
        summary = await generate(config, generation=generation)
        if progress:
            sys.stderr.write(("\r" + bar.line() + "\033[K\n") if bar.live else "")
        tg.cancel_scope.cancel()
    if summary is None:
        raise ConfigError("stopped before the run could finish its current batch; run the same command to resume")
    return summary


def _cmd_generate(args: argparse.Namespace) -> int:
    config = _generate_config(args)
    progress = args.progress if args.progress is not None else sys.stderr.isatty()
    tune_gc()
    summary = anyio.run(
        partial(_generate_main, config, progress), backend="asyncio", backend_options={"use_uvloop": args.uvloop}
    )
    row = msgspec.to_builtins(summary)
    row["pass_rate"] = round(summary.pass_rate, 4)
    if args.json:
        sys.stdout.write(json.dumps(row) + "\n")
    else:
        write_table(row)
    return 0 if summary.remaining == 0 else 3


def _cmd_export(args: argparse.Namespace) -> None:
    count = 0
    out = args.out.open("w") if args.out else sys.stdout
    try:
        for row in export(args.run_dir, format=args.format, perfect_only=args.perfect_only):
            out.write(json.dumps(row) + "\n")
            count += 1
    finally:
        if out is not sys.stdout:
            out.close()
    log.info("exported", rows=count, format=args.format, perfect_only=args.perfect_only)


def _add_knobs(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--constraints", type=int, help="intents per task, at most (the domain's default otherwise)")
    parser.add_argument("--fuzziness", type=int, choices=range(4), help="0 = explicit ids .. 3 = vaguest")
    parser.add_argument("--refusal-rate", type=float, help="share of tasks carrying a request the policy forbids")
    parser.add_argument("--knob", action="append", default=[], metavar="NAME=VALUE", help="any other knob (JSON value)")


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``tasks``, ``generate`` and ``export`` to the command line."""
    tasks = commands.add_parser("tasks", help="sample tasks (solvable by construction) into a JSONL file")
    tasks.add_argument("--domain", choices=DOMAIN_NAMES, required=True)
    tasks.add_argument("--n", type=int, required=True, help="how many tasks")
    tasks.add_argument("--seed", type=int, default=0, help="the sampling seed: same seed, same file bytes")
    tasks.add_argument("--world-seed", type=int, default=0, help="the synthetic world's seed")
    tasks.add_argument("--out", type=Path, required=True)
    _add_knobs(tasks)
    tasks.set_defaults(run=_cmd_tasks)

    gen = commands.add_parser("generate", help="run episodes, verify them, write trajectories (resumable)")
    gen.add_argument("--domain", choices=DOMAIN_NAMES, required=True)
    gen.add_argument("--tasks", type=int, default=100, help="tasks to sample")
    gen.add_argument("--tasks-file", type=Path, help="play the tasks in this file instead of sampling")
    gen.add_argument("--samples-per-task", type=int, default=1, help="episodes per task (a GRPO group)")
    gen.add_argument("--concurrency", type=int, default=1000, help="episodes in flight at most")
    gen.add_argument("--agent", default="scripted", help="'scripted' or server URL(s), comma-separated")
    gen.add_argument("--user", default="scripted", help="'scripted' or server URL(s), comma-separated")
    gen.add_argument("--agent-model", default="", help="model name on the agent's server")
    gen.add_argument("--user-model", default="", help="model name on the user simulator's server")
    gen.add_argument("--temperature", type=float, default=0.0)
    gen.add_argument("--top-p", type=float)
    gen.add_argument("--max-tokens", type=int)
    gen.add_argument("--extra-body", help="JSON object of extra request fields, e.g. '{\"logprobs\": true}'")
    gen.add_argument("--policy-version", help="tag of the served weights, kept on every agent turn")
    gen.add_argument("--api-key", help="bearer token for the servers (not stored)")
    gen.add_argument("--out", type=Path, required=True, help="output directory (created; resumed if it holds the run)")
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--world-seed", type=int, default=0)
    gen.add_argument("--fault-rate", type=float, default=0.0, help="share of episodes the scripted agent spoils")
    gen.add_argument("--episode-timeout", type=float, help="seconds per episode (default 600)")
    gen.add_argument("--metrics-port", type=int, help="serve Prometheus metrics on this port")
    gen.add_argument("--metrics-host", default="127.0.0.1")
    gen.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None, help="default: on a terminal")
    gen.add_argument("--no-uvloop", dest="uvloop", action="store_false", help="plain asyncio event loop")
    gen.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    _add_knobs(gen)
    gen.set_defaults(run=_cmd_generate)

    exp = commands.add_parser("export", help="turn a run's trajectories into training rows (JSONL)")
    exp.add_argument("run_dir", type=Path, help="the --out directory of a generate run")
    exp.add_argument("--format", choices=("openai", "sharegpt"), default="openai")
    exp.add_argument("--perfect-only", action=argparse.BooleanOptionalAction, default=True)
    exp.add_argument("--out", type=Path, help="write here instead of stdout")
    exp.set_defaults(run=_cmd_export)
