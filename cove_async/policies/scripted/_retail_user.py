"""The scripted retail customer: plays a sampled retail task, one request at a time.

It knows the task (that is its part) but speaks only as the customer would: it opens with the
reason for the call, identifies itself when asked (email, or name and zip code, as the task's
user description says), then raises its requests in the task's order, one at a time, moving on
when the agent has finished or declined the current one. Records are named only by the task's
descriptions (:class:`~cove_async.tasks.FuzzyRef` attributes): an order by its items or by the id
the customer was given, an item by name and options, a new variant by its options, a payment
method by source, brand or last four digits, an address in full or by reference. It never says an
id the description does not contain.

When the agent proposes a change it checks the proposal's verb, ids and address against the
change it wants and says yes only when they match (the only time it says an assent word: see
:data:`cove_async.verify.ASSENT`); it answers the agent's questions from what it knows and says
it does not know anything else; it asks its questions again once when the answer is missing,
sometimes pleads once when a request is refused, and ends with ``###STOP###`` when done.

Like the agent, it is a fold over the conversation with replay of its own turns, so a fresh
object given the whole conversation answers as the one fed turn by turn. Its phrasing is drawn
from the seed and the number of customer turns so far (not the conversation's length), so it
says the same whether or not the conversation it is shown includes the tool traffic.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cove_async.chat import Message
from cove_async.policies.scripted._dice import Dice
from cove_async.policies.scripted._retail_agent import (
    address_words,
    asks_confirmation,
    asks_identity,
    summary_ids,
)
from cove_async.tasks import Call, Constraint, FuzzyRef, Intent, Task

__all__ = ("RetailUser",)

_REFUSED = ("sorry", "can't", "cannot", "unable", "not possible", "afraid")
_WHAT = ("how can i help", "what can i do for you")

_GREETINGS = ("Hi!", "Hello.", "Hi there.", "Hello, I need some help.", "Good day.")
_THANKS = ("Thanks. ", "Great, thank you. ", "Thank you. ", "")
_MORE = ("I also have another request. ", "One more thing. ", "")
_AFTER_REFUSAL = ("I see. ", "That's a pity. ", "Understood. ")
_PLEAD = (
    "Is there really no way to do it?",
    "Are you certain? I'd really like that done.",
    "Can you make an exception just this once?",
)
_YES = ("Yes, please.", "Yes, go ahead.", "Yes, that's right.", "Yes.", "Yeah, please go ahead.")
_NO = ("No, that's not what I want.", "No, that isn't what I asked for.")
_NO_TWICE = ("No. Let's leave it as it is.", "No, never mind then.")
_NO_CHANGE = ("No, I'm only asking; please don't change anything.",)
_DONT_KNOW = ("I'm sorry, I don't know that.", "I don't have that information, sorry.", "Sorry, that's all I know.")
_AGAIN = ("Sorry, I didn't get an answer to my question. ", "I still need to know this. ")
_STOP = (
    "That's all I needed, thank you! ###STOP###",
    "No, that's everything. Thanks for your help! ###STOP###",
    "Nothing else, thanks. Bye! ###STOP###",
)
_REASONS = {
    "no longer needed": ("I no longer need it", "I don't need it anymore"),
    "ordered by mistake": ("I ordered it by mistake", "I placed it by accident"),
}
_SOURCES = {"credit_card": "my credit card", "gift_card": "my gift card", "paypal": "my PayPal account"}
_BRANDS = {"visa": "Visa", "mastercard": "Mastercard", "amex": "American Express", "discover": "Discover"}
_ORDER_INTROS = ("the order with", "my order with", "the order containing", "the order that has")
_SAME = ("the same one but with", "the same model but with", "the same item, only with")
_OMIT_RATE = 0.25
_PLEAD_RATE = 0.3
_VOLUNTEER_RATE = 0.25

# The verb of each write as the agent's proposal states it.
_VERBS = {
    "cancel_pending_order": "cancel",
    "return_delivered_order_items": "return",
    "exchange_delivered_order_items": "exchange",
    "modify_pending_order_items": "change in order",
    "modify_pending_order_address": "shipping address",
    "modify_pending_order_payment": "pay order",
    "modify_user_address": "default address",
}
_COMPANIONS = {"inform_cancel_refund": "cancel_pending_order", "inform_return_refund": "return_delivered_order_items"}


# --- what the customer wants ---------------------------------------------------------------------


@dataclass(slots=True)
class _Want:
    """One request of the task, with everything the customer knows to voice and check it."""

    family: str
    intent: Intent
    order: FuzzyRef | None = None
    lines: list[FuzzyRef] = field(default_factory=list)
    variants: list[FuzzyRef | None] = field(default_factory=list)
    payment: FuzzyRef | None = None
    address: FuzzyRef | dict[str, str] | None = None
    reason: str | None = None
    expected: Call | None = None
    answers: list[tuple[str, ...]] = field(default_factory=list)
    companion: bool = False


def _address_key(fields: dict[str, Any]) -> str:
    second = f" {fields['address2']}" if fields.get("address2") else ""
    return f"{fields['address1']}{second}, {fields['city']}, {fields['state']} {fields['zip']}, {fields['country']}"


class _Refs:
    """The task's descriptions, looked up by the record they name."""

    def __init__(self, fuzzy: Sequence[FuzzyRef]) -> None:
        self.by_key: dict[tuple[str, str], list[FuzzyRef]] = {}
        for ref in fuzzy:
            self.by_key.setdefault((ref.ref.kind, ref.ref.key), []).append(ref)

    def get(self, kind: str, key: str, scope: str | None = None) -> FuzzyRef | None:
        found = self.by_key.get((kind, key), [])
        if scope is not None:
            scoped = [r for r in found if r.scope is not None and r.scope.key == scope]
            return scoped[0] if scoped else None
        return found[0] if found else None

    def variant(self, new_item_id: str, old_item_id: str) -> FuzzyRef | None:
        """The new variant as described against the item it replaces (two items may become one variant)."""
        found = self.by_key.get(("variants", new_item_id), [])
        usable = [r for r in found if r.strategy != "changed_options" or r.attributes.get("based_on") == old_item_id]
        return usable[0] if usable else None

    def method(self, method_id: str, order_id: str | None) -> FuzzyRef | None:
        found = self.by_key.get(("payment_methods", method_id), [])
        usable = [r for r in found if r.strategy != "original" or r.attributes.get("paid_for") == order_id]
        plain = [r for r in usable if r.strategy != "original"]
        return plain[0] if plain else usable[0] if usable else None

    def address(self, fields: dict[str, Any], excluding: str | None) -> FuzzyRef | None:
        found = self.by_key.get(("addresses", _address_key(fields)), [])
        usable = [r for r in found if r.strategy != "order_address" or r.attributes.get("excluding_order") == excluding]
        return usable[0] if usable else None


