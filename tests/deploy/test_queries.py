"""Every metric the dashboard and the recording rules read is one somebody exports.

Exporters: the daemon (its registry holds the engine's metrics, its own and the inference
servers' as it re-exports them) and the simulated inference server's vLLM-named ``/metrics``,
scraped over HTTP. A name also resolves when ``rules.yml`` records it. A typo, a renamed metric or a
dashboard that queries a bare histogram name fails here instead of showing "No data".
"""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from cove_async.daemon import Daemon, DaemonConfig
from cove_async.metrics import EngineMetrics
from cove_async.mockllm import running_server
from tests.deploy._files import dashboard_queries, rule_exprs
from tests.deploy._promql import exported_samples, grafana_variable_metrics, metric_names


def engine_samples() -> set[str]:
    registry = CollectorRegistry()
    EngineMetrics(registry)
    return exported_samples(registry.collect())


def daemon_samples(state_dir: Path) -> set[str]:
    """What the daemon's /metrics exports: engine, daemon and re-exported server metrics, one registry."""
    daemon = Daemon(DaemonConfig(state_dir=state_dir))  # not run: constructing registers everything
    return exported_samples(daemon.registry.collect())


async def mockllm_samples() -> set[str]:
    async with (
        running_server() as server,
        aiohttp.ClientSession() as session,
        session.get(server.url + "/metrics") as response,
    ):
        assert response.status == 200
        text = await response.text()
    return exported_samples(text_string_to_metric_families(text))


def _queried(expr: str, variable: bool) -> set[str]:
    return grafana_variable_metrics(expr) if variable else metric_names(expr)


@pytest.mark.anyio
async def test_every_queried_metric_is_exported_or_recorded(tmp_path: Path) -> None:
    daemon = daemon_samples(tmp_path)
    assert engine_samples() <= daemon  # the daemon exports every engine metric
    served = await mockllm_samples()
    exported = daemon | served
    assert "vllm:kv_cache_usage_perc" in served and "vllm:gpu_cache_usage_perc" in served
    rules = rule_exprs()
    sources = [(f"rule {name}", expr) for name, exprs in rules.items() for expr in exprs]
    sources += dashboard_queries()
    unresolved = []
    for where, expr in sources:
        for name in _queried(expr, where.startswith("variable ")):
            if name not in exported and name not in rules:
                unresolved.append(f"{where}: {name}")
    assert not unresolved, "queried but neither exported nor recorded:\n" + "\n".join(unresolved)


NOT_SHOWN = {
    "cove_daemon_pauses": "pauses show as the paused gauges and the dashboard's pause annotation",
    "cove_backend_scrape_duration_seconds": "a diagnostic of the daemon's own scrape",
}


def test_every_recording_rule_is_used_and_every_daemon_metric_is_shown(tmp_path: Path) -> None:
    rules = rule_exprs()
    read_by_dashboard = set()
    for title, expr in dashboard_queries():
        read_by_dashboard |= _queried(expr, title.startswith("variable "))
    unused = set(rules) - read_by_dashboard
    assert not unused, f"recording rules no panel reads: {sorted(unused)}"
    read = set(read_by_dashboard)
    for exprs in rules.values():
        for expr in exprs:
            read |= metric_names(expr)
    daemon = Daemon(DaemonConfig(state_dir=tmp_path))
    unseen = [
        family.name
        for family in daemon.registry.collect()
        if not exported_samples([family]) & read and family.name not in NOT_SHOWN
    ]
    assert not unseen, f"metrics of the daemon's /metrics that neither the dashboard nor a rule reads: {unseen}"


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        (
            'sum by (outcome) (rate(cove_trajectories_total{job=~"$job"}[$__rate_interval]))',
            {"cove_trajectories_total"},
        ),
        (
            "histogram_quantile(0.95, sum by (job, le) (rate(vllm:time_to_first_token_seconds_bucket[5m])))",
            {"vllm:time_to_first_token_seconds_bucket"},
        ),
        (
            'max by (model_name) (vllm:kv_cache_usage_perc{model_name=~"$model_name"}) '
            "or max by (model_name) (vllm:gpu_cache_usage_perc)",
            {"vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"},
        ),
        (
            'sum(a:b:rate1m{job="x", role="agent"}) - (sum(c_total offset 5m) or vector(0)) * 1e3',
            {"a:b:rate1m", "c_total"},
        ),
        ("max_over_time(deriv(x_seconds[5m])[30m:1m]) > bool 2", {"x_seconds"}),
        ("sum(x) by (le, instance) / ignoring(role) group_left sum(y_count)", {"x", "y_count"}),
        ('count(up{job="cove-async", instance=~"a|b(c)"} == 1) unless on (job) z', {"up", "z"}),
    ],
)
def test_metric_names_takes_names_and_nothing_else(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_variable_queries_read_the_selector_only() -> None:
    assert grafana_variable_metrics("label_values(cove_build_info, job)") == {"cove_build_info"}
    assert grafana_variable_metrics('label_values(vllm:num_requests_running{job="v"}, model_name)') == {
        "vllm:num_requests_running"
    }


def test_exported_samples_follow_the_exposition_suffixes() -> None:
    samples = engine_samples()
    assert {"cove_trajectories_total", "cove_episode_duration_seconds_bucket", "cove_build_info"} <= samples
    assert "cove_episode_duration_seconds" not in samples  # a bare histogram name selects nothing
    assert "cove_trajectories" not in samples
