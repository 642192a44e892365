"""Retail task sampling: unique descriptions, solvability, determinism, and the verifier catching mutations.

The resolver here is written from the FuzzyRef contract alone (brute force over every record of
the world, in plain Python); it shares no code with the sampler's own uniqueness queries.
"""

from __future__ import annotations

import itertools
import json
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pytest

from cove_async.chat import Message, Trajectory
from cove_async.domains import get_domain
from cove_async.domains.retail import TOOLSET, RetailWorldSize, generate_retail_world
from cove_async.domains.retail._records import CreditCard, GiftCard, Order, PaymentMethod, Product, User
from cove_async.errors import ConfigError
from cove_async.sandbox import Snapshot
from cove_async.tasks import Call, FuzzyRef, Intent, Task
from cove_async.tasks.retail import (
    DEFAULT_FAMILY_WEIGHTS,
    RETAIL_FAMILIES,
    RetailKnobs,
    SamplingError,
    SamplingStats,
    sample_retail_task,
)
from cove_async.verify import Verdict, WriteOutcome, compile_task, plan_trajectory, verify

RETAIL = get_domain("retail")
PRODUCTS, USERS, ORDERS = (RETAIL.schema.kind(k) for k in ("products", "users", "orders"))
EVEN = dict.fromkeys(RETAIL_FAMILIES, 1.0)


@dataclass
class World:
    """Every record of a snapshot, decoded by the test itself."""

    snapshot: Snapshot
    users: dict[str, User]
    orders: dict[str, Order]
    products: dict[str, Product]


def _world(snapshot: Snapshot) -> World:
    def everything(kind: Any) -> dict[str, Any]:
        return {k: snapshot.load(kind, k) for k in snapshot.keys(kind)}

    return World(snapshot, everything(USERS), everything(ORDERS), everything(PRODUCTS))


@pytest.fixture(scope="module")
def synthetic() -> World:
    return _world(generate_retail_world(RetailWorldSize(), 0))


@pytest.fixture(scope="module")
def tau2(tau2_dir: Path) -> World:
    return _world(RETAIL.load_tau2(tau2_dir))


def _sample(world: World, n: int, seed: int, knobs_for: Callable[[int], RetailKnobs]) -> list[Task]:
    rng = random.Random(seed)
    return [
        sample_retail_task(world.snapshot, rng, task_id=f"t{i}", world="test", knobs=knobs_for(i)) for i in range(n)
    ]


def _mixed(i: int) -> RetailKnobs:
    """Every vagueness level and task size, refusals in a third of tasks, every family equally."""
    return RetailKnobs(constraints=1 + i % 3, fuzziness=i % 4, refusal_rate=0.35, family_weights=EVEN)


@pytest.fixture(scope="module")
def synthetic_tasks(synthetic: World) -> list[Task]:
    return _sample(synthetic, 10_000, 1, _mixed)


# --- an independent resolver --------------------------------------------------------------------


def _address_line(a: Any) -> str:
    second = f" {a.address2}" if a.address2 else ""
    return f"{a.address1}{second}, {a.city}, {a.state} {a.zip}, {a.country}"


def _source(m: PaymentMethod) -> str:
    return "credit_card" if isinstance(m, CreditCard) else "gift_card" if isinstance(m, GiftCard) else "paypal"


def _holds(order: Order, wanted: list[dict[str, Any]]) -> bool:
    """Some distinct lines of the order match the described items, one each (tried exhaustively)."""
    for lines in itertools.permutations(order.items, len(wanted)):
        if all(
            line.name == w["name"] and all(line.options.get(k) == v for k, v in w["options"].items())
            for line, w in zip(lines, wanted, strict=True)
        ):
            return True
    return False


