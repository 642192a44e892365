"""What the retail sampler knows about a world: every record decoded once, and the lookups it needs.

A world (synthetic or tau2's) is read once: users, orders and products, each user's orders in
profile order, and the counts that tell whether an email or a name and zip code names one user.
The index is cached per snapshot. Its records are shared and never mutated: the sampler only
reads them, and every write runs on a fork.
"""

from __future__ import annotations

import weakref
from collections import Counter
from dataclasses import dataclass
from typing import TypeVar, cast

import msgspec

from cove_async.domains.retail import KINDS
from cove_async.domains.retail._records import GiftCard, Order, OrderItem, Product, User, UserAddress, Variant
from cove_async.sandbox import RecordKind, Snapshot

__all__ = (
    "ORDERS",
    "PRODUCTS",
    "USERS",
    "RetailIndex",
    "address_args",
    "address_key",
    "address_text",
    "retail_index",
)

PRODUCTS = cast(RecordKind[Product], KINDS[0])
USERS = cast(RecordKind[User], KINDS[1])
ORDERS = cast(RecordKind[Order], KINDS[2])


def address_key(address: UserAddress) -> str:
    """One line naming an address; equal addresses give equal keys."""
    second = f" {address.address2}" if address.address2 else ""
    return f"{address.address1}{second}, {address.city}, {address.state} {address.zip}, {address.country}"


def address_text(address: UserAddress) -> str:
    """An address as a person writes it."""
    return address_key(address)


def address_args(address: UserAddress) -> dict[str, str]:
    """An address as the arguments of the address tools, in their schema's order."""
    return {
        "address1": address.address1,
        "address2": address.address2,
        "city": address.city,
        "state": address.state,
        "country": address.country,
        "zip": address.zip,
    }


@dataclass(frozen=True, slots=True)
class RetailIndex:
    """The records of one retail snapshot, decoded, with the lookups the sampler uses.

    Attributes:
        snapshot: the world.
        users: every user by id, in insertion order.
        orders: every order by id.
        products: every product by id.
        orders_of: each user's orders, in the order the profile lists them (ids that name no
            order of that user are left out).
        shoppers: ids of users with at least one order, in insertion order.
        emails: how many users have each email, lower-cased.
        name_zips: how many users have each (first name, last name, zip), names lower-cased.
    """

    snapshot: Snapshot
    users: dict[str, User]
    orders: dict[str, Order]
    products: dict[str, Product]
    orders_of: dict[str, tuple[Order, ...]]
    shoppers: tuple[str, ...]
    emails: Counter[str]
    name_zips: Counter[tuple[str, str, str]]

    def variant(self, item: OrderItem) -> Variant | None:
        """The catalogue variant an order line names, if its product still lists it."""
        product = self.products.get(item.product_id)
        return None if product is None else product.variants.get(item.item_id)

    def gift_cards(self, user: User) -> list[GiftCard]:
        """The user's gift cards, in profile order."""
        return [m for m in user.payment_methods.values() if isinstance(m, GiftCard)]


R = TypeVar("R", bound=msgspec.Struct)

_CACHE: weakref.WeakKeyDictionary[Snapshot, RetailIndex] = weakref.WeakKeyDictionary()


def _load_all(snapshot: Snapshot, kind: RecordKind[R]) -> dict[str, R]:
    out: dict[str, R] = {}
    for key in snapshot.keys(kind):
        record = snapshot.load(kind, key)
        if record is not None:
            out[key] = record
    return out


def retail_index(snapshot: Snapshot) -> RetailIndex:
    """The index of ``snapshot``, built on first use and kept while the snapshot lives."""
    index = _CACHE.get(snapshot)
    if index is None:
        index = _CACHE[snapshot] = _build(snapshot)
    return index


def _build(snapshot: Snapshot) -> RetailIndex:
    users = _load_all(snapshot, USERS)
    orders = _load_all(snapshot, ORDERS)
    products = _load_all(snapshot, PRODUCTS)
    orders_of: dict[str, tuple[Order, ...]] = {}
    for user_id, user in users.items():
        mine = [orders[o] for o in dict.fromkeys(user.orders) if o in orders and orders[o].user_id == user_id]
        orders_of[user_id] = tuple(mine)
    return RetailIndex(
        snapshot=snapshot,
        users=users,
        orders=orders,
        products=products,
        orders_of=orders_of,
        shoppers=tuple(u for u in users if orders_of[u]),
        emails=Counter(u.email.lower() for u in users.values()),
        name_zips=Counter((u.name.first_name.lower(), u.name.last_name.lower(), u.address.zip) for u in users.values()),
    )
