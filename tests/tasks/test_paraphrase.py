"""The LLM paraphrase of user instructions, against the real simulated server with a scripted paraphraser.

Every rewrite the scripted model returns is built from the texts it received over HTTP, the way
a model would work; the re-check then decides. Sampled tasks of both domains show the re-check
accepts faithful rewordings of real instructions and catches a dropped description.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio
import msgspec
import pytest

from cove_async.backends import ChatBackend, ChatRequest, OpenAIChatBackend, RetryPolicy, Timeouts, derive_seed
from cove_async.domains import get_domain
from cove_async.mockllm import Fault, MockLLMServer, Reply, Responder, running_server
from cove_async.tasks import Call, Constraint, Difficulty, FuzzyRef, Intent, Ref, Task, UserInstruction
from cove_async.tasks.airline import AirlineKnobs, sample_airline_task
from cove_async.tasks.paraphrase import (
    PARAPHRASE_SYSTEM_PROMPT,
    Rejection,
    check_paraphrase,
    paraphrase_instruction,
    paraphrase_tasks,
)
from cove_async.tasks.retail import RetailKnobs, sample_retail_task

pytestmark = pytest.mark.anyio

MODEL = "paraphraser"
Texts = dict[str, str]
Behaviour = Callable[[Texts], str]

ORDER = Ref(kind="orders", key="#W5579654")
TASK = Task(
    task_id="retail-hand-1",
    domain="retail",
    world="test",
    user=Ref(kind="users", key="omar_park_5001"),
    constraints=(
        Constraint(
            id="c0",
            family="exchange_delivered_items",
            intent=Intent.CHANGE,
            targets=(ORDER,),
            params={"order_id": "#W5579654", "item_ids": ["3971151651"], "new_item_ids": ["1013881775"]},
            writes=(
                Call(
                    name="exchange_delivered_order_items",
                    arguments={
                        "order_id": "#W5579654",
                        "item_ids": ["3971151651"],
                        "new_item_ids": ["1013881775"],
                        "payment_method_id": "paypal_4344116",
                    },
                ),
            ),
        ),
    ),
    fuzzy=(
        FuzzyRef(
            ref=Ref(kind="users", key="omar_park_5001"),
            strategy="name_zip",
            text="Omar Park, zip code 37207",
            attributes={"first_name": "Omar", "last_name": "Park", "zip": "37207"},
        ),
        FuzzyRef(
            ref=ORDER,
            strategy="items",
            text="the order with the Stand Mixer (color: cream)",
            attributes={"items": [{"name": "Stand Mixer", "options": {"color": "cream"}}]},
            difficulty=2,
        ),
        FuzzyRef(
            ref=Ref(kind="items", key="3971151651"),
            strategy="line_options",
            text="the Board Game (theme: fantasy)",
            attributes={"name": "Board Game", "options": {"theme": "fantasy"}},
            scope=ORDER,
        ),
        FuzzyRef(
            ref=Ref(kind="payment_methods", key="paypal_4344116"),
            strategy="source",
            text="your PayPal account",
            attributes={"source": "paypal"},
        ),
    ),
    instruction=UserInstruction(
        reason_for_call=(
            "You are contacting the online store's customer support. In the order with the Stand Mixer "
            "(color: cream), you want to exchange the Board Game (theme: fantasy) for the same one but with the "
            "theme set to farming."
        ),
        known_info="You are Omar Park and your zip code is 37207.",
        unknown_info="You do not know your user id or any item ids; you do not know your order ids.",
        task_instructions=(
            "Identify yourself with the information you know when the agent asks.\n"
            "If asked how to settle a price difference, use your PayPal account.\n"
            "When the agent describes a change and asks you to confirm, check it against what you want and "
            "confirm only if it matches.\n"
            "Once all your requests are dealt with, finish by sending ###STOP###."
        ),
    ),
    plan=(
        Call(name="find_user_id_by_name_zip", arguments={"first_name": "Omar", "last_name": "Park", "zip": "37207"}),
    ),
    difficulty=Difficulty(constraints=1, fuzziness=2),
)

_SUBSTITUTIONS = (("You are ", "You're "), ("you want", "you would like"), ("You want", "You would like"))


def reword(text: str) -> str:
    """A faithful rewording: contractions and synonyms, every fact left as it is."""
    for old, new in _SUBSTITUTIONS:
        text = text.replace(old, new)
    return text


def faithful(texts: Texts) -> str:
    return json.dumps({key: reword(value) for key, value in texts.items()})


def edited(field: str, edit: Callable[[str], str]) -> Behaviour:
    """A faithful rewording with one field edited afterwards."""

    def behave(texts: Texts) -> str:
        out = {key: reword(value) for key, value in texts.items()}
        out[field] = edit(out[field])
        return json.dumps(out)

    return behave


class ScriptedParaphraser:
    """A paraphrasing model: reads the JSON texts it was sent and answers as ``behaviour`` says."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.requests: list[ChatRequest] = []

    async def respond(self, request: ChatRequest) -> Reply:
        self.requests.append(request)
        texts = json.loads(request.messages[-1].content or "")
        return Reply(content=self.behaviour(texts))


