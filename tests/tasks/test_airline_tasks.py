"""Airline task sampling: unique descriptions, determinism, coverage, solvability and mutations.

The resolver here is written apart from the sampler: it reads every record of the world as plain
data and filters them by a description's attributes with its own code, so a bug in the
sampler's uniqueness checks cannot hide behind the same bug here.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable
from typing import Any

import msgspec
import pytest

from cove_async.chat import Trajectory
from cove_async.domains import get_domain
from cove_async.domains.airline import KINDS, TOOLSET, AirlineWorldSize, generate_airline_world
from cove_async.errors import ConfigError
from cove_async.sandbox import Snapshot
from cove_async.tasks import Call, Constraint, FuzzyRef, Intent, Task
from cove_async.tasks.airline import (
    AIRLINE_FAMILIES,
    AirlineKnobs,
    airline_sampling_stats,
    sample_airline_task,
)
from cove_async.verify import Verdict, WriteOutcome, compile_task, plan_trajectory, verify

WRITE_TOOLS = {name for name in TOOLSET.names if TOOLSET.is_write(name)}


# --- worlds and samples -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world() -> Snapshot:
    return generate_airline_world(AirlineWorldSize(), 0)


@pytest.fixture(scope="module")
def tau2_world(tau2_dir: Any) -> Snapshot:
    return get_domain("airline").load_tau2(tau2_dir)


def _knobs(i: int, refusal_rate: float = 0.3) -> AirlineKnobs:
    return AirlineKnobs(constraints=1 + i % 3, fuzziness=(i // 3) % 4, refusal_rate=refusal_rate)


def _sample(snapshot: Snapshot, n: int, seed: int, refusal_rate: float = 0.3) -> list[Task]:
    rng = random.Random(seed)
    return [
        sample_airline_task(snapshot, rng, task_id=f"airline-{i:05d}", world="test", knobs=_knobs(i, refusal_rate))
        for i in range(n)
    ]


@pytest.fixture(scope="module")
def ten_thousand(world: Snapshot) -> list[Task]:
    return _sample(world, 10_000, seed=7)


# --- an independent resolver --------------------------------------------------------------------


class Records:
    """Every record of a world as plain data (JSON-like dicts)."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.data: dict[str, dict[str, Any]] = {}
        for kind in KINDS:
            self.data[kind.name] = {key: msgspec.to_builtins(snapshot.load(kind, key)) for key in snapshot.keys(kind)}

    def user_reservations(self, uid: str) -> list[dict[str, Any]]:
        listed = set(self.data["users"][uid]["reservations"])
        return [r for rid, r in self.data["reservations"].items() if r["user_id"] == uid or rid in listed]


def _day_part(time: str) -> str:
    hour = int(time[:2])
    return "night" if hour < 5 else "morning" if hour < 12 else "afternoon" if hour < 17 else "evening"


def _offered(records: Records, attrs: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        f
        for f in records.data["flights"].values()
        if f["origin"] == attrs["origin"]
        and f["destination"] == attrs["destination"]
        and f["dates"].get(attrs["date"], {}).get("status") == "available"
    ]


def _flight_fits(f: dict[str, Any], attrs: dict[str, Any], offered: list[dict[str, Any]]) -> bool:
    departs = f["scheduled_departure_time_est"]
    checks: dict[str, Callable[[Any], bool]] = {
        "origin": lambda v: f["origin"] == v,
        "destination": lambda v: f["destination"] == v,
        "date": lambda v: True,
        "flight_number": lambda v: f["flight_number"] == v,
        "departure": lambda v: departs[:5] == v,
        "departure_hour": lambda v: int(departs[:2]) == v,
        "part_of_day": lambda v: _day_part(departs) == v,
        "cheapest": lambda cabin: all(
            f["dates"][attrs["date"]]["prices"][cabin] < g["dates"][attrs["date"]]["prices"][cabin]
            for g in offered
            if g["flight_number"] != f["flight_number"]
        ),
    }
    return all(checks[k](v) for k, v in attrs.items())


def _reservation_fits(r: dict[str, Any], attrs: dict[str, Any]) -> bool:
    checks: dict[str, Callable[[Any], bool]] = {
        "reservation_id": lambda v: r["reservation_id"] == v,
        "origin": lambda v: r["origin"] == v,
        "destination": lambda v: r["destination"] == v,
        "date": lambda v: bool(r["flights"]) and r["flights"][0]["date"] == v,
        "passenger": lambda v: any(f"{p['first_name']} {p['last_name']}" == v for p in r["passengers"]),
    }
    return all(checks[k](v) for k, v in attrs.items())


