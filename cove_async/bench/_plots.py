"""Plots of benchmark results (matplotlib, optional: ``pip install 'cove-async[bench]'``).

One PNG per figure, each drawn only when the scenarios run hold its data:

- ``http_clients_requests_per_s.png``, ``http_clients_cpu_per_request.png``: the HTTP clients
  against the number of requests in flight;
- ``throughput_vs_concurrency.png``: trajectories per second against episodes in flight (over
  HTTP at zero latency, against simulated GPU latency with its Little's-law bound, and a user's
  servers);
- ``latency_percentiles.png``: LLM latency (p50, p90, p99) and event-loop lag (p99) against
  episodes in flight;
- ``core_phase_split.png``: in-process CPU per trajectory by phase, per domain and loop;
- ``memory_vs_live_episodes.png``: process memory and memory per episode against episodes in flight.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec

from cove_async.bench._common import ScenarioReport

__all__ = ("MATPLOTLIB_MISSING", "matplotlib_available", "write_plots")

MATPLOTLIB_MISSING = "plots skipped: matplotlib is not installed; pip install 'cove-async[bench]' (or matplotlib)"


def matplotlib_available() -> bool:
    """Whether matplotlib imports."""
    try:
        importlib.import_module("matplotlib")
    except ImportError:
        return False
    return True


def _pyplot() -> Any:
    # Imported by name: matplotlib is an optional extra, so the type checker may not have it.
    return importlib.import_module("matplotlib.pyplot")


def _results(reports: Sequence[ScenarioReport], scenario: str) -> dict[str, Any] | None:
    for report in reports:
        if report.scenario == scenario:
            out: dict[str, Any] = msgspec.to_builtins(report.results)
            return out
    return None


def write_plots(reports: Sequence[ScenarioReport], out_dir: Path) -> list[str]:
    """Write every figure the reports have data for into ``out_dir``; returns the file names.

    Raises:
        ImportError: matplotlib is not installed (callers print :data:`MATPLOTLIB_MISSING`).
    """
    importlib.import_module("matplotlib").use("Agg")  # files only, never a window
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    for draw in (_clients, _throughput, _percentiles, _phases, _memory):
        written.extend(draw(reports, out_dir))
    return written


def _log2_x(ax: Any) -> None:
    """A base-2 log x axis labelled with plain numbers (64, 512, 2,048), not powers."""
    ticker = importlib.import_module("matplotlib.ticker")
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:,.0f}"))


def _save(fig: Any, out_dir: Path, name: str) -> str:
    fig.tight_layout()
    fig.savefig(out_dir / name, dpi=120)
    _pyplot().close(fig)
    return name


def _clients(reports: Sequence[ScenarioReport], out_dir: Path) -> list[str]:
    plt = _pyplot()

    http = _results(reports, "http")
    if not http or not http["clients"]:
        return []
    by_client: dict[str, dict[int, list[dict[str, Any]]]] = {}
    for row in http["clients"]:
        if row["completed"]:
            by_client.setdefault(row["client"], {}).setdefault(row["in_flight"], []).append(row)
    written = []
    for key, label, name, log_y in (
        ("requests_per_s", "requests per second", "http_clients_requests_per_s.png", False),
        (
            "client_cpu_us_per_request",
            "client CPU per request (us, log scale)",
            "http_clients_cpu_per_request.png",
            True,
        ),
    ):
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for client, levels in sorted(by_client.items()):
            xs = sorted(levels)
            ys = [sorted(r[key] for r in levels[x])[len(levels[x]) // 2] for x in xs]
            ax.plot(xs, ys, marker="o", label=client)
        _log2_x(ax)
        if log_y:
            ax.set_yscale("log")
        ax.set_xlabel("requests in flight")
        ax.set_ylabel(label)
        ax.set_title("HTTP clients against the simulated server (zero latency)")
        ax.grid(True, alpha=0.3)
        ax.legend()
        written.append(_save(fig, out_dir, name))
    return written


def _series(reports: Sequence[ScenarioReport]) -> list[tuple[str, list[dict[str, Any]]]]:
    out = []
    http = _results(reports, "http")
    if http and http["episodes"]:
        out.append(("over HTTP, zero latency", http["episodes"]))
    latency = _results(reports, "latency")
    if latency and latency["windows"]:
        out.append(("simulated GPU latency", latency["windows"]))
    target = _results(reports, "target")
    if target and target["steps"]:
        out.append(("your servers", target["steps"]))
    return out


def _throughput(reports: Sequence[ScenarioReport], out_dir: Path) -> list[str]:
    plt = _pyplot()

    series = _series(reports)
    if not series:
        return []
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, windows in series:
        xs = [w["concurrency"] for w in windows]
        line = ax.plot(xs, [w["traj_per_s"] for w in windows], marker="o", label=label)[0]
        bounds = [w["nominal_bound_traj_per_s"] or w["bound_traj_per_s"] for w in windows]
        if any(b is not None for b in bounds):
            ax.plot(
                xs,
                [float("nan") if b is None else b for b in bounds],
                linestyle="--",
                color=line.get_color(),
                label=f"{label}: Little's-law bound",
            )
    _log2_x(ax)
    ax.set_xlabel("episodes in flight")
    ax.set_ylabel("verified trajectories per second")
    ax.set_title("Throughput against concurrency")
    ax.grid(True, alpha=0.3)
    ax.legend()
    return [_save(fig, out_dir, "throughput_vs_concurrency.png")]


def _percentiles(reports: Sequence[ScenarioReport], out_dir: Path) -> list[str]:
    plt = _pyplot()

    series = _series(reports)
    if not series:
        return []
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 7), sharex=True)
    for index, (label, windows) in enumerate(series):
        xs = [w["concurrency"] for w in windows]
        color = f"C{index}"
        for q, style in (("p50", "-"), ("p90", "--"), ("p99", ":")):
            top.plot(
                xs,
                [w["llm_latency_ms"][q] for w in windows],
                linestyle=style,
                marker="o",
                color=color,
                label=f"{label} {q}",
            )
        bottom.plot(xs, [w["loop_lag_ms"]["p99"] for w in windows], marker="o", color=color, label=f"{label} p99")
    top.set_ylabel("LLM request latency (ms)")
    top.set_title("Latency percentiles against concurrency")
    bottom.set_ylabel("event-loop lag p99 (ms)")
    bottom.axhline(50, color="grey", linestyle="--", linewidth=1, label="50 ms target")
    bottom.set_xlabel("episodes in flight")
    for ax in (top, bottom):
        _log2_x(ax)
        ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    return [_save(fig, out_dir, "latency_percentiles.png")]


def _phases(reports: Sequence[ScenarioReport], out_dir: Path) -> list[str]:
    plt = _pyplot()

    core = _results(reports, "core")
    if not core or not core["rows"]:
        return []
    rows = core["rows"]
    labels = [f"{r['domain']}\n{r['loop']}" for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    bottom = [0.0] * len(rows)
    for phase in ("policy", "tools_and_sandbox", "verifier", "sinks", "engine_other"):
        values = [max(r["phases"][phase], 0.0) for r in rows]
        ax.bar(labels, values, bottom=bottom, label=phase.replace("_", " "))
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_ylabel("CPU per trajectory (us)")
    ax.set_title("In-process engine: where a trajectory's CPU goes")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend()
    return [_save(fig, out_dir, "core_phase_split.png")]


def _memory(reports: Sequence[ScenarioReport], out_dir: Path) -> list[str]:
    plt = _pyplot()

    series = [(label, windows) for label, windows in _series(reports) if label != "your servers"]
    if not series:
        return []
    fig, ax = plt.subplots(figsize=(7, 4.5))
    per = ax.twinx()
    for label, windows in series:
        xs = [w["concurrency"] for w in windows]
        line = ax.plot(xs, [w["rss_mib"] for w in windows], marker="o", label=f"{label}: RSS")[0]
        per.plot(
            xs,
            [w["rss_per_episode_kib"] for w in windows],
            marker="s",
            linestyle="--",
            color=line.get_color(),
            label=f"{label}: per episode",
        )
    _log2_x(ax)
    ax.set_xlabel("episodes in flight")
    ax.set_ylabel("process RSS (MiB)")
    per.set_ylabel("memory per live episode (KiB, dashed)")
    ax.set_title("Memory against live episodes")
    ax.grid(True, alpha=0.3)
    handles = ax.get_legend_handles_labels()[0] + per.get_legend_handles_labels()[0]
    ax.legend(handles, [str(h.get_label()) for h in handles], fontsize=8)
    return [_save(fig, out_dir, "memory_vs_live_episodes.png")]