@asynccontextmanager
async def paraphraser(responder: Responder, *, attempts: int = 3) -> AsyncIterator[tuple[ChatBackend, MockLLMServer]]:
    async with running_server(responders={MODEL: responder}) as server:
        backend = OpenAIChatBackend(
            endpoints=(server.base_url,),
            model=MODEL,
            retry=RetryPolicy(max_attempts=attempts, backoff_base_s=0.001, backoff_max_s=0.002),
            timeouts=Timeouts(request_s=5),
        )
        async with backend:
            yield backend, server


async def test_a_faithful_paraphrase_is_accepted_and_only_the_instruction_changes() -> None:
    """The rewrite replaces the three texts; unknown_info and everything else stay as they were."""
    scripted = ScriptedParaphraser(faithful)
    async with paraphraser(scripted) as (backend, _):
        result = await paraphrase_instruction(TASK, backend, seed=11)
    assert (result.accepted, result.reason, result.rejection) == (True, None, None)
    new = result.task.instruction
    assert new.known_info == "You're Omar Park and your zip code is 37207."
    assert new.reason_for_call.startswith("You're contacting") and "you would like to exchange" in new.reason_for_call
    assert new.unknown_info == TASK.instruction.unknown_info
    assert msgspec.structs.replace(result.task, instruction=TASK.instruction) == TASK
    (request,) = scripted.requests
    assert request.messages[0].content == PARAPHRASE_SYSTEM_PROMPT
    assert json.loads(request.messages[1].content or "") == {
        "reason_for_call": TASK.instruction.reason_for_call,
        "known_info": TASK.instruction.known_info,
        "task_instructions": TASK.instruction.task_instructions,
    }
    assert request.seed == derive_seed(run_seed=11, task_id=TASK.task_id, sample_index=0, turn=0, role="paraphrase")


def _drop(phrase: str) -> Callable[[str], str]:
    return lambda text: text.replace(phrase, "it")


