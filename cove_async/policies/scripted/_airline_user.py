"""The scripted airline user: a caller who plays one sampled airline task.

It opens with its first request, gives its user id when asked, and brings up the next request
only once the agent has finished or declined the current one. It names records only by the
descriptions the task gives it (:attr:`Task.fuzzy`: "my trip to Denver on May 8", "the 9 am
flight from Boston to Miami on May 20", "my Visa card ending in 1234"), answers the agent's
questions (the reason, the flight it wants, cabin, passengers, bags, insurance, how to pay) from
the task, says it does not know anything else, and agrees to a change only when the agent's
summary names what the task wants: the reservation, flights, payment methods, travellers and
amounts of the canonical write (otherwise it says no and what is wrong). It never uses an
assent word (:data:`cove_async.verify.ASSENT`) except to agree, accepts refusals (insisting at
most once where the task allows it), and ends with ``###STOP###`` when every request is handled.

Like the agent it is a fold over the conversation: its own earlier messages are replayed through
the same decision function, so a fresh object and an incrementally fed one agree, and its
phrasing is drawn from a :class:`Dice` seeded by the seed and the conversation's length.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cove_async.chat import Message
from cove_async.policies.scripted._dice import Dice
from cove_async.tasks import FuzzyRef, Intent, Task
from cove_async.tasks._airline_fuzzy import date_text

__all__ = ("AirlineUser",)

_CABIN_WORDS = {"basic_economy": "basic economy", "economy": "economy", "business": "business"}
_NUMBERS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")

_REASON_CLAUSE = {
    "change_of_plans": "my plans have changed",
    "health": "I have a health problem",
    "weather": "a storm is forecast for my travel dates",
    "airline_cancelled": "the airline cancelled one of the flights",
    "delay": "one of the flights is delayed",
}
_REASON_NOUN = {
    "change_of_plans": "a change of plans",
    "health": "a health problem",
    "weather": "bad weather: a storm is forecast",
    "airline_cancelled": "the airline cancelled one of my flights",
    "delay": "the delay of one of the flights",
}
_OPENINGS = ("Hi! ", "Hello. ", "Hi there. ", "")
_NEXT = ("Thanks. Next, ", "Also, ", "One more thing: ", "Thank you. Now ", "")
_YES = (
    "Yes, please go ahead.",
    "Yes, that's right.",
    "Yes please.",
    "Yeah, go ahead.",
    "Yes, proceed.",
    "That's right, go ahead.",
)
_ID = ("My user id is {}.", "It's {}.", "Here it is: {}.", "{}.", "You can find me under {}.")
_STOPS = (
    "No, that's everything. Thanks for your help! ###STOP###",
    "That's all I needed, thank you. ###STOP###",
    "Nothing else, thanks. Goodbye! ###STOP###",
)
_INSIST = (
    "Is there really nothing you can do? This trip matters a lot to me.",
    "I was really hoping for something after all this trouble. Can you check again?",
)
_DONT_KNOW = ("I'm sorry, I don't know that.", "I don't have that information, sorry.")

_CONFIRM_QUESTION = re.compile(
    r"\(yes/no\)|\b(?:shall|should|may|can) i (?:proceed|go ahead)\b|\bdo you (?:want me to proceed|confirm)\b"
)
_REFUSAL = re.compile(r"\b(?:sorry|can't|cannot|not able|unable|not allowed|not eligible)\b")
_SLOTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("reservation", ("which reservation",)),
    ("reason", ("reason",)),
    ("flights", ("which flight", "flights you want")),
    ("cabin", ("cabin",)),
    ("passengers", ("passengers",)),
    ("bags", ("checked bags",)),
    ("insurance", ("insurance",)),
    ("newcomer", ("new traveller",)),
    ("payment", ("payment method", "how would you like to pay")),
)
_NAME_LINE = re.compile(r"You are (.+?)\.")
_ADD_TRAVELLER = re.compile(r"add (.+?) \(born (\d{4}-\d{2}-\d{2})\) as one more traveller")
_CHEAPEST = re.compile(r"lowest economy fare for a nonstop flight from (.+?) to (.+?) on ([A-Z][a-z]+ \d+)")
_ROUTE_WORDS = re.compile(r" from (.+?) to (.+?) on ")


def _mine(text: str) -> str:
    """A task description in the caller's own voice ("your trip" -> "my trip")."""
    if text.startswith("your "):
        text = "my " + text[5:]
    return text.replace("the booking you made for", "the booking I made for")


