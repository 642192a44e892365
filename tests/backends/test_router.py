"""Routing over several real servers: sticky per route key, least in flight, caps, health, FIFO waits."""

from __future__ import annotations

import functools
from contextlib import AsyncExitStack
from typing import Any

import anyio
import msgspec
import pytest
from aiohttp import web
from anyio import wait_all_tasks_blocked

from cove_async.backends import (
    BackendConnectionError,
    ChatRequest,
    HealthPolicy,
    Limits,
    OpenAIChatBackend,
    RetryPolicy,
)
from cove_async.chat import Message
from tests.backends._canned import Behaviour, CannedServer, canned_server, completion, delay, gate, refused_url

pytestmark = pytest.mark.anyio

FAST_RETRY = RetryPolicy(max_attempts=4, backoff_base_s=0.001, backoff_max_s=0.002)


def tagged(key: str, **extra: Any) -> ChatRequest:
    """A request whose body says which route key sent it (the server cannot see the key)."""
    return ChatRequest(messages=(Message(role="user", content="hi"),), extra_body={"route": key, **extra})


def routes(server: CannedServer) -> list[str]:
    return [body["route"] for body in server.bodies]


async def start_servers(stack: AsyncExitStack, count: int) -> list[CannedServer]:
    return [await stack.enter_async_context(canned_server()) for _ in range(count)]


def held_until(release: anyio.Event) -> Behaviour:
    """Hold requests whose body has ``"hold": true`` until ``release``; answer others at once."""

    async def behave(server: CannedServer, body: dict[str, Any]) -> web.Response:
        if body.get("hold"):
            await release.wait()
        return web.json_response(completion())

    return behave


async def test_requests_of_one_route_key_stay_on_one_endpoint() -> None:
    async with AsyncExitStack() as stack:
        servers = await start_servers(stack, 3)
        llm = await stack.enter_async_context(
            OpenAIChatBackend(endpoints=tuple(s.url for s in servers), model="m", retry=FAST_RETRY)
        )
        keys = [f"episode-{i}" for i in range(12)]
        for _ in range(3):
            for key in keys:
                await llm.complete(tagged(key), route_key=key)
    seen = [set(routes(server)) for server in servers]
    assert all(seen), "every endpoint got some episodes"
    for key in keys:
        homes = [index for index, server in enumerate(servers) if key in routes(server)]
        assert len(homes) == 1, f"{key} went to endpoints {homes}"
        assert routes(servers[homes[0]]).count(key) == 3


async def test_a_full_sticky_endpoint_falls_back_to_the_least_loaded_and_keeps_the_pin() -> None:
    release = anyio.Event()
    async with AsyncExitStack() as stack:
        servers = await start_servers(stack, 3)
        for server in servers:
            server.default = held_until(release)
        llm = await stack.enter_async_context(
            OpenAIChatBackend(
                endpoints=tuple(s.url for s in servers),
                model="m",
                retry=FAST_RETRY,
                limits=Limits(max_in_flight_per_endpoint=4),
            )
        )
        # Learn where 30 fresh keys get pinned.
        keys = [f"episode-{i}" for i in range(30)]
        for key in keys:
            await llm.complete(tagged(key), route_key=key)
        home = {key: next(i for i, s in enumerate(servers) if key in routes(s)) for key in keys}
        on = [[k for k in keys if home[k] == i] for i in range(3)]
        assert all(len(group) >= 5 for group in on), on
        probe = on[0][-1]
        async with anyio.create_task_group() as tg:
            # Endpoint 0 full (4 of 4), endpoint 1 holds 2, endpoint 2 holds 1.
            for index, count in ((0, 4), (1, 2), (2, 1)):
                for key in on[index][:count]:
                    tg.start_soon(functools.partial(llm.complete, tagged(key, hold=True), route_key=key))
            await servers[0].wait_for_requests(len(on[0]) + 4)
            await servers[1].wait_for_requests(len(on[1]) + 2)
            await servers[2].wait_for_requests(len(on[2]) + 1)
            await llm.complete(tagged(probe), route_key=probe)
            assert routes(servers[2])[-1] == probe, "the overflow went to the least loaded endpoint"
            release.set()
        await llm.complete(tagged(probe), route_key=probe)
    assert routes(servers[0])[-1] == probe, "the pin survived the overflow"