@pytest.mark.parametrize(
    ("behaviour", "rejection", "detail"),
    [
        pytest.param(
            edited("reason_for_call", _drop("the Stand Mixer (color: cream)")),
            Rejection.MISSING_FACT,
            "reason_for_call no longer says 'cream' of the description 'the order with the Stand Mixer (color: cream)'",
            id="drops-a-description",
        ),
        pytest.param(
            edited("known_info", lambda t: t.replace("37207", "37027")),
            Rejection.MISSING_FACT,
            "known_info no longer says '37207'",
            id="changes-a-number",
        ),
        pytest.param(
            edited("task_instructions", _drop("your PayPal account")),
            Rejection.MISSING_FACT,
            "task_instructions no longer says 'paypal'",
            id="drops-the-payment-method",
        ),
        pytest.param(
            edited("reason_for_call", lambda t: t + " The order is #W5579654."),
            Rejection.HIDDEN_ID,
            "reason_for_call shows an order id '#W5579654'",
            id="leaks-the-order-id",
        ),
        pytest.param(
            edited("task_instructions", lambda t: t.replace("your PayPal account", "paypal_4344116")),
            Rejection.HIDDEN_ID,
            "task_instructions shows a payment method id 'paypal_4344116'",
            id="leaks-the-payment-method-id",
        ),
        pytest.param(
            edited("known_info", lambda t: t + " The item id is 3971151651."),
            Rejection.HIDDEN_ID,
            "known_info shows an item or product id '3971151651'",
            id="leaks-an-item-id",
        ),
        pytest.param(
            edited("known_info", lambda t: t + " Your user id is omar_park_5001."),
            Rejection.HIDDEN_ID,
            "known_info shows a user id 'omar_park_5001'",
            id="leaks-the-user-id",
        ),
        pytest.param(
            edited("reason_for_call", lambda t: t + " It is on reservation AB12CD."),
            Rejection.HIDDEN_ID,
            "a reservation code or flight number 'AB12CD'",
            id="invents-a-code",
        ),
        pytest.param(
            edited("task_instructions", lambda t: t.replace(" ###STOP###", " goodbye")),
            Rejection.STOP_MARKER,
            "task_instructions has the stop markers [] instead of ['###STOP###']",
            id="drops-the-stop-marker",
        ),
        pytest.param(
            edited("reason_for_call", lambda t: t + " ###STOP###"),
            Rejection.STOP_MARKER,
            "reason_for_call has the stop markers ['###STOP###'] instead of []",
            id="adds-a-stop-marker",
        ),
        pytest.param(
            edited("reason_for_call", lambda t: "Sure, here goes. " + t),
            Rejection.ASSENT,
            "reason_for_call gained the assent words ['sure']",
            id="adds-assent",
        ),
        pytest.param(lambda texts: json.dumps(texts), Rejection.UNCHANGED, "word for word", id="unchanged"),
        pytest.param(
            edited("known_info", lambda _: "  "), Rejection.EMPTY, "known_info came back empty", id="empty-text"
        ),
    ],
)
async def test_an_unfaithful_paraphrase_is_rejected_and_the_original_kept(
    behaviour: Behaviour, rejection: Rejection, detail: str
) -> None:
    """Each broken rule is reported with its kind and the offending value; the task is the original."""
    async with paraphraser(ScriptedParaphraser(behaviour)) as (backend, _):
        result = await paraphrase_instruction(TASK, backend, seed=11)
    assert not result.accepted
    assert result.rejection is rejection
    assert result.reason is not None and detail in result.reason, result.reason
    assert result.task is TASK


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param("Sure! Here is a friendlier version of the brief: you are Omar...", id="plain-text"),
        pytest.param('{"reason_for_call": "You are contacting', id="truncated-json"),
        pytest.param('{"reason_for_call": "x", "known_info": "y"}', id="missing-key"),
        pytest.param('{"reason_for_call": "x", "known_info": "y", "task_instructions": ["z"]}', id="wrong-type"),
        pytest.param('["You are contacting"]', id="not-an-object"),
        pytest.param("", id="no-text"),
    ],
)
async def test_garbage_replies_are_rejected_as_malformed(reply: str) -> None:
    """Anything but a JSON object with the three strings is MALFORMED, quoting what came back."""
    async with paraphraser(ScriptedParaphraser(lambda _: reply)) as (backend, _):
        result = await paraphrase_instruction(TASK, backend, seed=11)
    assert (result.accepted, result.rejection, result.task) == (False, Rejection.MALFORMED, TASK)
    assert result.reason is not None and "not a JSON object with reason_for_call" in result.reason
    assert repr(reply[:20])[1:-1] in result.reason


