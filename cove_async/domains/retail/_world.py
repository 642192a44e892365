"""Seeded synthetic retail worlds: tau2's shape and proportions, our own people and products.

A world is built in three passes: a catalogue (product types with 5-20 option variants each),
customers (with 1-4 payment methods), then orders. Every order is the end state of a history
that tau2's tools could have produced: items are real variants at their catalogue price, the
first payment is the item total, a cancelled order was cancelled while pending (refund rows on
the same method), an item-modified order carries the price difference row, and exchange or
return requests name items that are in the order and variants that are in stock. This keeps
the world usable both by the tools and by a constraint sampler that reasons about it.

The proportions follow tau2's retail ``db.json`` (per 1000 orders: 423 pending, 373 delivered,
102 processed, 102 cancelled), with a share of pending orders turned into "pending (item
modified)" and of delivered ones into "exchange requested" / "return requested", statuses tau2's
own data never starts in.
"""

from __future__ import annotations

import itertools
import random
import statistics
from collections import Counter
from typing import Any, Literal, TypeVar

import msgspec

from cove_async.domains._names import email_for, person_name, postal_address, unique_number, user_id_for
from cove_async.domains.retail._catalogue import CATALOGUE, ProductType
from cove_async.domains.retail._records import (
    KINDS,
    CreditCard,
    GiftCard,
    Order,
    OrderFulfillment,
    OrderItem,
    OrderPayment,
    OrderStatus,
    PaymentMethod,
    Paypal,
    Product,
    User,
    UserAddress,
    UserName,
    Variant,
)
from cove_async.errors import ConfigError
from cove_async.sandbox import RecordKind, Schema, Snapshot

__all__ = ("RetailWorldSize", "generate_retail_world", "retail_world_stats")

R = TypeVar("R", bound=msgspec.Struct)

_SCHEMA = Schema(KINDS)
_PRODUCTS, _USERS, _ORDERS = KINDS

# tau2's retail status mix per 1000 orders, before our request statuses are carved out of it.
_TAU2_PENDING, _TAU2_DELIVERED, _TAU2_PROCESSED, _TAU2_CANCELLED = 423, 373, 102, 102
# tau2's users: how many hold 1, 2, 3 or 4 payment methods (337/136/22/5 of 500).
_METHOD_COUNT_WEIGHTS = (337, 136, 22, 5)
# Roughly two thirds of tau2's variants are in stock (379 of 591).
_AVAILABLE_SHARE = 0.64
# tau2 ships about one order in five to an address other than the customer's current one.
_OTHER_ADDRESS_SHARE = 0.2


