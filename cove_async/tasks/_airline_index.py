"""What the airline sampler knows about a world: records decoded once, and the policy's facts.

A world (synthetic or tau2's) is read once into plain indexes: every user, reservation and
flight decoded, the bookable direct flights per route and date in the order
``search_direct_flight`` lists them, and per reservation the facts the airline policy turns on
(has a segment flown, did the airline cancel or delay one, was it booked in the last 24 hours).
The index is cached per snapshot; the records in it are shared and never mutated: the sampler
only reads them, and every write runs on a fork.
"""

from __future__ import annotations

import json
import weakref
from dataclasses import dataclass
from typing import cast

from cove_async.domains.airline import KINDS, TOOLSET
from cove_async.domains.airline._records import (
    Certificate,
    CreditCard,
    Flight,
    FlightAvailable,
    FlightDateStatus,
    GiftCard,
    Passenger,
    PaymentMethod,
    Reservation,
    User,
)
from cove_async.sandbox import RecordKind, Snapshot

__all__ = (
    "CABINS",
    "CABIN_WORDS",
    "COVERED_REASONS",
    "FREE_BAGS",
    "AirlineIndex",
    "ResFacts",
    "airline_index",
    "free_bags",
    "method_source",
    "part_of_day",
    "status_name",
)

FLIGHTS = cast(RecordKind[Flight], KINDS[0])
USERS = cast(RecordKind[User], KINDS[1])
RESERVATIONS = cast(RecordKind[Reservation], KINDS[2])

NOW = "2024-05-15T15:00:00"
"""tau2's fixed clock."""
DAY_BEFORE_NOW = "2024-05-14T15:00:00"
"""A reservation created after this was booked within the last 24 hours."""
TODAY = NOW[:10]

CABINS = ("basic_economy", "economy", "business")
CABIN_WORDS = {"basic_economy": "basic economy", "economy": "economy", "business": "business"}
FREE_BAGS = {
    "regular": {"basic_economy": 0, "economy": 1, "business": 2},
    "silver": {"basic_economy": 1, "economy": 2, "business": 3},
    "gold": {"basic_economy": 2, "economy": 3, "business": 4},
}
"""Free checked bags per passenger, by the booking user's membership and the cabin (policy)."""
COVERED_REASONS = frozenset({"health", "weather"})
"""Cancellation reasons travel insurance covers (policy: health or weather)."""


def free_bags(membership: str, cabin: str, passengers: int) -> int:
    """The reservation's free checked-bag allowance."""
    return FREE_BAGS[membership][cabin] * passengers


def status_name(status: FlightDateStatus) -> str:
    """The status word ``get_flight_status`` answers with."""
    return str(type(status).__struct_config__.tag)


def method_source(method: PaymentMethod) -> str:
    """``credit_card``, ``gift_card`` or ``certificate``."""
    return str(type(method).__struct_config__.tag)


def part_of_day(departure: str) -> str:
    """How a traveller names the time of a departure ``HH:MM:SS``."""
    hour = int(departure[:2])
    if hour < 5:
        return "night"
    if hour < 12:
        return "morning"
    if hour < 17:
        return "afternoon"
    return "evening"


@dataclass(frozen=True, slots=True)
class ResFacts:
    """The policy-relevant facts of one reservation.

    Attributes:
        active: not cancelled.
        flown: some segment has landed or is in the air (policy: transfer, never change or cancel).
        all_bookable: every segment's date is still bookable (status available), so the cabin can
            change: ``update_reservation_flights`` re-prices every segment when the cabin changes.
        airline_cancelled: indexes of segments the airline cancelled.
        delayed: indexes of segments delayed today.
        recent: booked within the last 24 hours.
        outbound: how many leading segments make up the outbound direction.
        consistent_bags: the non-free bag count is what the allowance leaves (so adding bags has
            one policy answer).
    """

    active: bool
    flown: bool
    all_bookable: bool
    airline_cancelled: tuple[int, ...]
    delayed: tuple[int, ...]
    recent: bool
    outbound: int
    consistent_bags: bool