def _method_fits(m: dict[str, Any], attrs: dict[str, Any]) -> bool:
    checks: dict[str, Callable[[Any], bool]] = {
        "payment_id": lambda v: m.get("id") == v,
        "source": lambda v: m["source"] == v,
        "brand": lambda v: m.get("brand") == v,
        "last_four": lambda v: m.get("last_four") == v,
        "amount": lambda v: m["source"] != "credit_card" and m.get("amount") == v,
    }
    return all(checks[k](v) for k, v in attrs.items())


def _person_fits(p: dict[str, Any], attrs: dict[str, Any]) -> bool:
    return all(str(p[k]).lower() == str(v).lower() for k, v in attrs.items())


def resolve(records: Records, task: Task, ref: FuzzyRef) -> list[str]:
    """Every key the description ``ref`` fits, found by brute force over the world."""
    kind, attrs = ref.ref.kind, ref.attributes
    if kind == "users":
        return [uid for uid in records.data["users"] if uid == attrs["user_id"]]
    assert ref.scope is not None or kind == "flights", ref
    if kind == "reservations":
        assert ref.scope is not None
        return [r["reservation_id"] for r in records.user_reservations(ref.scope.key) if _reservation_fits(r, attrs)]
    if kind == "flights" and ref.scope is not None:
        segments = records.data["reservations"][ref.scope.key]["flights"]
        return [s["flight_number"] for s in segments if all(s[k] == v for k, v in attrs.items())]
    if kind == "flights":
        offered = _offered(records, attrs)
        return [f["flight_number"] for f in offered if _flight_fits(f, attrs, offered)]
    if kind == "payment_methods":
        assert ref.scope is not None
        methods = list(records.data["users"][ref.scope.key]["payment_methods"].values())
        # A certificate the task sends is one more the user may hold while the task runs.
        for c in task.constraints:
            for w in c.writes:
                if w.name == "send_certificate":
                    methods.append({"source": "certificate", "id": "(sent)", "amount": float(w.arguments["amount"])})
        return [m["id"] for m in methods if _method_fits(m, attrs)]
    if kind == "passengers":
        assert ref.scope is not None
        if ref.scope.kind == "users":
            u = records.data["users"][ref.scope.key]
            people = [{"first_name": u["name"]["first_name"], "last_name": u["name"]["last_name"], "dob": u["dob"]}]
            people += u["saved_passengers"]
        else:
            people = records.data["reservations"][ref.scope.key]["passengers"]
        return [f"{p['first_name']} {p['last_name']} ({p['dob']})" for p in people if _person_fits(p, attrs)]
    raise AssertionError(f"unknown reference kind {kind}")


def _check_unique(records: Records, tasks: list[Task]) -> Counter[str]:
    strategies: Counter[str] = Counter()
    for task in tasks:
        for ref in task.fuzzy:
            found = resolve(records, task, ref)
            assert found == [ref.ref.key], (task.task_id, ref, found)
            strategies[f"{ref.ref.kind}:{ref.strategy}"] += 1
    return strategies


# --- sampling: uniqueness, determinism, coverage ----------------------------------------------


@pytest.mark.slow
def test_ten_thousand_tasks_resolve_uniquely(world: Snapshot, ten_thousand: list[Task]) -> None:
    strategies = _check_unique(Records(world), ten_thousand)
    # Every kind of description is exercised, vague ones included.
    kinds = {s.split(":")[0] for s in strategies}
    assert kinds == {"users", "reservations", "flights", "payment_methods", "passengers"}
    for vague in ("reservations:destination", "flights:part_of_day", "flights:cheapest", "payment_methods:source"):
        assert strategies[vague] > 0, vague
    levels = Counter(ref.difficulty for t in ten_thousand for ref in t.fuzzy if ref.ref.kind == "reservations")
    assert set(levels) == {0, 1, 2, 3}


@pytest.mark.slow
def test_every_family_and_refusals_are_sampled(ten_thousand: list[Task]) -> None:
    families = Counter(c.family for t in ten_thousand for c in t.constraints)
    assert set(families) == set(AIRLINE_FAMILIES)
    refusing = [t for t in ten_thousand if t.difficulty.refusals]
    assert 0.2 < len(refusing) / len(ten_thousand) < 0.4
    assert all(any(c.intent is Intent.REFUSE for c in t.constraints) for t in refusing)
    counts = Counter(len(t.constraints) for t in ten_thousand)
    assert set(counts) == {1, 2, 3}
    assert all(t.difficulty.constraints == len(t.constraints) for t in ten_thousand)


