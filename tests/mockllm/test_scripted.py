"""The simulated server playing the scripted policies: task lookup, role un-flipping, and whole episodes over HTTP."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import msgspec
import pytest
from openai import AsyncOpenAI

from cove_async.backends import BackendStatusError, ChatRequest, OpenAIChatBackend, RetryPolicy
from cove_async.chat import GREETING, Message
from cove_async.domains import get_domain
from cove_async.domains.airline import AirlineWorldSize
from cove_async.domains.retail import RetailWorldSize
from cove_async.engine import Caps, Engine, EngineConfig, EpisodeContext, EpisodeJob, Outcome, Policy, PolicyError
from cove_async.errors import ConfigError
from cove_async.mockllm import MockLLMServer, running_server
from cove_async.mockllm._scripted import (
    SCRIPTED_AGENT_MODEL,
    SCRIPTED_USER_MODEL,
    ScriptedAgentResponder,
    ScriptedUserResponder,
    player_seed,
    scripted_responders,
    unflip_user_view,
)
from cove_async.mockllm._wire import RequestRejected
from cove_async.policies._llm import LLMAgent, LLMUser, flip_for_user
from cove_async.prompts import prompts_for
from cove_async.run import write_tasks
from cove_async.sandbox import Snapshot
from cove_async.tasks import Task
from cove_async.tasks.airline import AirlineKnobs, sample_airline_task
from cove_async.tasks.retail import RetailKnobs, sample_retail_task

pytestmark = pytest.mark.anyio

NO_RETRY = RetryPolicy(max_attempts=1)


def _have_players(domain: str) -> bool:
    return all(
        importlib.util.find_spec(f"cove_async.policies.scripted._{domain}_{side}") is not None
        for side in ("agent", "user")
    )


def _needs_players(domain: str) -> None:
    if not _have_players(domain):
        pytest.skip(
            f"the scripted {domain} players (cove_async.policies.scripted._{domain}_agent/_user) are not written yet"
        )


@pytest.fixture(scope="module")
def worlds() -> dict[str, Snapshot]:
    return {
        "retail": get_domain("retail").generate_world(RetailWorldSize(users=60, orders=180), 21),
        "airline": get_domain("airline").generate_world(AirlineWorldSize(users=60, reservations=240), 21),
    }


@pytest.fixture(scope="module")
def tasks(worlds: dict[str, Snapshot]) -> dict[str, list[Task]]:
    return {
        "retail": [
            sample_retail_task(
                worlds["retail"],
                random.Random(i),
                task_id=f"retail-{i}",
                world="synthetic:seed=21",
                knobs=RetailKnobs(),
            )
            for i in range(8)
        ],
        "airline": [
            sample_airline_task(
                worlds["airline"],
                random.Random(i),
                task_id=f"airline-{i}",
                world="synthetic:seed=21",
                knobs=AirlineKnobs(),
            )
            for i in range(8)
        ],
    }


def _user_request(tag: Any, *texts: str) -> ChatRequest:
    extra = {} if tag is None else {"user": tag}
    messages = [Message(role="system", content="play the customer")]
    messages += [Message(role="user" if i % 2 == 0 else "assistant", content=t) for i, t in enumerate(texts)]
    return ChatRequest(messages=tuple(messages), extra_body=extra, model=SCRIPTED_USER_MODEL, seed=3)


def test_unflip_undoes_the_user_flip() -> None:
    """What LLMUser sends, un-flipped, is the text part of the engine's conversation."""
    engine_view = [
        Message(role="assistant", content=GREETING),
        Message(role="user", content="I need to cancel an order."),
        Message(role="assistant", content="Sure, what is your email?"),
        Message(role="user", content="ada@example.com"),
    ]
    assert unflip_user_view([Message(role="system", content="s"), *flip_for_user(engine_view)]) == engine_view


async def test_user_responder_rejects_requests_without_a_known_task(tasks: dict[str, list[Task]]) -> None:
    """No `user` field, or a task id not loaded: a 400 that says what to do."""
    responder = ScriptedUserResponder(tasks["retail"], source="tasks.jsonl")
    with pytest.raises(RequestRejected, match=r"needs the request's `user` field") as missing:
        await responder.respond(_user_request(None, GREETING))
    with pytest.raises(
        RequestRejected, match=r"does not know task 'nope' \(8 tasks loaded in tasks.jsonl\)"
    ) as unknown:
        await responder.respond(_user_request("nope/0", GREETING))
    assert missing.value.status == unknown.value.status == 400
    assert missing.value.param == unknown.value.param == "user"
    with pytest.raises(RequestRejected, match="no task file was loaded"):
        await ScriptedUserResponder().respond(_user_request("retail-0/0", GREETING))


