"""The LLM judge against the real simulated server over HTTP, with a scripted judge model.

The scripted judge reads the numbered statements out of the prompt the way a model would, so
these tests exercise the prompt, the HTTP round trip and the strict parsing together; the bank
micro-domain supplies real graded conversations for ``evaluate_tau2``.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

import pytest

from cove_async.backends import ChatBackend, ChatRequest, OpenAIChatBackend, RetryPolicy, Timeouts
from cove_async.errors import CoveError
from cove_async.mockllm import Fault, MockLLMServer, Reply, running_server
from cove_async.sandbox import Snapshot
from cove_async.tau2 import Message, RewardType, Status, Trajectory, evaluate_tau2
from cove_async.tau2._judge import JUDGE_SYSTEM_PROMPT, JudgeError, LLMJudge, render_transcript
from tests.tau2._micro import TOOLSET, Conversation, action, snapshot, task

pytestmark = pytest.mark.anyio

NL = RewardType.NL_ASSERTION
ASSERTIONS = ("Agent deposits the money", "Agent is rude", "Agent says goodbye")
NL_TASK = task(action("0", "deposit", account_id="a1", amount=10.0), basis=(RewardType.DB, NL), nl=ASSERTIONS)
JUDGE_MODEL = "judge"
_STATEMENT = re.compile(r"^(\d+)\. (.*)$", re.MULTILINE)

Script = Callable[[ChatRequest], str]


class ScriptedJudge:
    """A judge model: ``script`` turns each request into the reply text; every request is kept."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.requests: list[ChatRequest] = []

    async def respond(self, request: ChatRequest) -> Reply:
        self.requests.append(request)
        return Reply(content=self.script(request))


def statements(request: ChatRequest) -> list[str]:
    prompt = request.messages[-1].content or ""
    return [text for _, text in _STATEMENT.findall(prompt.split("\nStatements:\n", 1)[1])]


def keyword_verdicts(request: ChatRequest) -> str:
    """Met when the statement does not say "rude"; entries deliberately listed last to first."""
    entries = [
        {"index": number, "reason": f"looked at {text!r}", "met": "rude" not in text}
        for number, text in enumerate(statements(request), 1)
    ]
    return json.dumps({"verdicts": entries[::-1]})


@pytest.fixture(scope="module")
def world() -> Snapshot:
    return snapshot()


@asynccontextmanager
async def judge_backend(judge: ScriptedJudge, *, attempts: int = 3) -> AsyncIterator[tuple[ChatBackend, MockLLMServer]]:
    async with running_server(responders={JUDGE_MODEL: judge}) as server:
        backend = OpenAIChatBackend(
            endpoints=(server.base_url,),
            model=JUDGE_MODEL,
            name="judge",
            retry=RetryPolicy(max_attempts=attempts, backoff_base_s=0.001, backoff_max_s=0.002, retry_after_max_s=0.01),
            timeouts=Timeouts(request_s=5),
        )
        async with backend:
            yield backend, server


def deposit_conversation(world: Snapshot) -> Trajectory:
    return (
        Conversation(world)
        .say("user", "Please put 10 dollars into account a1.")
        .call("deposit", account_id="a1", amount=10.0)
        .say("assistant", "Done, goodbye!")
        .end()
    )


async def test_verdicts_come_back_in_assertion_order_whatever_order_the_model_lists_them(world: Snapshot) -> None:
    """A reply listing entries out of order is mapped back by number, not by position."""
    scripted = ScriptedJudge(keyword_verdicts)
    trajectory = deposit_conversation(world)
    async with judge_backend(scripted) as (backend, _):
        judge = LLMJudge(backend, seed=7)
        assessed = await judge.assess(trajectory.messages, ASSERTIONS)
        verdict = await evaluate_tau2(NL_TASK, trajectory, world, TOOLSET, judge=judge)
    assert [(v.assertion, v.met) for v in assessed] == [
        ("Agent deposits the money", True),
        ("Agent is rude", False),
        ("Agent says goodbye", True),
    ]
    assert assessed[1].reason == "looked at 'Agent is rude'"
    assert [c.met for c in verdict.nl_assertions.checks] == [True, False, True]
    assert verdict.nl_assertions.status is Status.FAIL
    assert verdict.reward == 0.0
    assert any("'Agent is rude'" in r for r in verdict.reasons)


