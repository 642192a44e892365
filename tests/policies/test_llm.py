"""LLM players against the real simulated server over HTTP: what they send, what they keep, how they fail."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import pytest

from cove_async.backends import ChatRequest, OpenAIChatBackend, RetryPolicy, derive_seed
from cove_async.chat import FunctionCall, Message, TerminationReason, ToolCall
from cove_async.domains import get_domain
from cove_async.domains.retail import RetailWorldSize
from cove_async.engine import Caps, Engine, EngineConfig, EpisodeContext, EpisodeJob, Outcome, PolicyError, run_episode
from cove_async.errors import ConfigError
from cove_async.mockllm import DefaultResponder, Fault, MockLLMServer, Reply, running_server
from cove_async.policies._llm import LLMAgent, LLMUser, episode_user_field, flip_for_user
from cove_async.prompts import prompts_for
from cove_async.sandbox import Snapshot
from cove_async.tasks import Task
from cove_async.tasks.retail import RetailKnobs, sample_retail_task

pytestmark = pytest.mark.anyio

RETAIL = get_domain("retail")
TOOLS = tuple(RETAIL.toolset.openai_tools())
NO_RETRY = RetryPolicy(max_attempts=1)


class Recording:
    """A responder that remembers every request and answers with ``reply`` or the default responder's answer."""

    def __init__(self, reply: Reply | None = None) -> None:
        self.reply = reply
        self.requests: list[ChatRequest] = []
        self.inner = DefaultResponder()

    async def respond(self, request: ChatRequest) -> Reply:
        self.requests.append(request)
        return self.reply if self.reply is not None else await self.inner.respond(request)


@pytest.fixture(scope="module")
def world() -> Snapshot:
    return RETAIL.generate_world(RetailWorldSize(users=40, orders=120), 11)


@pytest.fixture(scope="module")
def tasks(world: Snapshot) -> list[Task]:
    return [
        sample_retail_task(world, random.Random(i), task_id=f"llm-{i}", world="synthetic:seed=11", knobs=RetailKnobs())
        for i in range(6)
    ]


def _context(task: Task, sample_index: int = 3, run_seed: int = 17) -> EpisodeContext:
    agent_prompt, user_prompt = prompts_for("retail")(task)
    return EpisodeContext(
        episode_id=f"{task.task_id}/{sample_index}",
        task=task,
        sample_index=sample_index,
        run_seed=run_seed,
        tools=TOOLS,
        agent_system_prompt=agent_prompt,
        user_system_prompt=user_prompt,
    )


@asynccontextmanager
async def _served(
    responder: Any, *, retry: RetryPolicy = NO_RETRY, model: str = "m"
) -> AsyncIterator[tuple[MockLLMServer, OpenAIChatBackend]]:
    async with (
        running_server(responders={model: responder}) as server,
        OpenAIChatBackend(endpoints=(server.base_url,), model=model, retry=retry) as backend,
    ):
        yield server, backend


_CALL = ToolCall(id="call_1", function=FunctionCall(name="find_user_id_by_email", arguments='{"email": "a@b.c"}'))
CONVERSATION: tuple[Message, ...] = (
    Message(role="assistant", content="Hi! How can I help you today?"),
    Message(role="user", content="I want to return something."),
    Message(role="assistant", tool_calls=(_CALL,)),
    Message(role="tool", tool_call_id="call_1", content="user_1"),
    # tau2 hides every agent message that calls a tool from the user, its text included.
    Message(role="assistant", content="Looking you up.", tool_calls=(_CALL,)),
    Message(role="tool", tool_call_id="call_1", content="user_1"),
    Message(role="assistant", content="Which order is it?"),
)


