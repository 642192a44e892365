"""Seeded synthetic airline worlds: tau2's shape and proportions, our own network and people.

A world is a flight network over tau2's 20 airports (the ones its ``list_all_airports`` tool
names), each flight's status on every date of a May 2024 window seen from tau2's fixed clock
(2024-05-15 15:00 EST), travellers, and their reservations. The pieces agree with each other the
way tau2's tools expect:

* times are real: block times follow great-circle distance, a date before "now" is landed or
  cancelled, the current date is landed, flying, on time or delayed according to its times,
  and later dates are bookable with seats and per-cabin prices (basic economy < economy <
  business);
* a reservation's legs are real flights on dates in the window, and a one-stop connection is one
  that tau2's ``search_onestop_flight`` would list (same day, or the next day after a "+1"
  arrival, leaving after the first leg lands);
* a reservation was created before its first departure, between 2024-04-30 and 2024-05-14; its
  one payment equals fares x passengers + insurance + non-free bags, paid with a credit card or
  gift card in the owner's profile; non-free bags are what the membership allowance leaves.
"""

from __future__ import annotations

import math
import random
import statistics
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal, TypeVar

import msgspec

from cove_async.domains._names import birth_date, email_for, person_name, postal_address, unique_number, user_id_for
from cove_async.domains.airline._records import (
    KINDS,
    Cabin,
    Certificate,
    CreditCard,
    Flight,
    FlightAvailable,
    FlightCancelled,
    FlightDateStatus,
    FlightDelayed,
    FlightFlying,
    FlightLanded,
    FlightOnTime,
    GiftCard,
    Passenger,
    Payment,
    PaymentMethod,
    Reservation,
    ReservationFlight,
    User,
    UserAddress,
    UserName,
)
from cove_async.errors import ConfigError
from cove_async.sandbox import RecordKind, Schema, Snapshot

__all__ = ("AirlineWorldSize", "airline_world_stats", "generate_airline_world")

R = TypeVar("R", bound=msgspec.Struct)

_SCHEMA = Schema(KINDS)
_FLIGHTS, _USERS, _RESERVATIONS = KINDS

_FIRST_DAY = date(2024, 5, 1)
_NOW = datetime(2024, 5, 15, 15, 0, 0)  # tau2's fixed clock
_CREATED_FROM = datetime(2024, 4, 30, 0, 0, 0)
_CREATED_TO = datetime(2024, 5, 14, 23, 59, 59)
_DAY = 24 * 60
_CABINS: tuple[Cabin, ...] = ("basic_economy", "economy", "business")
# Fare bands per cabin in whole dollars; disjoint so every flight date prices the cabins in order.
_FARES: dict[Cabin, tuple[int, int]] = {"basic_economy": (50, 99), "economy": (100, 199), "business": (200, 500)}
# Free checked bags per passenger, from tau2's airline policy.
_FREE_BAGS: dict[str, dict[Cabin, int]] = {
    "regular": {"basic_economy": 0, "economy": 1, "business": 2},
    "silver": {"basic_economy": 1, "economy": 2, "business": 3},
    "gold": {"basic_economy": 2, "economy": 3, "business": 4},
}
_RESERVED_RESERVATION_IDS = ("HATHAT", "HATHAU", "HATHAV")  # what tau2's book_reservation hands out
_RESERVED_CERTIFICATE_IDS = ("certificate_3221322", "certificate_3221323", "certificate_3221324")
_ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
# Departures cluster in the day; a few red-eyes leave around midnight.
_HOUR_WEIGHTS = (1, 1, 1, 1, 1, 3, 5, 6, 6, 6, 5, 5, 5, 5, 5, 5, 6, 6, 6, 5, 5, 4, 4, 3)

