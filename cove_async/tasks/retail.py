"""CoVe task sampling for the retail domain.

:func:`sample_retail_task` picks one user of a retail world (synthetic or tau2's), combines 1..n
requests about that user's records, describes every record the way a customer would (fuzzily,
yet naming exactly one record), writes the user simulator's instructions, and proves the task
solvable: the canonical plan (authenticate, read, write) is turned into a conversation and the
verifier must grade it perfect on a fresh fork. Tasks that fail the proof are dropped and
resampled.

Families (built in ``_retail_families`` and ``_retail_refusals``):

* changes: ``cancel_pending_order``, ``modify_pending_order_items``,
  ``modify_pending_order_address``, ``modify_pending_order_payment``, ``modify_user_address``,
  ``return_delivered_order_items``, ``exchange_delivered_order_items``;
* information: ``inform_order_status``, ``inform_tracking_id``, ``inform_order_total``,
  ``inform_item_price``, ``inform_cancel_refund``, ``inform_return_refund``,
  ``inform_gift_card_balance``, ``inform_order_count``;
* refusals (the policy forbids the request): ``refuse_cancel_order``,
  ``refuse_modify_order_items``, ``refuse_modify_order_address``,
  ``refuse_modify_order_payment``, ``refuse_return_items``, ``refuse_exchange_items``.

Sampling is deterministic: the only randomness is the ``rng`` passed in, and every collection is
walked in insertion or sorted order, so the same seed and knobs give the same task bytes.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field

import msgspec

from cove_async.domains.retail import TOOLSET
from cove_async.domains.retail._records import User
from cove_async.errors import ConfigError, CoveError
from cove_async.sandbox import Snapshot
from cove_async.tasks._model import Call, Constraint, Difficulty, FuzzyRef, Intent, Ref, Task, UserInstruction
from cove_async.tasks._retail_draft import Context, Draft, reference_reads
from cove_async.tasks._retail_families import FAMILIES
from cove_async.tasks._retail_fuzzy import describe_user
from cove_async.tasks._retail_index import RetailIndex, retail_index
from cove_async.verify import TaskError, compile_task, plan_trajectory, verify

__all__ = (
    "DEFAULT_FAMILY_WEIGHTS",
    "RETAIL_FAMILIES",
    "RetailKnobs",
    "SamplingError",
    "SamplingStats",
    "sample_retail_task",
)

RETAIL_FAMILIES: dict[str, Intent] = {name: intent for name, (intent, _) in FAMILIES.items()}
"""Every retail constraint family and its intent."""

DEFAULT_FAMILY_WEIGHTS: dict[str, float] = {
    # Roughly tau2's own mix of retail requests (returns, item changes and exchanges lead).
    "cancel_pending_order": 1.0,
    "modify_pending_order_items": 1.2,
    "modify_pending_order_address": 0.8,
    "modify_pending_order_payment": 0.5,
    "modify_user_address": 0.5,
    "return_delivered_order_items": 1.2,
    "exchange_delivered_order_items": 1.2,
    "inform_order_status": 0.3,
    "inform_tracking_id": 0.3,
    "inform_order_total": 0.3,
    "inform_item_price": 0.3,
    "inform_cancel_refund": 0.2,
    "inform_return_refund": 0.2,
    "inform_gift_card_balance": 0.3,
    "inform_order_count": 0.15,
    "refuse_cancel_order": 1.0,
    "refuse_modify_order_items": 1.0,
    "refuse_modify_order_address": 0.7,
    "refuse_modify_order_payment": 0.7,
    "refuse_return_items": 1.0,
    "refuse_exchange_items": 1.0,
}
"""The weights a family is drawn with unless :attr:`RetailKnobs.family_weights` says otherwise."""


class RetailKnobs(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How retail tasks are sampled.

    Attributes:
        constraints: most constraints per task (a companion question counts as one).
        min_constraints: fewest constraints per task; each task draws its count uniformly
            between the two.
        fuzziness: how vaguely records are described: 0 gives order ids and payment method ids,
            1 full item descriptions, 2 some options and "your Visa card", 3 product names alone,
            "your gift card", "the method you paid with", "the address your other order went to".
            A description falls back to a more explicit one when nothing vaguer is unique.
        refusal_rate: the share of tasks that carry one request the policy forbids.
        family_weights: the weight of every family that may be drawn; a family not named is
            never drawn. Refusal families fill the refusal slot, the others every other slot.
        max_swaps: most item pairs in one modification or exchange.
        max_attempts: how many users to try before giving up on a task.
    """

    constraints: int = 2
    min_constraints: int = 1
    fuzziness: int = 2
    refusal_rate: float = 0.2
    family_weights: dict[str, float] = msgspec.field(default_factory=lambda: dict(DEFAULT_FAMILY_WEIGHTS))
    max_swaps: int = 2
    max_attempts: int = 200


