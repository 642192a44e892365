"""Retail refusal families: requests the tau2 retail policy forbids.

The API may or may not reject the request too (an address change on an order whose items were
modified goes through, but the policy forbids it). The agent must decline and leave the order as
it is; calling any order write tool on that order counts as attempting the request.
"""

from __future__ import annotations

from collections.abc import Callable

from cove_async.domains.retail._records import Order
from cove_async.tasks._model import Call, FuzzyRef, Intent
from cove_async.tasks._retail_draft import (
    ITEM_MODIFIED,
    ORDER_WRITES,
    REASON_WORDS,
    Context,
    Draft,
    Spec,
    describe,
    describe_swaps,
    fresh_address,
    gift_card,
    order_ref,
    payment_facet,
    single_lines,
    swaps,
)
from cove_async.tasks._retail_fuzzy import describe_line, describe_method
from cove_async.tasks._retail_index import address_args, address_key, address_text

__all__ = ("REFUSALS",)

_RULE_CANCEL_STATUS = "Only an order whose status is 'pending' can be cancelled."
_RULE_MODIFY_STATUS = (
    "Only a pending order can be modified; other orders can only be returned or exchanged once delivered."
)
_RULE_AFTER_ITEM_MODIFICATION = (
    "Once an order's items have been modified it can no longer be modified or cancelled in any way."
)
_RULE_AVAILABLE = "An item can only be swapped for an available variant of the same product."
_RULE_GIFT_CARD = "A gift card can pay for an order only if its balance covers the whole amount."
_RULE_RETURN_STATUS = "Only a delivered order can be returned or exchanged, and only once."
_RULE_REFUND = "A refund goes to the order's original payment method or to one of the user's gift cards."

_ACCEPT = "If the agent says this cannot be done, accept it and leave that order as it is; do not ask for anything else about it instead."


def _refusal(
    order: Order,
    oref: FuzzyRef,
    *,
    family: str,
    attempt: Call,
    why: str,
    rule: str,
    ask: str,
    fuzzy: list[FuzzyRef] | None = None,
    products: list[str] | None = None,
    reads: set[str] | None = None,
    known: list[str] | None = None,
    behaviour: list[str] | None = None,
) -> Draft:
    """A request the policy forbids on ``order``; ``attempt`` is the call it would take."""
    return Draft(
        specs=[
            Spec(
                family=family,
                intent=Intent.REFUSE,
                targets=(order_ref(order),),
                params={
                    "order_id": order.order_id,
                    "status": order.status,
                    "why": why,
                    "attempt": {"name": attempt.name, "arguments": attempt.arguments},
                },
                forbidden_calls=ORDER_WRITES,
                rule=rule,
            )
        ],
        fuzzy=[oref, *(fuzzy or [])],
        orders=[oref],
        ask=ask,
        products=products or [],
        reads=reads or set(),
        known=known or [],
        behaviour=[*(behaviour or []), _ACCEPT],
    )


def _original_method(ctx: Context, order: Order) -> str | None:
    if order.payment_history and order.payment_history[0].payment_method_id in ctx.user.payment_methods:
        return order.payment_history[0].payment_method_id
    return None


def _refuse_cancel(ctx: Context) -> Draft | None:
    for order in ctx.orders("processed", "delivered", ITEM_MODIFIED):
        reason = ctx.rng.choice(("no longer needed", "ordered by mistake"))
        oref = describe(ctx, order)
        modified = order.status == ITEM_MODIFIED
        return _refusal(
            order,
            oref,
            family="refuse_cancel_order",
            attempt=Call(name="cancel_pending_order", arguments={"order_id": order.order_id, "reason": reason}),
            why="items already modified" if modified else f"order is {order.status}",
            rule=_RULE_AFTER_ITEM_MODIFICATION if modified else _RULE_CANCEL_STATUS,
            ask=f"You want to cancel {oref.text} because {ctx.rng.choice(REASON_WORDS[reason])}.",
            behaviour=["If the agent offers a return instead, decline."] if order.status == "delivered" else [],
        )
    return None


