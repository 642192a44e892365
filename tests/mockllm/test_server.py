"""The simulated server speaks OpenAI: the official client, routing by model, errors, determinism."""

from __future__ import annotations

import functools
import json
from typing import Any

import aiohttp
import anyio
import msgspec
import openai
import pytest
from openai import AsyncOpenAI

from cove_async.backends import ChatRequest
from cove_async.chat import Message
from cove_async.errors import ConfigError
from cove_async.mockllm import DefaultResponder, Reply, running_server, serve
from tests.mockllm.conftest import TOOLS, FixedResponder, post, user_body

pytestmark = pytest.mark.anyio


async def test_the_openai_client_gets_a_tool_call_then_text() -> None:
    async with running_server() as server, AsyncOpenAI(base_url=server.base_url, api_key="x", max_retries=0) as client:
        messages: list[Any] = [{"role": "user", "content": "where is my order?"}]
        first = await client.chat.completions.create(model="mock", messages=messages, tools=TOOLS)  # type: ignore[arg-type]
        assert first.object == "chat.completion" and first.model == "mock" and first.id.startswith("chatcmpl-")
        choice = first.choices[0]
        assert choice.finish_reason == "tool_calls"
        assert choice.message.role == "assistant" and choice.message.content is None
        assert choice.message.tool_calls is not None
        (call,) = choice.message.tool_calls
        assert call.type == "function" and call.function.name == "get_order"
        assert json.loads(call.function.arguments) == {"order_id": "mock-order_id"}
        assert first.usage is not None
        assert first.usage.prompt_tokens > 0 and first.usage.completion_tokens > 0
        assert first.usage.total_tokens == first.usage.prompt_tokens + first.usage.completion_tokens

        messages.append(choice.message.model_dump(exclude_none=True))
        messages.append({"role": "tool", "tool_call_id": call.id, "content": "order #W1 is pending"})
        second = await client.chat.completions.create(model="mock", messages=messages, tools=TOOLS)  # type: ignore[arg-type]
        assert second.choices[0].finish_reason == "stop"
        assert second.choices[0].message.tool_calls is None
        assert (second.choices[0].message.content or "").startswith("Re: order #W1 is pending")
        assert second.usage is not None and second.usage.prompt_tokens > first.usage.prompt_tokens
    stats = server.statistics()
    assert (stats.requests, stats.completed, stats.running, stats.waiting) == (2, 2, 0, 0)


async def test_token_ids_and_logprobs_come_when_asked() -> None:
    async with running_server() as server, AsyncOpenAI(base_url=server.base_url, api_key="x", max_retries=0) as client:
        messages: Any = [{"role": "user", "content": "hello"}]
        rich = await client.chat.completions.create(
            model="mock", messages=messages, logprobs=True, top_logprobs=2, extra_body={"return_token_ids": True}
        )
        assert rich.usage is not None
        choice = rich.choices[0]
        assert choice.model_extra is not None and rich.model_extra is not None
        assert len(choice.model_extra["token_ids"]) == rich.usage.completion_tokens
        assert len(rich.model_extra["prompt_token_ids"]) == rich.usage.prompt_tokens
        assert choice.logprobs is not None and choice.logprobs.content is not None
        assert len(choice.logprobs.content) == rich.usage.completion_tokens
        assert all(len(entry.top_logprobs) == 2 for entry in choice.logprobs.content)
        assert "".join(entry.token for entry in choice.logprobs.content) == choice.message.content

        plain = await client.chat.completions.create(model="mock", messages=messages)
        assert plain.choices[0].logprobs is None
        assert "token_ids" not in (plain.choices[0].model_extra or {})
        assert "prompt_token_ids" not in (plain.model_extra or {})


