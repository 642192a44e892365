"""The OpenAI-compatible backend over real HTTP: request shape, retries, errors, timeouts, statistics."""

from __future__ import annotations

import email.utils
import functools
import time

import anyio
import msgspec
import pytest
import structlog
from anyio.abc import TaskStatus

from cove_async.backends import (
    BackendConnectionError,
    BackendError,
    BackendProtocolError,
    BackendStatusError,
    BackendTimeout,
    ChatBackend,
    ChatRequest,
    Limits,
    OpenAIChatBackend,
    RetryPolicy,
    Timeouts,
    chat_completions_url,
)
from cove_async.backends._openai import _retry_after_s
from cove_async.chat import FunctionCall, Message, ToolCall
from cove_async.errors import CoveError
from tests.backends._canned import (
    CannedServer,
    canned_server,
    echo_extras,
    gate,
    hang,
    ok,
    raw,
    refused_url,
    status,
    tool_call,
)

pytestmark = pytest.mark.anyio

FAST_RETRY = RetryPolicy(max_attempts=4, backoff_base_s=0.001, backoff_max_s=0.002)
HELLO = ChatRequest(messages=(Message(role="user", content="hello"),))


def backend(*servers: CannedServer | str, **options: object) -> OpenAIChatBackend:
    urls = tuple(s if isinstance(s, str) else s.url for s in servers)
    options.setdefault("retry", FAST_RETRY)
    return OpenAIChatBackend(endpoints=urls, model="test-model", name="agent", **options)  # type: ignore[arg-type]


async def test_request_body_carries_every_field_and_extra_body_last() -> None:
    tools = (
        {
            "type": "function",
            "function": {"name": "get_order_details", "parameters": {"type": "object", "properties": {}}},
        },
    )
    call = ToolCall(id="call_9", function=FunctionCall(name="get_order_details", arguments='{"order_id": "#W1"}'))
    request = ChatRequest(
        messages=(
            Message(role="system", content="be brief"),
            Message(role="user", content="where is my order?"),
            Message(role="assistant", tool_calls=(call,)),
            Message(role="tool", tool_call_id="call_9", content="shipped"),
        ),
        tools=tools,
        tool_choice="auto",
        temperature=0.7,
        top_p=0.9,
        max_tokens=64,
        seed=42,
        extra_body={"logprobs": True, "top_logprobs": 2, "chat_template_kwargs": {"enable_thinking": False}, "seed": 7},
    )
    async with canned_server() as server, backend(server, api_key="sk-test") as llm:
        await llm.complete(request, route_key="ep-1")
        await llm.complete(request, route_key="ep-1")  # the encoded tools are reused: same bytes
    body = server.bodies[0]
    assert body == server.bodies[1]
    assert body["model"] == "test-model"
    assert body["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "where is my order?"},
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": "call_9",
                    "function": {"name": "get_order_details", "arguments": '{"order_id": "#W1"}'},
                    "type": "function",
                }
            ],
        },
        {"role": "tool", "content": "shipped", "tool_call_id": "call_9"},
    ]
    assert body["tools"] == list(tools)
    assert (body["tool_choice"], body["temperature"], body["top_p"], body["max_tokens"]) == ("auto", 0.7, 0.9, 64)
    assert body["seed"] == 7, "extra_body is applied last"
    assert body["logprobs"] is True and body["top_logprobs"] == 2
    assert body["chat_template_kwargs"] == {"enable_thinking": False}
    assert server.headers[0]["Authorization"] == "Bearer sk-test"
    assert server.headers[0]["Content-Type"] == "application/json"


async def test_unset_fields_are_left_out_and_model_can_be_overridden() -> None:
    async with canned_server() as server, backend(server) as llm:
        await llm.complete(msgspec.structs.replace(HELLO, model="other-model"), route_key="ep")
    assert server.bodies[0] == {"model": "other-model", "messages": [{"role": "user", "content": "hello"}]}