def test_user_responder_loads_a_task_file_and_refuses_duplicates(tmp_path: Path, tasks: dict[str, list[Task]]) -> None:
    """A task file from `cove-async tasks` loads; a file repeating an id is refused."""
    path = tmp_path / "tasks.jsonl"
    write_tasks(tasks["retail"] + tasks["airline"], path)
    assert len(ScriptedUserResponder.from_file(path)) == 16
    write_tasks([tasks["retail"][0], tasks["retail"][0]], path)
    with pytest.raises(ConfigError, match=r"'retail-0' appears twice in .*tasks.jsonl"):
        ScriptedUserResponder.from_file(path)


def test_agent_responder_tells_the_domain_from_the_tools() -> None:
    """Each domain's own tools name it; tools shared by both, or none, are refused."""
    responder = ScriptedAgentResponder()
    for name in ("retail", "airline"):
        tools = tuple(get_domain(name).toolset.openai_tools())
        assert responder._domain_of(ChatRequest(messages=(), tools=tools)) == name
    shared = tuple(t for t in get_domain("retail").toolset.openai_tools() if t["function"]["name"] == "calculate")
    for unclear in (None, shared):
        with pytest.raises(RequestRejected, match="cannot tell the domain") as caught:
            responder._domain_of(ChatRequest(messages=(), tools=unclear))
        assert caught.value.status == 400
    assert ScriptedAgentResponder(domain="airline")._domain_of(ChatRequest(messages=())) == "airline"
    with pytest.raises(ConfigError, match="no scripted agent for domain 'telecom'"):
        ScriptedAgentResponder(domain="telecom")


def test_player_seed_is_one_per_episode_and_role() -> None:
    """Every turn of an episode builds the same player (the tag decides), whatever the request's seed."""

    def request(tag: str | None, seed: int | None) -> ChatRequest:
        return ChatRequest(messages=(), extra_body={} if tag is None else {"user": tag}, seed=seed)

    assert player_seed(request("t/0", 1), "agent") == player_seed(request("t/0", 2), "agent")
    assert player_seed(request("t/0", 1), "agent") != player_seed(request("t/0", 1), "user")
    assert player_seed(request("t/0", 1), "agent") != player_seed(request("t/1", 1), "agent")
    assert player_seed(request(None, 7), "agent") == 7 and player_seed(request(None, None), "user") == 0


def test_responders_are_registered_under_their_model_names() -> None:
    """The scripted agent is served first (the default model), the user second."""
    responders = scripted_responders()
    assert list(responders) == [SCRIPTED_AGENT_MODEL, SCRIPTED_USER_MODEL] == ["scripted-agent", "scripted-user"]


def _server_passes_rejections_through() -> bool:
    # Until the server answers a responder's RequestRejected with its own status (a change the
    # server's owner makes), such a request is answered 500.
    return "RequestRejected" in inspect.getsource(MockLLMServer._generate)


async def test_unknown_task_over_http_ends_the_users_turn_with_a_clear_error(tasks: dict[str, list[Task]]) -> None:
    """An LLM user whose task the server does not know fails with the server's explanation."""
    task = tasks["retail"][0]
    agent_prompt, user_prompt = prompts_for("retail")(task)
    context = EpisodeContext(
        episode_id=f"{task.task_id}/0",
        task=task,
        sample_index=0,
        run_seed=0,
        tools=(),
        agent_system_prompt=agent_prompt,
        user_system_prompt=user_prompt,
    )
    async with (
        running_server(responders=scripted_responders(tasks["airline"])) as server,
        OpenAIChatBackend(endpoints=(server.base_url,), model=SCRIPTED_USER_MODEL, retry=NO_RETRY) as backend,
    ):
        with pytest.raises(PolicyError, match=r"does not know task .{0,3}'retail-0") as caught:
            await LLMUser(backend, model=SCRIPTED_USER_MODEL).next_turn(
                context, [Message(role="assistant", content=GREETING)]
            )
    cause = caught.value.__cause__
    assert isinstance(cause, BackendStatusError)
    if _server_passes_rejections_through():
        assert cause.status == 400


class _Collect:
    def __init__(self) -> None:
        self.outcomes: list[Outcome] = []

    async def write(self, outcomes: Sequence[Outcome]) -> None:
        self.outcomes.extend(outcomes)


