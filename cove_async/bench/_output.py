"""What people read: each scenario's results as tables, for the terminal and for a markdown report.

Each scenario's results become a few :class:`Section` objects (a title, column headers and
rows); :func:`terminal_text` aligns them in plain text and :func:`markdown_report` writes them
as markdown tables, with the machine, the settings and the notes of every scenario.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from cove_async.bench._common import Machine, ScenarioReport

__all__ = ("Section", "markdown_report", "sections", "terminal_text")


class Section(msgspec.Struct, frozen=True, kw_only=True):
    """One table of a scenario's results."""

    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.3g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _row(*values: Any) -> tuple[str, ...]:
    return tuple(_fmt(v) for v in values)


def _core(r: dict[str, Any]) -> list[Section]:
    rows = tuple(
        _row(
            x["domain"],
            x["loop"],
            x["players"],
            x["traj_per_s"],
            f"{_fmt(x['spread']['traj_per_s']['min'])}-{_fmt(x['spread']['traj_per_s']['max'])}",
            x["engine_cpu_us_per_traj"],
            *(x["phases"][p] for p in ("policy", "tools_and_sandbox", "verifier", "sinks", "engine_other")),
            x["gc_us_per_traj"],
            x["perfect_rate"],
        )
        for x in r["rows"]
    )
    speed = tuple(_row(domain, ratio) for domain, ratio in r["uvloop_speedup"].items())
    return [
        Section(
            title="In-process engine, one core: verified trajectories/s and CPU per trajectory (us), by phase",
            headers=(
                "domain",
                "loop",
                "players",
                "traj/s",
                "range",
                "CPU us/traj",
                "policy",
                "tools",
                "verifier",
                "sinks",
                "engine other",
                "GC",
                "perfect",
            ),
            rows=rows,
        ),
        Section(
            title="uvloop over plain asyncio (trajectories/s, paired runs)", headers=("domain", "speed-up"), rows=speed
        ),
    ]


def _window_rows(windows: Sequence[dict[str, Any]]) -> tuple[tuple[str, ...], ...]:
    return tuple(
        _row(
            w["concurrency"],
            w["traj_per_s"],
            w["llm_requests_per_s"],
            w["llm_calls_per_traj"],
            w["client_cpu_us_per_request"],
            w["client_cpu_share"],
            w["server_cpu_share"],
            w["llm_latency_ms"]["p50"],
            w["llm_latency_ms"]["p99"],
            w["throughput_ratio_to_nominal_bound"]
            if w["throughput_ratio_to_nominal_bound"] is not None
            else w["throughput_ratio_to_bound"],
            w["request_ratio_to_bound"],
            w["loop_lag_ms"]["p99"],
            w["gc_share"],
            w["rss_mib"],
            w["rss_per_episode_kib"],
            w["failed"],
        )
        for w in windows
    )


_WINDOW_HEADERS = (
    "in flight",
    "traj/s",
    "LLM req/s",
    "calls/traj",
    "client CPU us/req",
    "client CPU",
    "server CPU",
    "LLM p50 ms",
    "LLM p99 ms",
    "traj/bound",
    "req/bound",
    "lag p99 ms",
    "GC share",
    "RSS MiB",
    "KiB/episode",
    "failed",
)


def _http(r: dict[str, Any]) -> list[Section]:
    clients = tuple(
        _row(
            c["client"],
            c["in_flight"],
            c["round"],
            c["requests_per_s"],
            c["client_cpu_us_per_request"],
            c["latency_p50_ms"],
            c["latency_p99_ms"],
            c["errors"],
            c["note"],
        )
        for c in r["clients"]
    )
    levels = tuple(
        _row(
            x["in_flight"],
            x["client_cpu_us_per_request"],
            x["bare_client_cpu_us_per_request"],
            x["ratio"],
            x["fastest_client"],
            x["ratio_to_fastest"],
            x["requests_per_s"],
        )
        for x in r["levels"]
    )
    out = [
        Section(
            title=f"HTTP clients against the simulated server, zero latency (request body {r['request_body_bytes']} B)",
            headers=("client", "in flight", "round", "req/s", "CPU us/req", "p50 ms", "p99 ms", "errors", "note"),
            rows=clients,
        ),
        Section(
            title="cove's backend against a bare aiohttp POST of the same payload (medians of paired rounds)",
            headers=("in flight", "cove us/req", "bare us/req", "ratio", "fastest", "ratio to fastest", "cove req/s"),
            rows=levels,
        ),
    ]
    if r["episodes"]:
        out.append(
            Section(
                title=f"Engine episodes over HTTP, zero latency ({r['players']} players in the server)",
                headers=_WINDOW_HEADERS,
                rows=_window_rows(r["episodes"]),
            )
        )
    drill = r.get("fault_drill")
    if drill:
        out.append(_drill(drill))
    return out


