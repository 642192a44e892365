"""Fuzzy descriptions of retail records, each proven to name exactly one record.

Every describer returns a :class:`FuzzyRef`: the words the user is given, the record they name,
and the facts they use (``attributes``), so that a resolver that knows nothing of this module can
re-prove the description unique. The level (0 explicit .. 3 vaguest) picks where the search for a
description starts; a describer then adds detail until exactly one candidate is left, and falls
back to a more explicit strategy when no description at that level is unique.

Scopes, as the agent meets them after authenticating the user:

* a user is found among all users (by email, or by name and zip code, as the tools search);
* an order among the user's orders, by some of its items (name and some options);
* an order line among the lines of its order, by name and options;
* a catalogue variant among its product's variants, by options (all of them, or the ones that
  differ from the variant the user has);
* a payment method among the user's methods, by source, brand or last four digits (or, for a
  refund, as "the method you paid with");
* an address among the user's default address and the addresses their other orders went to.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from cove_async.domains.retail._records import CreditCard, GiftCard, Order, OrderItem, PaymentMethod, Product, User
from cove_async.domains.retail._records import UserAddress as Address
from cove_async.tasks._model import FuzzyRef, Ref
from cove_async.tasks._retail_index import USERS, RetailIndex, address_key

__all__ = (
    "describe_address",
    "describe_line",
    "describe_method",
    "describe_order",
    "describe_user",
    "describe_variant",
    "item_text",
    "method_source",
    "options_text",
)

_BRANDS = {"visa": "Visa", "mastercard": "Mastercard", "amex": "American Express", "discover": "Discover"}
_SOURCE_TEXT = {"credit_card": "your credit card", "gift_card": "your gift card", "paypal": "your PayPal account"}


def options_text(options: dict[str, str]) -> str:
    """``{"size": "M", "color": "black"}`` as ``"size: M, color: black"``."""
    return ", ".join(f"{key}: {value}" for key, value in options.items())


def item_text(name: str, options: dict[str, str]) -> str:
    """An order line as the user names it: ``"the Hoodie (size M)"``."""
    return f"the {name} ({options_text(options)})" if options else f"the {name}"


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _and(parts: Sequence[str]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def method_source(method: PaymentMethod) -> str:
    """``credit_card``, ``gift_card`` or ``paypal``."""
    if isinstance(method, CreditCard):
        return "credit_card"
    return "gift_card" if isinstance(method, GiftCard) else "paypal"


# --- users --------------------------------------------------------------------------------------


def describe_user(index: RetailIndex, user: User, level: int, rng: random.Random) -> FuzzyRef | None:
    """The user by email or by name and zip code, whichever the level prefers and is unique.

    Unique means no other user has the same email, or the same name and zip code, compared
    case-insensitively, and the tools' own lookup query finds this user and only this user.
    None when neither way names the user alone.
    """
    ref = Ref(kind="users", key=user.user_id)
    first, last, zip_code = user.name.first_name, user.name.last_name, user.address.zip
    prefer_name = level > 0 and rng.random() < (0.3 if level == 1 else 0.7)
    for strategy in ("name_zip", "email") if prefer_name else ("email", "name_zip"):
        if strategy == "email":
            email = user.email.lower()
            if index.emails[email] == 1 and index.snapshot.select_keys(USERS, "lower(email) = ?", (email,)) == [
                user.user_id
            ]:
                return FuzzyRef(
                    ref=ref, strategy="email", text=user.email, attributes={"email": user.email}, difficulty=0
                )
        elif index.name_zips[(first.lower(), last.lower(), zip_code)] == 1 and index.snapshot.select_keys(
            USERS,
            "lower(name__first_name) = ? AND lower(name__last_name) = ? AND address__zip = ?",
            (first.lower(), last.lower(), zip_code),
        ) == [user.user_id]:
            return FuzzyRef(
                ref=ref,
                strategy="name_zip",
                text=f"{first} {last}, zip code {zip_code}",
                attributes={"first_name": first, "last_name": last, "zip": zip_code},
                difficulty=1,
            )
    return None


# --- orders and their lines ---------------------------------------------------------------------


def _line_matches(line: OrderItem, name: str, options: dict[str, str]) -> bool:
    return line.name == name and all(line.options.get(k) == v for k, v in options.items())


def _order_matches(order: Order, wanted: list[tuple[str, dict[str, str]]]) -> bool:
    """Whether distinct lines of ``order`` match every described item (one line each)."""
    used = [False] * len(order.items)

    def place(i: int) -> bool:
        if i == len(wanted):
            return True
        name, options = wanted[i]
        for j, line in enumerate(order.items):
            if not used[j] and _line_matches(line, name, options):
                used[j] = True
                if place(i + 1):
                    return True
                used[j] = False
        return False

    return place(0)


def _order_by_id(user: User, order: Order) -> FuzzyRef:
    return FuzzyRef(
        ref=Ref(kind="orders", key=order.order_id),
        strategy="order_id",
        text=f"order {order.order_id}",
        attributes={"order_id": order.order_id},
        scope=Ref(kind="users", key=user.user_id),
        difficulty=0,
    )


def describe_order(index: RetailIndex, user: User, order: Order, level: int, rng: random.Random) -> FuzzyRef:
    """The order by its id (level 0) or by some of its items, unique among the user's orders.

    Level 1 starts from two fully described items, level 2 from one item with one option, level 3
    from one item by name alone (adding further items before any option). Detail is added until
    exactly one of the user's orders holds the described items; an order no description singles
    out (another order holds the same items) is named by its id.
    """
    if level == 0 or not order.items:
        return _order_by_id(user, order)
    mine = index.orders_of[user.user_id]
    positions = list(range(len(order.items)))
    rng.shuffle(positions)
    keys = {}
    for p in positions:
        names = list(order.items[p].options)
        rng.shuffle(names)
        keys[p] = names
    count, widest = len(positions), max(len(k) for k in keys.values())
    if level == 1:
        steps = [(m, widest) for m in range(min(2, count), count + 1)]
    elif level == 2:
        steps = [(m, j) for m in range(1, count + 1) for j in range(1, max(widest, 1) + 1)]
    else:
        steps = [(m, j) for j in range(widest + 1) for m in range(1, count + 1)]
    for m, j in steps:
        wanted = [(order.items[p].name, {k: order.items[p].options[k] for k in keys[p][:j]}) for p in positions[:m]]
        if sum(_order_matches(o, wanted) for o in mine) == 1:
            return FuzzyRef(
                ref=Ref(kind="orders", key=order.order_id),
                strategy="items",
                text="the order with " + _and([item_text(n, o) for n, o in wanted]),
                attributes={"items": [{"name": n, "options": o} for n, o in wanted]},
                scope=Ref(kind="users", key=user.user_id),
                difficulty=level,
            )
    return _order_by_id(user, order)


def describe_line(order: Order, position: int, level: int, rng: random.Random) -> FuzzyRef | None:
    """One line of ``order`` by product name and options, unique among the order's lines.

    Levels 0-1 give every option, level 2 starts from one, level 3 from the name alone. None
    when no description singles the line out (the order holds the same item twice).
    """
    line = order.items[position]
    names = list(line.options)
    rng.shuffle(names)
    start = len(names) if level <= 1 else min(len(names), 1 if level == 2 else 0)
    for j in range(start, len(names) + 1):
        options = {k: line.options[k] for k in names[:j]}
        if sum(_line_matches(other, line.name, options) for other in order.items) == 1:
            return FuzzyRef(
                ref=Ref(kind="items", key=line.item_id),
                strategy="line_options",
                text=item_text(line.name, options),
                attributes={"name": line.name, "options": options},
                scope=Ref(kind="orders", key=order.order_id),
                difficulty=level,
            )
    return None


# --- catalogue variants -------------------------------------------------------------------------


def describe_variant(product: Product, old_item_id: str, new_item_id: str, level: int) -> FuzzyRef | None:
    """The variant the user wants instead of ``old_item_id``: every option (levels 0-1) or only
    the options that differ ("the same, but in navy"; levels 2-3). None if not unique."""
    new = product.variants[new_item_id].options
    old = product.variants[old_item_id].options
    ref = Ref(kind="variants", key=new_item_id)
    scope = Ref(kind="products", key=product.product_id)
    if level >= 2:
        changed = {k: v for k, v in new.items() if old.get(k) != v}
        expected = {**old, **changed}
        hits = [v for v in product.variants.values() if v.options == expected]
        if changed and len(hits) == 1 and hits[0].item_id == new_item_id:
            return FuzzyRef(
                ref=ref,
                strategy="changed_options",
                text="the same one but with " + _and([f"the {k} set to {v}" for k, v in changed.items()]),
                attributes={"product_id": product.product_id, "based_on": old_item_id, "options": changed},
                scope=scope,
                difficulty=level,
            )
    hits = [v for v in product.variants.values() if all(v.options.get(k) == x for k, x in new.items())]
    if len(hits) != 1:
        return None
    return FuzzyRef(
        ref=ref,
        strategy="options",
        text=f"{_article(product.name)} {product.name} with {options_text(new)}",
        attributes={"product_id": product.product_id, "options": dict(new)},
        scope=scope,
        difficulty=min(level, 1),
    )


# --- payment methods ----------------------------------------------------------------------------


def _method_attributes(method: PaymentMethod, strategy: str) -> dict[str, Any]:
    source = method_source(method)
    if strategy == "method_id":
        return {"id": method.id}
    if strategy == "source":
        return {"source": source}
    assert isinstance(method, CreditCard)
    if strategy == "brand":
        return {"source": source, "brand": method.brand}
    if strategy == "last_four":
        return {"source": source, "last_four": method.last_four}
    return {"source": source, "brand": method.brand, "last_four": method.last_four}


def _method_matches(method: PaymentMethod, attributes: dict[str, Any]) -> bool:
    for key, value in attributes.items():
        if key == "source":
            if method_source(method) != value:
                return False
        elif getattr(method, key, None) != value:
            return False
    return True


def _method_text(method: PaymentMethod, strategy: str) -> str:
    if strategy == "method_id":
        return f"payment method {method.id}"
    if strategy == "source":
        return _SOURCE_TEXT[method_source(method)]
    assert isinstance(method, CreditCard)
    brand = _BRANDS.get(method.brand.lower(), method.brand.title())
    card = brand if brand.lower().endswith("card") else f"{brand} card"
    if strategy == "brand":
        return f"your {card}"
    if strategy == "last_four":
        return f"your card ending in {method.last_four}"
    return f"your {card} ending in {method.last_four}"


_METHOD_LEVELS = {
    0: ("method_id",),
    1: ("brand_last_four", "source"),
    2: ("brand", "last_four", "source"),
    3: ("source", "brand", "last_four"),
}


def describe_method(
    user: User, method_id: str, level: int, rng: random.Random, paid_order: Order | None = None
) -> FuzzyRef:
    """One of the user's payment methods, unique among them.

    ``paid_order``: the order whose original payment method this is, when the user may call it
    "the method you paid with" (level 3 only). Falls back to less vague strategies, down to the id.
    """
    method = user.payment_methods[method_id]
    ref = Ref(kind="payment_methods", key=method_id)
    scope = Ref(kind="users", key=user.user_id)
    if (
        level >= 3
        and paid_order is not None
        and paid_order.payment_history
        and paid_order.payment_history[0].payment_method_id == method_id
        and rng.random() < 0.5
    ):
        return FuzzyRef(
            ref=ref,
            strategy="original",
            text="the payment method you originally paid with",
            attributes={"paid_for": paid_order.order_id},
            scope=scope,
            difficulty=3,
        )
    for at in range(level, -1, -1):
        strategies = list(_METHOD_LEVELS[at])
        rng.shuffle(strategies)
        for strategy in strategies:
            if strategy in ("brand", "last_four", "brand_last_four") and not isinstance(method, CreditCard):
                continue
            attributes = _method_attributes(method, strategy)
            if sum(_method_matches(m, attributes) for m in user.payment_methods.values()) == 1:
                return FuzzyRef(
                    ref=ref,
                    strategy=strategy,
                    text=_method_text(method, strategy),
                    attributes=attributes,
                    scope=scope,
                    difficulty=at,
                )
    raise AssertionError("a payment method is always unique by its id")


# --- addresses ----------------------------------------------------------------------------------


def describe_address(
    index: RetailIndex, user: User, address: Address, level: int, rng: random.Random, excluding: str | None
) -> FuzzyRef | None:
    """An address the user already has, by reference; None means the user states it in full.

    Levels 0-1 always state it. From level 2: "your default address" when it is the profile
    address, or "the address in <city> another order went to" when exactly one distinct address
    in that city appears among the user's orders other than ``excluding``.
    """
    if level <= 1:
        return None
    key = address_key(address)
    ref = Ref(kind="addresses", key=key)
    scope = Ref(kind="users", key=user.user_id)
    options: list[FuzzyRef] = []
    if address_key(user.address) == key:
        options.append(
            FuzzyRef(
                ref=ref,
                strategy="default_address",
                text="your default address",
                attributes={"default_of": user.user_id},
                scope=scope,
                difficulty=2,
            )
        )
    in_city = {
        address_key(o.address)
        for o in index.orders_of[user.user_id]
        if o.order_id != excluding and o.address.city == address.city
    }
    if in_city == {key}:
        options.append(
            FuzzyRef(
                ref=ref,
                strategy="order_address",
                text=f"the {address.city} address one of your other orders was shipped to"
                if excluding
                else f"the {address.city} address one of your orders was shipped to",
                attributes={"order_city": address.city, "excluding_order": excluding},
                scope=scope,
                difficulty=3,
            )
        )
    return rng.choice(options) if options else None
