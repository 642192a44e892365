"""Fault injection over HTTP: each fault at its seeded rate, hangs, pause, forced and queued faults."""

from __future__ import annotations

from collections import Counter
from typing import Any

import aiohttp
import anyio
import msgspec
import openai
import pytest
from openai import AsyncOpenAI

from cove_async.backends import ChatRequest
from cove_async.mockllm import FAULT_HEADER, Fault, FaultRates, FaultSchedule, Reply, running_server
from tests.mockllm.conftest import TOOLS, post, user_body

pytestmark = pytest.mark.anyio

RATES = FaultRates(
    error_500=0.04,
    error_503=0.04,
    error_429=0.04,
    malformed_json=0.04,
    bad_tool_arguments=0.04,
    empty_choices=0.04,
    retry_after_s=0.25,
)


def _symptom(status: int, headers: dict[str, str], raw: bytes) -> Fault | None:
    """The fault a client can tell from an answer, judged without asking the server."""
    if status == 500:
        return Fault.ERROR_500
    if status in (503, 429):
        assert headers["Retry-After"] == "1" and headers["retry-after-ms"] == "250"
        return Fault.ERROR_503 if status == 503 else Fault.ERROR_429
    assert status == 200
    try:
        reply = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return Fault.MALFORMED_JSON
    if reply["choices"] == []:
        return Fault.EMPTY_CHOICES
    (call,) = reply["choices"][0]["message"]["tool_calls"]
    try:
        msgspec.json.decode(call["function"]["arguments"])
    except msgspec.DecodeError:
        return Fault.BAD_TOOL_ARGUMENTS
    return None


async def test_each_fault_comes_at_its_rate_and_the_same_requests_get_it() -> None:
    n = 300
    async with running_server(faults=RATES, seed=7) as server, aiohttp.ClientSession() as session:
        url = server.base_url + "/chat/completions"
        seen = [_symptom(*await post(session, url, user_body())) for _ in range(n)]
        stats = server.statistics()
    schedule = FaultSchedule(RATES, seed=7)
    assert seen == [schedule.next() for _ in range(n)]  # the n-th request gets the n-th draw
    counts = Counter(seen)
    for fault, rate in RATES.rates().items():
        assert abs(counts[fault] - n * rate) <= 4 * (n * rate * (1 - rate)) ** 0.5 + 1, fault
    assert stats.faults == {fault.value: count for fault, count in counts.items() if fault is not None}
    answered = sum(counts[f] for f in (Fault.MALFORMED_JSON, Fault.EMPTY_CHOICES, Fault.BAD_TOOL_ARGUMENTS))
    assert stats.completed == counts[None] + answered and stats.accepted == n


async def test_a_hung_request_waits_until_the_client_gives_up() -> None:
    async with running_server(faults=FaultRates(hang=1.0)) as server, aiohttp.ClientSession() as session:
        async with anyio.create_task_group() as tg:
            tg.start_soon(post, session, server.base_url + "/chat/completions", user_body())
            with anyio.fail_after(5):
                await server.wait_until(lambda s: s.hanging == 1)
            tg.cancel_scope.cancel()  # the client gives up
        with anyio.fail_after(5):
            await server.wait_until(lambda s: s.hanging == 0)
        stats = server.statistics()
    assert stats.faults == {"hang": 1} and stats.completed == 0 and stats.running == 0


async def _ask(session: aiohttp.ClientSession, url: str, answers: list[int]) -> None:
    answers.append((await post(session, url, user_body()))[0])


async def test_a_hung_request_ends_when_the_server_stops() -> None:
    answers: list[int] = []
    async with (
        aiohttp.ClientSession() as session,
        anyio.create_task_group() as tg,
        running_server(faults=FaultRates(hang=1.0)) as server,
    ):
        # The client task belongs to the outer task group, so it outlives the server.
        tg.start_soon(_ask, session, server.base_url + "/chat/completions", answers)
        with anyio.fail_after(5):
            await server.wait_until(lambda s: s.hanging == 1)
    assert answers == [503]


