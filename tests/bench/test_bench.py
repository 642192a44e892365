"""The benchmark harness runs every scenario and emits what it promises (timings are never judged here).

Every scenario runs at tiny sizes (``--quick``) in a child process against real servers on
loopback; the tests check the JSON keys, the report and the plots, that the numbers hang
together (phases add up, counts reconcile), and that a faulty server's episodes are all
accounted for.
"""

from __future__ import annotations

import asyncio
import json
import math
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import pytest

from cove_async.bench._common import percentile, spread, timed_await
from cove_async.bench._http import fault_drill, prepare_tasks
from cove_async.bench._players import resolve_players
from cove_async.bench._server import ServerSpec, parse_prometheus, scrape_metrics, server_process
from cove_async.mockllm import FaultRates

ROOT = Path(__file__).resolve().parents[2]


def _bench(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tests.bench._cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        check=False,
    )


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_machine(report: dict[str, Any]) -> None:
    machine = report["machine"]
    assert machine["cpu_model"] and machine["cores"] >= 1 and machine["python"]
    assert machine["packages"]["anyio"] and machine["packages"]["aiohttp"]
    assert report["duration_s"] > 0 and isinstance(report["truncated"], bool)


def _check_core(results: dict[str, Any]) -> None:
    rows = results["rows"]
    assert {(r["domain"], r["loop"]) for r in rows} == {
        (d, loop) for d in ("retail", "airline") for loop in ("uvloop", "asyncio")
    }
    for row in rows:
        assert _number(row["traj_per_s"]) and row["traj_per_s"] > 0
        assert _number(row["engine_cpu_us_per_traj"]) and row["engine_cpu_us_per_traj"] > 0
        phases = row["phases"]
        assert set(phases) == {"policy", "tools_and_sandbox", "verifier", "sinks", "engine_other"}
        # The phases split the split runs' total: they must add up to it (up to rounding).
        assert sum(phases.values()) == pytest.approx(row["split_total_us"], rel=0.01)
        for phase in ("policy", "tools_and_sandbox", "verifier", "sinks"):
            assert phases[phase] > 0, phase
        assert row["policy_by_side"]["user"] > 0 and row["policy_by_side"]["agent"] > 0
        assert row["perfect_rate"] > 0.5
        assert _number(row["gc_us_per_traj"]) and row["gc_us_per_traj"] >= 0
    assert set(results["uvloop_speedup"]) == {"retail", "airline"}


def _check_http(results: dict[str, Any]) -> None:
    (level,) = results["levels"]
    for key in ("requests_per_s", "client_cpu_us_per_request", "bare_client_cpu_us_per_request", "ratio"):
        assert _number(level[key]) and level[key] > 0, key
    assert {row["client"] for row in results["clients"]} == {"http1", "aiohttp", "cove"}
    assert all(row["completed"] > 0 and row["errors"] == 0 for row in results["clients"])
    (window,) = results["episodes"]
    assert window["trajectories"] > 0 and window["failed"] == 0
    assert window["llm_calls_per_traj"] > 2  # both sides went over HTTP, several turns each
    drill = results["fault_drill"]
    assert drill["reconciled"] and all(drill["checks"].values())
    assert drill["outcomes"] == drill["episodes"] == drill["finished"] + drill["failed"]


def _check_latency(results: dict[str, Any]) -> None:
    (window,) = results["windows"]
    for key in ("throughput_ratio_to_nominal_bound", "request_ratio_to_bound", "rss_mib", "traj_per_s"):
        assert _number(window[key]) and window[key] > 0, key
    assert _number(window["loop_lag_ms"]["p99"])
    # A 50 ms server cannot answer faster than 50 ms.
    assert window["llm_latency_ms"]["p50"] >= 50
    assert results["latency_model"]["ttft_s"] == 0.05


def _check_components(results: dict[str, Any]) -> None:
    sandbox = results["sandbox"]
    for key in ("fork_us", "full_copy_us", "change_set_us", "whole_db_hash_us", "read_us_fork"):
        assert _number(sandbox[key]) and sandbox[key] > 0, key
    assert set(results["sampler_tasks_per_s"]) == set(results["verifier"]) == {"retail", "airline"}
    output = results["output"]
    assert output["records"] > 0 and output["jsonl_records_per_s"] > 0 and output["store_records_per_s"] > 0


def _check_daemon(results: dict[str, Any]) -> None:
    assert results["available"], results["reason"]
    assert results["trajectories_per_job"] == 20
    assert results["traj_per_s"] > 0 and results["daemon_cpu_us_per_traj"] > 0


@pytest.mark.slow
def test_every_scenario_runs_and_writes_json_report_and_plots(tmp_path: Path) -> None:
    report, plots = tmp_path / "report.md", tmp_path / "plots"
    done = _bench("bench", "all", "--quick", "--json", "--report", str(report), "--plots", str(plots))
    assert done.returncode == 0, done.stderr[-3000:]
    reports = {r["scenario"]: r for r in json.loads(done.stdout)["reports"]}
    assert list(reports) == ["core", "http", "latency", "components", "daemon"]
    checks = {
        "core": _check_core,
        "http": _check_http,
        "latency": _check_latency,
        "components": _check_components,
        "daemon": _check_daemon,
    }
    for name, check in checks.items():
        _check_machine(reports[name])
        check(reports[name]["results"])
    text = report.read_text()
    for name in checks:
        assert f"## {name}" in text
    pngs = sorted(p.name for p in plots.glob("*.png"))
    if pngs:  # matplotlib is an optional extra
        assert pngs == sorted(
            [
                "core_phase_split.png",
                "http_clients_cpu_per_request.png",
                "http_clients_requests_per_s.png",
                "latency_percentiles.png",
                "memory_vs_live_episodes.png",
                "throughput_vs_concurrency.png",
            ]
        )
        assert all((plots / name).read_bytes().startswith(b"\x89PNG") for name in pngs)
        assert all(f"]({Path('plots') / name})" in text for name in pngs)


