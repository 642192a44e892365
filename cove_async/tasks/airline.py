"""CoVe task sampling for the airline domain.

:func:`sample_airline_task` draws one task from a world (synthetic or tau2's): a user, 1..n
requests of the families in :data:`AIRLINE_FAMILIES` (changes the policy allows, requests it
forbids, questions about the data), their fuzzy descriptions, the user simulator's instruction
and a canonical plan. Every task it returns has been proven solvable: its plan, played as a
conversation on a fresh fork, gets a perfect verdict from the verifier. Tasks whose proof fails
are dropped and another is drawn (counted in :func:`airline_sampling_stats`).

The user id is always given explicitly (the airline policy makes the agent ask for it); every
other identifier is described at the task's fuzziness. Families and the policy rules they
check are documented in :mod:`cove_async.tasks._airline_families`.
"""

from __future__ import annotations

import itertools
import random
import weakref
from collections import Counter

import msgspec

from cove_async.domains.airline import TOOLSET
from cove_async.domains.airline._records import Certificate, PaymentMethod
from cove_async.errors import ConfigError
from cove_async.sandbox import Snapshot
from cove_async.tasks._airline_families import BUILDERS, REFUSAL_FAMILIES, UNIT_SIZE, Draft, user_can
from cove_async.tasks._airline_fuzzy import describe_payment
from cove_async.tasks._airline_index import AirlineIndex, airline_index
from cove_async.tasks._model import Call, Difficulty, FuzzyRef, Intent, Ref, Task, UserInstruction
from cove_async.verify import TaskError, compile_task, plan_trajectory, verify

__all__ = ("AIRLINE_FAMILIES", "DEFAULT_WEIGHTS", "AirlineKnobs", "airline_sampling_stats", "sample_airline_task")

AIRLINE_FAMILIES = tuple(BUILDERS)
"""Every sampling unit, refusals (``refuse_*``) included."""

DEFAULT_WEIGHTS: dict[str, float] = {
    "book_reservation": 1.0,
    "cancel_reservation": 1.0,
    "change_flights": 1.0,
    "change_cabin": 0.7,
    "add_bags": 0.8,
    "update_passengers": 0.6,
    "compensation_cancelled_flight": 0.5,
    "compensation_delayed_flight": 0.3,
    "inform_flight_status": 0.5,
    "inform_reservation": 0.6,
    "inform_cheapest_fare": 0.4,
    "refuse_cancel_reservation": 1.0,
    "refuse_change_basic_economy": 1.0,
    "refuse_remove_bags": 0.7,
    "refuse_add_insurance": 0.7,
    "refuse_change_passenger_count": 0.7,
    "refuse_compensation": 0.8,
}
"""Relative frequency of each family (refusals among refusals, the rest among the rest)."""

_MAX_CONSTRAINTS = 6


