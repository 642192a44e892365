"""Families on an existing reservation: cancel, change flights or cabin, add bags, swap passengers,
and the requests of the same kinds that the policy forbids.

Policy (tau2-reference.md 2.6): nothing can change once a segment has flown. A cancellation
needs a booking under 24 hours old, a flight the airline cancelled, business class, or insurance
and a health or weather reason. Flight changes keep origin, destination and trip type, are not
allowed in basic economy, keep the price of kept segments and settle the difference with one
credit card or gift card. A cabin change re-prices every segment, so every one must still be
bookable. Bags are only added. The number of passengers and the insurance never change.
"""

from __future__ import annotations

from dataclasses import dataclass

from cove_async.domains.airline._records import Reservation
from cove_async.tasks._airline_draft import (
    REASON_WORDS,
    Draft,
    Piece,
    active_unflown,
    cancel_reasons,
    count_word,
    describe_res,
    flights_arg,
    make_constraint,
    new_person,
    pay_mark,
    res_ref,
)
from cove_async.tasks._airline_fuzzy import (
    date_text,
    describe_flight,
    describe_passenger,
    person,
)
from cove_async.tasks._airline_index import CABIN_WORDS, CABINS, free_bags
from cove_async.tasks._model import Call, Intent, Ref

__all__ = (
    "build_add_bags",
    "build_cancel",
    "build_change_cabin",
    "build_change_flights",
    "build_refuse_cancel",
    "build_refuse_change_basic",
    "build_refuse_insurance",
    "build_refuse_passenger_count",
    "build_refuse_remove_bags",
    "build_update_passengers",
    "cancel_piece",
    "change_flights_piece",
    "flight_change",
)


# --- cancel -----------------------------------------------------------------------------------


def build_cancel(d: Draft) -> list[Piece] | None:
    """A cancellation the policy allows, with a reason that allows it."""
    index = d.index
    for rid in d.candidates(lambda r: bool(cancel_reasons(index, r)[0])):
        if not d.can_touch({("reservations", rid)}):
            continue
        reason = d.rng.choice(cancel_reasons(index, index.reservations[rid])[0])
        return [cancel_piece(d, rid, reason)]
    return None


def cancel_piece(d: Draft, rid: str, reason: str) -> Piece:
    """The piece cancelling ``rid`` for ``reason`` (the caller checked the policy)."""
    ref = describe_res(d, rid)
    call = Call(name="cancel_reservation", arguments={"reservation_id": rid})
    constraint = make_constraint(
        "cancel_reservation", Intent.CHANGE, [res_ref(rid)], {"reservation_id": rid, "reason": reason}, [call]
    )
    d.touched.add(("reservations", rid))
    return Piece(
        constraint=constraint,
        fuzzy=[ref],
        reads=[],
        ask=f"cancel {ref.text}, because {REASON_WORDS[reason][0]}",
        know=[f"If asked why you cancel {ref.text}: {REASON_WORDS[reason][1]}."],
        locate=[rid],
    )


def build_refuse_cancel(d: Draft) -> list[Piece] | None:
    """A cancellation the policy forbids: old booking, not business, no airline cancellation, no cover."""
    index = d.index
    for rid in d.candidates(lambda r: bool(cancel_reasons(index, r)[1])):
        r = index.reservations[rid]
        reason = d.rng.choice(cancel_reasons(index, r)[1])
        ref = describe_res(d, rid)
        cover = "has no travel insurance" if r.insurance == "no" else "its insurance does not cover a change of plans"
        rule = (
            f"The reservation was booked more than 24 hours ago, is {CABIN_WORDS[r.cabin]} (not business), has no "
            f"flight the airline cancelled, and {cover}: the policy does not allow cancelling it."
        )
        constraint = make_constraint(
            "refuse_cancel_reservation",
            Intent.REFUSE,
            [res_ref(rid)],
            {"reservation_id": rid, "reason": reason},
            forbidden=("cancel_reservation",),
            rule=rule,
        )
        d.protected.add(("reservations", rid))
        return [
            Piece(
                constraint=constraint,
                fuzzy=[ref],
                reads=[],
                ask=f"cancel {ref.text}, because {REASON_WORDS[reason][0]}",
                know=[f"If asked why you cancel {ref.text}: {REASON_WORDS[reason][1]}."],
                notes=["You want a full refund; if the agent cannot cancel this trip, you keep it as it is."],
                locate=[rid],
            )
        ]
    return None


