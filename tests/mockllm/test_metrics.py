"""``/metrics``: Prometheus text that parses, with vLLM's names and labels and values that add up."""

from __future__ import annotations

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from cove_async.mockllm import Fault, FaultRates, LatencyModel, running_server
from tests.mockllm.conftest import post, user_body

pytestmark = pytest.mark.anyio

VLLM_SAMPLES = {
    "vllm:num_requests_running",
    "vllm:num_requests_waiting",
    "vllm:kv_cache_usage_perc",
    "vllm:gpu_cache_usage_perc",
    "vllm:prompt_tokens_total",
    "vllm:generation_tokens_total",
    "vllm:request_success_total",
    "vllm:time_to_first_token_seconds_bucket",
    "vllm:time_to_first_token_seconds_count",
    "vllm:time_to_first_token_seconds_sum",
    "vllm:e2e_request_latency_seconds_bucket",
    "vllm:e2e_request_latency_seconds_count",
    "vllm:request_queue_time_seconds_count",
    "vllm:request_time_per_output_token_seconds_count",
    "mockllm_injected_faults_total",
}


async def test_metrics_parse_with_vllm_names_and_consistent_values() -> None:
    async with (
        running_server(
            latency=LatencyModel(ttft_s=0.01, per_token_s=0.0005), faults=FaultRates(error_500=0.0)
        ) as server,
        aiohttp.ClientSession() as session,
    ):
        server.inject(None, Fault.ERROR_500, None, Fault.EMPTY_CHOICES)
        url = server.base_url + "/chat/completions"
        for body in (user_body(), user_body(), user_body(tool_choice="none"), user_body(), user_body(max_tokens=1)):
            await post(session, url, body)
        async with session.get(server.url + "/metrics") as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain")
            text = await response.text()
        stats = server.statistics()

    samples = [s for family in text_string_to_metric_families(text) for s in family.samples]
    assert {s.name for s in samples} >= VLLM_SAMPLES
    for sample in samples:
        if sample.name.startswith(("vllm:", "mockllm_")):
            assert sample.labels["model_name"] == "mock" and sample.labels["engine"] == "0", sample

    def value(name: str, **labels: str) -> float:
        return sum(s.value for s in samples if s.name == name and labels.items() <= s.labels.items())

    assert stats.completed == 4
    assert value("vllm:prompt_tokens_total") == stats.prompt_tokens > 0
    assert value("vllm:generation_tokens_total") == stats.completion_tokens > 0
    assert value("vllm:request_success_total", finished_reason="stop") == 3
    assert value("vllm:request_success_total", finished_reason="length") == 1
    assert value("vllm:request_success_total", finished_reason="abort") == 0
    assert value("vllm:time_to_first_token_seconds_count") == 4
    assert value("vllm:time_to_first_token_seconds_sum") >= 4 * 0.01
    assert value("vllm:e2e_request_latency_seconds_sum") >= value("vllm:time_to_first_token_seconds_sum")
    assert value("vllm:time_to_first_token_seconds_bucket", le="+Inf") == 4
    assert value("mockllm_injected_faults_total", fault="error_500") == 1
    assert value("mockllm_injected_faults_total", fault="empty_choices") == 1
    assert value("mockllm_injected_faults_total", fault="hang") == 0
    assert value("vllm:num_requests_running") == value("vllm:num_requests_waiting") == 0
    assert value("vllm:kv_cache_usage_perc") == 0.0


async def test_each_server_has_its_own_registry() -> None:
    async with running_server() as first, running_server() as second:
        assert first.registry is not second.registry
        async with aiohttp.ClientSession() as session:
            await post(session, first.base_url + "/chat/completions", user_body())
    labels = {"model_name": "mock", "engine": "0", "finished_reason": "stop"}
    assert first.registry.get_sample_value("vllm:request_success_total", labels) == 1
    assert second.registry.get_sample_value("vllm:request_success_total", labels) == 0