async def test_a_fenced_reply_is_read() -> None:
    """A Markdown fence around the JSON does not make a faithful rewrite malformed."""
    scripted = ScriptedParaphraser(lambda texts: f"```json\n{faithful(texts)}\n```")
    async with paraphraser(scripted) as (backend, _):
        assert (await paraphrase_instruction(TASK, backend, seed=1)).accepted


async def test_a_server_error_after_every_retry_keeps_the_original() -> None:
    """5xx on every attempt: a BACKEND_ERROR rejection naming the attempts, nothing raised."""
    scripted = ScriptedParaphraser(faithful)
    async with paraphraser(scripted, attempts=2) as (backend, server):
        server.inject(Fault.ERROR_500, Fault.ERROR_500)
        result = await paraphrase_instruction(TASK, backend, seed=11)
        served = server.statistics().requests
    assert (result.accepted, result.rejection, result.task) == (False, Rejection.BACKEND_ERROR, TASK)
    assert result.reason is not None and "the backend failed" in result.reason and "2 attempts" in result.reason
    assert served == 2 and scripted.requests == []


def _case(number: int) -> Task:
    instruction = msgspec.structs.replace(
        TASK.instruction, reason_for_call=f"Case {number}. {TASK.instruction.reason_for_call}"
    )
    return msgspec.structs.replace(TASK, task_id=f"case-{number}", instruction=instruction)


_CASE = re.compile(r"Case (\d+)\.")
_BY_CASE: dict[int, Behaviour] = {
    0: faithful,
    1: lambda _: "not json",
    2: edited("reason_for_call", lambda t: t + " #W5579654"),
    3: faithful,
    4: edited("reason_for_call", _drop("the Board Game (theme: fantasy)")),
    5: lambda _: "{}",
    6: faithful,
}


def by_case(texts: Texts) -> str:
    found = _CASE.search(texts["reason_for_call"])
    assert found is not None
    return _BY_CASE[int(found.group(1))](texts)


async def test_batch_keeps_input_order_and_counts_outcomes() -> None:
    """Results line up with the input whatever order replies come in; counts add up by kind."""
    tasks = [_case(n) for n in range(7)]
    async with paraphraser(ScriptedParaphraser(by_case)) as (backend, _):
        batch = await paraphrase_tasks(iter(tasks), backend, concurrency=3, seed=5)
    assert [r.task.task_id for r in batch.results] == [t.task_id for t in tasks]
    assert [r.accepted for r in batch.results] == [True, False, False, True, False, False, True]
    assert batch.accepted == 3
    assert batch.rejected == {"malformed": 2, "hidden_id": 1, "missing_fact": 1}
    assert batch.results[1].task is tasks[1]
    assert batch.results[0].task.instruction.reason_for_call.startswith("Case 0. You're contacting")


class GatedParaphraser:
    """Holds every request until ``width`` are inside at once, then lets all through; records the peak."""

    def __init__(self, width: int) -> None:
        self.width = width
        self.inside = 0
        self.peak = 0
        self.full = anyio.Event()

    async def respond(self, request: ChatRequest) -> Reply:
        self.inside += 1
        self.peak = max(self.peak, self.inside)
        if self.inside >= self.width:
            self.full.set()
        await self.full.wait()
        self.inside -= 1
        return Reply(content=faithful(json.loads(request.messages[-1].content or "")))


async def test_batch_runs_exactly_concurrency_requests_at_once() -> None:
    """With concurrency 3, three requests are in the model together and never a fourth."""
    gated = GatedParaphraser(width=3)
    async with paraphraser(gated) as (backend, _):
        batch = await paraphrase_tasks([_case(n) for n in range(9)], backend, concurrency=3, seed=5)
    assert gated.peak == 3
    assert batch.accepted == 9 and batch.rejected == {}


async def test_batch_rejects_a_concurrency_below_one() -> None:
    async with paraphraser(ScriptedParaphraser(faithful)) as (backend, _):
        with pytest.raises(ValueError, match="concurrency must be >= 1, got 0"):
            await paraphrase_tasks([TASK], backend, concurrency=0, seed=5)


