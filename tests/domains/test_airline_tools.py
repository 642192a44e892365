"""Airline tools on a small hand-built world: argument errors, tau2's quirks, fork isolation.

The conformance test replays tau2's golden actions, which all succeed; these tests pin the error
paths and the quirks that the golden actions never reach, against texts and numbers worked out
from tau2's code.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from cove_async.domains._generic import CALCULATE, TRANSFER_TO_HUMAN_AGENTS
from cove_async.domains.airline._records import (
    KINDS,
    Certificate,
    CreditCard,
    Flight,
    FlightAvailable,
    FlightCancelled,
    FlightDateStatus,
    FlightDelayed,
    FlightLanded,
    GiftCard,
    Passenger,
    Payment,
    Reservation,
    ReservationFlight,
    User,
    UserAddress,
    UserName,
)
from cove_async.domains.airline._tools import TOOLSET
from cove_async.sandbox import Fork, Sandbox, Schema, Snapshot

FLIGHTS, USERS, RESERVATIONS = KINDS
DAY = "2024-05-20"


def _open(economy_seats: int = 3, economy_price: int = 120) -> FlightAvailable:
    return FlightAvailable(
        available_seats={"basic_economy": 5, "economy": economy_seats, "business": 2},
        prices={"basic_economy": 80, "economy": economy_price, "business": 400},
    )


def _flight(
    number: str, origin: str, destination: str, departs: str, arrives: str, dates: dict[str, FlightDateStatus]
) -> Flight:
    return Flight(
        flight_number=number,
        origin=origin,
        destination=destination,
        scheduled_departure_time_est=departs,
        scheduled_arrival_time_est=arrives,
        dates=dates,
    )


def _user(user_id: str, methods: list[Any], reservations: list[str]) -> User:
    first, last, _ = user_id.split("_")
    return User(
        user_id=user_id,
        name=UserName(first_name=first.title(), last_name=last.title()),
        address=UserAddress(address1="1 Main St", address2=None, city="Austin", country="USA", state="TX", zip="78701"),
        email=f"{first}@example.com",
        dob="1980-01-01",
        payment_methods={m.id: m for m in methods},
        saved_passengers=[],
        membership="gold",
        reservations=reservations,
    )


AVA, BEN = "ava_lee_1", "ben_ray_2"
AVA_PASSENGERS = [
    Passenger(first_name="Ava", last_name="Lee", dob="1980-01-01"),
    Passenger(first_name="Max", last_name="Lee", dob="2010-02-02"),
]


def _world() -> Snapshot:
    flights = [
        _flight(
            "HAT001",
            "JFK",
            "LAX",
            "08:00:00",
            "11:00:00",
            {
                DAY: _open(),
                "2024-05-21": _open(economy_price=150),
                "2024-05-10": FlightLanded(
                    actual_departure_time_est="2024-05-10T08:02:00", actual_arrival_time_est="2024-05-10T11:01:00"
                ),
                "2024-05-16": FlightCancelled(),
                "2024-05-15": FlightDelayed(
                    estimated_departure_time_est="2024-05-15T09:00:00",
                    estimated_arrival_time_est="2024-05-15T12:00:00",
                ),
            },
        ),
        _flight("HAT002", "JFK", "ORD", "06:00:00", "08:00:00", {DAY: _open()}),
        _flight("HAT003", "ORD", "LAX", "09:00:00", "11:30:00", {DAY: _open()}),
        # Leaves ORD before HAT002 lands: never a connection.
        _flight("HAT004", "ORD", "LAX", "07:00:00", "09:30:00", {DAY: _open()}),
        # Lands after midnight.
        _flight("HAT005", "JFK", "SEA", "22:00:00", "01:00:00+1", {DAY: _open(), "2024-05-08": _open()}),
        _flight(
            "HAT006", "SEA", "LAX", "02:00:00", "04:00:00", {"2024-05-21": _open(), DAY: _open(), "2024-05-09": _open()}
        ),
        _flight("HAT007", "LAX", "JFK", "13:00:00", "21:00:00", {DAY: _open(economy_seats=1)}),
        # Leaves ORD the minute HAT002 lands: a connection (tau2 compares with >=).
        _flight("HAT008", "ORD", "LAX", "08:00:00", "10:30:00", {DAY: _open()}),
    ]
    users = [
        _user(
            AVA,
            [
                CreditCard(id="credit_card_1", brand="visa", last_four="1111"),
                GiftCard(id="gift_card_1", amount=500.0),
                Certificate(id="certificate_1", amount=100.0),
                GiftCard(id="gift_card_2", amount=20.0),
            ],
            ["ABC123"],
        ),
        _user(
            BEN,
            [
                CreditCard(id="credit_card_2", brand="amex", last_four="2222"),
                Certificate(id="certificate_3221322", amount=50.0),
            ],
            ["HATHAU"],
        ),
    ]
    reservations = [
        Reservation(
            reservation_id="ABC123",
            user_id=AVA,
            origin="JFK",
            destination="LAX",
            flight_type="one_way",
            cabin="economy",
            flights=[ReservationFlight(flight_number="HAT001", origin="JFK", destination="LAX", date=DAY, price=100)],
            passengers=list(AVA_PASSENGERS),
            payment_history=[Payment(payment_id="credit_card_1", amount=200)],
            created_at="2024-05-01T10:00:00",
            total_baggages=1,
            nonfree_baggages=0,
            insurance="no",
        ),
        # Taken already, so ids go HATHAT, HATHAV, then none.
        Reservation(
            reservation_id="HATHAU",
            user_id=BEN,
            origin="LAX",
            destination="JFK",
            flight_type="one_way",
            cabin="business",
            flights=[ReservationFlight(flight_number="HAT007", origin="LAX", destination="JFK", date=DAY, price=400)],
            passengers=[Passenger(first_name="Ben", last_name="Ray", dob="1975-03-03")],
            payment_history=[Payment(payment_id="credit_card_2", amount=400)],
            created_at="2024-05-02T10:00:00",
            total_baggages=0,
            nonfree_baggages=0,
            insurance="yes",
        ),
    ]
    return Snapshot.from_records(Schema(KINDS), {"flights": flights, "users": users, "reservations": reservations})


@pytest.fixture(scope="module")
def world() -> Snapshot:
    return _world()


@pytest.fixture
def fork(world: Snapshot) -> Fork:
    return world.fork()


def _ok(sandbox: Sandbox, name: str, **arguments: Any) -> Any:
    result = TOOLSET.execute(sandbox, name, arguments)
    assert not result.error, result.content
    try:
        return json.loads(result.content)
    except ValueError:
        return result.content


def _error(sandbox: Sandbox, name: str, **arguments: Any) -> str:
    result = TOOLSET.execute(sandbox, name, arguments)
    assert result.error, result.content
    return result.content


def _booking(**overrides: Any) -> dict[str, Any]:
    """Ava and Max on HAT001 in economy: 2 x 120 = 240 on the credit card."""
    arguments: dict[str, Any] = {
        "user_id": AVA,
        "origin": "JFK",
        "destination": "LAX",
        "flight_type": "one_way",
        "cabin": "economy",
        "flights": [{"flight_number": "HAT001", "date": DAY}],
        "passengers": [{"first_name": p.first_name, "last_name": p.last_name, "dob": p.dob} for p in AVA_PASSENGERS],
        "payment_methods": [{"payment_id": "credit_card_1", "amount": 240}],
        "total_baggages": 0,
        "nonfree_baggages": 0,
        "insurance": "no",
    }
    arguments.update(overrides)
    return arguments


def _seats(sandbox: Sandbox, number: str, day: str = DAY) -> dict[str, int]:
    flight = sandbox.get(FLIGHTS, number)
    assert isinstance(flight, Flight)
    status = flight.dates[day]
    assert isinstance(status, FlightAvailable)
    return status.available_seats


def _methods(sandbox: Sandbox, user_id: str) -> dict[str, Any]:
    user = sandbox.get(USERS, user_id)
    assert isinstance(user, User)
    return user.payment_methods


# --- every tool refuses bad arguments and changes nothing --------------------------------------

VALID: dict[str, dict[str, Any]] = {
    "book_reservation": _booking(),
    "calculate": {"expression": "1 + 2"},
    "cancel_reservation": {"reservation_id": "ABC123"},
    "get_reservation_details": {"reservation_id": "ABC123"},
    "get_user_details": {"user_id": AVA},
    "list_all_airports": {},
    "search_direct_flight": {"origin": "JFK", "destination": "LAX", "date": DAY},
    "search_onestop_flight": {"origin": "JFK", "destination": "LAX", "date": DAY},
    "send_certificate": {"user_id": AVA, "amount": 100},
    "transfer_to_human_agents": {"summary": "wants a human"},
    "update_reservation_baggages": {
        "reservation_id": "ABC123",
        "total_baggages": 2,
        "nonfree_baggages": 1,
        "payment_id": "credit_card_1",
    },
    "update_reservation_flights": {
        "reservation_id": "ABC123",
        "cabin": "economy",
        "flights": [{"flight_number": "HAT001", "date": DAY}],
        "payment_id": "credit_card_1",
    },
    "update_reservation_passengers": {
        "reservation_id": "ABC123",
        "passengers": [{"first_name": "A", "last_name": "B", "dob": "2000-01-01"}] * 2,
    },
    "get_flight_status": {"flight_number": "HAT001", "date": DAY},
}
# A value of the wrong JSON type for the first parameter of each tool.
WRONG_TYPE = {"string": 7, "integer": "7", "array": {"flight_number": "HAT001"}}


def test_the_valid_calls_cover_every_tool_and_succeed(world: Snapshot) -> None:
    assert sorted(VALID) == sorted(TOOLSET.names)
    for name, arguments in VALID.items():
        assert not TOOLSET.execute(world.fork(), name, arguments).error, name


@pytest.mark.parametrize("name", TOOLSET.names)
def test_an_unexpected_argument_is_refused_with_pythons_words(fork: Fork, name: str) -> None:
    content = _error(fork, name, **VALID[name], bogus=1)
    assert content == f"Error: AirlineTools.{name}() got an unexpected keyword argument 'bogus'"
    assert len(fork.changes()) == 0


@pytest.mark.parametrize("name", [n for n in TOOLSET.names if n != "list_all_airports"])
def test_a_missing_argument_is_refused_with_pythons_words(fork: Fork, name: str) -> None:
    first = TOOLSET.tools[name].parameters["required"][0]
    arguments = {k: v for k, v in VALID[name].items() if k != first}
    content = _error(fork, name, **arguments)
    assert content == f"Error: AirlineTools.{name}() missing 1 required positional argument: '{first}'"
    assert len(fork.changes()) == 0


@pytest.mark.parametrize("name", [n for n in TOOLSET.names if n != "list_all_airports"])
def test_a_wrongly_typed_argument_is_refused_by_name(fork: Fork, name: str) -> None:
    for parameter, schema in TOOLSET.tools[name].parameters["properties"].items():
        arguments = {**VALID[name], parameter: WRONG_TYPE[schema["type"]]}
        content = _error(fork, name, **arguments)
        assert content.startswith(f"Error: argument '{parameter}' must be "), content
    assert len(fork.changes()) == 0


@pytest.mark.parametrize(
    ("flights", "message"),
    [
        ([{"flight_number": "HAT001"}], "Error: missing required argument 'flights[0].date'"),
        ([{"flight_number": "HAT001", "date": 20}], "Error: argument 'flights[0].date' must be a string, got integer"),
        (["HAT001"], "Error: argument 'flights[0]' must be an object, got string"),
    ],
)
def test_malformed_nested_objects_are_refused(fork: Fork, flights: list[Any], message: str) -> None:
    assert _error(fork, "book_reservation", **_booking(flights=flights)) == message
    assert len(fork.changes()) == 0


def test_an_enum_value_outside_the_list_is_refused(fork: Fork) -> None:
    content = _error(fork, "book_reservation", **_booking(cabin="first"))
    assert content == "Error: argument 'cabin' must be one of 'business', 'economy', 'basic_economy', got 'first'"
    assert len(fork.changes()) == 0


def test_nested_objects_drop_unknown_keys_and_take_integral_floats(fork: Fork) -> None:
    # pydantic ignores extra keys and takes 240.0 as 240 when tau2 builds its Payment models.
    booked = _ok(
        fork,
        "book_reservation",
        **_booking(
            flights=[{"flight_number": "HAT001", "date": DAY, "cabin": "first"}],
            payment_methods=[{"payment_id": "credit_card_1", "amount": 240.0, "note": "x"}],
        ),
    )
    assert booked["flights"][0] == {
        "flight_number": "HAT001",
        "origin": "JFK",
        "destination": "LAX",
        "date": DAY,
        "price": 120,
    }
    assert booked["payment_history"] == [{"payment_id": "credit_card_1", "amount": 240}]


def test_a_fractional_amount_for_an_integer_is_refused(fork: Fork) -> None:
    payments = [{"payment_id": "credit_card_1", "amount": 239.5}]
    content = _error(fork, "book_reservation", **_booking(payment_methods=payments))
    assert content == "Error: argument 'payment_methods[0].amount' must be an integer, got number"


def test_nothing_raises_out_of_execute(fork: Fork) -> None:
    assert TOOLSET.execute(fork, "get_user_details", "{not json").error
    assert TOOLSET.execute(fork, "get_user_details", "[1]").error
    assert TOOLSET.execute(fork, "book_it", {}).content == "Error: Tool 'book_it' not found."


def test_unknown_records_use_tau2s_texts(fork: Fork) -> None:
    assert _error(fork, "get_user_details", user_id="AVA_LEE_1") == "Error: User AVA_LEE_1 not found"
    assert _error(fork, "get_reservation_details", reservation_id="ZZZ999") == "Error: Reservation ZZZ999 not found"
    assert _error(fork, "cancel_reservation", reservation_id="ZZZ999") == "Error: Reservation ZZZ999 not found"
    assert _error(fork, "send_certificate", user_id="nobody", amount=5) == "Error: User nobody not found"
    assert _error(fork, "get_flight_status", flight_number="HAT999", date=DAY) == "Error: Flight HAT999 not found"
    assert (
        _error(fork, "get_flight_status", flight_number="HAT001", date="2024-06-01")
        == "Error: Flight HAT001 not found on date 2024-06-01"
    )
    assert len(fork.changes()) == 0


# --- reads ------------------------------------------------------------------------------------


def test_reads_render_records_in_field_order(fork: Fork) -> None:
    content = TOOLSET.execute(fork, "get_reservation_details", {"reservation_id": "ABC123"}).content
    assert content.startswith('{"reservation_id": "ABC123", "user_id": "ava_lee_1", "origin": "JFK"')
    assert content.endswith('"total_baggages": 1, "nonfree_baggages": 0, "insurance": "no", "status": null}')
    user = _ok(fork, "get_user_details", user_id=AVA)
    assert user["payment_methods"]["gift_card_1"] == {"source": "gift_card", "id": "gift_card_1", "amount": 500.0}
    assert '"amount": 500.0' in TOOLSET.execute(fork, "get_user_details", {"user_id": AVA}).content


def test_list_all_airports_is_tau2s_fixed_list(fork: Fork) -> None:
    airports = _ok(fork, "list_all_airports")
    assert len(airports) == 20
    assert airports[0] == {"iata": "SFO", "city": "San Francisco"}
    assert airports[-1] == {"iata": "LGA", "city": "LaGuardia"}


def test_flight_status_is_the_bare_status(fork: Fork) -> None:
    statuses = {
        day: _ok(fork, "get_flight_status", flight_number="HAT001", date=day)
        for day in ("2024-05-10", "2024-05-15", "2024-05-16", DAY)
    }
    assert statuses == {"2024-05-10": "landed", "2024-05-15": "delayed", "2024-05-16": "cancelled", DAY: "available"}


def test_direct_search_lists_bookable_flights_only(fork: Fork) -> None:
    found = _ok(fork, "search_direct_flight", origin="JFK", destination="LAX", date=DAY)
    assert found == [
        {
            "flight_number": "HAT001",
            "origin": "JFK",
            "destination": "LAX",
            "status": "available",
            "scheduled_departure_time_est": "08:00:00",
            "scheduled_arrival_time_est": "11:00:00",
            "date": None,
            "available_seats": {"basic_economy": 5, "economy": 3, "business": 2},
            "prices": {"basic_economy": 80, "economy": 120, "business": 400},
        }
    ]
    assert _ok(fork, "search_direct_flight", origin="JFK", destination="LAX", date="2024-05-16") == []
    assert _ok(fork, "search_direct_flight", origin="LAX", destination="JFK", date="2024-05-21") == []


def test_onestop_search_pairs_legs_that_connect(fork: Fork) -> None:
    pairs = _ok(fork, "search_onestop_flight", origin="JFK", destination="LAX", date=DAY)
    legs = [(a["flight_number"], a["date"], b["flight_number"], b["date"]) for a, b in pairs]
    # HAT004 leaves ORD before HAT002 lands; HAT005 lands after midnight, so its connection is
    # looked for the next day (HAT006 on the 20th departs 02:00 too, but on the wrong day).
    assert legs == [
        ("HAT002", DAY, "HAT003", DAY),
        ("HAT002", DAY, "HAT008", DAY),
        ("HAT005", DAY, "HAT006", "2024-05-21"),
    ]


def test_onestop_next_day_is_not_zero_padded(fork: Fork) -> None:
    # tau2 looks for "2024-05-9", which no flight has, instead of "2024-05-09".
    assert _ok(fork, "search_onestop_flight", origin="JFK", destination="LAX", date="2024-05-08") == []


# --- book_reservation -------------------------------------------------------------------------


def test_booking_files_the_reservation_takes_seats_and_pays(fork: Fork) -> None:
    booked = _ok(
        fork,
        "book_reservation",
        **_booking(
            insurance="yes",
            nonfree_baggages=1,
            total_baggages=3,
            payment_methods=[
                {"payment_id": "gift_card_1", "amount": 100},
                {"payment_id": "credit_card_1", "amount": 250},
            ],
        ),
    )
    # 2 x 120 + 2 x 30 insurance + 1 x 50 bag = 350
    assert booked["reservation_id"] == "HATHAT"
    assert booked["created_at"] == "2024-05-15T15:00:00"
    assert booked["payment_history"] == [
        {"payment_id": "gift_card_1", "amount": 100},
        {"payment_id": "credit_card_1", "amount": 250},
    ]
    assert booked["status"] is None
    assert _seats(fork, "HAT001") == {"basic_economy": 5, "economy": 1, "business": 2}
    assert _methods(fork, AVA)["gift_card_1"] == GiftCard(id="gift_card_1", amount=400.0)
    assert fork.get(USERS, AVA).reservations == ["ABC123", "HATHAT"]  # type: ignore[union-attr]
    assert fork.get(RESERVATIONS, "HATHAT") is not None
    assert fork.changes().keys() == {("flights", "HAT001"), ("users", AVA), ("reservations", "HATHAT")}


def test_a_certificate_is_removed_entirely_even_when_only_part_is_used(fork: Fork) -> None:
    payments = [{"payment_id": "certificate_1", "amount": 40}, {"payment_id": "credit_card_1", "amount": 200}]
    _ok(fork, "book_reservation", **_booking(payment_methods=payments))
    assert "certificate_1" not in _methods(fork, AVA)


def test_new_ids_skip_taken_ones_and_run_out(fork: Fork) -> None:
    def book() -> Any:
        return TOOLSET.execute(
            fork,
            "book_reservation",
            _booking(cabin="basic_economy", payment_methods=[{"payment_id": "credit_card_1", "amount": 160}]),
        )

    assert json.loads(book().content)["reservation_id"] == "HATHAT"
    assert json.loads(book().content)["reservation_id"] == "HATHAV"  # HATHAU is Ben's
    before = fork.state_hash()
    assert book().content == "Error: Too many reservations"
    assert fork.state_hash() == before


def test_each_fork_gets_its_own_first_id(world: Snapshot) -> None:
    a, b = world.fork(), world.fork()
    assert _ok(a, "book_reservation", **_booking())["reservation_id"] == "HATHAT"
    assert _ok(b, "book_reservation", **_booking())["reservation_id"] == "HATHAT"
    # Each took two of the three economy seats; neither sees the other's booking.
    assert _seats(a, "HAT001")["economy"] == _seats(b, "HAT001")["economy"] == 1
    assert world.fork().get(RESERVATIONS, "HATHAT") is None


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"user_id": "nobody"}, "User nobody not found"),
        ({"flights": [{"flight_number": "HAT999", "date": DAY}]}, "Flight HAT999 not found"),
        (
            {"flights": [{"flight_number": "HAT001", "date": "2024-06-01"}]},
            "Flight HAT001 not found on date 2024-06-01",
        ),
        (
            {"flights": [{"flight_number": "HAT001", "date": "2024-05-16"}]},
            "Flight HAT001 not available on date 2024-05-16",
        ),
        ({"flights": [{"flight_number": "HAT007", "date": DAY}]}, "Not enough seats on flight HAT007"),
        ({"payment_methods": [{"payment_id": "gift_card_9", "amount": 240}]}, "Payment method gift_card_9 not found"),
        (
            {
                "payment_methods": [
                    {"payment_id": "gift_card_2", "amount": 21},
                    {"payment_id": "credit_card_1", "amount": 219},
                ]
            },
            "Not enough balance in payment method gift_card_2",
        ),
        (
            {
                "payment_methods": [
                    {"payment_id": "certificate_1", "amount": 101},
                    {"payment_id": "credit_card_1", "amount": 139},
                ]
            },
            "Not enough balance in payment method certificate_1",
        ),
        (
            {"payment_methods": [{"payment_id": "credit_card_1", "amount": 200}]},
            "Payment amount does not add up, total price is 240, but paid 200",
        ),
    ],
)
def test_a_refused_booking_changes_nothing(fork: Fork, overrides: dict[str, Any], message: str) -> None:
    assert _error(fork, "book_reservation", **_booking(**overrides)) == f"Error: {message}"
    assert len(fork.changes()) == 0


def test_a_certificate_used_twice_fails_after_paying_part(fork: Fork) -> None:
    # tau2 checks each payment line alone, then debits in order: the gift card is charged and
    # the certificate removed before the second use of it fails. No rollback, no reservation.
    payments = [
        {"payment_id": "gift_card_1", "amount": 140},
        {"payment_id": "certificate_1", "amount": 50},
        {"payment_id": "certificate_1", "amount": 50},
    ]
    assert _error(fork, "book_reservation", **_booking(payment_methods=payments)) == "Error: 'certificate_1'"
    methods = _methods(fork, AVA)
    assert methods["gift_card_1"] == GiftCard(id="gift_card_1", amount=360.0)
    assert "certificate_1" not in methods
    assert fork.changes().keys() == {("users", AVA)}


def test_a_flight_listed_twice_takes_seats_twice(fork: Fork) -> None:
    flights = [{"flight_number": "HAT001", "date": DAY}] * 2
    _ok(
        fork,
        "book_reservation",
        **_booking(flights=flights, payment_methods=[{"payment_id": "credit_card_1", "amount": 480}]),
    )
    assert _seats(fork, "HAT001")["economy"] == -1


# --- cancel, baggage, flights, passengers -----------------------------------------------------


def test_cancel_refunds_everything_on_record_and_keeps_seats(fork: Fork) -> None:
    cancelled = _ok(fork, "cancel_reservation", reservation_id="ABC123")
    assert cancelled["status"] == "cancelled"
    assert cancelled["payment_history"] == [
        {"payment_id": "credit_card_1", "amount": 200},
        {"payment_id": "credit_card_1", "amount": -200},
    ]
    # A second cancel refunds the refund too: tau2 checks nothing.
    again = _ok(fork, "cancel_reservation", reservation_id="ABC123")
    assert [p["amount"] for p in again["payment_history"]] == [200, -200, -200, 200]
    assert fork.changes().keys() == {("reservations", "ABC123")}


@pytest.mark.parametrize(
    ("payment_id", "message"),
    [
        ("credit_card_9", "Payment method not found"),
        ("certificate_1", "Certificate cannot be used to update reservation"),
        ("gift_card_2", "Gift card balance is not enough"),
    ],
)
def test_baggage_payment_rules(fork: Fork, payment_id: str, message: str) -> None:
    arguments = {"reservation_id": "ABC123", "total_baggages": 3, "nonfree_baggages": 1}
    assert _error(fork, "update_reservation_baggages", **arguments, payment_id=payment_id) == f"Error: {message}"
    assert len(fork.changes()) == 0


def test_added_bags_are_charged_to_a_gift_card(fork: Fork) -> None:
    updated = _ok(
        fork,
        "update_reservation_baggages",
        reservation_id="ABC123",
        total_baggages=4,
        nonfree_baggages=2,
        payment_id="gift_card_1",
    )
    assert (updated["total_baggages"], updated["nonfree_baggages"]) == (4, 2)
    assert updated["payment_history"][-1] == {"payment_id": "gift_card_1", "amount": 100}
    assert _methods(fork, AVA)["gift_card_1"].amount == 400.0


def test_free_bag_changes_record_no_payment_even_with_a_certificate_refused(fork: Fork) -> None:
    # Nothing owed: no payment line, and a gift card with less than nothing to pay is fine.
    updated = _ok(
        fork,
        "update_reservation_baggages",
        reservation_id="ABC123",
        total_baggages=0,
        nonfree_baggages=0,
        payment_id="gift_card_2",
    )
    assert updated["payment_history"] == [{"payment_id": "credit_card_1", "amount": 200}]
    assert updated["total_baggages"] == 0
    # The certificate check comes before the price is looked at.
    content = _error(
        fork,
        "update_reservation_baggages",
        reservation_id="ABC123",
        total_baggages=0,
        nonfree_baggages=0,
        payment_id="certificate_1",
    )
    assert content == "Error: Certificate cannot be used to update reservation"


def test_an_unchanged_segment_keeps_its_old_price(fork: Fork) -> None:
    # Booked at 100, now sold at 120: keeping it costs nothing, adding HAT001 on the 21st (150
    # each) costs 2 x 150.
    flights = [{"flight_number": "HAT001", "date": DAY}, {"flight_number": "HAT001", "date": "2024-05-21"}]
    updated = _ok(
        fork,
        "update_reservation_flights",
        reservation_id="ABC123",
        cabin="economy",
        flights=flights,
        payment_id="credit_card_1",
    )
    assert [f["price"] for f in updated["flights"]] == [100, 150]
    assert updated["payment_history"][-1] == {"payment_id": "credit_card_1", "amount": 300}
    # No seats are taken on a flight change.
    assert _seats(fork, "HAT001", "2024-05-21")["economy"] == 3


def test_a_cheaper_itinerary_credits_the_gift_card(fork: Fork) -> None:
    # Changing cabin reprices every segment: 2 x 80 now against 2 x 100 paid, so -40.
    updated = _ok(
        fork,
        "update_reservation_flights",
        reservation_id="ABC123",
        cabin="basic_economy",
        flights=[{"flight_number": "HAT001", "date": DAY}],
        payment_id="gift_card_2",
    )
    assert updated["cabin"] == "basic_economy"
    assert updated["flights"][0]["price"] == 80
    assert updated["payment_history"][-1] == {"payment_id": "gift_card_2", "amount": -40}
    assert _methods(fork, AVA)["gift_card_2"].amount == 60.0


def test_a_refused_flight_change_changes_nothing(fork: Fork) -> None:
    base = {"reservation_id": "ABC123", "cabin": "economy", "payment_id": "credit_card_1"}
    assert (
        _error(fork, "update_reservation_flights", **base, flights=[{"flight_number": "HAT007", "date": DAY}])
        == "Error: Not enough seats on flight HAT007"
    )
    assert (
        _error(
            fork,
            "update_reservation_flights",
            **{**base, "payment_id": "certificate_1"},
            flights=[{"flight_number": "HAT001", "date": "2024-05-21"}],
        )
        == "Error: Certificate cannot be used to update reservation"
    )
    assert len(fork.changes()) == 0


def test_passengers_are_replaced_only_one_for_one(fork: Fork) -> None:
    one = [{"first_name": "Ava", "last_name": "Lee", "dob": "1980-01-01"}]
    assert _error(fork, "update_reservation_passengers", reservation_id="ABC123", passengers=one) == (
        "Error: Number of passengers does not match"
    )
    two = [*one, {"first_name": "Mia", "last_name": "Lee", "dob": "2012-12-12", "seat": "1A"}]
    updated = _ok(fork, "update_reservation_passengers", reservation_id="ABC123", passengers=two)
    assert updated["passengers"][1] == {"first_name": "Mia", "last_name": "Lee", "dob": "2012-12-12"}


# --- send_certificate -------------------------------------------------------------------------


def test_certificates_take_the_first_free_fixed_id(fork: Fork) -> None:
    message = _ok(fork, "send_certificate", user_id=AVA, amount=100)
    assert message == "Certificate certificate_3221322 added to user ava_lee_1 with amount 100."
    # Stored as a float, as tau2's Certificate model does.
    assert _methods(fork, AVA)["certificate_3221322"] == Certificate(id="certificate_3221322", amount=100.0)
    assert '"certificate_3221322": {"source": "certificate", "id": "certificate_3221322", "amount": 100.0}' in (
        TOOLSET.execute(fork, "get_user_details", {"user_id": AVA}).content
    )
    # Ben holds certificate_3221322 already.
    assert _ok(fork, "send_certificate", user_id=BEN, amount=5).startswith("Certificate certificate_3221323 ")
    assert _ok(fork, "send_certificate", user_id=BEN, amount=5).startswith("Certificate certificate_3221324 ")
    before = fork.state_hash()
    assert _error(fork, "send_certificate", user_id=BEN, amount=5) == "Error: Too many certificates"
    assert fork.state_hash() == before


def test_a_used_certificate_id_is_given_out_again(fork: Fork) -> None:
    _ok(fork, "send_certificate", user_id=AVA, amount=240)
    payments = [{"payment_id": "certificate_3221322", "amount": 240}]
    _ok(fork, "book_reservation", **_booking(payment_methods=payments))
    assert _ok(fork, "send_certificate", user_id=AVA, amount=1).startswith("Certificate certificate_3221322 ")


def test_an_integral_float_amount_is_echoed_as_an_int(fork: Fork) -> None:
    # A documented difference: tau2 echoes the raw argument ("100.0"); the executor hands the
    # tool an int. The stored value is 100.0 either way.
    assert _ok(fork, "send_certificate", user_id=AVA, amount=100.0).endswith("with amount 100.")


# --- sandboxes --------------------------------------------------------------------------------


def test_searches_see_the_episodes_own_writes(fork: Fork) -> None:
    _ok(fork, "book_reservation", **_booking())
    (found,) = _ok(fork, "search_direct_flight", origin="JFK", destination="LAX", date=DAY)
    assert found["available_seats"]["economy"] == 1
    assert _ok(fork, "get_reservation_details", reservation_id="HATHAT")["user_id"] == AVA


def test_a_private_copy_gives_the_same_results_and_state(world: Snapshot) -> None:
    calls = [
        (
            "book_reservation",
            _booking(
                payment_methods=[
                    {"payment_id": "certificate_1", "amount": 100},
                    {"payment_id": "gift_card_1", "amount": 140},
                ]
            ),
        ),
        ("update_reservation_baggages", VALID["update_reservation_baggages"]),
        ("update_reservation_flights", {**VALID["update_reservation_flights"], "cabin": "business"}),
        ("send_certificate", VALID["send_certificate"]),
        ("cancel_reservation", {"reservation_id": "HATHAT"}),
        ("search_direct_flight", VALID["search_direct_flight"]),
    ]
    fork, copy = world.fork(), world.private_copy()
    for name, arguments in calls:
        assert TOOLSET.execute(fork, name, arguments) == TOOLSET.execute(copy, name, arguments), name
    assert fork.export() == copy.export()
    assert fork.state_hash() == copy.state_hash()


def test_generic_tools_are_the_shared_ones() -> None:
    assert TOOLSET.tools["calculate"] is CALCULATE
    assert TOOLSET.tools["transfer_to_human_agents"] is TRANSFER_TO_HUMAN_AGENTS


def test_write_tools_are_exactly_tau2s() -> None:
    writes = {name for name in TOOLSET.names if TOOLSET.is_write(name)}
    assert writes == {
        "book_reservation",
        "cancel_reservation",
        "update_reservation_baggages",
        "update_reservation_flights",
        "update_reservation_passengers",
        "send_certificate",
    }