class AirlineKnobs(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How airline tasks are sampled.

    Attributes:
        constraints: how many constraints each task has (1..6); several requests of one user, each
            on a different reservation.
        fuzziness: how vaguely records are described: 0 gives ids, 1 exact facts (route and date,
            departure time, card brand and last four), 2 fewer facts in cities and hours, 3 the
            vaguest unique description (a destination, a part of the day, "my gift card"). A
            description falls back to a plainer level when nothing vaguer is unique.
        refusal_rate: the share of tasks with one request the policy forbids (0..1).
        weights: family name to relative weight, overriding :data:`DEFAULT_WEIGHTS`; 0 disables.
        max_attempts: drafts tried per task before giving up.
    """

    constraints: int = 2
    fuzziness: int = 2
    refusal_rate: float = 0.25
    weights: dict[str, float] = {}
    max_attempts: int = 500

    def validate(self) -> None:
        """Raise :class:`ConfigError` for knobs that cannot work."""
        if not 1 <= self.constraints <= _MAX_CONSTRAINTS:
            raise ConfigError(f"constraints must be between 1 and {_MAX_CONSTRAINTS}, got {self.constraints}")
        if not 0 <= self.fuzziness <= 3:
            raise ConfigError(f"fuzziness must be between 0 and 3, got {self.fuzziness}")
        if not 0.0 <= self.refusal_rate <= 1.0:
            raise ConfigError(f"refusal_rate must be between 0 and 1, got {self.refusal_rate}")
        unknown = sorted(set(self.weights) - set(AIRLINE_FAMILIES))
        if unknown:
            raise ConfigError(f"unknown airline families {unknown}; known: {', '.join(AIRLINE_FAMILIES)}")
        if any(w < 0 for w in self.weights.values()):
            raise ConfigError("family weights must not be negative")
        if self.max_attempts < 1:
            raise ConfigError(f"max_attempts must be at least 1, got {self.max_attempts}")
        weights = self.family_weights()
        if self.refusal_rate > 0 and not any(weights[f] > 0 for f in REFUSAL_FAMILIES):
            raise ConfigError("refusal_rate > 0 but every refusal family has weight 0")
        needs_others = self.refusal_rate < 1 or self.constraints > 1
        if needs_others and not any(w > 0 for f, w in weights.items() if f not in REFUSAL_FAMILIES):
            raise ConfigError("every non-refusal family has weight 0")

    def family_weights(self) -> dict[str, float]:
        """Every family's weight, defaults overridden by :attr:`weights`."""
        return {f: self.weights.get(f, DEFAULT_WEIGHTS[f]) for f in AIRLINE_FAMILIES}


class _Stats:
    def __init__(self) -> None:
        self.tasks = 0
        self.rejected: Counter[str] = Counter()


_STATS: weakref.WeakKeyDictionary[Snapshot, _Stats] = weakref.WeakKeyDictionary()
_USERS_FOR: weakref.WeakKeyDictionary[Snapshot, dict[str, list[str]]] = weakref.WeakKeyDictionary()


def airline_sampling_stats(snapshot: Snapshot) -> dict[str, int]:
    """Tasks sampled from ``snapshot`` in this process, and drafts rejected, by reason."""
    stats = _STATS.setdefault(snapshot, _Stats())
    return {"tasks": stats.tasks, **{f"rejected_{k}": v for k, v in sorted(stats.rejected.items())}}


_Pool = tuple[list[str], list[float]]
"""Families with a positive weight, and their cumulative weights."""
_POOLS: dict[bytes, tuple[_Pool, _Pool]] = {}


def _pools(knobs: AirlineKnobs) -> tuple[_Pool, _Pool]:
    """The family pools (refusals, the rest) of ``knobs``, validated once per distinct value."""
    key = msgspec.msgpack.encode(knobs)
    found = _POOLS.get(key)
    if found is None:
        knobs.validate()
        weights = knobs.family_weights()

        def pool(refusal: bool) -> _Pool:
            names = [f for f in AIRLINE_FAMILIES if (f in REFUSAL_FAMILIES) == refusal and weights[f] > 0]
            return names, list(itertools.accumulate(weights[f] for f in names))

        found = _POOLS[key] = (pool(True), pool(False))
    return found


def _users_for(index: AirlineIndex, family: str) -> list[str]:
    table = _USERS_FOR.setdefault(index.snapshot, {})
    users = table.get(family)
    if users is None:
        users = table[family] = [uid for uid in index.user_ids if user_can(index, family, uid)]
    return users


def sample_airline_task(
    snapshot: Snapshot, rng: random.Random, *, task_id: str, world: str, knobs: AirlineKnobs
) -> Task:
    """One airline task, proven solvable.

    Args:
        snapshot: the world to sample from (it is indexed once and cached).
        rng: the only source of randomness; the same state gives the same task.
        task_id: the task's id.
        world: the name of the world, recorded in the task.
        knobs: how to sample.

    Returns:
        A task whose canonical plan the verifier grades perfect.

    Raises:
        ConfigError: bad knobs, or no task could be drawn from this world in ``max_attempts``.
    """
    refusals, others = _pools(knobs)
    index = airline_index(snapshot)
    stats = _STATS.setdefault(snapshot, _Stats())
    for _ in range(knobs.max_attempts):
        refuse = rng.random() < knobs.refusal_rate
        pool = refusals if refuse else others
        first = rng.choices(pool[0], cum_weights=pool[1])[0]
        if UNIT_SIZE[first] > knobs.constraints:
            stats.rejected["too_big"] += 1
            continue
        users = _users_for(index, first)
        if not users:
            stats.rejected["no_user"] += 1
            continue
        user = index.users[rng.choice(users)]
        draft = Draft(index=index, user=user, level=knobs.fuzziness, rng=rng, budget=knobs.constraints)
        if not _fill(draft, first, others):
            stats.rejected["unsatisfiable"] += 1
            continue
        task = _assemble(draft, task_id, world, knobs)
        try:
            expectation = compile_task(task, snapshot, TOOLSET)
        except TaskError:
            stats.rejected["compile"] += 1
            continue
        if not verify(expectation, plan_trajectory(task, snapshot, TOOLSET)).perfect:
            stats.rejected["not_perfect"] += 1
            continue
        stats.tasks += 1
        return task
    raise ConfigError(f"no airline task could be sampled in {knobs.max_attempts} attempts with {knobs}")


def _fill(draft: Draft, first: str, others: _Pool) -> bool:
    """Add the first unit, then units of the other families until the budget is spent."""
    pieces = BUILDERS[first](draft)
    if pieces is None:
        return False
    for piece in pieces:
        draft.add(piece)
    tries = 0
    while draft.budget > 0 and tries < 12:
        tries += 1
        family = draft.rng.choices(others[0], cum_weights=others[1])[0]
        if UNIT_SIZE[family] > draft.budget:
            continue
        pieces = BUILDERS[family](draft)
        if pieces is None:
            continue
        for piece in pieces:
            draft.add(piece)
    return draft.budget == 0


# --- assembly ---------------------------------------------------------------------------------


def _assemble(draft: Draft, task_id: str, world: str, knobs: AirlineKnobs) -> Task:
    user = draft.user
    constraints = tuple(msgspec.structs.replace(p.constraint, id=f"c{i}") for i, p in enumerate(draft.pieces))
    payment_refs = _describe_payments(draft)
    user_ref = FuzzyRef(
        ref=Ref(kind="users", key=user.user_id),
        strategy="user_id",
        text=user.user_id,
        attributes={"user_id": user.user_id},
    )
    fuzzy = [user_ref] + [ref for p in draft.pieces for ref in p.fuzzy] + list(payment_refs.values())
    return Task(
        task_id=task_id,
        domain="airline",
        world=world,
        user=Ref(kind="users", key=user.user_id),
        constraints=constraints,
        fuzzy=tuple(fuzzy),
        instruction=_instruction(draft, {pid: ref.text for pid, ref in payment_refs.items()}),
        plan=tuple(_plan(draft)),
        difficulty=Difficulty(
            constraints=len(constraints),
            fuzziness=knobs.fuzziness,
            refusals=sum(c.intent is Intent.REFUSE for c in constraints),
        ),
    )


def _describe_payments(draft: Draft) -> dict[str, FuzzyRef]:
    """One description per payment method the task names, unique at every point of the task."""
    methods: list[PaymentMethod] = list(draft.user.payment_methods.values())
    if draft.certificate is not None:
        # The certificate the task sends is one more the user may hold by the end.
        methods.append(Certificate(id="certificate (sent during the task)", amount=draft.certificate))
    paying = [pid for p in draft.pieces for pid in p.payments]
    stable = len({pid for pid in paying if pid in draft.gift_cards}) <= 1
    out: dict[str, FuzzyRef] = {}
    for pid in paying:
        if pid not in out:
            out[pid] = describe_payment(methods, pid, draft.level, draft.rng, draft.user.user_id, amounts_stable=stable)
    return out


def _plan(draft: Draft) -> list[Call]:
    """The canonical agent: look the user up, find the reservations, then each request in turn."""
    uid = draft.user.user_id
    calls = [Call(name="get_user_details", arguments={"user_id": uid})]
    wanted: list[str] = []
    for piece in draft.pieces:
        wanted += [rid for rid in piece.locate if rid not in wanted]
    explicit = all(ref.difficulty == 0 for p in draft.pieces for ref in p.fuzzy if ref.ref.kind == "reservations")
    if explicit:
        order = wanted
    else:
        # Not knowing the ids, the agent opens the profile's reservations in order until it has them all.
        order = []
        missing = set(wanted)
        for rid in draft.index.user_reservations[uid]:
            if not missing:
                break
            order.append(rid)
            missing.discard(rid)
    calls += [Call(name="get_reservation_details", arguments={"reservation_id": rid}) for rid in order]
    for piece in draft.pieces:
        calls += piece.reads
        calls += piece.constraint.writes
    return calls


# --- the user's instruction -------------------------------------------------------------------

_OPENERS = (
    "You are calling the airline because you want to {}.",
    "You want to {}.",
    "You are contacting customer service to {}.",
)
_NEXT = ("After that, you also want to {}.", "Once that is handled, you want to {}.", "You also want to {}.")


def _fill_payments(text: str, payments: dict[str, str]) -> str:
    for pid, words in payments.items():
        text = text.replace(f"<<{pid}>>", words)
    return text


def _instruction(draft: Draft, payments: dict[str, str]) -> UserInstruction:
    rng, user, level = draft.rng, draft.user, draft.level
    pieces = draft.pieces
    reason = [rng.choice(_OPENERS).format(pieces[0].ask)]
    reason += [rng.choice(_NEXT).format(p.ask) for p in pieces[1:]]

    known = [f"You are {user.name.first_name} {user.name.last_name}.", f"Your user id is {user.user_id}."]
    for piece in pieces:
        known += piece.know

    unknown: list[str] = []
    if level > 0 and any(p.locate for p in pieces):
        unknown.append("You do not remember your reservation numbers.")
    if level > 0 and any(p.payments for p in pieces):
        unknown.append("You do not know the ids of your payment methods.")
    for piece in pieces:
        unknown += [u for u in piece.unknown if u not in unknown]
    if not unknown:
        unknown.append("Nothing in particular: you know the details you need.")

    steps: list[str] = []
    if len(pieces) > 1:
        steps.append("Bring up one request at a time, in the order given above, and move on only when it is handled.")
    if level >= 2:
        steps.append("Do not volunteer details: answer what the agent asks, one thing at a time.")
    steps.append(
        rng.choice(
            (
                "When the agent sums up an action and asks you to confirm, say yes if it matches what you want.",
                "Before any change the agent should list what it will do; confirm with a clear yes when it is right.",
            )
        )
    )
    for piece in pieces:
        steps += [n for n in piece.notes if n not in steps]
    if any(p.constraint.intent is Intent.REFUSE for p in pieces):
        steps.append("If the agent tells you something is not allowed, do not ask for a transfer to a human agent.")
    steps.append("When everything is handled, end the conversation with ###STOP###.")

    def text(lines: list[str], sep: str) -> str:
        return _fill_payments(sep.join(lines), payments)

    return UserInstruction(
        reason_for_call=text(reason, " "),
        known_info=text(known, "\n"),
        unknown_info=text(unknown, "\n"),
        task_instructions=text(steps, "\n"),
    )