class RetailWorldSize(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How big a synthetic retail world is; the defaults are the size of tau2's own.

    Attributes:
        users: customers.
        products: product types, each a distinct type from the catalogue (at most 68).
        orders: orders, spread over customers at random.
        min_variants: fewest variants per product type.
        max_variants: most variants per product type (fewer when a type has fewer option
            combinations).
        item_modified_per_1000: orders per 1000 in "pending (item modified)", taken from pending.
        exchange_requested_per_1000: orders per 1000 in "exchange requested", taken from delivered.
        return_requested_per_1000: orders per 1000 in "return requested", taken from delivered.
    """

    users: int = 500
    products: int = 50
    orders: int = 1000
    min_variants: int = 5
    max_variants: int = 20
    item_modified_per_1000: int = 30
    exchange_requested_per_1000: int = 30
    return_requested_per_1000: int = 30


def _check_size(size: RetailWorldSize) -> None:
    if not 1 <= size.products <= len(CATALOGUE):
        raise ConfigError(f"products must be between 1 and {len(CATALOGUE)}, got {size.products}")
    if not 2 <= size.min_variants <= size.max_variants:
        raise ConfigError(
            f"variants need 2 <= min_variants <= max_variants, got {size.min_variants} and {size.max_variants}"
        )
    if size.users < 1 or size.orders < 0:
        raise ConfigError(f"need users >= 1 and orders >= 0, got users={size.users}, orders={size.orders}")
    if not 0 <= size.item_modified_per_1000 <= _TAU2_PENDING:
        raise ConfigError(f"item_modified_per_1000 must be in 0..{_TAU2_PENDING}, got {size.item_modified_per_1000}")
    requested = (size.exchange_requested_per_1000, size.return_requested_per_1000)
    if min(requested) < 0 or sum(requested) > _TAU2_DELIVERED:
        raise ConfigError(
            f"exchange_requested_per_1000 + return_requested_per_1000 must be in 0..{_TAU2_DELIVERED}, got {requested}"
        )


def _status_counts(size: RetailWorldSize) -> dict[OrderStatus, int]:
    """Exact order counts per status for ``size.orders`` orders (largest-remainder rounding)."""
    per_1000: dict[OrderStatus, int] = {
        "pending": _TAU2_PENDING - size.item_modified_per_1000,
        "pending (item modified)": size.item_modified_per_1000,
        "processed": _TAU2_PROCESSED,
        "delivered": _TAU2_DELIVERED - size.exchange_requested_per_1000 - size.return_requested_per_1000,
        "exchange requested": size.exchange_requested_per_1000,
        "return requested": size.return_requested_per_1000,
        "cancelled": _TAU2_CANCELLED,
    }
    total = sum(per_1000.values())
    exact = {status: size.orders * share / total for status, share in per_1000.items()}
    counts = {status: int(value) for status, value in exact.items()}
    # Ties go to the status listed first, so the result never depends on float noise order.
    by_remainder = sorted(exact, key=lambda s: -(exact[s] - counts[s]))
    for status in by_remainder[: size.orders - sum(counts.values())]:
        counts[status] += 1
    return counts


class _Catalogue:
    """The products of a world, with the lookups order generation needs."""

    def __init__(self, products: list[Product]) -> None:
        self.products = products
        self.by_id = {p.product_id: p for p in products}
        self.variants = {p.product_id: list(p.variants.values()) for p in products}
        self.in_stock = {p.product_id: [v for v in p.variants.values() if v.available] for p in products}

    def random_item(self, rng: random.Random) -> OrderItem:
        product = rng.choice(self.products)
        return _item(product, rng.choice(self.variants[product.product_id]))

    def replacement(self, rng: random.Random, item: OrderItem) -> Variant:
        """An in-stock variant of the same product other than ``item`` (one always exists)."""
        choices = [v for v in self.in_stock[item.product_id] if v.item_id != item.item_id]
        return rng.choice(choices)


def _item(product: Product, variant: Variant) -> OrderItem:
    return OrderItem(
        name=product.name,
        product_id=product.product_id,
        item_id=variant.item_id,
        price=variant.price,
        options=dict(variant.options),
    )


def _make_product(rng: random.Random, kind: ProductType, size: RetailWorldSize, taken: set[str]) -> Product:
    combos = list(itertools.product(*kind.axes.values()))
    count = min(rng.randint(size.min_variants, size.max_variants), len(combos))
    base = rng.uniform(kind.low, kind.high)
    product_id = unique_number(rng, 10, taken)
    variants: dict[str, Variant] = {}
    for combo in rng.sample(combos, count):
        item_id = unique_number(rng, 10, taken)
        variants[item_id] = Variant(
            item_id=item_id,
            options=dict(zip(kind.axes, combo, strict=True)),
            available=rng.random() < _AVAILABLE_SHARE,
            price=round(base * rng.uniform(0.88, 1.12), 2),
        )
    # Two variants in stock mean any ordered item has an in-stock alternative, so every order can
    # be modified or exchanged the way tau2's tools require.
    in_stock = [v for v in variants.values() if v.available]
    for variant in list(variants.values())[: max(0, 2 - len(in_stock))]:
        if not variant.available:
            variant.available = True
    return Product(name=kind.name, product_id=product_id, variants=variants)


def _make_methods(rng: random.Random, taken: set[str]) -> dict[str, PaymentMethod]:
    count = rng.choices(range(1, 5), weights=_METHOD_COUNT_WEIGHTS)[0]
    # At most one gift card and one PayPal account, as in tau2; extra methods are credit cards.
    sources = rng.sample(("credit_card", "gift_card", "paypal"), min(count, 3)) + ["credit_card"] * (count - 3)
    methods: dict[str, PaymentMethod] = {}
    for source in sources:
        method_id = unique_number(rng, 7, taken, prefix=f"{source}_")
        method: PaymentMethod
        if source == "credit_card":
            brand = rng.choice(("visa", "mastercard"))
            method = CreditCard(id=method_id, brand=brand, last_four=f"{rng.randint(0, 9999):04d}")
        elif source == "gift_card":
            method = GiftCard(id=method_id, balance=round(rng.uniform(0.0, 150.0), 2))
        else:
            method = Paypal(id=method_id)
        methods[method_id] = method
    return methods


def _make_user(rng: random.Random, user_ids: set[str], emails: set[str], method_ids: set[str]) -> User:
    first, last = person_name(rng)
    return User(
        user_id=user_id_for(rng, first, last, user_ids),
        name=UserName(first_name=first, last_name=last),
        address=UserAddress(**msgspec.structs.asdict(postal_address(rng))),
        email=email_for(rng, first, last, emails),
        payment_methods=_make_methods(rng, method_ids),
        orders=[],
    )


def _total(items: list[OrderItem]) -> float:
    return round(sum(item.price for item in items), 2)


def _pick_items(rng: random.Random, items: list[OrderItem]) -> list[int]:
    """Positions of a random non-empty subset of ``items``, in order."""
    return sorted(rng.sample(range(len(items)), rng.randint(1, len(items))))


def _make_order(
    rng: random.Random,
    order_id: str,
    user: User,
    status: OrderStatus,
    catalogue: _Catalogue,
    tracking_ids: set[str],
) -> Order:
    items = [catalogue.random_item(rng) for _ in range(rng.randint(1, 5))]
    methods = list(user.payment_methods.values())
    paid_with = rng.choice(methods).id
    if rng.random() < _OTHER_ADDRESS_SHARE:
        address = UserAddress(**msgspec.structs.asdict(postal_address(rng)))
    else:
        address = msgspec.structs.replace(user.address)
    order = Order(
        order_id=order_id,
        user_id=user.user_id,
        address=address,
        items=items,
        status=status,
        fulfillments=[],
        payment_history=[OrderPayment(transaction_type="payment", amount=_total(items), payment_method_id=paid_with)],
    )
    if status in ("processed", "delivered", "exchange requested", "return requested"):
        tracking = unique_number(rng, 12, tracking_ids)
        order.fulfillments.append(OrderFulfillment(tracking_id=[tracking], item_ids=[i.item_id for i in items]))
    if status == "cancelled":
        order.payment_history.append(
            OrderPayment(transaction_type="refund", amount=_total(items), payment_method_id=paid_with)
        )
        order.cancel_reason = rng.choice(("no longer needed", "ordered by mistake"))
    elif status == "pending (item modified)":
        _modify_items(rng, order, methods, catalogue)
    elif status == "exchange requested":
        _request_exchange(rng, order, methods, catalogue)
    elif status == "return requested":
        picked = _pick_items(rng, items)
        gift_cards = [m.id for m in methods if isinstance(m, GiftCard)]
        order.return_items = sorted(items[i].item_id for i in picked)
        # tau2 refunds a return to the original method or to one of the customer's gift cards.
        use_gift = gift_cards and rng.random() < 0.3
        order.return_payment_method_id = rng.choice(gift_cards) if use_gift else paid_with
    return order


def _modify_items(rng: random.Random, order: Order, methods: list[PaymentMethod], catalogue: _Catalogue) -> None:
    """Swap some items for other in-stock variants and record the price difference, as tau2 does."""
    difference = 0.0
    for index in _pick_items(rng, order.items):
        old = order.items[index]
        new = catalogue.replacement(rng, old)
        difference += new.price - old.price
        order.items[index] = _item(catalogue.by_id[old.product_id], new)
    method = rng.choice(methods)
    order.payment_history.append(
        OrderPayment(
            transaction_type="payment" if difference > 0 else "refund",
            amount=round(abs(difference), 2),
            payment_method_id=method.id,
        )
    )


def _request_exchange(rng: random.Random, order: Order, methods: list[PaymentMethod], catalogue: _Catalogue) -> None:
    """Ask to exchange some items for other in-stock variants of the same products."""
    picked = _pick_items(rng, order.items)
    new_ids = [catalogue.replacement(rng, order.items[i]) for i in picked]
    difference = round(sum(v.price for v in new_ids) - sum(order.items[i].price for i in picked), 2)
    method = rng.choice(methods)
    # tau2 only accepts a gift card that covers the difference; top the card up so the request
    # is one its tool would have accepted.
    if isinstance(method, GiftCard) and method.balance < difference:
        method.balance = round(difference + rng.uniform(0.0, 50.0), 2)
    order.exchange_items = sorted(order.items[i].item_id for i in picked)
    order.exchange_new_items = sorted(v.item_id for v in new_ids)
    order.exchange_payment_method_id = method.id
    order.exchange_price_difference = difference


def generate_retail_world(size: RetailWorldSize, seed: int) -> Snapshot:
    """A synthetic retail world of ``size``, the same for the same seed.

    Args:
        size: how many users, product types and orders to make, and the status mix.
        seed: the seed of the only random source used; equal seeds give equal SQLite bytes.

    Returns:
        The world as a snapshot.

    Raises:
        ConfigError: a size knob is out of range.
    """
    _check_size(size)
    rng = random.Random(seed)
    taken_numbers: set[str] = set()
    products = [_make_product(rng, kind, size, taken_numbers) for kind in rng.sample(CATALOGUE, size.products)]
    catalogue = _Catalogue(products)

    user_ids: set[str] = set()
    emails: set[str] = set()
    method_ids: set[str] = set()
    users = [_make_user(rng, user_ids, emails, method_ids) for _ in range(size.users)]

    statuses: list[OrderStatus] = [s for s, n in _status_counts(size).items() for _ in range(n)]
    rng.shuffle(statuses)
    order_ids: set[str] = set()
    tracking_ids: set[str] = set()
    orders = []
    for status in statuses:
        user = rng.choice(users)
        order_id = unique_number(rng, 7, order_ids, prefix="#W")
        orders.append(_make_order(rng, order_id, user, status, catalogue, tracking_ids))
        user.orders.append(order_id)
    return Snapshot.from_records(_SCHEMA, {"products": products, "users": users, "orders": orders})


def _spread(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    return {"min": round(min(values), 2), "median": round(statistics.median(values), 2), "max": round(max(values), 2)}


def _histogram(counts: Counter[int]) -> dict[str, int]:
    return {str(k): counts[k] for k in sorted(counts)}


def _all(snapshot: Snapshot, kind: RecordKind[Any], cls: type[R]) -> list[R]:
    return [r for r in (snapshot.load(kind, key) for key in snapshot.keys(kind)) if isinstance(r, cls)]


def retail_world_stats(snapshot: Snapshot) -> dict[str, Any]:
    """Counts and ranges of a retail world, for a README or a CLI table.

    Args:
        snapshot: a retail world (generated or imported from tau2).

    Returns:
        Nested dicts of plain numbers, grouped by products, users and orders.
    """
    products = _all(snapshot, _PRODUCTS, Product)
    users = _all(snapshot, _USERS, User)
    orders = _all(snapshot, _ORDERS, Order)
    variants = [v for p in products for v in p.variants.values()]
    methods = [m for u in users for m in u.payment_methods.values()]
    rows = [row for o in orders for row in o.payment_history]
    kinds: dict[type[Any], Literal["credit_card", "gift_card", "paypal"]] = {
        CreditCard: "credit_card",
        GiftCard: "gift_card",
        Paypal: "paypal",
    }
    sources = {m.id: kinds[type(m)] for m in methods}
    return {
        "products": {
            "product_types": len(products),
            "variants": len(variants),
            "available_variants": sum(v.available for v in variants),
            "variants_per_product": _spread([len(p.variants) for p in products]),
            "variant_price": _spread([v.price for v in variants]),
        },
        "users": {
            "users": len(users),
            "payment_methods": dict(sorted(Counter(sources.values()).items())),
            "methods_per_user": _histogram(Counter(len(u.payment_methods) for u in users)),
            "orders_per_user": _histogram(Counter(len(u.orders) for u in users)),
            "gift_card_balance": _spread([m.balance for m in methods if isinstance(m, GiftCard)]),
            "states": len({u.address.state for u in users}),
            "cities": len({u.address.city for u in users}),
        },
        "orders": {
            "orders": len(orders),
            "by_status": dict(sorted(Counter(o.status for o in orders).items())),
            "items": sum(len(o.items) for o in orders),
            "items_per_order": _histogram(Counter(len(o.items) for o in orders)),
            "fulfillments": sum(len(o.fulfillments) for o in orders),
            "payment_rows": dict(sorted(Counter(r.transaction_type for r in rows).items())),
            "paid_with": dict(
                sorted(Counter(sources.get(o.payment_history[0].payment_method_id, "unknown") for o in orders).items())
            ),
            "order_total": _spread([o.payment_history[0].amount for o in orders]),
            "cancel_reasons": dict(sorted(Counter(o.cancel_reason for o in orders if o.cancel_reason).items())),
        },
    }
