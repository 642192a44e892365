"""Retail records: tau2's retail entities as msgspec Structs.

Field names, order and types follow tau2's data model exactly, because tool outputs are these
records serialised in field order and the tau2 DB hash is taken over them (a float stays a float:
``100.0`` and ``100`` hash differently).
"""

from __future__ import annotations

from typing import Literal

import msgspec

from cove_async.sandbox import RecordKind

__all__ = (
    "CreditCard",
    "GiftCard",
    "Order",
    "OrderAddress",
    "OrderFulfillment",
    "OrderItem",
    "OrderPayment",
    "OrderStatus",
    "PaymentMethod",
    "Paypal",
    "Product",
    "User",
    "UserAddress",
    "UserName",
    "Variant",
    "KINDS",
)


class Variant(msgspec.Struct, kw_only=True):
    """One purchasable variant of a product (an item id)."""

    item_id: str
    options: dict[str, str]
    available: bool
    price: float


class Product(msgspec.Struct, kw_only=True):
    """A product type and all its variants, keyed by item id."""

    name: str
    product_id: str
    variants: dict[str, Variant]


class UserName(msgspec.Struct, kw_only=True):
    first_name: str
    last_name: str


class UserAddress(msgspec.Struct, kw_only=True):
    address1: str
    address2: str
    city: str
    country: str
    state: str
    zip: str


OrderAddress = UserAddress


class CreditCard(msgspec.Struct, kw_only=True, tag_field="source", tag="credit_card"):
    id: str
    brand: str
    last_four: str


class GiftCard(msgspec.Struct, kw_only=True, tag_field="source", tag="gift_card"):
    id: str
    balance: float


class Paypal(msgspec.Struct, kw_only=True, tag_field="source", tag="paypal"):
    id: str


PaymentMethod = CreditCard | GiftCard | Paypal


class User(msgspec.Struct, kw_only=True):
    """A customer, with payment methods keyed by id and order ids in placement order."""

    user_id: str
    name: UserName
    address: UserAddress
    email: str
    payment_methods: dict[str, PaymentMethod]
    orders: list[str]


class OrderItem(msgspec.Struct, kw_only=True):
    name: str
    product_id: str
    item_id: str
    price: float
    options: dict[str, str]


class OrderFulfillment(msgspec.Struct, kw_only=True):
    tracking_id: list[str]
    item_ids: list[str]


class OrderPayment(msgspec.Struct, kw_only=True):
    transaction_type: Literal["payment", "refund"]
    amount: float
    payment_method_id: str


OrderStatus = Literal[
    "processed",
    "pending",
    "pending (item modified)",
    "delivered",
    "cancelled",
    "exchange requested",
    "return requested",
]


class Order(msgspec.Struct, kw_only=True):
    """An order with its lines, shipments, money movements and any requested change."""

    order_id: str
    user_id: str
    address: OrderAddress
    items: list[OrderItem]
    status: OrderStatus
    fulfillments: list[OrderFulfillment]
    payment_history: list[OrderPayment]
    cancel_reason: Literal["no longer needed", "ordered by mistake"] | None = None
    exchange_items: list[str] | None = None
    exchange_new_items: list[str] | None = None
    exchange_payment_method_id: str | None = None
    exchange_price_difference: float | None = None
    return_items: list[str] | None = None
    return_payment_method_id: str | None = None


KINDS: tuple[RecordKind[msgspec.Struct], ...] = (
    RecordKind("products", Product, "product_id", indexes=(("name",),)),
    RecordKind(
        "users",
        User,
        "user_id",
        indexes=(("lower(email)",), ("lower(name__first_name)", "lower(name__last_name)", "address__zip")),
    ),
    RecordKind("orders", Order, "order_id", indexes=(("user_id",),)),
)