async def test_agent_request_carries_prompt_tools_sampling_seed_and_episode_tag(tasks: list[Task]) -> None:
    """One agent turn sends the system prompt, the conversation, the tools, sampling settings and tags."""
    context = _context(tasks[0])
    history = (*CONVERSATION, Message(role="user", content="The one with the lamp."))
    recorder = Recording()
    async with _served(recorder) as (server, backend):
        agent = LLMAgent(
            backend,
            model="m",
            temperature=0.7,
            top_p=0.9,
            max_tokens=300,
            extra_body={"metadata": {"run": "r1"}},
            policy_version="v7",
        )
        turn = await agent.next_turn(context, history)
        stats = server.statistics()
    (request,) = recorder.requests
    assert request.messages == (Message(role="system", content=context.agent_system_prompt), *history)
    assert request.tools == TOOLS and request.tool_choice == "auto"
    assert (request.temperature, request.top_p, request.max_tokens, request.model) == (0.7, 0.9, 300, "m")
    assert request.seed == derive_seed(run_seed=17, task_id=tasks[0].task_id, sample_index=3, turn=8, role="agent")
    assert request.extra_body == {"metadata": {"run": "r1"}, "user": f"{tasks[0].task_id}/3"}
    # The default responder calls the first tool after a user message: the turn is that call, accounted.
    (call,) = turn.message.tool_calls
    assert turn.message.role == "assistant" and call.function.name == TOOLS[0]["function"]["name"]
    assert (turn.prompt_tokens, turn.completion_tokens) == (stats.prompt_tokens, stats.completion_tokens)
    assert turn.prompt_tokens > 1000  # the tool schemas are part of the prompt
    assert turn.model == "m" and turn.policy_version == "v7" and turn.latency_s > 0
    assert turn.extras == {}


async def test_user_sees_flipped_text_only_conversation_without_tools(tasks: list[Task]) -> None:
    """The user simulator's request: its prompt, agent texts as user, its own as assistant, no tool traffic."""
    context = _context(tasks[1], sample_index=0)
    recorder = Recording()
    async with _served(recorder) as (_, backend):
        user = LLMUser(backend, model="m", temperature=1.0)
        turn = await user.next_turn(context, CONVERSATION)
    (request,) = recorder.requests
    assert request.messages == (
        Message(role="system", content=context.user_system_prompt),
        Message(role="user", content="Hi! How can I help you today?"),
        Message(role="assistant", content="I want to return something."),
        Message(role="user", content="Which order is it?"),
    )
    assert request.tools is None and request.tool_choice is None
    assert request.seed == derive_seed(run_seed=17, task_id=tasks[1].task_id, sample_index=0, turn=7, role="user")
    assert request.extra_body == {"user": f"{tasks[1].task_id}/0"}
    assert turn.message.role == "user" and turn.message.content and "Which order" in turn.message.content
    assert not turn.message.tool_calls


def test_flip_keeps_only_texts_in_order() -> None:
    """The flip drops tool traffic and system messages and swaps the two speakers."""
    flipped = flip_for_user((Message(role="system", content="s"), *CONVERSATION))
    assert [(m.role, m.content) for m in flipped] == [
        ("user", "Hi! How can I help you today?"),
        ("assistant", "I want to return something."),
        ("user", "Which order is it?"),
    ]


async def test_per_token_extras_requested_through_extra_body_are_kept(tasks: list[Task]) -> None:
    """vLLM-style logprobs and token ids asked for in extra_body come back on the turn."""
    extra = {"logprobs": True, "top_logprobs": 2, "return_token_ids": True, "user": "spoofed/9"}
    async with _served(Recording(Reply(content="Sure, which order?"))) as (_, backend):
        turn = await LLMAgent(backend, model="m", extra_body=extra).next_turn(_context(tasks[0]), CONVERSATION[:2])
    assert set(turn.extras) == {"logprobs", "token_ids", "prompt_token_ids"}
    assert len(turn.extras["token_ids"]) == turn.completion_tokens
    assert len(turn.extras["prompt_token_ids"]) == turn.prompt_tokens
    content = turn.extras["logprobs"]["content"]
    assert len(content) == turn.completion_tokens and len(content[0]["top_logprobs"]) == 2