async def test_the_prompt_shows_the_transcript_and_numbers_the_statements(world: Snapshot) -> None:
    """The model sees texts, summarised tool calls and results, and each statement under its number."""
    scripted = ScriptedJudge(keyword_verdicts)
    trajectory = deposit_conversation(world)
    async with judge_backend(scripted) as (backend, _):
        await LLMJudge(backend, seed=7).judge(trajectory.messages, ASSERTIONS)
    (request,) = scripted.requests
    system, user = request.messages
    assert (system.role, system.content) == ("system", JUDGE_SYSTEM_PROMPT)
    prompt = user.content or ""
    assert "Customer: Please put 10 dollars into account a1." in prompt
    assert 'Agent called deposit({"account_id": "a1", "amount": 10.0})' in prompt
    assert "Tool result: {" in prompt and "110.0" in prompt
    assert "Agent: Done, goodbye!" in prompt
    assert prompt.endswith("Statements:\n1. Agent deposits the money\n2. Agent is rude\n3. Agent says goodbye")
    assert request.temperature == 0.0


async def test_same_conversation_same_seed_other_conversation_other_seed(world: Snapshot) -> None:
    """The sampling seed (and route key) follow the conversation, not the call count."""
    scripted = ScriptedJudge(keyword_verdicts)
    first = deposit_conversation(world).messages
    other = (*first, Message(role="user", content="One more thing."))
    async with judge_backend(scripted) as (backend, _):
        judge = LLMJudge(backend, seed=7)
        for messages in (first, first, other):
            await judge.judge(messages, ASSERTIONS)
        await LLMJudge(backend, seed=8).judge(first, ASSERTIONS)
    seeds = [r.seed for r in scripted.requests]
    assert seeds[0] == seeds[1]
    assert len({seeds[0], seeds[2], seeds[3]}) == 3


@pytest.mark.parametrize(
    ("reply", "complaint"),
    [
        pytest.param("All three are met.", "not the JSON asked for", id="plain-text"),
        pytest.param('{"verdicts": [{"index": 1, "met": tru', "not the JSON asked for", id="truncated"),
        pytest.param('{"verdicts": [{"index": 1, "met": "yes"}]}', "not the JSON asked for", id="string-bool"),
        pytest.param('{"results": []}', "not the JSON asked for", id="wrong-key"),
        pytest.param(
            '{"verdicts": [{"index": 1, "met": true}, {"index": 2, "met": true}]}', "numbered [1, 2]", id="short"
        ),
        pytest.param('{"verdicts": []}', "numbered []", id="empty"),
        pytest.param(
            '{"verdicts": [{"index": 1, "met": true}, {"index": 1, "met": true}, {"index": 3, "met": true}]}',
            "numbered [1, 1, 3]",
            id="duplicate",
        ),
        pytest.param("", "no text", id="empty-text"),
    ],
)
async def test_a_malformed_reply_is_a_judge_error_and_never_a_pass(world: Snapshot, reply: str, complaint: str) -> None:
    """Anything but one boolean per statement raises JudgeError, and the evaluator reports NOT_EVALUATED."""
    trajectory = deposit_conversation(world)
    async with judge_backend(ScriptedJudge(lambda _: reply)) as (backend, _):
        judge = LLMJudge(backend)
        with pytest.raises(JudgeError, match=re.escape(complaint)) as caught:
            await judge.judge(trajectory.messages, ASSERTIONS)
        verdict = await evaluate_tau2(NL_TASK, trajectory, world, TOOLSET, judge=judge)
    if reply:
        assert caught.value.reply is not None and caught.value.reply in str(caught.value)
    assert verdict.nl_assertions.status is Status.NOT_EVALUATED
    assert all(c.met is None for c in verdict.nl_assertions.checks)
    assert verdict.reward is None
    assert verdict.db_reward == 1.0
    assert any(
        r.startswith("NL_ASSERTION not evaluated: the judge failed: ") and complaint in r for r in verdict.reasons
    )


async def test_a_fenced_json_reply_is_read(world: Snapshot) -> None:
    """A Markdown fence around the JSON (a common model habit) does not make it malformed."""
    trajectory = deposit_conversation(world)
    scripted = ScriptedJudge(lambda request: f"```json\n{keyword_verdicts(request)}\n```")
    async with judge_backend(scripted) as (backend, _):
        assert await LLMJudge(backend).judge(trajectory.messages, ASSERTIONS) == (True, False, True)