async def test_a_paused_server_answers_503_with_retry_after() -> None:
    async with running_server() as server, aiohttp.ClientSession() as session:
        url = server.base_url + "/chat/completions"
        async with session.post(server.url + "/admin/pause", json={"retry_after_s": 2.5}) as paused:
            assert paused.status == 200
        assert server.paused
        status, headers, raw = await post(session, url, user_body())
        assert status == 503 and headers["Retry-After"] == "3" and headers["retry-after-ms"] == "2500"
        assert msgspec.json.decode(raw)["error"]["type"] == "ServiceUnavailableError"
        async with session.get(server.url + "/health") as health:
            assert health.status == 200  # alive, just not generating
        async with session.post(server.url + "/admin/resume") as resumed:
            stats = await resumed.json()
            assert stats["paused"] is False and stats["paused_answers"] == 1
        assert (await post(session, url, user_body()))[0] == 200

        server.pause(retry_after_s=0)
        assert (await post(session, url, user_body()))[1]["Retry-After"] == "0"
        server.resume()
        async with session.post(server.url + "/admin/pause", json={"retry_after_s": -1}) as bad:
            assert bad.status == 400 and "retry_after_s" in (await bad.json())["error"]["message"]
        assert (await post(session, url, user_body()))[0] == 200  # the bad request did not pause it


async def test_the_openai_client_honours_retry_after_ms() -> None:
    async with running_server(faults=FaultRates(retry_after_s=0.01)) as server:
        server.inject(Fault.ERROR_503, Fault.ERROR_429)
        async with AsyncOpenAI(base_url=server.base_url, api_key="x", max_retries=2) as client:
            messages: Any = [{"role": "user", "content": "hi"}]
            reply = await client.chat.completions.create(model="mock", messages=messages)
        assert reply.choices[0].message.content
        stats = server.statistics()
    assert stats.faults == {"error_503": 1, "error_429": 1} and stats.completed == 1


async def test_a_paused_server_fails_an_impatient_openai_client() -> None:
    async with (
        running_server(paused=True) as server,
        AsyncOpenAI(base_url=server.base_url, api_key="x", max_retries=0) as client,
    ):
        with pytest.raises(openai.InternalServerError, match="paused"):
            await client.chat.completions.create(model="mock", messages=[{"role": "user", "content": "hi"}])


async def test_faults_forced_by_header_or_queued_by_admin() -> None:
    async with running_server() as server, aiohttp.ClientSession() as session:
        url = server.base_url + "/chat/completions"
        status, headers, _ = await post(session, url, user_body(), {FAULT_HEADER: "error_429"})
        assert status == 429 and "Retry-After" in headers
        status, _, raw = await post(session, url, user_body(), {FAULT_HEADER: "sometimes"})
        assert status == 400 and "use one of error_500" in msgspec.json.decode(raw)["error"]["message"]

        async with session.post(
            server.url + "/admin/faults", json={"faults": ["error_500", None, "empty_choices"]}
        ) as r:
            assert r.status == 200
        assert (await post(session, url, user_body()))[0] == 500
        assert (await post(session, url, user_body(), {FAULT_HEADER: "malformed_json"}))[2].endswith(b"}") is False
        status, _, raw = await post(session, url, user_body(), {FAULT_HEADER: "none"})
        assert status == 200 and msgspec.json.decode(raw)["choices"]
        assert (await post(session, url, user_body()))[0] == 200
        async with session.post(server.url + "/admin/faults", json={"faults": ["sometimes"]}) as bad:
            assert bad.status == 400 and "empty_choices" in (await bad.json())["error"]["message"]
        stats = server.statistics()
    assert stats.faults == {"error_429": 1, "error_500": 1, "malformed_json": 1}
    assert stats.rejected == 1


class _Talker:
    async def respond(self, request: ChatRequest) -> Reply:
        return Reply(content="no tools today")


async def test_bad_tool_arguments_add_a_call_to_a_text_reply() -> None:
    async with running_server(responders={"mock": _Talker()}) as server, aiohttp.ClientSession() as session:
        server.inject(Fault.BAD_TOOL_ARGUMENTS)
        _, _, raw = await post(session, server.base_url + "/chat/completions", user_body())
    choice = msgspec.json.decode(raw)["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    (call,) = choice["message"]["tool_calls"]
    assert call["function"]["name"] == TOOLS[0]["function"]["name"]
    with pytest.raises(msgspec.DecodeError):
        msgspec.json.decode(call["function"]["arguments"])