async def test_response_is_decoded_with_usage_and_timing() -> None:
    arguments = '{"order_id": "#W0000001"}'
    async with canned_server() as server, backend(server) as llm:
        server.then(
            ok(content=None, tool_calls=[tool_call("get_order_details", arguments)], finish_reason="tool_calls")
        )
        response = await llm.complete(HELLO, route_key="ep")
    assert response.message == Message(
        role="assistant",
        tool_calls=(ToolCall(id="call_1", function=FunctionCall(name="get_order_details", arguments=arguments)),),
    )
    assert response.finish_reason == "tool_calls"
    assert (response.usage.prompt_tokens, response.usage.completion_tokens, response.usage.cached_tokens) == (11, 7, 3)
    assert response.usage.total_tokens == 18
    assert (response.model, response.response_id) == ("canned-model", "chatcmpl-canned")
    assert response.endpoint == server.url + "/v1/chat/completions"
    assert response.attempts == 1
    assert 0 < response.latency_s <= response.total_s
    assert response.ttft_s is None
    assert response.extras() == {}


async def test_logprobs_and_token_ids_are_kept_when_asked_for() -> None:
    request = msgspec.structs.replace(HELLO, extra_body={"logprobs": True, "return_token_ids": True})
    async with canned_server() as server, backend(server) as llm:
        server.default = echo_extras()
        plain = await llm.complete(HELLO, route_key="ep")
        rich = await llm.complete(request, route_key="ep")
    assert plain.extras() == {}
    assert rich.token_ids == (9906, 0)
    assert rich.prompt_token_ids == (1, 2, 3)
    assert rich.logprobs == {"content": [{"token": "Hi", "logprob": -0.25, "bytes": [72, 105], "top_logprobs": []}]}
    assert set(rich.extras()) == {"logprobs", "token_ids", "prompt_token_ids"}


async def test_5xx_is_retried_then_succeeds() -> None:
    async with canned_server() as server, backend(server) as llm:
        server.then(status(500), status(502), status(503))
        with structlog.testing.capture_logs() as logs:
            response = await llm.complete(HELLO, route_key="ep")
        stats = llm.statistics()
    assert response.attempts == 4 and len(server.bodies) == 4
    assert [(e["event"], e["reason"], e["attempt"], e["route_key"]) for e in logs] == [
        ("llm_request_retry", "http_5xx", attempt, "ep") for attempt in (1, 2, 3)
    ]
    assert stats.retries_by_reason == {"http_5xx": 3}
    assert stats.errors_by_reason == {}
    assert stats.endpoints[0].failures_by_reason == {"http_5xx": 3}


async def test_5xx_on_every_attempt_says_how_many_attempts() -> None:
    async with canned_server() as server, backend(server) as llm:
        server.default = status(503, '{"error": "overloaded"}')
        with pytest.raises(BackendStatusError) as caught:
            await llm.complete(HELLO, route_key="ep")
    error = caught.value
    assert len(server.bodies) == 4
    assert (error.status, error.attempts, error.reason) == (503, 4, "http_5xx")
    assert "HTTP 503" in str(error) and "overloaded" in str(error)
    assert "gave up after 4 attempts" in str(error)
    assert error.endpoint == server.url + "/v1/chat/completions"
    assert isinstance(error, BackendError) and isinstance(error, CoveError)


@pytest.mark.parametrize("code", [400, 401, 404, 422])
async def test_other_4xx_is_never_retried(code: int) -> None:
    async with canned_server() as server, backend(server) as llm:
        server.default = status(code, '{"error": {"message": "model not found"}}')
        with pytest.raises(BackendStatusError) as caught:
            await llm.complete(HELLO, route_key="ep")
        stats = llm.statistics()
    assert len(server.bodies) == 1
    assert (caught.value.status, caught.value.attempts, caught.value.reason) == (code, 1, "http_4xx")
    assert f"HTTP {code}" in str(caught.value) and "not retried" in str(caught.value)
    assert "model not found" in caught.value.snippet
    assert stats.retries_by_reason == {} and stats.errors_by_reason == {"http_4xx": 1}


async def test_429_honours_retry_after_seconds() -> None:
    # The backoff alone would wait at most 2 ms; Retry-After asks for 0.3 s.
    async with canned_server() as server, backend(server) as llm:
        server.then(status(429, **{"Retry-After": "0.3"}))
        response = await llm.complete(HELLO, route_key="ep")
        stats = llm.statistics()
    assert response.attempts == 2
    assert server.arrivals[1] - server.arrivals[0] >= 0.3
    assert stats.retries_by_reason == {"http_429": 1}