def _want(constraint: Constraint, refs: _Refs) -> _Want:
    family = constraint.family
    want = _Want(family=family, intent=constraint.intent)
    if constraint.intent is Intent.CHANGE:
        call = constraint.writes[0]
        arguments = call.arguments
        want.expected = call
    elif constraint.intent is Intent.REFUSE:
        attempt = constraint.params["attempt"]
        arguments = attempt["arguments"]
        want.expected = Call(name=attempt["name"], arguments=arguments)
    else:
        arguments = constraint.params
        want.answers = list(constraint.answers)
    order_id = arguments.get("order_id")
    if order_id is not None:
        want.order = refs.get("orders", order_id)
    item_ids = arguments.get("item_ids") or ([arguments["item_id"]] if "item_id" in arguments else [])
    want.lines = [r for r in (refs.get("items", i, order_id) for i in item_ids) if r is not None]
    want.variants = [
        refs.variant(new, old) for old, new in zip(item_ids, arguments.get("new_item_ids", []), strict=False)
    ]
    if "payment_method_id" in arguments:
        want.payment = refs.method(arguments["payment_method_id"], order_id)
    if "address1" in arguments:
        excluding = order_id if want.expected is not None and want.expected.name != "modify_user_address" else None
        ref = refs.address(arguments, excluding)
        want.address = ref if ref is not None else {k: str(arguments[k]) for k in arguments if k != "order_id"}
    want.reason = arguments.get("reason")
    return want