def _sampled() -> list[Task]:
    """40 tasks per domain, every size and vagueness level, refusals included."""
    retail, airline = get_domain("retail"), get_domain("airline")
    retail_world = retail.generate_world(retail.world_size(), 0)
    airline_world = airline.generate_world(airline.world_size(), 0)
    rng = random.Random(17)
    tasks = [
        sample_retail_task(
            retail_world,
            rng,
            task_id=f"retail-{i}",
            world="test",
            knobs=RetailKnobs(constraints=1 + i % 3, fuzziness=i % 4, refusal_rate=0.3),
        )
        for i in range(40)
    ]
    tasks += [
        sample_airline_task(
            airline_world,
            rng,
            task_id=f"airline-{i}",
            world="test",
            knobs=AirlineKnobs(constraints=1 + i % 3, fuzziness=i % 4),
        )
        for i in range(40)
    ]
    return tasks


@pytest.fixture(scope="module")
def sampled() -> list[Task]:
    return _sampled()


def _drop_first_description(task: Task) -> UserInstruction | None:
    instruction = task.instruction
    for ref in task.fuzzy:
        if ref.text in instruction.reason_for_call:
            return msgspec.structs.replace(
                instruction, reason_for_call=instruction.reason_for_call.replace(ref.text, "it")
            )
    return None


async def test_sampled_tasks_of_both_domains_faithful_accepted_dropped_caught(sampled: list[Task]) -> None:
    """Real instructions: a faithful rewording always passes; losing a description never does."""
    async with paraphraser(ScriptedParaphraser(faithful)) as (backend, _):
        batch = await paraphrase_tasks(sampled, backend, concurrency=8, seed=3)
    assert batch.rejected == {}, [r.reason for r in batch.results if not r.accepted][:3]
    dropped = [(t, _drop_first_description(t)) for t in sampled]
    checked = [(t, r) for t, r in dropped if r is not None]
    assert len(checked) > 60
    for task, rewrite in checked:
        problem = check_paraphrase(task, rewrite)
        assert problem is not None and problem[0] is Rejection.MISSING_FACT, (task.task_id, rewrite.reason_for_call)


@pytest.mark.parametrize(
    ("edit", "accepted"),
    [
        pytest.param(lambda t: t.replace("37207.", "37207th."), True, id="number-suffix-ok"),
        pytest.param(lambda t: t.replace("Omar Park", "omar  park"), True, id="case-and-spaces-ok"),
        pytest.param(lambda t: t.replace("Omar Park", "Park Omar"), False, id="name-order-changed"),
        pytest.param(lambda t: t.replace("Omar Park", "Omar"), False, id="surname-lost"),
        pytest.param(lambda t: t.replace("37207", "372071"), False, id="longer-number"),
    ],
)
def test_fact_matching_is_normalised_and_bounded(edit: Callable[[str], str], accepted: bool) -> None:
    """Case and spacing do not matter; a number must still be the same number; every key fact counts."""
    rewrite = msgspec.structs.replace(TASK.instruction, known_info=edit(reword(TASK.instruction.known_info)))
    assert (check_paraphrase(TASK, rewrite) is None) is accepted


def test_ids_the_original_showed_may_stay_and_list_numbering_may_go() -> None:
    """An order id the user was given is no leak; "1." numbering is not a mention of the number 1."""
    shown = msgspec.structs.replace(
        TASK.instruction,
        known_info=TASK.instruction.known_info + " Your order is #W5579654.",
        task_instructions="1. Ask about 1 order.\n" + TASK.instruction.task_instructions,
    )
    task = msgspec.structs.replace(TASK, instruction=shown)
    rewrite = msgspec.structs.replace(
        shown,
        known_info=reword(shown.known_info).replace("#W5579654", "W5579654"),
        task_instructions="Ask about 1 order.\n" + TASK.instruction.task_instructions,
    )
    assert check_paraphrase(task, rewrite) is None
