"""Compensation and information families.

Compensation (tau2-reference.md 2.6): only when the user asks, never for a regular member without
insurance flying (basic) economy (that request is a refusal); $100 a passenger for a flight the
airline cancelled; $50 a passenger for a delayed flight, after the reservation is changed or
cancelled. The agent checks the flight's status first.

Information requests have answers read off the records: a flight's status on a date, facts of a
reservation (passengers, cabin, total paid, free bags), the lowest economy fare of a route and
date. Their records are protected, so no other request in the task changes the answer.
"""

from __future__ import annotations

from cove_async.tasks._airline_draft import (
    Draft,
    Piece,
    active_unflown,
    compensable,
    count_word,
    describe_res,
    make_constraint,
    res_ref,
    where,
)
from cove_async.tasks._airline_fuzzy import (
    date_text,
    describe_segment,
)
from cove_async.tasks._airline_index import CABIN_WORDS, free_bags
from cove_async.tasks._airline_modify import cancel_piece, change_flights_piece, flight_change
from cove_async.tasks._model import Call, FuzzyRef, Intent, Ref

__all__ = (
    "build_compensation_cancelled",
    "build_compensation_delayed",
    "build_inform_cheapest",
    "build_inform_reservation",
    "build_inform_status",
    "build_refuse_compensation",
)


# --- compensation -----------------------------------------------------------------------------


def _complaint(d: Draft, rid: str, position: int) -> tuple[FuzzyRef, FuzzyRef, Call]:
    segment = d.index.reservations[rid].flights[position]
    ref = describe_res(d, rid)
    seg_ref = describe_segment(d.index, rid, position, d.level, d.rng)
    status = Call(name="get_flight_status", arguments={"flight_number": segment.flight_number, "date": segment.date})
    return ref, seg_ref, status


def build_compensation_cancelled(d: Draft, *, refuse: bool = False) -> list[Piece] | None:
    """A certificate of $100 a passenger for a flight the airline cancelled (or, with ``refuse``, the refusal of one)."""
    index = d.index
    if d.certificate is not None or not (d.can_protect if refuse else d.can_touch)({("users", d.uid)}):
        return None
    for rid in d.candidates(
        lambda r: (
            index.facts[r.reservation_id].active
            and bool(index.facts[r.reservation_id].airline_cancelled)
            and compensable(d.user, r) != refuse
        )
    ):
        r = index.reservations[rid]
        position = index.facts[rid].airline_cancelled[0]
        ref, seg_ref, status = _complaint(d, rid, position)
        amount = 100 * len(r.passengers)
        ask = f"complain that {seg_ref.text} on {ref.text} was cancelled by the airline, and ask for compensation"
        know = ["You do not want to change or cancel that trip because of it; you want compensation."]
        if refuse:
            return [_refusal_of_compensation(d, rid, ref, seg_ref, status, "cancelled flight", ask, know)]
        d.certificate = float(amount)
        d.touched.add(("users", d.uid))
        constraint = make_constraint(
            "compensation_cancelled_flight",
            Intent.CHANGE,
            [Ref(kind="users", key=d.uid), res_ref(rid)],
            {"reservation_id": rid, "passengers": len(r.passengers), "amount": amount},
            [Call(name="send_certificate", arguments={"user_id": d.uid, "amount": amount})],
        )
        return [
            Piece(
                constraint=constraint,
                fuzzy=[ref, seg_ref],
                reads=[status],
                ask=ask,
                know=know,
                notes=["Accept a travel certificate if that is what the agent offers."],
                locate=[rid],
            )
        ]
    return None


def _refusal_of_compensation(
    d: Draft, rid: str, ref: FuzzyRef | None, seg_ref: FuzzyRef, status: Call, why: str, ask: str, know: list[str]
) -> Piece:
    r = d.index.reservations[rid]
    constraint = make_constraint(
        "refuse_compensation",
        Intent.REFUSE,
        [Ref(kind="users", key=d.uid)],
        {
            "reservation_id": rid,
            "reason": why,
            "membership": d.user.membership,
            "cabin": r.cabin,
            "insurance": r.insurance,
        },
        forbidden=("send_certificate",),
        rule="No compensation for a regular member without travel insurance flying (basic) economy.",
    )
    d.protected.add(("users", d.uid))
    return Piece(
        constraint=constraint,
        fuzzy=[seg_ref] if ref is None else [ref, seg_ref],
        reads=[status],
        ask=ask,
        know=know,
        notes=["If the agent says you are not entitled to compensation, you may insist once, then accept it."],
        locate=[rid] if ref is not None else [],
    )


