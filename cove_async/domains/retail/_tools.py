"""The 16 retail agent tools, with tau2's semantics byte for byte.

Every output, error text and state change matches tau2's ``RetailTools``, quirks included, because
tau2 grades an episode by hashing the whole database after replaying the agent's writes:

* no rollback: a tool that fails after it began to write leaves the partial change (the records
  come from :meth:`Sandbox.get_for_update` and are changed in place);
* floats are rounded exactly where tau2 rounds (gift card balances, the exchange price
  difference) and nowhere else (the payment a modified order records);
* ``modify_pending_order_items`` gives every modified line the price and options of the last new
  variant of the call (tau2 issues #317/#318; its gold databases are built with the same bug);
* user lookups compare case-insensitively and return the first match in insertion order.

Lookups go through :meth:`Sandbox.find`: the SQL condition is served by the snapshot's indexes,
and the Python predicate states the same condition for the records this episode has changed. The
predicate is the truth; SQLite's ``lower()`` only folds ASCII, so a base record whose email or
name holds a non-ASCII capital is not found by its lower-case spelling (tau2 would find it).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, cast

from cove_async.domains._generic import CALCULATE, TRANSFER_TO_HUMAN_AGENTS
from cove_async.domains._tools import Tool, ToolKind, Toolset
from cove_async.domains.retail._records import (
    KINDS,
    GiftCard,
    Order,
    OrderAddress,
    OrderPayment,
    PaymentMethod,
    Product,
    User,
    UserAddress,
    Variant,
)
from cove_async.errors import ToolCallError
from cove_async.sandbox import RecordKind, Sandbox

__all__ = ("TOOLSET",)

_KIND = {kind.name: kind for kind in KINDS}
_PRODUCTS = cast(RecordKind[Product], _KIND["products"])
_USERS = cast(RecordKind[User], _KIND["users"])
_ORDERS = cast(RecordKind[Order], _KIND["orders"])

_CANCEL_REASONS = frozenset({"no longer needed", "ordered by mistake"})


# --- record access, with tau2's error texts ---------------------------------------------------


def _order(sandbox: Sandbox, order_id: str, *, for_update: bool = False) -> Order:
    order = sandbox.get_for_update(_ORDERS, order_id) if for_update else sandbox.get(_ORDERS, order_id)
    if order is None:
        raise ToolCallError("Order not found")
    return order


def _user(sandbox: Sandbox, user_id: str, *, for_update: bool = False) -> User:
    user = sandbox.get_for_update(_USERS, user_id) if for_update else sandbox.get(_USERS, user_id)
    if user is None:
        raise ToolCallError("User not found")
    return user


def _product(sandbox: Sandbox, product_id: str) -> Product:
    product = sandbox.get(_PRODUCTS, product_id)
    if product is None:
        raise ToolCallError("Product not found")
    return product


def _variant(sandbox: Sandbox, product_id: str, item_id: str) -> Variant:
    variant = _product(sandbox, product_id).variants.get(item_id)
    if variant is None:
        raise ToolCallError("Variant not found")
    return variant


def _payment_method(
    sandbox: Sandbox, user_id: str, payment_method_id: str, *, for_update: bool = False
) -> PaymentMethod:
    """A user's payment method; ``for_update`` when a gift card balance may change in place."""
    method = _user(sandbox, user_id, for_update=for_update).payment_methods.get(payment_method_id)
    if method is None:
        raise ToolCallError("Payment method not found")
    return method


def _check_counts(item_ids: list[str], order: Order, message: Callable[[str], str]) -> None:
    """Each id may be named at most as often as the order holds it (lists may repeat ids)."""
    held = [item.item_id for item in order.items]
    for item_id in item_ids:
        if item_ids.count(item_id) > held.count(item_id):
            raise ToolCallError(message(item_id))


# --- read tools -------------------------------------------------------------------------------


def find_user_id_by_email(sandbox: Sandbox, email: str) -> str:
    """The id of the first user whose email equals ``email`` ignoring case."""
    wanted = email.lower()
    found = sandbox.find(_USERS, "lower(email) = ?", (wanted,), lambda user: user.email.lower() == wanted)
    if not found:
        raise ToolCallError("User not found")
    return found[0]


