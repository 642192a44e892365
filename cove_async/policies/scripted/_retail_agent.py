"""The scripted retail agent: solves a customer's requests from the conversation alone.

It reads only the messages: the customer's words, its own earlier messages and the tool results.
It authenticates the customer (``find_user_id_by_email`` or ``find_user_id_by_name_zip``), reads
the profile, the orders and the products it needs to turn each description into exactly one
record, applies tau2's retail policy (only pending orders are cancelled or modified, only
delivered ones returned or exchanged; items of an order change once; a swap stays within the
product and needs an available variant; a gift card must cover what it pays; a refund goes to the
original method or a gift card), states every change with its ids and amounts and waits for an
explicit yes before writing, refuses what the policy forbids with the reason, and answers
questions with the exact values (amounts with two decimals). Reads of one step go out together in
one message; a write is always alone, and never carries text.

What it understands is the way a customer names retail records (the task descriptions of
:mod:`cove_async.tasks._retail_fuzzy`, in the phrasing :mod:`._retail_user` speaks): an order by
its id or by some of its items ("the order with the Hoodie (size: M) and the Wallet"), an item by
name and options, a new variant by all its options ("a Hoodie (size: L, color: black)") or by the
options that change ("the same one but with the size set to L"), a payment method by source,
brand or last four digits, an address in full, as "my default address" or as "the address in
Boston that one of my orders was shipped to".

The agent is a fold over the conversation: :meth:`RetailAgent.reply` reads the messages it has not
seen yet, then decides. Its own earlier messages are replayed through the same decision function
(or taken from the last decision when the message is the one it just made), so a fresh object fed
a whole conversation ends in the same state, and gives the same reply, as one fed turn by turn.
Randomness (the phrasing) comes from :class:`Dice`, derived from the seed and the length of
the conversation only.

A :class:`~cove_async.policies.scripted.Fault` is injected at the first opportunity where it
changes the outcome, and only there: WRONG_RECORD makes the confirmed write on another of the
customer's orders that the tool accepts (else another item, payment method or address of the same
request); EXTRA_WRITE saves an address to the profile before the first outcome it reports;
SKIPPED_CONFIRMATION writes the first change without asking; HALLUCINATED_ARGUMENT puts a made-up
id into the first confirmed write; EARLY_STOP says goodbye instead of proposing a change or stating
a fact not said yet. The reply that injects it carries it in :attr:`AgentReply.fault`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import msgspec

from cove_async.chat import FunctionCall, Message, ToolCall
from cove_async.domains.retail._records import CreditCard, GiftCard, Order, PaymentMethod, Product, User
from cove_async.policies.scripted._core import AgentReply, Fault
from cove_async.policies.scripted._dice import Dice
from cove_async.verify import ASSENT

__all__ = (
    "CONFIRM_PHRASES",
    "RetailAgent",
    "address_words",
    "asks_confirmation",
    "asks_identity",
    "summary_ids",
)

_T = TypeVar("_T")

# --- randomness ---------------------------------------------------------------------------------

# --- what the customer says, and what the agent says -------------------------------------------

CONFIRM_PHRASES = ("shall i go ahead", "do you want me to proceed", "can you confirm", "would you like me to go ahead")
"""How a customer recognises (in the lower-cased text) the agent asking for a yes before a change."""


def asks_identity(lowered: str) -> bool:
    """Whether the agent's message (lower-cased) asks who the customer is."""
    return "email" in lowered and "zip" in lowered


def asks_confirmation(lowered: str) -> bool:
    """Whether the agent's message (lower-cased) asks for a yes before a change (it ends with the question)."""
    tail = lowered[-64:]
    return any(phrase in tail for phrase in CONFIRM_PHRASES)


# Literal prefixes keep these scans cheap: the agent writes every item id as "item <id>".
_ORDER_IDS = re.compile(r"#W\d+")
_ITEM_IDS = re.compile(r"item (\d+)")
_METHOD_IDS = re.compile(r"(?:credit_card|gift_card|paypal)_\d+")


def summary_ids(text: str) -> tuple[list[str], list[str], list[str]]:
    """The order ids, item ids and payment method ids a proposal mentions, each in order of mention."""
    return _ORDER_IDS.findall(text), _ITEM_IDS.findall(text), _METHOD_IDS.findall(text)


def address_words(fields: dict[str, str]) -> str:
    """An address as both players spell it: ``"12 Oak St, Apt 4, Boston, MA 02101, USA"``."""
    second = f"{fields['address2']}, " if fields.get("address2") else ""
    return f"{fields['address1']}, {second}{fields['city']}, {fields['state']} {fields['zip']}, {fields['country']}"


_NAME = r"[A-Z][\w'&+-]*(?: [A-Z0-9][\w'&+-]*)*"
# "the Hoodie (size: M, color: black)". No leading \b: a literal prefix lets the regex engine skip
# ahead, several times faster.
_ITEM = re.compile(rf"the ({_NAME})(?: \(([^()]*)\))?")
_ITEM_SEP = re.compile(r",? and |, ")
_ORDER_LEADS = ("the ", "my ")
_ORDER_LINKS = ("with ", "containing ", "that has ", "that contains ")
_FULL_VARIANT = re.compile(rf" an? ({_NAME}) \(([^()]*)\)")
_PART_SPLIT = re.compile(r", (?=the )| and (?=the )")
_PART_SET = re.compile(r"the (.+?) set to (.+)")
_PART_INCLUDED = re.compile(r"the (.+) included")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PERSON = re.compile(r"\b(?:[Mm]y name is|I'm|I am|It's|it's) ([A-Z][\w'-]*) ([A-Z][\w'-]*)")
_ZIP = re.compile(r"\bzip code(?: is)? (\d{5})\b")
_FULL_ADDRESS = re.compile(
    r"(?<![\w.])(\d+ [^,;()]+?), (?:([^,;()]+?), )?([A-Z][^,;()]*?), ([A-Z]{2}) (\d{5}), ([A-Z][A-Za-z]*)"
)
_CITY_ADDRESS = re.compile(r"address in (.+?) that one of my")
_LAST_FOUR = re.compile(r"ending in (\d{4})")
_BRANDS = {"visa": "Visa", "mastercard": "Mastercard", "amex": "American Express", "discover": "Discover"}
_BRAND_WORDS = {"american express": "amex", "mastercard": "mastercard", "visa": "visa", "discover": "discover"}

# Keywords start at a word ("spaceship" is an option value, not a shipping request); the text they
# are looked for in is lower-cased, starts with a space and has the records masked out.
_HYPOTHETICAL = (" only asking", " just asking", " thinking about", " just want to know")
# In order: the first intent whose words appear in the request wins.
_INTENTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("count", (" how many orders",)),
    ("tracking", (" tracking",)),
    ("balance", (" balance", " left on")),
    ("total", (" in total", " total i paid", " the total")),
    ("price", (" cost", " price of")),
    ("status", (" status", " stands")),
    ("cancel", (" cancel",)),
    ("return", (" return",)),
    ("exchange", (" exchange",)),
    ("user_address", (" default address",)),
    ("order_address", (" ship",)),
    ("payment", (" pay for", " payment method of", " charge")),
    ("items", (" change", " modify", " swap", " replace")),
)
_ORDER_INTENTS = frozenset(
    {"cancel", "return", "exchange", "order_address", "payment", "items", "status", "tracking", "total", "price"}
    | {"cancel_refund", "return_refund"}
)
_SWAPS = frozenset({"exchange", "items"})
_PAYING = frozenset({"exchange", "items", "return", "payment", "balance"})