async def test_episode_tag_wins_over_a_callers_user_field(tasks: list[Task]) -> None:
    """A `user` in extra_body cannot redirect the request to another task."""
    recorder = Recording(Reply(content="ok"))
    async with _served(recorder) as (_, backend):
        await LLMAgent(backend, model="m", extra_body={"user": "spoofed/9"}).next_turn(_context(tasks[0]), CONVERSATION)
    assert recorder.requests[0].extra_body["user"] == episode_user_field(tasks[0].task_id, 3)


@pytest.mark.parametrize(
    ("faults", "expected"),
    [
        pytest.param((Fault.ERROR_500, Fault.ERROR_500), ("http_5xx", "HTTP 500", "after 2 attempt"), id="5xx"),
        pytest.param((Fault.MALFORMED_JSON,), ("protocol", "malformed chat completion"), id="malformed"),
        pytest.param((Fault.EMPTY_CHOICES,), ("protocol", "no choices"), id="no-choices"),
        pytest.param((Fault.BAD_TOOL_ARGUMENTS,), ("protocol", "not JSON"), id="bad-arguments"),
    ],
)
async def test_server_faults_become_policy_errors_naming_endpoint_and_cause(
    tasks: list[Task], faults: tuple[Fault, ...], expected: tuple[str, ...]
) -> None:
    """After the backend's retries, a fault is a PolicyError that says where and what."""
    retry = RetryPolicy(max_attempts=2, backoff_base_s=0.0)
    async with _served(Recording(), retry=retry) as (server, backend):
        server.inject(*faults)
        with pytest.raises(PolicyError) as caught:
            await LLMAgent(backend, model="m").next_turn(_context(tasks[0]), CONVERSATION[:2])
        assert server.statistics().accepted == len(faults)
        url = server.base_url
    message = str(caught.value)
    assert message.startswith("agent model 'm' at " + url)
    for part in expected:
        assert part in message


async def test_refused_request_is_not_retried_and_says_the_status(tasks: list[Task]) -> None:
    """A 4xx (an unknown model) fails at once, as a PolicyError with the status."""
    async with _served(Recording(), retry=RetryPolicy(max_attempts=4)) as (server, backend):
        with pytest.raises(PolicyError, match=r"http_4xx HTTP 404 after 1 attempt.*does not exist"):
            await LLMUser(backend, model="no-such-model").next_turn(_context(tasks[0]), CONVERSATION[:1])
        assert server.statistics().requests == 1


async def test_unreachable_server_is_a_policy_error(tasks: list[Task]) -> None:
    """A closed port is a connection failure, reported with the endpoint."""
    async with running_server() as server:
        url = server.base_url
    async with OpenAIChatBackend(endpoints=(url,), model="m", retry=NO_RETRY) as backend:
        with pytest.raises(PolicyError, match=r"connection after 1 attempt.*cannot reach"):
            await LLMAgent(backend, model="m").next_turn(_context(tasks[0]), CONVERSATION[:2])


@pytest.mark.parametrize(
    ("arguments", "ok"),
    [("[1, 2]", False), ('"cancel"', False), ("42", False), ('  {"email": "a@b.c"}', True)],
)
async def test_tool_arguments_must_be_a_json_object(tasks: list[Task], arguments: str, ok: bool) -> None:
    """JSON that is not an object fails the turn as tau2's dict-typed arguments do; an object passes."""
    call = ToolCall(id="c1", function=FunctionCall(name="find_user_id_by_email", arguments=arguments))
    async with _served(Recording(Reply(tool_calls=(call,)))) as (_, backend):
        agent = LLMAgent(backend, model="m")
        if ok:
            turn = await agent.next_turn(_context(tasks[0]), CONVERSATION[:2])
            assert turn.message.tool_calls == (call,)
        else:
            with pytest.raises(PolicyError, match="not a JSON object"):
                await agent.next_turn(_context(tasks[0]), CONVERSATION[:2])


