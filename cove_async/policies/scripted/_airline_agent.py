"""The scripted airline agent: solves a caller's requests from the conversation alone.

It reads only the messages: the user's words, its own earlier messages and the tool results.
It asks for the user id, reads the profile and the reservations (in the profile's order, until
one fits the caller's description), searches flights and checks statuses to turn descriptions
into records, applies the airline policy (tau2-reference.md 2.6; the clock is tau2's
2024-05-15 15:00 EST), states every change with its price and waits for an explicit yes before
writing, refuses what the policy forbids with the reason, and answers questions with the exact
values. One tool call per turn, never text alongside a call.

The agent is a fold over the conversation: :meth:`AirlineAgent.reply` reads the messages it has
not seen yet, then decides. Its own earlier messages are replayed through the same decision
function, so a fresh object fed a whole conversation ends in the same state, and gives the same
reply, as one fed it turn by turn. Randomness comes from :class:`Dice`, derived from the seed and
the length of the conversation only.

What it understands of the caller is the phrasing of the task descriptions (see
:mod:`cove_async.tasks._airline_fuzzy`): "my trip to Denver on May 8", "the 9 am flight from
Boston to Miami on May 20", "my Visa card ending in 1234", "the flight from ATL to DEN", ...
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from cove_async.chat import FunctionCall, Message, ToolCall
from cove_async.policies.scripted._core import AgentReply, Fault
from cove_async.policies.scripted._dice import Dice
from cove_async.verify import ASSENT

if TYPE_CHECKING:
    pass

__all__ = ("AirlineAgent",)

# --- randomness ---------------------------------------------------------------------------------

_T = TypeVar("_T")
# --- the policy's facts -------------------------------------------------------------------------

_TODAY = "2024-05-15"
_DAY_BEFORE = "2024-05-14T15:00:00"  # booked after this: within the last 24 hours
_FREE_BAGS = {
    "regular": {"basic_economy": 0, "economy": 1, "business": 2},
    "silver": {"basic_economy": 1, "economy": 2, "business": 3},
    "gold": {"basic_economy": 2, "economy": 3, "business": 4},
}
_BAG_FEE = 50
_INSURANCE = 30
_COVERED = ("health", "weather")
_CABIN_WORDS = {"basic_economy": "basic economy", "economy": "economy", "business": "business"}
_BRANDS = {"visa": "Visa", "mastercard": "Mastercard", "amex": "American Express", "discover": "Discover"}
# The ids send_certificate hands out; it fails once a profile holds all three. The extra-write fault
# checks this, because a failed write changes nothing and so would not be a fault at all.
_CERTIFICATE_IDS = ("certificate_3221322", "certificate_3221323", "certificate_3221324")
# The cities the airline serves and their IATA codes: what any agent of it knows by heart. A city
# not in this table is looked up with list_all_airports.
_AIRPORT_CODES = {
    "San Francisco": "SFO",
    "New York": "JFK",
    "Los Angeles": "LAX",
    "Chicago": "ORD",
    "Dallas": "DFW",
    "Denver": "DEN",
    "Seattle": "SEA",
    "Atlanta": "ATL",
    "Miami": "MIA",
    "Boston": "BOS",
    "Phoenix": "PHX",
    "Houston": "IAH",
    "Las Vegas": "LAS",
    "Orlando": "MCO",
    "Newark": "EWR",
    "Charlotte": "CLT",
    "Minneapolis": "MSP",
    "Detroit": "DTW",
    "Philadelphia": "PHL",
    "LaGuardia": "LGA",
}
_WRITES = frozenset(
    {
        "book_reservation",
        "cancel_reservation",
        "update_reservation_baggages",
        "update_reservation_flights",
        "update_reservation_passengers",
        "send_certificate",
    }
)

# --- what tool results look like (only the fields the agent uses) -------------------------------


class _Seg(msgspec.Struct):
    flight_number: str
    origin: str
    destination: str
    date: str
    price: int


class _Pax(msgspec.Struct):
    first_name: str
    last_name: str
    dob: str


class _Paid(msgspec.Struct):
    payment_id: str
    amount: int


class _Res(msgspec.Struct):
    reservation_id: str
    user_id: str
    origin: str
    destination: str
    flight_type: str
    cabin: str
    flights: list[_Seg]
    passengers: list[_Pax]
    payment_history: list[_Paid]
    created_at: str
    total_baggages: int
    nonfree_baggages: int
    insurance: str
    status: str | None = None


class _Method(msgspec.Struct):
    source: str
    id: str
    brand: str = ""
    last_four: str = ""
    amount: float = 0.0


class _Name(msgspec.Struct):
    first_name: str
    last_name: str


class _Profile(msgspec.Struct):
    user_id: str
    name: _Name
    dob: str
    payment_methods: dict[str, _Method]
    saved_passengers: list[_Pax]
    membership: str
    reservations: list[str]


class _Offer(msgspec.Struct):
    flight_number: str
    origin: str
    destination: str
    scheduled_departure_time_est: str
    available_seats: dict[str, int]
    prices: dict[str, int]


class _Airport(msgspec.Struct):
    iata: str
    city: str


_RES = msgspec.json.Decoder(_Res)
_PROFILE = msgspec.json.Decoder(_Profile)
_OFFERS = msgspec.json.Decoder(list[_Offer])
_AIRPORTS = msgspec.json.Decoder(list[_Airport])
_ARGS = msgspec.json.Decoder(dict[str, Any])
_encode = msgspec.json.encode

# --- reading the caller -------------------------------------------------------------------------

_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_MONTH_NUMBER = {m: i for i, m in enumerate(_MONTHS, 1)}
_MONTH = "(?:" + "|".join(_MONTHS) + ")"
_DATE = rf"({_MONTH}) (\d{{1,2}})"
_PLACE = r"[A-Z][A-Za-z]*(?: [A-Z][A-Za-z]*)*"
_NAME = r"[A-Z][A-Za-z'-]*(?: [A-Z][A-Za-z'-]*)?"
_DOB = r"\d{4}-\d{2}-\d{2}"

# (name, a literal every match contains, pattern): the literal is tested first, a regex search is dearer.
_RESERVATION_PATTERNS: tuple[tuple[str, str, re.Pattern[str]], ...] = (
    ("id", "reservation ", re.compile(r"\breservation ([A-Z0-9]{6})\b")),
    ("odd", " departing ", re.compile(rf"\bmy (?:round )?trip from ({_PLACE}) to ({_PLACE}) departing {_DATE}")),
    ("dd", "trip to ", re.compile(rf"\bmy (?:round )?trip to ({_PLACE}) on {_DATE}")),
    ("od", " trip", re.compile(rf"\bmy ({_PLACE}) to ({_PLACE}) (?:round )?trip\b")),
    ("d", "trip to ", re.compile(rf"\bmy (?:round )?trip to ({_PLACE})")),
    ("o", "trip out of ", re.compile(rf"\bmy (?:round )?trip out of ({_PLACE})")),
    ("date", "starts on ", re.compile(rf"\bthe (?:round )?trip that starts on {_DATE}")),
    ("pax", "booking I made for ", re.compile(rf"\bthe booking I made for ({_NAME})")),
)
_THAT = re.compile(r"\bthat (?:reservation|trip|booking)\b")
_SEG_NUMBER = re.compile(rf"\bflight (HAT\d+) on {_DATE}")
_SEG_ROUTE = re.compile(rf"\bthe flight from ({_PLACE}) to ({_PLACE})(?: on {_DATE})?")
_OFFER = re.compile(
    r"\b(?:flight (?P<num>HAT\d+)|the (?P<hm>\d{2}:\d{2}) flight|the (?P<h>\d{1,2}) (?P<ap>am|pm) flight"
    r"|the (?P<pod>morning|afternoon|evening|overnight) nonstop|the (?P<cheap>cheapest) nonstop)"
    rf" from (?P<o>{_PLACE}) to (?P<d>{_PLACE}) on (?P<mon>{_MONTH}) (?P<day>\d{{1,2}})"
    r"(?: in (?P<cab>basic economy|economy|business))?"
)
_PAYMENT = re.compile(
    r"\bpayment method (?P<pid>\w+)"
    rf"|\bmy (?P<b1>{_PLACE}) card ending in (?P<l1>\d{{4}})"
    r"|\bthe card ending in (?P<l2>\d{4})"
    rf"|\bmy (?P<b2>{_PLACE}) credit card"
    r"|\bmy gift card with \$(?P<g>\d+(?:\.\d\d)?) on it"
    r"|\bmy \$(?P<c>\d+(?:\.\d\d)?) travel certificate"
    r"|\bmy (?P<src>credit card|gift card|travel certificate)"
)
_UID = re.compile(r"\b(?!credit_card_|gift_card_|certificate_)[a-z]+_[a-z]+_\d+\b")
_REPLACE = re.compile(rf"\breplace (?P<name>{_NAME})(?: \(born (?P<dob>{_DOB})\))? with")
_TAKE_OFF = re.compile(rf"\btake (?P<name>{_NAME})(?: \(born (?P<dob>{_DOB})\))? off\b")
_NEW_TRAVELLER = re.compile(
    rf"(?<![\w'])(?!It's |It is |That )(?P<name>{_NAME})(?: \(born (?P<dob>{_DOB})\))?, (?:whose details are saved|born (?P<dob2>{_DOB}))"
)
_PASSENGER_LIST = re.compile(r"passengers (?:are|will be): ([^.]*)")
_SAVED_ITEM = re.compile(rf"^(?P<name>{_NAME})(?: \(born (?P<dob>{_DOB})\))? \(saved in my profile\)$")
_NEW_ITEM = re.compile(rf"^(?P<name>{_NAME}), born (?P<dob>{_DOB})$")
_ONLY_ME = re.compile(r"\b(?:the only passenger|just me|only me|by myself)\b")
_NUMBER_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
_BAGS = re.compile(r"\b(no|zero|one|two|three|four|five|six|seven|eight|nine|ten|\d+) (?:more )?(?:checked )?bags?\b")
_NO_INSURANCE = re.compile(r"\b(?:no|not want|don't want|without|skip)(?: any)?(?: the)? (?:travel )?insurance\b")
_CABIN = re.compile(r"\b(basic economy|economy|business)\b")
_TO_CABIN = re.compile(r"\bto (basic economy|economy|business)\b")
_ROUTE = re.compile(rf"\bfrom ({_PLACE}) to ({_PLACE})")
_ROUTE_DATE = re.compile(rf"\bfrom ({_PLACE}) to ({_PLACE}) on {_DATE}")
_BOOK = re.compile(r"\bbook (?:a|an|me)\b")
_LEAVE_ON = re.compile(rf"\bleaves? on {_DATE}")
_CERTIFICATE_SENT = re.compile(r"^Certificate (\S+) added to user \S+ with amount ([\d.]+)\.$")


def _day(month: str, day: str) -> str:
    return f"2024-{_MONTH_NUMBER[month]:02d}-{int(day):02d}"


def _count(word: str) -> int:
    if word.isdigit():
        return int(word)
    return 0 if word in ("no", "zero") else _NUMBER_WORDS.index(word)


def _part_of_day(departure: str) -> str:
    hour = int(departure[:2])
    if hour < 5:
        return "overnight"
    if hour < 12:
        return "morning"
    return "afternoon" if hour < 17 else "evening"


def _spelled(n: int) -> str:
    words = ("zero", *_NUMBER_WORDS[1:])
    return words[n] if n < len(words) else str(n)


def _money(amount: float) -> str:
    return f"${amount:.0f}" if float(amount).is_integer() else f"${amount:.2f}"


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _full(p: _Pax) -> str:
    return f"{p.first_name} {p.last_name}"


# --- a request in progress ----------------------------------------------------------------------


@dataclass(slots=True)
class _Req:
    """One thing the caller asked for, with what they said about it so far."""

    kind: str
    res: tuple[str, tuple[str, ...]] | None = None
    """How the caller named the reservation: a pattern name and its captured words."""
    that: bool = False
    seg: tuple[str, ...] | None = None
    offers: list[dict[str, str | None]] = field(default_factory=list)
    pays: list[dict[str, str | None]] = field(default_factory=list)
    reason: str | None = None
    cabin: str | None = None
    count: int | None = None
    insurance: str | None = None
    people: list[tuple[str, str, str | None]] | None = None
    """Booking passengers: ("me", "", None), ("saved", name, dob) or ("new", name, dob)."""
    person: tuple[str, str | None] | None = None
    """The passenger a change is about: name and, if given, date of birth."""
    newcomer: tuple[str, str, str | None] | None = None
    facts: list[str] = field(default_factory=list)
    trip: str | None = None
    route: tuple[str, str] | None = None
    date: str | None = None
    rid: str | None = None
    asked: int = 0
    key: tuple[str | None, str | None, str | None, str | None] | None = None
    """The reservation description as (origin, destination, first date, passenger), once resolved."""
    scan: int = 0
    """How many of the profile's reservations are known not to fit."""
    checked: object = None
    """The flight descriptions whose places were last checked against the known airports."""
    write_id: str | None = None
    outcome: tuple[bool, str, str] | None = None
    """The write's result: success, tool name, content."""


