"""The benchmark harness (``cove-async bench``): trajectories per second, on this machine and on yours.

Scenarios (each bounded in time, with warm-up, repetitions, medians and spreads, and the
machine's facts in every result):

- ``core``: the engine in-process with scripted players, no HTTP; CPU per trajectory by phase;
  uvloop against plain asyncio;
- ``http``: the LLM path against the simulated server at zero latency: cove's client against a
  bare POST and httpx/httpx2; episodes over HTTP; the fault drill;
- ``latency``: thousands of episodes in flight against simulated GPU latency, against the
  Little's-law bound; memory, event-loop lag, garbage collection;
- ``components``: sandboxes, sampler, verifier, output writers, each against its baseline;
- ``daemon``: trajectories streamed through the rollout daemon;
- ``target``: a user's own OpenAI-compatible servers, ramped to saturation.

Layering inside: ``_common`` (machine facts, clocks, budgets) → ``_players``, ``_server`` →
``_clients``, ``_episodes`` → one module per scenario → ``_run`` → ``_output``, ``_plots``.
"""

from cove_async.bench._common import BenchError, Machine, ScenarioReport, Spread, machine_facts
from cove_async.bench._components import ComponentsParams, ComponentsResults
from cove_async.bench._core import CoreParams, CoreResults, CoreRow
from cove_async.bench._daemon import DaemonParams, DaemonResults
from cove_async.bench._episodes import Window
from cove_async.bench._http import FaultDrill, HttpParams, HttpResults
from cove_async.bench._latency import LatencyParams, LatencyResults
from cove_async.bench._output import Section, markdown_report, sections, terminal_text
from cove_async.bench._plots import MATPLOTLIB_MISSING, matplotlib_available, write_plots
from cove_async.bench._run import QUICK, SCENARIOS, run_scenario
from cove_async.bench._target import TargetParams, TargetResults

__all__ = (
    "MATPLOTLIB_MISSING",
    "QUICK",
    "SCENARIOS",
    "BenchError",
    "ComponentsParams",
    "ComponentsResults",
    "CoreParams",
    "CoreResults",
    "CoreRow",
    "DaemonParams",
    "DaemonResults",
    "FaultDrill",
    "HttpParams",
    "HttpResults",
    "LatencyParams",
    "LatencyResults",
    "Machine",
    "ScenarioReport",
    "Section",
    "Spread",
    "TargetParams",
    "TargetResults",
    "Window",
    "machine_facts",
    "markdown_report",
    "matplotlib_available",
    "run_scenario",
    "sections",
    "terminal_text",
    "write_plots",
)