def find_user_id_by_name_zip(sandbox: Sandbox, first_name: str, last_name: str, zip: str) -> str:
    """The id of the first user with this name (ignoring case) and exactly this zip code."""
    first, last = first_name.lower(), last_name.lower()

    def matches(user: User) -> bool:
        return user.name.first_name.lower() == first and user.name.last_name.lower() == last and user.address.zip == zip

    found = sandbox.find(
        _USERS,
        "lower(name__first_name) = ? AND lower(name__last_name) = ? AND address__zip = ?",
        (first, last, zip),
        matches,
    )
    if not found:
        raise ToolCallError("User not found")
    return found[0]


def get_order_details(sandbox: Sandbox, order_id: str) -> Order:
    """The order ``order_id``."""
    return _order(sandbox, order_id)


def get_product_details(sandbox: Sandbox, product_id: str) -> Product:
    """The product ``product_id`` with all its variants."""
    return _product(sandbox, product_id)


def get_item_details(sandbox: Sandbox, item_id: str) -> Variant:
    """The variant ``item_id``, from the first product (in insertion order) that has it."""
    found = sandbox.find(
        _PRODUCTS,
        'product_id IN (SELECT _owner FROM "products__variants" WHERE _key = ?)',
        (item_id,),
        lambda product: item_id in product.variants,
    )
    for product_id in found:
        product = sandbox.get(_PRODUCTS, product_id)
        if product is not None and item_id in product.variants:
            return product.variants[item_id]
    raise ToolCallError("Item not found")


def get_user_details(sandbox: Sandbox, user_id: str) -> User:
    """The user ``user_id`` with payment methods and order ids."""
    return _user(sandbox, user_id)


def list_all_product_types(sandbox: Sandbox) -> str:
    """A JSON object from product name to product id, keys sorted."""
    names: dict[str, str] = {}
    for product_id in sandbox.keys(_PRODUCTS):
        product = sandbox.get(_PRODUCTS, product_id)
        if product is not None:
            names[product.name] = product.product_id
    return json.dumps(names, sort_keys=True)


# --- write tools ------------------------------------------------------------------------------


def cancel_pending_order(sandbox: Sandbox, order_id: str, reason: str) -> Order:
    """Cancel a pending order, refunding every payment; gift cards are credited at once."""
    order = _order(sandbox, order_id, for_update=True)
    if order.status != "pending":
        raise ToolCallError("Non-pending order cannot be cancelled")
    if reason not in _CANCEL_REASONS:
        raise ToolCallError("Invalid reason")
    refunds = []
    for payment in order.payment_history:
        refunds.append(
            OrderPayment(transaction_type="refund", amount=payment.amount, payment_method_id=payment.payment_method_id)
        )
        # Credited inside the loop, as in tau2: a missing method further down the history
        # fails the call after earlier gift cards were already credited.
        method = _payment_method(sandbox, order.user_id, payment.payment_method_id, for_update=True)
        if isinstance(method, GiftCard):
            method.balance = round(method.balance + payment.amount, 2)
    order.status = "cancelled"
    order.cancel_reason = cast(Any, reason)
    order.payment_history.extend(refunds)
    return order


def exchange_delivered_order_items(
    sandbox: Sandbox, order_id: str, item_ids: list[str], new_item_ids: list[str], payment_method_id: str
) -> Order:
    """Request an exchange of delivered items for other variants of the same products."""
    order = _order(sandbox, order_id, for_update=True)
    if order.status != "delivered":
        raise ToolCallError("Non-delivered order cannot be exchanged")
    _check_counts(item_ids, order, lambda item_id: f"Number of {item_id} not found.")
    if len(item_ids) != len(new_item_ids):
        raise ToolCallError("The number of items to be exchanged should match.")
    # Starts as the int 0, as in tau2: an empty exchange records 0, not 0.0, and that changes the hash.
    difference: float = 0
    for item_id, new_item_id in zip(item_ids, new_item_ids, strict=True):
        item = next((line for line in order.items if line.item_id == item_id), None)
        if item is None:
            raise ToolCallError(f"Item {item_id} not found")
        variant = _variant(sandbox, item.product_id, new_item_id)
        if not variant.available:
            raise ToolCallError(f"New item {new_item_id} not found or available")
        difference += variant.price - item.price
    difference = round(difference, 2)
    method = _payment_method(sandbox, order.user_id, payment_method_id)
    if isinstance(method, GiftCard) and method.balance < difference:
        raise ToolCallError("Insufficient gift card balance to pay for the price difference")
    order.status = "exchange requested"
    order.exchange_items = sorted(item_ids)
    order.exchange_new_items = sorted(new_item_ids)
    order.exchange_payment_method_id = payment_method_id
    order.exchange_price_difference = difference
    return order


