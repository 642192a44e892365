"""Synthetic worlds: seeded determinism, size knobs, internal consistency, and tools running on them.

The consistency checks walk every record of a default-size world (tau2's size), so a rare
generator slip (a payment off by a cent, a leg that does not connect) shows up here.
"""

from __future__ import annotations

import itertools
import json
import random
import re
from collections import Counter
from datetime import datetime, timedelta
from typing import Any, TypeVar

import msgspec
import pytest

from cove_async.domains.airline import _records as air
from cove_async.domains.airline._world import AirlineWorldSize, airline_world_stats, generate_airline_world
from cove_async.domains.retail import _records as shop
from cove_async.domains.retail._world import RetailWorldSize, generate_retail_world, retail_world_stats
from cove_async.errors import ConfigError
from cove_async.sandbox import RecordKind, Sandbox, Snapshot

R = TypeVar("R", bound=msgspec.Struct)

SMALL_RETAIL = RetailWorldSize(users=30, products=8, orders=80)
SMALL_AIRLINE = AirlineWorldSize(airports=6, flights=30, users=20, reservations=60)
NOW = "2024-05-15T15:00:00"
TAU2_AIRPORTS = (
    "SFO JFK LAX ORD DFW DEN SEA ATL MIA BOS PHX IAH LAS MCO EWR CLT MSP DTW PHL LGA".split()  # noqa: SIM905
)


def _get(world: Snapshot | Sandbox, kind: RecordKind[Any], key: str, cls: type[R]) -> R:
    record = world.load(kind, key) if isinstance(world, Snapshot) else world.get(kind, key)
    assert isinstance(record, cls)
    return record


def _all(snapshot: Snapshot, kind: RecordKind[Any], cls: type[R]) -> list[R]:
    records = [snapshot.load(kind, key) for key in snapshot.keys(kind)]
    assert all(isinstance(r, cls) for r in records)
    return records  # type: ignore[return-value]


@pytest.fixture(scope="module")
def retail() -> Snapshot:
    return generate_retail_world(RetailWorldSize(), seed=7)


@pytest.fixture(scope="module")
def airline() -> Snapshot:
    return generate_airline_world(AirlineWorldSize(), seed=7)


# --- determinism --------------------------------------------------------------------------------


def test_same_seed_gives_identical_bytes_and_export() -> None:
    a, b = generate_retail_world(SMALL_RETAIL, 3), generate_retail_world(SMALL_RETAIL, 3)
    assert a.to_bytes() == b.to_bytes()
    assert json.dumps(a.fork().export()) == json.dumps(b.fork().export())
    c, d = generate_airline_world(SMALL_AIRLINE, 3), generate_airline_world(SMALL_AIRLINE, 3)
    assert c.to_bytes() == d.to_bytes()
    assert json.dumps(c.fork().export()) == json.dumps(d.fork().export())


def test_different_seeds_give_different_worlds() -> None:
    assert generate_retail_world(SMALL_RETAIL, 1).to_bytes() != generate_retail_world(SMALL_RETAIL, 2).to_bytes()
    assert generate_airline_world(SMALL_AIRLINE, 1).to_bytes() != generate_airline_world(SMALL_AIRLINE, 2).to_bytes()


def test_generation_leaves_the_global_random_state_alone() -> None:
    random.seed(11)
    expected = random.random()
    random.seed(11)
    generate_retail_world(SMALL_RETAIL, 0)
    generate_airline_world(SMALL_AIRLINE, 0)
    assert random.random() == expected


@pytest.mark.slow
def test_default_size_worlds_are_deterministic(retail: Snapshot, airline: Snapshot) -> None:
    assert generate_retail_world(RetailWorldSize(), seed=7).to_bytes() == retail.to_bytes()
    assert generate_airline_world(AirlineWorldSize(), seed=7).to_bytes() == airline.to_bytes()


# --- size knobs -----------------------------------------------------------------------------------