def _swap_refusal(ctx: Context, family: str, statuses: tuple[str, ...], *, available: bool) -> Draft | None:
    """Ask to swap one item of an order in ``statuses`` for another variant (in stock or not)."""
    tool = "exchange_delivered_order_items" if family == "refuse_exchange_items" else "modify_pending_order_items"
    for order in ctx.orders(*statuses):
        method_id = _original_method(ctx, order)
        lines = swaps(ctx, order, available=available)
        if method_id is None or not lines:
            continue
        position, options = ctx.rng.choice(lines)
        new = ctx.rng.choice(options)
        described = describe_swaps(ctx, order, [(position, new)], exchange=tool == "exchange_delivered_order_items")
        if described is None:
            continue
        refs, phrases = described
        pref = describe_method(ctx.user, method_id, ctx.level, ctx.rng, paid_order=order)
        oref = describe(ctx, order)
        attempt = Call(
            name=tool,
            arguments={
                "order_id": order.order_id,
                "item_ids": [order.items[position].item_id],
                "new_item_ids": [new.item_id],
                "payment_method_id": method_id,
            },
        )
        if not available:
            why, rule = "variant not available", _RULE_AVAILABLE
        elif order.status == ITEM_MODIFIED:
            why, rule = "items already modified", _RULE_AFTER_ITEM_MODIFICATION
        elif tool == "modify_pending_order_items":
            why, rule = f"order is {order.status}", _RULE_MODIFY_STATUS
        else:
            why, rule = f"order is {order.status}", _RULE_RETURN_STATUS
        verb = "exchange" if tool == "exchange_delivered_order_items" else "change"
        behaviour = ["If asked how to settle a price difference, use " + pref.text + "."]
        if not available:
            behaviour.append("You want exactly that variant and no other; if it is not available, keep your item.")
        return _refusal(
            order,
            oref,
            family=family,
            attempt=attempt,
            why=why,
            rule=rule,
            ask=f"In {oref.text}, you want to {verb} {phrases[0]}.",
            fuzzy=[*refs, pref],
            products=[order.items[position].product_id],
            behaviour=behaviour,
        )
    return None


def _refuse_modify_items(ctx: Context) -> Draft | None:
    if ctx.rng.random() < 0.5:
        draft = _swap_refusal(ctx, "refuse_modify_order_items", ("pending",), available=False)
        if draft is not None:
            return draft
    return _swap_refusal(ctx, "refuse_modify_order_items", ("processed", ITEM_MODIFIED), available=True)


def _refuse_exchange(ctx: Context) -> Draft | None:
    if ctx.rng.random() < 0.5:
        draft = _swap_refusal(ctx, "refuse_exchange_items", ("delivered",), available=False)
        if draft is not None:
            return draft
    return _swap_refusal(
        ctx, "refuse_exchange_items", ("processed", "exchange requested", "return requested"), available=True
    )


def _refuse_modify_address(ctx: Context) -> Draft | None:
    for order in ctx.orders("processed", "delivered", ITEM_MODIFIED):
        address = fresh_address(ctx)
        if address_key(address) == address_key(order.address):
            continue
        oref = describe(ctx, order)
        modified = order.status == ITEM_MODIFIED
        text = address_text(address)
        return _refusal(
            order,
            oref,
            family="refuse_modify_order_address",
            attempt=Call(
                name="modify_pending_order_address", arguments={"order_id": order.order_id, **address_args(address)}
            ),
            why="items already modified" if modified else f"order is {order.status}",
            rule=_RULE_AFTER_ITEM_MODIFICATION if modified else _RULE_MODIFY_STATUS,
            ask=f"You want {oref.text} to be shipped to {text} instead.",
            known=[f"The address you want to use is {text}."],
            behaviour=["You do not want your default address changed."],
        )
    return None