# --- change flights ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FlightChange:
    """One direction of a reservation moved to another nonstop flight."""

    rid: str
    first: int  # segments [first, last) are replaced by one direct flight
    last: int
    number: str
    day: str


def flight_change(d: Draft, r: Reservation, *, around: int | None = None) -> FlightChange | None:
    """A new direct flight for one direction of ``r`` on the same route (around: the segment to move)."""
    index, rng = d.index, d.rng
    facts = index.facts[r.reservation_id]
    directions = [(0, facts.outbound)]
    if r.flight_type == "round_trip" and facts.outbound < len(r.flights):
        directions.append((facts.outbound, len(r.flights)))
    if around is not None:
        directions = [(a, b) for a, b in directions if a <= around < b]
    rng.shuffle(directions)
    travellers = len(r.passengers)
    for first, last in directions:
        origin, destination = r.flights[first].origin, r.flights[last - 1].destination
        days = index.days_by_route.get((origin, destination), [])
        if first > 0:  # the return leaves after the outbound lands
            days = [x for x in days if x > r.flights[first - 1].date]
        if last < len(r.flights):  # the outbound lands before the return leaves
            days = [x for x in days if x < r.flights[last].date]
        if around is not None:
            days = [x for x in days if x > r.flights[around].date]
        options = [
            (n, x)
            for x in days
            for n in index.direct[(origin, destination, x)]
            if ("flights", n) not in d.protected and d.free_seats(n, x, r.cabin) >= travellers
        ]
        old = [(s.flight_number, s.date) for s in r.flights[first:last]]
        options = [o for o in options if [o] != old]
        if options:
            number, day = rng.choice(options)
            return FlightChange(r.reservation_id, first, last, number, day)
    return None


def build_change_flights(d: Draft) -> list[Piece] | None:
    """One direction of a reservation moved to another nonstop flight on the same route."""
    index = d.index
    for rid in d.candidates(lambda r: active_unflown(index, r) and r.cabin != "basic_economy"):
        r = index.reservations[rid]
        if not d.can_touch({("reservations", rid)}):
            continue
        change = flight_change(d, r)
        if change is None:
            continue
        piece = change_flights_piece(d, r, change)
        if piece is not None:
            return [piece]
    return None


def change_flights_piece(
    d: Draft, r: Reservation, change: FlightChange, *, may_touch_user: bool = True
) -> Piece | None:
    """The piece making ``change``, or None when no payment method can settle the difference."""
    index = d.index
    travellers = len(r.passengers)
    status = index.available(change.number, change.day)
    assert status is not None
    new_price = status.prices[r.cabin]
    old_price = sum(s.price for s in r.flights[change.first : change.last])
    difference = (new_price - old_price) * travellers
    pid = d.update_payment(difference, may_touch_user=may_touch_user)
    if pid is None:
        return None
    touched = {("reservations", r.reservation_id)} | d.claim_payment(pid, difference)
    itinerary = [(s.flight_number, s.date) for s in r.flights[: change.first]]
    itinerary.append((change.number, change.day))
    itinerary += [(s.flight_number, s.date) for s in r.flights[change.last :]]
    arguments = {
        "reservation_id": r.reservation_id,
        "cabin": r.cabin,
        "flights": flights_arg(itinerary),
        "payment_id": pid,
    }
    ref = describe_res(d, r.reservation_id)
    flight_ref = describe_flight(index, change.number, change.day, r.cabin, d.level, d.rng)
    noun = "flights" if change.last - change.first > 1 else "flight"
    if r.flight_type == "round_trip":
        noun = ("outbound " if change.first == 0 else "return ") + noun
    part = f"the {noun}"
    constraint = make_constraint(
        "change_flights",
        Intent.CHANGE,
        [res_ref(r.reservation_id), Ref(kind="flights", key=change.number)],
        {
            "reservation_id": r.reservation_id,
            "replace_segments": [change.first, change.last],
            "new_flight": {"flight_number": change.number, "date": change.day},
            "payment_id": pid,
            "price_difference": difference,
        },
        [Call(name="update_reservation_flights", arguments=arguments)],
    )
    d.touched |= touched
    origin, destination = r.flights[change.first].origin, r.flights[change.last - 1].destination
    return Piece(
        constraint=constraint,
        fuzzy=[ref, flight_ref],
        reads=[
            Call(
                name="search_direct_flight",
                arguments={"origin": origin, "destination": destination, "date": change.day},
            )
        ],
        ask=f"change {part} of {ref.text}",
        know=[
            f"Instead of your current {part.removeprefix('the ')}, you want {flight_ref.text}, "
            f"in the same cabin ({CABIN_WORDS[r.cabin]}).",
            f"Any fare difference should be charged or refunded to {pay_mark(pid)}.",
        ],
        unknown=["You do not know the flight numbers."] if d.level > 0 else [],
        locate=[r.reservation_id],
        payments=[pid],
    )