def modify_pending_order_address(
    sandbox: Sandbox, order_id: str, address1: str, address2: str, city: str, state: str, country: str, zip: str
) -> Order:
    """Replace the shipping address of a pending (or item-modified) order."""
    order = _order(sandbox, order_id, for_update=True)
    if "pending" not in order.status:
        raise ToolCallError("Non-pending order cannot be modified")
    order.address = OrderAddress(address1=address1, address2=address2, city=city, country=country, state=state, zip=zip)
    return order


def modify_pending_order_items(
    sandbox: Sandbox, order_id: str, item_ids: list[str], new_item_ids: list[str], payment_method_id: str
) -> Order:
    """Swap items of a pending order for other variants, settling the price difference."""
    order = _order(sandbox, order_id, for_update=True)
    if order.status != "pending":
        raise ToolCallError("Non-pending order cannot be modified")
    _check_counts(item_ids, order, lambda item_id: f"{item_id} not found")
    if len(item_ids) != len(new_item_ids):
        raise ToolCallError("The number of items to be exchanged should match")
    difference: float = 0  # never rounded here, unlike the exchange
    chosen: list[Variant] = []
    for item_id, new_item_id in zip(item_ids, new_item_ids, strict=True):
        if item_id == new_item_id:
            raise ToolCallError("The new item id should be different from the old item id")
        item = next((line for line in order.items if line.item_id == item_id), None)
        if item is None:
            raise ToolCallError(f"Item {item_id} not found")
        variant = _variant(sandbox, item.product_id, new_item_id)
        if not variant.available:
            raise ToolCallError(f"New item {new_item_id} not found or available")
        chosen.append(variant)
        difference += variant.price - item.price
    method = _payment_method(sandbox, order.user_id, payment_method_id, for_update=True)
    if isinstance(method, GiftCard) and method.balance < difference:
        raise ToolCallError("Insufficient gift card balance to pay for the new item")
    order.payment_history.append(
        OrderPayment(
            transaction_type="payment" if difference > 0 else "refund",
            amount=float(abs(difference)),  # tau2's pydantic model makes the amount a float
            payment_method_id=payment_method_id,
        )
    )
    if isinstance(method, GiftCard):
        method.balance = round(method.balance - difference, 2)
    for item_id, new_item_id in zip(item_ids, new_item_ids, strict=True):
        # Searched again in the lines already rewritten, as tau2 does.
        item = next((line for line in order.items if line.item_id == item_id), None)
        if item is None:
            raise ToolCallError(f"Item {item_id} not found")
        item.item_id = new_item_id
        # tau2's bug, kept for grading parity: every line gets the LAST variant's price and options.
        item.price = chosen[-1].price
        item.options = dict(chosen[-1].options)
    order.status = "pending (item modified)"
    return order


def modify_pending_order_payment(sandbox: Sandbox, order_id: str, payment_method_id: str) -> Order:
    """Move a pending order's single payment to another of the user's methods."""
    order = _order(sandbox, order_id, for_update=True)
    if "pending" not in order.status:
        raise ToolCallError("Non-pending order cannot be modified")
    method = _payment_method(sandbox, order.user_id, payment_method_id, for_update=True)
    history = order.payment_history
    if len(history) != 1 or history[0].transaction_type != "payment":
        raise ToolCallError("There should be exactly one payment for a pending order")
    if history[0].payment_method_id == payment_method_id:
        raise ToolCallError("The new payment method should be different from the current one")
    amount = history[0].amount
    if isinstance(method, GiftCard) and method.balance < amount:
        raise ToolCallError("Insufficient gift card balance to pay for the order")
    history.append(OrderPayment(transaction_type="payment", amount=amount, payment_method_id=payment_method_id))
    history.append(
        OrderPayment(transaction_type="refund", amount=amount, payment_method_id=history[0].payment_method_id)
    )
    if isinstance(method, GiftCard):
        method.balance = round(method.balance - amount, 2)
    # Looked up only now, as in tau2: if the old method is gone the call fails with the new
    # payment already recorded.
    old = _payment_method(sandbox, order.user_id, history[0].payment_method_id, for_update=True)
    if isinstance(old, GiftCard):
        old.balance = round(old.balance + amount, 2)
    return order


def modify_user_address(
    sandbox: Sandbox, user_id: str, address1: str, address2: str, city: str, state: str, country: str, zip: str
) -> User:
    """Replace a user's default address."""
    user = _user(sandbox, user_id, for_update=True)
    user.address = UserAddress(address1=address1, address2=address2, city=city, country=country, state=state, zip=zip)
    return user