def _drill(d: dict[str, Any]) -> Section:
    rows = [
        ("fault rates", ", ".join(f"{k} {v:g}" for k, v in d["fault_rates"].items())),
        (
            "episodes / outcomes / missing / duplicates",
            f"{d['episodes']} / {d['outcomes']} / {d['missing']} / {d['duplicates']}",
        ),
        (
            "finished / failed (with a reason)",
            f"{d['finished']} / {d['failed']} ({d['failed'] - d['failed_without_reason']})",
        ),
        ("terminations", ", ".join(f"{k} {v}" for k, v in d["terminations"].items())),
        ("failure reasons", ", ".join(f"{k} {v}" for k, v in d["failure_reasons"].items()) or "-"),
        ("server", f"requests {d['server']['requests']}, faults {d['server']['faults']}"),
        (
            "client",
            f"attempts {d['client']['attempts']}, retries {d['client']['retries_by_reason']}, "
            f"errors {d['client']['errors_by_reason']}",
        ),
        *((f"check: {k}", _fmt(v)) for k, v in d["checks"].items()),
        ("reconciled", _fmt(d["reconciled"])),
    ]
    return Section(title="Fault drill: every episode accounted for", headers=("what", "value"), rows=tuple(rows))


def _latency(r: dict[str, Any]) -> list[Section]:
    model = r["latency_model"]
    title = (
        f"Episodes in flight against simulated GPU latency (TTFT {model['ttft_s']} s, "
        f"{model['per_token_s']} s/token, batch slowdown {model['batch_slowdown']}; {r['players']} players)"
    )
    out = [Section(title=title, headers=_WINDOW_HEADERS, rows=_window_rows(r["windows"]))]
    acceptance = r.get("acceptance")
    if acceptance:
        rows = tuple(_row(k, acceptance[k], acceptance["checks"][k]) for k in acceptance["checks"])
        out.append(
            Section(
                title="Issue 4 acceptance: 1 s per request, 5,000 in flight (>= 0.9 of bound, lag p99 <= 50 ms, RSS <= 1,536 MiB)",
                headers=("measure", "value", "met"),
                rows=rows,
            )
        )
    return out


def _components(r: dict[str, Any]) -> list[Section]:
    sandbox = tuple(_row(k, v) for k, v in r["sandbox"].items())
    sampler = tuple(
        _row(
            domain,
            rate,
            r["verifier"].get(domain, {}).get("compile_us"),
            r["verifier"].get(domain, {}).get("verify_us"),
        )
        for domain, rate in r["sampler_tasks_per_s"].items()
    )
    output = tuple(_row(k, v) for k, v in r["output"].items())
    return [
        Section(
            title="Sandboxes (retail): copy-on-write fork vs full copy, change set vs whole-DB hash",
            headers=("measure", "value"),
            rows=sandbox,
        ),
        Section(
            title="Sampler (tasks proven solvable) and verifier (per canonical trajectory)",
            headers=("domain", "tasks/s", "compile us", "verify us"),
            rows=sampler,
        ),
        Section(
            title="Output: trajectory records encoded, JSONL (fsynced), run store (JSONL + ledger)",
            headers=("measure", "value"),
            rows=output,
        ),
    ]


def _daemon(r: dict[str, Any]) -> list[Section]:
    if not r["available"]:
        return [Section(title="Rollout daemon", headers=("status",), rows=((r["reason"],),))]
    rows = (
        _row(
            r["players"],
            r["trajectories_per_job"],
            r["traj_per_s"],
            r["daemon_cpu_us_per_traj"],
            r["trainer_cpu_us_per_traj"],
            r["first_trajectory_s"],
        ),
    )
    return [
        Section(
            title="Rollout daemon: trajectories streamed to a trainer (job submitted to last trajectory)",
            headers=("players", "traj/job", "traj/s", "daemon CPU us/traj", "trainer CPU us/traj", "first traj s"),
            rows=rows,
        )
    ]