def test_same_seed_same_bytes(world: Snapshot) -> None:
    first = msgspec.json.encode(_sample(world, 150, seed=11))
    again = msgspec.json.encode(_sample(world, 150, seed=11))
    other = msgspec.json.encode(_sample(world, 150, seed=12))
    assert first == again
    assert first != other


def test_tau2_world_tasks_are_unique_and_solvable(tau2_world: Snapshot) -> None:
    tasks = _sample(tau2_world, 600, seed=3, refusal_rate=0.4)
    _check_unique(Records(tau2_world), tasks)
    assert len({c.family for t in tasks for c in t.constraints}) >= len(AIRLINE_FAMILIES) - 2
    for task in tasks[:150]:
        assert _verdict(tau2_world, task, task.plan).perfect


def test_instructions_name_the_user_and_hide_ids(world: Snapshot) -> None:
    for i, task in enumerate(_sample(world, 300, seed=5)):
        text = json.dumps(msgspec.to_builtins(task.instruction))
        assert task.user.key in task.instruction.known_info
        assert task.instruction.task_instructions.endswith("###STOP###.")
        if task.difficulty.fuzziness > 0:
            # Reservation ids and payment ids stay hidden unless no vaguer description was unique.
            for ref in task.fuzzy:
                if ref.ref.kind in ("reservations", "payment_methods") and ref.difficulty > 0:
                    assert ref.ref.key not in text, (i, ref)
        assert "<<" not in text


def test_bad_knobs_are_config_errors(world: Snapshot) -> None:
    rng = random.Random(0)
    for knobs in (
        AirlineKnobs(constraints=0),
        AirlineKnobs(constraints=7),
        AirlineKnobs(fuzziness=4),
        AirlineKnobs(refusal_rate=1.5),
        AirlineKnobs(weights={"fly_to_the_moon": 1.0}),
        AirlineKnobs(weights={"book_reservation": -1.0}),
        AirlineKnobs(refusal_rate=0.5, weights={f: 0.0 for f in AIRLINE_FAMILIES if f.startswith("refuse_")}),
    ):
        with pytest.raises(ConfigError):
            sample_airline_task(world, rng, task_id="x", world="w", knobs=knobs)


def test_family_weights_select_families(world: Snapshot) -> None:
    only = {f: (1.0 if f == "change_cabin" else 0.0) for f in AIRLINE_FAMILIES if not f.startswith("refuse_")}
    rng = random.Random(1)
    knobs = AirlineKnobs(constraints=1, refusal_rate=0.0, weights=only)
    for _ in range(30):
        task = sample_airline_task(world, rng, task_id="x", world="w", knobs=knobs)
        assert [c.family for c in task.constraints] == ["change_cabin"]
    assert airline_sampling_stats(world)["tasks"] > 0


# --- solvability and mutations --------------------------------------------------------------------


def _verdict(snapshot: Snapshot, task: Task, plan: tuple[Call, ...] | list[Call]) -> Verdict:
    mutated = msgspec.structs.replace(task, plan=tuple(plan))
    trajectory: Trajectory = plan_trajectory(mutated, snapshot, TOOLSET)
    return verify(compile_task(task, snapshot, TOOLSET), trajectory)


def _runs_clean(snapshot: Snapshot, calls: list[Call]) -> bool:
    fork = snapshot.fork()
    return all(not TOOLSET.execute(fork, c.name, c.arguments).error for c in calls)


def _owner(task: Task, call: Call) -> Constraint:
    return next(c for c in task.constraints if any(w is call for w in c.writes))


def _unsatisfied(verdict: Verdict, constraint: Constraint) -> bool:
    return not next(v for v in verdict.constraints if v.id == constraint.id).satisfied


