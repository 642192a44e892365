"""What the verifier says about a conversation, and how that becomes a reward."""

from __future__ import annotations

import enum
import re

import msgspec

__all__ = (
    "ASSENT",
    "ConstraintVerdict",
    "FieldChange",
    "RewardShaping",
    "Verdict",
    "WriteOutcome",
    "WriteVerdict",
)


class WriteOutcome(enum.Enum):
    """What one write call of the conversation amounted to.

    Checked in this order; the first that applies wins.
    """

    FAILED = "failed"
    """The tool refused it and nothing changed. Not redundant by default: the world is as before, and
    tau2 ignores failed writes too. Recorded, and priced by ``RewardShaping.failed_write_penalty``."""
    FORBIDDEN = "forbidden"
    """A write the task's refusal constraint forbids, attempted on its record. Judged by that constraint."""
    DUPLICATE = "duplicate"
    """The same tool with the same arguments as an earlier successful write."""
    NO_EFFECT = "no_effect"
    """It succeeded but changed nothing (it wrote the values that were already there)."""
    UNDONE = "undone"
    """Every change it made was overwritten or reverted later in the conversation."""
    UNREQUIRED = "unrequired"
    """Its lasting changes are to fields no constraint asked to change."""
    PRODUCTIVE = "productive"
    """It made a lasting change that a constraint asked for."""


ASSENT = re.compile(
    r"\b(yes|yeah|yep|sure|confirm(ed)?|go ahead|proceed|please do|correct|that's right|ok|okay)\b", re.IGNORECASE
)
"""Words by which a user agrees to a pending action.

The policies of both domains require the user's explicit yes before a consequential write.
A write counts as confirmed when the last user message before it contains one of these words:
a cheap, deterministic proxy that any agent which asks and waits satisfies, and that catches an
agent writing straight after a request (which carries no assent). Scripted users never use
these words except to confirm.
"""

REDUNDANT = frozenset({WriteOutcome.DUPLICATE, WriteOutcome.NO_EFFECT, WriteOutcome.UNDONE, WriteOutcome.UNREQUIRED})


class WriteVerdict(msgspec.Struct, frozen=True, kw_only=True):
    """One write call and what it amounted to."""

    message_index: int
    name: str
    arguments: str
    outcome: WriteOutcome
    changed: tuple[str, ...] = ()
    """The fields it changed, as ``kind/key/path``."""
    confirmed: bool = True
    """Whether the user had agreed (see :data:`ASSENT`) when it was made; failed writes always are."""


class ConstraintVerdict(msgspec.Struct, frozen=True, kw_only=True):
    """Whether one constraint holds, and why not."""

    id: str
    family: str
    satisfied: bool
    reasons: tuple[str, ...] = ()


class FieldChange(msgspec.Struct, frozen=True, kw_only=True):
    """A field the conversation changed that no constraint accounts for."""

    kind: str
    key: str
    path: str


class RewardShaping(msgspec.Struct, frozen=True, kw_only=True):
    """How a verdict becomes a score in [0, 1].

    ``score = satisfied / constraints - redundancy_penalty * redundant
    - collateral_penalty * collateral_records - failed_write_penalty * failed
    - unconfirmed_penalty * unconfirmed``, clipped to [0, 1], and 0 when the conversation did not
    end by a stop (the termination gate).

    The defaults: a perfect conversation scores 1 and only it does, so the SFT filter (``perfect``)
    and the RL reward agree at the top. Partial credit per constraint keeps a GRPO group from being
    all zeros on multi-intent tasks. Damage to records nobody asked about (collateral) costs more
    than a needless operation, because it changes the user's data; a failed write costs nothing by
    default since the world is unchanged and agents legitimately probe (tau2 ignores them too).
    A change made without the user's yes breaks the policy even when it is the right change, so it
    costs as much as a needless one; ``require_confirmation=False`` turns the check off (for
    agents trained under a policy that does not ask).
    """

    redundancy_penalty: float = 0.25
    collateral_penalty: float = 0.5
    failed_write_penalty: float = 0.0
    unconfirmed_penalty: float = 0.25
    require_confirmation: bool = True
    gate: bool = True


class Verdict(msgspec.Struct, frozen=True, kw_only=True):
    """The verifier's judgement of one conversation against one task.

    Attributes:
        task_id: the task graded.
        constraints: one verdict per constraint, in task order.
        writes: every write call of the conversation, classified.
        redundant: how many writes were redundant (duplicate, no effect, undone or unrequired).
        failed_writes: how many writes the tools refused without any change.
        unconfirmed_writes: how many successful writes were made without the user's yes.
        collateral: fields changed that no constraint accounts for.
        terminated_ok: the conversation ended by a user or agent stop.
        termination: how it ended.
        score: the reward under ``shaping``.
        perfect: every constraint satisfied, no redundant write, no collateral change, every write
            confirmed (when required), a proper stop.
    """

    task_id: str
    constraints: tuple[ConstraintVerdict, ...]
    writes: tuple[WriteVerdict, ...]
    redundant: int
    failed_writes: int
    unconfirmed_writes: int = 0
    collateral: tuple[FieldChange, ...]
    terminated_ok: bool
    termination: str
    score: float
    perfect: bool

    @property
    def satisfied(self) -> int:
        """How many constraints hold."""
        return sum(c.satisfied for c in self.constraints)

    def reasons(self) -> list[str]:
        """Every reason the conversation is not perfect, one line each."""
        out = [f"{c.id} ({c.family}): {r}" for c in self.constraints for r in c.reasons]
        out += [
            f"redundant write #{w.message_index} {w.name}: {w.outcome.value}"
            for w in self.writes
            if w.outcome in REDUNDANT
        ]
        out += [
            f"write #{w.message_index} {w.name} made without the user's confirmation"
            for w in self.writes
            if not w.confirmed
        ]
        out += [f"collateral change: {c.kind} {c.key} {c.path or '(new record)'}" for c in self.collateral]
        if not self.terminated_ok:
            out.append(f"ended by {self.termination}, not by a stop")
        return out
