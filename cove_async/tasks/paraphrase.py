"""An optional LLM paraphrase of what the user simulator is told, accepted only after a re-check.

Sampled instructions are rendered from templates, so every task of a family reads alike. An LLM
can reword ``reason_for_call``, ``known_info`` and ``task_instructions`` (``unknown_info`` is kept
as it is), but an LLM also drops facts, invents ids and changes numbers. So nothing it writes is
trusted: :func:`check_paraphrase` compares the rewrite with the original, field by field, and the
task keeps its original instruction unless every check passes:

* **Shape.** A JSON object with the three texts; none empty where the original was not; not
  identical to the original.
* **Stop markers.** Each field holds exactly the stop markers (``###STOP###``...) it held.
* **Hidden ids.** No identifier the original did not show: an order id (``#W...``), a 10-digit
  item or product id, a payment method id, a user id, a 6-character reservation code or flight
  number, or any key of a record the task is about.
* **Facts.** Every number (times, dates, zips, last four digits, amounts...), month-and-day date,
  email address and code of a field is mentioned in that field at least as often as before; so
  is every fuzzy description the field used, either word for word or through each of its key
  facts (its attribute values and proper names: product names and options, people, cities, card
  brands...).
* **Assent.** ``reason_for_call`` gains no assent word (:data:`cove_async.verify.ASSENT`): one
  there would make the user's first request read as a confirmation.

Matching is case-insensitive on whitespace-collapsed text, at word boundaries (a number may be
followed by letters, so ``May 10`` is found in ``May 10th``). The check is a safety net, not a
proof of meaning: a paraphrase can keep every listed fact and still swap two of them.
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import anyio
import msgspec
import structlog

from cove_async.backends import BackendError, ChatBackend, ChatRequest, derive_seed
from cove_async.chat import STOP_MARKERS, Message
from cove_async.tasks._model import FuzzyRef, Task, UserInstruction

__all__ = (
    "PARAPHRASE_SYSTEM_PROMPT",
    "ParaphraseBatch",
    "ParaphraseResult",
    "Rejection",
    "check_paraphrase",
    "paraphrase_instruction",
    "paraphrase_tasks",
)

log = structlog.get_logger()

PARAPHRASE_SYSTEM_PROMPT = """\
You reword the brief given to a simulated customer so that the same situation is told in \
different, natural words. You receive a JSON object with three texts: "reason_for_call", \
"known_info" and "task_instructions". Reply with a JSON object with the same three keys and \
nothing else, each text rewritten under these rules:
- Keep every fact of each text in that text: names, email addresses, zip codes, street \
addresses, cities, airports, dates, times, amounts and other numbers, product names and their \
options, card brands and last digits, order numbers, reservation codes and flight numbers. \
Copy each of them exactly as written: same spelling, same digits, same date format.
- Add nothing: no new facts and no identifiers, ids, order numbers or codes that the text does \
not already give.
- Keep what each text is for: "reason_for_call" stays the reason for the call and agrees to or \
confirms nothing; "known_info" stays what the customer knows; "task_instructions" keeps every \
rule and every step, in the same order, with the same numbering.
- Keep markers such as ###STOP### exactly as written, in the text that has them.
- Keep addressing the customer as "you"."""
"""The paraphraser's instructions (its input is the three texts as a JSON object)."""

_FIELDS = ("reason_for_call", "known_info", "task_instructions")
_SNIPPET_LIMIT = 300
_FENCE = re.compile(r"\A\s*```[A-Za-z]*\s*\n?(.*?)\n?\s*```\s*\Z", re.DOTALL)
_ENUMERATION = re.compile(r"^\s*\d+[.)](?=\s)", re.MULTILINE)
_NUMBER = re.compile(r"(?<![0-9a-z])\d+(?:[:.,/-]\d+)*")
_MONTH_DAY = re.compile(
    r"\b(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?"
    r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.? \d{1,2}(?!\d)"
)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PROPER = re.compile(r"\b[A-Z][\w'-]*(?: [A-Z][\w'-]*)*")
_NOT_PROPER = frozenset({"the", "a", "an", "your", "my", "i", "you", "order", "flight", "reservation"})
# Identifier shapes of the two domains, matched case-sensitively on the raw rewrite.
_ID_SHAPES = (
    ("an order id", re.compile(r"(?<![A-Za-z0-9])#?W\d{7}(?!\d)")),
    ("an item or product id", re.compile(r"(?<!\d)\d{10}(?!\d)")),
    ("a payment method id", re.compile(r"\b(?:credit_card|gift_card|paypal|certificate)_\d+\b")),
    ("a user id", re.compile(r"\b[a-z]+_[a-z]+_\d{4}\b")),
    ("a reservation code or flight number", re.compile(r"\b(?=[A-Z]*\d)(?=\d*[A-Z])[A-Z0-9]{6}\b")),
)


