"""The booking family: a new reservation with flights, passengers, bags, insurance and a payment mix.

The policy checks (tau2-reference.md 2.6): one cabin for every flight, at most five passengers,
free bags by membership and cabin (extra ones $50), insurance $30 a passenger, at most one
certificate, one credit card and three gift cards, all from the profile, each with the balance
it is charged, adding up exactly to the total. Flights are nonstop, so the agent finds them with
``search_direct_flight``; the user names each by route, date and a time or a price.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cove_async.domains.airline._records import Certificate, GiftCard, Passenger
from cove_async.tasks._airline_draft import (
    NEW_RESERVATION,
    Draft,
    Piece,
    count_word,
    flights_arg,
    make_constraint,
    new_person,
    offer,
    pay_mark,
    where,
)
from cove_async.tasks._airline_fuzzy import (
    describe_flight,
    describe_passenger,
    person,
)
from cove_async.tasks._airline_index import CABIN_WORDS, CABINS, free_bags, methods_of
from cove_async.tasks._model import Call, FuzzyRef, Intent, Ref

__all__ = ("build_book",)


# --- book -------------------------------------------------------------------------------------


def _book_payment(d: Draft, total: int) -> tuple[list[tuple[str, int]], list[str]] | None:
    """A policy-conforming way to pay ``total``, and how the user says it."""
    rng = d.rng
    cards = methods_of(d.user, "credit_card")
    gifts = [
        g
        for g in methods_of(d.user, "gift_card")
        if isinstance(g, GiftCard) and g.id not in d.gift_cards and g.amount >= 1 and g.amount.is_integer()
    ]
    certificates = [
        c for c in methods_of(d.user, "certificate") if isinstance(c, Certificate) and c.amount.is_integer()
    ]
    plans = []
    if cards:
        plans.append("card")
    if any(g.amount >= total for g in gifts):
        plans.append("gift")
    if certificates and (cards or any(c.amount >= total for c in certificates)):
        plans.append("certificate")
    if gifts and cards:
        plans.append("gifts")
    if gifts and cards and certificates:
        plans.append("certificate+gifts")
    if not plans:
        return None
    plan = rng.choice(plans)
    card = rng.choice(cards) if cards else None
    if plan == "card":
        assert card is not None
        return [(card.id, total)], [f"You want to pay the whole amount with {pay_mark(card.id)}."]
    if plan == "gift":
        gift = rng.choice([g for g in gifts if isinstance(g, GiftCard) and g.amount >= total])
        return [(gift.id, total)], [f"You want to pay the whole amount with {pay_mark(gift.id)}."]
    payments: list[tuple[str, int]] = []
    left = total
    if plan.startswith("certificate"):
        usable = [c for c in certificates if isinstance(c, Certificate) and (cards or c.amount >= total)]
        cert = rng.choice(usable)
        assert isinstance(cert, Certificate)
        used = min(left, int(cert.amount))
        payments.append((cert.id, used))
        left -= used
    if plan.endswith("gifts") and left > 0:
        for gift in rng.sample(gifts, rng.randint(1, min(3, len(gifts)))):
            assert isinstance(gift, GiftCard)
            if left == 0:
                break
            used = min(left, int(gift.amount))
            payments.append((gift.id, used))
            left -= used
    if left > 0:
        if card is None:
            return None
        payments.append((card.id, left))
    if len(payments) == 1:
        return payments, [f"You want to pay the whole amount with {pay_mark(payments[0][0])}."]
    head = ", then ".join(pay_mark(pid) for pid, _ in payments[:-1])
    each = "as far as its value goes" if len(payments) == 2 else "each as far as its balance goes"
    return payments, [f"To pay, you want to use {head} first, {each}, and put the rest on {pay_mark(payments[-1][0])}."]


@dataclass(slots=True)
class _Booking:
    """A booking as the sampler plans it, before it becomes a piece."""

    flight_type: str
    cabin: str
    legs: list[tuple[str, str]]
    """(flight number, date), outbound then return."""
    travellers: list[Passenger]
    people_words: list[str]
    people_refs: list[FuzzyRef]
    bags: int = 0
    nonfree: int = 0
    insurance: str = "no"
    payments: list[tuple[str, int]] = field(default_factory=list)
    pay_words: list[str] = field(default_factory=list)


def build_book(d: Draft) -> list[Piece] | None:
    """A new reservation: a nonstop one-way or round trip, with seats for everyone in one cabin."""
    if d.booked or not d.can_touch({("users", d.uid)}) or not d.index.route_days:
        return None
    for _ in range(8):
        booking = _plan_booking(d)
        if booking is not None:
            return [_book_piece(d, booking)]
    return None


def _plan_booking(d: Draft) -> _Booking | None:
    index, rng = d.index, d.rng
    origin, destination, day = rng.choice(index.route_days)
    cabin = rng.choice(CABINS)
    count = rng.choices((1, 2, 3), weights=(5, 3, 2))[0]
    flight_type = "round_trip" if rng.random() < 0.5 else "one_way"
    out = offer(d, origin, destination, day, cabin, count)
    if out is None:
        return None
    legs = [(out, day)]
    if flight_type == "round_trip":
        later = [x for x in index.days_by_route.get((destination, origin), ()) if x > day]
        if not later:
            return None
        back_day = rng.choice(later)
        back = offer(d, destination, origin, back_day, cabin, count)
        if back is None:
            return None
        legs.append((back, back_day))
    travellers, words, refs = _book_people(d, count)
    booking = _Booking(flight_type, cabin, legs, travellers, words, refs)
    allowance = free_bags(d.user.membership, cabin, count)
    booking.bags = rng.randint(0, allowance + 2)
    booking.nonfree = max(0, booking.bags - allowance)
    booking.insurance = "yes" if rng.random() < 0.4 else "no"
    total = 0
    for number, leg_day in legs:
        status = index.available(number, leg_day)
        assert status is not None
        total += status.prices[cabin] * count
    total += (30 * count if booking.insurance == "yes" else 0) + 50 * booking.nonfree
    paying = _book_payment(d, total)
    if paying is None:
        return None
    booking.payments, booking.pay_words = paying
    return booking


def _book_people(d: Draft, count: int) -> tuple[list[Passenger], list[str], list[FuzzyRef]]:
    """Who flies: the user (usually), saved passengers, and new people the user introduces."""
    rng = d.rng
    profile = d.index.people(d.user)
    me, saved = profile[0], profile[1:]
    chosen: list[Passenger] = []
    words: list[str] = []
    refs: list[FuzzyRef] = []
    scope = Ref(kind="users", key=d.uid)
    if rng.random() < 0.8:
        chosen.append(me)
        words.append("you")
    pool = list(saved)
    rng.shuffle(pool)
    taken = {person(p) for p in profile}
    while len(chosen) < count:
        if pool and rng.random() < 0.6:
            who = pool.pop()
            if person(who) in {person(p) for p in chosen}:
                continue
            ref = describe_passenger(profile, who, d.level, rng, scope)
            if ref is None:
                continue
            chosen.append(who)
            refs.append(ref)
            words.append(f"{ref.text} (saved in your profile)")
        else:
            who = new_person(d, taken)
            taken.add(person(who))
            chosen.append(who)
            words.append(f"{person(who)}, born {who.dob}")
    return chosen, words, refs


def _book_piece(d: Draft, b: _Booking) -> Piece:
    index, level = d.index, d.level
    first = index.flights[b.legs[0][0]]
    arguments = {
        "user_id": d.uid,
        "origin": first.origin,
        "destination": first.destination,
        "flight_type": b.flight_type,
        "cabin": b.cabin,
        "flights": flights_arg(b.legs),
        "passengers": [{"first_name": p.first_name, "last_name": p.last_name, "dob": p.dob} for p in b.travellers],
        "payment_methods": [{"payment_id": pid, "amount": amount} for pid, amount in b.payments],
        "total_baggages": b.bags,
        "nonfree_baggages": b.nonfree,
        "insurance": b.insurance,
    }
    flight_refs = [describe_flight(index, n, day, b.cabin, level, d.rng) for n, day in b.legs]
    o, dest = where(index, first.origin, level), where(index, first.destination, level)
    trip = "a round trip" if b.flight_type == "round_trip" else "a one-way trip"
    know = [f"You want {trip} from {o} to {dest}, flying {CABIN_WORDS[b.cabin]}."]
    know.append(f"Going out, you want {flight_refs[0].text}.")
    if len(flight_refs) > 1:
        know.append(f"Coming back, you want {flight_refs[1].text}.")
    if b.people_words == ["you"]:
        know.append("You are the only passenger.")
    else:
        know.append("The passengers, in this order: " + "; ".join(b.people_words) + ".")
    bags = f"{count_word(b.bags)} bag{'s' if b.bags > 1 else ''}"
    know.append("You will not check any bags." if b.bags == 0 else f"You will check {bags} in total.")
    know.append("You want travel insurance." if b.insurance == "yes" else "You do not want travel insurance.")
    know += b.pay_words
    notes = []
    if b.people_words[0] == "you":
        notes.append("Your own date of birth is in your profile; give it only if the agent asks.")
    for number, day in b.legs:
        slot = (number, day, b.cabin)
        d.seats[slot] = d.seats.get(slot, 0) + len(b.travellers)
    d.booked = True
    d.gift_cards |= {pid for pid, _ in b.payments if isinstance(d.user.payment_methods[pid], GiftCard)}
    d.touched |= {("users", d.uid), ("reservations", NEW_RESERVATION), *(("flights", n) for n, _ in b.legs)}
    constraint = make_constraint(
        "book_reservation",
        Intent.CHANGE,
        [Ref(kind="users", key=d.uid), *(Ref(kind="flights", key=n) for n, _ in b.legs)],
        {k: v for k, v in arguments.items() if k != "user_id"},
        writes=[Call(name="book_reservation", arguments=arguments)],
    )
    reads = [
        Call(
            name="search_direct_flight",
            arguments={"origin": index.flights[n].origin, "destination": index.flights[n].destination, "date": day},
        )
        for n, day in b.legs
    ]
    return Piece(
        constraint=constraint,
        fuzzy=flight_refs + b.people_refs,
        reads=reads,
        ask=f"book {trip} from {o} to {dest}",
        know=know,
        unknown=["You do not know the flight numbers."] if level > 0 else [],
        notes=notes,
        payments=[pid for pid, _ in b.payments],
    )
