"""Airline fuzzifiers: natural descriptions of reservations, flights, payment methods and people.

Each describer tries the descriptions of the requested difficulty in a seeded order and keeps the
first that names exactly one candidate, falling back to plainer levels down to the explicit id
(which is always unique). The candidates are what the agent could look through: the user's
reservations, the flights ``search_direct_flight`` lists for a route and date, the segments of
one reservation, the user's payment methods, the people on a profile or a reservation. The
facts a description uses are kept as ``FuzzyRef.attributes`` (airports as IATA codes, dates as
``YYYY-MM-DD``), so a resolver written apart from this module can prove the uniqueness again.

Difficulty levels: 0 names the id; 1 uses exact facts (route and date, departure time, card
brand and last four); 2 drops one of them or speaks in cities and hours; 3 is the vaguest a
traveller would still say (a destination, a part of the day, "my gift card").
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

from cove_async.domains.airline._records import (
    Certificate,
    CreditCard,
    Flight,
    FlightAvailable,
    GiftCard,
    Passenger,
    PaymentMethod,
    Reservation,
    ReservationFlight,
)
from cove_async.tasks._airline_index import AirlineIndex, method_source, part_of_day
from cove_async.tasks._model import FuzzyRef, Ref

__all__ = (
    "clock_text",
    "date_text",
    "describe_flight",
    "describe_passenger",
    "describe_payment",
    "describe_reservation",
    "describe_segment",
    "fare",
    "money",
    "person",
)

_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_BRANDS = {"visa": "Visa", "mastercard": "Mastercard", "amex": "American Express", "discover": "Discover"}

Attrs = dict[str, Any]


def date_text(day: str) -> str:
    """``2024-05-20`` as ``May 20``."""
    return f"{_MONTHS[int(day[5:7]) - 1]} {int(day[8:10])}"


def clock_text(time: str) -> str:
    """``06:00:00`` as ``6 am``, ``13:30:00`` as ``1:30 pm``."""
    hour, minute = int(time[:2]), int(time[3:5])
    suffix = "am" if hour < 12 else "pm"
    shown = hour % 12 or 12
    return f"{shown} {suffix}" if minute == 0 else f"{shown}:{minute:02d} {suffix}"


def money(amount: float) -> str:
    """``250.0`` as ``$250``, ``12.5`` as ``$12.50``."""
    return f"${amount:.0f}" if float(amount).is_integer() else f"${amount:.2f}"


def person(p: Passenger) -> str:
    """A passenger's full name."""
    return f"{p.first_name} {p.last_name}"


def _pick(
    rng: random.Random,
    level: int,
    options: Callable[[int], list[Attrs]],
    count: Callable[[Attrs], int],
    fits: Callable[[Attrs], bool],
) -> tuple[Attrs, int] | None:
    """The first description at ``level`` (else at the levels below it) that fits the target and
    nothing else, or None."""
    for wanted in range(level, -1, -1):
        choices = options(wanted)
        rng.shuffle(choices)
        for attrs in choices:
            if fits(attrs) and count(attrs) == 1:
                return attrs, wanted
    return None


def _unique(found: tuple[Attrs, int] | None) -> tuple[Attrs, int]:
    # Level 0 names a record by its id, which no other candidate shares.
    if found is None:
        raise AssertionError("an explicit id always names exactly one record")
    return found


def _where(index: AirlineIndex, code: str, level: int) -> str:
    return code if level <= 1 else index.city.get(code, code)


# --- reservations ---------------------------------------------------------------------------


def reservation_matches(index: AirlineIndex, reservation: Reservation, attrs: Attrs) -> bool:
    """Whether ``reservation`` fits the description ``attrs``."""
    for key, value in attrs.items():
        if key == "reservation_id" and reservation.reservation_id != value:
            return False
        if key == "origin" and reservation.origin != value:
            return False
        if key == "destination" and reservation.destination != value:
            return False
        if key == "date" and (not reservation.flights or reservation.flights[0].date != value):
            return False
        if key == "passenger" and all(person(p) != value for p in reservation.passengers):
            return False
    return True