def resolve(world: World, ref: FuzzyRef) -> list[str]:
    """Every record the description fits, found by looking at all of them."""
    a = ref.attributes
    scope = ref.scope.key if ref.scope else None
    if ref.ref.kind == "users":
        if ref.strategy == "email":
            return [u.user_id for u in world.users.values() if u.email.lower() == a["email"].lower()]
        return [
            u.user_id
            for u in world.users.values()
            if (u.name.first_name.lower(), u.name.last_name.lower(), u.address.zip)
            == (a["first_name"].lower(), a["last_name"].lower(), a["zip"])
        ]
    if ref.ref.kind == "orders":
        mine = [o for o in world.orders.values() if o.user_id == scope]
        if ref.strategy == "order_id":
            return [o.order_id for o in mine if o.order_id == a["order_id"]]
        return [o.order_id for o in mine if _holds(o, a["items"])]
    if ref.ref.kind == "items":
        order = world.orders[scope or ""]
        return [
            line.item_id
            for line in order.items
            if line.name == a["name"] and all(line.options.get(k) == v for k, v in a["options"].items())
        ]
    if ref.ref.kind == "variants":
        product = world.products[a["product_id"]]
        if ref.strategy == "changed_options":
            want = {**product.variants[a["based_on"]].options, **a["options"]}
            return [v.item_id for v in product.variants.values() if v.options == want]
        return [
            v.item_id for v in product.variants.values() if all(v.options.get(k) == x for k, x in a["options"].items())
        ]
    if ref.ref.kind == "payment_methods":
        methods = world.users[scope or ""].payment_methods
        if ref.strategy == "original":
            return [world.orders[a["paid_for"]].payment_history[0].payment_method_id]
        return [
            m.id
            for m in methods.values()
            if all((_source(m) if k == "source" else getattr(m, k, None)) == v for k, v in a.items())
        ]
    if ref.ref.kind == "addresses":
        user = world.users[scope or ""]
        if ref.strategy == "default_address":
            return [_address_line(user.address)] if a["default_of"] == user.user_id else []
        return sorted(
            {
                _address_line(o.address)
                for o in world.orders.values()
                if o.user_id == user.user_id
                and o.order_id != a["excluding_order"]
                and o.address.city == a["order_city"]
            }
        )
    raise AssertionError(f"unknown reference kind {ref.ref.kind}")


def _told(task: Task) -> str:
    i = task.instruction
    return "\n".join((i.reason_for_call, i.known_info, i.unknown_info, i.task_instructions))


def _check_task(world: World, task: Task) -> None:
    """Every description names its record alone, says what its attributes say, and is told to the user."""
    told = _told(task)
    for ref in task.fuzzy:
        assert resolve(world, ref) == [ref.ref.key], (task.task_id, ref)
        if ref.ref.kind != "users":
            assert ref.text in told, (task.task_id, ref.text)
        for key, value in ref.attributes.items():
            if key in ("email", "first_name", "last_name", "zip", "order_id", "brand_last_four", "last_four"):
                assert str(value).lower() in (ref.text + told).lower(), (task.task_id, key)
            if key == "items":
                for item in value:
                    assert item["name"] in ref.text and all(v in ref.text for v in item["options"].values())
    # Hidden ids stay hidden: the user id always, order and method ids unless given on purpose.
    user = world.users[task.user.key]
    assert task.user.key not in told
    by_id = {r.ref.key for r in task.fuzzy if r.strategy in ("order_id", "method_id")}
    for order_id in user.orders:
        assert order_id not in told or order_id in by_id, (task.task_id, order_id)
    for method_id in user.payment_methods:
        assert method_id not in told or method_id in by_id, (task.task_id, method_id)
    # The user is never told an answer they are to ask for.
    plain = told.lower().replace(",", "")
    for c in task.constraints:
        for fact in c.answers:
            assert not any(spelling.lower().replace(",", "") in plain for spelling in fact), (task.task_id, fact)
    # No request is made twice.
    assert len({(c.family, json.dumps(c.params, sort_keys=True)) for c in task.constraints}) == len(task.constraints)
    # Every order a constraint is about is one the user can describe.
    described = {r.ref.key for r in task.fuzzy if r.ref.kind == "orders"}
    for c in task.constraints:
        assert {t.key for t in c.targets if t.kind == "orders"} <= described, (task.task_id, c.id)


# --- sampling -----------------------------------------------------------------------------------


def test_ten_thousand_synthetic_tasks_resolve_uniquely(synthetic: World, synthetic_tasks: list[Task]) -> None:
    assert len(synthetic_tasks) == 10_000
    for task in synthetic_tasks:
        _check_task(synthetic, task)