def return_delivered_order_items(sandbox: Sandbox, order_id: str, item_ids: list[str], payment_method_id: str) -> Order:
    """Request the return of delivered items, refunded to the original method or a gift card."""
    order = _order(sandbox, order_id, for_update=True)
    if order.status != "delivered":
        raise ToolCallError("Non-delivered order cannot be returned")
    method = _payment_method(sandbox, order.user_id, payment_method_id)
    # An order without payments fails here with IndexError's text, as in tau2.
    if not isinstance(method, GiftCard) and payment_method_id != order.payment_history[0].payment_method_id:
        raise ToolCallError("Payment method should be the original payment method")
    _check_counts(item_ids, order, lambda _item_id: "Some item not found")
    order.status = "return requested"
    order.return_items = sorted(item_ids)
    order.return_payment_method_id = payment_method_id
    return order


# --- schemas ----------------------------------------------------------------------------------

_ORDER_ID = {"type": "string", "description": "The order id, which starts with '#', e.g. '#W0000000'."}
_USER_ID = {"type": "string", "description": "The user id, e.g. 'sara_doe_496'."}
_ITEM_LIST = {"type": "array", "items": {"type": "string"}}
_PAYMENT_ID = {
    "type": "string",
    "description": (
        "Id of one of the user's payment methods, e.g. 'gift_card_0000000' or 'credit_card_0000000'; "
        "see the user's or the order's details."
    ),
}
_ADDRESS = {
    "address1": {"type": "string", "description": "First address line, e.g. '123 Main St'."},
    "address2": {"type": "string", "description": "Second address line, e.g. 'Apt 1'; may be empty."},
    "city": {"type": "string", "description": "City, e.g. 'San Francisco'."},
    "state": {"type": "string", "description": "State code, e.g. 'CA'."},
    "country": {"type": "string", "description": "Country, e.g. 'USA'."},
    "zip": {"type": "string", "description": "Zip code, e.g. '12345'."},
}
_ADDRESS_FIELDS = ["address1", "address2", "city", "state", "country", "zip"]