def _reason(low: str) -> str | None:
    if "airline cancelled" in low or "cancelled by the airline" in low:
        return "airline_cancelled"
    if "plans" in low:
        return "change_of_plans"
    if "health" in low or "sick" in low:
        return "health"
    if "storm" in low or "weather" in low:
        return "weather"
    if "delay" in low:
        return "delay"
    return None


def _classify(text: str) -> _Req | None:
    """The request a caller's message makes, or None when it makes none."""
    low = text.lower()
    if "compensation" in low or "compensate" in low:
        req = _Req("comp_delayed" if "delay" in low else "comp_cancelled")
    elif "status of" in low:
        req = _Req("status")
    elif "lowest" in low and "fare" in low:
        req = _Req("cheapest")
        m = _ROUTE_DATE.search(text)
        if m:
            req.route, req.date = (m.group(1), m.group(2)), _day(m.group(3), m.group(4))
    elif "how many passengers" in low or "which cabin" in low or "how much" in low or "for free" in low:
        req = _Req("inform")
        req.facts = [
            name
            for name, key in (
                ("passengers", "how many passengers"),
                ("cabin", "which cabin"),
                ("total_paid", "how much"),
                ("free_bags", "for free"),
            )
            if key in low
        ]
    elif "one more traveller" in low or "one more passenger" in low or (" off" in low and _TAKE_OFF.search(text)):
        req = _Req("passenger_count")
    elif "replace" in low:
        req = _Req("passengers")
        m = _REPLACE.search(text)
        if m:
            req.person = (m.group("name"), m.group("dob"))
    elif "bag" in low and ("reduce" in low or "remove" in low or "fewer" in low):
        req = _Req("remove_bags")
    elif "bag" in low and "add" in low:
        req = _Req("add_bags")
        m = _BAGS.search(low)
        if m:
            req.count = _count(m.group(1))
    elif "insurance" in low:
        req = _Req("insurance")
    elif "cancel" in low:
        req = _Req("cancel")
        req.reason = _reason(low)
    elif "leave" in low and _LEAVE_ON.search(text):
        req = _Req("date_change")
    elif ("cabin" in low or "every flight" in low or "upgrade" in low) and _TO_CABIN.search(low):
        req = _Req("cabin")
        m = _TO_CABIN.search(low)
        assert m is not None
        req.cabin = m.group(1).replace(" ", "_")
    elif "book " in low and _BOOK.search(low):
        req = _Req("book")
        req.trip = "round_trip" if ("round trip" in low or "round-trip" in low) else "one_way"
        m = _ROUTE.search(text)
        if m:
            req.route = (m.group(1), m.group(2))
    elif "change" in low and "flight" in low:
        req = _Req("change_flights")
    else:
        return None
    _absorb(req, text)
    return req