class Rejection(enum.Enum):
    """Why a paraphrase was not accepted."""

    BACKEND_ERROR = "backend_error"
    """The backend gave up (after its retries)."""
    MALFORMED = "malformed"
    """The reply was not a JSON object with the three texts."""
    EMPTY = "empty"
    """A text came back empty."""
    UNCHANGED = "unchanged"
    """The rewrite is the original, word for word."""
    STOP_MARKER = "stop_marker"
    """A stop marker was dropped, added or moved to another text."""
    HIDDEN_ID = "hidden_id"
    """An identifier the original did not show appeared."""
    MISSING_FACT = "missing_fact"
    """A fact or fuzzy description of a text is no longer in it."""
    ASSENT = "assent"
    """``reason_for_call`` gained an assent word."""


class ParaphraseResult(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of paraphrasing one task.

    Attributes:
        task: the task with the accepted rewrite, or the original task unchanged.
        accepted: whether the rewrite passed every check.
        reason: why it was rejected, naming the text and the offending value; None when accepted.
        rejection: the kind of rejection, for counting; None when accepted.
    """

    task: Task
    accepted: bool
    reason: str | None = None
    rejection: Rejection | None = None


class ParaphraseBatch(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of paraphrasing many tasks.

    Attributes:
        results: one per input task, in input order.
        accepted: how many rewrites were accepted.
        rejected: how many were rejected, by :class:`Rejection` value (kinds that did not occur
            are absent).
    """

    results: tuple[ParaphraseResult, ...]
    accepted: int
    rejected: dict[str, int]


class _Texts(msgspec.Struct, frozen=True, kw_only=True):
    # The wire shape both ways; a reply may carry extra keys (models add notes), not other types.
    reason_for_call: str
    known_info: str
    task_instructions: str


_DECODER = msgspec.json.Decoder(_Texts)
_ENCODE = msgspec.json.encode


def _normal(text: str) -> str:
    return " ".join(text.split()).casefold()


@functools.lru_cache(maxsize=4096)
def _pattern(fact: str) -> re.Pattern[str]:
    """A normalised fact at word boundaries (a number may be followed by letters: ``10`` in ``10th``)."""
    head = r"(?<![0-9a-z])" if fact[:1].isalnum() else ""
    tail = (r"(?![0-9])" if fact[-1].isdigit() else r"(?![0-9a-z])") if fact[-1:].isalnum() else ""
    return re.compile(head + re.escape(fact) + tail)


def _occurs(fact: str, normal_text: str) -> bool:
    return _pattern(fact).search(normal_text) is not None


def _count(fact: str, normal_text: str) -> int:
    return sum(1 for _ in _pattern(fact).finditer(normal_text))


def _leaves(value: Any) -> Iterator[str]:
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, str | int | float):
        yield str(value)
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _leaves(item)


def _plain_facts(text: str) -> set[str]:
    """Numbers, month-and-day dates, emails and id-shaped codes of a text, normalised.

    List numbering ("1. ...") is left out: it orders the requests, it is not a fact about them.
    """
    text = _ENUMERATION.sub(" ", text)
    codes = {_normal(m.group(0).lstrip("#")) for _, shape in _ID_SHAPES for m in shape.finditer(text)}
    normal = _normal(text)
    return {*_NUMBER.findall(normal), *_MONTH_DAY.findall(normal), *_EMAIL.findall(normal), *codes}


def _ref_facts(ref: FuzzyRef) -> set[str]:
    """The key facts of a description: its attribute values, its proper names and its plain facts."""
    # An attribute value spelled as an identifier ("gift_card") is said in words ("gift card").
    facts = {_normal(spelling) for leaf in _leaves(ref.attributes) for spelling in (leaf, leaf.replace("_", " "))}
    facts.update(_normal(name) for name in _PROPER.findall(ref.text) if name.casefold() not in _NOT_PROPER)
    facts.update(_plain_facts(ref.text))
    facts.discard("")
    return facts


def _markers(text: str) -> list[str]:
    return [marker for marker in STOP_MARKERS if marker in text]