def _object(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required is None:
        required = list(properties)
    if required:
        schema["required"] = required
    return schema


def _tool(name: str, kind: ToolKind, description: str, parameters: dict[str, Any], run: Callable[..., object]) -> Tool:
    return Tool(name=name, kind=kind, description=description, parameters=parameters, run=run)


_R, _W = ToolKind.READ, ToolKind.WRITE

# In the order of tau2's tool_schemas.json.
TOOLSET = Toolset(
    "retail",
    [
        CALCULATE,
        _tool(
            "cancel_pending_order",
            _W,
            "Cancel an order whose status is exactly 'pending'. Every payment is refunded: gift cards at once, "
            "other methods within 5-7 business days. Explain the details and get an explicit 'yes' from the "
            "user first. Returns the updated order.",
            _object(
                {
                    "order_id": _ORDER_ID,
                    "reason": {
                        "type": "string",
                        "description": "Why the order is cancelled: 'no longer needed' or 'ordered by mistake'.",
                    },
                }
            ),
            cancel_pending_order,
        ),
        _tool(
            "exchange_delivered_order_items",
            _W,
            "Request an exchange of items of a delivered order for other variants of the same products. "
            "An order can be returned or exchanged only once, so collect every item first, explain the "
            "details and get an explicit 'yes'. Returns the updated order.",
            _object(
                {
                    "order_id": _ORDER_ID,
                    "item_ids": {
                        **_ITEM_LIST,
                        "description": "Item ids to exchange, e.g. ['1008292230']; an id may repeat.",
                    },
                    "new_item_ids": {
                        **_ITEM_LIST,
                        "description": (
                            "Replacement item ids, position by position: each must be an available variant "
                            "of the same product as the item it replaces; an id may repeat."
                        ),
                    },
                    "payment_method_id": {
                        **_PAYMENT_ID,
                        "description": "Payment method that pays or receives the price difference. "
                        + _PAYMENT_ID["description"],
                    },
                }
            ),
            exchange_delivered_order_items,
        ),
        _tool(
            "find_user_id_by_name_zip",
            _R,
            "Look up a user id by first name, last name and zip code. Prefer find_user_id_by_email; use this "
            "when the user cannot be found by email or does not remember it.",
            _object(
                {
                    "first_name": {"type": "string", "description": "First name, e.g. 'John'."},
                    "last_name": {"type": "string", "description": "Last name, e.g. 'Doe'."},
                    "zip": {"type": "string", "description": "Zip code, e.g. '12345'."},
                }
            ),
            find_user_id_by_name_zip,
        ),
        _tool(
            "find_user_id_by_email",
            _R,
            "Look up a user id by email address.",
            _object({"email": {"type": "string", "description": "Email address, e.g. 'someone@example.com'."}}),
            find_user_id_by_email,
        ),
        _tool(
            "get_order_details",
            _R,
            "Show an order: status, items, shipments and payments.",
            _object({"order_id": _ORDER_ID}),
            get_order_details,
        ),
        _tool(
            "get_product_details",
            _R,
            "Show a product type and all its variants (item ids, options, availability, prices).",
            _object(
                {
                    "product_id": {
                        "type": "string",
                        "description": "The product id, e.g. '6086499569' (not an item id).",
                    }
                }
            ),
            get_product_details,
        ),
        _tool(
            "get_item_details",
            _R,
            "Show one item (a product variant): options, availability and price.",
            _object(
                {"item_id": {"type": "string", "description": "The item id, e.g. '6086499569' (not a product id)."}}
            ),
            get_item_details,
        ),
        _tool(
            "get_user_details",
            _R,
            "Show a user: name, address, email, payment methods and order ids.",
            _object({"user_id": _USER_ID}),
            get_user_details,
        ),
        _tool(
            "list_all_product_types",
            _R,
            "List every product type the store sells (50 in all) as a JSON object from product name to product "
            "id, sorted by name.",
            _object({}),
            list_all_product_types,
        ),
        _tool(
            "modify_pending_order_address",
            _W,
            "Change the shipping address of a pending order. Explain the change and get an explicit 'yes' first. "
            "Returns the updated order.",
            _object({"order_id": _ORDER_ID, **{k: _ADDRESS[k] for k in _ADDRESS_FIELDS}}),
            modify_pending_order_address,
        ),
        _tool(
            "modify_pending_order_items",
            _W,
            "Swap items of a pending order for other variants of the same products. This can be done only "
            "once per order, so collect every item first, explain the details and get an explicit 'yes'. "
            "Returns the updated order.",
            _object(
                {
                    "order_id": _ORDER_ID,
                    "item_ids": {**_ITEM_LIST, "description": "Item ids to replace, e.g. ['1008292230']; may repeat."},
                    "new_item_ids": {
                        **_ITEM_LIST,
                        "description": (
                            "Replacement item ids, position by position: each must be a different, available "
                            "variant of the same product as the item it replaces; may repeat."
                        ),
                    },
                    "payment_method_id": {
                        **_PAYMENT_ID,
                        "description": "Payment method that pays or receives the price difference. "
                        + _PAYMENT_ID["description"],
                    },
                }
            ),
            modify_pending_order_items,
        ),
        _tool(
            "modify_pending_order_payment",
            _W,
            "Pay a pending order with a different payment method of the same user. Explain the change and get "
            "an explicit 'yes' first. Returns the updated order.",
            _object(
                {
                    "order_id": _ORDER_ID,
                    "payment_method_id": {
                        **_PAYMENT_ID,
                        "description": "The new method. " + _PAYMENT_ID["description"],
                    },
                }
            ),
            modify_pending_order_payment,
        ),
        _tool(
            "modify_user_address",
            _W,
            "Change a user's default address. Explain the change and get an explicit 'yes' first. Returns the "
            "updated user.",
            _object({"user_id": _USER_ID, **{k: _ADDRESS[k] for k in _ADDRESS_FIELDS}}),
            modify_user_address,
        ),
        _tool(
            "return_delivered_order_items",
            _W,
            "Request the return of items of a delivered order; the user is emailed return instructions. An "
            "order can be returned or exchanged only once, so collect every item first, explain the details "
            "and get an explicit 'yes'. Returns the updated order.",
            _object(
                {
                    "order_id": _ORDER_ID,
                    "item_ids": {**_ITEM_LIST, "description": "Item ids to return, e.g. ['1008292230']; may repeat."},
                    "payment_method_id": {
                        **_PAYMENT_ID,
                        "description": "Where the refund goes: the order's original payment method or a gift "
                        "card of the user. " + _PAYMENT_ID["description"],
                    },
                }
            ),
            return_delivered_order_items,
        ),
        TRANSFER_TO_HUMAN_AGENTS,
    ],
    owner="RetailTools",
)
"""The retail agent tools."""