async def test_requests_are_routed_by_model_name() -> None:
    agent, user = FixedResponder("agent here"), FixedResponder("user here")
    responders = {"scripted-agent": agent, "scripted-user": user}
    async with (
        running_server(responders=responders) as server,
        AsyncOpenAI(base_url=server.base_url, api_key="x", max_retries=0) as client,
    ):
        assert [m.id async for m in client.models.list()] == ["scripted-agent", "scripted-user"]
        messages: Any = [{"role": "user", "content": "hi"}]
        for model, text in (("scripted-user", "user here"), ("scripted-agent", "agent here")):
            reply = await client.chat.completions.create(
                model=model, messages=messages, seed=11, metadata={"episode": "e1"}
            )
            assert reply.choices[0].message.content == text and reply.model == model
        with pytest.raises(openai.NotFoundError, match="does not exist"):
            await client.chat.completions.create(model="gpt-9", messages=messages)
        async with aiohttp.ClientSession() as session:
            no_model = {"messages": [{"role": "user", "content": "hi"}]}
            status, _, body = await post(session, server.base_url + "/chat/completions", no_model)
        assert status == 200 and msgspec.json.decode(body)["model"] == "scripted-agent"
    (seen, _) = agent.requests
    assert seen.model == "scripted-agent" and seen.seed == 11
    assert seen.extra_body == {"metadata": {"episode": "e1"}}
    assert seen.messages == (Message(role="user", content="hi"),)
    assert len(user.requests) == 1 and server.statistics().rejected == 1


