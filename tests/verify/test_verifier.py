"""The CoVe verifier on hand-made retail tasks: each way a conversation can go wrong is named."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cove_async.chat import FunctionCall, Message, TerminationReason, ToolCall, Trajectory
from cove_async.domains import get_domain
from cove_async.domains.retail import RetailWorldSize
from cove_async.domains.retail._records import Order, User
from cove_async.sandbox import Snapshot
from cove_async.tasks import Call, Constraint, Difficulty, Intent, Ref, Task, UserInstruction
from cove_async.verify import RewardShaping, TaskError, WriteOutcome, compile_task, plan_trajectory, verify

RETAIL = get_domain("retail")
TOOLS = RETAIL.toolset
ORDERS = RETAIL.schema.kind("orders")
USERS = RETAIL.schema.kind("users")

NEW_ADDRESS = {
    "address1": "9 Verifier Road",
    "address2": "",
    "city": "Austin",
    "state": "TX",
    "country": "USA",
    "zip": "78701",
}


@pytest.fixture(scope="module")
def world() -> Snapshot:
    return RETAIL.generate_world(RetailWorldSize(users=40, orders=120), 11)


def _orders(world: Snapshot, status: str) -> list[Order]:
    return [o for k in world.select_keys(ORDERS, "status = ?", [status]) if (o := world.load(ORDERS, k))]


@pytest.fixture(scope="module")
def shopper(world: Snapshot) -> tuple[User, Order, Order, Order]:
    """A user with two pending orders and a delivered one."""
    for key in world.keys(USERS):
        user = world.load(USERS, key)
        assert user is not None
        mine = [o for k in user.orders if (o := world.load(ORDERS, k))]
        pending = [o for o in mine if o.status == "pending"]
        delivered = [o for o in mine if o.status == "delivered" and len(o.items) >= 2]
        if len(pending) >= 2 and delivered:
            return user, pending[0], pending[1], delivered[0]
    raise AssertionError("the test world has no user with two pending orders and a delivered one")


def _task(user: User, *constraints: Constraint, plan: tuple[Call, ...] = ()) -> Task:
    return Task(
        task_id="t0",
        domain="retail",
        world="synthetic:seed=11",
        user=Ref(kind="users", key=user.user_id),
        constraints=constraints,
        fuzzy=(),
        instruction=UserInstruction(reason_for_call="r", known_info="k", unknown_info="u", task_instructions="t"),
        plan=plan or tuple(w for c in constraints for w in c.writes),
        difficulty=Difficulty(constraints=len(constraints), fuzziness=0),
    )


def _cancel(order: Order, cid: str = "c0") -> Constraint:
    return Constraint(
        id=cid,
        family="cancel_pending_order",
        intent=Intent.CHANGE,
        targets=(Ref(kind="orders", key=order.order_id),),
        writes=(
            Call(name="cancel_pending_order", arguments={"order_id": order.order_id, "reason": "no longer needed"}),
        ),
    )


def _move(order: Order, cid: str = "c1") -> Constraint:
    return Constraint(
        id=cid,
        family="modify_pending_order_address",
        intent=Intent.CHANGE,
        targets=(Ref(kind="orders", key=order.order_id),),
        writes=(Call(name="modify_pending_order_address", arguments={"order_id": order.order_id, **NEW_ADDRESS}),),
    )


def _conversation(
    *calls: tuple[str, dict[str, Any]],
    say: str = "",
    end: TerminationReason = TerminationReason.USER_STOP,
    confirm: bool = True,
) -> Trajectory:
    messages = [Message(role="assistant", content="Hi! How can I help you today?"), Message(role="user", content="hi")]
    for i, (name, arguments) in enumerate(calls):
        if confirm:
            messages += [Message(role="assistant", content="Shall I?"), Message(role="user", content="Yes, go ahead.")]
        call = ToolCall(id=f"c{i}", function=FunctionCall(name=name, arguments=json.dumps(arguments)))
        # The recorded output is deliberately wrong: the verifier must replay, not read it.
        messages += [
            Message(role="assistant", tool_calls=(call,)),
            Message(role="tool", tool_call_id=f"c{i}", content="ok"),
        ]
    messages += [Message(role="assistant", content=say or "Done."), Message(role="user", content="###STOP###")]
    return Trajectory(messages=tuple(messages), termination=end)


def test_the_canonical_plan_is_perfect(world: Snapshot, shopper: tuple[User, Order, Order, Order]) -> None:
    user, first, second, _ = shopper
    task = _task(user, _cancel(first), _move(second))
    verdict = verify(compile_task(task, world, TOOLS), plan_trajectory(task, world, TOOLS))
    assert verdict.perfect, verdict.reasons()
    assert verdict.score == 1.0
    assert [w.outcome for w in verdict.writes] == [WriteOutcome.PRODUCTIVE, WriteOutcome.PRODUCTIVE]


def test_a_missing_write_fails_its_constraint_only(world: Snapshot, shopper: tuple[User, Order, Order, Order]) -> None:
    user, first, second, _ = shopper
    task = _task(user, _cancel(first), _move(second))
    verdict = verify(
        compile_task(task, world, TOOLS),
        _conversation(("modify_pending_order_address", {"order_id": second.order_id, **NEW_ADDRESS})),
    )
    assert [c.satisfied for c in verdict.constraints] == [False, True]
    assert "unchanged" in verdict.constraints[0].reasons[0]
    assert verdict.score == 0.5
    assert not verdict.perfect


def test_another_path_to_the_same_state_counts(world: Snapshot, shopper: tuple[User, Order, Order, Order]) -> None:
    """Returns are recorded sorted, so naming the items in another order is the same outcome."""
    user, _, _, delivered = shopper
    items = [i.item_id for i in delivered.items[:2]]
    payment = delivered.payment_history[0].payment_method_id
    canonical = {"order_id": delivered.order_id, "item_ids": items, "payment_method_id": payment}
    constraint = Constraint(
        id="c0",
        family="return_delivered_order_items",
        intent=Intent.CHANGE,
        targets=(Ref(kind="orders", key=delivered.order_id),),
        writes=(Call(name="return_delivered_order_items", arguments=canonical),),
    )
    verdict = verify(
        compile_task(_task(user, constraint), world, TOOLS),
        _conversation(("return_delivered_order_items", {**canonical, "item_ids": items[::-1]})),
    )
    assert verdict.perfect, verdict.reasons()


def test_a_wrong_value_is_reported(world: Snapshot, shopper: tuple[User, Order, Order, Order]) -> None:
    user, _, second, _ = shopper
    verdict = verify(
        compile_task(_task(user, _move(second)), world, TOOLS),
        _conversation(("modify_pending_order_address", {"order_id": second.order_id, **NEW_ADDRESS, "zip": "78702"})),
    )
    assert not verdict.constraints[0].satisfied
    assert "address has another value" in verdict.constraints[0].reasons[0]


def test_an_extra_write_is_redundant_and_collateral(world: Snapshot, shopper: tuple[User, Order, Order, Order]) -> None:
    user, first, second, _ = shopper
    verdict = verify(
        compile_task(_task(user, _move(second)), world, TOOLS),
        _conversation(
            ("modify_pending_order_address", {"order_id": second.order_id, **NEW_ADDRESS}),
            ("cancel_pending_order", {"order_id": first.order_id, "reason": "ordered by mistake"}),
        ),
    )
    assert verdict.constraints[0].satisfied
    assert [w.outcome for w in verdict.writes] == [WriteOutcome.PRODUCTIVE, WriteOutcome.UNREQUIRED]
    assert {(c.kind, c.key) for c in verdict.collateral} >= {("orders", first.order_id)}
    assert verdict.redundant == 1
    records = len({(c.kind, c.key) for c in verdict.collateral})  # the order, and its owner if a gift card got a refund
    assert verdict.score == max(0.0, 1 - 0.25 - 0.5 * records)
    assert not verdict.perfect


def test_a_duplicate_write_is_redundant(world: Snapshot, shopper: tuple[User, Order, Order, Order]) -> None:
    user, _, second, _ = shopper
    move = ("modify_pending_order_address", {"order_id": second.order_id, **NEW_ADDRESS})
    verdict = verify(compile_task(_task(user, _move(second)), world, TOOLS), _conversation(move, move))
    assert [w.outcome for w in verdict.writes] == [WriteOutcome.PRODUCTIVE, WriteOutcome.DUPLICATE]
    assert verdict.score == 0.75
    assert verdict.constraints[0].satisfied


def test_a_write_then_its_undo_is_redundant_without_collateral(
    world: Snapshot, shopper: tuple[User, Order, Order, Order]
) -> None:
    user, _, second, _ = shopper
    old = {f: getattr(user.address, f) for f in ("address1", "address2", "city", "state", "country", "zip")}
    verdict = verify(
        compile_task(_task(user, _move(second)), world, TOOLS),
        _conversation(
            ("modify_user_address", {"user_id": user.user_id, **NEW_ADDRESS}),
            ("modify_pending_order_address", {"order_id": second.order_id, **NEW_ADDRESS}),
            ("modify_user_address", {"user_id": user.user_id, **old}),
        ),
    )
    assert [w.outcome for w in verdict.writes] == [
        WriteOutcome.UNDONE,
        WriteOutcome.PRODUCTIVE,
        WriteOutcome.UNREQUIRED,
    ]
    assert verdict.collateral == ()
    assert verdict.redundant == 2


def test_failed_writes_are_counted_but_free_by_default(
    world: Snapshot, shopper: tuple[User, Order, Order, Order]
) -> None:
    user, _, second, delivered = shopper
    expectation = compile_task(_task(user, _move(second)), world, TOOLS)
    conversation = _conversation(
        ("cancel_pending_order", {"order_id": delivered.order_id, "reason": "no longer needed"}),
        ("modify_pending_order_address", {"order_id": second.order_id, **NEW_ADDRESS}),
    )
    verdict = verify(expectation, conversation)
    assert verdict.writes[0].outcome is WriteOutcome.FAILED
    assert (verdict.failed_writes, verdict.redundant, verdict.perfect, verdict.score) == (1, 0, True, 1.0)
    assert verify(expectation, conversation, RewardShaping(failed_write_penalty=0.1)).score == 0.9


def test_refusals_catch_attempts_and_changes(world: Snapshot, shopper: tuple[User, Order, Order, Order]) -> None:
    user, first, _, delivered = shopper
    refuse = Constraint(
        id="c0",
        family="refuse_cancel_non_pending",
        intent=Intent.REFUSE,
        targets=(Ref(kind="orders", key=delivered.order_id),),
        forbidden_calls=("cancel_pending_order",),
        rule="only pending orders can be cancelled",
    )
    expectation = compile_task(_task(user, refuse), world, TOOLS)
    assert verify(expectation, _conversation()).perfect
    attempted = verify(
        expectation,
        _conversation(("cancel_pending_order", {"order_id": delivered.order_id, "reason": "no longer needed"})),
    )
    assert not attempted.constraints[0].satisfied
    assert "called cancel_pending_order" in attempted.constraints[0].reasons[0]
    assert attempted.writes[0].outcome is WriteOutcome.FORBIDDEN
    # Cancelling some other order is not the forbidden act, but it is still collateral.
    other = verify(
        expectation, _conversation(("cancel_pending_order", {"order_id": first.order_id, "reason": "no longer needed"}))
    )
    assert other.constraints[0].satisfied
    assert not other.perfect


def test_information_must_be_stated(world: Snapshot, shopper: tuple[User, Order, Order, Order]) -> None:
    user, first, _, _ = shopper
    inform = Constraint(
        id="c0",
        family="inform_order_status",
        intent=Intent.INFORM,
        targets=(Ref(kind="orders", key=first.order_id),),
        answers=(("pending",), ("1,234.50", "1234.5")),
    )
    expectation = compile_task(_task(user, inform), world, TOOLS)
    assert verify(expectation, _conversation(say="It is Pending and the total is $1,234.50.")).perfect
    partly = verify(expectation, _conversation(say="It is pending."))
    assert partly.constraints[0].reasons == ("never told the user '1,234.50'",)


def test_the_termination_gate(world: Snapshot, shopper: tuple[User, Order, Order, Order]) -> None:
    user, _, second, _ = shopper
    expectation = compile_task(_task(user, _move(second)), world, TOOLS)
    conversation = _conversation(
        ("modify_pending_order_address", {"order_id": second.order_id, **NEW_ADDRESS}), end=TerminationReason.MAX_STEPS
    )
    verdict = verify(expectation, conversation)
    assert verdict.constraints[0].satisfied
    assert (verdict.score, verdict.perfect, verdict.terminated_ok) == (0.0, False, False)
    assert verify(expectation, conversation, RewardShaping(gate=False)).score == 1.0


def test_verification_is_pure(world: Snapshot, shopper: tuple[User, Order, Order, Order]) -> None:
    user, first, second, _ = shopper
    expectation = compile_task(_task(user, _cancel(first), _move(second)), world, TOOLS)
    conversation = _conversation(("cancel_pending_order", {"order_id": first.order_id, "reason": "no longer needed"}))
    assert verify(expectation, conversation) == verify(expectation, conversation)
    assert world.fork().changes().changes == ()


def test_bad_tasks_are_refused_at_compile_time(world: Snapshot, shopper: tuple[User, Order, Order, Order]) -> None:
    user, first, _, delivered = shopper
    with pytest.raises(TaskError, match="canonical call cancel_pending_order failed"):
        compile_task(_task(user, _cancel(delivered)), world, TOOLS)
    elsewhere = Constraint(
        id="c1",
        family="modify_pending_order_address",
        intent=Intent.CHANGE,
        targets=(Ref(kind="orders", key=first.order_id),),
        writes=(
            Call(
                name="modify_pending_order_address",
                arguments={"order_id": first.order_id, **NEW_ADDRESS, "city": "Waco"},
            ),
        ),
    )
    with pytest.raises(TaskError, match=r"both change orders/.*/address"):
        compile_task(_task(user, _move(first, "c0"), elsewhere), world, TOOLS)


def test_a_write_without_the_users_yes_is_not_perfect(
    world: Snapshot, shopper: tuple[User, Order, Order, Order]
) -> None:
    user, first, _, _ = shopper
    task = _task(user, _cancel(first))
    expectation = compile_task(task, world, TOOLS)
    call = ("cancel_pending_order", {"order_id": first.order_id, "reason": "no longer needed"})
    confirmed = verify(expectation, _conversation(call))
    assert confirmed.perfect and confirmed.unconfirmed_writes == 0
    hasty = verify(expectation, _conversation(call, confirm=False))
    assert hasty.constraints[0].satisfied  # the right change, made the wrong way
    assert not hasty.perfect
    assert hasty.unconfirmed_writes == 1
    assert hasty.score == 0.75
    assert any("without the user's confirmation" in r for r in hasty.reasons())
    lenient = verify(expectation, _conversation(call, confirm=False), RewardShaping(require_confirmation=False))
    assert lenient.perfect and lenient.score == 1.0


def test_a_refused_write_needs_no_confirmation(world: Snapshot, shopper: tuple[User, Order, Order, Order]) -> None:
    user, first, _, _ = shopper
    task = _task(user, _cancel(first))
    probe = ("cancel_pending_order", {"order_id": "#W0000000", "reason": "no longer needed"})
    call = ("cancel_pending_order", {"order_id": first.order_id, "reason": "no longer needed"})
    messages = list(_conversation(call).messages)
    probe_call = ToolCall(id="p", function=FunctionCall(name=probe[0], arguments=json.dumps(probe[1])))
    messages[2:2] = [Message(role="assistant", tool_calls=(probe_call,)), Message(role="tool", tool_call_id="p")]
    verdict = verify(
        compile_task(task, world, TOOLS), Trajectory(messages=tuple(messages), termination=TerminationReason.USER_STOP)
    )
    assert [w.outcome for w in verdict.writes] == [WriteOutcome.FAILED, WriteOutcome.PRODUCTIVE]
    assert verdict.unconfirmed_writes == 0 and verdict.perfect


@pytest.mark.parametrize(
    ("said", "answer", "stated"),
    [
        ("You have 2 bags.", "2", True),
        ("Your code is U7EZ2W.", "2", False),  # the digit inside a code is not the answer
        ("Sadly that flight is unavailable.", "available", False),
        ("It is available: seat 3A.", "available", True),
        ("The refund is $1,234.50.", "1234.50", True),
        ("The refund is 11,234.50 dollars.", "1234.50", False),
    ],
)
def test_a_fact_must_be_stated_as_whole_words(
    said: str, answer: str, stated: bool, world: Snapshot, shopper: tuple[User, Order, Order, Order]
) -> None:
    user, first, _, _ = shopper
    inform = Constraint(
        id="c0",
        family="inform_x",
        intent=Intent.INFORM,
        targets=(Ref(kind="orders", key=first.order_id),),
        answers=((answer,),),
    )
    verdict = verify(compile_task(_task(user, inform), world, TOOLS), _conversation(say=said))
    assert verdict.constraints[0].satisfied is stated
