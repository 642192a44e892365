"""Retail change and information families, and the registry of every family.

Builders check the tau2 retail policy's preconditions (status, availability, gift card balance,
refund destination) against the data, so the canonical writes succeed; the sampler still proves
each task by running it. See ``_retail_draft`` for what a draft is and how drafts of one task
are kept from interfering.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cove_async.domains.retail._records import Order, UserAddress
from cove_async.tasks._model import Call, Intent, Ref
from cove_async.tasks._retail_draft import (
    REASON_WORDS,
    Context,
    Draft,
    Family,
    Spec,
    address_facet,
    address_phrase,
    describe,
    describe_swaps,
    fresh_address,
    gift_card,
    items_facet,
    join,
    money,
    order_ref,
    payment_facet,
    pick_method,
    single_lines,
    swap_list,
    swaps,
)
from cove_async.tasks._retail_fuzzy import describe_line, describe_method
from cove_async.tasks._retail_index import address_args, address_key
from cove_async.tasks._retail_refusals import REFUSALS

__all__ = ("FAMILIES",)

_STATUS_SPELLINGS = {
    "pending": ("pending",),
    "processed": ("processed",),
    "delivered": ("delivered",),
    "cancelled": ("cancelled", "canceled"),
}

_NUMBER_WORDS = (
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
)
_COMPANION_RATE = 0.35


# --- changes ------------------------------------------------------------------------------------


def _cancel(ctx: Context) -> Draft | None:
    for order in ctx.orders("pending"):
        if not order.payment_history or any(
            p.payment_method_id not in ctx.user.payment_methods for p in order.payment_history
        ):
            continue
        writes = {
            payment_facet(p.payment_method_id)
            for p in order.payment_history
            if gift_card(ctx.user, p.payment_method_id)
        }
        if not ctx.fits(writes, set()):
            continue
        reason = ctx.rng.choice(("no longer needed", "ordered by mistake"))
        oref = describe(ctx, order)
        args = {"order_id": order.order_id, "reason": reason}
        specs = [
            Spec(
                family="cancel_pending_order",
                intent=Intent.CHANGE,
                targets=(order_ref(order),),
                params=dict(args),
                writes=(Call(name="cancel_pending_order", arguments=args),),
            )
        ]
        ask = f"You want to cancel {oref.text} because {ctx.rng.choice(REASON_WORDS[reason])}."
        if ctx.room >= 2 and len(order.payment_history) == 1 and ctx.rng.random() < _COMPANION_RATE:
            specs.append(_cancel_refund_spec(order))
            ask += " You also want to know how much money you will get back."
        return Draft(specs=specs, fuzzy=[oref], orders=[oref], ask=ask, writes=writes)
    return None


def _cancel_refund_spec(order: Order) -> Spec:
    total = round(sum(p.amount for p in order.payment_history), 2)
    return Spec(
        family="inform_cancel_refund",
        intent=Intent.INFORM,
        targets=(Ref(kind="orders", key=order.order_id),),
        params={"order_id": order.order_id, "refund": total},
        answers=((money(total),),),
    )


def _swap_family(ctx: Context, *, delivered: bool) -> Draft | None:
    """Modify a pending order's items, or exchange a delivered order's: one call with every pair."""
    family = "exchange_delivered_order_items" if delivered else "modify_pending_order_items"
    for order in ctx.orders("delivered" if delivered else "pending"):
        lines = swaps(ctx, order, available=True)
        if not lines:
            continue
        count = ctx.rng.randint(1, min(ctx.max_swaps, len(lines)))
        picked = sorted(ctx.rng.sample(lines, count), key=lambda pair: pair[0])
        chosen = [(position, ctx.rng.choice(options)) for position, options in picked]
        described = describe_swaps(ctx, order, chosen, exchange=delivered)
        if described is None:
            continue
        refs, phrases = described
        # The price difference, summed in call order exactly as the tool sums it.
        difference: float = 0
        for position, new in chosen:
            difference += new.price - order.items[position].price
        if delivered:
            difference = round(difference, 2)
        method = pick_method(ctx, difference, debit=not delivered)
        if method is None:
            continue
        method_id, writes, reads = method
        if not delivered:
            # The lines change their options (all of them those of the last new variant: tau2's bug),
            # so another request may no longer describe an order by these products.
            writes |= {items_facet(order.order_id, order.items[p].name) for p, _ in chosen}
        pref = describe_method(ctx.user, method_id, ctx.level, ctx.rng, paid_order=order)
        oref = describe(ctx, order)
        args = {
            "order_id": order.order_id,
            "item_ids": [order.items[p].item_id for p, _ in chosen],
            "new_item_ids": [v.item_id for _, v in chosen],
            "payment_method_id": method_id,
        }
        verb = "exchange" if delivered else "change"
        ask = f"In {oref.text}, you want to {verb} {swap_list(phrases)}. Any price difference should be settled with {pref.text}."
        behaviour = [
            "Give every item change for this order in one go: the agent can change an order's items only once."
        ]
        if count > 1 and not delivered:
            behaviour.append("List these item changes in the order given above.")
        if delivered:
            behaviour.append("You want an exchange, not a return.")
        return Draft(
            specs=[
                Spec(
                    family=family,
                    intent=Intent.CHANGE,
                    targets=(order_ref(order),),
                    params=dict(args),
                    writes=(Call(name=family, arguments=args),),
                )
            ],
            fuzzy=[oref, *refs, pref],
            orders=[oref],
            products=list(dict.fromkeys(order.items[p].product_id for p, _ in chosen)),
            ask=ask,
            writes=writes,
            reads=reads,
            behaviour=behaviour,
        )
    return None


def _modify_items(ctx: Context) -> Draft | None:
    return _swap_family(ctx, delivered=False)


def _exchange(ctx: Context) -> Draft | None:
    return _swap_family(ctx, delivered=True)


def _modify_order_address(ctx: Context) -> Draft | None:
    for order in ctx.orders("pending"):
        current = address_key(order.address)
        choices: list[tuple[UserAddress, bool]] = []
        if address_key(ctx.user.address) != current:
            choices.append((ctx.user.address, True))
        seen = {current, address_key(ctx.user.address)}
        for other in ctx.index.orders_of[ctx.user.user_id]:
            if address_key(other.address) not in seen:
                seen.add(address_key(other.address))
                choices.append((other.address, True))
        fresh = fresh_address(ctx)
        if address_key(fresh) != current:
            choices.append((fresh, False))
        if not choices:
            continue
        address, existing = ctx.rng.choice(choices)
        text, aref, known = address_phrase(ctx, address, order.order_id, existing)
        oref = describe(ctx, order)
        args = {"order_id": order.order_id, **address_args(address)}
        return Draft(
            specs=[
                Spec(
                    family="modify_pending_order_address",
                    intent=Intent.CHANGE,
                    targets=(order_ref(order),),
                    params=dict(args),
                    writes=(Call(name="modify_pending_order_address", arguments=args),),
                )
            ],
            fuzzy=[oref] + ([aref] if aref else []),
            orders=[oref],
            ask=f"You want {oref.text} to be shipped to {text} instead.",
            writes={address_facet(order.order_id)},
            known=known,
        )
    return None


def _modify_order_payment(ctx: Context) -> Draft | None:
    for order in ctx.orders("pending"):
        history = order.payment_history
        if len(history) != 1 or history[0].transaction_type != "payment":
            continue
        old = history[0].payment_method_id
        if old not in ctx.user.payment_methods:
            continue
        old_writes = {payment_facet(old)} if gift_card(ctx.user, old) else set()
        if not ctx.fits(old_writes, set()):
            continue
        method = pick_method(ctx, history[0].amount, exclude=old, debit=True)
        if method is None:
            continue
        method_id, writes, _reads = method
        pref = describe_method(ctx.user, method_id, ctx.level, ctx.rng)
        oref = describe(ctx, order)
        args = {"order_id": order.order_id, "payment_method_id": method_id}
        return Draft(
            specs=[
                Spec(
                    family="modify_pending_order_payment",
                    intent=Intent.CHANGE,
                    targets=(order_ref(order),),
                    params=dict(args),
                    writes=(Call(name="modify_pending_order_payment", arguments=args),),
                )
            ],
            fuzzy=[oref, pref],
            orders=[oref],
            ask=f"You want to pay for {oref.text} with {pref.text} instead of the method you used.",
            writes=writes | old_writes,
        )
    return None


def _modify_user_address(ctx: Context) -> Draft | None:
    if not ctx.fits({"default_address"}, set()):
        return None
    current = address_key(ctx.user.address)
    choices: list[tuple[UserAddress, bool]] = []
    seen = {current}
    for order in ctx.index.orders_of[ctx.user.user_id]:
        if address_key(order.address) not in seen:
            seen.add(address_key(order.address))
            choices.append((order.address, True))
    fresh = fresh_address(ctx)
    if address_key(fresh) != current:
        choices.append((fresh, False))
    if not choices:
        return None
    address, existing = ctx.rng.choice(choices)
    text, aref, known = address_phrase(ctx, address, None, existing)
    args = {"user_id": ctx.user.user_id, **address_args(address)}
    return Draft(
        specs=[
            Spec(
                family="modify_user_address",
                intent=Intent.CHANGE,
                targets=(Ref(kind="users", key=ctx.user.user_id),),
                params=dict(args),
                writes=(Call(name="modify_user_address", arguments=args),),
            )
        ],
        fuzzy=[aref] if aref else [],
        orders=[],
        ask=f"You want your default address changed to {text}.",
        writes={"default_address"},
        known=known,
        behaviour=["You only want the default address of your profile changed, not the address of any order."],
    )


def _return(ctx: Context) -> Draft | None:
    for order in ctx.orders("delivered"):
        if not order.payment_history or order.payment_history[0].payment_method_id not in ctx.user.payment_methods:
            continue
        lines = single_lines(order)
        if not lines:
            continue
        picked = sorted(ctx.rng.sample(lines, ctx.rng.randint(1, len(lines))))
        line_refs = [describe_line(order, p, ctx.level, ctx.rng) for p in picked]
        if any(r is None for r in line_refs):
            continue
        refs = [r for r in line_refs if r is not None]
        original = order.payment_history[0].payment_method_id
        destinations = list(dict.fromkeys([original, *(c.id for c in ctx.index.gift_cards(ctx.user))]))
        method_id = ctx.rng.choice(destinations)
        pref = describe_method(ctx.user, method_id, ctx.level, ctx.rng, paid_order=order)
        oref = describe(ctx, order)
        args = {
            "order_id": order.order_id,
            "item_ids": [order.items[p].item_id for p in picked],
            "payment_method_id": method_id,
        }
        specs = [
            Spec(
                family="return_delivered_order_items",
                intent=Intent.CHANGE,
                targets=(order_ref(order),),
                params=dict(args),
                writes=(Call(name="return_delivered_order_items", arguments=args),),
            )
        ]
        ask = (
            f"You want to return {join([r.text for r in refs])} from {oref.text}, with the refund going to {pref.text}."
        )
        if ctx.room >= 2 and ctx.rng.random() < _COMPANION_RATE:
            specs.append(_return_refund_spec(order, picked))
            ask += " You also want to know how much you will get back."
        return Draft(
            specs=specs,
            fuzzy=[oref, *refs, pref],
            orders=[oref],
            ask=ask,
            behaviour=["You want a return, not an exchange."],
        )
    return None


def _return_refund_spec(order: Order, positions: list[int]) -> Spec:
    total = round(sum(order.items[p].price for p in positions), 2)
    return Spec(
        family="inform_return_refund",
        intent=Intent.INFORM,
        targets=(Ref(kind="orders", key=order.order_id),),
        params={"order_id": order.order_id, "item_ids": [order.items[p].item_id for p in positions], "refund": total},
        answers=((money(total),),),
    )


# --- information --------------------------------------------------------------------------------


def _inform_order(
    ctx: Context,
    family: str,
    statuses: tuple[str, ...],
    answer: Callable[[Order], tuple[tuple[tuple[str, ...], ...], dict[str, Any], str] | None],
) -> Draft | None:
    """A question about one order: ``answer`` gives the facts, params and question (or None)."""
    for order in ctx.orders(*statuses):
        found = answer(order)
        if found is None:
            continue
        answers, params, question = found
        oref = describe(ctx, order)
        return Draft(
            specs=[
                Spec(
                    family=family,
                    intent=Intent.INFORM,
                    targets=(order_ref(order),),
                    params={"order_id": order.order_id, **params},
                    answers=answers,
                )
            ],
            fuzzy=[oref],
            orders=[oref],
            ask=question.replace("{order}", oref.text),
            behaviour=["You are only asking; you do not want anything changed about that order."],
        )
    return None


def _inform_status(ctx: Context) -> Draft | None:
    def answer(order: Order) -> tuple[tuple[tuple[str, ...], ...], dict[str, Any], str]:
        return (
            (_STATUS_SPELLINGS[order.status],),
            {"status": order.status},
            ctx.rng.choice(("You want to know the status of {order}.", "You want to know where {order} stands.")),
        )

    return _inform_order(ctx, "inform_order_status", tuple(_STATUS_SPELLINGS), answer)


def _inform_tracking(ctx: Context) -> Draft | None:
    def answer(order: Order) -> tuple[tuple[tuple[str, ...], ...], dict[str, Any], str] | None:
        ids = list(dict.fromkeys(t for f in order.fulfillments for t in f.tracking_id))
        if not ids:
            return None
        return (
            tuple((t,) for t in ids),
            {"tracking_ids": ids},
            "You want the tracking number of {order}.",
        )

    return _inform_order(ctx, "inform_tracking_id", ("processed", "delivered"), answer)


def _inform_order_total(ctx: Context) -> Draft | None:
    def answer(order: Order) -> tuple[tuple[tuple[str, ...], ...], dict[str, Any], str] | None:
        history = order.payment_history
        if len(history) != 1 or history[0].transaction_type != "payment":
            return None
        return (
            ((money(history[0].amount),),),
            {"total": history[0].amount},
            "You want to know how much you paid in total for {order}.",
        )

    return _inform_order(ctx, "inform_order_total", ("pending", "processed", "delivered"), answer)


def _inform_item_price(ctx: Context) -> Draft | None:
    for order in ctx.orders("pending", "processed", "delivered", "cancelled"):
        lines = single_lines(order)
        if not lines:
            continue
        position = ctx.rng.choice(lines)
        line_ref = describe_line(order, position, ctx.level, ctx.rng)
        if line_ref is None:
            continue
        price = order.items[position].price
        oref = describe(ctx, order)
        return Draft(
            specs=[
                Spec(
                    family="inform_item_price",
                    intent=Intent.INFORM,
                    targets=(order_ref(order),),
                    params={"order_id": order.order_id, "item_id": order.items[position].item_id, "price": price},
                    answers=((money(price),),),
                )
            ],
            fuzzy=[oref, line_ref],
            orders=[oref],
            ask=f"You want to know how much {line_ref.text} in {oref.text} cost.",
            behaviour=["You are only asking; you do not want anything changed about that order."],
        )
    return None


def _inform_cancel_refund(ctx: Context) -> Draft | None:
    def answer(order: Order) -> tuple[tuple[tuple[str, ...], ...], dict[str, Any], str] | None:
        if len(order.payment_history) != 1:
            return None
        spec = _cancel_refund_spec(order)
        return (
            spec.answers,
            {"refund": spec.params["refund"]},
            (
                "You are thinking about cancelling {order} and want to know how much money you would get back. "
                "You are only asking: you do not want to cancel it now."
            ),
        )

    draft = _inform_order(ctx, "inform_cancel_refund", ("pending",), answer)
    if draft is not None:
        draft.behaviour = []
    return draft


def _inform_return_refund(ctx: Context) -> Draft | None:
    for order in ctx.orders("delivered"):
        lines = single_lines(order)
        if not lines:
            continue
        picked = sorted(ctx.rng.sample(lines, ctx.rng.randint(1, len(lines))))
        line_refs = [describe_line(order, p, ctx.level, ctx.rng) for p in picked]
        refs = [r for r in line_refs if r is not None]
        if len(refs) != len(picked):
            continue
        oref = describe(ctx, order)
        return Draft(
            specs=[_return_refund_spec(order, picked)],
            fuzzy=[oref, *refs],
            orders=[oref],
            ask=(
                f"You are thinking about returning {join([r.text for r in refs])} from {oref.text} and want to "
                "know how much money you would get back. You are only asking: you do not want to return anything now."
            ),
        )
    return None


def _inform_gift_card(ctx: Context) -> Draft | None:
    cards = ctx.index.gift_cards(ctx.user)
    ctx.rng.shuffle(cards)
    for card in cards:
        if f"balance:{card.id}" in ctx.asked or not ctx.fits(set(), {payment_facet(card.id)}):
            continue
        pref = describe_method(ctx.user, card.id, ctx.level, ctx.rng)
        return Draft(
            specs=[
                Spec(
                    family="inform_gift_card_balance",
                    intent=Intent.INFORM,
                    targets=(Ref(kind="users", key=ctx.user.user_id),),
                    params={"payment_method_id": card.id, "balance": card.balance},
                    answers=((money(card.balance),),),
                )
            ],
            fuzzy=[pref],
            orders=[],
            ask=f"You want to know how much money is left on {pref.text}.",
            reads={payment_facet(card.id)},
            questions={f"balance:{card.id}"},
        )
    return None


def _inform_order_count(ctx: Context) -> Draft | None:
    if "order_count" in ctx.asked:
        return None
    count = len(ctx.user.orders)
    word = _NUMBER_WORDS[count] if count < len(_NUMBER_WORDS) else str(count)
    noun = "order" if count == 1 else "orders"
    return Draft(
        specs=[
            Spec(
                family="inform_order_count",
                intent=Intent.INFORM,
                targets=(Ref(kind="users", key=ctx.user.user_id),),
                params={"count": count},
                answers=((f"{count} {noun}", f"{word} {noun}"),),
            )
        ],
        fuzzy=[],
        orders=[],
        ask="You want to know how many orders you have placed with the store in total, whatever their status.",
        questions={"order_count"},
    )


FAMILIES: dict[str, Family] = {
    "cancel_pending_order": (Intent.CHANGE, _cancel),
    "modify_pending_order_items": (Intent.CHANGE, _modify_items),
    "modify_pending_order_address": (Intent.CHANGE, _modify_order_address),
    "modify_pending_order_payment": (Intent.CHANGE, _modify_order_payment),
    "modify_user_address": (Intent.CHANGE, _modify_user_address),
    "return_delivered_order_items": (Intent.CHANGE, _return),
    "exchange_delivered_order_items": (Intent.CHANGE, _exchange),
    "inform_order_status": (Intent.INFORM, _inform_status),
    "inform_tracking_id": (Intent.INFORM, _inform_tracking),
    "inform_order_total": (Intent.INFORM, _inform_order_total),
    "inform_item_price": (Intent.INFORM, _inform_item_price),
    "inform_cancel_refund": (Intent.INFORM, _inform_cancel_refund),
    "inform_return_refund": (Intent.INFORM, _inform_return_refund),
    "inform_gift_card_balance": (Intent.INFORM, _inform_gift_card),
    "inform_order_count": (Intent.INFORM, _inform_order_count),
    **{name: (Intent.REFUSE, build) for name, build in REFUSALS.items()},
}
"""Every retail family: its intent and its builder."""