def test_retail_size_knobs_are_respected() -> None:
    size = RetailWorldSize(
        users=25,
        products=12,
        orders=200,
        min_variants=3,
        max_variants=6,
        item_modified_per_1000=100,
        exchange_requested_per_1000=50,
        return_requested_per_1000=150,
    )
    world = generate_retail_world(size, 5)
    products = _all(world, shop.KINDS[0], shop.Product)
    assert len(products) == 12
    assert len({p.name for p in products}) == 12
    assert all(3 <= len(p.variants) <= 6 for p in products)
    assert len(world.keys(shop.KINDS[1])) == 25
    statuses = Counter(o.status for o in _all(world, shop.KINDS[2], shop.Order))
    assert sum(statuses.values()) == 200
    # Per 1000: pending 423-100, modified 100, processed 102, delivered 373-50-150, ...
    assert statuses == {
        "pending": 65,
        "pending (item modified)": 20,
        "processed": 20,
        "delivered": 35,
        "exchange requested": 10,
        "return requested": 30,
        "cancelled": 20,
    }


def test_retail_default_mix_matches_tau2(retail: Snapshot) -> None:
    stats = retail_world_stats(retail)
    assert stats["products"]["product_types"] == 50
    assert stats["users"]["users"] == 500
    assert stats["orders"]["by_status"] == {
        "cancelled": 102,
        "delivered": 313,
        "exchange requested": 30,
        "pending": 393,
        "pending (item modified)": 30,
        "processed": 102,
        "return requested": 30,
    }
    assert 450 <= stats["products"]["variants"] <= 700


def test_airline_size_knobs_are_respected() -> None:
    size = AirlineWorldSize(
        airports=5, flights=17, days=20, users=9, reservations=41, cancelled_reservations_per_1000=100
    )
    world = generate_airline_world(size, 5)
    flights = _all(world, air.KINDS[0], air.Flight)
    assert [f.flight_number for f in flights] == [f"HAT{i:03d}" for i in range(1, 18)]
    assert {f.origin for f in flights} | {f.destination for f in flights} <= set(TAU2_AIRPORTS[:5])
    assert all(list(f.dates) == [f"2024-05-{d:02d}" for d in range(1, 21)] for f in flights)
    assert len(world.keys(air.KINDS[1])) == 9
    reservations = _all(world, air.KINDS[2], air.Reservation)
    assert len(reservations) == 41
    assert sum(r.status == "cancelled" for r in reservations) == 4


@pytest.mark.parametrize(
    "size",
    [
        RetailWorldSize(products=0),
        RetailWorldSize(products=1000),
        RetailWorldSize(min_variants=9, max_variants=4),
        RetailWorldSize(users=0),
        RetailWorldSize(exchange_requested_per_1000=300, return_requested_per_1000=300),
    ],
)
def test_bad_retail_sizes_are_refused(size: RetailWorldSize) -> None:
    with pytest.raises(ConfigError):
        generate_retail_world(size, 0)


@pytest.mark.parametrize(
    "size",
    [
        AirlineWorldSize(airports=1),
        AirlineWorldSize(airports=21),
        AirlineWorldSize(days=40),
        AirlineWorldSize(flights=0),
    ],
)
def test_bad_airline_sizes_are_refused(size: AirlineWorldSize) -> None:
    with pytest.raises(ConfigError):
        generate_airline_world(size, 0)


def test_tiny_airline_network_still_books_trips() -> None:
    """Two airports and one flight leave no connections: reservations fall back to direct one-ways."""
    world = generate_airline_world(AirlineWorldSize(airports=2, flights=1, users=3, reservations=10), 0)
    reservations = _all(world, air.KINDS[2], air.Reservation)
    assert len(reservations) == 10
    assert all(r.flight_type == "one_way" and len(r.flights) == 1 for r in reservations)


# --- retail consistency ------------------------------------------------------------------------------


