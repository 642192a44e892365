"""Running a scenario: its settings, its time budget, and the report that carries the machine facts."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import msgspec
import structlog

from cove_async.bench._common import Budget, ScenarioReport, machine_facts, now_iso
from cove_async.bench._components import ComponentsParams, run_components
from cove_async.bench._core import CoreParams, run_core
from cove_async.bench._daemon import DaemonParams, run_daemon
from cove_async.bench._http import HttpParams, run_http
from cove_async.bench._latency import LatencyParams, run_latency
from cove_async.bench._target import TargetParams, run_target

__all__ = ("SCENARIOS", "QUICK", "run_scenario")

log = structlog.get_logger()

Params = CoreParams | HttpParams | LatencyParams | ComponentsParams | DaemonParams | TargetParams

SCENARIOS: dict[str, tuple[type[msgspec.Struct], Callable[[Any, Budget], tuple[Any, list[str]]]]] = {
    "core": (CoreParams, run_core),
    "http": (HttpParams, run_http),
    "latency": (LatencyParams, run_latency),
    "components": (ComponentsParams, run_components),
    "daemon": (DaemonParams, run_daemon),
    "target": (TargetParams, run_target),
}
"""Every scenario: its settings type and the function that measures it."""

QUICK: dict[str, dict[str, Any]] = {
    "core": {"episodes": 60, "warmup_episodes": 20, "repetitions": 1, "concurrency": 32},
    "http": {
        "levels": (8,),
        "rounds": 1,
        "clients": ("http1", "aiohttp", "cove"),
        "client_warmup_s": 0.2,
        "client_window_s": 0.5,
        "episode_levels": (8,),
        "episode_warmup_s": 0.5,
        "episode_window_s": 1.0,
        "tasks": 10,
        "fault_episodes": 40,
        "fault_concurrency": 16,
    },
    "latency": {
        "levels": (20,),
        "fixed_latency_s": 0.05,
        "stagger_s": 0.2,
        "warmup_s": 0.3,
        "window_s": 1.0,
        "tasks": 10,
    },
    "components": {"rounds": 1, "sampler_tasks": 20, "verifier_tasks": 10, "records": 64},
    "daemon": {"tasks": 10, "samples_per_task": 2, "repetitions": 1, "warmup_tasks": 0, "concurrency": 32},
    "target": {"start": 4, "max_concurrency": 8, "warmup_s": 0.3, "window_s": 0.7, "tasks": 10},
}
"""Tiny sizes for a smoke run (seconds per scenario): they check that it runs, not how fast."""


def run_scenario(name: str, params: msgspec.Struct, *, max_seconds: float | None) -> ScenarioReport:
    """Run one scenario (blocking) and wrap its results with the machine facts and its duration.

    Args:
        name: a key of :data:`SCENARIOS`.
        params: that scenario's settings.
        max_seconds: the time budget (None: none); measurements it leaves out are noted.
    """
    _, measure = SCENARIOS[name]
    machine = machine_facts()
    started_at = now_iso()
    budget = Budget(max_seconds)
    log.info("bench_scenario_started", scenario=name)
    started = time.perf_counter()
    results, notes = measure(params, budget)
    duration = time.perf_counter() - started
    log.info("bench_scenario_finished", scenario=name, seconds=round(duration, 1))
    return ScenarioReport(
        scenario=name,
        machine=machine,
        params=msgspec.to_builtins(params),
        started_at=started_at,
        duration_s=round(duration, 1),
        truncated=budget.truncated,
        notes=notes,
        results=results,
    )