def _refuse_modify_payment(ctx: Context) -> Draft | None:
    if ctx.rng.random() < 0.5:
        for order in ctx.orders("pending"):
            history = order.payment_history
            if len(history) != 1 or history[0].transaction_type != "payment":
                continue
            short = [
                c
                for c in ctx.index.gift_cards(ctx.user)
                if c.id != history[0].payment_method_id and c.balance < history[0].amount
            ]
            if not short or not ctx.fits(set(), {payment_facet(short[0].id)}):
                continue
            card = short[0]
            pref = describe_method(ctx.user, card.id, ctx.level, ctx.rng)
            oref = describe(ctx, order)
            return _refusal(
                order,
                oref,
                family="refuse_modify_order_payment",
                attempt=Call(
                    name="modify_pending_order_payment",
                    arguments={"order_id": order.order_id, "payment_method_id": card.id},
                ),
                why="gift card balance too low",
                rule=_RULE_GIFT_CARD,
                ask=f"You want to pay for {oref.text} entirely with {pref.text} instead of the method you used.",
                fuzzy=[pref],
                reads={payment_facet(card.id)},
                behaviour=["You do not want to split the payment or use any other method."],
            )
    for order in ctx.orders("processed", "delivered", ITEM_MODIFIED):
        current = order.payment_history[0].payment_method_id if order.payment_history else None
        others = [m for m in ctx.user.payment_methods if m != current]
        if not others:
            continue
        method_id = ctx.rng.choice(others)
        pref = describe_method(ctx.user, method_id, ctx.level, ctx.rng)
        oref = describe(ctx, order)
        modified = order.status == ITEM_MODIFIED
        return _refusal(
            order,
            oref,
            family="refuse_modify_order_payment",
            attempt=Call(
                name="modify_pending_order_payment",
                arguments={"order_id": order.order_id, "payment_method_id": method_id},
            ),
            why="items already modified" if modified else f"order is {order.status}",
            rule=_RULE_AFTER_ITEM_MODIFICATION if modified else _RULE_MODIFY_STATUS,
            ask=f"You want to pay for {oref.text} with {pref.text} instead of the method you used.",
            fuzzy=[pref],
        )
    return None


def _refuse_return(ctx: Context) -> Draft | None:
    wrong_refund = ctx.rng.random() < 0.5
    statuses = ("delivered",) if wrong_refund else ("processed", "exchange requested", "return requested")
    for order in ctx.orders(*statuses):
        original = _original_method(ctx, order)
        lines = single_lines(order)
        if original is None or not lines:
            continue
        if wrong_refund:
            # Neither the original method nor a gift card: a card or PayPal the order was not paid with.
            targets = [m for m in ctx.user.payment_methods if m != original and gift_card(ctx.user, m) is None]
            if not targets:
                continue
            method_id = ctx.rng.choice(targets)
        else:
            method_id = original
        position = ctx.rng.choice(lines)
        line_ref = describe_line(order, position, ctx.level, ctx.rng)
        if line_ref is None:
            continue
        pref = describe_method(ctx.user, method_id, ctx.level, ctx.rng, paid_order=order)
        oref = describe(ctx, order)
        attempt = Call(
            name="return_delivered_order_items",
            arguments={
                "order_id": order.order_id,
                "item_ids": [order.items[position].item_id],
                "payment_method_id": method_id,
            },
        )
        if wrong_refund:
            return _refusal(
                order,
                oref,
                family="refuse_return_items",
                attempt=attempt,
                why="refund method not allowed",
                rule=_RULE_REFUND,
                ask=f"You want to return {line_ref.text} from {oref.text}, and you want the refund on {pref.text}.",
                fuzzy=[line_ref, pref],
                behaviour=[
                    f"You insist on the refund going to {pref.text}. If that is not possible, you would rather keep the item."
                ],
            )
        return _refusal(
            order,
            oref,
            family="refuse_return_items",
            attempt=attempt,
            why=f"order is {order.status}",
            rule=_RULE_RETURN_STATUS,
            ask=f"You want to return {line_ref.text} from {oref.text}, with the refund going to {pref.text}.",
            fuzzy=[line_ref, pref],
        )
    return None


REFUSALS: dict[str, Callable[[Context], Draft | None]] = {
    "refuse_cancel_order": _refuse_cancel,
    "refuse_modify_order_items": _refuse_modify_items,
    "refuse_modify_order_address": _refuse_modify_address,
    "refuse_modify_order_payment": _refuse_modify_payment,
    "refuse_return_items": _refuse_return,
    "refuse_exchange_items": _refuse_exchange,
}
"""Every refusal family and its builder."""
