"""``cove-async bench``: the benchmark scenarios, as tables, JSON, a markdown report and plots."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path
from typing import Any

import msgspec
import structlog

from cove_async._runtime import tune_gc
from cove_async.bench import (
    MATPLOTLIB_MISSING,
    QUICK,
    SCENARIOS,
    ScenarioReport,
    markdown_report,
    matplotlib_available,
    run_scenario,
    terminal_text,
    write_plots,
)
from cove_async.cli._common import UsageError
from cove_async.domains import DOMAIN_NAMES

__all__ = ("register",)

log = structlog.get_logger()

_BUDGETS = {"core": 900.0, "http": 900.0, "latency": 1200.0, "components": 300.0, "daemon": 300.0, "target": 1200.0}
"""Default time budget of each scenario, in seconds (``--max-seconds`` overrides)."""

ALL = ("core", "http", "latency", "components", "daemon")
"""What ``bench all`` runs (``target`` needs the user's servers)."""


def _ints(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected whole numbers separated by commas, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected numbers >= 1, got {text!r}")
    return values


def _words(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _given(args: argparse.Namespace, mapping: dict[str, str]) -> dict[str, Any]:
    """Settings from the flags the user gave (``None`` means not given)."""
    return {field: getattr(args, flag) for flag, field in mapping.items() if getattr(args, flag, None) is not None}


def _core(args: argparse.Namespace) -> dict[str, Any]:
    given = _given(
        args,
        {
            "domains": "domains",
            "episodes": "episodes",
            "warmup_episodes": "warmup_episodes",
            "repetitions": "repetitions",
            "concurrency": "concurrency",
            "loops": "loops",
            "players": "players",
        },
    )
    if args.no_pin:
        given["cpu"] = None
    elif args.cpu is not None:
        given["cpu"] = args.cpu
    return given


def _http(args: argparse.Namespace) -> dict[str, Any]:
    given = _given(
        args,
        {
            "levels": "levels",
            "rounds": "rounds",
            "clients": "clients",
            "episode_levels": "episode_levels",
            "window": "episode_window_s",
            "domain": "domain",
            "tasks": "tasks",
            "fault_episodes": "fault_episodes",
            "players": "players",
        },
    )
    if args.full:
        given["levels"] = (*given.get("levels", (64, 512, 2048)), 4096)
    if args.faults:
        given["faults"] = True
    return given


def _latency(args: argparse.Namespace) -> dict[str, Any]:
    given = _given(
        args,
        {
            "levels": "levels",
            "latency_s": "fixed_latency_s",
            "max_running": "max_running",
            "window": "window_s",
            "warmup": "warmup_s",
            "stagger": "stagger_s",
            "domain": "domain",
            "tasks": "tasks",
            "gc_threshold": "gc_threshold",
            "players": "players",
            "batch_slowdown": "batch_slowdown",
        },
    )
    if args.gpu:
        given["fixed_latency_s"] = None
    if args.ttft_ms is not None:
        given["ttft_s"] = args.ttft_ms / 1000
    if args.tpot_ms is not None:
        given["per_token_s"] = args.tpot_ms / 1000
    return given


def _components(args: argparse.Namespace) -> dict[str, Any]:
    return _given(args, {"rounds": "rounds", "records": "records", "domains": "domains"})


def _daemon(args: argparse.Namespace) -> dict[str, Any]:
    return _given(
        args,
        {
            "tasks": "tasks",
            "samples_per_task": "samples_per_task",
            "repetitions": "repetitions",
            "domain": "domain",
            "players": "players",
        },
    )


def _target(args: argparse.Namespace) -> dict[str, Any]:
    given = _given(
        args,
        {
            "model": "model",
            "user_model": "user_model",
            "domain": "domain",
            "tasks": "tasks",
            "start": "start",
            "max_concurrency": "max_concurrency",
            "window": "window_s",
            "warmup": "warmup_s",
        },
    )
    given["urls"] = tuple(args.urls)
    given["user_urls"] = tuple(args.user_url or ())
    return given


_FLAGS = {
    "core": _core,
    "http": _http,
    "latency": _latency,
    "components": _components,
    "daemon": _daemon,
    "target": _target,
}


def _params(name: str, args: argparse.Namespace, *, from_flags: bool = True) -> msgspec.Struct:
    params_type, _ = SCENARIOS[name]
    values: dict[str, Any] = dict(QUICK[name]) if args.quick else {}
    if name == "http" and args.command_name == "all":
        values["faults"] = True
    if from_flags:
        values.update(_FLAGS[name](args))
    try:
        return msgspec.convert(values, params_type)
    except (msgspec.ValidationError, ValueError) as exc:
        raise UsageError(f"bench {name}: {exc}") from None


def _emit(reports: list[ScenarioReport], args: argparse.Namespace) -> None:
    plots: list[str] = []
    if args.plots is not None:
        if matplotlib_available():
            plots = write_plots(reports, args.plots)
            log.info("bench_plots_written", directory=str(args.plots), files=plots)
        else:
            sys.stderr.write(MATPLOTLIB_MISSING + "\n")
    if args.report is not None:
        command = "cove-async " + shlex.join(sys.argv[1:])
        relative = [os.path.relpath(args.plots / name, args.report.parent) for name in plots]
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(markdown_report(reports, command=command, plots=relative))
        log.info("bench_report_written", path=str(args.report))
    if args.json:
        body: Any = reports[0] if len(reports) == 1 else {"reports": reports}
        sys.stdout.write(msgspec.json.encode(body).decode() + "\n")
    else:
        sys.stdout.write(terminal_text(reports))


def _run(args: argparse.Namespace) -> None:
    tune_gc()  # measure the engine as the long-running commands run it
    names = ALL if args.command_name == "all" else (args.command_name,)
    reports = []
    for name in names:
        params = _params(name, args, from_flags=args.command_name != "all")
        budget = args.max_seconds if args.max_seconds is not None else _BUDGETS[name]
        reports.append(run_scenario(name, params, max_seconds=budget))
    _emit(reports, args)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the results as one JSON object")
    parser.add_argument("--report", type=Path, metavar="FILE.md", help="also write a markdown report")
    parser.add_argument("--plots", type=Path, metavar="DIR", help="also write PNG plots (needs matplotlib)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, seconds: checks that it runs, not how fast")
    parser.add_argument("--max-seconds", type=float, help="time budget per scenario (measurements past it are skipped)")


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``bench`` and its scenarios to the command line."""
    bench = commands.add_parser("bench", help="benchmarks: trajectories per second, CPU, latency, memory")
    scenarios = bench.add_subparsers(dest="command_name", required=True, metavar="SCENARIO")
    choices = ("auto", "scripted", "oracle")
    who = "who plays (auto: scripted when installed)"

    core = scenarios.add_parser("core", help="in-process engine: trajectories/s and CPU per trajectory by phase")
    _common(core)
    core.add_argument("--domains", type=_words, help=f"comma-separated, among {', '.join(DOMAIN_NAMES)}")
    core.add_argument("--episodes", type=int, help="episodes per timed run (default 2000)")
    core.add_argument("--warmup-episodes", type=int, help="episodes of the untimed first run (default 300)")
    core.add_argument("--repetitions", type=int, help="timed runs per domain and loop (default 3)")
    core.add_argument("--concurrency", type=int, help="episodes in flight (default 1000)")
    core.add_argument("--loops", type=_words, help="event loops to compare (default uvloop,asyncio)")
    core.add_argument("--cpu", type=int, help="the CPU to pin to (default 0)")
    core.add_argument("--no-pin", action="store_true", help="do not pin the process to one CPU")
    core.add_argument("--players", choices=choices, help=who)

    http = scenarios.add_parser("http", help="LLM path at zero latency: clients, episodes over HTTP, fault drill")
    _common(http)
    http.add_argument("--levels", type=_ints, help="requests in flight for the clients (default 64,512,2048)")
    http.add_argument("--full", action="store_true", help="add 4096 in flight")
    http.add_argument("--rounds", type=int, help="rounds of the cove/bare trio per level (default 3)")
    http.add_argument(
        "--clients", type=_words, help="among http1,aiohttp,cove,httpx,httpx-sharded,httpx2 (default all)"
    )
    http.add_argument("--episode-levels", type=_ints, help="episodes in flight over HTTP (default 64,512,2048)")
    http.add_argument("--window", type=float, help="seconds per episode level (default 8)")
    http.add_argument("--domain", choices=DOMAIN_NAMES)
    http.add_argument("--tasks", type=int, help="tasks sampled and cycled (default 200)")
    http.add_argument("--faults", action="store_true", help="also run the fault drill (5%% 5xx, 1%% malformed)")
    http.add_argument("--fault-episodes", type=int, help="episodes in the fault drill (default 500)")
    http.add_argument("--players", choices=choices, help=who)

    latency = scenarios.add_parser("latency", help="thousands of episodes against simulated GPU latency")
    _common(latency)
    latency.add_argument("--levels", type=_ints, help="episodes in flight (default 1000,2000,5000,10000)")
    latency.add_argument("--latency-s", type=float, help="fixed latency per request (default 1.0)")
    latency.add_argument("--gpu", action="store_true", help="a GPU-like model instead: TTFT, per-token time, batching")
    latency.add_argument("--ttft-ms", type=float, help="GPU model: time to first token (default 100)")
    latency.add_argument("--tpot-ms", type=float, help="GPU model: time per output token (default 20)")
    latency.add_argument("--batch-slowdown", type=float, help="GPU model: per-token slowdown per running request")
    latency.add_argument("--max-running", type=int, help="requests the server runs at once (default 20000)")
    latency.add_argument("--window", type=float, help="seconds per level (default 20)")
    latency.add_argument("--warmup", type=float, help="seconds of warm-up after the staggered start (default 5)")
    latency.add_argument("--stagger", type=float, help="spread the first turns over this many seconds")
    latency.add_argument("--domain", choices=DOMAIN_NAMES)
    latency.add_argument("--tasks", type=int, help="tasks sampled and cycled (default 200)")
    latency.add_argument("--gc-threshold", type=int, help="diagnostic: gc.set_threshold(N, 50, 1000) for the run")
    latency.add_argument(
        "--players", choices=("auto", "scripted", "oracle"), help="who plays in the server (default oracle)"
    )

    components = scenarios.add_parser("components", help="sandboxes, sampler, verifier, output writers")
    _common(components)
    components.add_argument("--rounds", type=int, help="interleaved rounds (default 5)")
    components.add_argument("--records", type=int, help="trajectory records written (default 2000)")
    components.add_argument("--domains", type=_words, help="domains for the sampler and verifier")

    daemon = scenarios.add_parser("daemon", help="trajectories streamed through the rollout daemon")
    _common(daemon)
    daemon.add_argument("--tasks", type=int, help="tasks per job (default 500)")
    daemon.add_argument("--samples-per-task", type=int, help="GRPO group size (default 4)")
    daemon.add_argument("--repetitions", type=int, help="timed jobs (default 3)")
    daemon.add_argument("--domain", choices=DOMAIN_NAMES)
    daemon.add_argument("--players", choices=("scripted", "oracle"), help="who plays in the daemon")

    target = scenarios.add_parser("target", help="your OpenAI-compatible servers, ramped to saturation")
    _common(target)
    target.add_argument("urls", nargs="+", metavar="URL", help="base URLs of the agent model's servers")
    target.add_argument("--model", required=True, help="the model name to ask for")
    target.add_argument("--user-url", action="append", help="a server for the user simulator (default: scripted)")
    target.add_argument("--user-model", help="the user simulator's model name")
    target.add_argument("--domain", choices=DOMAIN_NAMES)
    target.add_argument("--tasks", type=int, help="tasks sampled and cycled (default 200)")
    target.add_argument("--start", type=int, help="episodes in flight at the first step (default 8)")
    target.add_argument("--max-concurrency", type=int, help="the last step at the latest (default 4096)")
    target.add_argument("--window", type=float, help="seconds per step (default 15)")
    target.add_argument("--warmup", type=float, help="warm-up per step (default 5)")

    every = scenarios.add_parser("all", help=f"every scenario but target ({', '.join(ALL)}), at default sizes")
    _common(every)
    for parser in (core, http, latency, components, daemon, target, every):
        parser.set_defaults(run=_run)