def _multiset_contains(whole: list[str], part: list[str]) -> bool:
    return not Counter(part) - Counter(whole)


def test_retail_world_is_consistent(retail: Snapshot) -> None:
    products = {p.product_id: p for p in _all(retail, shop.KINDS[0], shop.Product)}
    users = {u.user_id: u for u in _all(retail, shop.KINDS[1], shop.User)}
    orders = _all(retail, shop.KINDS[2], shop.Order)
    variants = {item_id: (p, v) for p in products.values() for item_id, v in p.variants.items()}

    # Catalogue: 10-digit ids, unique across products, every product with two variants in stock.
    assert len(variants) == sum(len(p.variants) for p in products.values())
    for product in products.values():
        assert re.fullmatch(r"[1-9]\d{9}", product.product_id)
        assert 5 <= len(product.variants) <= 20
        assert sum(v.available for v in product.variants.values()) >= 2
        assert len({tuple(v.options) for v in product.variants.values()}) == 1  # same option axes
        assert len({tuple(v.options.values()) for v in product.variants.values()}) == len(product.variants)
        for item_id, variant in product.variants.items():
            assert item_id == variant.item_id
            assert re.fullmatch(r"[1-9]\d{9}", item_id)
            assert variant.price == round(variant.price, 2) > 0

    # Users: unique ids and emails in tau2's shapes, real-looking US addresses, 1-4 methods.
    emails = [u.email.lower() for u in users.values()]
    assert len(set(emails)) == len(emails)
    for user in users.values():
        first, last = user.name.first_name.lower(), user.name.last_name.lower()
        assert re.fullmatch(rf"{first}_{last}_\d{{4}}", user.user_id)
        assert re.fullmatch(rf"{first}\.{last}\d{{4}}@example\.com", user.email)
        assert user.address.country == "USA"
        assert re.fullmatch(r"[A-Z]{2}", user.address.state)
        assert re.fullmatch(r"\d{5}", user.address.zip)
        assert 1 <= len(user.payment_methods) <= 4
        for method_id, method in user.payment_methods.items():
            assert method.id == method_id
            assert re.fullmatch(rf"{type(method).__struct_config__.tag}_\d{{7}}", method_id)
            if isinstance(method, shop.GiftCard):
                assert method.balance == round(method.balance, 2) >= 0
            if isinstance(method, shop.CreditCard):
                assert method.brand in ("visa", "mastercard")
                assert re.fullmatch(r"\d{4}", method.last_four)

    # user.orders lists exactly the user's orders.
    listed = sorted((uid, oid) for uid, u in users.items() for oid in u.orders)
    assert listed == sorted((o.user_id, o.order_id) for o in orders)

    for order in orders:
        user = users[order.user_id]
        assert re.fullmatch(r"#W\d{7}", order.order_id)
        for item in order.items:
            product, variant = variants[item.item_id]
            assert (item.product_id, item.name) == (product.product_id, product.name)
            assert (item.price, item.options) == (variant.price, variant.options)
        assert all(p.payment_method_id in user.payment_methods for p in order.payment_history)
        paid = order.payment_history[0]
        assert paid.transaction_type == "payment"
        net = sum(p.amount if p.transaction_type == "payment" else -p.amount for p in order.payment_history)
        item_ids = [i.item_id for i in order.items]
        total = round(sum(i.price for i in order.items), 2)
        status = order.status

        assert (order.cancel_reason is not None) == (status == "cancelled")
        assert (order.exchange_items is not None) == (status == "exchange requested")
        assert (order.return_items is not None) == (status == "return requested")
        if status in ("processed", "delivered", "exchange requested", "return requested"):
            assert len(order.fulfillments) == 1
            assert order.fulfillments[0].item_ids == item_ids
            assert re.fullmatch(r"\d{12}", order.fulfillments[0].tracking_id[0])
        else:
            assert order.fulfillments == []
        if status == "pending (item modified)":
            assert len(order.payment_history) == 2
            assert abs(net - total) < 0.015
        elif status == "cancelled":
            refund = order.payment_history[1]
            assert len(order.payment_history) == 2
            assert net == 0
            assert (refund.transaction_type, refund.amount, refund.payment_method_id) == (
                "refund",
                paid.amount,
                paid.payment_method_id,
            )
            assert paid.amount == total
        else:
            assert len(order.payment_history) == 1
            assert paid.amount == total
        if status == "exchange requested":
            assert order.exchange_items is not None
            assert order.exchange_new_items is not None
            assert order.exchange_items == sorted(order.exchange_items)
            assert _multiset_contains(item_ids, order.exchange_items)
            new = [variants[i] for i in order.exchange_new_items]
            assert all(v.available for _, v in new)
            old_products = Counter(variants[i][0].product_id for i in order.exchange_items)
            assert Counter(p.product_id for p, _ in new) == old_products
            difference = round(
                sum(v.price for _, v in new) - sum(variants[i][1].price for i in order.exchange_items), 2
            )
            assert order.exchange_price_difference == difference
            method = user.payment_methods[order.exchange_payment_method_id or ""]
            assert not isinstance(method, shop.GiftCard) or method.balance >= difference
        if status == "return requested":
            assert order.return_items is not None
            assert order.return_items == sorted(order.return_items)
            assert _multiset_contains(item_ids, order.return_items)
            refund_to = user.payment_methods[order.return_payment_method_id or ""]
            assert refund_to.id == paid.payment_method_id or isinstance(refund_to, shop.GiftCard)


