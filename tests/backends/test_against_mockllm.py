"""The backend against the project's simulated inference server, with its faults switched on:
every call either returns a completion or raises a backend error, and the counts reconcile."""

from __future__ import annotations

from collections import Counter

import anyio
import pytest

from cove_async.backends import BackendError, ChatRequest, Limits, OpenAIChatBackend, RetryPolicy, Timeouts
from cove_async.chat import Message
from cove_async.mockllm import FaultRates, running_server

pytestmark = pytest.mark.anyio

TOOLS = (
    {
        "type": "function",
        "function": {
            "name": "get_order",
            "description": "Look an order up.",
            "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]},
        },
    },
)


async def test_faulty_simulated_server_every_call_accounted_for() -> None:
    faults = FaultRates(
        error_500=0.05, error_503=0.05, error_429=0.02, malformed_json=0.02, bad_tool_arguments=0.02,
        empty_choices=0.02, retry_after_s=0.01,
    )  # fmt: skip
    request = ChatRequest(messages=(Message(role="user", content="where is my order #W0000001?"),), tools=TOOLS)
    outcomes: Counter[str] = Counter()
    async with running_server(faults=faults, seed=3) as server:
        llm = OpenAIChatBackend(
            endpoints=(server.base_url,),
            model="mock",
            retry=RetryPolicy(max_attempts=5, backoff_base_s=0.001, backoff_max_s=0.005),
            limits=Limits(max_in_flight_per_endpoint=16),
            timeouts=Timeouts(request_s=5),
        )
        async with llm:

            async def call(index: int) -> None:
                try:
                    response = await llm.complete(request, route_key=f"ep-{index % 20}")
                except BackendError as error:
                    outcomes[error.reason] += 1
                else:
                    assert response.message.role == "assistant"
                    assert response.usage.completion_tokens > 0
                    outcomes["ok"] += 1

            async with anyio.create_task_group() as tg:
                for index in range(300):
                    tg.start_soon(call, index)
            stats = llm.statistics()
        served = server.statistics()
    assert sum(outcomes.values()) == 300
    assert set(outcomes) <= {"ok", "protocol", "http_5xx", "http_429"}
    assert outcomes["ok"] >= 250 and outcomes["protocol"] > 0, outcomes
    # The server saw each call once plus each retry; 5xx and 429 were retried, protocol errors not.
    assert served.requests == 300 + sum(stats.retries_by_reason.values())
    assert set(stats.retries_by_reason) <= {"http_5xx", "http_429"} and stats.retries_by_reason
    assert stats.errors_by_reason.get("protocol", 0) == outcomes["protocol"]
    protocol_faults = sum(
        served.faults.get(kind, 0) for kind in ("malformed_json", "bad_tool_arguments", "empty_choices")
    )
    assert outcomes["protocol"] == protocol_faults
    assert stats.completed == outcomes["ok"] and stats.endpoints[0].in_flight == 0