async def test_retry_after_is_capped_by_the_policy() -> None:
    policy = RetryPolicy(max_attempts=2, backoff_base_s=0.001, retry_after_max_s=0.01)
    async with canned_server() as server, backend(server, retry=policy) as llm:
        server.then(status(429, **{"Retry-After": "3600"}))
        with anyio.fail_after(2):
            response = await llm.complete(HELLO, route_key="ep")
    assert response.attempts == 2


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert _retry_after_s("2") == 2.0
    assert _retry_after_s("0.5") == 0.5
    assert _retry_after_s(None) is None
    assert _retry_after_s("soon") is None
    in_a_minute = email.utils.formatdate(time.time() + 60, usegmt=True)
    assert 55 <= (_retry_after_s(in_a_minute) or 0) <= 61
    assert _retry_after_s(email.utils.formatdate(time.time() - 60, usegmt=True)) == 0.0
    assert _retry_after_s("1", "250") == 0.25, "retry-after-ms wins"
    assert _retry_after_s("1", "n/a") == 1.0


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b"<html>502 Bad Gateway</html>", "malformed chat completion"),
        (b'{"id": "x", "choices": []}', "has no choices"),
        (b'{"id": "x", "error": {"message": "boom"}}', "has no choices"),
        (b'{"id": "x", "choices": [{"index": 0, "finish_reason": "stop"}]}', "has no message"),
        (b'{"choices": [{"message": {"content": 5}}]}', "$.choices[0].message.content"),
    ],
)
async def test_malformed_replies_raise_protocol_errors_without_retry(payload: bytes, expected: str) -> None:
    async with canned_server() as server, backend(server) as llm:
        server.default = raw(payload)
        with pytest.raises(BackendProtocolError) as caught:
            await llm.complete(HELLO, route_key="ep")
    assert len(server.bodies) == 1
    assert expected in str(caught.value)
    assert caught.value.snippet and caught.value.snippet in payload.decode()
    assert caught.value.reason == "protocol" and caught.value.attempts == 1


async def test_tool_call_arguments_that_are_not_json_raise_a_protocol_error() -> None:
    async with canned_server() as server, backend(server) as llm:
        server.default = ok(tool_calls=[tool_call("get_order_details", '{"order_id": "#W1"')])
        with pytest.raises(BackendProtocolError) as caught:
            await llm.complete(HELLO, route_key="ep")
    message = str(caught.value)
    assert "tool call 0 ('get_order_details')" in message and "not JSON" in message
    assert caught.value.snippet == '{"order_id": "#W1"'


async def test_protocol_errors_are_retried_when_the_policy_says_so() -> None:
    policy = RetryPolicy(max_attempts=3, backoff_base_s=0.001, retry_protocol_errors=True)
    async with canned_server() as server, backend(server, retry=policy) as llm:
        server.then(raw(b"not json"))
        response = await llm.complete(HELLO, route_key="ep")
    assert response.attempts == 2 and llm.statistics().retries_by_reason == {"protocol": 1}


async def test_hung_server_times_out_on_every_attempt() -> None:
    async with (
        canned_server() as server,
        backend(
            server, timeouts=Timeouts(request_s=0.2), retry=RetryPolicy(max_attempts=2, backoff_base_s=0.001)
        ) as llm,
    ):
        server.default = hang()
        with pytest.raises(BackendTimeout) as caught:
            await llm.complete(HELLO, route_key="ep")
        stats = llm.statistics()
    assert len(server.bodies) == 2
    assert caught.value.attempts == 2 and caught.value.reason == "timeout"
    assert "within Timeouts.request_s=0.2 s" in str(caught.value) and "gave up after 2 attempts" in str(caught.value)
    assert stats.retries_by_reason == {"timeout": 1} and stats.errors_by_reason == {"timeout": 1}
    assert stats.endpoints[0].in_flight == 0


async def test_connection_refused_is_retried_then_reported() -> None:
    url = refused_url()
    async with backend(url) as llm:
        with pytest.raises(BackendConnectionError) as caught:
            await llm.complete(HELLO, route_key="ep")
        stats = llm.statistics()
    assert caught.value.attempts == 4 and caught.value.reason == "connection"
    assert f"cannot reach {url}/v1/chat/completions" in str(caught.value)
    assert "check the URL and that the server is up" in str(caught.value)
    assert stats.retries_by_reason == {"connection": 3} and stats.endpoints[0].requests == 4