class AirlineIndex:
    """A world's records, decoded once and indexed for sampling.

    Args:
        snapshot: the world.
    """

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.user_ids = list(snapshot.keys(USERS))
        self.users: dict[str, User] = {k: cast(User, snapshot.load(USERS, k)) for k in self.user_ids}
        self.reservations: dict[str, Reservation] = {
            k: cast(Reservation, snapshot.load(RESERVATIONS, k)) for k in snapshot.keys(RESERVATIONS)
        }
        self.flight_numbers = list(snapshot.keys(FLIGHTS))
        self.flights: dict[str, Flight] = {k: cast(Flight, snapshot.load(FLIGHTS, k)) for k in self.flight_numbers}
        airports = json.loads(TOOLSET.execute(snapshot.fork(), "list_all_airports", {}).content)
        self.city: dict[str, str] = {a["iata"]: a["city"] for a in airports}
        # Bookable direct flights per (origin, destination, date), in the order the search lists them.
        self.direct: dict[tuple[str, str, str], list[str]] = {}
        for number in self.flight_numbers:
            flight = self.flights[number]
            for day, status in flight.dates.items():
                if isinstance(status, FlightAvailable):
                    self.direct.setdefault((flight.origin, flight.destination, day), []).append(number)
        self.route_days = sorted(self.direct)
        self.days_by_route: dict[tuple[str, str], list[str]] = {}
        for origin, destination, day in self.route_days:
            self.days_by_route.setdefault((origin, destination), []).append(day)
        # A user's reservations: the ones their profile lists, then any other record naming them.
        self.user_reservations: dict[str, list[str]] = {uid: [] for uid in self.user_ids}
        for uid, user in self.users.items():
            self.user_reservations[uid] = [r for r in user.reservations if r in self.reservations]
        for rid, reservation in self.reservations.items():
            mine = self.user_reservations.setdefault(reservation.user_id, [])
            if rid not in mine:
                mine.append(rid)
        self.facts = {rid: self._facts(r) for rid, r in self.reservations.items()}

    def status(self, flight_number: str, day: str) -> FlightDateStatus | None:
        """The flight's status on ``day``."""
        flight = self.flights.get(flight_number)
        return None if flight is None else flight.dates.get(day)

    def available(self, flight_number: str, day: str) -> FlightAvailable | None:
        """The flight's seats and prices on ``day`` if it is bookable then."""
        status = self.status(flight_number, day)
        return status if isinstance(status, FlightAvailable) else None

    def _facts(self, reservation: Reservation) -> ResFacts:
        statuses = [self.status(s.flight_number, s.date) for s in reservation.flights]
        names = [status_name(s) if s is not None else "unknown" for s in statuses]
        outbound = len(reservation.flights)
        if reservation.flight_type == "round_trip":
            for i, segment in enumerate(reservation.flights):
                if segment.destination == reservation.destination:
                    outbound = i + 1
                    break
        user = self.users.get(reservation.user_id)
        consistent = user is not None and reservation.nonfree_baggages == max(
            0,
            reservation.total_baggages - free_bags(user.membership, reservation.cabin, len(reservation.passengers)),
        )
        return ResFacts(
            active=reservation.status is None,
            flown=any(n in ("landed", "flying") for n in names),
            all_bookable=bool(names) and all(n == "available" for n in names),
            airline_cancelled=tuple(i for i, n in enumerate(names) if n == "cancelled"),
            delayed=tuple(i for i, n in enumerate(names) if n == "delayed"),
            recent=reservation.created_at > DAY_BEFORE_NOW,
            outbound=outbound,
            consistent_bags=consistent,
        )

    def people(self, user: User) -> list[Passenger]:
        """Who a user can book without new details: themself, then their saved passengers."""
        me = Passenger(first_name=user.name.first_name, last_name=user.name.last_name, dob=user.dob)
        return [me, *user.saved_passengers]


_CACHE: weakref.WeakKeyDictionary[Snapshot, AirlineIndex] = weakref.WeakKeyDictionary()


def airline_index(snapshot: Snapshot) -> AirlineIndex:
    """The index of ``snapshot``, built on first use and cached while the snapshot lives."""
    index = _CACHE.get(snapshot)
    if index is None:
        index = _CACHE[snapshot] = AirlineIndex(snapshot)
    return index


def methods_of(user: User, source: str) -> list[PaymentMethod]:
    """The user's payment methods of one source, in profile order."""
    kind = {"credit_card": CreditCard, "gift_card": GiftCard, "certificate": Certificate}[source]
    return [m for m in user.payment_methods.values() if isinstance(m, kind)]
