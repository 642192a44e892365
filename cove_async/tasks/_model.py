"""CoVe tasks as data: explicit constraints, their fuzzy descriptions, and what the user is told.

A task is sampled from a world's records. Its **constraints** are explicit and grounded: each
names the records it is about and, for a change, the canonical tool calls that make it (checked
by running them when the task is sampled). Its **fuzzy references** are the natural descriptions
the user is given instead of ids, each kept with the record it resolves to and the facts it
uses, so an independent resolver can prove it names exactly one record. The **instruction** is
what the user simulator is told. The verifier grades a conversation against the explicit
constraints only; everything the user was told is derived from them.

Every type here is a frozen msgspec Struct: tasks are written as JSON lines and read back
unchanged, and the same seed gives the same bytes.
"""

from __future__ import annotations

import enum
from typing import Any

import msgspec

__all__ = (
    "Call",
    "Constraint",
    "Difficulty",
    "FuzzyRef",
    "Intent",
    "Ref",
    "Task",
    "UserInstruction",
)


class Ref(msgspec.Struct, frozen=True, kw_only=True):
    """One record of a world: its kind (``"orders"``) and key (``"#W1234567"``)."""

    kind: str
    key: str


class Call(msgspec.Struct, frozen=True, kw_only=True):
    """A tool call: the tool's name and its decoded arguments."""

    name: str
    arguments: dict[str, Any]


class Intent(enum.Enum):
    """What a constraint asks of the agent."""

    CHANGE = "change"
    """Make a state change (cancel, modify, return, book, ...)."""
    INFORM = "inform"
    """Tell the user a fact from the database; the state must not change for it."""
    REFUSE = "refuse"
    """Decline a request the policy forbids; the records it names must stay as they are."""


class Constraint(msgspec.Struct, frozen=True, kw_only=True):
    """One explicit requirement a successful conversation meets.

    Attributes:
        id: unique within the task (``"c0"``, ``"c1"``, ...).
        family: the kind of requirement (``"cancel_pending_order"``, ``"refuse_cancel_reservation"``,
            ``"inform_order_status"``, ...); each domain documents its families.
        intent: change, inform or refuse.
        targets: the records the constraint is about.
        params: the explicit parameters in plain data (ids, reason, item ids, payment method id, ...),
            for people and renderers; the verifier does not read them.
        writes: for CHANGE, the canonical write calls that satisfy it, in order. The verifier
            derives the expected final records from them; any other path to the same records counts.
        answers: for INFORM, the facts the agent must state, each as a tuple of acceptable spellings.
        forbidden_calls: for REFUSE, the write tools the agent must not call on the targets.
        rule: for REFUSE, the policy rule that forbids the request, in a sentence.
    """

    id: str
    family: str
    intent: Intent
    targets: tuple[Ref, ...]
    params: dict[str, Any] = {}
    writes: tuple[Call, ...] = ()
    answers: tuple[tuple[str, ...], ...] = ()
    forbidden_calls: tuple[str, ...] = ()
    rule: str = ""


class FuzzyRef(msgspec.Struct, frozen=True, kw_only=True):
    """A natural description of one record, and the mapping back to it.

    Attributes:
        ref: the record it names.
        strategy: how it was made (``"email"``, ``"name_zip"``, ``"items"``, ``"brand_last_four"``, ...).
        text: the words the user is given (``"the order with the blue headphones"``).
        attributes: the facts the text uses, as plain data, for an independent resolver.
        scope: the record whose children it is resolved among (a user's orders), if any.
        difficulty: 0 for an explicit id, higher for vaguer descriptions.
    """

    ref: Ref
    strategy: str
    text: str
    attributes: dict[str, Any]
    scope: Ref | None = None
    difficulty: int = 0


class UserInstruction(msgspec.Struct, frozen=True, kw_only=True):
    """What the user simulator is told, in tau2's four parts.

    Attributes:
        reason_for_call: why the user is calling, in their words.
        known_info: what the user knows (fuzzy descriptions, never hidden ids).
        unknown_info: what the user does not know and must not make up.
        task_instructions: what the user wants, in which order to reveal it, and how to react.
    """

    reason_for_call: str
    known_info: str
    unknown_info: str
    task_instructions: str


class Difficulty(msgspec.Struct, frozen=True, kw_only=True):
    """The knobs a task was sampled with."""

    constraints: int
    fuzziness: int
    refusals: int = 0


class Task(msgspec.Struct, frozen=True, kw_only=True):
    """A CoVe task: solvable by construction, graded against its explicit constraints.

    Attributes:
        task_id: unique within a task file (``"retail-s0-000042"``).
        domain: ``"retail"`` or ``"airline"``.
        world: which world it was sampled from (``"synthetic:seed=0"``, ``"tau2"``).
        user: the user record the conversation is about.
        constraints: the explicit requirements.
        fuzzy: the descriptions the user is given, with their mapping back.
        instruction: what the user simulator is told.
        plan: a canonical solution (reads and writes) that the sampler ran on a fresh sandbox
            and the verifier graded perfect: the proof that the task is solvable.
        difficulty: the knobs it was sampled with.
    """

    task_id: str
    domain: str
    world: str
    user: Ref
    constraints: tuple[Constraint, ...]
    fuzzy: tuple[FuzzyRef, ...]
    instruction: UserInstruction
    plan: tuple[Call, ...]
    difficulty: Difficulty
