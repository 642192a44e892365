"""The 14 airline agent tools, with tau2's semantics byte for byte.

Every output, error text and state change matches tau2's ``AirlineTools`` (the exact-id version
of tau2-bench 1.0.1), quirks included, because tau2 grades an episode by hashing the whole
database after replaying the agent's writes:

* no rollback: records come from :meth:`Sandbox.get_for_update` and change in place, in tau2's
  order, so a call that fails half-way leaves what it already did (``book_reservation`` paying
  twice with one certificate debits the gift cards listed before it, removes the certificate,
  then fails on the second use);
* fixed new ids: reservations ``HATHAT``, ``HATHAU``, ``HATHAV`` then "Too many reservations",
  certificates ``certificate_3221322`` to ``..24`` then "Too many certificates"; each is the
  first one not yet in *this* sandbox, so every fork of a world starts again at ``HATHAT``;
* a fixed clock (``created_at`` is always ``2024-05-15T15:00:00``);
* ``book_reservation`` takes seats and removes a certificate entirely, whatever the amount used;
  ``cancel_reservation`` checks no policy and releases no seats; ``update_reservation_flights``
  keeps the old price of an unchanged segment (same number, date and cabin), charges or refunds
  the difference, and takes no seats either;
* ``search_onestop_flight`` looks for the second leg on ``2024-05-{day + 1}`` when the first one
  lands after midnight, without zero padding and always in May;
* certificate and gift-card amounts are floats (a certificate of ``100`` is stored as ``100.0``;
  the message echoes the argument as given).

Arguments are checked by the executor before a tool runs, a little more strictly than tau2, which
passes them on unchecked and lets pydantic coerce the nested objects: a call tau2 would coerce
(``"2"`` or ``true`` for a nested integer) or fail on with a Python or pydantic message gets an
``Error: argument ... must be ...`` message here, and an integral float for an integer argument
becomes an int, so ``send_certificate`` with ``100.0`` says ``amount 100.`` where tau2 echoes
``100.0``. Unknown keys inside flights, passengers and payments are dropped, as pydantic drops them.
"""

from __future__ import annotations

from typing import Any, Literal, cast

import msgspec

from cove_async.domains._generic import CALCULATE, TRANSFER_TO_HUMAN_AGENTS
from cove_async.domains._tools import Tool, ToolKind, Toolset
from cove_async.domains.airline._records import (
    KINDS,
    Cabin,
    Certificate,
    Flight,
    FlightAvailable,
    FlightDateStatus,
    GiftCard,
    Passenger,
    Payment,
    Reservation,
    ReservationFlight,
    User,
)
from cove_async.errors import ToolCallError
from cove_async.sandbox import RecordKind, Sandbox

__all__ = ("TOOLSET",)

_KIND = {kind.name: kind for kind in KINDS}
_FLIGHTS = cast(RecordKind[Flight], _KIND["flights"])
_USERS = cast(RecordKind[User], _KIND["users"])
_RESERVATIONS = cast(RecordKind[Reservation], _KIND["reservations"])

_NEW_RESERVATION_IDS = ("HATHAT", "HATHAU", "HATHAV")
_NEW_CERTIFICATE_IDS = ("certificate_3221322", "certificate_3221323", "certificate_3221324")
_NOW = "2024-05-15T15:00:00"
_INSURANCE_PER_PASSENGER = 30
_PRICE_PER_NONFREE_BAG = 50


class AirportCode(msgspec.Struct, frozen=True, kw_only=True):
    """One airport as ``list_all_airports`` shows it."""

    iata: str
    city: str


_AIRPORTS = tuple(
    AirportCode(iata=iata, city=city)
    for iata, city in (
        ("SFO", "San Francisco"),
        ("JFK", "New York"),
        ("LAX", "Los Angeles"),
        ("ORD", "Chicago"),
        ("DFW", "Dallas"),
        ("DEN", "Denver"),
        ("SEA", "Seattle"),
        ("ATL", "Atlanta"),
        ("MIA", "Miami"),
        ("BOS", "Boston"),
        ("PHX", "Phoenix"),
        ("IAH", "Houston"),
        ("LAS", "Las Vegas"),
        ("MCO", "Orlando"),
        ("EWR", "Newark"),
        ("CLT", "Charlotte"),
        ("MSP", "Minneapolis"),
        ("DTW", "Detroit"),
        ("PHL", "Philadelphia"),
        ("LGA", "LaGuardia"),
    )
)