def _absorb(req: _Req, text: str) -> None:
    """Add what a caller's message tells about ``req`` (details answered after a question)."""
    low = text.lower()
    kind = req.kind
    if req.res is None and not req.that and kind not in ("book", "cheapest"):
        for name, cue, pattern in _RESERVATION_PATTERNS:
            m = pattern.search(text) if cue in text else None
            if m:
                req.res = (name, m.groups())
                req.checked = None
                break
        else:
            req.that = "that " in low and _THAT.search(low) is not None
    if req.seg is None and kind in ("comp_cancelled", "comp_delayed", "status"):
        m = _SEG_NUMBER.search(text) if "flight HAT" in text else None
        if m:
            req.seg = ("number", m.group(1), _day(m.group(2), m.group(3)))
        else:
            m = _SEG_ROUTE.search(text)
            if m:
                day = _day(m.group(3), m.group(4)) if m.group(3) else ""
                req.seg = ("route", m.group(1), m.group(2), day)
    if kind == "cancel" and req.reason is None:
        req.reason = _reason(low)
    # Cheap literal tests first: a regex scan of every message costs more than the rest of a turn.
    if kind in ("book", "change_flights") and not req.offers and ("flight" in text or "nonstop" in text):
        req.offers = [m.groupdict() for m in _OFFER.finditer(text)]
    paying = "my " in text or "card" in text or "payment method" in text
    if kind in ("book", "change_flights", "cabin", "add_bags") and not req.pays and paying:
        req.pays = [m.groupdict() for m in _PAYMENT.finditer(text)]
    if kind == "passengers" and req.newcomer is None and ", " in text:
        m = _NEW_TRAVELLER.search(text)
        if m:
            dob = m.group("dob2")
            req.newcomer = ("new", m.group("name"), dob) if dob else ("saved", m.group("name"), m.group("dob"))
    if kind != "book":
        return
    if req.cabin is None:
        for offer in req.offers:
            if offer["cab"]:
                req.cabin = str(offer["cab"]).replace(" ", "_")
        sentences = [s for s in low.split(".") if "fly" in s or "cabin" in s or "class" in s]
        for sentence in sentences:
            m = _CABIN.search(sentence)
            if m:
                req.cabin = m.group(1).replace(" ", "_")
    if req.people is None:
        if ("only" in low or " me" in low or "myself" in low) and _ONLY_ME.search(low):
            req.people = [("me", "", None)]
        else:
            m = _PASSENGER_LIST.search(text) if "passengers" in text else None
            if m:
                req.people = _people(m.group(1))
    if req.count is None and "bag" in low:
        m = _BAGS.search(low)
        if m:
            req.count = _count(m.group(1))
    if req.insurance is None and "insurance" in low:
        req.insurance = "no" if _NO_INSURANCE.search(low) else "yes"


def _people(listing: str) -> list[tuple[str, str, str | None]]:
    out: list[tuple[str, str, str | None]] = []
    for item in listing.split("; "):
        item = item.strip()
        if item in ("me", "myself", "I"):
            out.append(("me", "", None))
            continue
        m = _SAVED_ITEM.match(item)
        if m:
            out.append(("saved", m.group("name"), m.group("dob")))
            continue
        m = _NEW_ITEM.match(item)
        if m:
            out.append(("new", m.group("name"), m.group("dob")))
    return out


# --- actions --------------------------------------------------------------------------------------


class _Call(msgspec.Struct, frozen=True):
    """A read the agent needs before it can go on."""

    name: str
    arguments: dict[str, Any]


class _Ask(msgspec.Struct, frozen=True):
    """A question for the caller about the current request."""

    text: str


class _Confirm(msgspec.Struct, frozen=True):
    """A write, stated with its details, awaiting the caller's yes."""

    text: str
    name: str
    arguments: dict[str, Any]


class _Final(msgspec.Struct, frozen=True):
    """The end of the current request: done, refused or impossible (``inform``: an answer)."""

    text: str
    inform: bool = False
    refusal: bool = False
    facts: tuple[tuple[str, ...], ...] = ()
    """For an answer: the values it states, each with its other spellings."""


_Act = _Call | _Ask | _Confirm | _Final

_ELSE = (
    " Is there anything else I can help you with?",
    " Is there anything else I can do for you?",
    " Can I help you with anything else?",
)
_CONFIRM_ENDINGS = (
    " Do you want me to proceed? (yes/no)",
    " Shall I go ahead? (yes/no)",
    " Please confirm that you want this. (yes/no)",
)
_ASK_ID = (
    "I can help with that. First, could you tell me your user id?",
    "Happy to help. To find your profile, may I have your user id?",
    "Sure. Could you give me your user id first?",
)
_STOP = "Thank you for contacting us. Goodbye! ###STOP###"


# --- the agent ------------------------------------------------------------------------------------


