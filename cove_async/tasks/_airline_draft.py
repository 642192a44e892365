"""The state of an airline task being drafted, and the helpers every family builder shares.

A :class:`Draft` holds the requests already chosen for one user and what they use, so that the
next request never makes the result depend on the order the agent works in:

* at most one request per reservation, one booking and one certificate per task (tau2 hands out
  new ids in call order), and each gift card pays for at most one request;
* seats a booking takes are counted against every later request on the same flight and cabin,
  so any order of the writes finds enough seats (flight changes take no seats in tau2);
* records a refusal or an information request is about are never changed by another request.

Builders record what each piece changes (``touched``) and what must stay as it is
(``protected``) as they build it.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cove_async.domains._names import birth_date, person_name
from cove_async.domains.airline._records import GiftCard, Passenger, Reservation, User
from cove_async.tasks._airline_fuzzy import (
    describe_reservation,
)
from cove_async.tasks._airline_index import COVERED_REASONS, AirlineIndex, methods_of
from cove_async.tasks._model import Call, Constraint, FuzzyRef, Intent, Ref

__all__ = (
    "NEW_RESERVATION",
    "REASON_WORDS",
    "Draft",
    "Piece",
    "Slot",
    "active_unflown",
    "cancel_reasons",
    "compensable",
    "count_word",
    "describe_res",
    "flights_arg",
    "make_constraint",
    "new_person",
    "offer",
    "pay_mark",
    "res_ref",
    "where",
)

Slot = tuple[str, str]
"""(record kind, key)."""

NEW_RESERVATION = "HATHAT"  # the id tau2's book_reservation gives the first booking of a sandbox

REASON_WORDS = {
    "change_of_plans": ("your plans have changed", "a change of plans"),
    "health": ("of a health problem", "a health problem"),
    "weather": ("a storm is forecast for the travel dates", "bad weather (a storm is forecast)"),
    "airline_cancelled": ("the airline cancelled one of the flights", "the flight the airline cancelled"),
    "delay": ("one of the flights is delayed", "the delay"),
}
"""Cancellation reason to (a clause after "because", a noun phrase)."""
_NUMBER_WORDS = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
]


def count_word(n: int) -> str:
    """``3`` as ``three`` (digits past fifteen)."""
    return _NUMBER_WORDS[n] if n < len(_NUMBER_WORDS) else str(n)


@dataclass(slots=True)
class Piece:
    """One constraint and everything the task needs for it.

    Text fields may hold ``<<payment_id>>`` marks: payment methods are described once the whole
    task is known (a description must stay unique whatever else the task changes).
    """

    constraint: Constraint
    fuzzy: list[FuzzyRef]
    reads: list[Call]
    ask: str
    """The request in the user's words, after "You want to"."""
    know: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    locate: list[str] = field(default_factory=list)
    """Reservations the agent has to find among the user's."""
    payments: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Draft:
    """The requests chosen so far for one user, and what they use."""

    index: AirlineIndex
    user: User
    level: int
    rng: random.Random
    budget: int
    pieces: list[Piece] = field(default_factory=list)
    used: set[str] = field(default_factory=set)
    touched: set[Slot] = field(default_factory=set)
    protected: set[Slot] = field(default_factory=set)
    gift_cards: set[str] = field(default_factory=set)
    seats: dict[tuple[str, str, str], int] = field(default_factory=dict)
    booked: bool = False
    certificate: float | None = None

    @property
    def uid(self) -> str:
        """The user's id."""
        return self.user.user_id

    def free_seats(self, number: str, day: str, cabin: str) -> int:
        """Seats left in ``cabin`` once the task's own bookings are counted."""
        status = self.index.available(number, day)
        if status is None:
            return -1
        return status.available_seats[cabin] - self.seats.get((number, day, cabin), 0)

    def can_touch(self, slots: set[Slot]) -> bool:
        """Whether a request may change these records (no refusal or question is about them)."""
        return not slots & self.protected

    def can_protect(self, slots: set[Slot]) -> bool:
        """Whether these records can be kept as they are (no request changes them)."""
        return not slots & self.touched

    def candidates(self, ok: Callable[[Reservation], bool]) -> list[str]:
        """The user's reservations not yet in the task that ``ok`` accepts, shuffled."""
        found = [
            rid
            for rid in self.index.user_reservations[self.uid]
            if rid not in self.used and ("reservations", rid) not in self.protected and ok(self.index.reservations[rid])
        ]
        self.rng.shuffle(found)
        return found

    def update_payment(self, amount: int, *, may_touch_user: bool = True) -> str | None:
        """A credit card or gift card (not used elsewhere in the task) that can settle ``amount``.

        A gift card changes the user's record when anything is owed either way.
        """
        options: list[str] = [m.id for m in methods_of(self.user, "credit_card")]
        user_ok = may_touch_user and self.can_touch({("users", self.uid)})
        if user_ok or amount == 0:
            options += [
                m.id
                for m in methods_of(self.user, "gift_card")
                if isinstance(m, GiftCard) and m.id not in self.gift_cards and m.amount >= amount
            ]
        return self.rng.choice(options) if options else None

    def claim_payment(self, pid: str, amount: int) -> set[Slot]:
        """Record that ``pid`` settles ``amount``; the records that changes."""
        method = self.user.payment_methods[pid]
        if isinstance(method, GiftCard):
            self.gift_cards.add(pid)
            if amount != 0:
                return {("users", self.uid)}
        return set()

    def add(self, piece: Piece) -> None:
        """Append a built piece (builders record what it touches and protects as they go)."""
        self.pieces.append(piece)
        self.used.update(piece.locate)
        self.budget -= 1