def _wants(task: Task) -> list[_Want]:
    refs = _Refs(task.fuzzy)
    wants: list[_Want] = []
    previous: Constraint | None = None
    for constraint in task.constraints:
        if (
            previous is not None
            and _COMPANIONS.get(constraint.family) == previous.family
            and constraint.targets == previous.targets
        ):
            wants[-1].answers += list(constraint.answers)
            wants[-1].companion = True
        else:
            wants.append(_want(constraint, refs))
        previous = constraint
    return wants


# --- saying it -----------------------------------------------------------------------------------


def _options(options: dict[str, str]) -> str:
    # "yes" is an assent word; "waterproof included" says the same without agreeing to anything.
    return ", ".join(f"{k} included" if v == "yes" else f"{k}: {v}" for k, v in options.items())


def _item(name: str, options: dict[str, str]) -> str:
    return f"the {name} ({_options(options)})" if options else f"the {name}"


def _and(parts: Sequence[str]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _order(ref: FuzzyRef | None, dice: Dice) -> str:
    if ref is None:
        return "my order"
    if ref.strategy == "order_id":
        return f"{dice.pick(('order', 'my order'))} {ref.attributes['order_id']}"
    items = [_item(i["name"], i["options"]) for i in ref.attributes["items"]]
    return f"{dice.pick(_ORDER_INTROS)} {_and(items)}"


def _line(ref: FuzzyRef) -> str:
    return _item(ref.attributes["name"], ref.attributes["options"])


def _variant(ref: FuzzyRef | None, line: FuzzyRef, dice: Dice) -> str:
    if ref is None:
        return "another version"
    options: dict[str, str] = ref.attributes["options"]
    if ref.strategy == "changed_options":
        parts = [f"the {k} included" if v == "yes" else f"the {k} set to {v}" for k, v in options.items()]
        return f"{dice.pick(_SAME)} {_and(parts)}"
    name = line.attributes["name"]
    article = "an" if name[:1].lower() in "aeiou" else "a"
    return f"{article} {name} ({_options(options)})"


def _method(ref: FuzzyRef | None, dice: Dice) -> str:
    if ref is None:
        return "my usual payment method"
    attributes = ref.attributes
    strategy = ref.strategy
    if strategy == "method_id":
        return f"payment method {attributes['id']}"
    if strategy == "original":
        return dice.pick(("the payment method I originally paid with", "the original payment method"))
    if strategy == "source":
        return _SOURCES[attributes["source"]]
    if strategy == "last_four":
        return f"my card ending in {attributes['last_four']}"
    brand = _BRANDS.get(attributes["brand"].lower(), attributes["brand"].title())
    card = brand if brand.lower().endswith("card") else f"{brand} card"
    if strategy == "brand":
        return f"my {card}"
    return f"my {card} ending in {attributes['last_four']}"


def _address(value: FuzzyRef | dict[str, str] | None) -> str:
    if value is None:
        return "a new address"
    if isinstance(value, dict):
        return address_words(value)
    if value.strategy == "default_address":
        return "my default address"
    other = "other " if value.attributes.get("excluding_order") else ""
    return f"the address in {value.attributes['order_city']} that one of my {other}orders was shipped to"


def _pairs(want: _Want, verb: str, dice: Dice) -> str:
    phrases = [
        f"{_line(line)} {verb} {_variant(variant, line, dice)}"
        for line, variant in zip(want.lines, want.variants, strict=False)
    ]
    if len(phrases) == 1:
        return phrases[0]
    return "; ".join(phrases[:-1]) + "; and " + phrases[-1]


# Each request's phrasings, as templates: only the one drawn gets formatted.
_TEMPLATES: dict[str, tuple[str, ...]] = {
    "cancel_pending_order": (
        "I'd like to cancel {order} because {reason}.",
        "Please cancel {order}. {Reason}.",
        "I want to cancel {order}; {reason}.",
    ),
    "cancel_pending_order/omit": ("I'd like to cancel {order}.",),
    "cancel_pending_order/ask": (" Also, how much money will I get back?", " How much will be refunded to me?"),
    "return_delivered_order_items": (
        "I'd like to return {lines} from {order}, with the refund going to {method}.",
        "I want to return {lines} from {order}. Please put the refund on {method}.",
        "Can I return {lines} from {order}? I'd like the refund to go to {method}.",
    ),
    "return_delivered_order_items/omit": ("I'd like to return {lines} from {order}.",),
    "return_delivered_order_items/ask": (" How much will I get back?",),
    "exchange_delivered_order_items": (
        "In {order}, I'd like to exchange {pairs}.",
        "From {order}, I want to exchange {pairs}.",
    ),
    "exchange_delivered_order_items/money": (
        " Any price difference can go on {method}.",
        " Please use {method} for any price difference.",
    ),
    "modify_pending_order_items": (
        "In {order}, I'd like to change {pairs}.",
        "I want to modify {order}: please change {pairs}.",
        "For {order}, could you change {pairs}?",
    ),
    "modify_pending_order_items/money": (
        " Please settle any price difference with {method}.",
        " Any difference in price can go on {method}.",
    ),
    "modify_pending_order_address": (
        "Could you ship {order} to {address} instead?",
        "I need {order} to be shipped to {address} instead.",
        "Please change the shipping address of {order} to {address}.",
    ),
    "modify_pending_order_payment": (
        "I'd like to pay for {order} with {method} instead of the method I used.",
        "Could you switch the payment method of {order} to {method}?",
        "Please charge {order} to {method} instead.",
    ),
    "modify_user_address": (
        "Please change my default address to {address}.",
        "I'd like to update the default address on my profile to {address}.",
        "I moved recently; could you set my default address to {address}?",
    ),
    "inform_order_status": (
        "What's the status of {order}?",
        "Could you tell me where {order} stands?",
        "Can you check the status of {order} for me?",
    ),
    "inform_tracking_id": (
        "Could you give me the tracking number of {order}?",
        "What's the tracking number for {order}?",
    ),
    "inform_order_total": ("How much did I pay in total for {order}?", "What was the total I paid for {order}?"),
    "inform_item_price": (
        "How much did {lines} in {order} cost?",
        "What was the price of {lines} in {order}?",
        "Can you tell me what {lines} in {order} cost?",
    ),
    "inform_cancel_refund": (
        "I'm thinking about cancelling {order}. How much money would I get back? I'm only asking for now.",
        "If I cancelled {order}, how much would I get back? I'm just asking; please don't cancel anything.",
    ),
    "inform_return_refund": (
        "I'm thinking about returning {lines} from {order}. How much would I get back? I'm only asking for now.",
        "If I returned {lines} from {order}, how much money would I get back? I'm just asking for now.",
    ),
    "inform_gift_card_balance": (
        "How much money is left on {method}?",
        "What's the balance of {method}?",
        "Could you check the balance on {method}?",
    ),
    "inform_order_count": (
        "How many orders have I placed with you in total?",
        "Could you tell me how many orders I've placed, whatever their status?",
    ),
}
_SWAP_VERBS = {"exchange_delivered_order_items": "for", "modify_pending_order_items": "to"}


def _request(want: _Want, dice: Dice) -> str:
    """The request in the customer's words (a fresh phrasing each time it is drawn).

    A refused request is phrased as the change it attempts; a detail the agent can ask for (the
    cancellation reason, the payment method of a swap or a refund) is sometimes left out.
    """
    kind = want.expected.name if want.expected is not None else want.family
    omit = dice.random() < _OMIT_RATE
    words: dict[str, str] = {"order": _order(want.order, dice) if want.order is not None else ""}
    if want.lines:
        words["lines"] = _and([_line(r) for r in want.lines])
    if want.payment is not None:
        words["method"] = _method(want.payment, dice)
    if want.address is not None:
        words["address"] = _address(want.address)
    if kind == "cancel_pending_order":
        reason = dice.pick(_REASONS.get(want.reason or "", _REASONS["no longer needed"]))
        words["reason"] = reason
        words["Reason"] = reason[0].upper() + reason[1:]
    if kind in _SWAP_VERBS:
        words["pairs"] = _pairs(want, _SWAP_VERBS[kind], dice)
    templates = _TEMPLATES[f"{kind}/omit"] if omit and f"{kind}/omit" in _TEMPLATES else _TEMPLATES[kind]
    text = dice.pick(templates).format_map(words)
    if kind in _SWAP_VERBS and not omit:
        text += dice.pick(_TEMPLATES[f"{kind}/money"]).format_map(words)
    if want.companion:
        text += dice.pick(_TEMPLATES[f"{kind}/ask"])
    return text


def _identity(ref: FuzzyRef, dice: Dice) -> str:
    attributes = ref.attributes
    if ref.strategy == "email":
        email = attributes["email"]
        return dice.pick((f"My email is {email}.", f"It's {email}.", f"My email address is {email}."))
    first, last, zip_code = attributes["first_name"], attributes["last_name"], attributes["zip"]
    return dice.pick(
        (
            f"My name is {first} {last} and my zip code is {zip_code}.",
            f"I'm {first} {last}, zip code {zip_code}.",
            f"It's {first} {last}, and my zip code is {zip_code}.",
        )
    )


def _matches(summary: str, call: Call) -> bool:
    """Whether the agent's proposal is the write the customer wants: same verb, ids and address."""
    if _VERBS.get(call.name, "\0") not in summary:
        return False
    orders, items, methods = summary_ids(summary)
    arguments = call.arguments
    name = call.name
    if name == "modify_user_address":
        return not orders and f"to {address_words(arguments)}." in summary
    if orders != [arguments["order_id"]]:
        return False
    if name == "cancel_pending_order":
        return arguments["reason"] in summary and not items and not methods
    if name == "modify_pending_order_address":
        return f"to {address_words(arguments)}." in summary
    if name == "modify_pending_order_payment":
        return methods == [arguments["payment_method_id"]]
    if name == "return_delivered_order_items":
        return items == list(arguments["item_ids"]) and methods == [arguments["payment_method_id"]]
    pairs = [i for pair in zip(arguments["item_ids"], arguments["new_item_ids"], strict=True) for i in pair]
    return items == pairs and methods == [arguments["payment_method_id"]]


def _normalise(text: str) -> str:
    return text.lower().replace(",", "")


# --- the customer --------------------------------------------------------------------------------


@dataclass(slots=True)
class _State:
    """What the customer remembers of the conversation."""

    turns: int = 0
    current: int = -1
    heard: list[str] = field(default_factory=list)
    last_text: str = ""
    pleaded: bool = False
    asked_again: bool = False
    mismatches: int = 0


@dataclass(slots=True)
class _Plan:
    """A decided message and what it does to the customer's state once it is part of the conversation."""

    message: Message
    commit: Callable[[], None]


class RetailUser:
    """The scripted retail customer of one task (one object per episode; see the module docstring).

    Args:
        task: the retail task it plays.
        seed: the episode's seed; the phrasing depends on it and on the number of turns so far.
    """

    def __init__(self, task: Task, *, seed: int) -> None:
        self._identity = next(r for r in task.fuzzy if r.ref.kind == "users")
        self._wants = _wants(task)
        self._dice = Dice(seed, 0)
        self._state = _State()
        self._read = 0
        self._last: tuple[int, _Plan] | None = None

    def reply(self, messages: Sequence[Message]) -> Message:
        """The customer's next message after ``messages`` (the whole conversation so far).

        Only the messages not seen before are read. A fresh object given the same conversation
        returns the same message.
        """
        state = self._state
        # One pass over the new messages, inlined: it runs for every message of every episode.
        for index, message in enumerate(messages[self._read :], self._read):
            role = message.role
            if role == "assistant":
                if message.content:
                    state.last_text = message.content
                    state.heard.append(message.content)
            elif role == "user":
                self._replay(message, index)
                state.turns += 1
        self._read = len(messages)
        plan = self._decide()
        self._last = (len(messages), plan)
        return plan.message

    def _replay(self, message: Message, index: int) -> None:
        """Apply one of the customer's own earlier messages: the last decision, or the same one made again."""
        last = self._last
        if last is not None and last[0] == index and (last[1].message is message or last[1].message == message):
            last[1].commit()
            return
        plan = self._decide()
        if plan.message == message:
            plan.commit()

    # --- deciding ------------------------------------------------------------------------------

    def _decide(self) -> _Plan:
        state = self._state
        dice = self._dice.at(state.turns)
        if state.current < 0:
            return self._open(dice)
        want = self._wants[state.current]
        text = state.last_text
        lowered = text.lower()
        if asks_confirmation(lowered):
            return self._confirm(dice, want, text)
        if asks_identity(lowered):
            return _Plan(self._say(_identity(self._identity, dice)), _nothing)
        if "anything else" not in lowered and "?" in text:
            return self._answer(dice, want, lowered)
        return self._next(dice, want, lowered)

    def _say(self, text: str) -> Message:
        return Message(role="user", content=text)

    def _open(self, dice: Dice) -> _Plan:
        """The first message: a greeting, sometimes who the customer is, and the first request."""
        volunteer = dice.random() < _VOLUNTEER_RATE
        parts = [dice.pick(_GREETINGS)]
        if volunteer:
            parts.append(_identity(self._identity, dice))
        parts.append(_request(self._wants[0], dice))

        return _Plan(self._say(" ".join(parts)), self._first)

    def _first(self) -> None:
        self._start(0)

    def _start(self, index: int) -> None:
        state = self._state
        state.current = index
        state.heard = []
        state.pleaded = False
        state.asked_again = False
        state.mismatches = 0

    def _confirm(self, dice: Dice, want: _Want, summary: str) -> _Plan:
        state = self._state
        if want.expected is None:
            return _Plan(self._say(dice.pick(_NO_CHANGE)), _nothing)
        if _matches(summary, want.expected):
            return _Plan(self._say(dice.pick(_YES)), _nothing)

        def mismatch() -> None:
            state.mismatches += 1

        if state.mismatches:
            return _Plan(self._say(dice.pick(_NO_TWICE)), mismatch)
        return _Plan(self._say(f"{dice.pick(_NO)} {_request(want, dice)}"), mismatch)

    def _answer(self, dice: Dice, want: _Want, lowered: str) -> _Plan:
        """A question from the agent: answer it from what the customer knows, or say so."""
        if any(words in lowered for words in _WHAT):
            return _Plan(self._say(_request(want, dice)), _nothing)
        if "reason" in lowered and want.reason:
            reason = dice.pick(_REASONS.get(want.reason, ("I no longer need it",)))
            return _Plan(self._say(f"{reason[0].upper()}{reason[1:]}."), _nothing)
        if ("payment method" in lowered or "refund to go" in lowered) and want.payment is not None:
            return _Plan(self._say(f"Please use {_method(want.payment, dice)}."), _nothing)
        if "address" in lowered and want.address is not None:
            return _Plan(self._say(f"Please use {_address(want.address)}."), _nothing)
        return _Plan(self._say(dice.pick(_DONT_KNOW)), _nothing)

    def _next(self, dice: Dice, want: _Want, lowered: str) -> _Plan:
        """The agent finished or declined the current request: check it, then move on."""
        state = self._state
        missing = []
        if want.answers:  # normalised only when there is something to look for, as the verifier does
            heard = _normalise(" ".join(state.heard))
            missing = [fact for fact in want.answers if not any(_normalise(s) in heard for s in fact)]
        refused = False
        for words in _REFUSED:
            if words in lowered:
                refused = True
                break
        if missing and not state.asked_again and not refused:

            def asked() -> None:
                state.asked_again = True

            return _Plan(self._say(dice.pick(_AGAIN) + _request(want, dice)), asked)
        if want.intent is Intent.REFUSE and refused and not state.pleaded and dice.random() < _PLEAD_RATE:

            def pleaded() -> None:
                state.pleaded = True

            return _Plan(self._say(dice.pick(_PLEAD)), pleaded)
        following = state.current + 1
        if following >= len(self._wants):
            return _Plan(self._say(dice.pick(_STOP)), _nothing)
        lead = dice.pick(_AFTER_REFUSAL) if refused else dice.pick(_THANKS) + dice.pick(_MORE)

        def moved() -> None:
            self._start(following)

        return _Plan(self._say(lead + _request(self._wants[following], dice)), moved)


def _nothing() -> None:
    return None