def build_refuse_change_basic(d: Draft) -> list[Piece] | None:
    """A date change of a basic economy reservation, which the policy forbids."""
    index = d.index
    for rid in d.candidates(lambda r: active_unflown(index, r) and r.cabin == "basic_economy"):
        r = index.reservations[rid]
        later = [x for x in index.days_by_route.get((r.origin, r.destination), ()) if x != r.flights[0].date]
        if not later:
            continue
        day = d.rng.choice(later)
        ref = describe_res(d, rid)
        constraint = make_constraint(
            "refuse_change_basic_economy",
            Intent.REFUSE,
            [res_ref(rid)],
            {"reservation_id": rid, "wanted_date": day},
            forbidden=("update_reservation_flights",),
            rule="Basic economy flights cannot be changed.",
        )
        d.protected.add(("reservations", rid))
        return [
            Piece(
                constraint=constraint,
                fuzzy=[ref],
                reads=[],
                ask=f"move {ref.text} so that it leaves on {date_text(day)} instead",
                know=[f"You would like to leave on {date_text(day)}; any flight that day is fine."],
                notes=[
                    "You do not want to change the cabin or cancel; if the date cannot change, keep the trip as it is."
                ],
                locate=[rid],
            )
        ]
    return None


# --- cabin, bags, passengers --------------------------------------------------------------------


def build_change_cabin(d: Draft) -> list[Piece] | None:
    """Every segment of a reservation moved to another cabin, the difference paid or refunded."""
    index = d.index
    for rid in d.candidates(
        lambda r: index.facts[r.reservation_id].active and index.facts[r.reservation_id].all_bookable
    ):
        r = index.reservations[rid]
        if not d.can_touch({("reservations", rid)}):
            continue
        travellers = len(r.passengers)
        cabins = [c for c in CABINS if c != r.cabin]
        d.rng.shuffle(cabins)
        for cabin in cabins:
            segments = [(s.flight_number, s.date) for s in r.flights]
            if any(("flights", n) in d.protected or d.free_seats(n, x, cabin) < travellers for n, x in segments):
                continue
            new_total = 0
            for n, x in segments:
                status = index.available(n, x)
                assert status is not None
                new_total += status.prices[cabin]
            difference = (new_total - sum(s.price for s in r.flights)) * travellers
            pid = d.update_payment(difference)
            if pid is None:
                continue
            touched = {("reservations", rid)} | d.claim_payment(pid, difference)
            d.touched |= touched
            ref = describe_res(d, rid)
            arguments = {"reservation_id": rid, "cabin": cabin, "flights": flights_arg(segments), "payment_id": pid}
            constraint = make_constraint(
                "change_cabin",
                Intent.CHANGE,
                [res_ref(rid)],
                {"reservation_id": rid, "cabin": cabin, "payment_id": pid, "price_difference": difference},
                [Call(name="update_reservation_flights", arguments=arguments)],
            )
            seen: list[tuple[str, str, str]] = []
            for s in r.flights:
                key = (s.origin, s.destination, s.date)
                if key not in seen:
                    seen.append(key)
            reads = [
                Call(name="search_direct_flight", arguments={"origin": o, "destination": t, "date": x})
                for o, t, x in seen
            ]
            upgrade = CABINS.index(cabin) > CABINS.index(r.cabin)
            verb = "upgrade" if upgrade else "move"
            return [
                Piece(
                    constraint=constraint,
                    fuzzy=[ref],
                    reads=reads,
                    ask=f"{verb} {ref.text} to {CABIN_WORDS[cabin]} on every flight",
                    know=[f"Any price difference should be charged or refunded to {pay_mark(pid)}."],
                    locate=[rid],
                    payments=[pid],
                )
            ]
    return None