# --- airline consistency -------------------------------------------------------------------------------

FREE_BAGS = {
    "regular": {"basic_economy": 0, "economy": 1, "business": 2},
    "silver": {"basic_economy": 1, "economy": 2, "business": 3},
    "gold": {"basic_economy": 2, "economy": 3, "business": 4},
}


def _minutes(clock: str) -> int:
    """Minutes after midnight of the departure day for ``HH:MM:SS`` or ``HH:MM:SS+1``."""
    base = int(clock[:2]) * 60 + int(clock[3:5])
    return base + (24 * 60 if clock.endswith("+1") else 0)


def _departure(flight: air.Flight, day: str) -> datetime:
    return datetime.fromisoformat(day) + timedelta(minutes=_minutes(flight.scheduled_departure_time_est))


def _arrival(flight: air.Flight, day: str) -> datetime:
    return datetime.fromisoformat(day) + timedelta(minutes=_minutes(flight.scheduled_arrival_time_est))


def _check_connections(flights: dict[str, air.Flight], legs: list[air.ReservationFlight]) -> None:
    """Each connection is one tau2's one-stop search would list: same day (next after a +1), later."""
    for one, two in itertools.pairwise(legs):
        first = flights[one.flight_number]
        assert two.origin == one.destination
        overnight = first.scheduled_arrival_time_est.endswith("+1")
        expected_day = (datetime.fromisoformat(one.date) + timedelta(days=1 if overnight else 0)).date().isoformat()
        assert two.date == expected_day
        assert flights[two.flight_number].scheduled_departure_time_est >= first.scheduled_arrival_time_est


