"""Helpers for simulated-server tests: a tool, request bodies, raw POSTs and test responders."""

from __future__ import annotations

from typing import Any

import aiohttp
import anyio
import msgspec

from cove_async.backends import ChatRequest
from cove_async.mockllm import DefaultResponder, Reply

TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "get_order",
            "description": "Look an order up.",
            "parameters": {
                "type": "object",
                "properties": {"order_id": {"type": "string", "description": "like '#W0000001'"}},
                "required": ["order_id"],
            },
        },
    }
]


def user_body(text: str = "where is my order?", **fields: Any) -> dict[str, Any]:
    """A chat request body: one user message, the tool offered."""
    return {"model": "mock", "messages": [{"role": "user", "content": text}], "tools": TOOLS, **fields}


async def post(
    session: aiohttp.ClientSession, url: str, body: Any, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """POST ``body`` (JSON unless already bytes); the status, headers and raw body of the answer."""
    data = body if isinstance(body, bytes) else msgspec.json.encode(body)
    merged = {"Content-Type": "application/json", **(headers or {})}
    async with session.post(url, data=data, headers=merged) as response:
        return response.status, dict(response.headers), await response.read()


class GatedResponder:
    """The default responder behind a gate: every request waits until ``gate`` is set."""

    def __init__(self) -> None:
        self.gate = anyio.Event()
        self.inner = DefaultResponder()

    async def respond(self, request: ChatRequest) -> Reply:
        await self.gate.wait()
        return await self.inner.respond(request)


class FixedResponder:
    """Always the same text; remembers what it was asked."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.requests: list[ChatRequest] = []

    async def respond(self, request: ChatRequest) -> Reply:
        self.requests.append(request)
        return Reply(content=self.text)