def build_add_bags(d: Draft) -> list[Piece] | None:
    """One to three more checked bags, the ones past the free allowance paid for."""
    index = d.index
    for rid in d.candidates(lambda r: active_unflown(index, r) and index.facts[r.reservation_id].consistent_bags):
        r = index.reservations[rid]
        if not d.can_touch({("reservations", rid)}):
            continue
        added = d.rng.randint(1, 3)
        allowance = free_bags(d.user.membership, r.cabin, len(r.passengers))
        total = r.total_baggages + added
        nonfree = max(0, total - allowance)
        price = 50 * (nonfree - r.nonfree_baggages)
        pid = d.update_payment(price)
        if pid is None:
            continue
        touched = {("reservations", rid)} | d.claim_payment(pid, price)
        d.touched |= touched
        ref = describe_res(d, rid)
        arguments = {"reservation_id": rid, "total_baggages": total, "nonfree_baggages": nonfree, "payment_id": pid}
        constraint = make_constraint(
            "add_bags",
            Intent.CHANGE,
            [res_ref(rid)],
            {
                "reservation_id": rid,
                "added": added,
                "total_baggages": total,
                "nonfree_baggages": nonfree,
                "payment_id": pid,
                "price": price,
            },
            [Call(name="update_reservation_baggages", arguments=arguments)],
        )
        bags = f"{count_word(added)} more checked bag{'s' if added > 1 else ''}"
        return [
            Piece(
                constraint=constraint,
                fuzzy=[ref],
                reads=[],
                ask=f"add {bags} to {ref.text}",
                know=[f"If the bags cost anything, pay with {pay_mark(pid)}."],
                unknown=["You do not know how many free bags your membership gives you."],
                locate=[rid],
                payments=[pid],
            )
        ]
    return None


def build_refuse_remove_bags(d: Draft) -> list[Piece] | None:
    """Fewer checked bags than booked, which the policy forbids."""
    index = d.index
    for rid in d.candidates(lambda r: active_unflown(index, r) and r.total_baggages > 0):
        r = index.reservations[rid]
        ref = describe_res(d, rid)
        fewer = d.rng.randint(0, r.total_baggages - 1)
        constraint = make_constraint(
            "refuse_remove_bags",
            Intent.REFUSE,
            [res_ref(rid)],
            {"reservation_id": rid, "total_baggages": r.total_baggages, "wanted": fewer},
            forbidden=("update_reservation_baggages",),
            rule="Checked bags can be added to a reservation but not removed.",
        )
        d.protected.add(("reservations", rid))
        now = "no checked bags" if fewer == 0 else f"only {count_word(fewer)} checked bag{'s' if fewer > 1 else ''}"
        return [
            Piece(
                constraint=constraint,
                fuzzy=[ref],
                reads=[],
                ask=f"reduce {ref.text} to {now} and get the bag fees back",
                know=[
                    f"You booked {count_word(r.total_baggages)} checked bag{'s' if r.total_baggages > 1 else ''} on it."
                ],
                notes=["If the agent cannot remove bags, you keep the reservation as it is."],
                locate=[rid],
            )
        ]
    return None