def describe_reservation(index: AirlineIndex, rid: str, level: int, rng: random.Random) -> FuzzyRef:
    """How the user names one of their reservations, unique among all of theirs."""
    reservation = index.reservations[rid]
    user = index.users[reservation.user_id]
    mine = [index.reservations[r] for r in index.user_reservations[reservation.user_id]]
    first_day = reservation.flights[0].date if reservation.flights else ""
    me = f"{user.name.first_name} {user.name.last_name}"
    others = [person(p) for p in reservation.passengers if person(p) != me]

    def options(wanted: int) -> list[Attrs]:
        o, d = reservation.origin, reservation.destination
        if wanted == 0:
            return [{"reservation_id": rid}]
        if wanted == 1:
            return [{"origin": o, "destination": d, "date": first_day}]
        if wanted == 2:
            return [{"origin": o, "destination": d}, {"destination": d, "date": first_day}]
        return [{"destination": d}, {"date": first_day}, {"origin": o}] + [{"passenger": n} for n in others[:1]]

    def count(attrs: Attrs) -> int:
        return sum(reservation_matches(index, r, attrs) for r in mine)

    attrs, achieved = _unique(_pick(rng, level, options, count, lambda a: reservation_matches(index, reservation, a)))
    return FuzzyRef(
        ref=Ref(kind="reservations", key=rid),
        strategy="+".join(attrs),
        text=_reservation_text(index, reservation, attrs, achieved),
        attributes=attrs,
        scope=Ref(kind="users", key=reservation.user_id),
        difficulty=achieved,
    )


def _reservation_text(index: AirlineIndex, reservation: Reservation, attrs: Attrs, level: int) -> str:
    trip = "round trip" if reservation.flight_type == "round_trip" else "trip"
    o = _where(index, attrs.get("origin", ""), level)
    d = _where(index, attrs.get("destination", ""), level)
    day = date_text(attrs["date"]) if "date" in attrs else ""
    keys = set(attrs)
    if keys == {"reservation_id"}:
        return f"reservation {attrs['reservation_id']}"
    if keys == {"origin", "destination", "date"}:
        return f"your {trip} from {o} to {d} departing {day}"
    if keys == {"origin", "destination"}:
        return f"your {o} to {d} {trip}"
    if keys == {"destination", "date"}:
        return f"your {trip} to {d} on {day}"
    if keys == {"destination"}:
        return f"your {trip} to {d}"
    if keys == {"origin"}:
        return f"your {trip} out of {o}"
    if keys == {"date"}:
        return f"the {trip} that starts on {day}"
    return f"the booking you made for {attrs['passenger']}"


# --- flights on offer -----------------------------------------------------------------------


def fare(flight: Flight, day: str, cabin: str) -> int | None:
    """The flight's price in ``cabin`` on ``day``, if it is bookable then."""
    status = flight.dates.get(day)
    return status.prices[cabin] if isinstance(status, FlightAvailable) else None


def flight_matches(flight: Flight, attrs: Attrs, offered: Sequence[Flight]) -> bool:
    """Whether ``flight`` (one of the ``offered`` flights of a route and date) fits ``attrs``."""
    departs = flight.scheduled_departure_time_est
    for key, value in attrs.items():
        if key == "flight_number" and flight.flight_number != value:
            return False
        if key == "departure" and departs[:5] != value:
            return False
        if key == "departure_hour" and int(departs[:2]) != value:
            return False
        if key == "part_of_day" and part_of_day(departs) != value:
            return False
        if key == "cheapest":
            price = fare(flight, attrs["date"], value)
            if price is None or any(
                (other := fare(f, attrs["date"], value)) is not None and other <= price
                for f in offered
                if f is not flight
            ):
                return False
    return True