_USER_DECODER = msgspec.json.Decoder(User)
_ORDER_DECODER = msgspec.json.Decoder(Order)
_PRODUCT_DECODER = msgspec.json.Decoder(Product)
_ENCODE = msgspec.json.encode

_MADE_UP = {
    "payment_method_id": "credit_card_0000000",
    "order_id": "#W0000000",
    "user_id": "guest_0000",
}

_ASK_IDENTITY = (
    "I can help with that. First I need to verify your identity: could you tell me the email address on your "
    "account, or your first and last name and your zip code?",
    "Happy to help. To find your account, please give me your email address, or your full name and zip code.",
    "Before we start I need to authenticate you. What is your email address? Your first and last name plus your "
    "zip code work too.",
)
_AUTH_FAILED = (
    "I couldn't find an account with those details. Could you check your email address, or give me your name and "
    "zip code instead?",
)
_CONFIRM_LEAD = ("Here is what I will do: ", "To confirm, I am about to ", "I'm ready to ")
_CONFIRM_TAIL = (
    "Shall I go ahead? Please answer yes or no.",
    "Do you want me to proceed?",
    "Can you confirm that you want this?",
    "Would you like me to go ahead with this?",
)
_ANYTHING_ELSE = (
    "Is there anything else I can help you with?",
    "Can I help you with anything else?",
    "Anything else I can do for you?",
)
_REFUSE_LEAD = ("I'm sorry, but I can't do that: ", "Unfortunately that is not possible: ", "I'm afraid I can't: ")
_STILL_REFUSE = ("I understand, but it really isn't possible: ", "I'm sorry, there is no way around it: ")
_WHAT = ("How can I help you today?", "What can I do for you?")
_DECLINED = ("All right, I won't make that change.", "Understood, I'll leave it as it is.")
_FAREWELL_WORDS = ("thank", "bye", "that's all", "nothing else")
_FAREWELL = ("You're welcome! Have a great day.", "Glad I could help. Goodbye!")
_GOODBYE = "Thank you for contacting us. Have a great day! ###STOP###"


# --- records in words ---------------------------------------------------------------------------


def _money(amount: float) -> str:
    return f"{amount:.2f}"


def _options(options: dict[str, str]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in options.items())


def _line_words(name: str, item_id: str, options: dict[str, str]) -> str:
    return f"the {name} (item {item_id}; {_options(options)})" if options else f"the {name} (item {item_id})"


def _method_words(method: PaymentMethod) -> str:
    if isinstance(method, CreditCard):
        brand = _BRANDS.get(method.brand.lower(), method.brand.title())
        card = brand if brand.lower().endswith("card") else f"{brand} card"
        return f"your {card} ending in {method.last_four}"
    return "your gift card" if isinstance(method, GiftCard) else "your PayPal account"