class DirectFlight(msgspec.Struct, kw_only=True):
    """A bookable flight on one date, as the search tools show it (tau2's field order)."""

    flight_number: str
    origin: str
    destination: str
    status: str
    scheduled_departure_time_est: str
    scheduled_arrival_time_est: str
    date: str | None
    available_seats: dict[str, int]
    prices: dict[str, int]


# --- record access, with tau2's error texts ---------------------------------------------------


def _user(sandbox: Sandbox, user_id: str, *, for_update: bool = False) -> User:
    user = sandbox.get_for_update(_USERS, user_id) if for_update else sandbox.get(_USERS, user_id)
    if user is None:
        raise ToolCallError(f"User {user_id} not found")
    return user


def _reservation(sandbox: Sandbox, reservation_id: str, *, for_update: bool = False) -> Reservation:
    if for_update:
        reservation = sandbox.get_for_update(_RESERVATIONS, reservation_id)
    else:
        reservation = sandbox.get(_RESERVATIONS, reservation_id)
    if reservation is None:
        raise ToolCallError(f"Reservation {reservation_id} not found")
    return reservation


def _flight(sandbox: Sandbox, flight_number: str) -> Flight:
    flight = sandbox.get(_FLIGHTS, flight_number)
    if flight is None:
        raise ToolCallError(f"Flight {flight_number} not found")
    return flight


def _flight_date(sandbox: Sandbox, flight_number: str, date: str) -> tuple[Flight, FlightDateStatus]:
    """The flight and its status on ``date``."""
    flight = _flight(sandbox, flight_number)
    status = flight.dates.get(date)
    if status is None:
        raise ToolCallError(f"Flight {flight_number} not found on date {date}")
    return flight, status


def _bookable(sandbox: Sandbox, flight_number: str, date: str, cabin: str, travellers: int) -> tuple[Flight, int]:
    """The flight and its current price in ``cabin``, if it can take ``travellers`` more people."""
    flight, status = _flight_date(sandbox, flight_number, date)
    if not isinstance(status, FlightAvailable):
        raise ToolCallError(f"Flight {flight_number} not available on date {date}")
    if status.available_seats[cabin] < travellers:
        raise ToolCallError(f"Not enough seats on flight {flight_number}")
    return flight, status.prices[cabin]


def _status_name(status: FlightDateStatus) -> str:
    # The status is the tag that tells the date-status Structs apart.
    return str(status.__struct_config__.tag)


def _direct_flights(
    sandbox: Sandbox, date: str, origin: str, destination: str | None = None, leave_after: str | None = None
) -> list[DirectFlight]:
    """Flights from ``origin`` bookable on ``date``, in the world's flight order.

    ``leave_after`` compares departure times as strings, as tau2 does, so an arrival time of
    ``"01:15:00+1"`` lets only flights departing at ``"01:15:01"`` or later through.
    """
    if destination is None:
        keys = sandbox.find(_FLIGHTS, "origin = ?", (origin,), lambda f: f.origin == origin)
    else:
        keys = sandbox.find(
            _FLIGHTS,
            "origin = ? AND destination = ?",
            (origin, destination),
            lambda f: f.origin == origin and f.destination == destination,
        )
    found = []
    for key in keys:
        flight = sandbox.get(_FLIGHTS, key)
        status = flight.dates.get(date) if flight is not None else None
        if flight is None or not isinstance(status, FlightAvailable):
            continue
        if leave_after is not None and flight.scheduled_departure_time_est < leave_after:
            continue
        found.append(
            DirectFlight(
                flight_number=flight.flight_number,
                origin=flight.origin,
                destination=flight.destination,
                status="available",
                scheduled_departure_time_est=flight.scheduled_departure_time_est,
                scheduled_arrival_time_est=flight.scheduled_arrival_time_est,
                date=None,
                available_seats=dict(status.available_seats),
                prices=dict(status.prices),
            )
        )
    return found


