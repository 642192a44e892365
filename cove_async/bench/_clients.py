"""HTTP clients for the LLM path, side by side in one run, against the simulated server.

Closed-loop workers, ``N`` requests in flight, each posting the same ~2 KB chat request and
decoding the reply. Clients:

- ``http1`` (the "bare" POST): cove's own keep-alive HTTP/1.1 transport
  (:class:`cove_async.backends._http1.Http1Pool`), the body pre-encoded, the reply
  JSON-decoded, no routing or bookkeeping;
- ``aiohttp``: the same bare POST through one ``ClientSession`` with ``TCPConnector(limit=N)``;
- ``cove``: :class:`cove_async.backends.OpenAIChatBackend` doing its whole ``complete()``: encode
  the request from a :class:`~cove_async.backends.ChatRequest`, route (a sticky key per worker),
  cap, send, decode and validate the reply into a :class:`~cove_async.backends.ChatResponse`;
- ``httpx``: one ``AsyncClient`` with ``Limits(max_connections=N)``;
- ``httpx-sharded``: one ``AsyncClient`` per 64 requests in flight;
- ``httpx2``: the API-compatible fork, like ``httpx`` (skipped when it does not import).

Each (client, level) gets a warm-up, then a measurement window; requests still in flight when
it closes are cancelled and not counted. Client CPU per request is the process's CPU over the
window divided by the requests completed in it. At each level ``http1``, ``aiohttp`` and
``cove`` are measured back to back in every round (cove's overhead ratio is the median of its
paired ratios to ``http1``, so drift on a shared machine hits both alike), the httpx family
once. A client whose median latency passed :data:`COLLAPSE_P50_S` at one level is not measured
at higher ones.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import anyio
import msgspec
import structlog

from cove_async.backends import ChatRequest, Limits, OpenAIChatBackend, RetryPolicy, Timeouts
from cove_async.backends._http1 import Http1Pool
from cove_async.backends._wire import RequestEncoder
from cove_async.bench._common import Budget, median, percentile
from cove_async.chat import FunctionCall, Message, ToolCall
from cove_async.mockllm import DEFAULT_MODEL

__all__ = (
    "CLIENTS",
    "COLLAPSE_P50_S",
    "ClientLevel",
    "ClientRow",
    "benchmark_request",
    "measure_clients",
)

log = structlog.get_logger()

CLIENTS = ("http1", "aiohttp", "cove", "httpx", "httpx-sharded", "httpx2")
"""Every client the comparison knows."""
PAIRED = ("http1", "aiohttp", "cove")
"""Measured every round, back to back, so their ratio is read from adjacent windows."""
COLLAPSE_P50_S = 5.0
"""A client whose median latency passed this at one level is not measured at higher ones."""
_PATH = "/v1/chat/completions"


class ClientRow(msgspec.Struct, kw_only=True):
    """One client at one level, one window.

    Attributes:
        client: the client's name.
        in_flight: requests in flight.
        round: the round (0 for clients measured once).
        completed: requests completed in the window.
        errors: requests failed in the window.
        window_s: the window's length.
        requests_per_s: completed per second.
        client_cpu_us_per_request: process CPU per completed request (None: none completed).
        latency_p50_ms: median request latency.
        latency_p99_ms: 99th-percentile request latency.
        note: why a row is empty, or the first error seen.
    """

    client: str
    in_flight: int
    round: int
    completed: int
    errors: int
    window_s: float
    requests_per_s: float
    client_cpu_us_per_request: float | None
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    note: str = ""


class ClientLevel(msgspec.Struct, kw_only=True):
    """cove's client CPU against the bare POST at one level (medians over the paired rounds).

    Attributes:
        in_flight: requests in flight.
        requests_per_s: cove's requests per second.
        client_cpu_us_per_request: cove's CPU per request.
        bare_client_cpu_us_per_request: the bare aiohttp POST's CPU per request.
        ratio: cove over bare, the median of the per-round ratios.
        fastest_client: the client with the least CPU per request at this level.
        ratio_to_fastest: cove over the fastest client.
        cpu_rounds: cove's CPU per request in each round.
        bare_cpu_rounds: the bare POST's CPU per request in each round.
    """

    in_flight: int
    requests_per_s: float
    client_cpu_us_per_request: float
    bare_client_cpu_us_per_request: float
    ratio: float
    fastest_client: str
    ratio_to_fastest: float
    cpu_rounds: list[float]
    bare_cpu_rounds: list[float]


def benchmark_request() -> ChatRequest:
    """A ~2 KB request: a system prompt, a few turns, one tool exchange and one tool schema."""
    system = (
        "You are a customer service agent for an online retail store. Authenticate the user by "
        "email or by name and zip code before anything else. You may look up orders, products and "
        "users, and you may cancel or modify pending orders, return or exchange delivered orders, "
        "and change a user's default address. Before any action that changes the database, list "
        "the action's details and obtain an explicit confirmation (yes) from the user. Make one "
        "tool call at a time and never make up information that a tool did not give you. Refuse "
        "requests that the policy does not allow, and transfer to a human agent only when the "
        "request cannot be handled within the scope of your actions. "
    )
    call = ToolCall(
        id="call_1",
        function=FunctionCall(name="find_user_id_by_email", arguments='{"email": "noah.brown7922@example.com"}'),
    )
    messages = (
        Message(role="system", content=system),
        Message(role="assistant", content="Hi! How can I help you today?"),
        Message(
            role="user",
            content="Hi, I would like to change the shipping address of my most recent order, it is "
            "still pending. My email is noah.brown7922@example.com.",
        ),
        Message(role="assistant", tool_calls=(call,)),
        Message(role="tool", tool_call_id="call_1", content="noah_brown_6181"),
        Message(
            role="assistant", content="Thank you, Noah. I found your account. Which order would you like to change?"
        ),
        Message(role="user", content="The one with the running shoes, order #W4817420."),
    )
    tool = {
        "type": "function",
        "function": {
            "name": "get_order_details",
            "description": "Get the status and details of an order.",
            "parameters": {
                "type": "object",
                "properties": {"order_id": {"type": "string", "description": "The order id, such as '#W0000000'."}},
                "required": ["order_id"],
            },
        },
    }
    return ChatRequest(messages=messages, tools=(tool,), temperature=0.0, max_tokens=512, seed=12345)


Send = Callable[[int], Awaitable[None]]
"""One request by the worker with this index."""


def _check(body: bytes) -> None:
    if not msgspec.json.decode(body)["choices"]:
        raise ValueError("no choices")


async def _closed_loop(client: str, level: int, send: Send, warmup_s: float, window_s: float) -> ClientRow:
    latencies: list[float] = []
    errors = 0
    measuring = False
    first_error = ""

    async def worker(index: int) -> None:
        nonlocal errors, first_error
        while True:
            start = time.perf_counter()
            try:
                await send(index)
            except Exception as exc:  # a failed request is counted, the worker goes on
                if measuring:
                    errors += 1
                    first_error = first_error or f"{type(exc).__name__}: {exc}"[:120]
                await anyio.lowlevel.checkpoint()
                continue
            if measuring:
                latencies.append(time.perf_counter() - start)

    async with anyio.create_task_group() as tg:
        for index in range(level):
            tg.start_soon(worker, index)
        await anyio.sleep(warmup_s)
        measuring = True
        cpu0, wall0 = time.process_time(), time.perf_counter()
        await anyio.sleep(window_s)
        cpu1, wall1 = time.process_time(), time.perf_counter()
        measuring = False
        done, failed = len(latencies), errors
        tg.cancel_scope.cancel(reason="measurement window over")
    wall = wall1 - wall0
    return ClientRow(
        client=client,
        in_flight=level,
        round=0,
        completed=done,
        errors=failed,
        window_s=round(wall, 3),
        requests_per_s=round(done / wall, 1),
        client_cpu_us_per_request=round((cpu1 - cpu0) / done * 1e6, 1) if done else None,
        latency_p50_ms=round(percentile(latencies, 50) * 1e3, 2) if latencies else None,
        latency_p99_ms=round(percentile(latencies, 99) * 1e3, 2) if latencies else None,
        note=f"errors, first: {first_error}" if failed else ("" if done else "no request completed in the window"),
    )


_HEADERS = {"content-type": "application/json"}


async def _run_httpx(
    module: Any, url: str, body: bytes, level: int, shard: int | None, times: tuple[float, float]
) -> ClientRow:
    size = shard or level
    clients = [
        module.AsyncClient(
            limits=module.Limits(max_connections=size, max_keepalive_connections=size),
            timeout=module.Timeout(120.0),
        )
        for _ in range(math.ceil(level / size))
    ]

    async def send(index: int) -> None:
        response = await clients[index // size].post(url, content=body, headers=_HEADERS)
        response.raise_for_status()
        _check(response.content)

    name = module.__name__ + ("-sharded" if shard else "")
    try:
        return await _closed_loop(name, level, send, *times)
    finally:
        with anyio.move_on_after(10, shield=True):
            for client in clients:
                await client.aclose()


async def _run_aiohttp(url: str, body: bytes, level: int, times: tuple[float, float]) -> ClientRow:
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=level), cookie_jar=aiohttp.DummyCookieJar())

    async def send(index: int) -> None:
        async with session.post(url, data=body, headers=_HEADERS) as response:
            data = await response.read()
            if response.status != 200:
                raise RuntimeError(f"HTTP {response.status}")
        _check(data)

    try:
        return await _closed_loop("aiohttp", level, send, *times)
    finally:
        with anyio.move_on_after(10, shield=True):
            await session.close()


async def _run_http1(base_url: str, body: bytes, level: int, times: tuple[float, float]) -> ClientRow:
    pool = Http1Pool(base_url)

    async def send(index: int) -> None:
        reply = await pool.post(_PATH, body)
        if reply.status != 200:
            raise RuntimeError(f"HTTP {reply.status}")
        _check(reply.body)

    try:
        return await _closed_loop("http1", level, send, *times)
    finally:
        pool.close()


async def _run_cove(base_url: str, request: ChatRequest, level: int, times: tuple[float, float]) -> ClientRow:
    async with OpenAIChatBackend(
        endpoints=(base_url,),
        model=DEFAULT_MODEL,
        limits=Limits(max_in_flight_per_endpoint=level),
        timeouts=Timeouts(request_s=120.0),
        retry=RetryPolicy(max_attempts=1),
    ) as backend:
        keys = [f"episode-{index}" for index in range(level)]

        async def send(index: int) -> None:
            await backend.complete(request, route_key=keys[index])

        return await _closed_loop("cove", level, send, *times)


def _skipped(client: str, level: int, note: str) -> ClientRow:
    return ClientRow(
        client=client,
        in_flight=level,
        round=0,
        completed=0,
        errors=0,
        window_s=0.0,
        requests_per_s=0.0,
        client_cpu_us_per_request=None,
        latency_p50_ms=None,
        latency_p99_ms=None,
        note=note,
    )


async def measure_clients(
    base_url: str,
    *,
    levels: list[int],
    rounds: int,
    clients: tuple[str, ...],
    times: tuple[float, float],
    budget: Budget,
) -> tuple[list[ClientRow], list[ClientLevel]]:
    """Measure ``clients`` against the server at ``base_url`` (``http://host:port``).

    Args:
        base_url: the server.
        levels: requests in flight, in increasing order.
        rounds: rounds of the http1/aiohttp/cove trio per level (the others run once).
        clients: which clients, among :data:`CLIENTS`.
        times: (warm-up, window) seconds per measurement.
        budget: the scenario's time budget (levels and rounds left out when it runs out).

    Returns:
        Every measurement, and cove against the bare POST per level.
    """
    url = base_url + _PATH
    request = benchmark_request()
    body = RequestEncoder(model=DEFAULT_MODEL).encode(request)
    httpx2: Any
    try:
        import httpx2
    except ImportError:
        httpx2 = None
    import httpx

    runners: dict[str, Callable[[int], Awaitable[ClientRow]]] = {
        "http1": lambda level: _run_http1(base_url, body, level, times),
        "aiohttp": lambda level: _run_aiohttp(url, body, level, times),
        "cove": lambda level: _run_cove(base_url, request, level, times),
        "httpx": lambda level: _run_httpx(httpx, url, body, level, None, times),
        "httpx-sharded": lambda level: _run_httpx(httpx, url, body, level, 64, times),
    }
    if httpx2 is not None:
        runners["httpx2"] = lambda level: _run_httpx(httpx2, url, body, level, None, times)
    chosen = [name for name in clients if name in runners]
    rows: list[ClientRow] = []
    collapsed: dict[str, str] = {}
    need = sum(times) + 1.0
    for level in levels:
        for round_index in range(rounds):
            for name in chosen:
                if round_index and name not in PAIRED:
                    continue
                if name in collapsed:
                    if not round_index:
                        rows.append(_skipped(name, level, collapsed[name]))
                    continue
                if budget.exhausted(need):
                    rows.append(_skipped(name, level, "skipped: the time budget ran out"))
                    continue
                row = await runners[name](level)
                row.round = round_index
                rows.append(row)
                log.info(
                    "bench_http_client",
                    client=name,
                    in_flight=level,
                    round=round_index,
                    requests_per_s=row.requests_per_s,
                    cpu_us=row.client_cpu_us_per_request,
                )
                if row.latency_p50_ms is None or row.latency_p50_ms > COLLAPSE_P50_S * 1e3:
                    collapsed[name] = f"skipped: p50 latency over {COLLAPSE_P50_S:.0f} s at {level} in flight"
    return rows, [summary for level in levels if (summary := _level(rows, level)) is not None]


def _cpu(rows: list[ClientRow], client: str, level: int) -> list[float]:
    return [
        r.client_cpu_us_per_request
        for r in rows
        if r.client == client and r.in_flight == level and r.client_cpu_us_per_request is not None
    ]


def _level(rows: list[ClientRow], level: int) -> ClientLevel | None:
    cove, bare = _cpu(rows, "cove", level), _cpu(rows, "http1", level) or _cpu(rows, "aiohttp", level)
    if not cove or not bare:
        return None
    by_client = {
        r.client: median(_cpu(rows, r.client, level))
        for r in rows
        if r.in_flight == level and r.client != "cove" and _cpu(rows, r.client, level)
    }
    fastest = min(by_client, key=by_client.__getitem__)
    rps = [r.requests_per_s for r in rows if r.client == "cove" and r.in_flight == level and r.completed]
    cove_median = median(cove)
    return ClientLevel(
        in_flight=level,
        requests_per_s=median(rps),
        client_cpu_us_per_request=cove_median,
        bare_client_cpu_us_per_request=median(bare),
        ratio=median([c / b for c, b in zip(cove, bare, strict=False)], 3),
        fastest_client=fastest,
        ratio_to_fastest=round(cove_median / by_client[fastest], 3),
        cpu_rounds=cove,
        bare_cpu_rounds=bare,
    )
