"""HTTP clients for the LLM path, side by side in one run, against a local OpenAI-compatible server.

    python benchmarks/http_clients.py            # 64, 512, 2048 in flight; a table (< 2 min)
    python benchmarks/http_clients.py --full     # adds 4096 in flight
    python benchmarks/http_clients.py --quick    # seconds: 64 and 256 in flight, short windows
    python benchmarks/http_clients.py --json     # one JSON object instead of the table
    python benchmarks/http_clients.py --clients aiohttp cove --levels 64 --rounds 8   # just the ratio

The server is a tiny ``aiohttp.web`` app in a separate process (pinned to the last CPU when
there are several) that answers every ``POST /v1/chat/completions`` with a fixed ~1 KB chat
completion, every other one with a tool call. The client process (uvloop when installed,
pinned to CPU 0) runs closed-loop workers, ``N`` requests in flight, each posting the same
~2 KB body and decoding the JSON reply. Clients:

- ``httpx``: one ``AsyncClient`` with ``Limits(max_connections=N)``;
- ``httpx-sharded``: one ``AsyncClient`` per 64 requests in flight;
- ``httpx2``: the Pydantic fork, same shape as ``httpx`` (skipped when it does not import);
- ``aiohttp`` (the "bare" POST): one ``ClientSession`` with ``TCPConnector(limit=N)``, the body
  pre-encoded, the reply decoded to Python objects, no routing or bookkeeping;
- ``cove``: :class:`cove_async.backends.OpenAIChatBackend` doing its whole ``complete()``:
  encode the request from a :class:`ChatRequest`, route (sticky key per worker), cap, send,
  decode and validate the reply into a :class:`ChatResponse`, keep statistics.

Each (client, level) gets a warm-up (0.5 s), then a measurement window (2 s); requests still in
flight at the end are cancelled and not counted. Client CPU per request is
``time.process_time()`` over the window divided by the requests completed in it. Levels run in
increasing order; at each, ``aiohttp`` and ``cove`` are measured back to back in 3 rounds (the
reported overhead ratio is the median of the paired ratios, so drift on a shared machine hits
both alike), the httpx family once. A client whose median latency passed 5 s at one level is
not measured at higher ones (its row says so): httpx 0.28 collapses there, and waiting for it
would take minutes.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import multiprocessing
import os
import platform
import socket
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from multiprocessing.connection import Connection
from typing import Any

import aiohttp
import anyio
import httpx
import msgspec

from cove_async.backends import ChatRequest, Limits, OpenAIChatBackend, RetryPolicy, Timeouts
from cove_async.backends._wire import RequestEncoder
from cove_async.chat import FunctionCall, Message, ToolCall

PATH = "/v1/chat/completions"

# ---------------------------------------------------------------------------------------------
# The server (separate process)


def _reply(index: int) -> bytes:
    """A ~1 KB chat completion; odd indices carry a tool call, even ones text."""
    if index % 2:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_7f3a9c2e41b8",
                    "type": "function",
                    "function": {
                        "name": "get_order_details",
                        "arguments": json.dumps({"order_id": "#W4817420"}),
                    },
                }
            ],
        }
        finish = "tool_calls"
    else:
        message = {
            "role": "assistant",
            "content": (
                "Thanks, I found your order #W4817420. It contains a pair of running shoes (size 9, "
                "blue) and a water bottle, shipped to 123 Maple Street, Springfield. The order is "
                "still pending, so I can change the shipping address or cancel it for you. Before I "
                "make any change, please confirm which of these you would like me to do, and if you "
                "want a new address, tell me the full street, city, state, country and zip code."
            ),
        }
        finish = "stop"
    body = {
        "id": f"chatcmpl-bench{index:08d}",
        "object": "chat.completion",
        "created": 1_760_000_000,
        "model": "bench-model",
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        "usage": {"prompt_tokens": 612, "completion_tokens": 87, "total_tokens": 699},
        "system_fingerprint": "fp_bench_0000000000",
    }
    return json.dumps(body).encode()


def _serve(conn: Connection, cpu: int | None) -> None:
    """Run the mock server until the parent closes ``conn``; send the bound port first."""
    import asyncio

    from aiohttp import web

    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    # Clients cancel requests at the end of each window; the server need not log each one.
    logging.getLogger("aiohttp").setLevel(logging.CRITICAL)
    replies = (_reply(0), _reply(1))
    count = 0

    async def completions(request: web.Request) -> web.Response:
        nonlocal count
        await request.read()
        count += 1
        return web.Response(body=replies[count % 2], content_type="application/json")

    async def main() -> None:
        app = web.Application()
        app.router.add_post(PATH, completions)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        site = web.SockSite(runner, sock, backlog=8192)
        await site.start()
        conn.send(sock.getsockname()[1])
        loop = asyncio.get_running_loop()
        # The parent closes its end when done; poll in a thread so the loop stays free.
        await loop.run_in_executor(None, _wait_closed, conn)
        await runner.cleanup()

    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())


def _wait_closed(conn: Connection) -> None:
    try:
        conn.recv()
    except EOFError:
        return


# ---------------------------------------------------------------------------------------------
# The payload


def _request() -> ChatRequest:
    """A ~2 KB request: system prompt, a few turns, one tool exchange and one tool schema."""
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
            role="assistant",
            content="Thank you, Noah. I found your account. Which order would you like to change?",
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


# ---------------------------------------------------------------------------------------------
# The clients

Send = Callable[[int], Awaitable[None]]
"""One request by the worker with this index."""


class Result(msgspec.Struct, kw_only=True):
    client: str
    in_flight: int
    completed: int
    errors: int
    window_s: float
    requests_per_s: float
    client_cpu_us_per_request: float | None
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    note: str = ""
    elapsed_s: float = 0.0
    """Wall time of the whole measurement, set-up and tear-down included."""


_HEADERS = {"content-type": "application/json"}


def _check(body: bytes) -> None:
    decoded = msgspec.json.decode(body)
    if not decoded["choices"]:
        raise ValueError("no choices")


async def _closed_loop(client: str, level: int, send: Send, warmup_s: float, window_s: float) -> Result:
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
    latencies.sort()
    return Result(
        client=client,
        in_flight=level,
        completed=done,
        errors=failed,
        window_s=round(wall, 3),
        requests_per_s=round(done / wall, 1),
        client_cpu_us_per_request=round((cpu1 - cpu0) / done * 1e6, 1) if done else None,
        latency_p50_ms=round(latencies[len(latencies) // 2] * 1e3, 2) if latencies else None,
        latency_p99_ms=round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1e3, 2)
        if latencies
        else None,
        note=f"errors, first: {first_error}" if failed else ("" if done else "no request completed in the window"),
    )


async def _run_httpx(
    module: Any, url: str, body: bytes, level: int, shard: int | None, times: tuple[float, float]
) -> Result:
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


async def _run_aiohttp(url: str, body: bytes, level: int, times: tuple[float, float]) -> Result:
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


async def _run_cove(base_url: str, request: ChatRequest, level: int, times: tuple[float, float]) -> Result:
    async with OpenAIChatBackend(
        endpoints=(base_url,),
        model="bench-model",
        limits=Limits(max_in_flight_per_endpoint=level),
        timeouts=Timeouts(request_s=120.0),
        retry=RetryPolicy(max_attempts=1),
    ) as backend:
        keys = [f"episode-{index}" for index in range(level)]

        async def send(index: int) -> None:
            await backend.complete(request, route_key=keys[index])

        return await _closed_loop("cove", level, send, *times)


# ---------------------------------------------------------------------------------------------
# The run


def _table(report: dict[str, Any]) -> str:
    lines = [
        f"{'client':<15} {'in flight':>9} {'req/s':>9} {'CPU us/req':>11} {'p50 ms':>9} {'p99 ms':>9} {'errors':>7}  note",
    ]
    for row in report["results"]:
        cpu = row["client_cpu_us_per_request"]
        p50, p99 = row["latency_p50_ms"], row["latency_p99_ms"]
        lines.append(
            f"{row['client']:<15} {row['in_flight']:>9} {row['requests_per_s']:>9.0f} "
            f"{'-' if cpu is None else f'{cpu:.0f}':>11} {'-' if p50 is None else f'{p50:.1f}':>9} "
            f"{'-' if p99 is None else f'{p99:.1f}':>9} {row['errors']:>7}  {row['note']}"
        )
    lines.append("")
    lines.append(
        f"cove complete() vs bare aiohttp POST, client CPU per request (medians of {report['rounds']} paired rounds):"
    )
    for level, row in report["levels"].items():
        cove, bare, ratio = row["client_cpu_us_per_request"], row["bare_client_cpu_us_per_request"], row["ratio"]
        lines.append(f"  {level:>5} in flight: cove {cove} us, bare {bare} us, ratio {ratio}")
    return "\n".join(lines)


COLLAPSE_P50_S = 5.0
"""A client whose median latency passed this at one level is not measured at higher ones."""

PAIRED = ("aiohttp", "cove")
"""Measured every round, back to back, so their ratio is read from adjacent windows."""


async def _measure(args: argparse.Namespace, port: int) -> dict[str, Any]:
    base_url = f"http://127.0.0.1:{port}"
    url = base_url + PATH
    request = _request()
    body = RequestEncoder(model="bench-model").encode(request)
    levels = args.levels or ([64, 256] if args.quick else [64, 512, 2048] + ([4096] if args.full else []))
    times = (0.2, 0.5) if args.quick else (0.5, 2.0)
    rounds = args.rounds or (1 if args.quick else 3)
    httpx2: Any
    try:
        import httpx2
    except ImportError:
        httpx2 = None
    runners: dict[str, Callable[[int], Awaitable[Result]]] = {
        "aiohttp": lambda level: _run_aiohttp(url, body, level, times),
        "cove": lambda level: _run_cove(base_url, request, level, times),
        "httpx": lambda level: _run_httpx(httpx, url, body, level, None, times),
        "httpx-sharded": lambda level: _run_httpx(httpx, url, body, level, 64, times),
    }
    if httpx2 is not None:
        runners["httpx2"] = lambda level: _run_httpx(httpx2, url, body, level, None, times)
    chosen = [name for name in runners if name in args.clients] if args.clients else list(runners)
    results: list[Result] = []
    collapsed: dict[str, str] = {}
    for level in levels:
        for round_index in range(rounds):
            for name in chosen:
                if round_index and name not in PAIRED:
                    continue
                if name in collapsed:
                    results.append(_skipped(name, level, collapsed[name]))
                    continue
                began = time.perf_counter()
                result = await runners[name](level)
                result.elapsed_s = round(time.perf_counter() - began, 2)
                results.append(result)
                if result.latency_p50_ms is None or result.latency_p50_ms > COLLAPSE_P50_S * 1e3:
                    collapsed[name] = f"skipped: p50 latency over {COLLAPSE_P50_S:.0f} s at {level} in flight"
    levels_report: dict[str, dict[str, Any]] = {}
    for level in levels:
        cove = _cpu(results, "cove", level)
        bare = _cpu(results, "aiohttp", level)
        ratios = [c / b for c, b in zip(cove, bare, strict=False)]
        levels_report[str(level)] = {
            "client_cpu_us_per_request": _median(cove),
            "bare_client_cpu_us_per_request": _median(bare),
            "ratio": _median(ratios, digits=3),
            "client_cpu_us_per_request_rounds": cove,
            "bare_client_cpu_us_per_request_rounds": bare,
        }
    return {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "aiohttp": aiohttp.__version__,
            "httpx": httpx.__version__,
            "httpx2": getattr(httpx2, "__version__", None),
            "loop": args.loop,
        },
        "request_body_bytes": len(body),
        "reply_bytes": [len(_reply(0)), len(_reply(1))],
        "warmup_s": times[0],
        "window_s": times[1],
        "rounds": rounds,
        "results": [msgspec.to_builtins(r) for r in results],
        "levels": levels_report,
    }


def _skipped(client: str, level: int, note: str) -> Result:
    return Result(
        client=client,
        in_flight=level,
        completed=0,
        errors=0,
        window_s=0.0,
        requests_per_s=0.0,
        client_cpu_us_per_request=None,
        latency_p50_ms=None,
        latency_p99_ms=None,
        note=note,
    )


def _cpu(results: list[Result], client: str, level: int) -> list[float]:
    return [
        r.client_cpu_us_per_request
        for r in results
        if r.client == client and r.in_flight == level and r.client_cpu_us_per_request is not None
    ]


def _median(values: list[float], digits: int = 1) -> float | None:
    return round(statistics.median(values), digits) if values else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--quick", action="store_true", help="seconds, not minutes: 64 and 256 in flight, short windows, one round"
    )
    parser.add_argument("--full", action="store_true", help="add 4096 in flight")
    parser.add_argument(
        "--rounds",
        type=int,
        help="rounds of the aiohttp/cove pair per level (default 3, 1 with --quick); the others run once",
    )
    parser.add_argument(
        "--clients",
        nargs="+",
        choices=("aiohttp", "cove", "httpx", "httpx-sharded", "httpx2"),
        help="measure only these (default: all that import)",
    )
    parser.add_argument("--levels", type=int, nargs="+", help="requests in flight to measure (overrides the defaults)")
    args = parser.parse_args()
    cpus = sorted(os.sched_getaffinity(0))
    server_cpu = cpus[-1] if len(cpus) > 1 else None
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    server = ctx.Process(target=_serve, args=(child, server_cpu), daemon=True)
    server.start()
    child.close()
    try:
        if not parent.poll(30):
            sys.exit("the benchmark server did not start within 30 s")
        port = parent.recv()
        if server_cpu is not None:
            os.sched_setaffinity(0, {cpus[0]})
        try:
            import uvloop  # noqa: F401

            args.loop = "uvloop"
            options: dict[str, Any] = {"use_uvloop": True}
        except ImportError:
            args.loop, options = "asyncio", {}
        report = anyio.run(_measure, args, port, backend="asyncio", backend_options=options)
    finally:
        parent.close()
        server.join(timeout=10)
        if server.is_alive():
            server.kill()
    print(json.dumps(report) if args.json else _table(report))  # noqa: T201


if __name__ == "__main__":
    main()