def test_airline_flights_are_consistent(airline: Snapshot) -> None:
    flights = _all(airline, air.KINDS[0], air.Flight)
    assert len(flights) == 300
    assert {f.origin for f in flights} | {f.destination for f in flights} == set(TAU2_AIRPORTS)
    for flight in flights:
        assert flight.origin != flight.destination
        assert re.fullmatch(r"\d\d:\d\d:00", flight.scheduled_departure_time_est)
        assert re.fullmatch(r"\d\d:\d\d:00(\+1)?", flight.scheduled_arrival_time_est)
        block = _minutes(flight.scheduled_arrival_time_est) - _minutes(flight.scheduled_departure_time_est)
        assert 60 <= block <= 8 * 60
        assert list(flight.dates) == [f"2024-05-{d:02d}" for d in range(1, 31)]
        for day, status in flight.dates.items():
            if day < NOW[:10]:
                assert isinstance(status, air.FlightLanded | air.FlightCancelled)
            elif day > NOW[:10]:
                assert isinstance(status, air.FlightAvailable)
                prices = status.prices
                assert 50 <= prices["basic_economy"] < prices["economy"] < prices["business"] <= 500
                assert all(0 <= n <= 20 for n in status.available_seats.values())
            else:
                assert not isinstance(status, air.FlightAvailable | air.FlightCancelled)
            if isinstance(status, air.FlightLanded):
                assert status.actual_arrival_time_est <= NOW
                assert status.actual_departure_time_est[:10] == day
                assert status.actual_departure_time_est < status.actual_arrival_time_est
            if isinstance(status, air.FlightFlying):
                assert status.actual_departure_time_est <= NOW < status.estimated_arrival_time_est
            if isinstance(status, air.FlightDelayed | air.FlightOnTime):
                assert NOW < status.estimated_departure_time_est < status.estimated_arrival_time_est
                late = datetime.fromisoformat(status.estimated_departure_time_est) - _departure(flight, day)
                assert (late >= timedelta(minutes=30)) == isinstance(status, air.FlightDelayed)


def test_airline_users_and_reservations_are_consistent(airline: Snapshot) -> None:
    flights = {f.flight_number: f for f in _all(airline, air.KINDS[0], air.Flight)}
    users = {u.user_id: u for u in _all(airline, air.KINDS[1], air.User)}
    reservations = _all(airline, air.KINDS[2], air.Reservation)
    assert len(users) == 500
    assert len(reservations) == 2000

    emails = [u.email.lower() for u in users.values()]
    assert len(set(emails)) == len(emails)
    for user in users.values():
        assert user.membership in ("gold", "silver", "regular")
        assert 1 <= len(user.saved_passengers) <= 2
        assert any(not isinstance(m, air.Certificate) for m in user.payment_methods.values())
        for method_id, method in user.payment_methods.items():
            assert method.id == method_id
            if isinstance(method, air.Certificate):
                assert method.amount in (100.0, 150.0, 250.0, 500.0)
                assert isinstance(method.amount, float)
                assert method_id not in ("certificate_3221322", "certificate_3221323", "certificate_3221324")
            if isinstance(method, air.GiftCard):
                assert isinstance(method.amount, float)
                assert method.amount >= 0

    listed = sorted((uid, rid) for uid, u in users.items() for rid in u.reservations)
    assert listed == sorted((r.user_id, r.reservation_id) for r in reservations)
    created = {r.reservation_id: r.created_at for r in reservations}
    for user in users.values():
        assert [created[r] for r in user.reservations] == sorted(created[r] for r in user.reservations)

    for reservation in reservations:
        user = users[reservation.user_id]
        rid = reservation.reservation_id
        assert re.fullmatch(r"[A-Z0-9]{6}", rid)
        assert rid not in ("HATHAT", "HATHAU", "HATHAV")
        assert reservation.status is None
        assert 1 <= len(reservation.passengers) <= 5
        legs = reservation.flights
        for leg in legs:
            flight = flights[leg.flight_number]
            assert (leg.origin, leg.destination) == (flight.origin, flight.destination)
            assert leg.date in flight.dates
            low, high = {"basic_economy": (50, 99), "economy": (100, 199), "business": (200, 500)}[reservation.cabin]
            assert low <= leg.price <= high
        assert legs[0].origin == reservation.origin
        if reservation.flight_type == "one_way":
            assert 1 <= len(legs) <= 2
            assert legs[-1].destination == reservation.destination
            out, back = legs, []
        else:
            assert 2 <= len(legs) <= 4
            assert legs[-1].destination == reservation.origin
            turn = next(i for i, leg in enumerate(legs) if leg.destination == reservation.destination) + 1
            out, back = legs[:turn], legs[turn:]
            assert 1 <= len(out) <= 2
            assert 1 <= len(back) <= 2
            assert back[0].origin == reservation.destination
            landed = _arrival(flights[out[-1].flight_number], out[-1].date)
            assert _departure(flights[back[0].flight_number], back[0].date) >= landed + timedelta(hours=2)
        _check_connections(flights, out)
        _check_connections(flights, back)

        first_departure = _departure(flights[legs[0].flight_number], legs[0].date)
        assert "2024-04-30T00:00:00" <= reservation.created_at <= "2024-05-14T23:59:59"
        assert datetime.fromisoformat(reservation.created_at) < first_departure

        count = len(reservation.passengers)
        free = FREE_BAGS[user.membership][reservation.cabin] * count
        assert reservation.nonfree_baggages == max(0, reservation.total_baggages - free)
        total = sum(leg.price for leg in legs) * count
        total += 30 * count if reservation.insurance == "yes" else 0
        total += 50 * reservation.nonfree_baggages
        assert [p.amount for p in reservation.payment_history] == [total]
        for payment in reservation.payment_history:
            assert isinstance(user.payment_methods[payment.payment_id], air.CreditCard | air.GiftCard)