def _word(n: int) -> str:
    return _NUMBERS[n] if n < len(_NUMBERS) else str(n)


def _bags(n: int) -> str:
    return f"{_word(n)} checked bag{'s' if n != 1 else ''}"


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _after(prefix: str, sentence: str) -> str:
    """``sentence`` following ``prefix`` mid-sentence (lower-cased first letter, except "I")."""
    if not prefix or sentence.startswith(("I ", "I'")):
        return prefix + sentence
    return prefix + sentence[:1].lower() + sentence[1:]


@dataclass(slots=True)
class _Want:
    """One request of the task, in the caller's words, and how to check the agent's summary of it."""

    request: Callable[[Dice], str]
    answers: dict[str, Callable[[Dice], str]] = field(default_factory=dict)
    tokens: list[tuple[str, str]] = field(default_factory=list)
    """(kind, text) values the agent's summary of the write must contain."""
    complaints: dict[str, str] = field(default_factory=dict)
    insist: bool = False


class _Refs:
    """The task's descriptions, indexed the ways a request looks them up."""

    def __init__(self, task: Task) -> None:
        self.by_key: dict[tuple[str, str], list[FuzzyRef]] = {}
        for ref in task.fuzzy:
            self.by_key.setdefault((ref.ref.kind, ref.ref.key), []).append(ref)
        self.payments = {
            key: _mine(refs[0].text) for (kind, key), refs in self.by_key.items() if kind == "payment_methods"
        }

    def reservation(self, rid: str) -> str | None:
        refs = self.by_key.get(("reservations", rid))
        return _mine(refs[0].text) if refs else None

    def segment(self, rid: str, number: str | None = None) -> str | None:
        for (kind, key), refs in self.by_key.items():
            if kind != "flights" or (number is not None and key != number):
                continue
            for ref in refs:
                if ref.scope is not None and ref.scope.kind == "reservations" and ref.scope.key == rid:
                    return ref.text
        return None

    def offer(self, number: str, day: str) -> str | None:
        for ref in self.by_key.get(("flights", number), ()):
            if ref.scope is None and ref.attributes.get("date") == day:
                return ref.text
        return None

    def person(self, key: str, scope_kind: str, scope_key: str | None = None) -> str | None:
        for ref in self.by_key.get(("passengers", key), ()):
            if ref.scope is not None and ref.scope.kind == scope_kind and scope_key in (None, ref.scope.key):
                return ref.text
        return None

    def person_in(self, rid: str) -> str | None:
        for (kind, _key), refs in self.by_key.items():
            if kind == "passengers":
                for ref in refs:
                    if ref.scope is not None and ref.scope.kind == "reservations" and ref.scope.key == rid:
                        return ref.text
        return None


def _people_key(p: dict[str, Any]) -> str:
    return f"{p['first_name']} {p['last_name']} ({p['dob']})"


def _pay_words(refs: _Refs, pid: str) -> str:
    return refs.payments.get(pid, f"payment method {pid}")