async def test_content_parts_and_developer_messages_are_understood() -> None:
    recorder = FixedResponder("ok")
    body = {
        "model": "m",
        "messages": [
            {"role": "developer", "content": [{"type": "text", "text": "be brief"}]},
            {
                "role": "user",
                "content": [{"type": "text", "text": "hi "}, {"type": "text", "text": "there"}],
                "name": "u",
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": {"a": 1}}}],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "done"},
        ],
        "max_completion_tokens": 50,
        "max_tokens": 10,
    }
    async with running_server(responders={"m": recorder}) as server, aiohttp.ClientSession() as session:
        status, _, _ = await post(session, server.base_url + "/chat/completions", body)
    assert status == 200
    (request,) = recorder.requests
    assert [(m.role, m.content) for m in request.messages] == [
        ("system", "be brief"),
        ("user", "hi there"),
        ("assistant", None),
        ("tool", "done"),
    ]
    assert request.messages[2].tool_calls[0].function.arguments == '{"a":1}'
    assert request.max_tokens == 50  # max_completion_tokens wins


@pytest.mark.parametrize(
    ("body", "param", "words"),
    [
        (b"{not json", None, "not valid JSON"),
        (b'{"messages": "hi"}', None, "invalid chat request"),
        (msgspec.json.encode(user_body(stream=True)), "stream", "stream=true is not supported"),
        (msgspec.json.encode(user_body(n=2)), "n", "n must be 1"),
        (msgspec.json.encode(user_body(max_tokens=0)), "max_tokens", "max_tokens must be >= 1"),
        (msgspec.json.encode(user_body(top_logprobs=-1)), "top_logprobs", "top_logprobs must be >= 0"),
        (msgspec.json.encode({"model": "mock", "messages": []}), "messages", "at least one message"),
        (msgspec.json.encode(user_body(tools=["get_order"])), "tools", "tools must be a list of tool objects"),
        (
            msgspec.json.encode({"model": "mock", "messages": [{"role": "wizard", "content": "x"}]}),
            "messages",
            "'wizard'",
        ),
    ],
)
async def test_bad_requests_get_openai_style_400s(body: bytes, param: str | None, words: str) -> None:
    async with running_server() as server, aiohttp.ClientSession() as session:
        status, _, raw = await post(session, server.base_url + "/chat/completions", body)
        assert server.statistics().rejected == 1 and server.statistics().accepted == 0
    error = msgspec.json.decode(raw)["error"]
    assert status == 400 and error["code"] == 400 and error["type"] == "BadRequestError"
    assert error["param"] == param and words in error["message"]


async def test_max_tokens_cuts_the_reply_with_finish_reason_length() -> None:
    responders = {"mock": DefaultResponder(reply_words=40)}
    async with running_server(responders=responders) as server, aiohttp.ClientSession() as session:
        _, _, raw = await post(session, server.base_url + "/chat/completions", user_body(max_tokens=5))
    reply = msgspec.json.decode(raw)
    choice = reply["choices"][0]
    assert choice["finish_reason"] == "length" and "tool_calls" not in choice["message"]
    assert reply["usage"]["completion_tokens"] == 5 and len(choice["message"]["content"]) == 20


async def test_the_same_seed_and_clock_give_the_same_bytes() -> None:
    bodies = [user_body(), user_body("thanks", seed=4), user_body(tool_choice="none", return_token_ids=True)]
    answers: list[list[bytes]] = []
    for _ in range(2):
        async with running_server(seed=3, clock=lambda: 1_700_000_000.5) as server, aiohttp.ClientSession() as session:
            answers.append([(await post(session, server.base_url + "/chat/completions", b))[2] for b in bodies])
    assert answers[0] == answers[1]
    decoded = [msgspec.json.decode(raw) for raw in answers[0]]
    assert [d["id"] for d in decoded] == ["chatcmpl-mock-3-0", "chatcmpl-mock-3-1", "chatcmpl-mock-3-2"]
    assert {d["created"] for d in decoded} == {1_700_000_000}


class _Flaky:
    async def respond(self, request: ChatRequest) -> Reply:
        if request.messages[-1].content == "boom":
            raise RuntimeError("scripted failure")
        return Reply(content="fine")


async def test_a_failing_responder_costs_one_request_not_the_server() -> None:
    async with running_server(responders={"mock": _Flaky()}) as server, aiohttp.ClientSession() as session:
        url = server.base_url + "/chat/completions"
        status, _, raw = await post(session, url, user_body("boom"))
        assert status == 500 and "RuntimeError: scripted failure" in msgspec.json.decode(raw)["error"]["message"]
        status, _, _ = await post(session, url, user_body("hello"))
        assert status == 200
        stats = server.statistics()
    assert (stats.responder_errors, stats.completed, stats.running) == (1, 1, 0)


async def test_health_models_and_stats_endpoints() -> None:
    async with running_server(clock=lambda: 5.0) as server, aiohttp.ClientSession() as session:
        async with session.get(server.url + "/health") as health:
            assert health.status == 200
        async with session.get(server.base_url + "/models") as models:
            assert await models.json() == {
                "data": [{"id": "mock", "created": 5, "object": "model", "owned_by": "cove-async"}],
                "object": "list",
            }
        async with session.get(server.url + "/admin/stats") as stats:
            assert (await stats.json())["requests"] == 0


async def test_zero_latency_adds_no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine's overhead benchmark runs at zero latency: the server must not sleep at all."""
    async with running_server() as server, aiohttp.ClientSession() as session:
        calls: list[float] = []

        async def spy(delay: float, *args: Any, **kwargs: Any) -> None:
            calls.append(delay)

        monkeypatch.setattr(anyio, "sleep", spy)
        for body in (user_body(), user_body(tool_choice="none", max_tokens=2)):
            status, _, _ = await post(session, server.base_url + "/chat/completions", body)
            assert status == 200
        monkeypatch.undo()
    assert calls == []


async def test_serve_runs_until_cancelled_and_reports_its_url() -> None:
    async with anyio.create_task_group() as tg:
        url = await tg.start(functools.partial(serve, port=0))
        async with aiohttp.ClientSession() as session, session.get(url + "/health") as health:
            assert health.status == 200
        with pytest.raises(ConfigError, match=r"cannot listen on 127\.0\.0\.1"):
            await serve(port=int(url.rsplit(":", 1)[1]))
        tg.cancel_scope.cancel()


async def test_an_unstarted_server_has_no_url() -> None:
    from cove_async.mockllm import MockLLMServer

    server = MockLLMServer()
    with pytest.raises(RuntimeError, match="not listening"):
        _ = server.base_url
    with pytest.raises(ConfigError, match="at least one model"):
        MockLLMServer(responders={})