def describe_flight(index: AirlineIndex, number: str, day: str, cabin: str, level: int, rng: random.Random) -> FuzzyRef:
    """How a traveller names a flight on offer, unique among the direct flights of its route that day."""
    flight = index.flights[number]
    route = {"origin": flight.origin, "destination": flight.destination, "date": day}
    offered = [index.flights[n] for n in index.direct[(flight.origin, flight.destination, day)]]
    departs = flight.scheduled_departure_time_est

    def options(wanted: int) -> list[Attrs]:
        if wanted == 0:
            return [{**route, "flight_number": number}]
        if wanted == 1:
            return [{**route, "departure": departs[:5]}]
        if wanted == 2:
            return [{**route, "departure_hour": int(departs[:2])}]
        return [{**route, "part_of_day": part_of_day(departs)}, {**route, "cheapest": cabin}]

    def count(attrs: Attrs) -> int:
        return sum(flight_matches(f, attrs, offered) for f in offered)

    attrs, achieved = _unique(_pick(rng, level, options, count, lambda a: flight_matches(flight, a, offered)))
    return FuzzyRef(
        ref=Ref(kind="flights", key=number),
        strategy="+".join(k for k in attrs if k not in route) or "route",
        text=_flight_text(index, attrs, achieved),
        attributes=attrs,
        difficulty=achieved,
    )


def _flight_text(index: AirlineIndex, attrs: Attrs, level: int) -> str:
    o = _where(index, attrs["origin"], level)
    d = _where(index, attrs["destination"], level)
    day = date_text(attrs["date"])
    if "flight_number" in attrs:
        return f"flight {attrs['flight_number']} from {o} to {d} on {day}"
    if "departure" in attrs:
        return f"the {attrs['departure']} flight from {o} to {d} on {day}"
    if "departure_hour" in attrs:
        hour = clock_text(f"{attrs['departure_hour']:02d}:00")
        return f"the {hour} flight from {o} to {d} on {day}"
    if "part_of_day" in attrs:
        when = "overnight" if attrs["part_of_day"] == "night" else f"{attrs['part_of_day']}"
        return f"the {when} nonstop from {o} to {d} on {day}"
    return f"the cheapest nonstop from {o} to {d} on {day} in {attrs['cheapest'].replace('_', ' ')}"


# --- segments of a reservation --------------------------------------------------------------


def segment_matches(segment: ReservationFlight, attrs: Attrs) -> bool:
    """Whether a reservation segment fits ``attrs``."""
    return all(getattr(segment, key) == value for key, value in attrs.items())


def describe_segment(index: AirlineIndex, rid: str, position: int, level: int, rng: random.Random) -> FuzzyRef:
    """How the user names one flight of their reservation, unique among its segments."""
    segments = index.reservations[rid].flights
    segment = segments[position]

    def options(wanted: int) -> list[Attrs]:
        if wanted == 0:
            return [{"flight_number": segment.flight_number, "date": segment.date}]
        if wanted == 1:
            return [{"origin": segment.origin, "destination": segment.destination, "date": segment.date}]
        return [{"origin": segment.origin, "destination": segment.destination}]

    def count(attrs: Attrs) -> int:
        return sum(segment_matches(s, attrs) for s in segments)

    attrs, achieved = _unique(_pick(rng, level, options, count, lambda a: segment_matches(segment, a)))
    if "flight_number" in attrs:
        text = f"flight {attrs['flight_number']} on {date_text(attrs['date'])}"
    else:
        o, d = _where(index, attrs["origin"], achieved), _where(index, attrs["destination"], achieved)
        text = f"the flight from {o} to {d}" + (f" on {date_text(attrs['date'])}" if "date" in attrs else "")
    return FuzzyRef(
        ref=Ref(kind="flights", key=segment.flight_number),
        strategy="segment:" + "+".join(attrs),
        text=text,
        attributes=attrs,
        scope=Ref(kind="reservations", key=rid),
        difficulty=achieved,
    )


# --- payment methods ------------------------------------------------------------------------


def payment_matches(method: PaymentMethod, attrs: Attrs) -> bool:
    """Whether a payment method fits ``attrs``."""
    for key, value in attrs.items():
        if key == "payment_id" and method.id != value:
            return False
        if key == "source" and method_source(method) != value:
            return False
        if key in ("brand", "last_four") and (not isinstance(method, CreditCard) or getattr(method, key) != value):
            return False
        if key == "amount" and (not isinstance(method, GiftCard | Certificate) or method.amount != value):
            return False
    return True