class _Builder:
    """Turns the task's constraints into :class:`_Want` requests."""

    def __init__(self, task: Task) -> None:
        self.task = task
        self.refs = _Refs(task)
        found = _NAME_LINE.search(task.instruction.known_info)
        self.me = found.group(1) if found else ""
        self.reason_text = task.instruction.reason_for_call
        self.cheapest = 0

    def build(self) -> list[_Want]:
        return [
            self.want(c.family, c.intent, c.params, c.writes[0].arguments if c.writes else {})
            for c in self.task.constraints
        ]

    def want(self, family: str, intent: Intent, params: dict[str, Any], write: dict[str, Any]) -> _Want:
        refs = self.refs
        rid = str(params.get("reservation_id", ""))
        res = refs.reservation(rid) if rid else None
        res_words = res or "my reservation"
        method = getattr(self, f"_{family}")
        want: _Want = method(params, write, res_words)
        if rid:
            want.tokens.insert(0, ("reservation", rid))
            want.complaints["reservation"] = (
                f"No, that's not the reservation I mean. I mean {res}." if res else "No, that's the wrong reservation."
            )
            if res:
                want.answers.setdefault("reservation", lambda d: f"It's {res}.")
        if "payment_id" in write:
            pay = _pay_words(refs, write["payment_id"])
            want.tokens.append(("payment", write["payment_id"]))
            want.complaints["payment"] = f"No, I'd like to use {pay}."
        return want

    # -- changes -------------------------------------------------------------------------------

    def _cancel_reservation(self, params: dict[str, Any], write: dict[str, Any], res: str) -> _Want:
        reason = str(params["reason"])
        clause, noun = _REASON_CLAUSE[reason], _REASON_NOUN[reason]

        def request(d: Dice) -> str:
            return d.choice(
                (
                    f"I need to cancel {res} because {clause}.",
                    f"I'd like to cancel {res}; {clause}.",
                    f"Could you cancel {res} for me? {_capital(clause)}.",
                    f"I want to cancel {res}.",
                )
            )

        return _Want(request, {"reason": lambda d: d.choice((f"The reason is {noun}.", f"It's because {clause}."))})

    _refuse_cancel_reservation = _cancel_reservation

    def _change_flights(self, params: dict[str, Any], write: dict[str, Any], res: str) -> _Want:
        new = params["new_flight"]
        flight = self.refs.offer(new["flight_number"], new["date"]) or f"flight {new['flight_number']}"
        pay = _pay_words(self.refs, str(params["payment_id"]))

        def request(d: Dice) -> str:
            return d.choice(
                (
                    f"I'd like to change a flight on {res}.",
                    f"I need to change the flights of {res}.",
                    f"Can you help me change my flight on {res}?",
                )
            )

        want = _Want(
            request,
            {
                "flights": lambda d: d.choice(
                    (f"I'd like {flight} instead, in the same cabin.", f"Please put me on {flight} instead.")
                ),
                "payment": lambda d: d.choice(
                    (
                        f"Please charge or refund any fare difference to {pay}.",
                        f"Use {pay} for any fare difference.",
                    )
                ),
            },
        )
        for leg in write["flights"]:
            want.tokens.append(("flight", leg["flight_number"]))
        want.complaints["flight"] = f"No, that's not the flight I want. I want {flight}."
        return want

    def _change_cabin(self, params: dict[str, Any], write: dict[str, Any], res: str) -> _Want:
        cabin = _CABIN_WORDS[str(params["cabin"])]
        pay = _pay_words(self.refs, str(params["payment_id"]))

        def request(d: Dice) -> str:
            verb = "upgrade" if cabin == "business" and d.random() < 0.5 else "move"
            return d.choice(
                (
                    f"I'd like to {verb} {res} to {cabin} on every flight.",
                    f"Could you change the cabin of {res} to {cabin}?",
                )
            )

        want = _Want(
            request,
            {
                "payment": lambda d: d.choice(
                    (f"Please use {pay} for any price difference.", f"Charge or refund the difference to {pay}.")
                )
            },
        )
        want.tokens.append(("cabin", cabin))
        want.complaints["cabin"] = f"No, I asked for {cabin} on every flight."
        return want

    def _add_bags(self, params: dict[str, Any], write: dict[str, Any], res: str) -> _Want:
        bags = f"{_word(int(params['added']))} more checked bag{'s' if int(params['added']) > 1 else ''}"
        pay = _pay_words(self.refs, str(params["payment_id"]))

        def request(d: Dice) -> str:
            return d.choice((f"I'd like to add {bags} to {res}.", f"Can you add {bags} to {res}?"))

        return _Want(
            request,
            {
                "payment": lambda d: d.choice(
                    (f"If the bags cost anything, please use {pay}.", f"Use {pay} for any bag fees.")
                )
            },
        )

    def _update_passengers(self, params: dict[str, Any], write: dict[str, Any], res: str) -> _Want:
        rid = str(params["reservation_id"])
        old = self.refs.person_in(rid) or "one of the passengers"
        new = params["passenger"]
        saved = self.refs.person(_people_key(new), "users")
        name = f"{new['first_name']} {new['last_name']}"
        words = f"{saved}, whose details are saved in my profile" if saved else f"{name}, born {new['dob']}"

        def request(d: Dice) -> str:
            return d.choice(
                (
                    f"I need to replace {old} with another traveller on {res}.",
                    f"Please replace {old} with someone else on {res}.",
                )
            )

        want = _Want(
            request, {"newcomer": lambda d: d.choice((f"The new traveller is {words}.", f"That would be {words}."))}
        )
        want.tokens.append(("person", name))
        want.complaints["person"] = f"No, the new traveller should be {words}."
        return want

    def _compensation_cancelled_flight(self, params: dict[str, Any], write: dict[str, Any], res: str) -> _Want:
        return self._complaint(params, write, res, delayed=False)

    def _compensation_delayed_flight(self, params: dict[str, Any], write: dict[str, Any], res: str) -> _Want:
        return self._complaint(params, write, res, delayed=True)

    def _refuse_compensation(self, params: dict[str, Any], write: dict[str, Any], res: str) -> _Want:
        want = self._complaint(params, write, res, delayed=params.get("reason") == "delayed flight")
        want.insist = True
        return want

    def _complaint(self, params: dict[str, Any], write: dict[str, Any], res: str, *, delayed: bool) -> _Want:
        rid = str(params["reservation_id"])
        seg = self.refs.segment(rid) or "my flight"
        if delayed:

            def request(d: Dice) -> str:
                return d.choice(
                    (
                        f"I'd like compensation for the delay: {seg} on that reservation is delayed.",
                        f"I'm also asking for compensation, since {seg} on that reservation is delayed.",
                    )
                )

        else:

            def request(d: Dice) -> str:
                return d.choice(
                    (
                        f"I'd like compensation: {seg} on {res} was cancelled by the airline.",
                        f"I'm asking for compensation, since the airline cancelled {seg} on {res}.",
                    )
                )

        want = _Want(request)
        if write:
            amount = f"${write['amount']}"
            want.tokens.append(("amount", amount))
            want.complaints["amount"] = "No, that amount doesn't look right to me."
        return want

    def _book_reservation(self, params: dict[str, Any], write: dict[str, Any], res: str) -> _Want:
        refs = self.refs
        legs = write["flights"]
        texts = [refs.offer(leg["flight_number"], leg["date"]) or f"flight {leg['flight_number']}" for leg in legs]
        route = _ROUTE_WORDS.search(texts[0])
        origin, destination = (route.group(1), route.group(2)) if route else (write["origin"], write["destination"])
        trip = "a round trip" if write["flight_type"] == "round_trip" else "a one-way trip"
        cabin = _CABIN_WORDS[write["cabin"]]
        people: list[str] = []
        for p in write["passengers"]:
            saved = refs.person(_people_key(p), "users")
            if saved is not None:
                people.append(f"{saved} (saved in my profile)")
            elif f"{p['first_name']} {p['last_name']}" == self.me:
                people.append("me")
            else:
                people.append(f"{p['first_name']} {p['last_name']}, born {p['dob']}")
        bags = int(write["total_baggages"])
        insured = write["insurance"] == "yes"
        pays = [_pay_words(refs, p["payment_id"]) for p in write["payment_methods"]]

        def request(d: Dice) -> str:
            return d.choice(
                (
                    f"I'd like to book {trip} from {origin} to {destination}.",
                    f"Can you book me {trip} from {origin} to {destination}?",
                )
            )

        def flights(d: Dice) -> str:
            out = f"Going out, I'd like {texts[0]}."
            return out + (f" Coming back, I'd like {texts[1]}." if len(texts) > 1 else "")

        def passengers(d: Dice) -> str:
            if people == ["me"]:
                return d.choice(("I'm the only passenger.", "Just me."))
            return "The passengers are: " + "; ".join(people) + "."

        def baggage(d: Dice) -> str:
            if bags == 0:
                return d.choice(("No checked bags.", "Zero checked bags."))
            return d.choice((f"{_capital(_bags(bags))} in total.", f"I'll check {_word(bags)} bags in total."))

        def insurance(d: Dice) -> str:
            if insured:
                return d.choice(("I'd like travel insurance.", "Please add travel insurance."))
            return d.choice(("No travel insurance, thanks.", "I do not want travel insurance."))

        def payment(d: Dice) -> str:
            if len(pays) == 1:
                return d.choice(
                    (f"I'll pay the whole amount with {pays[0]}.", f"Please charge everything to {pays[0]}.")
                )
            if len(pays) == 2:
                return f"Please use {pays[0]} first, as far as its value goes, and put the rest on {pays[1]}."
            head = ", then ".join(pays[:-1])
            return f"Please use {head} first, each as far as its balance goes, and put the rest on {pays[-1]}."

        want = _Want(
            request,
            {
                "flights": flights,
                "cabin": lambda d: d.choice((f"I'd like to fly {cabin}.", f"In {cabin} class, please.")),
                "passengers": passengers,
                "bags": baggage,
                "insurance": insurance,
                "payment": payment,
            },
        )
        want.tokens += [("flight", leg["flight_number"]) for leg in legs]
        want.tokens += [("payment", p["payment_id"]) for p in write["payment_methods"]]
        want.tokens += [("person", f"{p['first_name']} {p['last_name']}") for p in write["passengers"]]
        want.complaints["flight"] = "No, those are not the flights I want. " + " ".join(f"I want {t}." for t in texts)
        want.complaints["payment"] = "No, that's not how I want to pay. " + payment(Dice(0, 0))
        want.complaints["person"] = "No, the passengers are not the ones I said."
        return want

    # -- information ------------------------------------------------------------------------------

    def _inform_flight_status(self, params: dict[str, Any], write: dict[str, Any], res: str) -> _Want:
        seg = self.refs.segment(str(params["reservation_id"]), str(params["flight_number"])) or "my flight"

        def request(d: Dice) -> str:
            return d.choice(
                (f"What is the status of {seg} on {res}?", f"Could you check the status of {seg} on {res}?")
            )

        return _Want(request)

    def _inform_reservation(self, params: dict[str, Any], write: dict[str, Any], res: str) -> _Want:
        questions = {
            "passengers": "how many passengers are on it",
            "cabin": "which cabin it is booked in",
            "total_paid": "how much I paid for it in total",
            "free_bags": "how many checked bags it includes for free",
        }
        asked = " and ".join(q for key, q in questions.items() if key in params)

        def request(d: Dice) -> str:
            return d.choice((f"About {res}: could you tell me {asked}?", f"I have a question about {res}: {asked}?"))

        return _Want(request)

    def _inform_cheapest_fare(self, params: dict[str, Any], write: dict[str, Any], res: str) -> _Want:
        # The instruction names the routes in the order of the requests, in the task's own words.
        mentions = list(_CHEAPEST.finditer(self.reason_text))
        found = mentions[self.cheapest] if self.cheapest < len(mentions) else None
        self.cheapest += 1
        if found:
            origin, destination, day = found.group(1), found.group(2), found.group(3)
        else:
            origin, destination, day = str(params["origin"]), str(params["destination"]), date_text(params["date"])

        def request(d: Dice) -> str:
            return d.choice(
                (
                    f"What is the lowest economy fare for a nonstop flight from {origin} to {destination} on {day}? "
                    "I only want the price for now.",
                    f"Could you find the lowest economy fare for a nonstop flight from {origin} to {destination} on "
                    f"{day}? Just the price, please.",
                )
            )

        return _Want(request)

    # -- refusals ----------------------------------------------------------------------------------

    def _refuse_change_basic_economy(self, params: dict[str, Any], write: dict[str, Any], res: str) -> _Want:
        day = date_text(str(params["wanted_date"]))

        def request(d: Dice) -> str:
            return d.choice(
                (
                    f"I'd like to move {res} so that it leaves on {day} instead; any flight that day works.",
                    f"Could {res} leave on {day} instead? Any flight that day works for me.",
                )
            )

        return _Want(request)

    def _refuse_remove_bags(self, params: dict[str, Any], write: dict[str, Any], res: str) -> _Want:
        wanted = int(params["wanted"])
        now = "no checked bags" if wanted == 0 else f"only {_bags(wanted)}"

        def request(d: Dice) -> str:
            return d.choice(
                (
                    f"I'd like to reduce {res} to {now} and get the bag fees back.",
                    f"Please remove checked bags from {res}: I want {now} now, and the fees back.",
                )
            )

        return _Want(request)

    def _refuse_add_insurance(self, params: dict[str, Any], write: dict[str, Any], res: str) -> _Want:
        def request(d: Dice) -> str:
            return d.choice((f"I'd like to add travel insurance to {res}.", f"Can I buy travel insurance for {res}?"))

        return _Want(request)

    def _refuse_change_passenger_count(self, params: dict[str, Any], write: dict[str, Any], res: str) -> _Want:
        if int(params["wanted"]) < int(params["passengers"]):
            who = self.refs.person_in(str(params["reservation_id"])) or "one passenger"

            def request(d: Dice) -> str:
                return d.choice(
                    (
                        f"Please take {who} off {res}; the others still fly.",
                        f"I'd like you to take {who} off {res}. Everyone else still flies.",
                    )
                )

        else:
            found = _ADD_TRAVELLER.search(self.reason_text)
            newcomer = f"{found.group(1)} (born {found.group(2)})" if found else "a friend of mine"

            def request(d: Dice) -> str:
                return d.choice(
                    (
                        f"I'd like to add {newcomer} as one more traveller on {res}.",
                        f"Can you add {newcomer} to {res} as one more passenger?",
                    )
                )

        return _Want(request)