class Mutator:
    """Applies one kind of mistake to a canonical plan; None where it does not apply."""

    def __init__(self, snapshot: Snapshot, records: Records) -> None:
        self.snapshot = snapshot
        self.records = records

    def writes(self, task: Task) -> list[Call]:
        return [c for c in task.plan if c.name in WRITE_TOOLS]

    def drop_write(self, task: Task, rng: random.Random) -> tuple[list[Call], Callable[[Verdict], bool]] | None:
        writes = self.writes(task)
        if not writes:
            return None
        dropped = rng.choice(writes)
        owner = _owner(task, dropped)
        return [c for c in task.plan if c is not dropped], lambda v: _unsatisfied(v, owner)

    def wrong_flight_or_cabin(
        self, task: Task, rng: random.Random
    ) -> tuple[list[Call], Callable[[Verdict], bool]] | None:
        writes = [c for c in self.writes(task) if c.name in ("book_reservation", "update_reservation_flights")]
        if not writes:
            return None
        call = rng.choice(writes)
        args = json.loads(json.dumps(call.arguments))
        flights = self.records.data["flights"]
        swapped = False
        for leg in args["flights"]:
            f = flights[leg["flight_number"]]
            others = [
                g["flight_number"]
                for g in _offered(
                    self.records, {"origin": f["origin"], "destination": f["destination"], "date": leg["date"]}
                )
                if g["flight_number"] != leg["flight_number"]
            ]
            if others:
                leg["flight_number"] = rng.choice(others)
                swapped = True
                break
        if not swapped:
            args["cabin"] = rng.choice([c for c in ("basic_economy", "economy", "business") if c != args["cabin"]])
        owner = _owner(task, call)
        plan = [Call(name=c.name, arguments=args) if c is call else c for c in task.plan]
        return plan, lambda v: _unsatisfied(v, owner)

    def wrong_payment(self, task: Task, rng: random.Random) -> tuple[list[Call], Callable[[Verdict], bool]] | None:
        methods = self.records.data["users"][task.user.key]["payment_methods"]
        for call in self.writes(task):
            owner = _owner(task, call)
            if call.name == "book_reservation":
                used = {p["payment_id"] for p in call.arguments["payment_methods"]}
                spare = [m for m in methods if m not in used]
                if not spare:
                    continue
                args = json.loads(json.dumps(call.arguments))
                args["payment_methods"][-1]["payment_id"] = rng.choice(spare)
            elif "payment_id" in call.arguments and owner.params.get("price_difference", owner.params.get("price")):
                spare = [
                    m for m, v in methods.items() if m != call.arguments["payment_id"] and v["source"] != "certificate"
                ]
                if not spare:
                    continue
                args = {**call.arguments, "payment_id": rng.choice(spare)}
            else:
                continue
            plan = [Call(name=c.name, arguments=args) if c is call else c for c in task.plan]
            return plan, lambda v, owner=owner: _unsatisfied(v, owner) or bool(v.collateral)
        return None

    def wrong_record(self, task: Task, rng: random.Random) -> tuple[list[Call], Callable[[Verdict], bool]] | None:
        mine = [r["reservation_id"] for r in self.records.user_reservations(task.user.key)]
        for call in self.writes(task):
            rid = call.arguments.get("reservation_id")
            others = [r for r in mine if r != rid]
            if rid is None or not others:
                continue
            owner = _owner(task, call)
            args = {**call.arguments, "reservation_id": rng.choice(others)}
            plan = [Call(name=c.name, arguments=args) if c is call else c for c in task.plan]
            return plan, lambda v, owner=owner: _unsatisfied(v, owner)
        return None

    def _spare_reservation(self, task: Task) -> str | None:
        named = {ref.key for c in task.constraints for ref in c.targets if ref.kind == "reservations"}
        for r in self.records.user_reservations(task.user.key):
            if r["reservation_id"] not in named:
                return str(r["reservation_id"])
        return None

    def _passenger_swap(self, rid: str) -> tuple[Call, Call]:
        passengers = self.records.data["reservations"][rid]["passengers"]
        changed = [dict(p) for p in passengers]
        changed[0]["first_name"] = changed[0]["first_name"] + "x"
        return (
            Call(name="update_reservation_passengers", arguments={"reservation_id": rid, "passengers": changed}),
            Call(name="update_reservation_passengers", arguments={"reservation_id": rid, "passengers": passengers}),
        )

    def extra_write(self, task: Task, rng: random.Random) -> tuple[list[Call], Callable[[Verdict], bool]] | None:
        rid = self._spare_reservation(task)
        if rid is not None:
            extra = self._passenger_swap(rid)[0]
        elif not any(c.family == "refuse_compensation" for c in task.constraints):
            extra = Call(name="send_certificate", arguments={"user_id": task.user.key, "amount": 75})
        else:
            return None

        def caught(v: Verdict) -> bool:
            return bool(v.collateral) and any(w.outcome is WriteOutcome.UNREQUIRED for w in v.writes)

        return [*task.plan, extra], caught

    def duplicate_write(self, task: Task, rng: random.Random) -> tuple[list[Call], Callable[[Verdict], bool]] | None:
        writes = self.writes(task)
        rng.shuffle(writes)
        for call in writes:
            plan: list[Call] = []
            for c in task.plan:
                plan.append(c)
                if c is call:
                    plan.append(Call(name=c.name, arguments=c.arguments))
            # A repeat the tools refuse leaves the world as it was: by design that is not redundant.
            if _runs_clean(self.snapshot, [c for c in plan if c.name in WRITE_TOOLS]):
                return plan, lambda v: any(w.outcome is WriteOutcome.DUPLICATE for w in v.writes)
        return None

    def write_then_undo(self, task: Task, rng: random.Random) -> tuple[list[Call], Callable[[Verdict], bool]] | None:
        rid = self._spare_reservation(task)
        if rid is None:
            return None
        do, undo = self._passenger_swap(rid)
        return [*task.plan, do, undo], lambda v: any(w.outcome is WriteOutcome.UNDONE for w in v.writes)

    def refused_write(self, task: Task, rng: random.Random) -> tuple[list[Call], Callable[[Verdict], bool]] | None:
        refusals = [c for c in task.constraints if c.intent is Intent.REFUSE]
        if not refusals:
            return None
        refusal = rng.choice(refusals)
        p = refusal.params
        rid = p.get("reservation_id", "")
        reservation = self.records.data["reservations"].get(rid, {})
        card = next(
            (
                m
                for m, v in self.records.data["users"][task.user.key]["payment_methods"].items()
                if v["source"] != "certificate"
            ),
            "credit_card_0",
        )
        call = {
            "refuse_cancel_reservation": lambda: Call(name="cancel_reservation", arguments={"reservation_id": rid}),
            "refuse_add_insurance": lambda: Call(name="cancel_reservation", arguments={"reservation_id": rid}),
            "refuse_change_basic_economy": lambda: Call(
                name="update_reservation_flights",
                arguments={
                    "reservation_id": rid,
                    "cabin": reservation["cabin"],
                    "flights": [
                        {"flight_number": s["flight_number"], "date": s["date"]} for s in reservation["flights"]
                    ],
                    "payment_id": card,
                },
            ),
            "refuse_remove_bags": lambda: Call(
                name="update_reservation_baggages",
                arguments={
                    "reservation_id": rid,
                    "total_baggages": p["wanted"],
                    "nonfree_baggages": 0,
                    "payment_id": card,
                },
            ),
            "refuse_change_passenger_count": lambda: Call(
                name="update_reservation_passengers",
                arguments={"reservation_id": rid, "passengers": reservation["passengers"][:1] * p["wanted"]},
            ),
            "refuse_compensation": lambda: Call(
                name="send_certificate", arguments={"user_id": task.user.key, "amount": 50}
            ),
        }[refusal.family]()
        return [*task.plan, call], lambda v: _unsatisfied(v, refusal)


