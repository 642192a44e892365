"""What a retail request is made of, and what the family builders share.

A family builder (``_retail_families``, ``_retail_refusals``) looks at one user's orders and
payment methods and returns a :class:`Draft`: one request (a constraint, sometimes with a
companion question about the same order), the fuzzy descriptions the user is given, what the
agent must read, and how the user phrases the request.

Drafts of one task must not interfere. Each draft claims the orders it is about (one request per
order), and names the *facets* of the user's records it writes (a gift card balance, the default
address, an order's address or items) or reads (a question about that balance, "your default
address", an order described by its items): a facet written by one draft may be neither read nor
written by another, so the outcome never depends on the order in which the agent handles the
requests, and no two constraints change one field.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cove_async.domains._names import postal_address
from cove_async.domains.retail._records import GiftCard, Order, User, UserAddress, Variant
from cove_async.tasks._model import Call, FuzzyRef, Intent, Ref
from cove_async.tasks._retail_fuzzy import describe_address, describe_line, describe_order, describe_variant
from cove_async.tasks._retail_index import RetailIndex, address_text

__all__ = (
    "ITEM_MODIFIED",
    "ORDER_WRITES",
    "REASON_WORDS",
    "Context",
    "Draft",
    "Family",
    "Spec",
    "address_facet",
    "address_phrase",
    "describe",
    "describe_swaps",
    "fresh_address",
    "gift_card",
    "items_facet",
    "join",
    "money",
    "order_ref",
    "payment_facet",
    "pick_method",
    "reference_reads",
    "single_lines",
    "swap_list",
    "swaps",
)

ORDER_WRITES = (
    "cancel_pending_order",
    "exchange_delivered_order_items",
    "modify_pending_order_address",
    "modify_pending_order_items",
    "modify_pending_order_payment",
    "return_delivered_order_items",
)
"""Every write tool that takes an order id: on a refused order, none may be called."""

REASON_WORDS = {
    "no longer needed": ("you no longer need it", "you do not need it anymore"),
    "ordered by mistake": ("you ordered it by mistake", "you placed it by accident"),
}
ITEM_MODIFIED = "pending (item modified)"


def money(amount: float) -> str:
    """An amount as the agent should state it: two decimals, no currency sign."""
    return f"{amount:.2f}"


@dataclass(slots=True)
class Spec:
    """One constraint of a draft, before the task gives it an id."""

    family: str
    intent: Intent
    targets: tuple[Ref, ...]
    params: dict[str, Any]
    writes: tuple[Call, ...] = ()
    answers: tuple[tuple[str, ...], ...] = ()
    forbidden_calls: tuple[str, ...] = ()
    rule: str = ""


@dataclass(slots=True)
class Draft:
    """One request of a task: its constraints, descriptions, reads and wording.

    Attributes:
        specs: the constraint, and possibly a companion question about the same order.
        fuzzy: the descriptions the user is given.
        orders: fuzzy references of the orders the agent must find (in reading order).
        products: ids of products the agent must look up (to find a variant's item id).
        writes: facets of the user record this request changes.
        reads: facets of the user record this request depends on.
        ask: the request, as the user simulator is told it.
        known: facts the user knows for this request (a new address, ...).
        behaviour: how the user reacts (to a refusal, to an offer of an alternative, ...).
        questions: questions about the user record that this request asks (asked once per task).
    """

    specs: list[Spec]
    fuzzy: list[FuzzyRef]
    orders: list[FuzzyRef]
    ask: str
    products: list[str] = field(default_factory=list)
    writes: set[str] = field(default_factory=set)
    reads: set[str] = field(default_factory=set)
    known: list[str] = field(default_factory=list)
    behaviour: list[str] = field(default_factory=list)
    questions: set[str] = field(default_factory=set)


@dataclass(slots=True)
class Context:
    """What the builders of one task share: the world, the user, and what is already taken."""

    index: RetailIndex
    rng: random.Random
    level: int
    user: User
    max_swaps: int
    claimed: set[str] = field(default_factory=set)
    written: set[str] = field(default_factory=set)
    read: set[str] = field(default_factory=set)
    asked: set[str] = field(default_factory=set)
    room: int = 1

    def orders(self, *statuses: str) -> list[Order]:
        """The user's unclaimed orders in these statuses, shuffled."""
        found = [
            o
            for o in self.index.orders_of[self.user.user_id]
            if o.status in statuses and o.order_id not in self.claimed
        ]
        self.rng.shuffle(found)
        return found

    def fits(self, writes: set[str], reads: set[str]) -> bool:
        """Whether a request with these facets leaves every other request's outcome alone."""
        return not (writes & (self.written | self.read)) and not (reads & self.written)

    def accept(self, draft: Draft) -> None:
        """Record what ``draft`` takes."""
        self.claimed.update(ref.ref.key for ref in draft.orders)
        self.written |= draft.writes
        self.read |= draft.reads
        self.asked |= draft.questions


Family = tuple[Intent, Callable[[Context], "Draft | None"]]


# --- shared pieces ------------------------------------------------------------------------------


def gift_card(user: User, method_id: str) -> GiftCard | None:
    """The user's payment method ``method_id`` if it is a gift card."""
    method = user.payment_methods.get(method_id)
    return method if isinstance(method, GiftCard) else None


def payment_facet(method_id: str) -> str:
    """The facet of a payment method's balance."""
    return f"payment:{method_id}"


def items_facet(order_id: str, product_name: str) -> str:
    """The facet of an order's lines of one product (what an item description of it relies on)."""
    return f"items:{order_id}:{product_name}"


def address_facet(order_id: str) -> str:
    """The facet of an order's shipping address."""
    return f"order_address:{order_id}"


def reference_reads(index: RetailIndex, user: User, ref: FuzzyRef) -> set[str]:
    """The facets a description depends on: what another request must not change.

    An order named by its items stays unique only while the user's other orders keep those
    products as they are; "the address another order went to" only while those orders keep
    their addresses; "your default address" only while the profile keeps it.
    """
    if ref.strategy == "items":
        names = {entry["name"] for entry in ref.attributes["items"]}
        others = [o.order_id for o in index.orders_of[user.user_id] if o.order_id != ref.ref.key]
        return {items_facet(o, name) for o in others for name in names}
    if ref.strategy == "order_address":
        skip = ref.attributes["excluding_order"]
        return {address_facet(o.order_id) for o in index.orders_of[user.user_id] if o.order_id != skip}
    if ref.strategy == "default_address":
        return {"default_address"}
    return set()


def order_ref(order: Order) -> Ref:
    """The record reference of an order."""
    return Ref(kind="orders", key=order.order_id)


def swaps(ctx: Context, order: Order, *, available: bool) -> list[tuple[int, list[Variant]]]:
    """Lines of ``order`` that can be named and swapped, with the variants they could become.

    A line qualifies when its item id appears once in the order (so "the X" is one line) and its
    options are its catalogue variant's (so "the same but in red" means one variant). The
    variants offered are the other variants of its product that are (``available``) or are not
    in stock.
    """
    counts = Counter(line.item_id for line in order.items)
    out = []
    for position, line in enumerate(order.items):
        variant = ctx.index.variant(line)
        if counts[line.item_id] > 1 or variant is None or variant.options != line.options:
            continue
        product = ctx.index.products[line.product_id]
        others = [v for v in product.variants.values() if v.item_id != line.item_id and v.available == available]
        if others:
            out.append((position, others))
    return out


def single_lines(order: Order) -> list[int]:
    """Positions of the lines whose item appears once in the order (so "the X" names one line)."""
    counts = Counter(line.item_id for line in order.items)
    return [p for p, line in enumerate(order.items) if counts[line.item_id] == 1]


def describe_swaps(
    ctx: Context, order: Order, chosen: list[tuple[int, Variant]], *, exchange: bool
) -> tuple[list[FuzzyRef], list[str]] | None:
    """Fuzzy refs and phrases for each (line, new variant) pair; None if one cannot be named."""
    refs: list[FuzzyRef] = []
    phrases: list[str] = []
    for position, new in chosen:
        line = order.items[position]
        line_ref = describe_line(order, position, ctx.level, ctx.rng)
        variant_ref = describe_variant(ctx.index.products[line.product_id], line.item_id, new.item_id, ctx.level)
        if line_ref is None or variant_ref is None:
            return None
        refs += [line_ref, variant_ref]
        phrases.append(f"{line_ref.text} {'for' if exchange else 'to'} {variant_ref.text}")
    return refs, phrases


def join(parts: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def swap_list(phrases: list[str]) -> str:
    """Swaps joined so that each stays one clause ("X to ...; and Y to ...")."""
    if len(phrases) == 1:
        return phrases[0]
    return "; ".join(phrases[:-1]) + "; and " + phrases[-1]


def pick_method(
    ctx: Context, amount: float, *, exclude: str | None = None, debit: bool
) -> tuple[str, set[str], set[str]] | None:
    """A payment method of the user that can settle ``amount``, with the facets it writes and reads.

    A gift card must cover a positive amount (the tools refuse otherwise); when ``debit`` the
    tool changes its balance (a write), else it only checks it (a read).
    """
    ids = [m for m in ctx.user.payment_methods if m != exclude]
    ctx.rng.shuffle(ids)
    for method_id in ids:
        card = gift_card(ctx.user, method_id)
        writes: set[str] = set()
        reads: set[str] = set()
        if card is not None:
            if card.balance < amount:
                continue
            (writes if debit else reads).add(payment_facet(method_id))
        if ctx.fits(writes, reads):
            return method_id, writes, reads
    return None


def fresh_address(ctx: Context) -> UserAddress:
    """A new address in a real US city, from the world generator's vocabulary."""
    place = postal_address(ctx.rng)
    return UserAddress(
        address1=place.address1,
        address2=place.address2,
        city=place.city,
        country=place.country,
        state=place.state,
        zip=place.zip,
    )


def address_phrase(
    ctx: Context, address: UserAddress, excluding: str | None, existing: bool
) -> tuple[str, FuzzyRef | None, list[str]]:
    """How the user names an address: by reference when it is one of theirs and the level allows,
    else in full (and then it is something they know)."""
    ref = describe_address(ctx.index, ctx.user, address, ctx.level, ctx.rng, excluding) if existing else None
    if ref is not None:
        return ref.text, ref, []
    text = address_text(address)
    return text, None, [f"The address you want to use is {text}."]


def describe(ctx: Context, order: Order) -> FuzzyRef:
    """The order as this task's user describes it (at the task's vagueness level)."""
    return describe_order(ctx.index, ctx.user, order, ctx.level, ctx.rng)