def test_airline_mix_is_close_to_tau2(airline: Snapshot) -> None:
    stats = airline_world_stats(airline)
    flights, reservations = stats["flights"], stats["reservations"]
    assert flights["flight_dates_by_status"]["available"] == 300 * 15
    assert 300 <= flights["flight_dates_by_status"]["cancelled"] <= 460
    assert 80 <= flights["routes"] <= 140
    assert 950 <= reservations["flight_type"]["one_way"] <= 1150
    assert 0.55 <= reservations["segments_by_flight_status"]["available"] / reservations["segments"] <= 0.8
    assert set(stats["users"]["membership"]) == {"gold", "silver", "regular"}


# --- tau2's tools on generated worlds -----------------------------------------------------------------


def test_retail_tools_work_on_a_generated_world(retail: Snapshot) -> None:
    tools = pytest.importorskip("cove_async.domains.retail._tools").TOOLSET
    fork = retail.fork()
    order = next(o for o in _all(retail, shop.KINDS[2], shop.Order) if o.status == "pending")
    user = _get(retail, shop.KINDS[1], order.user_id, shop.User)

    found = tools.execute(fork, "find_user_id_by_email", {"email": user.email.upper()})
    assert (found.error, found.content) == (False, user.user_id)
    details = tools.execute(fork, "get_order_details", {"order_id": order.order_id})
    assert not details.error
    assert json.loads(details.content)["status"] == "pending"
    item = order.items[0]
    product = tools.execute(fork, "get_product_details", {"product_id": item.product_id})
    assert item.item_id in json.loads(product.content)["variants"]

    cancelled = tools.execute(
        fork, "cancel_pending_order", {"order_id": order.order_id, "reason": "ordered by mistake"}
    )
    assert not cancelled.error, cancelled.content
    after = _get(fork, shop.KINDS[2], order.order_id, shop.Order)
    assert after.status == "cancelled"
    assert [p.transaction_type for p in after.payment_history] == ["payment", "refund"]
    assert _get(retail, shop.KINDS[2], order.order_id, shop.Order).status == "pending"