def _payment_for_update(sandbox: Sandbox, user: User, payment_id: str, price: int) -> Payment | None:
    """Charge (or, for a negative price, refund) ``price`` to one of the user's methods.

    Certificates are refused; a gift card must hold at least ``price`` and is debited (credited
    when negative). Returns the payment to record, or None when nothing is owed either way.
    """
    method = user.payment_methods.get(payment_id)
    if method is None:
        raise ToolCallError("Payment method not found")
    if isinstance(method, Certificate):
        raise ToolCallError("Certificate cannot be used to update reservation")
    if isinstance(method, GiftCard):
        if method.amount < price:
            raise ToolCallError("Gift card balance is not enough")
        card = _user(sandbox, user.user_id, for_update=True).payment_methods[payment_id]
        cast(GiftCard, card).amount -= price
    return Payment(payment_id=payment_id, amount=price) if price != 0 else None


# --- read tools -------------------------------------------------------------------------------


def get_user_details(sandbox: Sandbox, user_id: str) -> User:
    """The user's whole profile."""
    return _user(sandbox, user_id)


def get_reservation_details(sandbox: Sandbox, reservation_id: str) -> Reservation:
    """The whole reservation."""
    return _reservation(sandbox, reservation_id)


def list_all_airports(sandbox: Sandbox) -> list[AirportCode]:
    """tau2's fixed list of 20 airports (the same whatever the world holds)."""
    return list(_AIRPORTS)


def search_direct_flight(sandbox: Sandbox, origin: str, destination: str, date: str) -> list[DirectFlight]:
    """Flights from ``origin`` to ``destination`` bookable on ``date``."""
    return _direct_flights(sandbox, date, origin, destination)


def search_onestop_flight(sandbox: Sandbox, origin: str, destination: str, date: str) -> list[list[DirectFlight]]:
    """Pairs of bookable flights via one connection, the second leaving after the first lands."""
    pairs = []
    for first in _direct_flights(sandbox, date, origin):
        first.date = date
        # tau2's next-day rule: no zero padding, and always May.
        second_date = f"2024-05-{int(date[-2:]) + 1}" if "+1" in first.scheduled_arrival_time_est else date
        for second in _direct_flights(
            sandbox, second_date, first.destination, destination, leave_after=first.scheduled_arrival_time_est
        ):
            second.date = second_date
            pairs.append([first, second])
    return pairs


def get_flight_status(sandbox: Sandbox, flight_number: str, date: str) -> str:
    """The flight's status on ``date`` (``available``, ``landed``, ``delayed``, ...)."""
    _, status = _flight_date(sandbox, flight_number, date)
    return _status_name(status)


# --- write tools ------------------------------------------------------------------------------


def book_reservation(
    sandbox: Sandbox,
    user_id: str,
    origin: str,
    destination: str,
    flight_type: Literal["round_trip", "one_way"],
    cabin: Cabin,
    flights: list[dict[str, Any]],
    passengers: list[dict[str, Any]],
    payment_methods: list[dict[str, Any]],
    total_baggages: int,
    nonfree_baggages: int,
    insurance: Literal["yes", "no"],
) -> Reservation:
    """Book, check everything first, then pay, take seats and file the reservation."""
    segments = [(f["flight_number"], f["date"]) for f in flights]
    travellers = [Passenger(**p) for p in passengers]
    payments = [Payment(**p) for p in payment_methods]
    user = _user(sandbox, user_id)
    reservation_id = next((rid for rid in _NEW_RESERVATION_IDS if sandbox.get(_RESERVATIONS, rid) is None), None)
    if reservation_id is None:
        raise ToolCallError("Too many reservations")

    booked = []
    total = 0
    for flight_number, date in segments:
        flight, price = _bookable(sandbox, flight_number, date, cabin, len(travellers))
        booked.append(
            ReservationFlight(
                flight_number=flight_number,
                origin=flight.origin,
                destination=flight.destination,
                date=date,
                price=price,
            )
        )
        total += price * len(travellers)
    if insurance == "yes":
        total += _INSURANCE_PER_PASSENGER * len(travellers)
    total += _PRICE_PER_NONFREE_BAG * nonfree_baggages

    for payment in payments:
        method = user.payment_methods.get(payment.payment_id)
        if method is None:
            raise ToolCallError(f"Payment method {payment.payment_id} not found")
        if isinstance(method, GiftCard | Certificate) and method.amount < payment.amount:
            raise ToolCallError(f"Not enough balance in payment method {payment.payment_id}")
    paid = sum(payment.amount for payment in payments)
    if paid != total:
        raise ToolCallError(f"Payment amount does not add up, total price is {total}, but paid {paid}")

    user = _user(sandbox, user_id, for_update=True)
    for payment in payments:
        # Indexing, not .get(): a certificate listed twice is gone by its second use, and tau2
        # fails there with a KeyError after keeping the debits made so far.
        method = user.payment_methods[payment.payment_id]
        if isinstance(method, GiftCard):
            method.amount -= payment.amount
        elif isinstance(method, Certificate):
            del user.payment_methods[payment.payment_id]
    for flight_number, date in segments:
        # A flight listed twice gives up seats twice, as in tau2.
        taken = cast(Flight, sandbox.get_for_update(_FLIGHTS, flight_number))
        cast(FlightAvailable, taken.dates[date]).available_seats[cabin] -= len(travellers)
    reservation = Reservation(
        reservation_id=reservation_id,
        user_id=user_id,
        origin=origin,
        destination=destination,
        flight_type=flight_type,
        cabin=cabin,
        flights=booked,
        passengers=travellers,
        payment_history=payments,
        created_at=_NOW,
        total_baggages=total_baggages,
        nonfree_baggages=nonfree_baggages,
        insurance=insurance,
    )
    sandbox.insert(_RESERVATIONS, reservation)
    user.reservations.append(reservation_id)
    return reservation


