"""Airline records: tau2's airline entities as msgspec Structs.

Field names, order and types follow tau2's data model: tool outputs are these records
serialised in field order, and tau2's DB hash tells ``100.0`` from ``100`` (certificate and
gift-card amounts are floats, prices and payments ints).
"""

from __future__ import annotations

from typing import Literal

import msgspec

from cove_async.sandbox import RecordKind

__all__ = (
    "KINDS",
    "Cabin",
    "Certificate",
    "CreditCard",
    "Flight",
    "FlightDateStatus",
    "FlightAvailable",
    "FlightCancelled",
    "FlightDelayed",
    "FlightFlying",
    "FlightLanded",
    "FlightOnTime",
    "GiftCard",
    "Passenger",
    "Payment",
    "PaymentMethod",
    "Reservation",
    "ReservationFlight",
    "User",
    "UserAddress",
    "UserName",
)

Cabin = Literal["basic_economy", "economy", "business"]


class FlightAvailable(msgspec.Struct, kw_only=True, tag_field="status", tag="available"):
    """A bookable flight date: seats left and the price per cabin."""

    available_seats: dict[str, int]
    prices: dict[str, int]


class FlightLanded(msgspec.Struct, kw_only=True, tag_field="status", tag="landed"):
    actual_departure_time_est: str
    actual_arrival_time_est: str


class FlightCancelled(msgspec.Struct, kw_only=True, tag_field="status", tag="cancelled"):
    pass


class FlightDelayed(msgspec.Struct, kw_only=True, tag_field="status", tag="delayed"):
    estimated_departure_time_est: str
    estimated_arrival_time_est: str


class FlightOnTime(msgspec.Struct, kw_only=True, tag_field="status", tag="on time"):
    estimated_departure_time_est: str
    estimated_arrival_time_est: str


class FlightFlying(msgspec.Struct, kw_only=True, tag_field="status", tag="flying"):
    actual_departure_time_est: str
    estimated_arrival_time_est: str


FlightDateStatus = FlightAvailable | FlightLanded | FlightCancelled | FlightDelayed | FlightOnTime | FlightFlying


class Flight(msgspec.Struct, kw_only=True):
    """A scheduled flight and its status on each date it operates."""

    flight_number: str
    origin: str
    destination: str
    scheduled_departure_time_est: str
    scheduled_arrival_time_est: str
    dates: dict[str, FlightDateStatus]


class UserName(msgspec.Struct, kw_only=True):
    first_name: str
    last_name: str


class UserAddress(msgspec.Struct, kw_only=True):
    address1: str
    address2: str | None
    city: str
    country: str
    state: str
    zip: str


class CreditCard(msgspec.Struct, kw_only=True, tag_field="source", tag="credit_card"):
    id: str
    brand: str
    last_four: str


class GiftCard(msgspec.Struct, kw_only=True, tag_field="source", tag="gift_card"):
    id: str
    amount: float


class Certificate(msgspec.Struct, kw_only=True, tag_field="source", tag="certificate"):
    id: str
    amount: float


PaymentMethod = CreditCard | GiftCard | Certificate


class Passenger(msgspec.Struct, kw_only=True):
    first_name: str
    last_name: str
    dob: str


class User(msgspec.Struct, kw_only=True):
    """A traveller's profile: payment methods keyed by id, saved passengers, reservation ids."""

    user_id: str
    name: UserName
    address: UserAddress
    email: str
    dob: str
    payment_methods: dict[str, PaymentMethod]
    saved_passengers: list[Passenger]
    membership: Literal["gold", "silver", "regular"]
    reservations: list[str]


class ReservationFlight(msgspec.Struct, kw_only=True):
    flight_number: str
    origin: str
    destination: str
    date: str
    price: int


class Payment(msgspec.Struct, kw_only=True):
    payment_id: str
    amount: int


class Reservation(msgspec.Struct, kw_only=True):
    """A booking: its segments, passengers, money movements and extras."""

    reservation_id: str
    user_id: str
    origin: str
    destination: str
    flight_type: Literal["round_trip", "one_way"]
    cabin: Cabin
    flights: list[ReservationFlight]
    passengers: list[Passenger]
    payment_history: list[Payment]
    created_at: str
    total_baggages: int
    nonfree_baggages: int
    insurance: Literal["yes", "no"]
    status: Literal["cancelled"] | None = None


KINDS: tuple[RecordKind[msgspec.Struct], ...] = (
    RecordKind("flights", Flight, "flight_number", indexes=(("origin", "destination"),)),
    RecordKind("users", User, "user_id", indexes=(("lower(email)",),)),
    RecordKind("reservations", Reservation, "reservation_id", indexes=(("user_id",),)),
)