def test_every_family_and_refusals_are_sampled(synthetic_tasks: list[Task]) -> None:
    families = Counter(c.family for t in synthetic_tasks for c in t.constraints)
    assert set(families) == set(RETAIL_FAMILIES), set(RETAIL_FAMILIES) - set(families)
    refusing = [t for t in synthetic_tasks if t.difficulty.refusals]
    assert 0.25 < len(refusing) / len(synthetic_tasks) < 0.45
    # The policy-only refusal (the API would accept it) is among them.
    assert any(
        c.params.get("why") == "items already modified"
        and c.params["attempt"]["name"] == "modify_pending_order_address"
        for t in refusing
        for c in t.constraints
    )
    sizes = Counter(t.difficulty.constraints for t in synthetic_tasks)
    assert set(sizes) == {1, 2, 3}
    # Every vagueness level is used, with the vaguest strategies present.
    strategies = Counter(r.strategy for t in synthetic_tasks for r in t.fuzzy)
    for strategy in (
        "email",
        "name_zip",
        "order_id",
        "items",
        "line_options",
        "options",
        "changed_options",
        "method_id",
        "brand_last_four",
        "brand",
        "last_four",
        "source",
        "original",
        "default_address",
        "order_address",
    ):
        assert strategies[strategy] > 0, strategy


def test_tau2_world_tasks_resolve_uniquely(tau2: World) -> None:
    tasks = _sample(tau2, 2_000, 2, _mixed)
    for task in tasks:
        _check_task(tau2, task)
    families = {c.family for t in tasks for c in t.constraints}
    assert families == set(RETAIL_FAMILIES), set(RETAIL_FAMILIES) - families


def test_same_seed_same_bytes(synthetic: World) -> None:
    def encoded(seed: int) -> bytes:
        return b"\n".join(msgspec.json.encode(t) for t in _sample(synthetic, 300, seed, _mixed))

    tasks = _sample(synthetic, 50, 7, _mixed)
    assert [msgspec.json.decode(msgspec.json.encode(t), type=Task) for t in tasks] == tasks
    assert encoded(7) == encoded(7)
    assert encoded(7) != encoded(8)


def test_sampler_counts_attempts_and_never_needs_to_reject(synthetic: World) -> None:
    stats = SamplingStats()
    rng = random.Random(3)
    for i in range(300):
        sample_retail_task(synthetic.snapshot, rng, task_id=f"t{i}", world="test", knobs=_mixed(i), stats=stats)
    assert stats.tasks == 300
    assert stats.attempts == 300 + stats.unsatisfiable + stats.rejected
    assert stats.rejected == 0, stats.reasons


def test_knobs_shape_tasks(synthetic: World) -> None:
    only = RetailKnobs(constraints=1, refusal_rate=0.0, family_weights={"return_delivered_order_items": 1.0})
    tasks = _sample(synthetic, 50, 4, lambda _: only)
    assert {c.family for t in tasks for c in t.constraints} == {"return_delivered_order_items"}
    explicit = _sample(synthetic, 100, 5, lambda _: RetailKnobs(fuzziness=0, refusal_rate=0.0))
    orders = [r for t in explicit for r in t.fuzzy if r.ref.kind == "orders"]
    assert orders and all(r.strategy == "order_id" for r in orders)
    refusing = _sample(synthetic, 50, 6, lambda _: RetailKnobs(constraints=1, refusal_rate=1.0))
    assert all(t.constraints[0].intent is Intent.REFUSE and not t.constraints[0].writes for t in refusing)


def test_unsatisfiable_knobs_raise_after_max_attempts(synthetic: World) -> None:
    # The default address can be changed once per task, so three such requests never fit.
    knobs = RetailKnobs(
        constraints=3, min_constraints=3, refusal_rate=0.0, family_weights={"modify_user_address": 1.0}, max_attempts=5
    )
    stats = SamplingStats()
    with pytest.raises(SamplingError, match="no retail task found in 5 attempts"):
        sample_retail_task(synthetic.snapshot, random.Random(0), task_id="t", world="test", knobs=knobs, stats=stats)
    assert (stats.attempts, stats.unsatisfiable, stats.tasks) == (5, 5, 0)