def cancel_reservation(sandbox: Sandbox, reservation_id: str) -> Reservation:
    """Refund every payment on record (refunds included) and mark the reservation cancelled."""
    reservation = _reservation(sandbox, reservation_id, for_update=True)
    refunds = [Payment(payment_id=p.payment_id, amount=-p.amount) for p in reservation.payment_history]
    reservation.payment_history.extend(refunds)
    reservation.status = "cancelled"
    return reservation


def update_reservation_baggages(
    sandbox: Sandbox, reservation_id: str, total_baggages: int, nonfree_baggages: int, payment_id: str
) -> Reservation:
    """Set the bag counts, charging for added non-free bags (removing bags refunds nothing)."""
    reservation = _reservation(sandbox, reservation_id)
    user = _user(sandbox, reservation.user_id)
    price = _PRICE_PER_NONFREE_BAG * max(0, nonfree_baggages - reservation.nonfree_baggages)
    payment = _payment_for_update(sandbox, user, payment_id, price)
    reservation = _reservation(sandbox, reservation_id, for_update=True)
    if payment is not None:
        reservation.payment_history.append(payment)
    reservation.total_baggages = total_baggages
    reservation.nonfree_baggages = nonfree_baggages
    return reservation


def update_reservation_flights(
    sandbox: Sandbox, reservation_id: str, cabin: Cabin, flights: list[dict[str, Any]], payment_id: str
) -> Reservation:
    """Replace the itinerary and cabin, settling the price difference with one payment method."""
    segments = [(f["flight_number"], f["date"]) for f in flights]
    reservation = _reservation(sandbox, reservation_id)
    user = _user(sandbox, reservation.user_id)
    travellers = len(reservation.passengers)

    itinerary = []
    total = 0
    for flight_number, date in segments:
        kept = next(
            (
                s
                for s in reservation.flights
                if s.flight_number == flight_number and s.date == date and cabin == reservation.cabin
            ),
            None,
        )
        if kept is not None:
            total += kept.price * travellers
            itinerary.append(kept)
            continue
        flight, price = _bookable(sandbox, flight_number, date, cabin, travellers)
        itinerary.append(
            ReservationFlight(
                flight_number=flight_number,
                origin=flight.origin,
                destination=flight.destination,
                date=date,
                price=price,
            )
        )
        total += price * travellers
    total -= sum(s.price for s in reservation.flights) * travellers

    payment = _payment_for_update(sandbox, user, payment_id, total)
    reservation = _reservation(sandbox, reservation_id, for_update=True)
    if payment is not None:
        reservation.payment_history.append(payment)
    reservation.flights = itinerary
    reservation.cabin = cabin
    return reservation


def update_reservation_passengers(
    sandbox: Sandbox, reservation_id: str, passengers: list[dict[str, Any]]
) -> Reservation:
    """Replace the passengers; their number must stay the same."""
    travellers = [Passenger(**p) for p in passengers]
    reservation = _reservation(sandbox, reservation_id)
    if len(travellers) != len(reservation.passengers):
        raise ToolCallError("Number of passengers does not match")
    reservation = _reservation(sandbox, reservation_id, for_update=True)
    reservation.passengers = travellers
    return reservation