class AirlineUser:
    """A deterministic caller who plays one airline task.

    Args:
        task: the airline task to play (its constraints, descriptions and instruction).
        seed: where its phrasing choices come from (with the conversation's length).
    """

    def __init__(self, task: Task, *, seed: int) -> None:
        self._seed = seed
        self._uid = task.user.key
        self._wants = _Builder(task).build()
        self._req = 0
        self._started = False
        self._insisted: set[int] = set()
        self._agent = ""
        self._read = 0
        self._decided_at = -1
        self._last_reply: Message | None = None

    def reply(self, messages: Sequence[Message]) -> Message:
        """The caller's next message (role ``user``) after the agent's last text message.

        ``messages`` is the whole conversation so far; only the messages not seen yet are read.
        """
        n = len(messages)
        if n == self._decided_at and self._last_reply is not None:
            return self._last_reply
        for i in range(self._read, n):
            message = messages[i]
            if message.role == "assistant":
                if message.content and not message.tool_calls:
                    self._agent = message.content
            elif message.role == "user" and i != self._decided_at:
                self._decide(i)  # replay our own decision: its side effects are our state
        self._read = n
        self._last_reply = Message(role="user", content=self._decide(n))
        self._decided_at = n
        return self._last_reply

    def _decide(self, n: int) -> str:
        dice = Dice(self._seed, n)
        wants = self._wants
        if not self._started:
            self._started = True
            return dice.choice(_OPENINGS) + wants[0].request(dice)
        if self._req >= len(wants):
            return dice.choice(_STOPS)
        want = wants[self._req]
        low = self._agent.lower()
        if "(yes/no)" in low or (
            ("proceed" in low or "go ahead" in low or "confirm" in low) and _CONFIRM_QUESTION.search(low)
        ):
            return self._check(want, self._agent, dice)
        if "user id" in low:
            return dice.choice(_ID).format(self._uid)
        if "anything else" in low or "what else" in low:
            if want.insist and self._req not in self._insisted and _REFUSAL.search(low) and dice.random() < 0.5:
                self._insisted.add(self._req)
                return dice.choice(_INSIST)
            self._req += 1
            if self._req >= len(wants):
                return dice.choice(_STOPS)
            return _after(dice.choice(_NEXT), wants[self._req].request(dice))
        slots = [name for name, keys in _SLOTS if any(k in low for k in keys)]
        if slots:
            said = [want.answers[s](dice) for s in slots if s in want.answers]
            return " ".join(said) if said else dice.choice(_DONT_KNOW)
        return _after("Let me say it again: ", want.request(dice))

    def _check(self, want: _Want, text: str, dice: Dice) -> str:
        """Yes when the summary names everything the task's write needs, else no and what is wrong."""
        for kind, token in want.tokens:
            if token not in text:
                return want.complaints.get(kind, "No, that's not what I asked for.")
        return dice.choice(_YES)