class AirlineAgent:
    """A deterministic airline agent that works from the conversation only.

    Args:
        seed: where its phrasing choices and made-up values come from (with the conversation's length).
        fault: a mistake to make once, at the first point where it changes the outcome
            (:class:`Fault`); the reply that makes it carries it in ``AgentReply.fault``. When no
            such point comes, it is never made.
    """

    def __init__(self, *, seed: int, fault: Fault | None = None) -> None:
        self._seed = seed
        self._fault = fault
        self._fault_done = False
        self._read = 0
        self._decided_at = -1
        self._last_reply: AgentReply | None = None
        self._uid: str | None = None
        self._profile: _Profile | None = None
        self._stale = False
        self._airports: dict[str, str] | None = None
        self._res: dict[str, _Res] = {}
        self._orig: dict[str, _Res] = {}
        self._missing: set[str] = set()
        self._searches: dict[tuple[str, str, str], list[_Offer]] = {}
        self._offer_at: dict[tuple[str, str], _Offer] = {}
        self._status: dict[tuple[str, str], str] = {}
        self._created: set[str] = set()
        self._changed: set[str] = set()
        self._req: _Req | None = None
        self._last_rid: str | None = None
        self._refusal: str | None = None
        self._unclear = False
        self._asked = "help"
        self._pending: _Confirm | None = None
        self._answer: bool | None = None
        self._last_user = ""
        self._calls: dict[str, tuple[str, str]] = {}
        self._extra_id: str | None = None
        self._dice: Dice | None = None
        self._length = 0
        self._said: list[str] = []

    # -- the fold ------------------------------------------------------------------------------

    def reply(self, messages: Sequence[Message]) -> AgentReply:
        """The next assistant message for a conversation that ends with a user or tool message.

        ``messages`` is the whole conversation so far (greeting first, no system message). Only
        the messages not seen yet are read.
        """
        n = len(messages)
        if n == self._decided_at and self._last_reply is not None:
            return self._last_reply
        for i in range(self._read, n):
            self._observe(i, messages[i])
        self._read = n
        message, fault = self._decide(n)
        self._decided_at = n
        self._last_reply = AgentReply(message=message, fault=fault)
        return self._last_reply

    def _observe(self, index: int, message: Message) -> None:
        role = message.role
        if role == "tool":
            found = self._calls.get(message.tool_call_id or "")
            if found is not None:
                self._on_result(message.tool_call_id or "", found[0], found[1], message.content or "")
        elif role == "assistant":
            # Replay our own decision (its side effects are our state); the first assistant message is
            # the fixed greeting, which no decision made.
            if self._said and index != self._decided_at:
                self._decide(index)
            if message.content:
                self._said.append(message.content)
            for call in message.tool_calls:
                self._calls[call.id] = (call.function.name, call.function.arguments)
        elif role == "user":
            self._on_user(message.content or "")

    def _rng(self) -> Dice:
        if self._dice is None:
            self._dice = Dice(self._seed, self._length)
        return self._dice

    # -- what comes in ---------------------------------------------------------------------------

    def _on_user(self, text: str) -> None:
        self._last_user = text
        if self._uid is None and "_" in text:
            m = _UID.search(text)
            if m:
                self._uid = m.group(0)
        asked = self._asked
        if asked == "confirm":
            self._answer = ASSENT.search(text) is not None and not text.lower().startswith("no")
            return
        if asked == "id" and self._req is not None:
            return
        if asked == "details" and self._req is not None:
            _absorb(self._req, text)
            return
        req = _classify(text)
        if req is not None:
            self._req = req
            self._unclear = False
            self._refusal = None
        elif self._req is None:
            self._unclear = True

    def _on_result(self, call_id: str, name: str, arguments: str, content: str) -> None:
        failed = content.startswith("Error")
        if name == "get_reservation_details" and not failed:  # the most frequent result, first
            reservation = _RES.decode(content)
            rid = reservation.reservation_id
            self._res[rid] = reservation
            self._orig.setdefault(rid, reservation)
            return
        req = self._req
        if name in _WRITES:
            if call_id == self._extra_id:
                return
            if req is not None and call_id == req.write_id:
                req.outcome = (not failed, name, content)
            if failed:
                return
            self._stale = True
            if name == "send_certificate":
                return
            reservation = _RES.decode(content)
            rid = reservation.reservation_id
            self._res[rid] = reservation
            if name == "book_reservation":
                self._created.add(rid)
                self._orig[rid] = reservation
            else:
                self._changed.add(rid)
            return
        if failed:
            if name == "get_reservation_details":
                self._missing.add(str(_ARGS.decode(arguments).get("reservation_id")))
            elif name == "search_direct_flight":
                args = _ARGS.decode(arguments)
                self._searches[(args["origin"], args["destination"], args["date"])] = []
            elif name == "get_flight_status":
                args = _ARGS.decode(arguments)
                self._status[(args["flight_number"], args["date"])] = "unknown"
            return
        if name == "get_user_details":
            self._profile = _PROFILE.decode(content)
            self._stale = False
        elif name == "get_reservation_details":
            reservation = _RES.decode(content)
            rid = reservation.reservation_id
            self._res[rid] = reservation
            self._orig.setdefault(rid, reservation)
        elif name == "search_direct_flight":
            args = _ARGS.decode(arguments)
            offers = _OFFERS.decode(content)
            self._searches[(args["origin"], args["destination"], args["date"])] = offers
            for offer in offers:
                self._offer_at[(offer.flight_number, args["date"])] = offer
        elif name == "get_flight_status":
            args = _ARGS.decode(arguments)
            self._status[(args["flight_number"], args["date"])] = content
        elif name == "list_all_airports":
            table: dict[str, str] = {}
            for airport in _AIRPORTS.decode(content):
                table[airport.city] = table[airport.city.lower()] = airport.iata
            self._airports = table

    # -- what goes out ---------------------------------------------------------------------------

    def _decide(self, n: int) -> tuple[Message, Fault | None]:
        self._length = n
        self._dice = None
        if self._pending is not None and self._answer is not None:
            if self._answer:
                return self._write(n)
            self._pending = self._answer = None
            return self._end("Understood, I won't make that change.", None)
        if self._uid is None:
            if self._req is not None or self._asked == "id":
                return self._say(self._rng().choice(_ASK_ID), "id")
            return self._say("How can I help you today?", "help")
        if self._profile is None:
            return self._call("get_user_details", {"user_id": self._uid}, n)
        req = self._req
        if req is None:
            if self._refusal is not None:
                return self._say(
                    f"I understand, and I'm sorry, but my answer stays the same: {self._refusal}"
                    + self._rng().choice(_ELSE),
                    "help",
                )
            return self._say("I'm sorry, I didn't quite get that. What would you like me to do?", "help")
        if req.outcome is not None:
            return self._finish(req, n)
        act = self._handle(req)
        if isinstance(act, _Call):
            return self._call(act.name, act.arguments, n)
        if isinstance(act, _Ask):
            req.asked += 1
            return self._say(act.text, "details")
        if isinstance(act, _Confirm):
            return self._confirm(act, n)
        if act.inform and self._fault is Fault.EARLY_STOP and not self._fault_done and self._news(act.facts):
            self._fault_done = True
            return Message(role="assistant", content=_STOP), Fault.EARLY_STOP
        if act.refusal:
            self._refusal = act.text
        return self._end(act.text, n)

    def _news(self, facts: tuple[tuple[str, ...], ...]) -> bool:
        """Whether an answer states something not yet said (else leaving now changes nothing)."""
        said = "\n".join(self._said).lower().replace(",", "")
        return any(not any(spelling in said for spelling in fact) for fact in facts)

    def _say(self, text: str, asked: str) -> tuple[Message, Fault | None]:
        self._asked = asked
        return Message(role="assistant", content=text), None

    def _call(self, name: str, arguments: dict[str, Any], n: int) -> tuple[Message, Fault | None]:
        call = ToolCall(id=f"call_{n}", function=FunctionCall(name=name, arguments=_encode(arguments).decode()))
        return Message(role="assistant", tool_calls=(call,)), None

    def _end(self, text: str, n: int | None) -> tuple[Message, Fault | None]:
        """Close the current request, first making the extra write if that fault is due."""
        if n is not None and self._fault is Fault.EXTRA_WRITE and not self._fault_done and self._extra_possible():
            self._fault_done = True
            self._extra_id = f"call_{n}"
            message, _ = self._call("send_certificate", {"user_id": self._uid, "amount": 50}, n)
            return message, Fault.EXTRA_WRITE
        req = self._req
        if req is not None and req.rid is not None:
            self._last_rid = req.rid
        self._req = None
        self._unclear = False
        return self._say(text + self._rng().choice(_ELSE), "help")

    def _extra_possible(self) -> bool:
        profile = self._profile
        return profile is not None and not all(c in profile.payment_methods for c in _CERTIFICATE_IDS)

    def _confirm(self, act: _Confirm, n: int) -> tuple[Message, Fault | None]:
        if not self._fault_done:
            if self._fault is Fault.EARLY_STOP:
                self._fault_done = True
                return Message(role="assistant", content=_STOP), Fault.EARLY_STOP
            if self._fault is Fault.SKIPPED_CONFIRMATION and not ASSENT.search(self._last_user):
                self._fault_done = True
                self._pending = act
                message, _ = self._write(n)
                return message, Fault.SKIPPED_CONFIRMATION
        self._pending = act
        self._answer = None
        return self._say(act.text + self._rng().choice(_CONFIRM_ENDINGS), "confirm")

    def _write(self, n: int) -> tuple[Message, Fault | None]:
        act = self._pending
        assert act is not None and self._req is not None
        name, arguments = act.name, act.arguments
        fault: Fault | None = None
        if not self._fault_done and self._fault is Fault.WRONG_RECORD and "reservation_id" in arguments:
            other = self._wrong_record(name, arguments)
            if isinstance(other, _Call):
                return self._call(other.name, other.arguments, n)
            if other is not None:
                arguments = {**arguments, "reservation_id": other}
                fault = Fault.WRONG_RECORD
        elif not self._fault_done and self._fault is Fault.HALLUCINATED_ARGUMENT:
            arguments = self._hallucinate(name, arguments)
            fault = Fault.HALLUCINATED_ARGUMENT
        if fault is not None:
            self._fault_done = True
        self._pending = self._answer = None
        self._req.write_id = f"call_{n}"
        self._asked = ""
        message, _ = self._call(name, arguments, n)
        return message, fault

    def _finish(self, req: _Req, n: int) -> tuple[Message, Fault | None]:
        assert req.outcome is not None
        ok, name, content = req.outcome
        if not ok:
            return self._end(f"I'm sorry, the system could not complete that change ({content}).", n)
        if name == "cancel_reservation":
            reservation = _RES.decode(content)
            text = (
                f"Done: reservation {reservation.reservation_id} is cancelled. The refund goes back to the "
                "original payment methods within 5 to 7 business days."
            )
        elif name == "book_reservation":
            reservation = _RES.decode(content)
            text = f"Your booking is complete: the reservation number is {reservation.reservation_id}."
        elif name == "send_certificate":
            text = "Done: the travel certificate has been added to your profile."
        else:
            text = "Done: the reservation has been updated."
        return self._end(text, n)

    # -- faults ------------------------------------------------------------------------------------

    def _wrong_record(self, name: str, arguments: dict[str, Any]) -> str | _Call | None:
        """Another of the user's reservations the same call would succeed on, or a read to find one."""
        profile = self._profile
        assert profile is not None
        target = arguments["reservation_id"]
        unread: str | None = None
        for rid in profile.reservations:
            if rid == target or rid in self._created or rid in self._missing:
                continue
            reservation = self._res.get(rid)
            if reservation is None:
                unread = unread or rid
            elif self._fits(name, arguments, reservation):
                return rid
        if unread is not None:
            return _Call("get_reservation_details", {"reservation_id": unread})
        return None

    def _fits(self, name: str, arguments: dict[str, Any], r: _Res) -> bool:
        """Whether the call, made on ``r`` instead, would succeed and change it."""
        if name == "cancel_reservation":
            return r.status is None
        if name == "update_reservation_passengers":
            people = [{"first_name": p.first_name, "last_name": p.last_name, "dob": p.dob} for p in r.passengers]
            return len(people) == len(arguments["passengers"]) and people != arguments["passengers"]
        travellers = len(r.passengers)
        if name == "update_reservation_baggages":
            price = _BAG_FEE * max(0, arguments["nonfree_baggages"] - r.nonfree_baggages)
            if price == 0 and (r.total_baggages, r.nonfree_baggages) == (
                arguments["total_baggages"],
                arguments["nonfree_baggages"],
            ):
                return False
        else:
            itinerary = [{"flight_number": s.flight_number, "date": s.date} for s in r.flights]
            if arguments["cabin"] == r.cabin and arguments["flights"] == itinerary:
                return False
            cabin = arguments["cabin"]
            total = 0
            for leg in arguments["flights"]:
                number, day = leg["flight_number"], leg["date"]
                kept = next(
                    (s for s in r.flights if s.flight_number == number and s.date == day and cabin == r.cabin), None
                )
                if kept is not None:
                    total += kept.price
                    continue
                offer = self._offer_at.get((number, day))
                if offer is None or offer.available_seats.get(cabin, 0) < travellers:
                    return False
                total += offer.prices[cabin]
            price = (total - sum(s.price for s in r.flights)) * travellers
        return self._can_settle(arguments["payment_id"], price)

    def _can_settle(self, payment_id: str, price: int) -> bool:
        assert self._profile is not None
        method = self._profile.payment_methods.get(payment_id)
        if method is None or method.source == "certificate":
            return False
        return method.source == "credit_card" or method.amount >= price

    def _hallucinate(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """The call with one made-up identifier or value in it."""
        rng = self._rng()
        out = dict(arguments)
        if name == "cancel_reservation":
            letters = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
            out["reservation_id"] = "".join(rng.choice(letters) for _ in range(6))
        elif name in ("book_reservation", "update_reservation_flights"):
            flights = [dict(leg) for leg in arguments["flights"]]
            flights[0]["flight_number"] = f"HAT9{rng.randrange(100):02d}"
            out["flights"] = flights
        elif name == "update_reservation_baggages":
            out["payment_id"] = f"gift_card_{rng.randrange(10**6, 10**7)}"
        elif name == "update_reservation_passengers":
            current = self._res[arguments["reservation_id"]].passengers
            people = [dict(p) for p in arguments["passengers"]]
            changed = next(
                (i for i, p in enumerate(people) if i >= len(current) or p["first_name"] != current[i].first_name), 0
            )
            made_up = f"19{rng.randrange(40, 99)}-0{rng.randrange(1, 9)}-1{rng.randrange(0, 9)}"
            if made_up == people[changed]["dob"]:
                made_up = made_up.replace("-1", "-2", 1)
            people[changed]["dob"] = made_up
            out["passengers"] = people
        else:
            out["user_id"] = f"{arguments['user_id']}9"
        return out

    # -- requests ----------------------------------------------------------------------------------

    def _handle(self, req: _Req) -> _Act:
        if self._airports is None and req.checked is not req.offers:
            need = self._places_ready(req)
            if need is not None:
                return need
            req.checked = req.offers  # places only come with the request and its flights
        act: _Act = _HANDLERS[req.kind](self, req)
        return act

    def _places_ready(self, req: _Req) -> _Call | None:
        """A read of the airport list when the caller named a city the agent does not know."""
        places: list[str] = []
        if req.route is not None:
            places += req.route
        if req.res is not None and req.res[0] in ("odd", "dd", "od", "d", "o"):
            places += [w for w in req.res[1] if w and w not in _MONTH_NUMBER and not w.isdigit()]
        if req.seg is not None and req.seg[0] == "route":
            places += req.seg[1:3]
        for offer in req.offers:
            places += [str(offer["o"]), str(offer["d"])]
        if any(not (len(p) == 3 and p.isupper()) and p not in _AIRPORT_CODES for p in places):
            return _Call("list_all_airports", {})
        return None

    def _code(self, place: str) -> str:
        if len(place) == 3 and place.isupper():
            return place
        return _AIRPORT_CODES.get(place) or (self._airports or {}).get(place, place)

    def _fresh_profile(self) -> _Call | None:
        if self._stale:
            return _Call("get_user_details", {"user_id": self._uid})
        return None

    def _locate(self, req: _Req) -> str | _Act:
        """The reservation the request is about, or what to do to find it."""
        if req.rid is not None:
            return req.rid
        if req.res is None:
            if req.that and self._last_rid is not None:
                req.rid = self._last_rid
                return req.rid
            if req.asked < 2:
                return _Ask("Which reservation is this about? You can describe it by its route and date.")
            return _Final("I'm sorry, I couldn't tell which reservation you mean.")
        kind, words = req.res
        if kind == "id":
            rid = words[0]
            if rid in self._missing:
                return _Final(f"I'm sorry, I couldn't find reservation {rid}.")
            if rid not in self._res:
                return _Call("get_reservation_details", {"reservation_id": rid})
            req.rid = rid
            return rid
        assert self._profile is not None
        if req.key is None:
            req.key = self._facts_of(kind, words)
        origin, destination, first, person = req.key
        order = self._profile.reservations
        while req.scan < len(order):
            rid = order[req.scan]
            if rid not in self._created and rid not in self._missing:
                r = self._orig.get(rid)
                if r is None:
                    return _Call("get_reservation_details", {"reservation_id": rid})
                if (
                    (origin is None or r.origin == origin)
                    and (destination is None or r.destination == destination)
                    and (first is None or (bool(r.flights) and r.flights[0].date == first))
                    and (person is None or any(_full(p) == person for p in r.passengers))
                ):
                    req.rid = rid
                    return rid
            req.scan += 1
        return _Final("I'm sorry, I couldn't find a reservation in your profile matching that description.")

    def _facts_of(self, kind: str, words: tuple[str, ...]) -> tuple[str | None, str | None, str | None, str | None]:
        """A reservation description as (origin, destination, first date, passenger), None where unsaid."""
        if kind == "odd":
            return self._code(words[0]), self._code(words[1]), _day(words[2], words[3]), None
        if kind == "dd":
            return None, self._code(words[0]), _day(words[1], words[2]), None
        if kind == "od":
            return self._code(words[0]), self._code(words[1]), None, None
        if kind == "d":
            return None, self._code(words[0]), None, None
        if kind == "o":
            return self._code(words[0]), None, None, None
        if kind == "date":
            return None, None, _day(words[0], words[1]), None
        return None, None, None, words[0]

    def _segment(self, req: _Req, rid: str) -> _Seg | None:
        """The flight of the reservation the caller named (as booked when first read)."""
        seg = req.seg
        if seg is None:
            return None
        if seg[0] == "number":
            number, day = seg[1], seg[2]
            origin = destination = ""
        else:
            number, day = "", seg[3]
            origin, destination = self._code(seg[1]), self._code(seg[2])
        for s in (*self._orig[rid].flights, *self._res[rid].flights):
            if number:
                if s.flight_number == number and s.date == day:
                    return s
            elif s.origin == origin and s.destination == destination and (not day or s.date == day):
                return s
        return None

    def _statuses(self, r: _Res) -> _Call | dict[str, str]:
        """The status of every segment up to today (later ones are bookable), or the read it needs."""
        found: dict[str, str] = {}
        for s in r.flights:
            if s.date > _TODAY:
                continue
            status = self._status.get((s.flight_number, s.date))
            if status is None:
                return _Call("get_flight_status", {"flight_number": s.flight_number, "date": s.date})
            found[f"{s.flight_number} {s.date}"] = status
        return found

    def _search(self, origin: str, destination: str, day: str) -> _Call | list[_Offer]:
        key = (self._code(origin), self._code(destination), day)
        found = self._searches.get(key)
        if found is None:
            return _Call("search_direct_flight", {"origin": key[0], "destination": key[1], "date": day})
        return found

    def _pick_offer(self, desc: dict[str, str | None], cabin: str) -> _Call | _Offer | None:
        day = _day(str(desc["mon"]), str(desc["day"]))
        found = self._search(str(desc["o"]), str(desc["d"]), day)
        if isinstance(found, _Call):
            return found
        if desc["num"]:
            return next((f for f in found if f.flight_number == desc["num"]), None)
        if desc["hm"]:
            return next((f for f in found if f.scheduled_departure_time_est[:5] == desc["hm"]), None)
        if desc["h"]:
            hour = int(str(desc["h"])) % 12 + (12 if desc["ap"] == "pm" else 0)
            return next((f for f in found if int(f.scheduled_departure_time_est[:2]) == hour), None)
        if desc["pod"]:
            return next((f for f in found if _part_of_day(f.scheduled_departure_time_est) == desc["pod"]), None)
        in_cabin = str(desc["cab"]).replace(" ", "_") if desc["cab"] else cabin
        return min(found, key=lambda f: f.prices[in_cabin], default=None)

    def _payment(self, desc: dict[str, str | None]) -> _Method | None:
        """The saved payment method a caller's description names (the first that fits)."""
        assert self._profile is not None
        for method in self._profile.payment_methods.values():
            if desc["pid"]:
                ok = method.id == desc["pid"]
            elif desc["l1"] or desc["l2"]:
                ok = method.source == "credit_card" and method.last_four == (desc["l1"] or desc["l2"])
                if ok and desc["b1"]:
                    ok = _BRANDS.get(method.brand, method.brand.title()) == desc["b1"]
            elif desc["b2"]:
                ok = method.source == "credit_card" and _BRANDS.get(method.brand, method.brand.title()) == desc["b2"]
            elif desc["g"]:
                ok = method.source == "gift_card" and method.amount == float(str(desc["g"]))
            elif desc["c"]:
                ok = method.source == "certificate" and method.amount == float(str(desc["c"]))
            else:
                ok = method.source == str(desc["src"]).replace("travel ", "").replace(" ", "_")
            if ok:
                return method
        return None

    def _update_payment(self, req: _Req, price: int, what: str) -> _Method | _Act:
        """The single card that settles a change, or the question or refusal instead."""
        if not req.pays:
            if req.asked >= 3:
                return _Final("I'm sorry, I need a payment method to make this change.")
            return _Ask(f"Which payment method should I use for {what}? It must be a credit card or a gift card.")
        method = self._payment(req.pays[0])
        if method is None:
            return _Final("I'm sorry, I couldn't find that payment method in your profile.")
        if method.source == "certificate":
            return _Final("I'm sorry, a travel certificate can't be used to pay for changes to a reservation.")
        if method.source == "gift_card" and method.amount < price:
            return _Final(
                f"I'm sorry, that gift card holds {_money(method.amount)}, which doesn't cover {_money(price)}."
            )
        return method

    def _settlement(self, price: int, method: _Method) -> str:
        if price > 0:
            return f"The difference of {_money(price)} is charged to {method.id}."
        if price < 0:
            return f"The difference of {_money(-price)} is refunded to {method.id}."
        return f"There is no price difference (payment method on file: {method.id})."

    # one handler per kind of request

    def _h_cancel(self, req: _Req) -> _Act:
        rid = self._locate(req)
        if not isinstance(rid, str):
            return rid
        r = self._res[rid]
        if r.status == "cancelled":
            return _Final(f"Reservation {rid} is already cancelled.")
        if req.reason is None:
            return _Ask("May I ask the reason for the cancellation?")
        statuses = self._statuses(r)
        if isinstance(statuses, _Call):
            return statuses
        if any(s in ("landed", "flying") for s in statuses.values()):
            return _Final(
                f"I'm sorry, part of reservation {rid} has already been flown, so I can't cancel it.", refusal=True
            )
        airline_cancelled = any(s == "cancelled" for s in statuses.values())
        recent = r.created_at > _DAY_BEFORE
        covered = r.insurance == "yes" and req.reason in _COVERED
        if not (recent or r.cabin == "business" or airline_cancelled or covered):
            why = (
                "its travel insurance doesn't cover that reason"
                if r.insurance == "yes"
                else "it has no travel insurance"
            )
            return _Final(
                f"I'm sorry, but I can't cancel reservation {rid}: it was booked more than 24 hours ago, it is "
                f"{_CABIN_WORDS[r.cabin]} rather than business, none of its flights was cancelled by the airline, "
                f"and {why}.",
                refusal=True,
            )
        refund = sum(p.amount for p in r.payment_history)
        text = (
            f"Here is what I will do: cancel reservation {rid} ({r.origin} to {r.destination}, "
            f"{r.flight_type.replace('_', ' ')}, {_CABIN_WORDS[r.cabin]}, {_plural(len(r.passengers), 'passenger')}, "
            f"first flight on {r.flights[0].date if r.flights else 'n/a'}). The refund of {_money(refund)} goes "
            "back to the original payment methods."
        )
        return _Confirm(text, "cancel_reservation", {"reservation_id": rid})

    def _h_change_flights(self, req: _Req) -> _Act:
        rid = self._locate(req)
        if not isinstance(rid, str):
            return rid
        r = self._res[rid]
        if r.cabin == "basic_economy":
            return _Final(
                f"I'm sorry, but reservation {rid} is in basic economy, and basic economy flights cannot be changed.",
                refusal=True,
            )
        if not req.offers:
            if req.asked >= 3:
                return _Final("I'm sorry, I need to know which flight you want instead.")
            return _Ask(
                "Which flight would you like instead (route, date and departure time)? And which payment method "
                "should I use for the fare difference? It must be a credit card or a gift card."
            )
        statuses = self._statuses(r)
        if isinstance(statuses, _Call):
            return statuses
        if any(s in ("landed", "flying") for s in statuses.values()):
            return _Final(f"I'm sorry, part of reservation {rid} has already been flown, so it can't be changed.")
        offer = self._pick_offer(req.offers[0], r.cabin)
        if isinstance(offer, _Call):
            return offer
        if offer is None:
            return _Final("I'm sorry, I couldn't find that flight among the bookable nonstop flights.")
        outbound = len(r.flights)
        if r.flight_type == "round_trip":
            outbound = next((i + 1 for i, s in enumerate(r.flights) if s.destination == r.destination), outbound)
        first, last = (0, outbound) if offer.origin == r.flights[0].origin else (outbound, len(r.flights))
        if (
            first >= last
            or r.flights[first].origin != offer.origin
            or r.flights[last - 1].destination != offer.destination
        ):
            return _Final("I'm sorry, that flight doesn't replace a part of this trip on the same route.")
        travellers = len(r.passengers)
        if offer.available_seats.get(r.cabin, 0) < travellers:
            return _Final(f"I'm sorry, flight {offer.flight_number} has no room for {travellers} in that cabin.")
        day = _day(str(req.offers[0]["mon"]), str(req.offers[0]["day"]))
        price = (offer.prices[r.cabin] - sum(s.price for s in r.flights[first:last])) * travellers
        stale = self._fresh_profile()
        if stale is not None:
            return stale
        method = self._update_payment(req, price, "the fare difference")
        if not isinstance(method, _Method):
            return method
        itinerary = [(s.flight_number, s.date) for s in r.flights[:first]]
        itinerary.append((offer.flight_number, day))
        itinerary += [(s.flight_number, s.date) for s in r.flights[last:]]
        replaced = ", ".join(f"{s.flight_number} on {s.date}" for s in r.flights[first:last])
        text = (
            f"Here is the change for reservation {rid}: {replaced} will be replaced by {offer.flight_number} on "
            f"{day} ({offer.origin} to {offer.destination}, departing {offer.scheduled_departure_time_est[:5]}), "
            f"in {_CABIN_WORDS[r.cabin]}. The new itinerary: "
            + ", ".join(f"{number} on {d}" for number, d in itinerary)
            + f". {self._settlement(price, method)}"
        )
        arguments = {
            "reservation_id": rid,
            "cabin": r.cabin,
            "flights": [{"flight_number": number, "date": d} for number, d in itinerary],
            "payment_id": method.id,
        }
        return _Confirm(text, "update_reservation_flights", arguments)

    def _h_date_change(self, req: _Req) -> _Act:
        rid = self._locate(req)
        if not isinstance(rid, str):
            return rid
        if self._res[rid].cabin == "basic_economy":
            return _Final(
                f"I'm sorry, but reservation {rid} is in basic economy, and basic economy flights cannot be changed.",
                refusal=True,
            )
        req.kind = "change_flights"
        return self._h_change_flights(req)

    def _h_cabin(self, req: _Req) -> _Act:
        rid = self._locate(req)
        if not isinstance(rid, str):
            return rid
        r = self._res[rid]
        cabin = req.cabin or r.cabin
        if r.status == "cancelled":
            return _Final(f"I'm sorry, reservation {rid} is cancelled.")
        if cabin == r.cabin:
            return _Final(f"Reservation {rid} is already in {_CABIN_WORDS[cabin]}.")
        travellers = len(r.passengers)
        total = 0
        for s in r.flights:
            found = self._search(s.origin, s.destination, s.date)
            if isinstance(found, _Call):
                return found
            offer = next((f for f in found if f.flight_number == s.flight_number), None)
            if offer is None:
                return _Final(
                    f"I'm sorry, the cabin of reservation {rid} can't be changed: flight {s.flight_number} on "
                    f"{s.date} can no longer be booked.",
                    refusal=True,
                )
            if offer.available_seats.get(cabin, 0) < travellers:
                return _Final(f"I'm sorry, flight {s.flight_number} has no room for {travellers} in that cabin.")
            total += offer.prices[cabin]
        price = (total - sum(s.price for s in r.flights)) * travellers
        stale = self._fresh_profile()
        if stale is not None:
            return stale
        method = self._update_payment(req, price, "the price difference")
        if not isinstance(method, _Method):
            return method
        text = (
            f"Here is the change: reservation {rid} moves from {_CABIN_WORDS[r.cabin]} to {_CABIN_WORDS[cabin]} "
            "on every flight (" + ", ".join(f"{s.flight_number} on {s.date}" for s in r.flights) + "). "
            f"{self._settlement(price, method)}"
        )
        arguments = {
            "reservation_id": rid,
            "cabin": cabin,
            "flights": [{"flight_number": s.flight_number, "date": s.date} for s in r.flights],
            "payment_id": method.id,
        }
        return _Confirm(text, "update_reservation_flights", arguments)

    def _h_add_bags(self, req: _Req) -> _Act:
        rid = self._locate(req)
        if not isinstance(rid, str):
            return rid
        r = self._res[rid]
        assert self._profile is not None
        if not req.count:
            return _Final("I'm sorry, I didn't catch how many bags you want to add.")
        allowance = _FREE_BAGS[self._profile.membership][r.cabin] * len(r.passengers)
        total = r.total_baggages + req.count
        nonfree = max(0, total - allowance)
        price = _BAG_FEE * max(0, nonfree - r.nonfree_baggages)
        stale = self._fresh_profile()
        if stale is not None:
            return stale
        method = self._update_payment(req, price, "any bag fees")
        if not isinstance(method, _Method):
            return method
        fee = (
            f"The fee is {_money(price)} ({_plural(price // _BAG_FEE, 'paid bag')} at $50), charged to {method.id}."
            if price
            else f"The added bags are within your free allowance, so there is no fee (payment method: {method.id})."
        )
        text = (
            f"Here is the change: reservation {rid} goes from {r.total_baggages} to {total} checked bags "
            f"({nonfree} of them paid; your free allowance is {allowance}). {fee}"
        )
        arguments = {
            "reservation_id": rid,
            "total_baggages": total,
            "nonfree_baggages": nonfree,
            "payment_id": method.id,
        }
        return _Confirm(text, "update_reservation_baggages", arguments)

    def _h_passengers(self, req: _Req) -> _Act:
        rid = self._locate(req)
        if not isinstance(rid, str):
            return rid
        r = self._res[rid]
        if req.person is None:
            return _Final("I'm sorry, I didn't catch which passenger you want to replace.")
        position = next((i for i, p in enumerate(r.passengers) if _same(p, *req.person)), None)
        if position is None:
            return _Final(f"I'm sorry, I couldn't find that passenger on reservation {rid}.")
        if req.newcomer is None:
            if req.asked >= 3:
                return _Final("I'm sorry, I need the new traveller's details to make this change.")
            return _Ask("Who is the new traveller? Please give me their full name and date of birth.")
        how, name, dob = req.newcomer
        if how == "new" and dob is not None:
            first, _, last = name.partition(" ")
            new = _Pax(first_name=first, last_name=last, dob=dob)
        else:
            found = self._saved(name, dob)
            if found is None:
                return _Final("I'm sorry, I couldn't find that traveller in your profile.")
            new = found
        people = list(r.passengers)
        old = people[position]
        people[position] = new
        text = (
            f"Here is the change: on reservation {rid}, {_full(old)} (born {old.dob}) is replaced by {_full(new)} "
            f"(born {new.dob}). The passengers will be: " + "; ".join(f"{_full(p)} ({p.dob})" for p in people) + "."
        )
        arguments = {
            "reservation_id": rid,
            "passengers": [{"first_name": p.first_name, "last_name": p.last_name, "dob": p.dob} for p in people],
        }
        return _Confirm(text, "update_reservation_passengers", arguments)

    def _saved(self, name: str, dob: str | None) -> _Pax | None:
        """Someone in the profile (the user first, then their saved passengers)."""
        profile = self._profile
        assert profile is not None
        me = _Pax(first_name=profile.name.first_name, last_name=profile.name.last_name, dob=profile.dob)
        return next((p for p in [me, *profile.saved_passengers] if _same(p, name, dob)), None)

    def _h_comp_cancelled(self, req: _Req) -> _Act:
        return self._compensation(req, "cancelled", 100)

    def _h_comp_delayed(self, req: _Req) -> _Act:
        return self._compensation(req, "delayed", 50)

    def _compensation(self, req: _Req, wanted: str, per_passenger: int) -> _Act:
        rid = self._locate(req)
        if not isinstance(rid, str):
            return rid
        segment = self._segment(req, rid)
        if segment is None:
            return _Final(f"I'm sorry, I couldn't find that flight on reservation {rid}.")
        status = self._status.get((segment.flight_number, segment.date))
        if status is None:
            return _Call("get_flight_status", {"flight_number": segment.flight_number, "date": segment.date})
        flight = f"flight {segment.flight_number} on {segment.date} (reservation {rid})"
        if status != wanted:
            return _Final(
                f"I checked {flight}: its status is {status}, so I can't offer compensation for it.", refusal=True
            )
        r = self._orig[rid]
        assert self._profile is not None
        if self._profile.membership == "regular" and r.insurance == "no" and r.cabin != "business":
            return _Final(
                f"I checked {flight}: it was indeed {status}, and I'm sorry for the trouble. However, compensation is "
                "only offered to silver and gold members, to travellers with insurance, or in business class, "
                "so I can't offer any here.",
                refusal=True,
            )
        if wanted == "delayed" and rid not in self._changed:
            return _Final(
                f"I checked {flight}: it is delayed, and I'm sorry. Compensation for a delay comes with a change or "
                "cancellation of the reservation, which we have not made.",
                refusal=True,
            )
        travellers = len(r.passengers)
        amount = per_passenger * travellers
        text = (
            f"I checked {flight}: it was indeed {status}, and I'm sorry for the trouble. As a gesture, I can add a "
            f"travel certificate of {_money(amount)} ({_money(per_passenger)} for each of the "
            f"{_plural(travellers, 'passenger')}) to your profile, user {self._uid}."
        )
        return _Confirm(text, "send_certificate", {"user_id": self._uid, "amount": amount})

    def _h_status(self, req: _Req) -> _Act:
        rid = self._locate(req)
        if not isinstance(rid, str):
            return rid
        segment = self._segment(req, rid)
        if segment is None:
            return _Final(f"I'm sorry, I couldn't find that flight on reservation {rid}.")
        status = self._status.get((segment.flight_number, segment.date))
        if status is None:
            return _Call("get_flight_status", {"flight_number": segment.flight_number, "date": segment.date})
        return _Final(
            f"Flight {segment.flight_number} ({segment.origin} to {segment.destination}) on {segment.date} has the "
            f"status: {status}.",
            inform=True,
            facts=((status, status.replace(" ", "-")),),
        )

    def _h_inform(self, req: _Req) -> _Act:
        rid = self._locate(req)
        if not isinstance(rid, str):
            return rid
        r = self._res[rid]
        assert self._profile is not None
        travellers = len(r.passengers)
        parts = []
        facts: list[tuple[str, ...]] = []
        for fact in req.facts or ["passengers"]:
            if fact == "passengers":
                parts.append(f"it has {_plural(travellers, 'passenger')}")
                facts.append((str(travellers), _spelled(travellers)))
            elif fact == "cabin":
                parts.append(f"it is booked in {_CABIN_WORDS[r.cabin]}")
                facts.append((_CABIN_WORDS[r.cabin], r.cabin))
            elif fact == "total_paid":
                paid = sum(p.amount for p in r.payment_history)
                parts.append(f"the total paid for it is ${paid}")
                facts.append((str(paid),))
            else:
                free = _FREE_BAGS[self._profile.membership][r.cabin] * travellers
                parts.append(f"it includes {free} free checked bags in total")
                facts.append((str(free), _spelled(free)))
        return _Final(f"About reservation {rid}: " + ", and ".join(parts) + ".", inform=True, facts=tuple(facts))

    def _h_cheapest(self, req: _Req) -> _Act:
        if req.route is None or req.date is None:
            return _Final("I'm sorry, I didn't catch the route and date you are asking about.")
        found = self._search(req.route[0], req.route[1], req.date)
        if isinstance(found, _Call):
            return found
        if not found:
            return _Final("I'm sorry, there is no bookable nonstop flight on that route and date.")
        cheapest = min(found, key=lambda f: f.prices["economy"])
        return _Final(
            f"The lowest economy fare for a nonstop flight from {cheapest.origin} to {cheapest.destination} on "
            f"{req.date} is ${cheapest.prices['economy']} (flight {cheapest.flight_number}).",
            inform=True,
            facts=((str(cheapest.prices["economy"]),),),
        )

    def _refuse_on(self, req: _Req, reason: Callable[[str], str]) -> _Act:
        """Find the reservation the request is about, then decline with ``reason(reservation id)``."""
        rid = self._locate(req)
        if not isinstance(rid, str):
            return rid
        return _Final(reason(rid), refusal=True)

    def _h_remove_bags(self, req: _Req) -> _Act:
        return self._refuse_on(
            req,
            lambda rid: (
                f"I'm sorry, but checked bags can be added to a reservation, never removed, so I can't reduce the bags "
                f"on reservation {rid} or refund their fees."
            ),
        )

    def _h_insurance(self, req: _Req) -> _Act:
        return self._refuse_on(
            req,
            lambda rid: (
                f"I'm sorry, but travel insurance can only be bought when booking; it can't be added to reservation "
                f"{rid} now."
            ),
        )

    def _h_passenger_count(self, req: _Req) -> _Act:
        return self._refuse_on(
            req,
            lambda rid: (
                f"I'm sorry, but the number of passengers on a reservation can't change, so I can't add or remove a "
                f"traveller on reservation {rid}. I can only change who the existing passengers are."
            ),
        )

    def _h_book(self, req: _Req) -> _Act:
        profile = self._profile
        assert profile is not None
        missing = []
        legs = 2 if req.trip == "round_trip" else 1
        if len(req.offers) < legs:
            missing.append("which flights you want (the date and departure time of each)")
        if req.cabin is None:
            missing.append("the cabin")
        if req.people is None:
            missing.append("the passengers (full name and date of birth of each)")
        if req.count is None:
            missing.append("how many checked bags")
        if req.insurance is None:
            missing.append("whether you want travel insurance")
        if missing:
            if req.asked >= 3:
                return _Final("I'm sorry, I can't book this without those details.")
            head = ", ".join(missing[:-1]) + (", and " if len(missing) > 1 else "") + missing[-1]
            return _Ask(f"To book this, please tell me {head}.")
        assert req.cabin is not None and req.people is not None and req.count is not None
        cabin = req.cabin
        travellers: list[_Pax] = []
        for how, name, dob in req.people:
            if how == "me":
                travellers.append(
                    _Pax(first_name=profile.name.first_name, last_name=profile.name.last_name, dob=profile.dob)
                )
            elif how == "new" and dob is not None:
                given, _, family = name.partition(" ")
                travellers.append(_Pax(first_name=given, last_name=family, dob=dob))
            else:
                found = self._saved(name, dob)
                if found is None:
                    return _Final(f"I'm sorry, I couldn't find {name} among your saved passengers.")
                travellers.append(found)
        n = len(travellers)
        if not 1 <= n <= 5:
            return _Final("I'm sorry, a reservation can have one to five passengers.", refusal=True)
        chosen: list[tuple[_Offer, str]] = []
        for desc in req.offers[:legs]:
            offer = self._pick_offer(desc, cabin)
            if isinstance(offer, _Call):
                return offer
            if offer is None:
                return _Final("I'm sorry, I couldn't find one of those flights among the bookable nonstop flights.")
            if offer.available_seats.get(cabin, 0) < n:
                return _Final(f"I'm sorry, flight {offer.flight_number} has no room for {n} in {_CABIN_WORDS[cabin]}.")
            chosen.append((offer, _day(str(desc["mon"]), str(desc["day"]))))
        stale = self._fresh_profile()
        if stale is not None:
            return stale
        allowance = _FREE_BAGS[profile.membership][cabin] * n
        nonfree = max(0, req.count - allowance)
        fares = sum(offer.prices[cabin] for offer, _ in chosen) * n
        insurance = _INSURANCE * n if req.insurance == "yes" else 0
        total = fares + insurance + _BAG_FEE * nonfree
        breakdown = f"{_money(fares)} in fares and {_money(total - fares)} in extras"
        if not req.pays:
            if req.asked >= 4:
                return _Final("I'm sorry, I can't book this without a payment method.")
            return _Ask(
                f"The total comes to {_money(total)} ({breakdown}). How would you like to pay? You can combine one "
                "travel certificate, one credit card and up to three gift cards from your profile."
            )
        methods = [self._payment(desc) for desc in req.pays]
        if any(m is None for m in methods):
            return _Final("I'm sorry, I couldn't find one of those payment methods in your profile.")
        plan: list[tuple[_Method, int]] = []
        left = total
        for i, method in enumerate(methods):
            assert method is not None
            if method.source == "credit_card":
                use = left
            else:
                use = left if i == len(methods) - 1 else min(left, int(method.amount))
                if method.amount < use:
                    return _Final(f"I'm sorry, {method.id} holds {_money(method.amount)}, which is not enough.")
            if use > 0:
                plan.append((method, use))
                left -= use
        sources = [m.source for m, _ in plan]
        if (
            left != 0
            or sources.count("certificate") > 1
            or sources.count("credit_card") > 1
            or sources.count("gift_card") > 3
        ):
            return _Final(
                "I'm sorry, that payment doesn't work: the policy allows one travel certificate, one credit card "
                "and up to three gift cards, and together they must cover the total.",
                refusal=True,
            )
        first = chosen[0][0]
        text = (
            f"Here is the booking: a {req.trip.replace('_', ' ') if req.trip else 'one way'} trip from {first.origin} "
            f"to {first.destination} in {_CABIN_WORDS[cabin]}; flights: "
            + ", ".join(
                f"{o.flight_number} on {d} ({o.origin} to {o.destination}, departing "
                f"{o.scheduled_departure_time_est[:5]})"
                for o, d in chosen
            )
            + "; passengers: "
            + "; ".join(f"{_full(p)} ({p.dob})" for p in travellers)
            + f"; {req.count} checked bags ({nonfree} paid); travel insurance: {req.insurance}; total "
            f"{_money(total)} ({breakdown}), paid with " + ", ".join(f"{m.id} {_money(use)}" for m, use in plan) + "."
        )
        arguments = {
            "user_id": self._uid,
            "origin": first.origin,
            "destination": first.destination,
            "flight_type": req.trip or "one_way",
            "cabin": cabin,
            "flights": [{"flight_number": o.flight_number, "date": d} for o, d in chosen],
            "passengers": [{"first_name": p.first_name, "last_name": p.last_name, "dob": p.dob} for p in travellers],
            "payment_methods": [{"payment_id": m.id, "amount": use} for m, use in plan],
            "total_baggages": req.count,
            "nonfree_baggages": nonfree,
            "insurance": req.insurance,
        }
        return _Confirm(text, "book_reservation", arguments)


_HANDLERS: dict[str, Callable[[AirlineAgent, _Req], _Act]] = {
    name.removeprefix("_h_"): function for name, function in vars(AirlineAgent).items() if name.startswith("_h_")
}
"""Request kind to the method that handles it."""


def _same(p: _Pax, name: str, dob: str | None) -> bool:
    """Whether ``p`` is the person named (a first name, or a full name) and born on ``dob`` if given."""
    first, _, last = name.partition(" ")
    if p.first_name.lower() != first.lower():
        return False
    if last and p.last_name.lower() != last.lower():
        return False
    return dob is None or p.dob == dob