@pytest.mark.parametrize("side", ["agent", "user"])
async def test_empty_reply_is_a_policy_error(tasks: list[Task], side: str) -> None:
    """A blank reply fails the turn, naming the finish reason."""
    async with _served(Recording(Reply(content="  \n"))) as (_, backend):
        player = LLMAgent(backend, model="m") if side == "agent" else LLMUser(backend, model="m")
        with pytest.raises(PolicyError, match=r"finish_reason='stop'"):
            await player.next_turn(_context(tasks[0]), CONVERSATION[:2])


async def test_user_ignores_tool_calls_and_keeps_text(tasks: list[Task]) -> None:
    """The user simulator has no tools: calls it makes anyway are dropped, its text kept."""
    async with _served(Recording(Reply(content="It is the lamp.", tool_calls=(_CALL,)))) as (_, backend):
        turn = await LLMUser(backend, model="m").next_turn(_context(tasks[0]), CONVERSATION)
    assert turn.message == Message(role="user", content="It is the lamp.")


def test_sampling_settings_are_checked() -> None:
    """Out-of-range settings fail at construction, naming the setting."""
    backend = OpenAIChatBackend(endpoints=("http://127.0.0.1:1",), model="m")
    with pytest.raises(ConfigError, match="temperature"):
        LLMAgent(backend, model="m", temperature=-1)
    with pytest.raises(ConfigError, match="top_p"):
        LLMUser(backend, model="m", top_p=0)
    with pytest.raises(ConfigError, match="max_tokens"):
        LLMAgent(backend, model="m", max_tokens=0)


async def test_episode_over_http_ends_with_recorded_error_on_faults(world: Snapshot, tasks: list[Task]) -> None:
    """A conversation whose agent call fails for good ends as agent_error with the reason; no exception escapes."""
    context = _context(tasks[0], sample_index=0)
    async with _served(Recording()) as (server, backend):
        agent, user = LLMAgent(backend, model="m"), LLMUser(backend, model="m")
        # The user's first turn succeeds, the agent's first call gets a 503.
        server.inject(None, Fault.ERROR_503)
        result = await run_episode(
            context, user=user, agent=agent, sandbox=world.fork(), toolset=RETAIL.toolset, caps=Caps()
        )
    assert result.termination is TerminationReason.AGENT_ERROR
    assert result.failure is not None and "HTTP 503" in result.failure
    assert [m.role for m in result.messages] == ["assistant", "user"]


class _Collect:
    def __init__(self) -> None:
        self.outcomes: list[Outcome] = []

    async def write(self, outcomes: Sequence[Outcome]) -> None:
        self.outcomes.extend(outcomes)


async def test_engine_over_http_accounts_for_every_episode_under_faults(world: Snapshot, tasks: list[Task]) -> None:
    """Six episodes through the engine over HTTP with two hard failures: six outcomes, two errors, the rest played out."""
    sink = _Collect()
    async with _served(Recording(), model="mock") as (server, backend):
        server.inject(Fault.ERROR_500, Fault.MALFORMED_JSON)
        engine = Engine(
            snapshot=world,
            toolset=RETAIL.toolset,
            user=LLMUser(backend, model="mock"),
            agent=LLMAgent(backend, model="mock"),
            prompts=prompts_for("retail"),
            config=EngineConfig(concurrency=6, caps=Caps(max_user_turns=2), run_seed=5),
        )
        await engine.run([EpisodeJob(task=t, sample_index=0) for t in tasks], sink)
    assert sorted(o.task.task_id for o in sink.outcomes) == sorted(t.task_id for t in tasks)
    terminations = [o.result.termination for o in sink.outcomes]
    errors = [o.result.failure or "" for o in sink.outcomes if o.result.termination.value.endswith("_error")]
    assert len(errors) == 2 and terminations.count(TerminationReason.MAX_STEPS) == 4
    assert sum("HTTP 500" in e for e in errors) == 1 and sum("malformed" in e for e in errors) == 1
    # Turns over HTTP are accounted: tokens and latency on every recorded LLM turn.
    played = [o for o in sink.outcomes if o.result.termination is TerminationReason.MAX_STEPS]
    assert all(t.prompt_tokens > 0 and t.latency_s > 0 and t.model == "mock" for o in played for t in o.result.turns)