def test_retail_write_tools_accept_generated_requests(retail: Snapshot) -> None:
    """A delivered order can be exchanged and a pending one modified with in-stock variants."""
    tools = pytest.importorskip("cove_async.domains.retail._tools").TOOLSET
    products = {p.product_id: p for p in _all(retail, shop.KINDS[0], shop.Product)}
    users = {u.user_id: u for u in _all(retail, shop.KINDS[1], shop.User)}
    orders = _all(retail, shop.KINDS[2], shop.Order)
    fork = retail.fork()
    for status, tool in (("delivered", "exchange_delivered_order_items"), ("pending", "modify_pending_order_items")):
        # A card or PayPal account settles any price difference; a gift card might not cover it.
        order, method = next(
            (o, m)
            for o in orders
            if o.status == status
            for m in users[o.user_id].payment_methods.values()
            if not isinstance(m, shop.GiftCard)
        )
        item = order.items[0]
        new = next(v for v in products[item.product_id].variants.values() if v.available and v.item_id != item.item_id)
        arguments = {
            "order_id": order.order_id,
            "item_ids": [item.item_id],
            "new_item_ids": [new.item_id],
            "payment_method_id": method.id,
        }
        result = tools.execute(fork, tool, arguments)
        assert not result.error, result.content
        assert _get(fork, shop.KINDS[2], order.order_id, shop.Order).status != status


def test_airline_tools_work_on_a_generated_world(airline: Snapshot) -> None:
    tools = pytest.importorskip("cove_async.domains.airline._tools").TOOLSET
    fork = airline.fork()
    flights = _all(airline, air.KINDS[0], air.Flight)
    users = _all(airline, air.KINDS[1], air.User)
    user = next(u for u in users if any(isinstance(m, air.CreditCard) for m in u.payment_methods.values()))
    card = next(m.id for m in user.payment_methods.values() if isinstance(m, air.CreditCard))
    flight, day, status = next(
        (f, d, s)
        for f in flights
        for d, s in f.dates.items()
        if isinstance(s, air.FlightAvailable) and s.available_seats["economy"] >= 1
    )
    assert isinstance(status, air.FlightAvailable)

    details = tools.execute(fork, "get_user_details", {"user_id": user.user_id})
    assert not details.error
    assert json.loads(details.content)["user_id"] == user.user_id
    found = tools.execute(
        fork, "search_direct_flight", {"origin": flight.origin, "destination": flight.destination, "date": day}
    )
    assert flight.flight_number in {f["flight_number"] for f in json.loads(found.content)}

    price = status.prices["economy"]
    booked = tools.execute(
        fork,
        "book_reservation",
        {
            "user_id": user.user_id,
            "origin": flight.origin,
            "destination": flight.destination,
            "flight_type": "one_way",
            "cabin": "economy",
            "flights": [{"flight_number": flight.flight_number, "date": day}],
            "passengers": [{"first_name": user.name.first_name, "last_name": user.name.last_name, "dob": user.dob}],
            "payment_methods": [{"payment_id": card, "amount": price}],
            "total_baggages": 0,
            "nonfree_baggages": 0,
            "insurance": "no",
        },
    )
    assert not booked.error, booked.content
    assert json.loads(booked.content)["reservation_id"] == "HATHAT"
    seats = _get(fork, air.KINDS[0], flight.flight_number, air.Flight).dates[day]
    assert isinstance(seats, air.FlightAvailable)
    assert seats.available_seats["economy"] == status.available_seats["economy"] - 1
    assert "HATHAT" in _get(fork, air.KINDS[1], user.user_id, air.User).reservations


def test_airline_onestop_search_finds_generated_connections(airline: Snapshot) -> None:
    """Every bookable one-stop outbound in the world is a pair tau2's search lists."""
    tools = pytest.importorskip("cove_async.domains.airline._tools").TOOLSET
    fork = airline.fork()
    checked = 0
    for reservation in _all(airline, air.KINDS[2], air.Reservation)[:150]:
        one, two = reservation.flights[0], reservation.flights[1] if len(reservation.flights) > 1 else None
        if two is None or one.destination == reservation.destination or one.date <= "2024-05-15":
            continue
        result = tools.execute(
            fork, "search_onestop_flight", {"origin": one.origin, "destination": two.destination, "date": one.date}
        )
        pairs = {(a["flight_number"], b["flight_number"], b["date"]) for a, b in json.loads(result.content)}
        assert (one.flight_number, two.flight_number, two.date) in pairs
        checked += 1
    assert checked > 30