def build_compensation_delayed(d: Draft, *, refuse: bool = False) -> list[Piece] | None:
    """A delayed flight, a change or cancellation of its reservation, and the certificate (or a refusal)."""
    index = d.index
    if d.budget < 2 or d.certificate is not None:
        return None
    if not (d.can_protect if refuse else d.can_touch)({("users", d.uid)}):
        return None
    for rid in d.candidates(
        lambda r: (
            active_unflown(index, r)
            and bool(index.facts[r.reservation_id].delayed)
            and compensable(d.user, r) != refuse
        )
    ):
        r = index.reservations[rid]
        facts = index.facts[rid]
        partner: Piece | None = None
        if (facts.recent or r.cabin == "business") and d.rng.random() < 0.5:
            partner = cancel_piece(d, rid, "delay")
            partner.ask = partner.ask.replace(" because ", " since ")
        elif r.cabin != "basic_economy":
            change = flight_change(d, r, around=facts.delayed[0])
            if change is not None:
                partner = change_flights_piece(d, r, change, may_touch_user=not refuse)
        if partner is None:
            continue
        _, seg_ref, status = _complaint(d, rid, facts.delayed[0])
        amount = 50 * len(r.passengers)
        ask = f"complain that {seg_ref.text} on that reservation is delayed, and ask for compensation"
        if refuse:
            refusal = _refusal_of_compensation(d, rid, None, seg_ref, status, "delayed flight", ask, [])
            return [partner, refusal]
        d.certificate = float(amount)
        d.touched.add(("users", d.uid))
        constraint = make_constraint(
            "compensation_delayed_flight",
            Intent.CHANGE,
            [Ref(kind="users", key=d.uid), res_ref(rid)],
            {"reservation_id": rid, "passengers": len(r.passengers), "amount": amount},
            [Call(name="send_certificate", arguments={"user_id": d.uid, "amount": amount})],
        )
        return [
            partner,
            Piece(
                constraint=constraint,
                fuzzy=[seg_ref],
                reads=[status],
                ask=ask,
                notes=["Accept a travel certificate if that is what the agent offers."],
            ),
        ]
    return None


def build_refuse_compensation(d: Draft) -> list[Piece] | None:
    """A compensation request the policy forbids: for a cancelled flight, or a delay with a change or cancellation."""
    if d.budget >= 2 and d.rng.random() < 0.3:
        found = build_compensation_delayed(d, refuse=True)
        if found is not None:
            return found
    return build_compensation_cancelled(d, refuse=True)


# --- information ------------------------------------------------------------------------------


def build_inform_status(d: Draft) -> list[Piece] | None:
    """The status of one flight of a reservation on its date."""
    index, rng = d.index, d.rng
    for rid in d.candidates(lambda r: bool(r.flights)):
        r = index.reservations[rid]
        if not d.can_protect({("reservations", rid)}):
            continue
        positions = list(range(len(r.flights)))
        rng.shuffle(positions)
        # A status other than "available" is the more telling answer; fall back to any.
        positions.sort(key=lambda i: index.available(r.flights[i].flight_number, r.flights[i].date) is not None)
        position = positions[0]
        segment = r.flights[position]
        status = index.status(segment.flight_number, segment.date)
        if status is None:
            continue
        word = str(type(status).__struct_config__.tag)
        spellings = (word, word.replace(" ", "-")) if " " in word else (word,)
        ref, seg_ref, call = _complaint(d, rid, position)
        constraint = make_constraint(
            "inform_flight_status",
            Intent.INFORM,
            [Ref(kind="flights", key=segment.flight_number), res_ref(rid)],
            {"reservation_id": rid, "flight_number": segment.flight_number, "date": segment.date, "status": word},
            answers=[spellings],
        )
        d.protected.add(("reservations", rid))
        return [
            Piece(
                constraint=constraint,
                fuzzy=[ref, seg_ref],
                reads=[call],
                ask=f"find out the status of {seg_ref.text} on {ref.text}",
                unknown=["You do not know the current status of that flight."],
                locate=[rid],
            )
        ]
    return None