def _target(r: dict[str, Any]) -> list[Section]:
    summary = (
        ("servers", ", ".join(r["urls"])),
        ("agent model / user", f"{r['model']} / {r['user']}"),
        ("servers' /metrics read", _fmt(r["server_metrics"])),
        ("ramp stopped because", r["stopped_because"]),
        ("saturating concurrency", _fmt(r["saturating_concurrency"])),
        ("trajectories/s there", _fmt(r["traj_per_s_at_saturation"])),
        ("LLM requests/s there", _fmt(r["llm_requests_per_s_at_saturation"])),
    )
    return [
        Section(title="Your servers: concurrency ramp", headers=_WINDOW_HEADERS, rows=_window_rows(r["steps"])),
        Section(title="Your servers: saturation", headers=("what", "value"), rows=summary),
    ]


_SECTIONS: dict[str, Callable[[dict[str, Any]], list[Section]]] = {
    "core": _core,
    "http": _http,
    "latency": _latency,
    "components": _components,
    "daemon": _daemon,
    "target": _target,
}


def sections(report: ScenarioReport) -> list[Section]:
    """The tables of one scenario's report."""
    results: dict[str, Any] = msgspec.to_builtins(report.results)
    return _SECTIONS[report.scenario](results)


def _machine_line(m: Machine) -> str:
    return (
        f"{m.cpu_model}, {m.cores} cores ({m.cores_usable} usable), {m.memory_gib} GiB, load {m.load_avg_1m}; "
        f"{m.implementation} {m.python}, {m.platform}, SQLite {m.sqlite}"
    )


def _text_table(section: Section) -> str:
    widths = [len(h) for h in section.headers]
    for row in section.rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=False)]
    lines = [section.title, "  ".join(h.ljust(w) for h, w in zip(section.headers, widths, strict=False))]
    lines.append("  ".join("-" * w for w in widths))
    lines.extend("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) for row in section.rows)
    return "\n".join(lines)


def terminal_text(reports: Sequence[ScenarioReport]) -> str:
    """Every report as aligned plain-text tables, with its machine, duration and notes."""
    parts = []
    for report in reports:
        head = f"== {report.scenario} ({report.duration_s:.0f} s{', TRUNCATED by the time budget' if report.truncated else ''})"
        body = [head, "machine: " + _machine_line(report.machine)]
        body.extend(_text_table(s) + "\n" for s in sections(report))
        body.extend(f"note: {n}" for n in report.notes)
        parts.append("\n".join(body))
    return "\n\n".join(parts) + "\n"


def _md_table(section: Section) -> str:
    def esc(cell: str) -> str:
        return cell.replace("|", "\\|")

    lines = [
        f"**{section.title}**",
        "",
        "| " + " | ".join(section.headers) + " |",
        "|" + "|".join("---" for _ in section.headers) + "|",
    ]
    lines.extend("| " + " | ".join(esc(c) for c in row) + " |" for row in section.rows)
    return "\n".join(lines)


def markdown_report(reports: Sequence[ScenarioReport], *, command: str, plots: Sequence[str] = ()) -> str:
    """A markdown report of ``reports``: the command, the machine, each scenario's tables, settings and notes."""
    lines = ["# cove-async benchmark report", "", f"Command: `{command}`", ""]
    if reports:
        m = reports[0].machine
        lines += [f"Machine: {_machine_line(m)}.", ""]
        versions = ", ".join(f"{k} {v}" for k, v in m.packages.items() if v)
        lines += [f"Packages: {versions}.", ""]
    for report in reports:
        lines += [
            f"## {report.scenario}",
            "",
            f"Started {report.started_at}, took {report.duration_s:.0f} s"
            + (" (truncated by the time budget)." if report.truncated else "."),
            "",
        ]
        for section in sections(report):
            lines += [_md_table(section), ""]
        if report.notes:
            lines += [*(f"- {n}" for n in report.notes), ""]
        settings = ", ".join(
            f"{k}={','.join(map(str, v)) if isinstance(v, list | tuple) else v}" for k, v in report.params.items()
        )
        lines += [f"Settings: {settings}.", ""]
    if plots:
        lines += ["## Plots", ""]
        lines += [f"![{name}]({name})" for name in plots]
        lines.append("")
    return "\n".join(lines)
