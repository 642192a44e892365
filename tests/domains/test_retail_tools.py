"""Retail tools: argument checking, tau2's quirks, and how they behave on forks and private copies.

Most tests run on a small hand-built world whose prices are chosen to expose float rounding; the
golden replays against tau2's own outputs live in ``test_conformance_retail.py``.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cove_async.domains import ToolResult, load_tau2_db
from cove_async.domains._generic import MAX_POWER_BITS, calculate
from cove_async.domains.retail._records import (
    KINDS,
    CreditCard,
    GiftCard,
    Order,
    OrderFulfillment,
    OrderItem,
    OrderPayment,
    Paypal,
    Product,
    User,
    UserAddress,
    UserName,
    Variant,
)
from cove_async.domains.retail._tools import TOOLSET
from cove_async.sandbox import Sandbox, Schema, Snapshot

PRODUCTS, USERS, ORDERS = KINDS

# --- a small world ----------------------------------------------------------------------------

LAMP, MUG = "1000000001", "1000000002"
LAMP_RED, LAMP_BLUE, LAMP_GREEN = "2000000001", "2000000002", "2000000003"
MUG_SMALL, MUG_LARGE = "3000000001", "3000000002"


def _address(zip_code: str, city: str = "Springfield") -> UserAddress:
    return UserAddress(address1="1 Main St", address2="", city=city, country="USA", state="IL", zip=zip_code)


def _user(user_id: str, first: str, last: str, email: str, zip_code: str, methods: list[Any]) -> User:
    return User(
        user_id=user_id,
        name=UserName(first_name=first, last_name=last),
        address=_address(zip_code),
        email=email,
        payment_methods={m.id: m for m in methods},
        orders=[],
    )


def _line(product: str, item_id: str, price: float, options: dict[str, str]) -> OrderItem:
    return OrderItem(
        name="Lamp" if product == LAMP else "Mug", product_id=product, item_id=item_id, price=price, options=options
    )


def _order(order_id: str, user_id: str, status: Any, payments: list[tuple[float, str]]) -> Order:
    return Order(
        order_id=order_id,
        user_id=user_id,
        address=_address("10001"),
        items=[
            _line(LAMP, LAMP_RED, 10.1, {"color": "red"}),
            _line(MUG, MUG_LARGE, 7.75, {"size": "large"}),
        ],
        status=status,
        fulfillments=[OrderFulfillment(tracking_id=["111"], item_ids=[LAMP_RED, MUG_LARGE])]
        if status == "delivered"
        else [],
        payment_history=[OrderPayment(transaction_type="payment", amount=a, payment_method_id=m) for a, m in payments],
    )


def _world() -> Snapshot:
    products = [
        Product(
            name="Lamp",
            product_id=LAMP,
            variants={
                LAMP_RED: Variant(item_id=LAMP_RED, options={"color": "red"}, available=True, price=10.1),
                LAMP_BLUE: Variant(item_id=LAMP_BLUE, options={"color": "blue"}, available=True, price=20.2),
                LAMP_GREEN: Variant(item_id=LAMP_GREEN, options={"color": "green"}, available=False, price=30.3),
            },
        ),
        Product(
            name="Mug",
            product_id=MUG,
            variants={
                MUG_SMALL: Variant(item_id=MUG_SMALL, options={"size": "small"}, available=True, price=5.55),
                MUG_LARGE: Variant(item_id=MUG_LARGE, options={"size": "large"}, available=True, price=7.75),
            },
        ),
    ]
    users = [
        _user(
            "ann_lee_1",
            "Ann",
            "Lee",
            "Ann.Lee@example.com",
            "10001",
            [
                GiftCard(id="gift_card_1", balance=100.0),
                CreditCard(id="credit_card_1", brand="visa", last_four="1234"),
                Paypal(id="paypal_1"),
                GiftCard(id="gift_card_4", balance=1.0),
            ],
        ),
        # Same name, zip and email as ann_lee_1 up to case: lookups must return ann_lee_1, the first.
        _user(
            "ann_lee_2",
            "ANN",
            "lee",
            "ann.lee@EXAMPLE.com",
            "10001",
            [CreditCard(id="credit_card_2", brand="amex", last_four="9999")],
        ),
        _user(
            "bob_ray_3",
            "Bob",
            "Ray",
            "bob@example.com",
            "20002",
            [GiftCard(id="gift_card_3", balance=5.0), CreditCard(id="credit_card_3", brand="visa", last_four="0003")],
        ),
    ]
    orders = [
        _order("#W0000001", "ann_lee_1", "pending", [(17.85, "credit_card_1")]),
        _order("#W0000002", "ann_lee_1", "delivered", [(17.85, "gift_card_1")]),
        # Paid in part with a method the user no longer has: cancelling fails half-way.
        _order("#W0000003", "ann_lee_1", "pending", [(8.0, "gift_card_1"), (9.85, "credit_card_gone")]),
        _order("#W0000004", "bob_ray_3", "pending (item modified)", [(4.0, "paypal_gone")]),
        _order("#W0000005", "bob_ray_3", "delivered", []),
    ]
    for order in orders:
        next(u for u in users if u.user_id == order.user_id).orders.append(order.order_id)
    return Snapshot.from_records(Schema(KINDS), {"products": products, "users": users, "orders": orders})


@pytest.fixture(scope="module")
def world() -> Snapshot:
    return _world()


@pytest.fixture(params=["fork", "private_copy"])
def sandbox(request: pytest.FixtureRequest, world: Snapshot) -> Sandbox:
    """Each behaviour test runs on both sandbox kinds."""
    make: Callable[[], Sandbox] = getattr(world, request.param)
    return make()


def call(sandbox: Sandbox, name: str, arguments: Any) -> ToolResult:
    return TOOLSET.execute(sandbox, name, arguments)


def ok(sandbox: Sandbox, name: str, **arguments: Any) -> Any:
    """The decoded output of a call that must succeed."""
    result = call(sandbox, name, arguments)
    assert not result.error, result.content
    return json.loads(result.content) if result.content.startswith("{") else result.content


def fail(sandbox: Sandbox, name: str, **arguments: Any) -> str:
    """The error text of a call that must fail."""
    result = call(sandbox, name, arguments)
    assert result.error, result.content
    assert result.content.startswith("Error: ")
    return result.content.removeprefix("Error: ")


def state(sandbox: Sandbox) -> dict[str, dict[str, Any]]:
    return sandbox.export()


# --- arguments --------------------------------------------------------------------------------

_NEW_ADDRESS = {
    "address1": "9 Elm St",
    "address2": "Apt 2",
    "city": "Austin",
    "state": "TX",
    "country": "USA",
    "zip": "73301",
}

VALID: dict[str, dict[str, Any]] = {
    "calculate": {"expression": "2 + 2"},
    "cancel_pending_order": {"order_id": "#W0000001", "reason": "no longer needed"},
    "exchange_delivered_order_items": {
        "order_id": "#W0000002",
        "item_ids": [LAMP_RED],
        "new_item_ids": [LAMP_BLUE],
        "payment_method_id": "gift_card_1",
    },
    "find_user_id_by_name_zip": {"first_name": "ann", "last_name": "LEE", "zip": "10001"},
    "find_user_id_by_email": {"email": "ANN.lee@example.com"},
    "get_order_details": {"order_id": "#W0000001"},
    "get_product_details": {"product_id": LAMP},
    "get_item_details": {"item_id": MUG_SMALL},
    "get_user_details": {"user_id": "ann_lee_1"},
    "list_all_product_types": {},
    "modify_pending_order_address": {"order_id": "#W0000001", **_NEW_ADDRESS},
    "modify_pending_order_items": {
        "order_id": "#W0000001",
        "item_ids": [LAMP_RED],
        "new_item_ids": [LAMP_BLUE],
        "payment_method_id": "gift_card_1",
    },
    "modify_pending_order_payment": {"order_id": "#W0000001", "payment_method_id": "gift_card_1"},
    "modify_user_address": {"user_id": "ann_lee_1", **_NEW_ADDRESS},
    "return_delivered_order_items": {
        "order_id": "#W0000002",
        "item_ids": [LAMP_RED],
        "payment_method_id": "gift_card_1",
    },
    "transfer_to_human_agents": {"summary": "The customer asks for a person."},
}

PARAMS = [(name, param) for name, args in VALID.items() for param in args]


def test_valid_arguments_cover_every_tool_and_succeed(world: Snapshot) -> None:
    assert list(VALID) == TOOLSET.names
    for name, arguments in VALID.items():
        fork = world.fork()
        result = call(fork, name, arguments)
        assert not result.error, (name, result.content)
        assert bool(len(fork.changes())) == TOOLSET.is_write(name), name


@pytest.mark.parametrize("name", list(VALID))
def test_an_unexpected_argument_is_refused_and_changes_nothing(world: Snapshot, name: str) -> None:
    fork = world.fork()
    result = call(fork, name, {**VALID[name], "bogus": 1})
    assert result == ToolResult(
        content=f"Error: RetailTools.{name}() got an unexpected keyword argument 'bogus'", error=True
    )
    assert len(fork.changes()) == 0


@pytest.mark.parametrize(("name", "param"), PARAMS)
def test_a_missing_argument_is_refused_and_changes_nothing(world: Snapshot, name: str, param: str) -> None:
    fork = world.fork()
    arguments = {k: v for k, v in VALID[name].items() if k != param}
    result = call(fork, name, arguments)
    assert result == ToolResult(
        content=f"Error: RetailTools.{name}() missing 1 required positional argument: '{param}'", error=True
    )
    assert len(fork.changes()) == 0


def test_several_missing_arguments_are_listed_like_python_does(world: Snapshot) -> None:
    fork = world.fork()
    assert fail(fork, "modify_pending_order_payment") == (
        "RetailTools.modify_pending_order_payment() missing 2 required positional arguments: "
        "'order_id' and 'payment_method_id'"
    )
    assert fail(fork, "find_user_id_by_name_zip", zip="1") == (
        "RetailTools.find_user_id_by_name_zip() missing 2 required positional arguments: 'first_name' and 'last_name'"
    )


@pytest.mark.parametrize(("name", "param"), PARAMS)
def test_a_wrongly_typed_argument_is_refused_and_changes_nothing(world: Snapshot, name: str, param: str) -> None:
    fork = world.fork()
    is_list = isinstance(VALID[name][param], list)
    result = call(fork, name, {**VALID[name], param: "2000000001" if is_list else 7})
    expected = (
        f"argument '{param}' must be a list, got string"
        if is_list
        else f"argument '{param}' must be a string, got integer"
    )
    assert result == ToolResult(content=f"Error: {expected}", error=True)
    assert len(fork.changes()) == 0
    if is_list:
        result = call(fork, name, {**VALID[name], param: [LAMP_RED, 7]})
        assert result.content == f"Error: argument '{param}[1]' must be a string, got integer"
        assert len(fork.changes()) == 0


@pytest.mark.parametrize(
    "text",
    [
        '{"user_id": NaN}',  # msgspec refuses these four, json.loads takes them: tau2 does too
        '{"user_id": 1e400}',
        '{"user_id": Infinity}',
        '{"user_id": "\\ud800"}',
        '{"user_id": "a", "user_id": 7}',  # the last duplicate wins in both
        '{"user_id": "ann_lee_1", ',
        "{'user_id': 'ann_lee_1'}",
    ],
)
def test_argument_text_is_read_as_json_loads_reads_it(world: Snapshot, text: str) -> None:
    try:
        expected = call(world.fork(), "get_user_details", json.loads(text)).content
    except ValueError as exc:
        expected = f"Error: arguments are not valid JSON: {exc}"
    assert call(world.fork(), "get_user_details", text).content == expected


def test_arguments_as_json_text_and_bad_json(world: Snapshot) -> None:
    fork = world.fork()
    assert call(fork, "get_user_details", json.dumps(VALID["get_user_details"])).content.startswith(
        '{"user_id": "ann_lee_1"'
    )
    assert call(fork, "list_all_product_types", "").content == '{"Lamp": "1000000001", "Mug": "1000000002"}'
    assert fail(fork, "get_user_details", **{}).startswith("RetailTools.get_user_details() missing")
    bad = call(fork, "cancel_pending_order", '{"order_id": "#W0000001", ')
    assert bad.error
    assert bad.content.startswith("Error: arguments are not valid JSON")
    assert call(fork, "get_user_details", "[1]").content == "Error: arguments must be a JSON object, got array"
    assert (
        call(fork, "get_user_details", {"user_id": None}).content
        == "Error: argument 'user_id' must be a string, got null"
    )
    assert call(fork, "refund_everything", {}) == ToolResult(
        content="Error: Tool 'refund_everything' not found.", error=True
    )
    assert len(fork.changes()) == 0


# --- read tools -------------------------------------------------------------------------------


def test_user_lookups_ignore_case_and_return_the_first_match(sandbox: Sandbox) -> None:
    assert ok(sandbox, "find_user_id_by_email", email="ann.lee@example.com") == "ann_lee_1"
    assert ok(sandbox, "find_user_id_by_email", email="BOB@EXAMPLE.COM") == "bob_ray_3"
    assert ok(sandbox, "find_user_id_by_name_zip", first_name="aNN", last_name="LEE", zip="10001") == "ann_lee_1"
    # The zip must match exactly, and so must the rest of the email.
    assert (
        fail(sandbox, "find_user_id_by_name_zip", first_name="Ann", last_name="Lee", zip="10001 ") == "User not found"
    )
    assert fail(sandbox, "find_user_id_by_email", email="ann.lee@example.co") == "User not found"


def test_record_reads_render_tau2s_json_and_say_not_found(sandbox: Sandbox) -> None:
    order = call(sandbox, "get_order_details", {"order_id": "#W0000001"}).content
    assert order.startswith('{"order_id": "#W0000001", "user_id": "ann_lee_1", "address": {"address1": "1 Main St", ')
    assert order.endswith(
        '"payment_history": [{"transaction_type": "payment", "amount": 17.85, "payment_method_id": "credit_card_1"}], '
        '"cancel_reason": null, "exchange_items": null, "exchange_new_items": null, '
        '"exchange_payment_method_id": null, "exchange_price_difference": null, "return_items": null, '
        '"return_payment_method_id": null}'
    )
    user = ok(sandbox, "get_user_details", user_id="ann_lee_1")
    assert user["payment_methods"]["gift_card_1"] == {"source": "gift_card", "id": "gift_card_1", "balance": 100.0}
    assert user["orders"] == ["#W0000001", "#W0000002", "#W0000003"]
    assert ok(sandbox, "get_product_details", product_id=MUG)["variants"][MUG_LARGE]["price"] == 7.75
    assert call(sandbox, "get_item_details", {"item_id": LAMP_GREEN}).content == (
        '{"item_id": "2000000003", "options": {"color": "green"}, "available": false, "price": 30.3}'
    )
    assert fail(sandbox, "get_order_details", order_id="W0000001") == "Order not found"
    assert fail(sandbox, "get_user_details", user_id="nobody") == "User not found"
    assert fail(sandbox, "get_product_details", product_id=LAMP_RED) == "Product not found"
    assert fail(sandbox, "get_item_details", item_id=LAMP) == "Item not found"
    assert len(sandbox.changes()) == 0


def test_get_item_details_finds_items_on_the_real_catalogue(tau2_dir: Path) -> None:
    snapshot = load_tau2_db(Schema(KINDS), tau2_dir / "retail" / "db.json")
    fork = snapshot.fork()
    names = json.loads(call(fork, "list_all_product_types", {}).content)
    assert len(names) == 50
    assert list(names) == sorted(names)
    for product_id in list(names.values())[:5]:
        product = ok(fork, "get_product_details", product_id=product_id)
        for item_id, variant in product["variants"].items():
            assert ok(fork, "get_item_details", item_id=item_id) == variant


# --- generic tools ----------------------------------------------------------------------------


def test_calculate_rounds_to_two_places_and_reports_tau2s_errors(sandbox: Sandbox) -> None:
    assert ok(sandbox, "calculate", expression="2 + 2") == "4.0"
    assert ok(sandbox, "calculate", expression="10 / 3") == "3.33"
    assert ok(sandbox, "calculate", expression="  (1299.99 - 1149.5) * 2") == "300.98"
    assert fail(sandbox, "calculate", expression="2 ^ 3") == "Invalid characters in expression"
    assert fail(sandbox, "calculate", expression="__import__('os')") == "Invalid characters in expression"
    assert fail(sandbox, "calculate", expression="1 / 0") == "division by zero"
    assert fail(sandbox, "calculate", expression="2 +") == "invalid syntax (<string>, line 1)"
    assert fail(sandbox, "calculate", expression="") == "invalid syntax (<string>, line 0)"
    assert len(sandbox.changes()) == 0


EXPRESSIONS = [
    "1+2*3",
    "(1+2)*3",
    "7//2",
    "7.5//2",
    "-3**2",
    "(-8)**(1/3)",
    "2**-1",
    "0**-1",
    "1e3",
    "1..2",
    "3.",
    ".5",
    "((1)",
    "(1)(2)",
    "(1)(*())",
    "(1)(**())",
    "()",
    "...",
    "-()",
    "2**1000",
    "2**2000",
    "1/3*3",
    "100 - 99.99",
    "0.1+0.2",
    "01",
    "00",
    "1 2",
    "  3",
    "(2)*(3)/(4)",
    "5/-0",
    "--5",
    "+-+5",
    "1//0.0",
    "2**0.5",
]


@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_calculate_agrees_with_pythons_eval(expression: str) -> None:
    def via_eval() -> str:  # what tau2 does
        if not all(char in "0123456789+-*/(). " for char in expression):
            return "Error: Invalid characters in expression"
        with warnings.catch_warnings():  # eval warns about "(1)(2)" while compiling it
            warnings.simplefilter("ignore")
            try:
                return str(round(float(eval(expression, {"__builtins__": None}, {})), 2))
            except Exception as exc:
                return f"Error: {exc}"

    try:
        ours = calculate(expression)
    except Exception as exc:
        ours = f"Error: {exc}"
    assert ours == via_eval()


def test_calculate_refuses_powers_too_large_to_compute() -> None:
    with pytest.raises(OverflowError, match="int too large to convert to float"):
        calculate("9**9**9**9")
    with pytest.raises(OverflowError):
        calculate(f"2**{MAX_POWER_BITS + 1}")
    assert calculate("(2**5000)/(2**4990)") == "1024.0"


def test_transfer_only_says_so(sandbox: Sandbox) -> None:
    assert call(sandbox, "transfer_to_human_agents", {"summary": "x"}) == ToolResult(content="Transfer successful")
    assert len(sandbox.changes()) == 0
    assert not TOOLSET.is_write("transfer_to_human_agents")


# --- write tools ------------------------------------------------------------------------------


def test_write_tools_are_the_seven_that_change_records() -> None:
    assert {n for n in TOOLSET.names if TOOLSET.is_write(n)} == {
        "cancel_pending_order",
        "exchange_delivered_order_items",
        "modify_pending_order_address",
        "modify_pending_order_items",
        "modify_pending_order_payment",
        "modify_user_address",
        "return_delivered_order_items",
    }


def test_cancel_refunds_every_payment_and_credits_gift_cards(sandbox: Sandbox) -> None:
    assert fail(sandbox, "cancel_pending_order", order_id="#W0000001", reason="changed my mind") == "Invalid reason"
    assert fail(sandbox, "cancel_pending_order", order_id="#W0000002", reason="no longer needed") == (
        "Non-pending order cannot be cancelled"
    )
    assert fail(sandbox, "cancel_pending_order", order_id="#W0000004", reason="no longer needed") == (
        "Non-pending order cannot be cancelled"
    )
    order = ok(sandbox, "cancel_pending_order", order_id="#W0000001", reason="ordered by mistake")
    assert order["status"] == "cancelled"
    assert order["cancel_reason"] == "ordered by mistake"
    assert order["payment_history"][1] == {
        "transaction_type": "refund",
        "amount": 17.85,
        "payment_method_id": "credit_card_1",
    }
    assert ok(sandbox, "get_user_details", user_id="ann_lee_1")["payment_methods"]["gift_card_1"]["balance"] == 100.0
    assert {(c.kind, c.key) for c in sandbox.changes().changes} == {("orders", "#W0000001")}


def test_cancel_fails_half_way_and_keeps_the_gift_card_credit(sandbox: Sandbox) -> None:
    # tau2 credits each gift card inside its refund loop and only then meets the missing method.
    assert fail(sandbox, "cancel_pending_order", order_id="#W0000003", reason="no longer needed") == (
        "Payment method not found"
    )
    assert ok(sandbox, "get_user_details", user_id="ann_lee_1")["payment_methods"]["gift_card_1"]["balance"] == 108.0
    order = ok(sandbox, "get_order_details", order_id="#W0000003")
    assert order["status"] == "pending"
    assert len(order["payment_history"]) == 2
    assert {(c.kind, c.key) for c in sandbox.changes().changes} == {("users", "ann_lee_1")}


def test_modify_items_keeps_tau2s_last_variant_bug_and_unrounded_payment(sandbox: Sandbox) -> None:
    order = ok(
        sandbox,
        "modify_pending_order_items",
        order_id="#W0000001",
        item_ids=[LAMP_RED, MUG_LARGE],
        new_item_ids=[LAMP_BLUE, MUG_SMALL],
        payment_method_id="gift_card_1",
    )
    difference = 0.0
    difference += 20.2 - 10.1
    difference += 5.55 - 7.75
    assert difference != round(difference, 2)  # the prices were chosen so that rounding shows
    assert order["status"] == "pending (item modified)"
    assert order["payment_history"][-1] == {
        "transaction_type": "payment",
        "amount": difference,
        "payment_method_id": "gift_card_1",
    }
    # Every modified line takes the price and options of the LAST new variant (the mug).
    assert [(i["item_id"], i["price"], i["options"]) for i in order["items"]] == [
        (LAMP_BLUE, 5.55, {"size": "small"}),
        (MUG_SMALL, 5.55, {"size": "small"}),
    ]
    assert ok(sandbox, "get_user_details", user_id="ann_lee_1")["payment_methods"]["gift_card_1"]["balance"] == round(
        100.0 - difference, 2
    )
    # Only once per order: the status is no longer exactly "pending".
    assert (
        fail(
            sandbox,
            "modify_pending_order_items",
            order_id="#W0000001",
            item_ids=[LAMP_BLUE],
            new_item_ids=[LAMP_RED],
            payment_method_id="gift_card_1",
        )
        == "Non-pending order cannot be modified"
    )


def test_modify_items_refund_is_recorded_even_when_zero(sandbox: Sandbox) -> None:
    order = ok(
        sandbox,
        "modify_pending_order_items",
        order_id="#W0000001",
        item_ids=[],
        new_item_ids=[],
        payment_method_id="credit_card_1",
    )
    assert order["payment_history"][-1] == {
        "transaction_type": "refund",
        "amount": 0.0,
        "payment_method_id": "credit_card_1",
    }
    assert isinstance(order["payment_history"][-1]["amount"], float)


def test_modify_items_checks_in_tau2s_order(sandbox: Sandbox) -> None:
    def attempt(item_ids: list[str], new_item_ids: list[str], method: str = "gift_card_1") -> str:
        return fail(
            sandbox,
            "modify_pending_order_items",
            order_id="#W0000001",
            item_ids=item_ids,
            new_item_ids=new_item_ids,
            payment_method_id=method,
        )

    assert attempt([LAMP_RED, LAMP_RED], [LAMP_BLUE, LAMP_BLUE]) == f"{LAMP_RED} not found"
    assert attempt([LAMP_RED], []) == "The number of items to be exchanged should match"
    assert attempt([LAMP_RED], [LAMP_RED]) == "The new item id should be different from the old item id"
    assert attempt([LAMP_RED], [MUG_SMALL]) == "Variant not found"
    assert attempt([LAMP_RED], [LAMP_GREEN]) == f"New item {LAMP_GREEN} not found or available"
    assert attempt([LAMP_RED], [LAMP_BLUE], "gift_card_3") == "Payment method not found"
    assert attempt([LAMP_RED], [LAMP_BLUE], "gift_card_4") == "Insufficient gift card balance to pay for the new item"
    assert (
        fail(
            sandbox,
            "modify_pending_order_items",
            order_id="#W0000004",
            item_ids=[],
            new_item_ids=[],
            payment_method_id="gift_card_3",
        )
        == "Non-pending order cannot be modified"
    )
    assert len(sandbox.changes()) == 0


def test_exchange_rounds_the_difference_and_moves_no_money(sandbox: Sandbox) -> None:
    order = ok(
        sandbox,
        "exchange_delivered_order_items",
        order_id="#W0000002",
        item_ids=[MUG_LARGE, LAMP_RED],
        new_item_ids=[MUG_SMALL, LAMP_BLUE],
        payment_method_id="gift_card_1",
    )
    assert order["status"] == "exchange requested"
    assert order["exchange_items"] == [LAMP_RED, MUG_LARGE]  # sorted
    assert order["exchange_new_items"] == [LAMP_BLUE, MUG_SMALL]
    assert order["exchange_price_difference"] == 7.9
    assert order["exchange_payment_method_id"] == "gift_card_1"
    assert len(order["payment_history"]) == 1
    assert {(c.kind, c.key) for c in sandbox.changes().changes} == {("orders", "#W0000002")}


def test_exchange_checks_in_tau2s_order(sandbox: Sandbox) -> None:
    def attempt(order_id: str, item_ids: list[str], new_item_ids: list[str], method: str = "gift_card_1") -> str:
        return fail(
            sandbox,
            "exchange_delivered_order_items",
            order_id=order_id,
            item_ids=item_ids,
            new_item_ids=new_item_ids,
            payment_method_id=method,
        )

    assert attempt("#W0000001", [LAMP_RED], [LAMP_BLUE]) == "Non-delivered order cannot be exchanged"
    assert attempt("#W0000002", [MUG_SMALL], [MUG_LARGE]) == f"Number of {MUG_SMALL} not found."
    assert attempt("#W0000002", [LAMP_RED], []) == "The number of items to be exchanged should match."
    assert attempt("#W0000002", [LAMP_RED], [LAMP_GREEN]) == f"New item {LAMP_GREEN} not found or available"
    assert attempt("#W0000002", [LAMP_RED], [LAMP_BLUE], "paypal_9") == "Payment method not found"
    assert attempt("#W0000002", [LAMP_RED], [LAMP_BLUE], "gift_card_4") == (
        "Insufficient gift card balance to pay for the price difference"
    )
    assert len(sandbox.changes()) == 0
    # Unlike modify_pending_order_items, exchanging an item for itself is allowed.
    assert (
        ok(
            sandbox,
            "exchange_delivered_order_items",
            order_id="#W0000002",
            item_ids=[LAMP_RED],
            new_item_ids=[LAMP_RED],
            payment_method_id="paypal_1",
        )["exchange_price_difference"]
        == 0.0
    )


def test_an_empty_exchange_records_the_integer_zero(world: Snapshot) -> None:
    # tau2 starts the sum at int 0 and never converts it; the DB hash sees "0", not "0.0".
    fork = world.fork()
    content = call(
        fork,
        "exchange_delivered_order_items",
        {"order_id": "#W0000002", "item_ids": [], "new_item_ids": [], "payment_method_id": "gift_card_1"},
    ).content
    assert '"exchange_price_difference": 0, ' in content
    assert state(fork)["orders"]["#W0000002"]["exchange_price_difference"] == 0
    assert isinstance(state(fork)["orders"]["#W0000002"]["exchange_price_difference"], int)


def test_return_checks_method_then_items(sandbox: Sandbox) -> None:
    def attempt(order_id: str, item_ids: list[str], method: str) -> str:
        return fail(
            sandbox, "return_delivered_order_items", order_id=order_id, item_ids=item_ids, payment_method_id=method
        )

    assert attempt("#W0000001", [LAMP_RED], "gift_card_1") == "Non-delivered order cannot be returned"
    assert attempt("#W0000002", [LAMP_RED], "credit_card_9") == "Payment method not found"
    assert attempt("#W0000002", [LAMP_RED], "credit_card_1") == "Payment method should be the original payment method"
    assert attempt("#W0000002", [LAMP_RED, LAMP_RED], "gift_card_1") == "Some item not found"
    # An order without payments trips over payment_history[0], as tau2 does.
    assert attempt("#W0000005", [LAMP_RED], "credit_card_3") == "list index out of range"
    assert len(sandbox.changes()) == 0
    order = ok(
        sandbox,
        "return_delivered_order_items",
        order_id="#W0000002",
        item_ids=[MUG_LARGE, LAMP_RED],
        payment_method_id="gift_card_4",
    )
    assert (order["status"], order["return_items"], order["return_payment_method_id"]) == (
        "return requested",
        [LAMP_RED, MUG_LARGE],
        "gift_card_4",
    )
    assert order["payment_history"] == [
        {"transaction_type": "payment", "amount": 17.85, "payment_method_id": "gift_card_1"}
    ]


def test_modify_payment_moves_the_payment_and_both_gift_card_balances(sandbox: Sandbox) -> None:
    assert fail(sandbox, "modify_pending_order_payment", order_id="#W0000001", payment_method_id="credit_card_1") == (
        "The new payment method should be different from the current one"
    )
    assert fail(sandbox, "modify_pending_order_payment", order_id="#W0000001", payment_method_id="gift_card_4") == (
        "Insufficient gift card balance to pay for the order"
    )
    assert fail(sandbox, "modify_pending_order_payment", order_id="#W0000003", payment_method_id="paypal_1") == (
        "There should be exactly one payment for a pending order"
    )
    assert fail(sandbox, "modify_pending_order_payment", order_id="#W0000002", payment_method_id="paypal_1") == (
        "Non-pending order cannot be modified"
    )
    assert len(sandbox.changes()) == 0
    order = ok(sandbox, "modify_pending_order_payment", order_id="#W0000001", payment_method_id="gift_card_1")
    assert order["payment_history"][1:] == [
        {"transaction_type": "payment", "amount": 17.85, "payment_method_id": "gift_card_1"},
        {"transaction_type": "refund", "amount": 17.85, "payment_method_id": "credit_card_1"},
    ]
    assert ok(sandbox, "get_user_details", user_id="ann_lee_1")["payment_methods"]["gift_card_1"]["balance"] == 82.15


def test_modify_payment_fails_after_writing_when_the_old_method_is_gone(sandbox: Sandbox) -> None:
    # "pending (item modified)" counts as pending here; the old method is looked up last.
    assert fail(sandbox, "modify_pending_order_payment", order_id="#W0000004", payment_method_id="gift_card_3") == (
        "Payment method not found"
    )
    order = ok(sandbox, "get_order_details", order_id="#W0000004")
    assert [p["transaction_type"] for p in order["payment_history"]] == ["payment", "payment", "refund"]
    assert ok(sandbox, "get_user_details", user_id="bob_ray_3")["payment_methods"]["gift_card_3"]["balance"] == 1.0


def test_modify_addresses(sandbox: Sandbox) -> None:
    order = ok(sandbox, "modify_pending_order_address", order_id="#W0000004", **_NEW_ADDRESS)
    assert order["address"] == {
        "address1": "9 Elm St",
        "address2": "Apt 2",
        "city": "Austin",
        "country": "USA",
        "state": "TX",
        "zip": "73301",
    }
    assert (
        fail(sandbox, "modify_pending_order_address", order_id="#W0000002", **_NEW_ADDRESS)
        == "Non-pending order cannot be modified"
    )
    user = ok(sandbox, "modify_user_address", user_id="bob_ray_3", **_NEW_ADDRESS)
    assert list(user["address"]) == ["address1", "address2", "city", "country", "state", "zip"]
    assert user["address"]["zip"] == "73301"
    assert fail(sandbox, "modify_user_address", user_id="nobody", **_NEW_ADDRESS) == "User not found"


# --- sandbox semantics ------------------------------------------------------------------------


def test_reads_see_the_episodes_own_writes_and_forks_stay_apart(world: Snapshot) -> None:
    a, b = world.fork(), world.fork()
    ok(a, "cancel_pending_order", order_id="#W0000001", reason="no longer needed")
    assert ok(a, "get_order_details", order_id="#W0000001")["status"] == "cancelled"
    assert ok(b, "get_order_details", order_id="#W0000001")["status"] == "pending"
    ok(b, "modify_pending_order_payment", order_id="#W0000001", payment_method_id="gift_card_1")
    assert ok(a, "get_user_details", user_id="ann_lee_1")["payment_methods"]["gift_card_1"]["balance"] == 100.0
    assert ok(b, "get_user_details", user_id="ann_lee_1")["payment_methods"]["gift_card_1"]["balance"] == 82.15
    assert a.state_hash() != b.state_hash()
    assert len(world.fork().changes()) == 0


def test_find_by_name_and_zip_follows_an_address_change(sandbox: Sandbox) -> None:
    ok(sandbox, "modify_user_address", user_id="bob_ray_3", **_NEW_ADDRESS)
    assert fail(sandbox, "find_user_id_by_name_zip", first_name="Bob", last_name="Ray", zip="20002") == "User not found"
    assert ok(sandbox, "find_user_id_by_name_zip", first_name="bob", last_name="ray", zip="73301") == "bob_ray_3"


def test_the_first_match_stays_first_after_it_is_rewritten(sandbox: Sandbox) -> None:
    # ann_lee_1 is rewritten (same zip); it must not lose its place before ann_lee_2.
    ok(sandbox, "modify_user_address", user_id="ann_lee_1", **{**_NEW_ADDRESS, "zip": "10001"})
    assert ok(sandbox, "find_user_id_by_name_zip", first_name="Ann", last_name="Lee", zip="10001") == "ann_lee_1"
    assert ok(sandbox, "find_user_id_by_email", email="ann.lee@example.com") == "ann_lee_1"
    # Moving ann_lee_1 away leaves ann_lee_2 as the only match.
    ok(sandbox, "modify_user_address", user_id="ann_lee_1", **_NEW_ADDRESS)
    assert ok(sandbox, "find_user_id_by_name_zip", first_name="Ann", last_name="Lee", zip="10001") == "ann_lee_2"
    assert list(state(sandbox)["users"]) == ["ann_lee_1", "ann_lee_2", "bob_ray_3"]


def test_find_after_an_address_change_on_tau2s_data(tau2_dir: Path) -> None:
    snapshot = load_tau2_db(Schema(KINDS), tau2_dir / "retail" / "db.json")
    fork = snapshot.fork()
    assert (
        ok(fork, "find_user_id_by_name_zip", first_name="Yusuf", last_name="Rossi", zip="19122") == "yusuf_rossi_9620"
    )
    ok(fork, "modify_user_address", user_id="yusuf_rossi_9620", **_NEW_ADDRESS)
    assert (
        fail(fork, "find_user_id_by_name_zip", first_name="Yusuf", last_name="Rossi", zip="19122") == "User not found"
    )
    assert (
        ok(fork, "find_user_id_by_name_zip", first_name="yusuf", last_name="ROSSI", zip="73301") == "yusuf_rossi_9620"
    )
    assert ok(snapshot.fork(), "find_user_id_by_name_zip", first_name="Yusuf", last_name="Rossi", zip="19122") == (
        "yusuf_rossi_9620"
    )