async def test_server_errors_after_every_retry_leave_nl_not_evaluated(world: Snapshot) -> None:
    """5xx on every attempt: JudgeError chained to the backend error; the reward stays unknown."""
    scripted = ScriptedJudge(keyword_verdicts)
    trajectory = deposit_conversation(world)
    async with judge_backend(scripted, attempts=2) as (backend, server):
        judge = LLMJudge(backend)
        server.inject(Fault.ERROR_500, Fault.ERROR_500)
        with pytest.raises(JudgeError, match="backend failed") as caught:
            await judge.judge(trajectory.messages, ASSERTIONS)
        server.inject(Fault.ERROR_500, Fault.ERROR_503)
        verdict = await evaluate_tau2(NL_TASK, trajectory, world, TOOLSET, judge=judge)
        served = server.statistics().requests
    assert getattr(caught.value.__cause__, "reason", None) == "http_5xx"
    assert scripted.requests == []  # the faults answered before the model was asked
    assert served == 4
    assert verdict.nl_assertions.status is Status.NOT_EVALUATED
    assert verdict.reward is None and verdict.success is None
    assert any("the judge failed" in r and "2 attempts" in r for r in verdict.reasons)


async def test_a_retried_5xx_then_a_good_reply_is_judged(world: Snapshot) -> None:
    """One 5xx within the retry budget changes nothing: the verdicts come from the next attempt."""
    trajectory = deposit_conversation(world)
    scripted = ScriptedJudge(lambda _: '{"verdicts": [{"index": 1, "met": true}]}')
    async with judge_backend(scripted) as (backend, server):
        server.inject(Fault.ERROR_503)
        assert await LLMJudge(backend).judge(trajectory.messages, ["Agent deposits"]) == (True,)
        assert server.statistics().requests == 2
    assert len(scripted.requests) == 1


async def test_a_failing_judge_does_not_hide_a_db_failure(world: Snapshot) -> None:
    """With the DB wrong the reward is 0 whatever the judge does, even when it fails."""
    trajectory = Conversation(world).say("assistant", "Goodbye").end()
    async with judge_backend(ScriptedJudge(lambda _: "nope")) as (backend, _):
        verdict = await evaluate_tau2(NL_TASK, trajectory, world, TOOLSET, judge=LLMJudge(backend))
    assert verdict.reward == 0.0
    assert verdict.nl_assertions.status is Status.NOT_EVALUATED


class _RaisingJudge:
    def __init__(self, error: Exception) -> None:
        self.error = error

    async def judge(self, messages: Sequence[Message], assertions: Sequence[str]) -> Sequence[bool]:
        raise self.error


async def test_evaluator_turns_any_cove_error_of_a_judge_into_not_evaluated(world: Snapshot) -> None:
    """Any judge's CoveError is reported, not raised; a programming error still propagates."""
    trajectory = deposit_conversation(world)
    verdict = await evaluate_tau2(NL_TASK, trajectory, world, TOOLSET, judge=_RaisingJudge(CoveError("out of quota")))
    assert verdict.reward is None
    assert "NL_ASSERTION not evaluated: the judge failed: out of quota" in verdict.reasons
    with pytest.raises(ZeroDivisionError):
        await evaluate_tau2(NL_TASK, trajectory, world, TOOLSET, judge=_RaisingJudge(ZeroDivisionError()))


async def test_no_assertions_make_no_call(world: Snapshot) -> None:
    """Nothing to decide: no request is sent."""
    scripted = ScriptedJudge(keyword_verdicts)
    async with judge_backend(scripted) as (backend, _):
        assert await LLMJudge(backend).judge(deposit_conversation(world).messages, []) == ()
    assert scripted.requests == []


def test_transcript_clips_long_tool_results_and_skips_system_and_empty_texts() -> None:
    """A huge tool output is clipped with a count of what was cut; system text never reaches the judge."""
    messages = (
        Message(role="system", content="secret policy"),
        Message(role="assistant", content="  "),
        Message(role="tool", tool_call_id="c0", content="x" * 1_000),
    )
    text = render_transcript(messages)
    assert "secret policy" not in text
    assert text == f"Tool result: {'x' * 500} [... 500 more characters]"
    assert render_transcript([Message(role="user", content="hi")]) == "Customer: hi"