def _hidden_keys(task: Task) -> set[str]:
    """Keys of the records the task is about, which the instruction may or may not show."""
    keys = {task.user.key}
    for constraint in task.constraints:
        keys.update(ref.key for ref in constraint.targets)
    for ref in task.fuzzy:
        keys.add(ref.ref.key)
        if ref.scope is not None:
            keys.add(ref.scope.key)
    return {_normal(key) for key in keys if key.strip()}


def _first_leak(task: Task, new: str, shown: str) -> str | None:
    for label, shape in _ID_SHAPES:
        for match in shape.finditer(new):
            token = match.group(0)
            if not _occurs(_normal(token.lstrip("#")), shown):
                return f"{label} {token!r}"
    normal_new = _normal(new)
    for key in sorted(_hidden_keys(task)):
        if _occurs(key, normal_new) and not _occurs(key, shown):
            return f"the record key {key!r}"
    return None


def _first_missing(task: Task, old: str, new: str) -> str | None:
    """A fact mentioned fewer times in ``new`` than in ``old``, described; None when there is none.

    Mentions are counted, not just found: "the flight to Atlanta on your trip to Atlanta" with
    "your trip to Atlanta" dropped still says "Atlanta", once instead of twice.
    """
    # List numbering is dropped before counting, so "1." does not count as a mention of 1.
    normal_old, normal_new = _normal(_ENUMERATION.sub(" ", old)), _normal(_ENUMERATION.sub(" ", new))
    for fact in sorted(_plain_facts(old)):
        if _count(fact, normal_new) < _count(fact, normal_old):
            return repr(fact)
    for ref in task.fuzzy:
        used = sorted(fact for fact in _ref_facts(ref) if _occurs(fact, normal_old))
        if not used:
            continue
        # Kept word for word as often as before, the description keeps its facts with it.
        text = _normal(ref.text)
        said = _count(text, normal_old)
        if said and _count(text, normal_new) >= said:
            continue
        for fact in used:
            if _count(fact, normal_new) < _count(fact, normal_old):
                return f"{fact!r} of the description {ref.text!r}"
    return None


def _assent_words(text: str) -> set[str]:
    # Imported here, not at the top: cove_async.verify imports this package, so a module-level
    # import would be circular whichever package is imported first.
    from cove_async.verify import ASSENT

    return {match.group(0).casefold() for match in ASSENT.finditer(text)}


def check_paraphrase(task: Task, rewrite: UserInstruction) -> tuple[Rejection, str] | None:
    """Why ``rewrite`` may not replace ``task.instruction`` (see the module for the rules), or None.

    Args:
        task: the task with its original instruction, constraints and fuzzy descriptions.
        rewrite: the proposed instruction; its ``unknown_info`` is compared like the others.

    Returns:
        None when the rewrite may be used; otherwise the first problem found, as its kind and a
        sentence naming the text and the value.
    """
    original = task.instruction
    fields = (*_FIELDS, "unknown_info")
    pairs = [(name, getattr(original, name), getattr(rewrite, name)) for name in fields]
    for name, old, new in pairs:
        if old.strip() and not new.strip():
            return Rejection.EMPTY, f"{name} came back empty"
    if all(_normal(old) == _normal(new) for _, old, new in pairs):
        return Rejection.UNCHANGED, "the rewrite is the original word for word"
    for name, old, new in pairs:
        if _markers(old) != _markers(new):
            return Rejection.STOP_MARKER, f"{name} has the stop markers {_markers(new)} instead of {_markers(old)}"
    shown = _normal(" ".join(getattr(original, name) for name in fields))
    for name, _, new in pairs:
        leak = _first_leak(task, new, shown)
        if leak is not None:
            return Rejection.HIDDEN_ID, f"{name} shows {leak}, which the original instruction does not"
    for name, old, new in pairs:
        missing = _first_missing(task, old, new)
        if missing is not None:
            return Rejection.MISSING_FACT, f"{name} no longer says {missing}"
    added = _assent_words(rewrite.reason_for_call) - _assent_words(original.reason_for_call)
    if added:
        return Rejection.ASSENT, f"reason_for_call gained the assent words {sorted(added)}"
    return None


def _unfenced(text: str) -> str:
    # Models often wrap JSON in a Markdown fence even when told not to; the fence carries nothing.
    match = _FENCE.match(text)
    return match.group(1) if match else text


def _snippet(text: str) -> str:
    text = text.strip()
    return text if len(text) <= _SNIPPET_LIMIT else f"{text[:_SNIPPET_LIMIT]} [...]"


def _rejected(task: Task, kind: Rejection, reason: str) -> ParaphraseResult:
    log.info("paraphrase_rejected", task_id=task.task_id, rejection=kind.value, reason=reason)
    return ParaphraseResult(task=task, accepted=False, reason=reason, rejection=kind)