MUTATIONS = (
    "drop_write",
    "wrong_flight_or_cabin",
    "wrong_payment",
    "wrong_record",
    "extra_write",
    "duplicate_write",
    "write_then_undo",
    "refused_write",
)


def _mutation_table(snapshot: Snapshot, tasks: list[Task]) -> dict[str, list[int]]:
    records = Records(snapshot)
    mutator = Mutator(snapshot, records)
    rng = random.Random(99)
    table = {m: [0, 0, 0] for m in MUTATIONS}  # detected, applicable, not applicable
    for task in tasks:
        canonical = _verdict(snapshot, task, task.plan)
        assert canonical.perfect, (task.task_id, canonical.reasons())
        assert _runs_clean(snapshot, list(task.plan)), task.task_id
        for name in MUTATIONS:
            made = getattr(mutator, name)(task, rng)
            if made is None:
                table[name][2] += 1
                continue
            plan, caught = made
            verdict = _verdict(snapshot, task, plan)
            table[name][1] += 1
            if not verdict.perfect and caught(verdict):
                table[name][0] += 1
            else:
                raise AssertionError(f"{name} not caught on {task.task_id}: {verdict.reasons()}")
    return table


def _print_table(title: str, table: dict[str, list[int]]) -> None:
    print(f"\n{title}\n{'mutation':<24}{'detected/applicable':>22}{'not applicable':>16}")  # noqa: T201
    for name, (hit, applicable, skipped) in table.items():
        print(f"{name:<24}{f'{hit}/{applicable}':>22}{skipped:>16}")  # noqa: T201


@pytest.mark.slow
def test_mutations_are_caught(world: Snapshot) -> None:
    tasks = _sample(world, 240, seed=21, refusal_rate=0.4)
    table = _mutation_table(world, tasks)
    _print_table("airline mutation detection (synthetic world, 240 tasks)", table)
    for name, (hit, applicable, _) in table.items():
        assert applicable >= 20, name
        assert hit == applicable, name


def test_mutations_are_caught_on_tau2(tau2_world: Snapshot) -> None:
    tasks = _sample(tau2_world, 80, seed=22, refusal_rate=0.4)
    table = _mutation_table(tau2_world, tasks)
    _print_table("airline mutation detection (tau2 world, 80 tasks)", table)
    assert all(hit == applicable for hit, applicable, _ in table.values())