class SamplingError(CoveError):
    """No task could be sampled within ``max_attempts`` (the world lacks what the knobs ask for)."""


@dataclass(slots=True)
class SamplingStats:
    """Counters a caller may pass in to see how sampling went.

    Attributes:
        tasks: tasks returned.
        attempts: users tried.
        unsatisfiable: attempts where the user's records could not fill the constraint slots.
        rejected: composed tasks whose solvability proof failed (each one is a sampler bug or a
            data quirk the preconditions missed; expected 0).
        reasons: the proof failures, one line each (kept to the first 20).
    """

    tasks: int = 0
    attempts: int = 0
    unsatisfiable: int = 0
    rejected: int = 0
    reasons: list[str] = field(default_factory=list)


def _check(knobs: RetailKnobs) -> None:
    if knobs.constraints < 1:
        raise ConfigError(f"constraints must be at least 1, got {knobs.constraints}")
    if not 1 <= knobs.min_constraints <= knobs.constraints:
        raise ConfigError(
            f"min_constraints must be between 1 and constraints ({knobs.constraints}), got {knobs.min_constraints}"
        )
    if knobs.fuzziness not in (0, 1, 2, 3):
        raise ConfigError(f"fuzziness must be 0, 1, 2 or 3, got {knobs.fuzziness}")
    if not 0.0 <= knobs.refusal_rate <= 1.0:
        raise ConfigError(f"refusal_rate must be between 0 and 1, got {knobs.refusal_rate}")
    if knobs.max_swaps < 1 or knobs.max_attempts < 1:
        raise ConfigError(f"max_swaps and max_attempts must be at least 1, got {knobs.max_swaps}, {knobs.max_attempts}")
    unknown = sorted(set(knobs.family_weights) - set(FAMILIES))
    if unknown:
        raise ConfigError(f"unknown retail families in family_weights: {unknown}; known: {sorted(FAMILIES)}")
    bad = sorted(k for k, w in knobs.family_weights.items() if not (math.isfinite(w) and w >= 0))
    if bad:
        raise ConfigError(f"family weights must be finite and >= 0: {bad}")
    refusals = sum(w for k, w in knobs.family_weights.items() if RETAIL_FAMILIES[k] is Intent.REFUSE)
    others = sum(w for k, w in knobs.family_weights.items() if RETAIL_FAMILIES[k] is not Intent.REFUSE)
    if knobs.refusal_rate > 0 and refusals <= 0:
        raise ConfigError("refusal_rate > 0 needs a refusal family with a positive weight")
    if others <= 0 and (knobs.refusal_rate < 1 or knobs.constraints > 1):
        raise ConfigError("family_weights gives no change or information family a positive weight")


def sample_retail_task(
    snapshot: Snapshot,
    rng: random.Random,
    *,
    task_id: str,
    world: str,
    knobs: RetailKnobs,
    stats: SamplingStats | None = None,
) -> Task:
    """Sample one retail task, proven solvable.

    Args:
        snapshot: a retail world (its index is built on first use and cached).
        rng: the only source of randomness.
        task_id: the id the task gets.
        world: a label of the world for the task (``"synthetic:seed=0"``, ``"tau2"``).
        knobs: counts, vagueness, refusal rate and family weights.
        stats: counters to update, if given.

    Raises:
        ConfigError: the knobs are invalid.
        SamplingError: no task was found in ``knobs.max_attempts`` tries.
    """
    _check(knobs)
    stats = stats if stats is not None else SamplingStats()
    index = retail_index(snapshot)
    if not index.shoppers:
        raise SamplingError("the world has no user with an order")
    pools = _pools(knobs.family_weights)
    for _ in range(knobs.max_attempts):
        stats.attempts += 1
        task = _compose(index, rng, task_id, world, knobs, pools)
        if task is None:
            stats.unsatisfiable += 1
            continue
        failure = _prove(task, snapshot)
        if failure is not None:
            stats.rejected += 1
            if len(stats.reasons) < 20:
                stats.reasons.append(f"{task.task_id}: {failure}")
            continue
        stats.tasks += 1
        return task
    raise SamplingError(
        f"no retail task found in {knobs.max_attempts} attempts with {knobs!r}; "
        "lower constraints, or give weight to families this world supports"
    )