async def paraphrase_instruction(
    task: Task,
    backend: ChatBackend,
    *,
    seed: int,
    model: str | None = None,
    temperature: float = 0.7,
    max_tokens: int | None = None,
) -> ParaphraseResult:
    """Ask an LLM to reword a task's instruction and keep the rewrite only if it passes the re-check.

    ``reason_for_call``, ``known_info`` and ``task_instructions`` are sent as a JSON object;
    ``unknown_info`` stays as it is. The request's seed derives from ``seed`` and the task id,
    and its route key is ``paraphrase-<task id>``.

    Args:
        task: the task to paraphrase.
        backend: the LLM to ask (its retries and timeouts apply).
        seed: the run seed.
        model: overrides the backend's model name; None keeps it.
        temperature: sampling temperature (some, so rewrites differ between tasks of a template).
        max_tokens: cap on the reply; None leaves the server's default.

    Returns:
        The task with the rewrite when accepted; otherwise the original task, with the reason. A
        backend failure is a rejection too: it never raises for the LLM's sake (cancellation
        still propagates).
    """
    original = task.instruction
    request = ChatRequest(
        messages=(
            Message(role="system", content=PARAPHRASE_SYSTEM_PROMPT),
            Message(
                role="user",
                content=_ENCODE(
                    _Texts(
                        reason_for_call=original.reason_for_call,
                        known_info=original.known_info,
                        task_instructions=original.task_instructions,
                    )
                ).decode(),
            ),
        ),
        temperature=temperature,
        max_tokens=max_tokens,
        seed=derive_seed(run_seed=seed, task_id=task.task_id, sample_index=0, turn=0, role="paraphrase"),
        model=model,
    )
    try:
        response = await backend.complete(request, route_key=f"paraphrase-{task.task_id}")
    except BackendError as exc:
        return _rejected(task, Rejection.BACKEND_ERROR, f"the backend failed: {exc}")
    content = response.message.content or ""
    try:
        texts = _DECODER.decode(_unfenced(content))
    except msgspec.DecodeError as exc:
        return _rejected(
            task,
            Rejection.MALFORMED,
            f"the reply is not a JSON object with {', '.join(_FIELDS)} as strings ({exc}): {_snippet(content)!r}",
        )
    rewrite = msgspec.structs.replace(
        original,
        reason_for_call=texts.reason_for_call.strip(),
        known_info=texts.known_info.strip(),
        task_instructions=texts.task_instructions.strip(),
    )
    problem = check_paraphrase(task, rewrite)
    if problem is not None:
        return _rejected(task, *problem)
    log.debug("paraphrase_accepted", task_id=task.task_id)
    return ParaphraseResult(task=msgspec.structs.replace(task, instruction=rewrite), accepted=True)


async def paraphrase_tasks(
    tasks: Iterable[Task],
    backend: ChatBackend,
    *,
    concurrency: int,
    seed: int,
    model: str | None = None,
    temperature: float = 0.7,
    max_tokens: int | None = None,
) -> ParaphraseBatch:
    """Paraphrase many tasks with at most ``concurrency`` requests in flight.

    Tasks are read from ``tasks`` only as capacity frees up, so a long iterable never turns into
    that many waiting coroutines. Arguments other than ``tasks`` and ``concurrency`` are as in
    :func:`paraphrase_instruction`.

    Returns:
        The results in input order, with the counts.

    Raises:
        ValueError: ``concurrency`` is below 1.
    """
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    limiter = anyio.CapacityLimiter(concurrency)
    results: list[ParaphraseResult | None] = []

    async def one(index: int, task: Task, borrower: object) -> None:
        try:
            results[index] = await paraphrase_instruction(
                task, backend, seed=seed, model=model, temperature=temperature, max_tokens=max_tokens
            )
        finally:
            limiter.release_on_behalf_of(borrower)

    async with anyio.create_task_group() as tg:
        for index, task in enumerate(tasks):
            # Borrow before starting, so at most `concurrency` paraphrases exist at once.
            borrower = object()
            await limiter.acquire_on_behalf_of(borrower)
            results.append(None)
            tg.start_soon(one, index, task, borrower)
    done = [result for result in results if result is not None]
    rejected: dict[str, int] = {}
    for result in done:
        if result.rejection is not None:
            rejected[result.rejection.value] = rejected.get(result.rejection.value, 0) + 1
    return ParaphraseBatch(results=tuple(done), accepted=sum(r.accepted for r in done), rejected=rejected)