async def _run(domain: str, world: Snapshot, tasks: list[Task], user: Policy, agent: Policy) -> dict[str, Outcome]:
    sink = _Collect()
    engine = Engine(
        snapshot=world,
        toolset=get_domain(domain).toolset,
        user=user,
        agent=agent,
        prompts=prompts_for(domain),
        config=EngineConfig(concurrency=len(tasks), caps=Caps(), run_seed=9),
    )
    await engine.run([EpisodeJob(task=t, sample_index=0) for t in tasks], sink)
    return {o.task.task_id: o for o in sink.outcomes}


def _summary(outcome: Outcome) -> tuple[Any, ...]:
    verdict = outcome.verdict
    assert verdict is not None, outcome.grading_error
    return (
        outcome.result.termination,
        verdict.perfect,
        tuple(c.satisfied for c in verdict.constraints),
        verdict.redundant,
        verdict.unconfirmed_writes,
    )


@pytest.mark.parametrize("domain", ["retail", "airline"])
async def test_http_episodes_reach_the_in_process_verdicts(
    domain: str, worlds: dict[str, Snapshot], tasks: dict[str, list[Task]]
) -> None:
    """LLMAgent + LLMUser against scripted-agent / scripted-user over HTTP grade as the in-process players do."""
    _needs_players(domain)
    from cove_async.policies.scripted import ScriptedAgent, ScriptedUser

    world, chosen = worlds[domain], tasks[domain]
    local = await _run(domain, world, chosen, ScriptedUser(domain), ScriptedAgent(domain))
    async with (
        running_server(responders=scripted_responders(chosen)) as server,
        OpenAIChatBackend(endpoints=(server.base_url,), model=SCRIPTED_AGENT_MODEL, name="agent") as agent_backend,
        OpenAIChatBackend(endpoints=(server.base_url,), model=SCRIPTED_USER_MODEL, name="user") as user_backend,
    ):
        remote = await _run(
            domain,
            world,
            chosen,
            LLMUser(user_backend, model=SCRIPTED_USER_MODEL),
            LLMAgent(agent_backend, model=SCRIPTED_AGENT_MODEL),
        )
        assert server.statistics().responder_errors == 0
    assert {k: _summary(v) for k, v in remote.items()} == {k: _summary(v) for k, v in local.items()}
    assert sum(_summary(o)[1] for o in remote.values()) >= len(chosen) - 1  # the scripted agent solves them
    turns = [t for o in remote.values() for t in o.result.turns]
    assert {t.model for t in turns} == {SCRIPTED_AGENT_MODEL, SCRIPTED_USER_MODEL}
    assert all(t.prompt_tokens > 0 and t.completion_tokens > 0 for t in turns)


async def test_official_openai_client_talks_to_the_scripted_players(tasks: dict[str, list[Task]]) -> None:
    """The `openai` package gets the same replies from scripted-agent and scripted-user as the players give in process."""
    _needs_players("retail")
    task = tasks["retail"][0]
    tools = get_domain("retail").toolset.openai_tools()
    conversation = [Message(role="assistant", content=GREETING)]
    async with (
        running_server(responders=scripted_responders([task])) as server,
        AsyncOpenAI(base_url=server.base_url, api_key="sk-none", max_retries=0) as client,
    ):
        wire_user = [msgspec.to_builtins(m) for m in flip_for_user(conversation)]
        said = await client.chat.completions.create(
            model=SCRIPTED_USER_MODEL,
            messages=cast(Any, [{"role": "system", "content": "play"}, *wire_user]),
            user=f"{task.task_id}/0",
            seed=4,
        )
        user_text = said.choices[0].message.content
        assert said.model == SCRIPTED_USER_MODEL and user_text
        conversation.append(Message(role="user", content=user_text))
        answer = await client.chat.completions.create(
            model=SCRIPTED_AGENT_MODEL,
            messages=cast(Any, [{"role": "system", "content": "policy"}, *map(msgspec.to_builtins, conversation)]),
            tools=cast(Any, tools),
            tool_choice="auto",
            seed=5,
        )
    # Imported by name: the modules are written alongside this one.
    retail_agent = importlib.import_module("cove_async.policies.scripted._retail_agent").RetailAgent
    retail_user = importlib.import_module("cove_async.policies.scripted._retail_user").RetailUser

    tagged = ChatRequest(messages=(), extra_body={"user": f"{task.task_id}/0"}, seed=4)
    assert user_text == retail_user(task, seed=player_seed(tagged, "user")).reply(conversation[:1]).content
    expected = retail_agent(seed=5).reply(conversation).message
    got = answer.choices[0].message
    assert answer.model == SCRIPTED_AGENT_MODEL
    assert got.content == expected.content
    assert [(c.id, c.function.name, c.function.arguments) for c in cast(list[Any], got.tool_calls or [])] == [
        (c.id, c.function.name, c.function.arguments) for c in expected.tool_calls
    ]