async def test_cancelled_call_releases_its_slot() -> None:
    async with canned_server() as server, backend(server, limits=Limits(max_in_flight_per_endpoint=1)) as llm:
        server.then(hang())
        async with anyio.create_task_group() as tg:
            tg.start_soon(functools.partial(llm.complete, HELLO, route_key="ep"))
            await server.wait_for_requests(1)
            assert llm.statistics().endpoints[0].in_flight == 1
            tg.cancel_scope.cancel()
        assert llm.statistics().endpoints[0].in_flight == 0
        response = await llm.complete(HELLO, route_key="ep")
    assert response.attempts == 1


async def test_no_free_slot_within_acquire_timeout_is_a_capacity_timeout() -> None:
    release = anyio.Event()
    limits = Limits(max_in_flight_per_endpoint=1)
    async with canned_server() as server, backend(server, limits=limits, timeouts=Timeouts(acquire_s=0.05)) as llm:
        server.then(gate(release))

        async def hold(*, task_status: TaskStatus[None]) -> None:
            task_status.started()
            await llm.complete(HELLO, route_key="a")

        async with anyio.create_task_group() as tg:
            await tg.start(hold)
            await server.wait_for_requests(1)
            with pytest.raises(BackendTimeout) as caught:
                await llm.complete(HELLO, route_key="b")
            release.set()
    assert caught.value.reason == "capacity" and caught.value.attempts == 0
    assert "no endpoint of backend 'agent' had a free slot within Timeouts.acquire_s=0.05 s" in str(caught.value)
    assert len(server.bodies) == 1


async def test_statistics_count_calls_tokens_and_latency() -> None:
    async with canned_server() as server, backend(server) as llm:
        server.then(status(500), ok(), status(400))
        await llm.complete(HELLO, route_key="ep")
        with pytest.raises(BackendStatusError):
            await llm.complete(HELLO, route_key="ep")
        await llm.complete(HELLO, route_key="ep")
        stats = llm.statistics()
    assert (stats.name, stats.model, stats.calls, stats.completed) == ("agent", "test-model", 3, 2)
    assert (stats.prompt_tokens, stats.completion_tokens) == (22, 14)
    assert stats.retries_by_reason == {"http_5xx": 1} and stats.errors_by_reason == {"http_4xx": 1}
    (endpoint,) = stats.endpoints
    assert (endpoint.requests, endpoint.successes, endpoint.in_flight) == (4, 2, 0)
    assert endpoint.failures_by_reason == {"http_5xx": 1, "http_4xx": 1}
    assert endpoint.latency_buckets[-1] == 2 and list(endpoint.latency_buckets) == sorted(endpoint.latency_buckets)
    assert endpoint.latency_sum_s > 0 and endpoint.healthy
    msgspec.json.encode(stats)  # plain data, ready for a metrics collector or a log line


async def test_backend_must_be_open_and_satisfies_the_protocol() -> None:
    llm = backend("http://127.0.0.1:9")
    protocol: ChatBackend = llm
    with pytest.raises(RuntimeError, match="not open"):
        await protocol.complete(HELLO, route_key="ep")


def test_endpoint_urls_are_normalised_and_checked() -> None:
    assert chat_completions_url("http://h:8000") == "http://h:8000/v1/chat/completions"
    assert chat_completions_url("http://h:8000/v1/") == "http://h:8000/v1/chat/completions"
    assert chat_completions_url("https://h/v1/chat/completions") == "https://h/v1/chat/completions"
    with pytest.raises(ValueError, match="absolute http"):
        chat_completions_url("localhost:8000")
    with pytest.raises(TypeError, match="single string"):
        OpenAIChatBackend(endpoints="http://h:8000", model="m")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least one endpoint"):
        OpenAIChatBackend(endpoints=(), model="m")


def test_policies_reject_impossible_values() -> None:
    with pytest.raises(ValueError, match=r"max_attempts must be >= 1, got 0"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match=r"max_in_flight_per_endpoint must be >= 1, got 0"):
        Limits(max_in_flight_per_endpoint=0)
    with pytest.raises(ValueError, match=r"Timeouts.request_s must be > 0, got -1"):
        Timeouts(request_s=-1)