# --- shared helpers ---------------------------------------------------------------------------


def active_unflown(index: AirlineIndex, r: Reservation) -> bool:
    """Not cancelled and nothing flown yet: the policy lets the agent change or cancel it."""
    facts = index.facts[r.reservation_id]
    return facts.active and not facts.flown and bool(r.flights)


def cancel_reasons(index: AirlineIndex, r: Reservation) -> tuple[list[str], list[str]]:
    """The reasons for which the policy allows cancelling ``r``, and those for which it does not."""
    facts = index.facts[r.reservation_id]
    if not facts.active or facts.flown or not r.flights:
        return [], []
    ordinary = ["change_of_plans", "health", "weather"]
    if facts.airline_cancelled:
        return [*ordinary, "airline_cancelled"], []
    if facts.recent or r.cabin == "business":
        return ordinary, []
    if r.insurance == "yes":
        return sorted(COVERED_REASONS), ["change_of_plans"]
    return [], ordinary


def compensable(user: User, r: Reservation) -> bool:
    """Whether the policy lets the agent offer this traveller a certificate at all."""
    return user.membership != "regular" or r.insurance == "yes" or r.cabin == "business"


def where(index: AirlineIndex, code: str, level: int) -> str:
    """An airport as the user names it: its code up to level 1, its city beyond."""
    return code if level <= 1 else index.city.get(code, code)


def describe_res(d: Draft, rid: str) -> FuzzyRef:
    """The user's description of one of their reservations, at the task's fuzziness."""
    return describe_reservation(d.index, rid, d.level, d.rng)


def pay_mark(pid: str) -> str:
    """A placeholder for a payment method's description, filled in once the task is complete."""
    return f"<<{pid}>>"


def make_constraint(
    family: str,
    intent: Intent,
    targets: list[Ref],
    params: dict[str, Any],
    writes: Sequence[Call] = (),
    answers: Sequence[tuple[str, ...]] = (),
    forbidden: tuple[str, ...] = (),
    rule: str = "",
) -> Constraint:
    """A constraint without its id (the task numbers them when it is assembled)."""
    return Constraint(
        id="",
        family=family,
        intent=intent,
        targets=tuple(targets),
        params=params,
        writes=tuple(writes),
        answers=tuple(answers),
        forbidden_calls=forbidden,
        rule=rule,
    )


def res_ref(rid: str) -> Ref:
    """The reference to a reservation record."""
    return Ref(kind="reservations", key=rid)


def flights_arg(pairs: list[tuple[str, str]]) -> list[dict[str, str]]:
    """(flight number, date) pairs as the ``flights`` argument of the booking tools."""
    return [{"flight_number": number, "date": day} for number, day in pairs]


def offer(d: Draft, origin: str, destination: str, day: str, cabin: str, travellers: int) -> str | None:
    """A random bookable direct flight with room for ``travellers`` more in ``cabin``."""
    fits = [
        n
        for n in d.index.direct.get((origin, destination, day), ())
        if ("flights", n) not in d.protected and d.free_seats(n, day, cabin) >= travellers
    ]
    return d.rng.choice(fits) if fits else None


def new_person(d: Draft, taken: set[str]) -> Passenger:
    """Someone not in the user's records, whose name is not in ``taken``."""
    while True:
        first, last = person_name(d.rng)
        if f"{first} {last}" not in taken:
            return Passenger(first_name=first, last_name=last, dob=birth_date(d.rng, 1945, 2012))