def send_certificate(sandbox: Sandbox, user_id: str, amount: int) -> str:
    """Add a travel certificate worth ``amount`` to the user's payment methods."""
    user = _user(sandbox, user_id)
    for certificate_id in _NEW_CERTIFICATE_IDS:
        if certificate_id not in user.payment_methods:
            user = _user(sandbox, user_id, for_update=True)
            user.payment_methods[certificate_id] = Certificate(id=certificate_id, amount=float(amount))
            return f"Certificate {certificate_id} added to user {user_id} with amount {amount}."
    raise ToolCallError("Too many certificates")


# --- the agent-facing schemas -----------------------------------------------------------------

_CABINS = ["business", "economy", "basic_economy"]


def _string(description: str, enum: list[str] | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "description": description}
    if enum is not None:
        schema["enum"] = enum
    return schema


def _integer(description: str) -> dict[str, Any]:
    return {"type": "integer", "description": description}


def _objects(description: str, fields: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """An array of objects; unknown keys in an element are ignored, as tau2's pydantic does."""
    return {
        "type": "array",
        "description": description,
        "items": {"type": "object", "properties": fields, "required": list(fields), "additionalProperties": True},
    }


def _parameters(properties: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(properties)}


_RESERVATION_ID = _string("The six-character reservation code, e.g. 'ZFA04Y'.")
_USER_ID = _string("The customer's user id, e.g. 'sara_doe_496'.")
_PAYMENT_ID = _string(
    "The id of a payment method saved in the customer's profile, e.g. 'credit_card_7815826' or "
    "'gift_card_7815826'. Certificates cannot pay for changes."
)
_SEGMENTS = {
    "flight_number": _string("The flight number, e.g. 'HAT001'."),
    "date": _string("The date the flight departs, as YYYY-MM-DD, e.g. '2024-05-01'."),
}
_PASSENGER = {
    "first_name": _string("The passenger's first name."),
    "last_name": _string("The passenger's last name."),
    "dob": _string("The passenger's date of birth, as YYYY-MM-DD."),
}
_AIRPORT_FROM = _string("The IATA code of the departure airport, e.g. 'JFK'.")
_AIRPORT_TO = _string("The IATA code of the arrival airport, e.g. 'LAX'.")
_SEARCH_DATE = _string("The travel date, as YYYY-MM-DD, e.g. '2024-05-20'.")

TOOLSET = Toolset(
    "airline",
    [
        Tool(
            name="book_reservation",
            kind=ToolKind.WRITE,
            description=(
                "Create a new reservation for a customer: the flights, the passengers, the cabin, "
                "bags and insurance, paid with payment methods saved in the customer's profile. "
                "The payments must add up exactly to the total price."
            ),
            parameters=_parameters(
                {
                    "user_id": _USER_ID,
                    "origin": _string("The IATA code of the trip's starting airport, e.g. 'SFO'."),
                    "destination": _string("The IATA code of the trip's final destination, e.g. 'JFK'."),
                    "flight_type": _string("Whether the trip is one way or a round trip.", ["round_trip", "one_way"]),
                    "cabin": _string("The cabin class for every flight of the trip.", _CABINS),
                    "flights": _objects("Every flight of the trip, in travel order.", _SEGMENTS),
                    "passengers": _objects("Everyone travelling on the reservation.", _PASSENGER),
                    "payment_methods": _objects(
                        "How the total is split across the customer's saved payment methods.",
                        {
                            "payment_id": _string("The id of a saved payment method."),
                            "amount": _integer("The whole number of dollars to charge to it."),
                        },
                    ),
                    "total_baggages": _integer("How many checked bags the reservation includes."),
                    "nonfree_baggages": _integer("How many of those bags are paid for (beyond the free allowance)."),
                    "insurance": _string("Whether to add travel insurance.", ["yes", "no"]),
                }
            ),
            run=book_reservation,
        ),
        CALCULATE,
        Tool(
            name="cancel_reservation",
            kind=ToolKind.WRITE,
            description="Cancel a whole reservation and refund its payments to the methods they came from.",
            parameters=_parameters({"reservation_id": _RESERVATION_ID}),
            run=cancel_reservation,
        ),
        Tool(
            name="get_reservation_details",
            kind=ToolKind.READ,
            description="Look up a reservation: its flights, passengers, cabin, bags, insurance and payments.",
            parameters=_parameters({"reservation_id": _RESERVATION_ID}),
            run=get_reservation_details,
        ),
        Tool(
            name="get_user_details",
            kind=ToolKind.READ,
            description=(
                "Look up a customer's profile: contact details, membership, saved passengers, "
                "payment methods and the ids of their reservations."
            ),
            parameters=_parameters({"user_id": _USER_ID}),
            run=get_user_details,
        ),
        Tool(
            name="list_all_airports",
            kind=ToolKind.READ,
            description="List the airports the airline serves, with their IATA codes and cities.",
            parameters={"type": "object", "properties": {}},
            run=list_all_airports,
        ),
        Tool(
            name="search_direct_flight",
            kind=ToolKind.READ,
            description=(
                "Find nonstop flights between two airports that can be booked on a given date, "
                "with their times, free seats and price per cabin."
            ),
            parameters=_parameters({"origin": _AIRPORT_FROM, "destination": _AIRPORT_TO, "date": _SEARCH_DATE}),
            run=search_direct_flight,
        ),
        Tool(
            name="search_onestop_flight",
            kind=ToolKind.READ,
            description=(
                "Find pairs of connecting flights between two airports with one stop, starting on "
                "a given date, with their times, free seats and price per cabin."
            ),
            parameters=_parameters({"origin": _AIRPORT_FROM, "destination": _AIRPORT_TO, "date": _SEARCH_DATE}),
            run=search_onestop_flight,
        ),
        Tool(
            name="send_certificate",
            kind=ToolKind.WRITE,
            description=(
                "Give a customer a travel certificate as compensation; it is added to their "
                "payment methods. Only do this when the policy allows it."
            ),
            parameters=_parameters(
                {"user_id": _USER_ID, "amount": _integer("The certificate's value in whole dollars.")}
            ),
            run=send_certificate,
        ),
        TRANSFER_TO_HUMAN_AGENTS,
        Tool(
            name="update_reservation_baggages",
            kind=ToolKind.WRITE,
            description=(
                "Change the number of checked bags on a reservation, paying for any added "
                "non-free bags with a saved credit card or gift card."
            ),
            parameters=_parameters(
                {
                    "reservation_id": _RESERVATION_ID,
                    "total_baggages": _integer("The new total number of checked bags."),
                    "nonfree_baggages": _integer("The new number of paid checked bags."),
                    "payment_id": _PAYMENT_ID,
                }
            ),
            run=update_reservation_baggages,
        ),
        Tool(
            name="update_reservation_flights",
            kind=ToolKind.WRITE,
            description=(
                "Change the flights or cabin of a reservation. The price difference is charged "
                "to, or refunded to, one saved credit card or gift card."
            ),
            parameters=_parameters(
                {
                    "reservation_id": _RESERVATION_ID,
                    "cabin": _string("The cabin class for the whole updated reservation.", _CABINS),
                    "flights": _objects(
                        "The complete new itinerary: every flight of the reservation after the "
                        "change, including the ones that stay the same.",
                        _SEGMENTS,
                    ),
                    "payment_id": _PAYMENT_ID,
                }
            ),
            run=update_reservation_flights,
        ),
        Tool(
            name="update_reservation_passengers",
            kind=ToolKind.WRITE,
            description=(
                "Replace the passenger details of a reservation; the number of passengers must stay the same."
            ),
            parameters=_parameters(
                {
                    "reservation_id": _RESERVATION_ID,
                    "passengers": _objects("Everyone travelling, in the reservation's order.", _PASSENGER),
                }
            ),
            run=update_reservation_passengers,
        ),
        Tool(
            name="get_flight_status",
            kind=ToolKind.READ,
            description="Tell the status of a flight on a given date, e.g. available, delayed, landed or cancelled.",
            parameters=_parameters(
                {
                    "flight_number": _string("The flight number, e.g. 'HAT001'."),
                    "date": _string("The date of the flight, as YYYY-MM-DD."),
                }
            ),
            run=get_flight_status,
        ),
    ],
    owner="AirlineTools",
)
"""The airline domain's agent tools, in the order of tau2's tool list."""
