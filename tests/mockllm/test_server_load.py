"""Latency and admission: TTFT and per-token time are paid, requests beyond the cap wait."""

from __future__ import annotations

from typing import Any

import aiohttp
import anyio
import msgspec
import pytest
from openai import AsyncOpenAI
from prometheus_client.parser import text_string_to_metric_families

from cove_async.mockllm import LatencyModel, running_server
from cove_async.mockllm._tokens import count_tokens
from tests.mockllm.conftest import GatedResponder, post, user_body

pytestmark = pytest.mark.anyio


async def _gauges(session: aiohttp.ClientSession, url: str) -> dict[str, float]:
    async with session.get(url + "/metrics") as response:
        text = await response.text()
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if family.type == "gauge" and sample.labels.get("model_name") == "mock"
    }


async def test_a_request_takes_at_least_the_time_to_first_token() -> None:
    async with (
        running_server(latency=LatencyModel(ttft_s=0.05)) as server,
        AsyncOpenAI(base_url=server.base_url, api_key="x", max_retries=0) as client,
    ):
        messages: Any = [{"role": "user", "content": "hello"}]
        start = anyio.current_time()
        await client.chat.completions.create(model="mock", messages=messages)
        assert anyio.current_time() - start >= 0.05


async def test_tokens_take_longer_when_the_batch_is_full() -> None:
    """Three requests decode together: each token costs per_token_s x (1 + 1.0 x 2 others)."""
    gated = GatedResponder()
    latency = LatencyModel(per_token_s=0.001, batch_slowdown=1.0)
    body = user_body(tool_choice="none")
    async with (
        running_server(latency=latency, responders={"mock": gated}) as server,
        aiohttp.ClientSession() as session,
    ):
        replies: list[bytes] = []

        async def one() -> None:
            replies.append((await post(session, server.base_url + "/chat/completions", body))[2])

        async with anyio.create_task_group() as tg:
            for _ in range(3):
                tg.start_soon(one)
            with anyio.fail_after(5):
                await server.wait_until(lambda s: s.running == 3)
            opened = anyio.current_time()
            gated.gate.set()
        elapsed = anyio.current_time() - opened
    tokens = msgspec.json.decode(replies[0])["usage"]["completion_tokens"]
    assert tokens > 10
    assert elapsed >= (tokens - 1) * 0.001 * 3


async def test_requests_beyond_the_cap_wait_their_turn() -> None:
    gated = GatedResponder()
    latency = LatencyModel(max_running=2)
    async with (
        running_server(latency=latency, responders={"mock": gated}) as server,
        aiohttp.ClientSession() as session,
    ):
        statuses: list[int] = []

        async def one() -> None:
            statuses.append((await post(session, server.base_url + "/chat/completions", user_body()))[0])

        async with anyio.create_task_group() as tg:
            for _ in range(6):
                tg.start_soon(one)
            with anyio.fail_after(5):
                await server.wait_until(lambda s: s.running == 2 and s.waiting == 4)
            gauges = await _gauges(session, server.url)
            assert gauges["vllm:num_requests_running"] == 2
            assert gauges["vllm:num_requests_waiting"] == 4
            assert gauges["vllm:kv_cache_usage_perc"] == gauges["vllm:gpu_cache_usage_perc"] == 1.0
            gated.gate.set()
        assert statuses == [200] * 6
        stats = server.statistics()
        assert (stats.completed, stats.peak_running, stats.peak_waiting) == (6, 2, 4)
        assert (stats.running, stats.waiting) == (0, 0)
        gauges = await _gauges(session, server.url)
        assert gauges["vllm:num_requests_running"] == gauges["vllm:num_requests_waiting"] == 0


async def test_a_client_that_gives_up_while_waiting_leaves_the_queue() -> None:
    gated = GatedResponder()
    async with (
        running_server(latency=LatencyModel(max_running=1), responders={"mock": gated}) as server,
        aiohttp.ClientSession() as session,
    ):
        url = server.base_url + "/chat/completions"
        async with anyio.create_task_group() as tg:
            tg.start_soon(post, session, url, user_body())
            async with anyio.create_task_group() as impatient:
                impatient.start_soon(post, session, url, user_body())
                with anyio.fail_after(5):
                    await server.wait_until(lambda s: s.running == 1 and s.waiting == 1)
                impatient.cancel_scope.cancel()
            with anyio.fail_after(5):
                await server.wait_until(lambda s: s.aborted == 1)
            assert server.statistics().waiting == 0
            gated.gate.set()
        stats = server.statistics()
    assert (stats.completed, stats.aborted, stats.running, stats.waiting) == (1, 1, 0, 0)


def test_usage_counts_are_the_stand_in_tokenizers() -> None:
    assert count_tokens("x" * 40, completion=True) == 10