async def test_caps_are_never_exceeded_under_200_concurrent_calls() -> None:
    async with AsyncExitStack() as stack:
        servers = await start_servers(stack, 2)
        for server in servers:
            server.default = delay(0.002)
        llm = await stack.enter_async_context(
            OpenAIChatBackend(
                endpoints=tuple(s.url for s in servers),
                model="m",
                retry=FAST_RETRY,
                limits=Limits(max_in_flight_per_endpoint=5),
            )
        )
        peak_seen_by_client = 0

        async def call(index: int) -> None:
            nonlocal peak_seen_by_client
            await llm.complete(tagged(f"ep-{index % 40}"), route_key=f"ep-{index % 40}")
            peak_seen_by_client = max(peak_seen_by_client, *(e.in_flight for e in llm.statistics().endpoints))

        async with anyio.create_task_group() as tg:
            for index in range(200):
                tg.start_soon(call, index)
        stats = llm.statistics()
    assert [server.max_in_flight for server in servers] == [5, 5], "saturated, and never above the cap"
    assert sum(len(server.bodies) for server in servers) == 200
    assert peak_seen_by_client <= 5
    assert stats.completed == 200 and stats.waiting == 0
    assert [e.in_flight for e in stats.endpoints] == [0, 0]


async def test_waiting_callers_are_served_in_arrival_order() -> None:
    release = anyio.Event()
    async with canned_server() as server:
        server.then(gate(release))
        llm = OpenAIChatBackend(
            endpoints=(server.url,), model="m", retry=FAST_RETRY, limits=Limits(max_in_flight_per_endpoint=1)
        )
        async with llm, anyio.create_task_group() as tg:
            tg.start_soon(functools.partial(llm.complete, tagged("first"), route_key="first"))
            await server.wait_for_requests(1)
            for index in range(3):
                tg.start_soon(functools.partial(llm.complete, tagged(f"w{index}"), route_key=f"w{index}"))
                await wait_all_tasks_blocked()
            assert llm.statistics().waiting == 3
            release.set()
    assert routes(server) == ["first", "w0", "w1", "w2"]
    assert server.max_in_flight == 1


async def test_an_unhealthy_endpoint_gets_no_requests_during_its_cooldown() -> None:
    dead = refused_url()
    async with canned_server() as server:
        llm = OpenAIChatBackend(
            endpoints=(dead, server.url),
            model="m",
            retry=FAST_RETRY,
            health=HealthPolicy(failures_to_unhealthy=1, cooldown_s=60),
        )
        async with llm:
            for index in range(10):
                response = await llm.complete(tagged(f"ep-{index}"), route_key=f"ep-{index}")
                assert response.endpoint.startswith(server.url)
            stats = llm.statistics()
    dead_stats, live_stats = stats.endpoints
    assert (dead_stats.requests, dead_stats.healthy, dead_stats.failures_by_reason) == (1, False, {"connection": 1})
    assert (live_stats.requests, live_stats.healthy) == (10, True)
    assert stats.retries_by_reason == {"connection": 1}


async def test_when_every_endpoint_is_unhealthy_they_are_all_still_tried() -> None:
    llm = OpenAIChatBackend(
        endpoints=(refused_url(), refused_url()),
        model="m",
        retry=FAST_RETRY,
        health=HealthPolicy(failures_to_unhealthy=1, cooldown_s=60),
    )
    async with llm:
        with anyio.fail_after(5), pytest.raises(BackendConnectionError) as caught:
            await llm.complete(tagged("ep"), route_key="ep")
        stats = llm.statistics()
    assert caught.value.attempts == 4
    assert [e.requests for e in stats.endpoints] == [2, 2], "retries alternate between the endpoints"
    assert msgspec.json.encode(stats)
