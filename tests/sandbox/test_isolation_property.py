"""Property: forks of one snapshot behave exactly like private full copies, however calls interleave.

Each example draws a sequence of tool calls, each aimed at one of several live sandboxes, and
runs it twice: on forks of one shared snapshot, and on private full copies (where every write
goes through SQL into the episode's own tables). Every tool message must be identical, and at
the end every fork must hold exactly its copy's state. A fork that leaked a write into the
snapshot, read a stale base row, lost insertion order or mis-merged a lookup fails here.

Calls are drawn from the world's real ids (so most writes succeed and later calls see their
effects) mixed with wrong ids and off-policy arguments (so error paths and partial mutations
are exercised too).
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cove_async.domains import Toolset, get_domain
from cove_async.domains.airline import AirlineWorldSize
from cove_async.domains.airline import _records as air
from cove_async.domains.retail import RetailWorldSize
from cove_async.domains.retail import _records as shop
from cove_async.sandbox import Snapshot

SANDBOXES = 4
EXAMPLES = 1000

RETAIL = get_domain("retail")
AIRLINE = get_domain("airline")
RETAIL_WORLD = RETAIL.generate_world(RetailWorldSize(users=8, products=6, orders=24), 7)
AIRLINE_WORLD = AIRLINE.generate_world(AirlineWorldSize(airports=5, flights=12, users=6, reservations=16), 7)

Call = tuple[str, dict[str, Any]]


def _all(snapshot: Snapshot, name: str) -> list[Any]:
    kind = snapshot.schema.kind(name)
    return [snapshot.load(kind, key) for key in snapshot.keys(kind)]


def _run_both(snapshot: Snapshot, toolset: Toolset, steps: list[tuple[int, Call]]) -> None:
    forks = [snapshot.fork() for _ in range(SANDBOXES)]
    copies = [snapshot.private_copy() for _ in range(SANDBOXES)]
    for target, (name, arguments) in steps:
        on_fork = toolset.execute(forks[target], name, arguments)
        on_copy = toolset.execute(copies[target], name, arguments)
        assert on_fork == on_copy, (name, arguments)
    for fork, copy in zip(forks, copies, strict=True):
        # JSON text, not dict equality: key order and int-vs-float are part of tau2's state.
        assert json.dumps(fork.export()) == json.dumps(copy.export())
        assert fork.changes() == copy.changes()
        assert fork.state_hash() == copy.state_hash()
    # And nothing reached the snapshot itself.
    assert snapshot.fork().changes().changes == ()


# --- retail -----------------------------------------------------------------------------------

SHOP_USERS: list[shop.User] = _all(RETAIL_WORLD, "users")
SHOP_ORDERS: list[shop.Order] = _all(RETAIL_WORLD, "orders")
SHOP_PRODUCTS: dict[str, shop.Product] = {p.product_id: p for p in _all(RETAIL_WORLD, "products")}
SHOP_PAYMENTS = sorted({pm for u in SHOP_USERS for pm in u.payment_methods})

addresses = st.fixed_dictionaries(
    {
        "address1": st.sampled_from(["1 Main St", "22 Oak Ave"]),
        "address2": st.sampled_from(["", "Apt 4"]),
        "city": st.sampled_from(["Austin", "Denver"]),
        "state": st.sampled_from(["TX", "CO"]),
        "country": st.just("USA"),
        "zip": st.sampled_from(["78701", "80202", SHOP_USERS[0].address.zip]),
    }
)
shop_order_ids = st.sampled_from([o.order_id for o in SHOP_ORDERS] + ["#W0000000"])
shop_user_ids = st.sampled_from([u.user_id for u in SHOP_USERS] + ["nobody_0000"])
shop_payment_ids = st.sampled_from([*SHOP_PAYMENTS, "gift_card_0000000"])


@st.composite
def _item_swap(draw: st.DrawFn) -> Call:
    """Swap some items of an order for other variants of the same products (or junk ids)."""
    order = draw(st.sampled_from(SHOP_ORDERS))
    items = draw(st.lists(st.sampled_from(order.items), max_size=3))
    new = [draw(st.sampled_from(sorted(SHOP_PRODUCTS[i.product_id].variants))) for i in items]
    name = draw(st.sampled_from(["modify_pending_order_items", "exchange_delivered_order_items"]))
    return name, {
        "order_id": order.order_id,
        "item_ids": [i.item_id for i in items],
        "new_item_ids": new,
        "payment_method_id": draw(shop_payment_ids),
    }


@st.composite
def _return(draw: st.DrawFn) -> Call:
    order = draw(st.sampled_from(SHOP_ORDERS))
    items = draw(st.lists(st.sampled_from(order.items), max_size=3))
    payment = draw(st.sampled_from([*[p.payment_method_id for p in order.payment_history], *SHOP_PAYMENTS]))
    args = {"order_id": order.order_id, "item_ids": [i.item_id for i in items], "payment_method_id": payment}
    return "return_delivered_order_items", args


def _call(name: str, **fields: st.SearchStrategy[Any]) -> st.SearchStrategy[Call]:
    return st.fixed_dictionaries(fields).map(lambda arguments: (name, arguments))


retail_calls = st.one_of(
    _call("find_user_id_by_email", email=st.sampled_from([u.email.upper() for u in SHOP_USERS] + ["x@y.z"])),
    _call(
        "find_user_id_by_name_zip",
        first_name=st.sampled_from([u.name.first_name for u in SHOP_USERS]),
        last_name=st.sampled_from([u.name.last_name for u in SHOP_USERS]),
        zip=st.sampled_from(["78701", "80202", *(u.address.zip for u in SHOP_USERS)]),
    ),
    _call("get_user_details", user_id=shop_user_ids),
    _call("get_order_details", order_id=shop_order_ids),
    _call("get_item_details", item_id=st.sampled_from([i.item_id for o in SHOP_ORDERS for i in o.items])),
    _call("cancel_pending_order", order_id=shop_order_ids, reason=st.sampled_from(["no longer needed", "because"])),
    st.builds(lambda o, a: ("modify_pending_order_address", {"order_id": o, **a}), shop_order_ids, addresses),
    st.builds(lambda u, a: ("modify_user_address", {"user_id": u, **a}), shop_user_ids, addresses),
    _call("modify_pending_order_payment", order_id=shop_order_ids, payment_method_id=shop_payment_ids),
    _item_swap(),
    _return(),
)

_settings = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


@pytest.mark.slow
@_settings
@given(st.lists(st.tuples(st.integers(0, SANDBOXES - 1), retail_calls), min_size=1, max_size=30))
def test_retail_forks_match_private_copies(steps: list[tuple[int, Call]]) -> None:
    _run_both(RETAIL_WORLD, RETAIL.toolset, steps)


# --- airline ----------------------------------------------------------------------------------

AIR_USERS: list[air.User] = _all(AIRLINE_WORLD, "users")
AIR_RESERVATIONS: list[air.Reservation] = _all(AIRLINE_WORLD, "reservations")
AIR_FLIGHTS: list[air.Flight] = _all(AIRLINE_WORLD, "flights")
BOOKABLE = [(f, day) for f in AIR_FLIGHTS for day, status in f.dates.items() if isinstance(status, air.FlightAvailable)]
air_payment_ids = st.sampled_from([*sorted({pm for u in AIR_USERS for pm in u.payment_methods}), "credit_card_0"])
air_reservation_ids = st.sampled_from([r.reservation_id for r in AIR_RESERVATIONS] + ["HATHAT", "ZZZZZZ"])
cabins = st.sampled_from(["basic_economy", "economy", "business"])
passengers = st.lists(
    st.builds(
        lambda n: msgspec.to_builtins(air.Passenger(first_name=n, last_name="Doe", dob="1990-01-01")),
        st.text("ABC", min_size=1, max_size=3),
    ),
    min_size=1,
    max_size=3,
)


@st.composite
def _booking(draw: st.DrawFn) -> Call:
    flight, day = draw(st.sampled_from(BOOKABLE))
    user = draw(st.sampled_from(AIR_USERS))
    people = draw(passengers)
    payment = draw(st.sampled_from([*sorted(user.payment_methods), "credit_card_0"]))
    amount = draw(st.sampled_from([0, 100, 5000]))
    return "book_reservation", {
        "user_id": user.user_id,
        "origin": flight.origin,
        "destination": flight.destination,
        "flight_type": "one_way",
        "cabin": draw(cabins),
        "flights": [{"flight_number": flight.flight_number, "date": day}],
        "passengers": people,
        "payment_methods": [{"payment_id": payment, "amount": amount}],
        "total_baggages": 0,
        "nonfree_baggages": 0,
        "insurance": draw(st.sampled_from(["yes", "no"])),
    }


@st.composite
def _flight_change(draw: st.DrawFn) -> Call:
    reservation = draw(st.sampled_from(AIR_RESERVATIONS))
    flight, day = draw(st.sampled_from(BOOKABLE))
    keep = [{"flight_number": f.flight_number, "date": f.date} for f in reservation.flights[:1]]
    return "update_reservation_flights", {
        "reservation_id": reservation.reservation_id,
        "cabin": draw(cabins),
        "flights": [*keep, {"flight_number": flight.flight_number, "date": day}],
        "payment_id": draw(air_payment_ids),
    }


airline_calls = st.one_of(
    _call("get_user_details", user_id=st.sampled_from([u.user_id for u in AIR_USERS])),
    _call("get_reservation_details", reservation_id=air_reservation_ids),
    st.sampled_from(BOOKABLE).map(
        lambda fd: ("search_direct_flight", {"origin": fd[0].origin, "destination": fd[0].destination, "date": fd[1]})
    ),
    _call("cancel_reservation", reservation_id=air_reservation_ids),
    _call(
        "update_reservation_baggages",
        reservation_id=air_reservation_ids,
        total_baggages=st.integers(0, 4),
        nonfree_baggages=st.integers(0, 3),
        payment_id=air_payment_ids,
    ),
    _call("update_reservation_passengers", reservation_id=air_reservation_ids, passengers=passengers),
    _call(
        "send_certificate",
        user_id=st.sampled_from([u.user_id for u in AIR_USERS]),
        amount=st.integers(50, 500),
    ),
    _booking(),
    _flight_change(),
)


@pytest.mark.slow
@_settings
@given(st.lists(st.tuples(st.integers(0, SANDBOXES - 1), airline_calls), min_size=1, max_size=20))
def test_airline_forks_match_private_copies(steps: list[tuple[int, Call]]) -> None:
    _run_both(AIRLINE_WORLD, AIRLINE.toolset, steps)