# --- composing ----------------------------------------------------------------------------------


Pool = list[tuple[str, float]]
"""Families with a positive weight, in registry order."""


def _pools(weights: dict[str, float]) -> tuple[Pool, Pool]:
    """The refusal families and all the others, each with its weight."""
    refusals: Pool = []
    others: Pool = []
    for name, (intent, _build) in FAMILIES.items():
        weight = weights.get(name, 0.0)
        if weight > 0:
            (refusals if intent is Intent.REFUSE else others).append((name, weight))
    return refusals, others


def _draw(rng: random.Random, pool: Pool) -> Iterator[str]:
    """Family names in the order to try them: weighted sampling without replacement, drawn lazily
    because the first family usually fits."""
    left = list(pool)
    while left:
        roll = rng.random() * sum(w for _, w in left)
        for i, (name, weight) in enumerate(left):
            roll -= weight
            if roll < 0 or i == len(left) - 1:
                del left[i]
                yield name
                break


def _fill(ctx: Context, pool: Pool) -> Draft | None:
    for name in _draw(ctx.rng, pool):
        draft = FAMILIES[name][1](ctx)
        if draft is None:
            continue
        reads = set(draft.reads)
        for ref in draft.fuzzy:
            reads |= reference_reads(ctx.index, ctx.user, ref)
        if not ctx.fits(draft.writes, reads):
            continue
        draft.reads = reads
        ctx.accept(draft)
        return draft
    return None


def _compose(
    index: RetailIndex, rng: random.Random, task_id: str, world: str, knobs: RetailKnobs, pools: tuple[Pool, Pool]
) -> Task | None:
    user = index.users[rng.choice(index.shoppers)]
    user_ref = describe_user(index, user, knobs.fuzziness, rng)
    if user_ref is None:
        return None
    wanted = rng.randint(knobs.min_constraints, knobs.constraints)
    refuse = rng.random() < knobs.refusal_rate
    ctx = Context(index=index, rng=rng, level=knobs.fuzziness, user=user, max_swaps=knobs.max_swaps)
    drafts: list[Draft] = []
    refusal: Draft | None = None
    if refuse:
        refusal = _fill(ctx, pools[0])
        if refusal is None:
            return None
    count = 1 if refusal else 0
    while count < wanted:
        ctx.room = wanted - count
        draft = _fill(ctx, pools[1])
        if draft is None:
            return None
        drafts.append(draft)
        count += len(draft.specs)
    if refusal is not None:
        drafts.insert(rng.randint(0, len(drafts)), refusal)
    return _task(ctx, user_ref, drafts, task_id, world, knobs)


def _task(ctx: Context, user_ref: FuzzyRef, drafts: list[Draft], task_id: str, world: str, knobs: RetailKnobs) -> Task:
    constraints: list[Constraint] = []
    for draft in drafts:
        for spec in draft.specs:
            constraints.append(
                Constraint(
                    id=f"c{len(constraints)}",
                    family=spec.family,
                    intent=spec.intent,
                    targets=spec.targets,
                    params=spec.params,
                    writes=spec.writes,
                    answers=spec.answers,
                    forbidden_calls=spec.forbidden_calls,
                    rule=spec.rule,
                )
            )
    fuzzy = [user_ref]
    for draft in drafts:
        fuzzy += [ref for ref in draft.fuzzy if ref not in fuzzy]
    return Task(
        task_id=task_id,
        domain="retail",
        world=world,
        user=Ref(kind="users", key=ctx.user.user_id),
        constraints=tuple(constraints),
        fuzzy=tuple(fuzzy),
        instruction=_instruction(ctx, user_ref, drafts),
        plan=_plan(ctx, user_ref, drafts),
        difficulty=Difficulty(
            constraints=len(constraints),
            fuzziness=knobs.fuzziness,
            refusals=sum(c.intent is Intent.REFUSE for c in constraints),
        ),
    )


# --- the canonical plan -------------------------------------------------------------------------