def build_inform_reservation(d: Draft) -> list[Piece] | None:
    """One or two facts of an active reservation: passengers, cabin, total paid, free bags."""
    index, rng = d.index, d.rng
    for rid in d.candidates(lambda r: bool(r.flights) and index.facts[r.reservation_id].active):
        r = index.reservations[rid]
        if not d.can_protect({("reservations", rid)}):
            continue
        facts: list[tuple[str, str, tuple[str, ...]]] = []
        n = len(r.passengers)
        facts.append(("passengers", "how many passengers are on it", (str(n), count_word(n))))
        cabin = r.cabin
        cabin_words = (CABIN_WORDS[cabin], cabin) if cabin == "basic_economy" else (cabin,)
        facts.append(("cabin", "which cabin it is booked in", cabin_words))
        paid = sum(p.amount for p in r.payment_history)
        facts.append(("total_paid", "how much was paid for it in total, in dollars", (str(paid),)))
        member = index.users[r.user_id].membership if r.user_id in index.users else d.user.membership
        free = free_bags(member, cabin, n)
        facts.append(
            ("free_bags", "how many checked bags it includes for free, in total", (str(free), count_word(free)))
        )
        chosen = rng.sample(facts, rng.choice((1, 1, 2)))
        ref = describe_res(d, rid)
        constraint = make_constraint(
            "inform_reservation",
            Intent.INFORM,
            [res_ref(rid)],
            {"reservation_id": rid, **{name: answer[0] for name, _, answer in chosen}},
            answers=[answer for _, _, answer in chosen],
        )
        d.protected.add(("reservations", rid))
        questions = " and ".join(q for _, q, _ in chosen)
        return [
            Piece(
                constraint=constraint,
                fuzzy=[ref],
                reads=[],
                ask=f"find out, about {ref.text}, {questions}",
                unknown=["You do not remember those details of the reservation."],
                locate=[rid],
            )
        ]
    return None


def build_inform_cheapest(d: Draft) -> list[Piece] | None:
    """The lowest economy fare among the nonstop flights of a route and date."""
    index, rng = d.index, d.rng
    if not index.route_days:
        return None
    for _ in range(8):
        origin, destination, day = rng.choice(index.route_days)
        numbers = index.direct[(origin, destination, day)]
        if not d.can_protect({("flights", n) for n in numbers}):
            continue
        prices = {}
        for n in numbers:
            status = index.available(n, day)
            assert status is not None
            prices[n] = status.prices["economy"]
        low = min(prices.values())
        # The cheapest must have a seat, so "cheapest" and "cheapest you can book" agree.
        if any(prices[n] == low and d.free_seats(n, day, "economy") < 1 for n in numbers):
            continue
        cheapest = next(n for n in numbers if prices[n] == low)
        constraint = make_constraint(
            "inform_cheapest_fare",
            Intent.INFORM,
            [Ref(kind="flights", key=cheapest)],
            {"origin": origin, "destination": destination, "date": day, "cabin": "economy", "price": low},
            answers=[(str(low),)],
        )
        d.protected |= {("flights", n) for n in numbers}
        o, t = where(index, origin, d.level), where(index, destination, d.level)
        return [
            Piece(
                constraint=constraint,
                fuzzy=[],
                reads=[
                    Call(
                        name="search_direct_flight",
                        arguments={"origin": origin, "destination": destination, "date": day},
                    )
                ],
                ask=f"find out the lowest economy fare for a nonstop flight from {o} to {t} on {date_text(day)}",
                unknown=["You do not know the fares."],
                notes=["You only want the price for now; you do not want to book anything for that trip."],
            )
        ]
    return None
