"""A real OpenAI-compatible HTTP server for backend tests, answering from a script of canned replies.

Each request takes the next behaviour from the server's script (a plain text completion once
the script is empty). The server records every request body and how many requests it held at
once, so tests can check what reached the wire.
"""

from __future__ import annotations

import collections
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
from aiohttp import web

Behaviour = Callable[["CannedServer", dict[str, Any]], Awaitable[web.Response]]


def completion(
    *,
    content: str | None = "Hello from the canned server.",
    tool_calls: list[dict[str, Any]] | None = None,
    finish_reason: str = "stop",
    **extra_choice: Any,
) -> dict[str, Any]:
    """A chat completion body in OpenAI's shape, with the fields a strict client expects."""
    message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
    if tool_calls is not None:
        message["tool_calls"] = tool_calls
    return {
        "id": "chatcmpl-canned",
        "object": "chat.completion",
        "created": 1_760_000_000,
        "model": "canned-model",
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason, **extra_choice}],
        "usage": {
            "prompt_tokens": 11,
            "completion_tokens": 7,
            "total_tokens": 18,
            "prompt_tokens_details": {"cached_tokens": 3},
        },
        "system_fingerprint": "fp_canned",
    }


def tool_call(name: str, arguments: str, call_id: str = "call_1") -> dict[str, Any]:
    """One tool call in OpenAI's wire shape (``arguments`` is sent as given, even if not JSON)."""
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def ok(**fields: Any) -> Behaviour:
    """Answer 200 with :func:`completion` (``fields`` go to it)."""

    async def behave(server: CannedServer, body: dict[str, Any]) -> web.Response:
        return web.json_response(completion(**fields))

    return behave


def echo_extras() -> Behaviour:
    """Answer 200, with logprobs and token ids when the request asked for them (as vLLM does)."""

    async def behave(server: CannedServer, body: dict[str, Any]) -> web.Response:
        extra: dict[str, Any] = {}
        if body.get("logprobs"):
            extra["logprobs"] = {"content": [{"token": "Hi", "logprob": -0.25, "bytes": [72, 105], "top_logprobs": []}]}
        if body.get("return_token_ids"):
            extra["token_ids"] = [9906, 0]
        reply = completion(content="Hi", **extra)
        if body.get("return_token_ids"):
            reply["prompt_token_ids"] = [1, 2, 3]
        return web.json_response(reply)

    return behave


def status(code: int, text: str = '{"error": {"message": "canned failure"}}', **headers: str) -> Behaviour:
    """Answer with HTTP ``code``, a JSON error body and ``headers``."""

    async def behave(server: CannedServer, body: dict[str, Any]) -> web.Response:
        return web.Response(status=code, text=text, content_type="application/json", headers=headers)

    return behave


def raw(payload: bytes | str) -> Behaviour:
    """Answer 200 with ``payload`` as the body, whatever it is."""

    async def behave(server: CannedServer, body: dict[str, Any]) -> web.Response:
        return web.Response(
            body=payload if isinstance(payload, bytes) else payload.encode(), content_type="application/json"
        )

    return behave


def hang() -> Behaviour:
    """Never answer (until the server closes)."""

    async def behave(server: CannedServer, body: dict[str, Any]) -> web.Response:
        await server.closing.wait()
        return web.Response(status=503)

    return behave


def gate(event: anyio.Event) -> Behaviour:
    """Answer 200 once ``event`` is set."""

    async def behave(server: CannedServer, body: dict[str, Any]) -> web.Response:
        await event.wait()
        return web.json_response(completion())

    return behave


def delay(seconds: float) -> Behaviour:
    """Answer 200 after ``seconds`` (a latency model, so requests overlap)."""

    async def behave(server: CannedServer, body: dict[str, Any]) -> web.Response:
        await anyio.sleep(seconds)
        return web.json_response(completion())

    return behave


class CannedServer:
    """The server's state: its script, what it received and its concurrency high-water mark."""

    def __init__(self) -> None:
        self.script: collections.deque[Behaviour] = collections.deque()
        self.default: Behaviour = ok()
        self.bodies: list[dict[str, Any]] = []
        self.arrivals: list[float] = []
        self.headers: list[dict[str, str]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.closing = anyio.Event()
        self.url = ""
        self._arrival_waiters: list[tuple[int, anyio.Event]] = []

    def then(self, *behaviours: Behaviour) -> CannedServer:
        """Queue behaviours for the next requests, in order."""
        self.script.extend(behaviours)
        return self

    async def wait_for_requests(self, count: int) -> None:
        """Return once ``count`` requests have arrived in all."""
        if len(self.bodies) >= count:
            return
        event = anyio.Event()
        self._arrival_waiters.append((count, event))
        await event.wait()

    async def handle(self, request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        self.bodies.append(body)
        self.arrivals.append(time.perf_counter())
        self.headers.append(dict(request.headers))
        for waiter in [w for w in self._arrival_waiters if len(self.bodies) >= w[0]]:
            self._arrival_waiters.remove(waiter)
            waiter[1].set()
        behaviour = self.script.popleft() if self.script else self.default
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await behaviour(self, body)
        finally:
            self.in_flight -= 1


@asynccontextmanager
async def canned_server() -> AsyncIterator[CannedServer]:
    """Serve a :class:`CannedServer` on an ephemeral loopback port while the block runs."""
    server = CannedServer()
    app = web.Application()
    app.router.add_post("/v1/chat/completions", server.handle)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    server.url = f"http://{host}:{port}"
    try:
        yield server
    finally:
        server.closing.set()
        with anyio.CancelScope(shield=True):
            await runner.cleanup()


def refused_url() -> str:
    """A loopback URL where nothing listens (a port bound, then released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