def describe_payment(
    methods: Sequence[PaymentMethod],
    pid: str,
    level: int,
    rng: random.Random,
    user_id: str,
    *,
    amounts_stable: bool,
) -> FuzzyRef:
    """How the user names a payment method, unique among ``methods``.

    ``methods`` are all the methods the user has at any point of the task (a certificate the
    task sends them included). ``amounts_stable`` says no other part of the task changes a
    balance, so a gift card may be named by its balance.
    """
    method = next(m for m in methods if m.id == pid)
    source = method_source(method)

    def options(wanted: int) -> list[Attrs]:
        if wanted == 0:
            return [{"payment_id": pid}]
        if isinstance(method, CreditCard):
            if wanted == 1:
                return [{"source": source, "brand": method.brand, "last_four": method.last_four}]
            return [{"source": source}, {"source": source, "brand": method.brand}, {"last_four": method.last_four}]
        by_amount = [{"source": source, "amount": method.amount}]
        if isinstance(method, GiftCard) and not amounts_stable:
            by_amount = []
        if wanted == 1:
            return by_amount
        return [{"source": source}, *by_amount]

    def count(attrs: Attrs) -> int:
        return sum(payment_matches(m, attrs) for m in methods)

    attrs, achieved = _unique(_pick(rng, level, options, count, lambda a: payment_matches(method, a)))
    return FuzzyRef(
        ref=Ref(kind="payment_methods", key=pid),
        strategy="+".join(attrs),
        text=_payment_text(attrs),
        attributes=attrs,
        scope=Ref(kind="users", key=user_id),
        difficulty=achieved,
    )


def _payment_text(attrs: Attrs) -> str:
    if "payment_id" in attrs:
        return f"payment method {attrs['payment_id']}"
    if "last_four" in attrs and "brand" in attrs:
        return f"your {_BRANDS.get(attrs['brand'], attrs['brand'].title())} card ending in {attrs['last_four']}"
    if "last_four" in attrs:
        return f"the card ending in {attrs['last_four']}"
    if "brand" in attrs:
        return f"your {_BRANDS.get(attrs['brand'], attrs['brand'].title())} credit card"
    noun = attrs["source"].replace("_", " ")
    if attrs["source"] == "certificate":
        noun = "travel certificate"
    if "amount" in attrs:
        if attrs["source"] == "gift_card":
            return f"your gift card with {money(attrs['amount'])} on it"
        return f"your {money(attrs['amount'])} travel certificate"
    return f"your {noun}"


# --- people ---------------------------------------------------------------------------------


def passenger_matches(candidate: Passenger, attrs: Attrs) -> bool:
    """Whether a person fits ``attrs`` (names compared without case)."""
    return all(getattr(candidate, key).lower() == str(value).lower() for key, value in attrs.items())


def describe_passenger(
    people: Sequence[Passenger], who: Passenger, level: int, rng: random.Random, scope: Ref
) -> FuzzyRef | None:
    """How the user names a person among ``people`` (a profile's or a reservation's).

    None when nothing tells them apart (two entries with the same name and birth date).
    """

    def options(wanted: int) -> list[Attrs]:
        if wanted == 0:
            return [{"first_name": who.first_name, "last_name": who.last_name, "dob": who.dob}]
        if wanted <= 2:
            return [{"first_name": who.first_name, "last_name": who.last_name}]
        return [{"first_name": who.first_name}]

    def count(attrs: Attrs) -> int:
        return sum(passenger_matches(p, attrs) for p in people)

    found = _pick(rng, level, options, count, lambda a: passenger_matches(who, a))
    if found is None:
        return None
    attrs, achieved = found
    text = f"{attrs['first_name']} {attrs.get('last_name', '')}".strip()
    if "dob" in attrs:
        text += f" (born {attrs['dob']})"
    return FuzzyRef(
        ref=Ref(kind="passengers", key=f"{person(who)} ({who.dob})"),
        strategy="+".join(attrs),
        text=text,
        attributes=attrs,
        scope=scope,
        difficulty=achieved,
    )