def _and(parts: Sequence[str]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _parse_options(text: str | None) -> dict[str, str]:
    out: dict[str, str] = {}
    if not text:
        return out
    for part in text.split(", "):
        key, sep, value = part.partition(": ")
        if sep:
            out[key] = value
        elif part.endswith(" included"):
            out[part[: -len(" included")]] = "yes"
    return out


# --- what a request is ---------------------------------------------------------------------------

_Variant = tuple[str, str, dict[str, str]]  # ("same", "", changed options) or ("full", product name, options)
# ("id", id), ("last_four", "<brand or nothing>/<digits>"), ("brand", b), ("source", s), ("original", "")
_Payment = tuple[str, str]
_Address = tuple[str, Any]  # ("full", fields) ("city", city) ("default", None)


@dataclass(slots=True)
class _Ask:
    """One request as the agent understood it, and how far it got."""

    intent: str
    order: tuple[str, Any] | None
    lines: list[tuple[str, dict[str, str]]]
    variants: list[_Variant | None]
    payment: _Payment | None
    address: _Address | None
    reason: str | None
    action: _Action | None = None
    confirmed: bool = False
    result: str | None = None
    closed: bool = False
    asked: str = ""  # what the agent asked the customer for, if it is waiting for an answer
    order_id: str | None = None  # the order the description resolved to, once it did
    unanswered: bool = False  # the customer could not say what the agent asked


@dataclass(slots=True)
class _Action:
    """A write the agent proposed: the call, the sentence that proposed it, and what it says once done."""

    name: str
    arguments: dict[str, Any]
    summary: str
    done: str
    amount: float = 0.0  # what a payment method must cover: a swap's price difference, a moved payment


@dataclass(slots=True)
class _Plan:
    """A decided reply and what it does to the agent's state once it is part of the conversation."""

    message: Message
    fault: Fault | None
    commit: Callable[[], None]


def _nothing() -> None:
    return None


# --- the agent -----------------------------------------------------------------------------------


@dataclass(slots=True)
class _State:
    """What the agent knows: who the customer is, the records it read, and the request in hand."""

    user_id: str | None = None
    user: User | None = None
    user_stale: bool = False
    identity: tuple[str, ...] | None = None  # the last one the customer gave and the agent has not looked up
    failed_logins: int = 0
    orders: dict[str, Order] = field(default_factory=dict)  # decoded
    raw: dict[str, str] = field(default_factory=dict)  # read, decoded on first use (most are only screened)
    missing: set[str] = field(default_factory=set)
    products: dict[str, Product] = field(default_factory=dict)
    calls: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    ask: _Ask | None = None
    refusal: str | None = None  # why the last request was refused, while the customer pleads
    understood: bool = True  # whether the customer's last message held a request
    farewell: bool = False  # whether it was a goodbye
    injected: bool = False
    said: list[str] = field(default_factory=list)  # the agent's texts, lower-cased (kept for EARLY_STOP only)

    def order(self, order_id: str) -> Order | None:
        """An order the agent has read, decoded on first use; None if it was not read."""
        order = self.orders.get(order_id)
        if order is None:
            raw = self.raw.pop(order_id, None)
            if raw is not None:
                order = self.orders[order_id] = _ORDER_DECODER.decode(raw)
        return order

    def read(self, order_id: str) -> bool:
        """Whether the agent has asked for this order (and got it, or an error)."""
        return order_id in self.orders or order_id in self.raw or order_id in self.missing


class RetailAgent:
    """The scripted retail agent (one object per episode; see the module docstring).

    Args:
        seed: the episode's seed; the phrasing depends on it and on the conversation's length.
        fault: the mistake to make at the first opportunity where it changes the outcome, if any.
    """

    def __init__(self, *, seed: int, fault: Fault | None = None) -> None:
        self._fault = fault
        self._state = _State()
        self._read = 0
        self._pos = 0
        self._dice = Dice(seed, 0)
        self._drawn = False  # whether the dice were restarted for the current position
        self._last: tuple[int, _Plan] | None = None

    def reply(self, messages: Sequence[Message]) -> AgentReply:
        """The next assistant message after ``messages`` (the whole conversation so far).

        Only the messages not seen before are read. A fresh object given the same conversation
        returns the same reply.
        """
        # One pass over the new messages, inlined: it runs for every message of every episode.
        for index, message in enumerate(messages[self._read :], self._read):
            role = message.role
            if role == "tool":
                self._result(message)
            elif role == "user":
                self._hear(message.content or "")
            elif role == "assistant" and index > 0:
                self._replay(message, index)
        self._read = len(messages)
        plan = self._decide(len(messages))
        self._last = (len(messages), plan)
        return AgentReply(message=plan.message, fault=plan.fault)

    # --- reading the conversation --------------------------------------------------------------

    def _replay(self, message: Message, index: int) -> None:
        """Apply one of the agent's own earlier messages: the last decision, or the same one made again."""
        if self._fault is Fault.EARLY_STOP and message.content:
            self._state.said.append(message.content.lower().replace(",", ""))
        last = self._last
        if last is not None and last[0] == index and (last[1].message is message or last[1].message == message):
            last[1].commit()
            return
        plan = self._decide(index)
        if plan.message == message:
            plan.commit()
        elif _same_turn(plan.message, message):
            # The same turn as it came back through a server (new call ids, re-encoded arguments).
            plan.commit()
            calls = self._state.calls
            for mine, theirs in zip(plan.message.tool_calls, message.tool_calls, strict=True):
                calls[theirs.id] = calls[mine.id]
        else:
            self._foreign(message)

    def _foreign(self, message: Message) -> None:
        """A message this agent would not have written (another agent's turn): keep its calls."""
        for call in message.tool_calls:
            try:
                arguments = msgspec.json.decode(call.function.arguments)
            except msgspec.DecodeError:
                arguments = {}
            self._state.calls[call.id] = (call.function.name, arguments if isinstance(arguments, dict) else {})

    def _hear(self, text: str) -> None:
        state = self._state
        if state.user_id is None:
            email = _EMAIL.search(text) if "@" in text else None
            if email:
                state.identity = ("email", email.group())
            if "zip code" in text:
                zip_code = _ZIP.search(text)
                person = _PERSON.search(text)
                if zip_code and person:
                    state.identity = ("name_zip", person.group(1), person.group(2), zip_code.group(1))
        ask = state.ask
        if ask is not None and not ask.closed:
            if ask.action is not None and not ask.confirmed:
                if ASSENT.search(text):
                    ask.confirmed = True
                    return
                ask.closed = True
                ask.action = None
                ask.asked = "declined"
            elif ask.asked and self._fill(ask, text):
                return
        parsed = _parse(text)
        state.understood = parsed is not None
        state.farewell = parsed is None and any(words in text.lower() for words in _FAREWELL_WORDS)
        if parsed is not None:
            state.ask = parsed
            state.refusal = None

    def _fill(self, ask: _Ask, text: str) -> bool:
        """Take the customer's answer to the agent's question; False if it is a new request instead."""
        wanted, ask.asked = ask.asked, ""
        if wanted == "reason":
            ask.reason = _reason(text)
            ask.unanswered = ask.reason is None
        elif wanted == "payment":
            ask.payment = _payment(text.lower())
            ask.unanswered = ask.payment is None
        elif wanted == "address":
            ask.address = _address(text)
            ask.unanswered = ask.address is None
        else:
            ask.unanswered = True
        return not (ask.unanswered and _parse(text) is not None)

    def _result(self, message: Message) -> None:
        state = self._state
        name, arguments = state.calls.get(message.tool_call_id or "", ("", {}))
        content = message.content or ""
        error = content.startswith("Error:")
        if name in ("find_user_id_by_email", "find_user_id_by_name_zip"):
            if error:
                state.failed_logins += 1
            else:
                state.user_id = content
        elif name == "get_user_details":
            if not error:
                state.user = _USER_DECODER.decode(content)
                state.user_stale = False
        elif name == "get_order_details":
            order_id = str(arguments.get("order_id"))
            if error:
                state.missing.add(order_id)
            else:
                state.raw[order_id] = content
                state.orders.pop(order_id, None)
        elif name == "get_product_details":
            if not error:
                product = _PRODUCT_DECODER.decode(content)
                state.products[product.product_id] = product
        elif name:
            self._written(name, content, error)

    def _written(self, name: str, content: str, error: bool) -> None:
        state = self._state
        if not error:
            if name == "modify_user_address":
                state.user = _USER_DECODER.decode(content)
            else:
                order = _ORDER_DECODER.decode(content)
                state.orders[order.order_id] = order
                state.raw.pop(order.order_id, None)
                if name in ("cancel_pending_order", "modify_pending_order_items", "modify_pending_order_payment"):
                    state.user_stale = True  # gift card balances may have moved
        ask = state.ask
        if ask is not None and ask.action is not None and ask.result is None and ask.confirmed:
            ask.result = content

    # --- deciding ------------------------------------------------------------------------------

    def _decide(self, position: int) -> _Plan:
        state = self._state
        self._pos = position
        self._drawn = False
        if state.user_id is None:
            return self._authenticate()
        if state.user is None or (state.user_stale and self._needs_balances()):
            return self._call([("get_user_details", {"user_id": state.user_id})])
        ask = state.ask
        if ask is None or ask.closed:
            return self._idle(ask)
        if ask.action is not None:
            return self._act(ask, ask.action)
        reads = self._reads(ask)
        if reads:
            return self._call(reads)
        return self._resolve(ask)

    def _authenticate(self) -> _Plan:
        state = self._state
        identity = state.identity
        if identity is not None:
            if identity[0] == "email":
                call = ("find_user_id_by_email", {"email": identity[1]})
            else:
                names = {"first_name": identity[1], "last_name": identity[2], "zip": identity[3]}
                call = ("find_user_id_by_name_zip", names)
            plan = self._call([call])
            register = plan.commit

            def looked_up() -> None:
                register()
                state.identity = None

            return _Plan(plan.message, None, looked_up)
        if state.failed_logins >= 3:
            return self._say("I'm sorry, I can't verify your account, so I can't help with this. " + _GOODBYE)
        return self._say(self._pick(_AUTH_FAILED if state.failed_logins else _ASK_IDENTITY))

    def _idle(self, ask: _Ask | None) -> _Plan:
        """No request in progress: answer a plea, a goodbye, a declined proposal, or ask what is needed."""
        state = self._state
        if state.farewell:
            return self._say(self._pick(_FAREWELL))
        if state.refusal is not None and not state.understood:
            return self._say(f"{self._pick(_STILL_REFUSE)}{state.refusal} {self._pick(_ANYTHING_ELSE)}")
        if ask is not None and ask.asked == "declined":

            def settled() -> None:
                ask.asked = ""

            return _Plan(
                Message(role="assistant", content=f"{self._pick(_DECLINED)} {self._pick(_ANYTHING_ELSE)}"),
                None,
                settled,
            )
        return self._say(self._pick(_WHAT))

    def _needs_balances(self) -> bool:
        ask = self._state.ask
        return (
            ask is not None and not ask.closed and ask.action is None and ask.intent in _SWAPS | {"payment", "balance"}
        )

    # --- reads ---------------------------------------------------------------------------------

    def _reads(self, ask: _Ask) -> list[tuple[str, dict[str, Any]]]:
        """The reads the request still needs (orders, then the products of the items to swap)."""
        state = self._state
        user = state.user
        assert user is not None
        wanted: list[str] = []
        everything = (
            (ask.order is not None and ask.order[0] == "items")
            or (ask.address is not None and ask.address[0] == "city")
            or (self._fault is Fault.WRONG_RECORD and not state.injected and ask.intent in _ORDER_INTENTS)
        )
        if everything:
            wanted = list(dict.fromkeys(user.orders))
        elif ask.order is not None and ask.intent in _ORDER_INTENTS:
            wanted = [ask.order[1]]
        reads = [("get_order_details", {"order_id": o}) for o in wanted if not state.read(o)]
        if reads or ask.intent not in _SWAPS:
            return reads
        order = self._order(ask)
        if order is None:
            return []
        products: list[str] = []
        for name, options in ask.lines:
            line = _line(order, name, options)
            if line is not None and line[1].product_id not in state.products:
                products.append(line[1].product_id)
        return [("get_product_details", {"product_id": p}) for p in dict.fromkeys(products)]

    # --- resolving -----------------------------------------------------------------------------

    def _order(self, ask: _Ask) -> Order | None:
        state = self._state
        if ask.order_id is not None:
            return state.order(ask.order_id)
        order = self._find_order(ask)
        if order is not None:
            # Resolved once: later writes may change the items the customer described it by.
            ask.order_id = order.order_id
        return order

    def _find_order(self, ask: _Ask) -> Order | None:
        state = self._state
        if ask.order is None or state.user is None:
            return None
        if ask.order[0] == "id":
            order = state.order(ask.order[1])
            return order if order is not None and order.user_id == state.user_id else None
        wanted: list[tuple[str, dict[str, str]]] = ask.order[1]
        # Screen the orders not decoded yet by the product names in their JSON (as the tool renders
        # it); if that finds nothing, the rendering differs, so decode them all and look again.
        names = [f'"name": {json.dumps(name)}' for name, _ in wanted]
        for screen in (True, False):
            hits = []
            for order_id in dict.fromkeys(state.user.orders):
                raw = state.raw.get(order_id)
                if screen and raw is not None and not all(name in raw for name in names):
                    continue
                order = state.order(order_id)
                if order is not None and order.user_id == state.user_id and _holds(order, wanted):
                    hits.append(order)
            if hits or not state.raw:
                break
        return hits[0] if len(hits) == 1 else None

    def _method(self, ask: _Ask, order: Order | None) -> str | None:
        user = self._state.user
        spec = ask.payment
        if spec is None or user is None:
            return None
        kind, value = spec
        if kind == "original":
            if order is None or not order.payment_history:
                return None
            return order.payment_history[0].payment_method_id
        if kind == "id":
            return value if value in user.payment_methods else None
        hits = [m.id for m in user.payment_methods.values() if _method_fits(m, kind, value)]
        return hits[0] if len(hits) == 1 else None

    def _address(self, ask: _Ask, order: Order | None) -> dict[str, str] | None:
        state = self._state
        spec = ask.address
        user = state.user
        if spec is None or user is None:
            return None
        kind, value = spec
        if kind == "full":
            fields: dict[str, str] = value
            return fields
        if kind == "default":
            return _address_fields(msgspec.structs.asdict(user.address))
        skip = order.order_id if order is not None and ask.intent == "order_address" else None
        found: dict[str, dict[str, str]] = {}
        for order_id in dict.fromkeys(user.orders):
            other = state.order(order_id)
            if other is not None and order_id != skip and other.address.city == value:
                fields = _address_fields(msgspec.structs.asdict(other.address))
                found[address_words(fields)] = fields
        return next(iter(found.values())) if len(found) == 1 else None

    def _resolve(self, ask: _Ask) -> _Plan:
        state = self._state
        user = state.user
        assert user is not None
        if ask.unanswered:
            return self._close("I'm sorry, I can't complete this without that information.")
        intent = ask.intent
        if intent == "count":
            count = len(user.orders)
            noun = "order" if count == 1 else "orders"
            return self._answer(f"You have placed {count} {noun} with us.", f"{count} {noun}")
        if intent == "user_address":
            fields = self._address(ask, None)
            if fields is None:
                return self._clarify(ask, "address", "What address would you like to use?")
            words = address_words(fields)
            return self._propose(
                ask,
                _Action(
                    "modify_user_address",
                    {"user_id": user.user_id, **_address_args(fields)},
                    f"change your default address to {words}.",
                    f"Your default address is now {words}.",
                ),
            )
        if intent == "balance":
            method_id = self._method(ask, None)
            method = user.payment_methods.get(method_id or "")
            if not isinstance(method, GiftCard):
                return self._close("I'm sorry, I couldn't find that gift card on your account.")
            balance = _money(method.balance)
            return self._answer(f"Your gift card {method.id} has a balance of {balance}.", balance)
        if ask.order is None:
            return self._close("I'm sorry, I couldn't tell which order you mean.")
        order = self._order(ask)
        if order is None:
            return self._close("I'm sorry, I couldn't find that order on your account.")
        return self._on_order(ask, order)

    def _on_order(self, ask: _Ask, order: Order) -> _Plan:
        intent = ask.intent
        oid = order.order_id
        status = order.status
        if intent == "status":
            return self._answer(f"The status of order {oid} is: {status}.", status)
        if intent == "tracking":
            ids = list(dict.fromkeys(t for f in order.fulfillments for t in f.tracking_id))
            if not ids:
                return self._close(f"Order {oid} has not shipped yet, so it has no tracking number.")
            noun = "number is" if len(ids) == 1 else "numbers are"
            return self._answer(f"The tracking {noun} for order {oid}: {_and(ids)}.", *ids)
        if intent == "total":
            paid = order.payment_history
            total = (
                paid[0].amount
                if len(paid) == 1
                else sum(p.amount if p.transaction_type == "payment" else -p.amount for p in paid)
            )
            return self._answer(f"You paid {_money(total)} in total for order {oid}.", _money(total))
        if intent == "cancel_refund":
            if status != "pending":
                return self._refuse(_status_rule(order, "cancel"))
            total = round(sum(p.amount for p in order.payment_history), 2)
            return self._answer(
                f"If you cancelled order {oid}, you would get {_money(total)} back on the original payment method. "
                "I have not changed anything.",
                _money(total),
            )
        lines = [_line(order, name, options) for name, options in ask.lines]
        if any(line is None for line in lines):
            return self._close(f"I'm sorry, I couldn't find that item in order {oid}.")
        found = [line for line in lines if line is not None]
        if intent == "price":
            if not found:
                return self._close("I'm sorry, I couldn't tell which item you mean.")
            item = found[0][1]
            return self._answer(f"The {item.name} in order {oid} cost {_money(item.price)}.", _money(item.price))
        if intent == "return_refund":
            total = round(sum(line[1].price for line in found), 2)
            names = _and([f"the {line[1].name}" for line in found])
            return self._answer(
                f"If you returned {names} from order {oid}, you would get {_money(total)} back. "
                "I have not changed anything.",
                _money(total),
            )
        if intent == "cancel":
            return self._cancel(ask, order)
        if intent == "order_address":
            return self._ship(ask, order)
        if intent == "payment":
            return self._pay(ask, order)
        if intent == "return":
            return self._return(ask, order, found)
        return self._swap(ask, order, found)

    def _cancel(self, ask: _Ask, order: Order) -> _Plan:
        if order.status != "pending":
            return self._refuse(_status_rule(order, "cancel"))
        if ask.reason is None:
            return self._clarify(
                ask,
                "reason",
                "Could you tell me the reason for the cancellation: is it no longer needed, or was it ordered by mistake?",
            )
        oid = order.order_id
        total = _money(round(sum(p.amount for p in order.payment_history), 2))
        items = _and([f"the {line.name}" for line in order.items])
        refund = f"The total of {total} will be refunded to the original payment method."
        return self._propose(
            ask,
            _Action(
                "cancel_pending_order",
                {"order_id": oid, "reason": ask.reason},
                f"cancel order {oid} (reason: {ask.reason}), which holds {items}. {refund}",
                f"Order {oid} is now cancelled. {refund} Gift card refunds arrive at once, others within 5 to 7 "
                "business days.",
            ),
        )

    def _ship(self, ask: _Ask, order: Order) -> _Plan:
        if order.status != "pending":
            return self._refuse(_status_rule(order, "modify"))
        fields = self._address(ask, order)
        if fields is None:
            return self._clarify(ask, "address", "What address should the order go to?")
        words = address_words(fields)
        oid = order.order_id
        return self._propose(
            ask,
            _Action(
                "modify_pending_order_address",
                {"order_id": oid, **_address_args(fields)},
                f"change the shipping address of order {oid} to {words}.",
                f"Order {oid} will now be shipped to {words}.",
            ),
        )

    def _pay(self, ask: _Ask, order: Order) -> _Plan:
        user = self._state.user
        assert user is not None
        if order.status != "pending":
            return self._refuse(_status_rule(order, "modify"))
        history = order.payment_history
        if len(history) != 1 or history[0].transaction_type != "payment":
            return self._refuse("an order paid in several payments cannot move to another payment method.")
        method_id = self._method(ask, order)
        if method_id is None:
            return self._clarify(ask, "payment", "Which payment method would you like to use instead?")
        method = user.payment_methods[method_id]
        oid = order.order_id
        amount = history[0].amount
        if method_id == history[0].payment_method_id:
            return self._close(f"Order {oid} is already paid with {_method_words(method)}.")
        if isinstance(method, GiftCard) and method.balance < amount:
            return self._refuse(
                f"your gift card has a balance of {_money(method.balance)}, which does not cover the order total of "
                f"{_money(amount)}.",
            )
        old = user.payment_methods.get(history[0].payment_method_id)
        old_words = _method_words(old) if old is not None else "the original method"
        return self._propose(
            ask,
            _Action(
                "modify_pending_order_payment",
                {"order_id": oid, "payment_method_id": method_id},
                f"pay order {oid} ({_money(amount)}) with {_method_words(method)} ({method_id}) instead of "
                f"{old_words}; the original payment will be refunded.",
                f"Order {oid} is now paid with {_method_words(method)}, and the original payment will be refunded.",
                amount,
            ),
        )

    def _return(self, ask: _Ask, order: Order, found: list[tuple[int, Any]]) -> _Plan:
        user = self._state.user
        assert user is not None
        if order.status != "delivered":
            return self._refuse(_status_rule(order, "return"))
        if not found:
            return self._close("I'm sorry, I couldn't tell which items you want to return.")
        method_id = self._method(ask, order)
        if method_id is None:
            return self._clarify(
                ask,
                "payment",
                "Where would you like the refund to go: the original payment method or one of your gift cards?",
            )
        method = user.payment_methods[method_id]
        original = order.payment_history[0].payment_method_id if order.payment_history else None
        if not isinstance(method, GiftCard) and method_id != original:
            return self._refuse(
                "a refund can only go to the order's original payment method or to one of your gift cards."
            )
        oid = order.order_id
        total = _money(round(sum(line[1].price for line in found), 2))
        words = _and([_line_words(line[1].name, line[1].item_id, line[1].options) for line in found])
        return self._propose(
            ask,
            _Action(
                "return_delivered_order_items",
                {"order_id": oid, "item_ids": [line[1].item_id for line in found], "payment_method_id": method_id},
                f"return {words} from order {oid}, with the refund of {total} going to {_method_words(method)} "
                f"({method_id}).",
                f"The return from order {oid} is requested: you will get {total} back on {_method_words(method)} and "
                "an email with instructions for sending the items back.",
            ),
        )

    def _swap(self, ask: _Ask, order: Order, found: list[tuple[int, Any]]) -> _Plan:
        state = self._state
        user = state.user
        assert user is not None
        exchange = ask.intent == "exchange"
        if order.status != ("delivered" if exchange else "pending"):
            return self._refuse(_status_rule(order, "return" if exchange else "modify"))
        if not found or len(ask.variants) != len(found):
            return self._close("I'm sorry, I couldn't tell which items you want to change.")
        pairs: list[tuple[Any, Any]] = []
        for (_, line), spec in zip(found, ask.variants, strict=True):
            product = state.products.get(line.product_id)
            new = _variant(product, line, spec) if product is not None and spec is not None else None
            if new is None:
                return self._close(f"I'm sorry, I couldn't find the {line.name} you describe.")
            if not new.available:
                return self._refuse(
                    f"the {line.name} with {_options(new.options)} is not available, so I can't swap it in."
                )
            if new.item_id == line.item_id:
                return self._close(f"The {line.name} you have already has those options.")
            pairs.append((line, new))
        difference: float = 0
        for line, new in pairs:
            difference += new.price - line.price
        if exchange:
            difference = round(difference, 2)
        method_id = self._method(ask, order)
        if method_id is None:
            return self._clarify(ask, "payment", "Which payment method should I use for the price difference?")
        method = user.payment_methods[method_id]
        if isinstance(method, GiftCard) and method.balance < difference:
            return self._refuse(
                f"your gift card balance of {_money(method.balance)} does not cover the price difference of "
                f"{_money(difference)}.",
            )
        oid = order.order_id
        verb = "for" if exchange else "to"
        words = "; ".join(
            f"{_line_words(line.name, line.item_id, line.options)} {verb} item {new.item_id} ({_options(new.options)})"
            for line, new in pairs
        )
        if difference > 0:
            money = f"You pay the price difference of {_money(difference)} with {_method_words(method)} ({method_id})."
        elif difference < 0:
            money = f"You get {_money(-difference)} back on {_method_words(method)} ({method_id})."
        else:
            money = f"There is no price difference; {_method_words(method)} ({method_id}) stays on file for it."
        name = "exchange_delivered_order_items" if exchange else "modify_pending_order_items"
        arguments = {
            "order_id": oid,
            "item_ids": [line.item_id for line, _ in pairs],
            "new_item_ids": [new.item_id for _, new in pairs],
            "payment_method_id": method_id,
        }
        if exchange:
            summary = f"exchange in order {oid}: {words}. {money}"
            done = f"The exchange for order {oid} is requested; you will get an email with instructions for sending the items back."
        else:
            summary = f"change in order {oid}: {words}. {money} Items of an order can be changed only once."
            done = f"Order {oid} is updated: {words}."
        return self._propose(ask, _Action(name, arguments, summary, done, difference))

    # --- replies -------------------------------------------------------------------------------

    def _pick(self, options: Sequence[str]) -> str:
        """A phrasing drawn from the dice of this position (made on first use: most turns draw none)."""
        if not self._drawn:
            self._dice.at(self._pos)
            self._drawn = True
        return self._dice.pick(options)

    def _say(self, text: str) -> _Plan:
        return _Plan(Message(role="assistant", content=text), None, _nothing)

    def _call(self, calls: list[tuple[str, dict[str, Any]]], fault: Fault | None = None) -> _Plan:
        state = self._state
        made = tuple(
            [
                ToolCall(id=f"call_{self._pos}_{i}", function=FunctionCall(name=name, arguments=_ENCODE(args).decode()))
                for i, (name, args) in enumerate(calls)
            ]
        )

        def register() -> None:
            for call, (name, args) in zip(made, calls, strict=True):
                state.calls[call.id] = (name, args)

        return _Plan(Message(role="assistant", tool_calls=made), fault, register)

    def _clarify(self, ask: _Ask, what: str, question: str) -> _Plan:
        def asked() -> None:
            ask.asked = what

        return _Plan(Message(role="assistant", content=question), None, asked)

    def _close(self, text: str, refusal: str | None = None) -> _Plan:
        """Say ``text`` and end the request (the EXTRA_WRITE fault slips its write in first)."""
        state = self._state
        ask = state.ask
        extra = self._extra_write()
        if extra is not None:
            return extra

        def closed() -> None:
            if ask is not None:
                ask.closed = True
            state.refusal = refusal

        content = f"{text} {self._pick(_ANYTHING_ELSE)}"
        return _Plan(Message(role="assistant", content=content), None, closed)

    def _refuse(self, rule: str) -> _Plan:
        return self._close(f"{self._pick(_REFUSE_LEAD)}{rule}", refusal=rule)

    def _answer(self, text: str, *facts: str) -> _Plan:
        """State ``facts`` in ``text``; EARLY_STOP ends instead, unless they were all said already."""
        state = self._state
        if self._fault is Fault.EARLY_STOP and not state.injected:
            said = " ".join(state.said)
            if any(fact.lower() not in said for fact in facts):
                return self._stop()
        return self._close(text)

    def _stop(self) -> _Plan:
        state = self._state

        def stopped() -> None:
            state.injected = True

        return _Plan(Message(role="assistant", content=_GOODBYE), Fault.EARLY_STOP, stopped)

    def _propose(self, ask: _Ask, action: _Action) -> _Plan:
        state = self._state
        if self._fault is Fault.EARLY_STOP and not state.injected:
            return self._stop()
        if self._fault is Fault.SKIPPED_CONFIRMATION and not state.injected:
            plan = self._call([(action.name, action.arguments)], Fault.SKIPPED_CONFIRMATION)
            register = plan.commit

            def written() -> None:
                register()
                ask.action = action
                ask.confirmed = True
                state.injected = True

            return _Plan(plan.message, plan.fault, written)

        def proposed() -> None:
            ask.action = action

        text = f"{self._pick(_CONFIRM_LEAD)}{action.summary} {self._pick(_CONFIRM_TAIL)}"
        return _Plan(Message(role="assistant", content=text), None, proposed)

    def _act(self, ask: _Ask, action: _Action) -> _Plan:
        """The proposed write: make it once confirmed, then report how it went."""
        if ask.result is None:
            if not ask.confirmed:  # still waiting for the yes (the customer said something else)
                text = f"{self._pick(_CONFIRM_LEAD)}{action.summary} {self._pick(_CONFIRM_TAIL)}"
                return self._say(text)
            return self._write(ask, action)
        if ask.result.startswith("Error:"):
            return self._close(f"I'm sorry, that did not go through ({ask.result[7:]}).")
        return self._close(action.done)

    def _write(self, ask: _Ask, action: _Action) -> _Plan:
        state = self._state
        arguments = action.arguments
        fault: Fault | None = None
        if not state.injected and self._fault is Fault.HALLUCINATED_ARGUMENT:
            key = next(k for k in ("payment_method_id", "order_id", "user_id") if k in arguments)
            arguments = {**arguments, key: _MADE_UP[key]}
            fault = Fault.HALLUCINATED_ARGUMENT
        elif not state.injected and self._fault is Fault.WRONG_RECORD:
            wrong = self._wrong_record(action)
            if wrong is not None:
                arguments, fault = wrong, Fault.WRONG_RECORD
        plan = self._call([(action.name, arguments)], fault)
        if fault is None:
            return plan
        register = plan.commit

        def injected() -> None:
            register()
            state.injected = True

        return _Plan(plan.message, fault, injected)

    # --- faults --------------------------------------------------------------------------------

    def _wrong_record(self, action: _Action) -> dict[str, Any] | None:
        """The write on a similar record of the customer that the tool would accept, if there is one.

        Another of the customer's orders first; else, in the same order, another item (a return),
        another payment method (swaps, returns, payment changes) or another known address.
        """
        return self._wrong_order(action) or self._wrong_detail(action)

    def _wrong_order(self, action: _Action) -> dict[str, Any] | None:
        state = self._state
        user = state.user
        assert user is not None
        arguments = action.arguments
        target = arguments.get("order_id")
        if target is None:
            return None  # the profile address: a customer has only one profile
        others = [
            other
            for o in dict.fromkeys(user.orders)
            if o != target and (other := state.order(o)) is not None and other.user_id == user.user_id
        ]
        methods = user.payment_methods
        for other in others:
            oid = other.order_id
            history = other.payment_history
            if action.name == "cancel_pending_order":
                if other.status == "pending" and all(p.payment_method_id in methods for p in history):
                    return {**arguments, "order_id": oid}
            elif action.name == "modify_pending_order_address":
                if "pending" in other.status:
                    return {**arguments, "order_id": oid}
            elif action.name == "modify_pending_order_payment":
                new = methods.get(arguments["payment_method_id"])
                if (
                    "pending" in other.status
                    and len(history) == 1
                    and history[0].transaction_type == "payment"
                    and history[0].payment_method_id != arguments["payment_method_id"]
                    and history[0].payment_method_id in methods
                    and not (isinstance(new, GiftCard) and new.balance < history[0].amount)
                ):
                    return {**arguments, "order_id": oid}
            elif action.name == "return_delivered_order_items":
                if other.status == "delivered" and history and other.items:
                    method = arguments["payment_method_id"]
                    if not isinstance(methods.get(method), GiftCard):
                        method = history[0].payment_method_id
                    if method in methods:
                        return {"order_id": oid, "item_ids": [other.items[0].item_id], "payment_method_id": method}
            else:
                wrong = self._wrong_swap(action, other)
                if wrong is not None:
                    return wrong
        return None

    def _wrong_detail(self, action: _Action) -> dict[str, Any] | None:
        state = self._state
        user = state.user
        assert user is not None
        arguments = action.arguments
        order = state.order(arguments.get("order_id", ""))
        if action.name == "return_delivered_order_items" and order is not None:
            chosen = arguments["item_ids"]
            spare = [line.item_id for line in order.items if line.item_id not in chosen]
            if spare:
                return {**arguments, "item_ids": [spare[0], *chosen[1:]]}
        if "payment_method_id" in arguments and order is not None and order.payment_history:
            current = order.payment_history[0].payment_method_id
            for method in user.payment_methods.values():
                if method.id == arguments["payment_method_id"]:
                    continue
                if isinstance(method, GiftCard) and method.balance < action.amount:
                    continue
                if action.name == "modify_pending_order_payment" and method.id == current:
                    continue
                if action.name == "return_delivered_order_items" and not (
                    isinstance(method, GiftCard) or method.id == current
                ):
                    continue
                return {**arguments, "payment_method_id": method.id}
        if "address1" in arguments:
            wanted = address_words(arguments)
            mine = [state.order(o) for o in dict.fromkeys(user.orders)]
            known = [user.address, *(o.address for o in mine if o is not None and o.user_id == user.user_id)]
            for address in known:
                fields = _address_fields(msgspec.structs.asdict(address))
                if address_words(fields) != wanted:
                    return {**arguments, **_address_args(fields)}
        return None

    def _wrong_swap(self, action: _Action, other: Order) -> dict[str, Any] | None:
        """The swap applied to a line of the same product in another order with the right status."""
        state = self._state
        user = state.user
        assert user is not None
        exchange = action.name == "exchange_delivered_order_items"
        if other.status != ("delivered" if exchange else "pending"):
            return None
        arguments = action.arguments
        for new_id in arguments["new_item_ids"]:
            product = next((p for p in state.products.values() if new_id in p.variants), None)
            if product is None:
                continue
            new = product.variants[new_id]
            for line in other.items:
                if line.product_id == product.product_id and line.item_id != new_id:
                    difference = new.price - line.price
                    method = user.payment_methods.get(arguments["payment_method_id"])
                    if isinstance(method, GiftCard) and method.balance < (
                        round(difference, 2) if exchange else difference
                    ):
                        continue
                    return {
                        "order_id": other.order_id,
                        "item_ids": [line.item_id],
                        "new_item_ids": [new_id],
                        "payment_method_id": arguments["payment_method_id"],
                    }
        return None

    def _extra_write(self) -> _Plan | None:
        """EXTRA_WRITE: before reporting the first outcome, also save an address to the profile."""
        state = self._state
        user = state.user
        if self._fault is not Fault.EXTRA_WRITE or state.injected or user is None or state.user_id is None:
            return None
        current = _address_fields(msgspec.structs.asdict(user.address))
        fields = current
        for order_id in dict.fromkeys(user.orders):
            order = state.order(order_id)
            if order is not None:
                candidate = _address_fields(msgspec.structs.asdict(order.address))
                if candidate != current:
                    fields = candidate
                    break
        plan = self._call([("modify_user_address", {"user_id": user.user_id, **_address_args(fields)})])
        register = plan.commit

        def injected() -> None:
            register()
            state.injected = True

        return _Plan(plan.message, Fault.EXTRA_WRITE, injected)


def _same_turn(planned: Message, actual: Message) -> bool:
    """Whether ``actual`` is ``planned`` up to tool call ids and the spelling of their JSON arguments."""
    if planned.content != actual.content or len(planned.tool_calls) != len(actual.tool_calls):
        return False
    for mine, theirs in zip(planned.tool_calls, actual.tool_calls, strict=True):
        if mine.function.name != theirs.function.name:
            return False
        try:
            if msgspec.json.decode(mine.function.arguments) != msgspec.json.decode(theirs.function.arguments):
                return False
        except msgspec.DecodeError:
            return False
    return True


# --- parsing a request ---------------------------------------------------------------------------


def _parse(text: str) -> _Ask | None:
    """The request in a customer's message, or None when it holds none."""
    spans: list[tuple[int, int]] = []
    order: tuple[str, Any] | None = None
    found_id = _ORDER_IDS.search(text) if "#W" in text else None
    if found_id:
        order = ("id", found_id.group())
        spans.append(found_id.span())
    elif " order " in text:
        order = _order_clause(text, spans)
    order_span = spans[0] if order is not None and order[0] == "items" else (-1, -1)
    lines: list[tuple[str, dict[str, str]]] = []
    line_spans: list[tuple[int, int]] = []
    if "the " in text:
        for item in _ITEM.finditer(text):
            if order_span[0] <= item.start() < order_span[1]:
                continue
            lines.append((item.group(1), _parse_options(item.group(2))))
            line_spans.append(item.span())
    lowered = " " + _mask(text, sorted([*spans, *line_spans])).lower()
    intent = _intent(lowered, order is not None)
    if intent is None:
        return None
    variants: list[_Variant | None] = []
    if intent in _SWAPS:
        for i, (_, end) in enumerate(line_spans):
            stop = line_spans[i + 1][0] if i + 1 < len(line_spans) else len(text)
            variants.append(_variant_spec(text[end:stop]))
    address: _Address | None = None
    if intent in ("order_address", "user_address"):
        address = _address(_mask(text, sorted([*spans, *line_spans])))
    return _Ask(
        intent=intent,
        order=order,
        lines=lines,
        variants=variants,
        payment=_payment(lowered) if intent in _PAYING else None,
        address=address,
        reason=_reason(lowered) if intent == "cancel" else None,
    )


def _order_intro(text: str) -> tuple[int, int] | None:
    """Where "the order with " (or "my order containing ", ...) starts and ends in ``text``."""
    at = text.find("order ")
    while at != -1:
        lead = next((w for w in _ORDER_LEADS if text.startswith(w, at - len(w))), None)
        if lead is not None:
            after = at + len("order ")
            link = next((w for w in _ORDER_LINKS if text.startswith(w, after)), None)
            if link is not None:
                return at - len(lead), after + len(link)
        at = text.find("order ", at + 1)
    return None


def _order_clause(text: str, spans: list[tuple[int, int]]) -> tuple[str, Any] | None:
    """The order described by its items ("the order with the A (x: 1) and the B"), if any."""
    intro = _order_intro(text)
    if intro is None:
        return None
    items: list[tuple[str, dict[str, str]]] = []
    position = intro[1]
    while True:
        start = position
        if items:
            sep = _ITEM_SEP.match(text, position)
            if sep is None:
                break
            start = sep.end()
        item = _ITEM.match(text, start)
        if item is None:
            break
        items.append((item.group(1), _parse_options(item.group(2))))
        position = item.end()
    if not items:
        return None
    spans.append((intro[0], position))
    return ("items", items)


def _mask(text: str, spans: list[tuple[int, int]]) -> str:
    if not spans:
        return text
    out: list[str] = []
    last = 0
    for start, end in spans:
        if start >= last:
            out.append(text[last:start])
            last = end
    out.append(text[last:])
    return " ".join(out)


def _intent(lowered: str, has_order: bool) -> str | None:
    # Plain loops over `in` tests: a regex alternation of these words scans about ten times slower.
    for words in _HYPOTHETICAL:
        if words in lowered:
            if "cancel" in lowered:
                return "cancel_refund"
            if "return" in lowered:
                return "return_refund"
    for name, keys in _INTENTS:
        for words in keys:
            if words in lowered and not (name == "user_address" and has_order):
                return name
    return None


def _variant_spec(segment: str) -> _Variant | None:
    """The new variant a swap asks for, from the words after the item it replaces."""
    same = segment.find("the same ")
    full = _FULL_VARIANT.search(segment)
    if same != -1 and (full is None or same < full.start()):
        start = segment.find(" with ", same)
        if start == -1:
            return None
        start += len(" with ")
        ends = [e for e in (segment.find(";", start), segment.find(". ", start), segment.find("?", start)) if e != -1]
        region = segment[start : min(ends) if ends else len(segment)].removesuffix(".")
        changed: dict[str, str] = {}
        for part in _PART_SPLIT.split(region):
            match = _PART_SET.fullmatch(part)
            if match:
                changed[match.group(1)] = match.group(2)
                continue
            match = _PART_INCLUDED.fullmatch(part)
            if match:
                changed[match.group(1)] = "yes"
        return ("same", "", changed) if changed else None
    if full:
        return ("full", full.group(1), _parse_options(full.group(2)))
    return None


def _payment(lowered: str) -> _Payment | None:
    found = _METHOD_IDS.search(lowered) if "card_" in lowered or "paypal_" in lowered else None
    if found:
        return ("id", found.group())
    if "originally paid" in lowered or "original payment method" in lowered:
        return ("original", "")
    brand = next((code for word, code in _BRAND_WORDS.items() if word in lowered), "")
    four = _LAST_FOUR.search(lowered) if "ending in" in lowered else None
    if four:
        return ("last_four", f"{brand}/{four.group(1)}")
    if brand:
        return ("brand", brand)
    for words, source in (("gift card", "gift_card"), ("paypal", "paypal"), ("credit card", "credit_card")):
        if words in lowered:
            return ("source", source)
    return None


def _reason(lowered: str) -> str | None:
    lowered = lowered.lower()
    if "mistake" in lowered or "accident" in lowered:
        return "ordered by mistake"
    if "no longer need" in lowered or "don't need" in lowered or "do not need" in lowered:
        return "no longer needed"
    return None


def _address(text: str) -> _Address | None:
    full = _FULL_ADDRESS.search(text)
    if full:
        a1, a2, city, state, zip_code, country = full.groups()
        return (
            "full",
            {"address1": a1, "address2": a2 or "", "city": city, "state": state, "zip": zip_code, "country": country},
        )
    city = _CITY_ADDRESS.search(text)
    if city:
        return ("city", city.group(1))
    if "my default address" in text.lower():
        return ("default", None)
    return None


# --- matching records ----------------------------------------------------------------------------


def _fits(options: dict[str, str], wanted: dict[str, str]) -> bool:
    return all(options.get(k) == v for k, v in wanted.items())


def _holds(order: Order, wanted: list[tuple[str, dict[str, str]]]) -> bool:
    """Whether distinct lines of ``order`` match every described item (one line each)."""
    used = [False] * len(order.items)

    def place(i: int) -> bool:
        if i == len(wanted):
            return True
        name, options = wanted[i]
        for j, line in enumerate(order.items):
            if not used[j] and line.name == name and _fits(line.options, options):
                used[j] = True
                if place(i + 1):
                    return True
                used[j] = False
        return False

    return place(0)


def _line(order: Order, name: str, options: dict[str, str]) -> tuple[int, Any] | None:
    hits = [(i, line) for i, line in enumerate(order.items) if line.name == name and _fits(line.options, options)]
    return hits[0] if len(hits) == 1 else None


def _variant(product: Product, line: Any, spec: _Variant) -> Any:
    kind, name, options = spec
    if kind == "same":
        base = product.variants.get(line.item_id)
        expected = {**(base.options if base is not None else line.options), **options}
        hits = [v for v in product.variants.values() if v.options == expected]
    else:
        if name != product.name:
            return None
        hits = [v for v in product.variants.values() if _fits(v.options, options)]
    return hits[0] if len(hits) == 1 else None


def _method_fits(method: PaymentMethod, kind: str, value: str) -> bool:
    if kind == "source":
        source = (
            "credit_card"
            if isinstance(method, CreditCard)
            else "gift_card"
            if isinstance(method, GiftCard)
            else "paypal"
        )
        return source == value
    if not isinstance(method, CreditCard):
        return False
    if kind == "brand":
        return method.brand.lower() == value
    brand, _, four = value.partition("/")
    return method.last_four == four and (not brand or method.brand.lower() == brand)


def _address_fields(raw: dict[str, Any]) -> dict[str, str]:
    return {k: str(raw.get(k, "")) for k in ("address1", "address2", "city", "state", "zip", "country")}


def _address_args(fields: dict[str, str]) -> dict[str, str]:
    """Address fields in the address tools' argument order."""
    return {k: fields[k] for k in ("address1", "address2", "city", "state", "country", "zip")}


def _status_rule(order: Order, what: str) -> str:
    oid, status = order.order_id, order.status
    if status == "pending (item modified)":
        return f"the items of order {oid} were already modified, so it can no longer be changed or cancelled."
    if what == "cancel":
        return f"order {oid} is {status}, and only pending orders can be cancelled."
    if what == "modify":
        return f"order {oid} is {status}, and only pending orders can be modified."
    return f"order {oid} is {status}, and only delivered orders can be returned or exchanged, once."