def test_a_refusal_only_the_policy_makes(synthetic: World, synthetic_tasks: list[Task]) -> None:
    """Moving an item-modified order to a new address: the tool accepts it, the policy does not."""
    found = [
        (t, c)
        for t in synthetic_tasks
        for c in t.constraints
        if c.family == "refuse_modify_order_address" and c.params["why"] == "items already modified"
    ]
    assert found
    for task, constraint in found[:20]:
        attempt = Call(name=constraint.params["attempt"]["name"], arguments=constraint.params["attempt"]["arguments"])
        assert not TOOLSET.execute(synthetic.snapshot.fork(), attempt.name, attempt.arguments).error
        verdict = verify(
            compile_task(task, synthetic.snapshot, TOOLSET),
            plan_trajectory(msgspec.structs.replace(task, plan=(*task.plan, attempt)), synthetic.snapshot, TOOLSET),
        )
        failed = next(v for v in verdict.constraints if v.id == constraint.id)
        assert not failed.satisfied and not verdict.perfect
        assert any("called modify_pending_order_address" in r for r in failed.reasons)


@pytest.mark.parametrize(
    ("knobs", "message"),
    [
        (RetailKnobs(constraints=0), "constraints must be at least 1"),
        (RetailKnobs(min_constraints=3, constraints=2), "min_constraints"),
        (RetailKnobs(fuzziness=4), "fuzziness"),
        (RetailKnobs(refusal_rate=1.5), "refusal_rate"),
        (RetailKnobs(family_weights={"book_flight": 1.0}), "unknown retail families"),
        (RetailKnobs(family_weights={**DEFAULT_FAMILY_WEIGHTS, "cancel_pending_order": -1.0}), "finite and >= 0"),
        (RetailKnobs(family_weights={"cancel_pending_order": 1.0}, refusal_rate=0.5), "refusal family"),
        (RetailKnobs(family_weights={"refuse_cancel_order": 1.0}, refusal_rate=0.5), "no change or information"),
    ],
)
def test_bad_knobs_are_config_errors(synthetic: World, knobs: RetailKnobs, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        sample_retail_task(synthetic.snapshot, random.Random(0), task_id="t", world="test", knobs=knobs)


# --- mutations ----------------------------------------------------------------------------------

_REDUNDANT = (WriteOutcome.DUPLICATE, WriteOutcome.NO_EFFECT, WriteOutcome.UNDONE, WriteOutcome.UNREQUIRED)
_ADDRESS_FIELDS = ("address1", "address2", "city", "state", "country", "zip")
_FAR_AWAY = {
    "address1": "1 Mutation Lane",
    "address2": "",
    "city": "Nowhere",
    "state": "ZZ",
    "country": "USA",
    "zip": "00001",
}


@dataclass
class Mutant:
    """A changed plan and what the verifier must say about it."""

    plan: list[Call]
    expect: Callable[[Verdict], bool]
    closing: str | None = None


def _writes(task: Task) -> list[tuple[int, Call]]:
    return [(i, c) for i, c in enumerate(task.plan) if TOOLSET.is_write(c.name)]


def _owner(task: Task, call: Call) -> str:
    return next(c.id for c in task.constraints if call in c.writes)


def _unsatisfied(constraint_id: str) -> Callable[[Verdict], bool]:
    return lambda v: not v.perfect and not next(c for c in v.constraints if c.id == constraint_id).satisfied


def _targeted(task: Task) -> set[str]:
    return {t.key for c in task.constraints for t in c.targets}


def _other_variant(world: World, product_id: str, *avoid: str) -> str | None:
    for v in world.products[product_id].variants.values():
        if v.available and v.item_id not in avoid:
            return v.item_id
    return None


def _drop_write(world: World, task: Task, rng: random.Random) -> Mutant | None:
    writes = _writes(task)
    if not writes:
        return None
    i, call = rng.choice(writes)
    return Mutant([*task.plan[:i], *task.plan[i + 1 :]], _unsatisfied(_owner(task, call)))


def _wrong_item(world: World, task: Task, rng: random.Random) -> Mutant | None:
    for i, call in _writes(task):
        args = dict(call.arguments)
        order = world.orders.get(args.get("order_id", ""))
        if order is None or "item_ids" not in args:
            continue
        if "new_item_ids" in args:
            product = next(line.product_id for line in order.items if line.item_id == args["item_ids"][0])
            other = _other_variant(world, product, args["item_ids"][0], args["new_item_ids"][0])
            if other is None:
                continue
            args["new_item_ids"] = [other, *args["new_item_ids"][1:]]
        else:
            spare = [line.item_id for line in order.items if line.item_id not in args["item_ids"]]
            args["item_ids"] = [spare[0], *args["item_ids"][1:]] if spare else args["item_ids"][1:]
            if not args["item_ids"]:
                continue
        plan = list(task.plan)
        plan[i] = Call(name=call.name, arguments=args)
        return Mutant(plan, _unsatisfied(_owner(task, call)))
    return None


def _wrong_payment(world: World, task: Task, rng: random.Random) -> Mutant | None:
    user = world.users[task.user.key]
    for i, call in _writes(task):
        if "payment_method_id" not in call.arguments:
            continue
        others = [m for m in user.payment_methods if m != call.arguments["payment_method_id"]]
        if not others:
            continue
        plan = list(task.plan)
        plan[i] = Call(name=call.name, arguments={**call.arguments, "payment_method_id": rng.choice(others)})
        return Mutant(plan, _unsatisfied(_owner(task, call)))
    return None


def _wrong_record(world: World, task: Task, rng: random.Random) -> Mutant | None:
    """The same request made on another order of the user, one in the same status if there is one."""
    user = world.users[task.user.key]
    for i, call in _writes(task):
        target = world.orders.get(call.arguments.get("order_id", ""))
        if target is None:
            continue
        others = [world.orders[o] for o in user.orders if o in world.orders and o not in _targeted(task)]
        others.sort(key=lambda o: o.status != target.status)
        for other in others:
            args = {**call.arguments, "order_id": other.order_id}
            if "item_ids" in args:
                line = other.items[0]
                args["item_ids"] = [line.item_id]
                if "new_item_ids" in args:
                    new = _other_variant(world, line.product_id, line.item_id)
                    if new is None:
                        continue
                    args["new_item_ids"] = [new]
            if call.name == "return_delivered_order_items":
                args["payment_method_id"] = other.payment_history[0].payment_method_id
            plan = list(task.plan)
            plan[i] = Call(name=call.name, arguments=args)
            return Mutant(plan, _unsatisfied(_owner(task, call)))
    return None


def _extra_write(world: World, task: Task, rng: random.Random) -> Mutant | None:
    if task.user.key in _targeted(task):
        return None
    extra = Call(name="modify_user_address", arguments={"user_id": task.user.key, **_FAR_AWAY})

    def caught(v: Verdict) -> bool:
        return not v.perfect and bool(v.collateral) and v.writes[-1].outcome is WriteOutcome.UNREQUIRED

    return Mutant([*task.plan, extra], caught)


def _duplicate_write(world: World, task: Task, rng: random.Random) -> Mutant | None:
    writes = _writes(task)
    if not writes:
        return None
    i, call = rng.choice(writes)

    def caught(v: Verdict) -> bool:
        second = [w for w in v.writes if w.name == call.name and json.loads(w.arguments) == call.arguments][1]
        return second.outcome in (WriteOutcome.DUPLICATE, WriteOutcome.FAILED)

    return Mutant([*task.plan[: i + 1], call, *task.plan[i + 1 :]], caught)


def _write_then_undo(world: World, task: Task, rng: random.Random) -> Mutant | None:
    """Change an address and put it back: the canonical address write itself, or an unasked one."""
    for _, call in _writes(task):
        if call.name == "modify_pending_order_address":
            old = world.orders[call.arguments["order_id"]].address
        elif call.name == "modify_user_address":
            old = world.users[call.arguments["user_id"]].address
        else:
            continue
        undo = Call(name=call.name, arguments={**call.arguments, **{f: getattr(old, f) for f in _ADDRESS_FIELDS}})
        owner = _owner(task, call)

        def reverted(v: Verdict, owner: str = owner) -> bool:
            return _unsatisfied(owner)(v) and any(w.outcome is WriteOutcome.UNDONE for w in v.writes)

        return Mutant([*task.plan, undo], reverted)
    if task.user.key in _targeted(task):
        return None
    user = world.users[task.user.key]
    there = Call(name="modify_user_address", arguments={"user_id": user.user_id, **_FAR_AWAY})
    back = Call(
        name="modify_user_address",
        arguments={"user_id": user.user_id, **{f: getattr(user.address, f) for f in _ADDRESS_FIELDS}},
    )

    def undone(v: Verdict) -> bool:
        # The first write is undone; putting the old value back is itself a write nobody asked for.
        return not v.perfect and v.writes[-2].outcome is WriteOutcome.UNDONE and v.writes[-1].outcome in _REDUNDANT

    return Mutant([*task.plan, there, back], undone)


def _write_on_refusal(world: World, task: Task, rng: random.Random) -> Mutant | None:
    refusals = [c for c in task.constraints if c.intent is Intent.REFUSE]
    if not refusals:
        return None
    refusal = rng.choice(refusals)
    attempt = Call(name=refusal.params["attempt"]["name"], arguments=refusal.params["attempt"]["arguments"])
    return Mutant([*task.plan, attempt], _unsatisfied(refusal.id))


def _omit_answer(world: World, task: Task, rng: random.Random) -> Mutant | None:
    informs = [c for c in task.constraints if c.intent is Intent.INFORM]
    if not informs:
        return None
    dropped = rng.choice(informs)
    closing = "Here you go: " + "; ".join(f[0] for c in informs if c is not dropped for f in c.answers) + "."
    if any(s.lower() in closing.lower() for fact in dropped.answers for s in fact):
        return None  # another answer happens to spell this one too
    return Mutant(list(task.plan), _unsatisfied(dropped.id), closing=closing)


MUTATIONS: dict[str, Callable[[World, Task, random.Random], Mutant | None]] = {
    "drop a required write": _drop_write,
    "wrong item or variant": _wrong_item,
    "wrong payment method": _wrong_payment,
    "similar record, same user": _wrong_record,
    "extra unrelated write": _extra_write,
    "duplicate write": _duplicate_write,
    "write then its undo": _write_then_undo,
    "write on a refusal": _write_on_refusal,
    "omit an answer": _omit_answer,
}


def _trajectory(world: World, task: Task, mutant: Mutant) -> Trajectory:
    trajectory = plan_trajectory(msgspec.structs.replace(task, plan=tuple(mutant.plan)), world.snapshot, TOOLSET)
    if mutant.closing is None:
        return trajectory
    messages = list(trajectory.messages)
    messages[-2] = Message(role="assistant", content=mutant.closing)
    return msgspec.structs.replace(trajectory, messages=tuple(messages))


def test_mutations_are_caught(synthetic: World) -> None:
    rng = random.Random(9)
    # The default family mix (mostly changes), every vagueness level, 1-3 constraints, refusals in a third.
    tasks = _sample(synthetic, 600, 10, lambda i: RetailKnobs(constraints=3, fuzziness=i % 4, refusal_rate=0.3))
    table = {name: Counter[str]() for name in MUTATIONS}
    kept_perfect: Counter[str] = Counter()
    for task in tasks:
        expectation = compile_task(task, synthetic.snapshot, TOOLSET)
        canonical = verify(expectation, plan_trajectory(task, synthetic.snapshot, TOOLSET))
        assert canonical.perfect and canonical.score == 1.0, (task.task_id, canonical.reasons())
        for name, mutate in MUTATIONS.items():
            mutant = mutate(synthetic, task, rng)
            if mutant is None:
                table[name]["not applicable"] += 1
                continue
            verdict = verify(expectation, _trajectory(synthetic, task, mutant))
            table[name]["applicable"] += 1
            assert mutant.expect(verdict), (name, task.task_id, verdict.reasons())
            table[name]["detected"] += 1
            if verdict.perfect:
                kept_perfect[name] += 1
    # Shown with pytest -s.
    print(f"\nretail mutation detection over {len(tasks)} sampled tasks (synthetic world, seed 0)")  # noqa: T201
    print(f"{'mutation':28s} {'detected/applicable':>20s} {'not applicable':>15s}")  # noqa: T201
    for name, counts in table.items():
        cell = f"{counts['detected']}/{counts['applicable']}"
        print(f"{name:28s} {cell:>20s} {counts['not applicable']:>15d}")  # noqa: T201
    if kept_perfect:
        print(f"classified, yet the verdict stays perfect (a refused repeat is a failed write): {dict(kept_perfect)}")  # noqa: T201
    for name, counts in table.items():
        assert counts["applicable"] >= 50, name
    # Only a repeated write the tools refuse may leave the verdict perfect; every other mutation breaks it.
    assert set(kept_perfect) <= {"duplicate write"}
