"""The daemon's /metrics: engine, daemon and re-exported inference-server series."""

from __future__ import annotations

from pathlib import Path

import anyio
import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from cove_async.client import AsyncDaemonClient, JobRequest, LLMBackend, SampleTasks
from cove_async.daemon import BackendScraper
from cove_async.daemon._scrape import parse_metrics
from cove_async.mockllm import running_server
from cove_async.mockllm._scripted import scripted_responders
from tests.daemon._support import running_daemon

pytestmark = pytest.mark.anyio


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= set(ls))


async def test_metrics_count_jobs_streams_and_the_servers_own_series(tmp_path: Path) -> None:
    """After an LLM job on the simulated server: daemon counters, engine outcomes and cove_backend_* series."""
    async with (
        running_server(responders=scripted_responders()) as server,
        running_daemon(tmp_path, scrape_interval_s=0.05, scrape=(server.base_url,)) as daemon,
        AsyncDaemonClient(daemon.url) as client,
        httpx.AsyncClient(base_url=daemon.url) as http,
    ):
        agent = LLMBackend(urls=(server.base_url,), model="scripted-agent")
        job = await client.submit(
            JobRequest(
                tasks=SampleTasks(domain="airline", n=3, seed=1), samples_per_task=2, agent=agent, user="scripted"
            )
        )
        streamed = [t async for t in client.stream(job.id)]
        backend = server.base_url.removesuffix("/v1").rstrip("/")
        served = server.statistics().prompt_tokens  # the job is done: the server's final count
        with anyio.fail_after(10):
            while True:  # until a scrape taken after the job's last request shows up
                samples = _samples((await http.get("/metrics")).text)
                if _value(samples, "cove_backend_prompt_tokens_total", backend=backend) >= served:
                    break
                await anyio.sleep(0.05)
    assert len(streamed) == 6
    assert _value(samples, "cove_daemon_jobs_submitted_total") == 1
    assert _value(samples, "cove_daemon_episodes_requested_total") == 6
    assert _value(samples, "cove_daemon_trajectories_streamed_total") == 6
    assert _value(samples, "cove_daemon_jobs", state="done") == 1
    assert _value(samples, "cove_daemon_jobs_finished_total", state="done") == 1
    assert _value(samples, "cove_trajectories_total") == 6
    assert _value(samples, "cove_daemon_admission_capacity") == 1000
    assert _value(samples, "cove_llm_request_duration_seconds_count", role="agent") > 0
    assert _value(samples, "cove_daemon_http_requests_total", route="/v1/jobs", method="POST", code="201") == 1
    assert _value(samples, "cove_daemon_http_requests_total", route="/v1/jobs/{id}/results", code="200") == 1
    assert _value(samples, "cove_backend_up", backend=backend) == 1
    assert _value(samples, "cove_backend_prompt_tokens_total", backend=backend, server="vllm") == served
    assert _value(samples, "cove_backend_time_to_first_token_seconds_count", backend=backend) > 0
    assert (
        "cove_backend_kv_cache_usage_ratio",
        (("backend", backend), ("model", "scripted-agent"), ("server", "vllm")),
    ) in samples


VLLM_OLD = """\
# TYPE vllm:gpu_cache_usage_perc gauge
vllm:gpu_cache_usage_perc{model_name="m",engine="0"} 0.25
vllm:gpu_cache_usage_perc{model_name="m",engine="1"} 0.5
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{model_name="m"} 3
# TYPE vllm:prompt_tokens_total untyped
vllm:prompt_tokens_total{model_name="m"} 100
# TYPE vllm:time_per_output_token_seconds histogram
vllm:time_per_output_token_seconds_bucket{model_name="m",le="0.01"} 1
vllm:time_per_output_token_seconds_bucket{model_name="m",le="+Inf"} 4
vllm:time_per_output_token_seconds_sum{model_name="m"} 0.2
vllm:time_per_output_token_seconds_count{model_name="m"} 4
"""

VLLM_BOTH_KV_NAMES = """\
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{model_name="m"} 0.7
# TYPE vllm:gpu_cache_usage_perc gauge
vllm:gpu_cache_usage_perc{model_name="m"} 0.7
"""

SGLANG = """\
# TYPE sglang:num_running_reqs gauge
sglang:num_running_reqs{model_name="q",tp_rank="0"} 5
# TYPE sglang:num_queue_reqs gauge
sglang:num_queue_reqs{model_name="q",tp_rank="0"} 2
# TYPE sglang:token_usage gauge
sglang:token_usage{model_name="q",tp_rank="0"} 0.4
# TYPE sglang:generation_tokens_total counter
sglang:generation_tokens_total{model_name="q"} 900
# TYPE sglang:time_to_first_token_seconds histogram
sglang:time_to_first_token_seconds_bucket{model_name="q",le="0.1"} 2
sglang:time_to_first_token_seconds_bucket{model_name="q",le="+Inf"} 3
sglang:time_to_first_token_seconds_sum{model_name="q"} 0.5
sglang:time_to_first_token_seconds_count{model_name="q"} 3
"""


def test_both_servers_and_both_spellings_map_to_one_set_of_names() -> None:
    """Old vLLM names, new ones side by side, and SGLang's all land on cove_backend_*, counted once."""
    old = parse_metrics(VLLM_OLD)
    assert old.gauges["cove_backend_kv_cache_usage_ratio"] == {("m", "vllm"): 0.75}  # engines summed
    assert old.gauges["cove_backend_requests_running"] == {("m", "vllm"): 3}
    assert old.counters["cove_backend_prompt_tokens"] == {("m", "vllm"): 100}
    bounds, total = old.histograms["cove_backend_inter_token_latency_seconds"][("m", "vllm")]
    assert bounds == {0.01: 1, float("inf"): 4} and total == pytest.approx(0.2)

    both = parse_metrics(VLLM_BOTH_KV_NAMES)
    assert both.gauges["cove_backend_kv_cache_usage_ratio"] == {("m", "vllm"): 0.7}  # not 1.4

    sglang = parse_metrics(SGLANG)
    assert sglang.gauges["cove_backend_requests_running"] == {("q", "sglang"): 5}
    assert sglang.gauges["cove_backend_requests_waiting"] == {("q", "sglang"): 2}
    assert sglang.gauges["cove_backend_kv_cache_usage_ratio"] == {("q", "sglang"): 0.4}
    assert sglang.counters["cove_backend_generation_tokens"] == {("q", "sglang"): 900}
    assert "cove_backend_time_to_first_token_seconds" in sglang.histograms


def test_the_collector_exports_histograms_with_their_buckets() -> None:
    """Re-exported histograms keep their buckets, sums and counts under the backend label."""
    scraper = BackendScraper(lambda: ())
    scraper._readings["http://s:1"] = parse_metrics(SGLANG)
    registry = CollectorRegistry()
    registry.register(scraper)
    samples = _samples(generate_latest(registry).decode())
    labels = {"backend": "http://s:1", "model": "q", "server": "sglang"}
    assert _value(samples, "cove_backend_time_to_first_token_seconds_bucket", le="0.1", **labels) == 2
    assert _value(samples, "cove_backend_time_to_first_token_seconds_count", **labels) == 3
    assert _value(samples, "cove_backend_time_to_first_token_seconds_sum", **labels) == 0.5
    assert _value(samples, "cove_backend_up", backend="http://s:1") == 1
