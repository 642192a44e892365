"""Wire-shape sanity: the official ``openai`` client talks to the same canned server our backend uses,
and what it sends decodes into our :class:`ChatRequest`."""

from __future__ import annotations

import json
from typing import Any, cast

import msgspec
import pytest
from openai import AsyncOpenAI

from cove_async.backends import ChatRequest, OpenAIChatBackend
from cove_async.chat import Message
from tests.backends._canned import canned_server, ok, tool_call

pytestmark = pytest.mark.anyio

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_order_details",
            "description": "Get the status and details of an order.",
            "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]},
        },
    }
]


async def test_openai_client_and_our_backend_agree_on_the_wire() -> None:
    arguments = json.dumps({"order_id": "#W0000001"})
    reply = ok(content=None, tool_calls=[tool_call("get_order_details", arguments)], finish_reason="tool_calls")
    async with canned_server() as server:
        server.then(reply, reply)
        async with AsyncOpenAI(base_url=server.url + "/v1", api_key="sk-test", max_retries=0) as client:
            theirs = await client.chat.completions.create(
                model="test-model",
                # The SDK types these as TypedDicts; the plain dicts are what goes on the wire.
                messages=cast(Any, [{"role": "user", "content": "where is my order?"}]),
                tools=cast(Any, TOOLS),
                tool_choice="auto",
                temperature=0.5,
                seed=11,
            )
        async with OpenAIChatBackend(endpoints=(server.url + "/v1",), model="test-model") as llm:
            ours = await llm.complete(
                ChatRequest(
                    messages=(Message(role="user", content="where is my order?"),),
                    tools=tuple(TOOLS),
                    tool_choice="auto",
                    temperature=0.5,
                    seed=11,
                ),
                route_key="ep",
            )
    # Both clients read the same reply the same way.
    (call,) = theirs.choices[0].message.tool_calls or []
    assert call.type == "function"
    assert (call.id, call.function.name, call.function.arguments) == ("call_1", "get_order_details", arguments)
    assert ours.message.tool_calls[0].id == call.id
    assert ours.message.tool_calls[0].function.arguments == call.function.arguments
    assert theirs.choices[0].finish_reason == ours.finish_reason == "tool_calls"
    assert theirs.usage is not None and theirs.usage.prompt_tokens == ours.usage.prompt_tokens
    # And they send the same request, which decodes into our ChatRequest.
    sent_by_openai, sent_by_us = server.bodies
    assert sent_by_openai == sent_by_us
    decoded = msgspec.json.decode(json.dumps(sent_by_openai), type=ChatRequest)
    assert decoded.messages == (Message(role="user", content="where is my order?"),)
    assert decoded.model == "test-model" and decoded.seed == 11 and decoded.tools == tuple(TOOLS)