# Proportions read off tau2's airline db.json.
_MEMBERSHIPS: tuple[Literal["gold", "silver", "regular"], ...] = ("gold", "silver", "regular")
_MEMBERSHIP_WEIGHTS = (175, 182, 143)
_METHOD_COUNT_WEIGHTS = (80, 142, 111, 90, 41, 28, 8)  # users holding 1..7 payment methods
_CERTIFICATE_AMOUNTS = (100.0, 150.0, 250.0, 500.0)
_CABIN_WEIGHTS = (649, 676, 675)
_PASSENGER_WEIGHTS = (920, 662, 323, 95, 20)  # 1..5 passengers; tau2 has none with 5
# Legs per direction: one-way direct / one-stop; round trip (out, back).
_ONE_WAY_SHAPES = (((1,), 310), ((2,), 735))
_ROUND_TRIP_SHAPES = (((1, 1), 254), ((1, 2), 45), ((2, 1), 44), ((2, 2), 612))
_BAGS_PER_PASSENGER_WEIGHTS = (55, 27, 13, 5)  # 0..3 bags
_CANCELLED_SHARE = 0.09  # flight dates in the past that never flew
_DELAYED_SHARE = 0.3  # of today's departures


class AirlineWorldSize(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How big a synthetic airline world is; the defaults are the size of tau2's own.

    Attributes:
        airports: how many of tau2's 20 airports the network serves (the first ones of its list).
        flights: scheduled flights (``HAT001``...), each flying every day of the window.
        days: days in the window starting 2024-05-01 (at most 31, so it stays in May).
        users: travellers.
        reservations: reservations, spread unevenly over travellers.
        cancelled_reservations_per_1000: reservations per 1000 already cancelled (tau2 has none).
    """

    airports: int = 20
    flights: int = 300
    days: int = 30
    users: int = 500
    reservations: int = 2000
    cancelled_reservations_per_1000: int = 0


class _Airport(msgspec.Struct, frozen=True):
    iata: str
    city: str
    lat: float
    lon: float
    traffic: int  # how much of the network touches it


# tau2's airport list, in its order, with real coordinates.
_AIRPORTS = (
    _Airport("SFO", "San Francisco", 37.62, -122.38, 6),
    _Airport("JFK", "New York", 40.64, -73.78, 6),
    _Airport("LAX", "Los Angeles", 33.94, -118.41, 8),
    _Airport("ORD", "Chicago", 41.98, -87.90, 9),
    _Airport("DFW", "Dallas", 32.90, -97.04, 9),
    _Airport("DEN", "Denver", 39.86, -104.67, 8),
    _Airport("SEA", "Seattle", 47.45, -122.31, 5),
    _Airport("ATL", "Atlanta", 33.64, -84.43, 10),
    _Airport("MIA", "Miami", 25.79, -80.29, 5),
    _Airport("BOS", "Boston", 42.37, -71.01, 5),
    _Airport("PHX", "Phoenix", 33.43, -112.01, 5),
    _Airport("IAH", "Houston", 29.99, -95.34, 6),
    _Airport("LAS", "Las Vegas", 36.08, -115.15, 5),
    _Airport("MCO", "Orlando", 28.43, -81.31, 5),
    _Airport("EWR", "Newark", 40.69, -74.17, 5),
    _Airport("CLT", "Charlotte", 35.21, -80.94, 6),
    _Airport("MSP", "Minneapolis", 44.88, -93.22, 5),
    _Airport("DTW", "Detroit", 42.21, -83.35, 5),
    _Airport("PHL", "Philadelphia", 39.87, -75.24, 4),
    _Airport("LGA", "LaGuardia", 40.78, -73.87, 4),
)
_MIN_ROUTE_MILES = 60  # nobody flies JFK-LGA


@dataclass(frozen=True, slots=True)
class _Schedule:
    """A flight as the generator plans it: times in minutes, and how far it goes (0..1)."""

    number: str
    origin: str
    destination: str
    departs: int  # minutes after midnight
    minutes: int  # block time
    reach: float  # distance relative to the network's shortest (0) and longest (1) route

    @property
    def overnight(self) -> bool:
        return self.departs + self.minutes >= _DAY


@dataclass(frozen=True, slots=True)
class _Leg:
    flight: _Schedule
    day: int  # index into the window

    @property
    def departs(self) -> int:
        """Minutes from the start of the window."""
        return self.day * _DAY + self.flight.departs

    @property
    def arrives(self) -> int:
        return self.departs + self.flight.minutes


def _miles(a: _Airport, b: _Airport) -> float:
    lat1, lat2 = math.radians(a.lat), math.radians(b.lat)
    dlat, dlon = lat2 - lat1, math.radians(b.lon - a.lon)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 3958.8 * 2 * math.asin(math.sqrt(h))


def _clock(minutes: int) -> str:
    """``HH:MM:SS`` for minutes after midnight, with tau2's ``+1`` for the next day."""
    suffix = "+1" if minutes >= _DAY else ""
    minutes %= _DAY
    return f"{minutes // 60:02d}:{minutes % 60:02d}:00{suffix}"


def _day(index: int) -> str:
    return (_FIRST_DAY + timedelta(days=index)).isoformat()


def _at(day: int, minutes: int) -> datetime:
    return datetime.combine(_FIRST_DAY, datetime.min.time()) + timedelta(days=day, minutes=minutes)


def _stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def _fare(rng: random.Random, cabin: Cabin, reach: float) -> int:
    low, high = _FARES[cabin]
    return low + round((high - low) * (0.55 * reach + 0.45 * rng.random()))


def _check_size(size: AirlineWorldSize) -> None:
    if not 2 <= size.airports <= len(_AIRPORTS):
        raise ConfigError(f"airports must be between 2 and {len(_AIRPORTS)}, got {size.airports}")
    if not 1 <= size.days <= 31:
        raise ConfigError(f"days must be between 1 and 31 (the window is May 2024), got {size.days}")
    if size.flights < 1 or size.users < 1 or size.reservations < 0:
        raise ConfigError(
            f"need flights >= 1, users >= 1 and reservations >= 0, got flights={size.flights}, "
            f"users={size.users}, reservations={size.reservations}"
        )
    if not 0 <= size.cancelled_reservations_per_1000 <= 1000:
        raise ConfigError(
            f"cancelled_reservations_per_1000 must be in 0..1000, got {size.cancelled_reservations_per_1000}"
        )


def _plan_flights(rng: random.Random, size: AirlineWorldSize) -> list[_Schedule]:
    airports = _AIRPORTS[: size.airports]
    pairs = [
        (a, b, _miles(a, b))
        for i, a in enumerate(airports)
        for b in airports[i + 1 :]
        if _miles(a, b) >= _MIN_ROUTE_MILES
    ]
    # Weighted sampling without replacement (Efraimidis-Spirakis): busy pairs come first.
    ranked = sorted(pairs, key=lambda p: -(rng.random() ** (1.0 / (p[0].traffic * p[1].traffic))))
    target = min(size.flights, 2 * len(pairs), max(1, round(size.flights * 0.36)))
    routes: list[tuple[_Airport, _Airport, float]] = []
    for a, b, miles in ranked:
        # Most city pairs are served both ways; some only one way, as in tau2's network.
        if rng.random() < 0.85:
            routes += [(a, b, miles), (b, a, miles)]
        else:
            routes.append((a, b, miles) if rng.random() < 0.5 else (b, a, miles))
        if len(routes) >= target:
            break
    routes = routes[:target]
    extra = rng.choices(routes, weights=[a.traffic * b.traffic for a, b, _ in routes], k=size.flights - len(routes))
    planned = routes + extra
    rng.shuffle(planned)
    shortest = min(m for _, _, m in planned)
    longest = max(m for _, _, m in planned)
    schedules = []
    for index, (a, b, miles) in enumerate(planned, start=1):
        block = 30 * round((miles / 500 * 60 + 35) / 30)
        schedules.append(
            _Schedule(
                number=f"HAT{index:03d}",
                origin=a.iata,
                destination=b.iata,
                departs=60 * rng.choices(range(24), weights=_HOUR_WEIGHTS)[0],
                minutes=max(60, block),
                reach=(miles - shortest) / (longest - shortest) if longest > shortest else 0.5,
            )
        )
    return schedules


def _date_status(rng: random.Random, flight: _Schedule, day: int) -> FlightDateStatus:
    today = _day(day)
    now_day = _NOW.date().isoformat()
    if today > now_day:
        return FlightAvailable(
            available_seats={cabin: rng.randint(0, 20) for cabin in _CABINS},
            prices={cabin: _fare(rng, cabin, flight.reach) for cabin in _CABINS},
        )
    if today < now_day and rng.random() < _CANCELLED_SHARE:
        return FlightCancelled()
    late = rng.randint(30, 180) if today == now_day and rng.random() < _DELAYED_SHARE else rng.randint(-10, 25)
    late = max(late, -flight.departs)  # an early push-back never moves a flight to the day before
    departure = _at(day, flight.departs + late)
    arrival = departure + timedelta(minutes=flight.minutes + rng.randint(-20, 15))
    if departure > _NOW:
        kind = FlightDelayed if late >= 30 else FlightOnTime
        return kind(estimated_departure_time_est=_stamp(departure), estimated_arrival_time_est=_stamp(arrival))
    if arrival > _NOW:
        return FlightFlying(actual_departure_time_est=_stamp(departure), estimated_arrival_time_est=_stamp(arrival))
    return FlightLanded(actual_departure_time_est=_stamp(departure), actual_arrival_time_est=_stamp(arrival))


class _Network:
    """Flights indexed for itinerary search."""

    def __init__(self, flights: list[_Schedule], days: int) -> None:
        self.flights = flights
        self.days = days
        self.by_origin: dict[str, list[_Schedule]] = {}
        for f in flights:
            self.by_origin.setdefault(f.origin, []).append(f)

    def connections(self, first: _Leg, destination: str | None, avoid: str) -> list[_Leg]:
        """Second legs tau2's one-stop search would pair with ``first``, with a 1-8 h layover."""
        day = first.day + (1 if first.flight.overnight else 0)
        if day >= self.days:
            return []
        landed = first.arrives
        return [
            _Leg(f, day)
            for f in self.by_origin.get(first.flight.destination, [])
            if f.destination != avoid
            and (destination is None or f.destination == destination)
            and landed + 60 <= day * _DAY + f.departs <= landed + 480
        ]

    def path(
        self, rng: random.Random, origin: str | None, destination: str | None, day: int, earliest: int, legs: int
    ) -> list[_Leg] | None:
        """A random 1- or 2-leg path leaving on ``day``, not before minute ``earliest``, or None.

        ``None`` for ``origin`` or ``destination`` leaves that end open.
        """
        if origin is None:
            # An open start: a few random first flights are plenty to find a trip from.
            starts = rng.sample(self.flights, min(len(self.flights), 1 if legs == 1 else 12))
        else:
            starts = self.by_origin.get(origin, [])
        firsts = [_Leg(f, day) for f in starts if day * _DAY + f.departs >= earliest]
        if legs == 1:
            options = [[leg] for leg in firsts if destination is None or leg.flight.destination == destination]
        else:
            options = [
                [first, second]
                for first in firsts
                if first.flight.destination != destination
                for second in self.connections(first, destination, avoid=first.flight.origin)
            ]
        return rng.choice(options) if options else None


def _itinerary(
    rng: random.Random, network: _Network, shape: tuple[int, ...], day_weights: list[int]
) -> tuple[list[_Leg], list[_Leg]] | None:
    """Outbound and return legs for a trip of ``shape`` (legs out, legs back), or None on a miss."""
    start = rng.choices(range(network.days), weights=day_weights)[0]
    out = network.path(rng, None, None, start, 0, shape[0])
    if out is None or len(shape) == 1:
        return None if out is None else (out, [])
    home, away = out[0].flight.origin, out[-1].flight.destination
    landed = out[-1].arrives
    back_day = landed // _DAY + rng.choices(range(8), weights=(2, 3, 3, 3, 2, 2, 1, 1))[0]
    if back_day >= network.days:
        return None
    back = network.path(rng, away, home, back_day, max(landed + 120, back_day * _DAY), shape[1])
    return None if back is None else (out, back)


def _make_user(rng: random.Random, user_ids: set[str], emails: set[str], method_ids: set[str]) -> User:
    first, last = person_name(rng)
    count = rng.choices(range(1, 8), weights=_METHOD_COUNT_WEIGHTS)[0]
    sources = [rng.choice(("credit_card", "gift_card", "certificate")) for _ in range(count)]
    if "credit_card" not in sources and "gift_card" not in sources:
        # Reservations are paid by card; a profile of certificates only could not have booked.
        sources[0] = "credit_card"
    methods: dict[str, PaymentMethod] = {}
    for source in sources:
        method_id = unique_number(rng, 7, method_ids, prefix=f"{source}_")
        method: PaymentMethod
        if source == "credit_card":
            brand = rng.choice(("visa", "mastercard"))
            method = CreditCard(id=method_id, brand=brand, last_four=f"{rng.randint(0, 9999):04d}")
        elif source == "gift_card":
            method = GiftCard(id=method_id, amount=float(rng.randint(0, 300)))
        else:
            method = Certificate(id=method_id, amount=rng.choice(_CERTIFICATE_AMOUNTS))
        methods[method_id] = method
    saved = []
    for _ in range(1 if rng.random() < 0.66 else 2):
        pf, pl = person_name(rng)
        saved.append(Passenger(first_name=pf, last_name=pl, dob=birth_date(rng, 1940, 2012)))
    membership = rng.choices(_MEMBERSHIPS, weights=_MEMBERSHIP_WEIGHTS)[0]
    return User(
        user_id=user_id_for(rng, first, last, user_ids),
        name=UserName(first_name=first, last_name=last),
        address=UserAddress(**msgspec.structs.asdict(postal_address(rng))),
        email=email_for(rng, first, last, emails),
        dob=birth_date(rng, 1950, 2000),
        payment_methods=methods,
        saved_passengers=saved,
        membership=membership,
        reservations=[],
    )


def _passengers(rng: random.Random, user: User, count: int) -> list[Passenger]:
    people: list[Passenger] = []
    if rng.random() < 0.8:
        people.append(Passenger(first_name=user.name.first_name, last_name=user.name.last_name, dob=user.dob))
    saved = list(user.saved_passengers)
    while len(people) < count:
        if saved and rng.random() < 0.5:
            people.append(msgspec.structs.replace(saved.pop(rng.randrange(len(saved)))))
        else:
            first, last = person_name(rng)
            people.append(Passenger(first_name=first, last_name=last, dob=birth_date(rng, 1940, 2012)))
    return people


def _make_reservation(
    rng: random.Random,
    reservation_id: str,
    user: User,
    network: _Network,
    flights: dict[str, Flight],
    day_weights: list[int],
) -> Reservation:
    flight_type: Literal["one_way", "round_trip"] = rng.choices(("one_way", "round_trip"), weights=(1045, 955))[0]
    shapes = _ONE_WAY_SHAPES if flight_type == "one_way" else _ROUND_TRIP_SHAPES
    shape = rng.choices([s for s, _ in shapes], weights=[w for _, w in shapes])[0]
    trip = None
    for _ in range(60):
        trip = _itinerary(rng, network, shape, day_weights)
        if trip is not None:
            break
    if trip is None:
        # A network too sparse for connections or returns still has direct flights every day.
        flight_type = "one_way"
        day = rng.choices(range(network.days), weights=day_weights)[0]
        trip = ([_Leg(rng.choice(network.flights), day)], [])
    legs = trip[0] + trip[1]
    cabin = rng.choices(_CABINS, weights=_CABIN_WEIGHTS)[0]
    passengers = _passengers(rng, user, rng.choices(range(1, 6), weights=_PASSENGER_WEIGHTS)[0])
    segments = []
    for leg in legs:
        flight_date = _day(leg.day)
        status = flights[leg.flight.number].dates[flight_date]
        # Fares move after booking; about 40% of bookable legs still cost what the customer paid.
        if isinstance(status, FlightAvailable) and rng.random() < 0.4:
            price = status.prices[cabin]
        else:
            price = _fare(rng, cabin, leg.flight.reach)
        segments.append(
            ReservationFlight(
                flight_number=leg.flight.number,
                origin=leg.flight.origin,
                destination=leg.flight.destination,
                date=flight_date,
                price=price,
            )
        )
    count = len(passengers)
    insurance: Literal["yes", "no"] = "yes" if rng.random() < 0.5 else "no"
    bags = sum(rng.choices(range(4), weights=_BAGS_PER_PASSENGER_WEIGHTS, k=count))
    nonfree = max(0, bags - _FREE_BAGS[user.membership][cabin] * count)
    total = sum(s.price for s in segments) * count + (30 * count if insurance == "yes" else 0) + 50 * nonfree
    cards = [m.id for m in user.payment_methods.values() if not isinstance(m, Certificate)]
    first_departure = _at(legs[0].day, legs[0].flight.departs)
    latest = min(_CREATED_TO, first_departure - timedelta(hours=1))
    created = _CREATED_FROM + timedelta(seconds=rng.randint(0, int((latest - _CREATED_FROM).total_seconds())))
    return Reservation(
        reservation_id=reservation_id,
        user_id=user.user_id,
        origin=legs[0].flight.origin,
        destination=trip[0][-1].flight.destination,
        flight_type=flight_type,
        cabin=cabin,
        flights=segments,
        passengers=passengers,
        payment_history=[Payment(payment_id=rng.choice(cards), amount=total)],
        created_at=_stamp(created),
        total_baggages=bags,
        nonfree_baggages=nonfree,
        insurance=insurance,
    )


def generate_airline_world(size: AirlineWorldSize, seed: int) -> Snapshot:
    """A synthetic airline world of ``size``, the same for the same seed.

    Args:
        size: how many airports, flights, days, users and reservations to make.
        seed: the seed of the only random source used; equal seeds give equal SQLite bytes.

    Returns:
        The world as a snapshot.

    Raises:
        ConfigError: a size knob is out of range.
    """
    _check_size(size)
    rng = random.Random(seed)
    schedules = _plan_flights(rng, size)
    flights = {
        s.number: Flight(
            flight_number=s.number,
            origin=s.origin,
            destination=s.destination,
            scheduled_departure_time_est=_clock(s.departs),
            scheduled_arrival_time_est=_clock(s.departs + s.minutes),
            dates={_day(d): _date_status(rng, s, d) for d in range(size.days)},
        )
        for s in schedules
    }
    network = _Network(schedules, size.days)

    user_ids: set[str] = set()
    emails: set[str] = set()
    method_ids: set[str] = set(_RESERVED_CERTIFICATE_IDS)
    users = [_make_user(rng, user_ids, emails, method_ids) for _ in range(size.users)]

    # Bookable dates are twice as likely as past ones, as in tau2 (two thirds of its legs are ahead).
    now_day = _NOW.date().isoformat()
    day_weights = [2 if _day(d) > now_day else 1 for d in range(size.days)]
    # Gamma-weighted owners give the long tail of frequent flyers and travellers with none.
    activity = [rng.gammavariate(3.0, 1.0) for _ in users]
    owners = rng.choices(users, weights=activity, k=size.reservations)
    reservation_ids: set[str] = set(_RESERVED_RESERVATION_IDS)
    reservations = []
    for owner in owners:
        while True:
            reservation_id = "".join(rng.choices(_ID_CHARS, k=6))
            if reservation_id not in reservation_ids:
                reservation_ids.add(reservation_id)
                break
        reservations.append(_make_reservation(rng, reservation_id, owner, network, flights, day_weights))

    cancelled = round(size.reservations * size.cancelled_reservations_per_1000 / 1000)
    for index in sorted(rng.sample(range(len(reservations)), cancelled)):
        reservation = reservations[index]
        reservation.payment_history += [
            Payment(payment_id=p.payment_id, amount=-p.amount) for p in reservation.payment_history
        ]
        reservation.status = "cancelled"
    by_user: dict[str, list[Reservation]] = {}
    for reservation in reservations:
        by_user.setdefault(reservation.user_id, []).append(reservation)
    for user in users:
        mine = sorted(by_user.get(user.user_id, []), key=lambda r: (r.created_at, r.reservation_id))
        user.reservations = [r.reservation_id for r in mine]
    return Snapshot.from_records(
        _SCHEMA, {"flights": list(flights.values()), "users": users, "reservations": reservations}
    )


def _spread(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    return {"min": round(min(values), 2), "median": round(statistics.median(values), 2), "max": round(max(values), 2)}


def _histogram(counts: Counter[int]) -> dict[str, int]:
    return {str(k): counts[k] for k in sorted(counts)}


def _tally(values: list[str]) -> dict[str, int]:
    return dict(sorted(Counter(values).items()))


def _all(snapshot: Snapshot, kind: RecordKind[Any], cls: type[R]) -> list[R]:
    return [r for r in (snapshot.load(kind, key) for key in snapshot.keys(kind)) if isinstance(r, cls)]


def _tag(status: FlightDateStatus) -> str:
    tag = type(status).__struct_config__.tag
    return str(tag)


def airline_world_stats(snapshot: Snapshot) -> dict[str, Any]:
    """Counts and ranges of an airline world, for a README or a CLI table.

    Args:
        snapshot: an airline world (generated or imported from tau2).

    Returns:
        Nested dicts of plain numbers, grouped by flights, users and reservations.
    """
    flights = _all(snapshot, _FLIGHTS, Flight)
    users = _all(snapshot, _USERS, User)
    reservations = _all(snapshot, _RESERVATIONS, Reservation)
    instances = [(f, d, s) for f in flights for d, s in f.dates.items()]
    available = [s for _, _, s in instances if isinstance(s, FlightAvailable)]
    methods = [m for u in users for m in u.payment_methods.values()]
    source = {CreditCard: "credit_card", GiftCard: "gift_card", Certificate: "certificate"}
    kind_of = {m.id: source[type(m)] for m in methods}
    status_of = {(f.flight_number, d): s for f, d, s in instances}
    segments = [(r, s) for r in reservations for s in r.flights]
    return {
        "flights": {
            "flights": len(flights),
            "airports": len({f.origin for f in flights} | {f.destination for f in flights}),
            "routes": len({(f.origin, f.destination) for f in flights}),
            "overnight": sum("+1" in f.scheduled_arrival_time_est for f in flights),
            "dates": len({d for _, d, _ in instances}),
            "flight_dates_by_status": _tally([_tag(s) for _, _, s in instances]),
            "price": {c: _spread([s.prices[c] for s in available]) for c in _CABINS},
            "available_seats": {c: _spread([s.available_seats[c] for s in available]) for c in _CABINS},
        },
        "users": {
            "users": len(users),
            "membership": _tally([u.membership for u in users]),
            "payment_methods": _tally([kind_of[m.id] for m in methods]),
            "methods_per_user": _histogram(Counter(len(u.payment_methods) for u in users)),
            "certificate_amounts": _tally([f"{m.amount:.0f}" for m in methods if isinstance(m, Certificate)]),
            "gift_card_amount": _spread([m.amount for m in methods if isinstance(m, GiftCard)]),
            "saved_passengers": sum(len(u.saved_passengers) for u in users),
            "reservations_per_user": _histogram(Counter(len(u.reservations) for u in users)),
        },
        "reservations": {
            "reservations": len(reservations),
            "flight_type": _tally([r.flight_type for r in reservations]),
            "cabin": _tally([r.cabin for r in reservations]),
            "insurance": _tally([r.insurance for r in reservations]),
            "status": _tally([r.status or "active" for r in reservations]),
            "legs": _tally([f"{r.flight_type}/{len(r.flights)}" for r in reservations]),
            "segments": len(segments),
            "segments_by_flight_status": _tally([_tag(status_of[(s.flight_number, s.date)]) for _, s in segments]),
            "passengers": sum(len(r.passengers) for r in reservations),
            "passengers_per_reservation": _histogram(Counter(len(r.passengers) for r in reservations)),
            "paid_with": _tally(
                [kind_of.get(p.payment_id, "unknown") for r in reservations for p in r.payment_history if p.amount > 0]
            ),
            "total_baggages": sum(r.total_baggages for r in reservations),
            "nonfree_baggages": sum(r.nonfree_baggages for r in reservations),
            "payment": _spread([p.amount for r in reservations for p in r.payment_history if p.amount > 0]),
            "created_at": {
                "min": min((r.created_at for r in reservations), default=""),
                "max": max((r.created_at for r in reservations), default=""),
            },
        },
    }