def _plan(ctx: Context, user_ref: FuzzyRef, drafts: list[Draft]) -> tuple[Call, ...]:
    """What a careful agent does: authenticate, look the user up, find each order (reading the
    user's orders in profile order until the described one, or just the one whose id it was
    told), look up the products whose variants it must pick, then make the writes."""
    user = ctx.user
    if user_ref.strategy == "email":
        plan = [Call(name="find_user_id_by_email", arguments={"email": user.email})]
    else:
        plan = [
            Call(
                name="find_user_id_by_name_zip",
                arguments={
                    "first_name": user.name.first_name,
                    "last_name": user.name.last_name,
                    "zip": user.address.zip,
                },
            )
        ]
    plan.append(Call(name="get_user_details", arguments={"user_id": user.user_id}))
    seen_orders: set[str] = set()
    seen_products: set[str] = set()
    profile = [o.order_id for o in ctx.index.orders_of[user.user_id]]
    for draft in drafts:
        for ref in draft.orders:
            key = ref.ref.key
            reading = [key] if ref.strategy == "order_id" else profile[: profile.index(key) + 1]
            for order_id in reading:
                if order_id not in seen_orders:
                    seen_orders.add(order_id)
                    plan.append(Call(name="get_order_details", arguments={"order_id": order_id}))
        for product_id in draft.products:
            if product_id not in seen_products:
                seen_products.add(product_id)
                plan.append(Call(name="get_product_details", arguments={"product_id": product_id}))
        for spec in draft.specs:
            plan += spec.writes
    return tuple(plan)


def _prove(task: Task, snapshot: Snapshot) -> str | None:
    """Why the task is not provably solvable, or None when its plan is graded perfect."""
    try:
        expectation = compile_task(task, snapshot, TOOLSET)
    except TaskError as exc:
        return str(exc)
    trajectory = plan_trajectory(task, snapshot, TOOLSET)
    results = [m.content or "" for m in trajectory.messages if m.role == "tool"]
    if results[0] != task.user.key:
        return f"authentication found {results[0]!r}"
    for call, result in zip(task.plan, results, strict=True):
        if result.startswith("Error:"):
            return f"{call.name}({json.dumps(call.arguments)}) -> {result}"
    verdict = verify(expectation, trajectory)
    if not verdict.perfect:
        return "; ".join(verdict.reasons())
    return None


# --- what the user is told ----------------------------------------------------------------------

_OPENINGS = (
    "You are contacting the online store's customer support.",
    "You are chatting with the store's support agent.",
    "You are reaching out to customer service about your account.",
)
_ORDER_OF_REQUESTS = (
    "Bring up your requests one at a time, in this order, and only move on once the current one is settled:",
    "Raise these requests one by one, in this order; start the next one only when the previous one is done:",
)
_CONFIRM = (
    "Before any change the agent should list what it will do and ask for your confirmation: say yes only if the "
    "details match what you want.",
    "When the agent describes a change and asks you to confirm, check it against what you want and confirm only if "
    "it matches.",
)
_HONEST = (
    "Do not make up anything you were not told here; if asked for something you do not know, say you do not know it.",
    "Only share what is written here; if the agent asks for something else, say you do not have it.",
)
_STOP = (
    "When every request has been handled or declined, end the conversation with ###STOP###.",
    "Once all your requests are dealt with, one way or another, finish by sending ###STOP###.",
)


def _identity(user: User, user_ref: FuzzyRef) -> str:
    name = f"{user.name.first_name} {user.name.last_name}"
    if user_ref.strategy == "email":
        return f"You are {name}; your email address is {user.email}."
    return f"You are {name} and your zip code is {user.address.zip}."


def _instruction(ctx: Context, user_ref: FuzzyRef, drafts: list[Draft]) -> UserInstruction:
    rng = ctx.rng
    known = [_identity(ctx.user, user_ref)]
    for draft in drafts:
        known += [k for k in draft.known if k not in known]
    unknown = ["You do not know your user id or any item ids"]
    if user_ref.strategy == "name_zip":
        unknown.append("you do not remember which email address you used")
    if not any(ref.strategy == "order_id" for draft in drafts for ref in draft.orders):
        unknown.append("you do not know your order ids")
    if any(spec.intent is Intent.INFORM for draft in drafts for spec in draft.specs):
        unknown.append("you do not know the information you are asking about")
    if len(drafts) > 1:
        requests = [rng.choice(_ORDER_OF_REQUESTS)]
        requests += [" ".join([f"{i + 1}. {d.ask}", *d.behaviour]) for i, d in enumerate(drafts)]
    else:
        requests = list(drafts[0].behaviour)
    lines = [
        "Identify yourself with the information you know when the agent asks.",
        *requests,
        rng.choice(_CONFIRM),
        rng.choice(_HONEST),
        rng.choice(_STOP),
    ]
    first = drafts[0].ask
    reason = f"{rng.choice(_OPENINGS)} {first}"
    if len(drafts) > 1:
        reason += " You have other requests too, but you start with this one."
    return UserInstruction(
        reason_for_call=reason,
        known_info=" ".join(known),
        unknown_info="; ".join(unknown) + ".",
        task_instructions="\n".join(lines),
    )