def build_refuse_insurance(d: Draft) -> list[Piece] | None:
    """Travel insurance added after booking, which the policy forbids."""
    index = d.index
    for rid in d.candidates(lambda r: active_unflown(index, r) and r.insurance == "no"):
        ref = describe_res(d, rid)
        constraint = make_constraint(
            "refuse_add_insurance",
            Intent.REFUSE,
            [res_ref(rid)],
            {"reservation_id": rid},
            forbidden=("cancel_reservation", "update_reservation_flights"),
            rule="Travel insurance cannot be added after the booking is made.",
        )
        d.protected.add(("reservations", rid))
        return [
            Piece(
                constraint=constraint,
                fuzzy=[ref],
                reads=[],
                ask=f"add travel insurance to {ref.text}",
                notes=["You do not want to rebook or cancel the trip to get insurance; keep it as it is if needed."],
                locate=[rid],
            )
        ]
    return None


def build_update_passengers(d: Draft) -> list[Piece] | None:
    """One passenger replaced by a saved passenger or someone new."""
    index, rng = d.index, d.rng
    for rid in d.candidates(lambda r: active_unflown(index, r)):
        r = index.reservations[rid]
        if not d.can_touch({("reservations", rid)}):
            continue
        position = rng.randrange(len(r.passengers))
        old = r.passengers[position]
        old_ref = describe_passenger(r.passengers, old, d.level, rng, res_ref(rid))
        if old_ref is None:
            continue
        on_board = {person(p) for p in r.passengers}
        profile = index.people(d.user)
        saved = [p for p in profile if person(p) not in on_board]
        new_ref = None
        if saved and rng.random() < 0.5:
            new = rng.choice(saved)
            new_ref = describe_passenger(profile, new, d.level, rng, Ref(kind="users", key=d.uid))
            if new_ref is None:
                continue
            words = f"{new_ref.text}, whose details are saved in your profile"
        else:
            new = new_person(d, on_board | {person(p) for p in profile})
            words = f"{person(new)}, born {new.dob}"
        passengers = [{"first_name": p.first_name, "last_name": p.last_name, "dob": p.dob} for p in r.passengers]
        passengers[position] = {"first_name": new.first_name, "last_name": new.last_name, "dob": new.dob}
        ref = describe_res(d, rid)
        constraint = make_constraint(
            "update_passengers",
            Intent.CHANGE,
            [res_ref(rid)],
            {"reservation_id": rid, "position": position, "passenger": passengers[position]},
            [Call(name="update_reservation_passengers", arguments={"reservation_id": rid, "passengers": passengers})],
        )
        d.touched.add(("reservations", rid))
        return [
            Piece(
                constraint=constraint,
                fuzzy=[ref, old_ref] + ([new_ref] if new_ref is not None else []),
                reads=[],
                ask=f"replace {old_ref.text} with another traveller on {ref.text}",
                know=[f"The new traveller is {words}."],
                locate=[rid],
            )
        ]
    return None


def build_refuse_passenger_count(d: Draft) -> list[Piece] | None:
    """A passenger added or taken off, which the policy forbids."""
    index, rng = d.index, d.rng
    for rid in d.candidates(lambda r: active_unflown(index, r)):
        r = index.reservations[rid]
        ref = describe_res(d, rid)
        if len(r.passengers) > 1 and rng.random() < 0.5:
            who = rng.choice(r.passengers)
            who_ref = describe_passenger(r.passengers, who, d.level, rng, res_ref(rid))
            if who_ref is None:
                continue
            ask = f"take {who_ref.text} off {ref.text}; the others still fly"
            fuzzy = [ref, who_ref]
            wanted = len(r.passengers) - 1
        else:
            new = new_person(d, {person(p) for p in r.passengers})
            ask = f"add {person(new)} (born {new.dob}) as one more traveller on {ref.text}"
            fuzzy = [ref]
            wanted = len(r.passengers) + 1
        constraint = make_constraint(
            "refuse_change_passenger_count",
            Intent.REFUSE,
            [res_ref(rid)],
            {"reservation_id": rid, "passengers": len(r.passengers), "wanted": wanted},
            forbidden=("update_reservation_passengers",),
            rule="The number of passengers on a reservation cannot change.",
        )
        d.protected.add(("reservations", rid))
        return [
            Piece(
                constraint=constraint,
                fuzzy=fuzzy,
                reads=[],
                ask=ask,
                notes=[
                    "If the agent says it cannot be done, leave the reservation as it is and do not book anything new."
                ],
                locate=[rid],
            )
        ]
    return None