@pytest.mark.slow
def test_target_ramps_against_a_server_and_names_the_saturating_concurrency() -> None:
    with server_process(ServerSpec(players=resolve_players("auto", "retail", []))) as server:
        agent_model = "scripted-agent" if resolve_players("auto", "retail", []) == "scripted" else "oracle-agent"
        done = _bench("bench", "target", server.url, "--model", agent_model, "--quick", "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    _check_machine(report)
    results = report["results"]
    assert [s["concurrency"] for s in results["steps"]] == [4, 8]
    assert all(s["trajectories"] > 0 and s["failed"] == 0 for s in results["steps"])
    assert results["server_metrics"]  # the simulated server has vLLM's /metrics
    assert results["saturating_concurrency"] in (4, 8)
    assert results["traj_per_s_at_saturation"] > 0


@pytest.mark.slow
def test_a_faulty_server_leaves_every_episode_accounted_for(tmp_path: Path) -> None:
    players = resolve_players("auto", "retail", [])
    snapshot, tasks, tasks_file = prepare_tasks("retail", 20, 0, tmp_path)
    rates = FaultRates(error_500=0.05, error_503=0.05, malformed_json=0.05, retry_after_s=0.01)
    drill = fault_drill(
        domain="retail",
        snapshot=snapshot,
        tasks=tasks,
        tasks_file=tasks_file,
        players=players,
        episodes=60,
        concurrency=16,
        rates=rates,
    )
    assert drill.checks and all(drill.checks.values()), drill.checks
    assert drill.reconciled
    assert (drill.episodes, drill.outcomes, drill.missing, drill.duplicates) == (60, 60, 0, 0)
    # 5% malformed replies over hundreds of requests: some episodes failed, each with its reason.
    assert drill.failed > 0 and drill.failed_without_reason == 0
    assert drill.client.errors_by_reason == {"protocol": drill.failed}
    assert drill.server.faults["error_500"] + drill.server.faults["error_503"] > 0


@pytest.mark.slow
def test_plots_are_skipped_with_a_clear_message_without_matplotlib(tmp_path: Path) -> None:
    plots = tmp_path / "plots"
    done = _bench("--no-matplotlib", "bench", "components", "--quick", "--plots", str(plots))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "plots skipped: matplotlib is not installed; pip install 'cove-async[bench]'" in done.stderr
    assert not list(plots.glob("*.png"))
    assert "Sandboxes (retail)" in done.stdout  # the table still printed


def test_a_bad_flag_value_is_one_line_and_exit_code_2() -> None:
    done = _bench("bench", "core", "--players", "scripted", "--loops", "trio", "--quick")
    assert done.returncode == 2
    assert done.stderr.strip().startswith("cove-async: error: bench core:")
    assert done.stderr.count("\n") == 1


@pytest.mark.anyio
async def test_timed_await_counts_only_the_coroutines_own_steps() -> None:
    """CPU burnt by another task while the coroutine waits is not the coroutine's."""
    acc = {"k": 0.0}
    burnt = anyio.Event()

    async def waits() -> str:
        await burnt.wait()
        return "done"

    async def burns() -> None:
        end = time.thread_time() + 0.05
        while time.thread_time() < end:
            pass
        burnt.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(burns)
        assert await timed_await(waits(), acc, "k") == "done"
    assert 0 < acc["k"] < 0.025


def test_parse_prometheus_keeps_series_and_sums_label_sets() -> None:
    text = (
        "# HELP vllm:num_requests_running Requests running.\n"
        "# TYPE vllm:num_requests_running gauge\n"
        'vllm:num_requests_running{model_name="a"} 3.0\n'
        'vllm:num_requests_running{model_name="b"} 4.0\n'
        "vllm:e2e_request_latency_seconds_sum 12.5\n"
        "vllm:e2e_request_latency_seconds_count 10 1700000000\n"
    )
    parsed = parse_prometheus(text)
    assert parsed['vllm:num_requests_running{model_name="a"}'] == 3.0
    assert parsed["vllm:num_requests_running"] == 7.0
    assert parsed["vllm:e2e_request_latency_seconds_sum"] == 12.5
    assert parsed["vllm:e2e_request_latency_seconds_count"] == 10.0


def test_percentile_and_spread() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile([7.0], 99) == 7.0
    assert math.isnan(percentile([], 50))
    s = spread([3.0, 1.0, 2.0])
    assert (s.median, s.min, s.max, s.values) == (2.0, 1.0, 3.0, (3.0, 1.0, 2.0))


@pytest.mark.anyio
async def test_a_server_too_busy_for_its_metrics_is_skipped_not_waited_for() -> None:
    async def never_answers(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.read()  # until the client gives up and closes
        finally:
            writer.close()

    listener = await asyncio.start_server(never_answers, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    async with listener, aiohttp.ClientSession() as session:
        started = anyio.current_time()
        assert await scrape_metrics(session, f"http://127.0.0.1:{port}/v1", timeout_s=0.2) is None
        assert anyio.current_time() - started < 2.0
