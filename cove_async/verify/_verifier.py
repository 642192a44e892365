"""V(trajectory, constraints): deterministic grading of a conversation against a CoVe task.

Grading is outcome-based. A task is compiled once (:func:`compile_task`): its CHANGE constraints'
canonical writes run on a fresh fork, and the fields they change, with the values they end
with, become the expectation; each field belongs to the constraint whose writes change it. A
conversation is then graded (:func:`verify`) by replaying its write calls on another fresh fork
(recorded tool outputs are never trusted) and comparing fields: any sequence of calls that leaves
the expected values satisfies the constraint. Reads never matter. Everything is O(records
changed): the shared snapshot is never scanned.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cove_async.chat import Message, TerminationReason, Trajectory
from cove_async.domains import Toolset
from cove_async.errors import CoveError
from cove_async.sandbox import Fork, Snapshot
from cove_async.tasks import Constraint, Intent, Task
from cove_async.verify._fields import FieldValues, Slot, changed_paths, field_values, value_at
from cove_async.verify._verdict import (
    ASSENT,
    REDUNDANT,
    ConstraintVerdict,
    FieldChange,
    RewardShaping,
    Verdict,
    WriteOutcome,
    WriteVerdict,
)

__all__ = ("Expectation", "TaskError", "compile_task", "verify")

_STOPS = frozenset({TerminationReason.USER_STOP, TerminationReason.AGENT_STOP})


class TaskError(CoveError):
    """A task that cannot be graded: a canonical write fails, or changes nothing."""


@dataclass(slots=True)
class _Watch:
    """Field values of the records a fork has written, kept current call by call."""

    snapshot: Snapshot
    base_cache: dict[tuple[str, str], FieldValues]
    current: dict[tuple[str, str], FieldValues] = field(default_factory=dict)

    def base(self, kind: str, key: str) -> FieldValues:
        slot = (kind, key)
        values = self.base_cache.get(slot)
        if values is None:
            values = self.base_cache[slot] = field_values(self.snapshot.peek(self.snapshot.schema.kind(kind), key))
        return values

    def step(self, fork: Fork) -> dict[Slot, tuple[bytes | None, bytes | None]]:
        """What changed in ``fork`` since the last step, field by field."""
        effects: dict[Slot, tuple[bytes | None, bytes | None]] = {}
        for kind, key, record in fork.written():
            slot = (kind, key)
            before = self.current.get(slot)
            if before is None:
                before = self.base(kind, key)
            after = field_values(record)
            if after != before:
                for path, change in changed_paths(before, after).items():
                    effects[(kind, key, path)] = change
            self.current[slot] = after
        return effects

    def final_changes(self) -> dict[Slot, bytes | None]:
        """Every field that differs from the snapshot now, with its value."""
        out: dict[Slot, bytes | None] = {}
        for (kind, key), values in self.current.items():
            for path, (_, new) in changed_paths(self.base(kind, key), values).items():
                out[(kind, key, path)] = new
        return out

    def value(self, slot: Slot) -> bytes | None:
        kind, key, path = slot
        values = self.current.get((kind, key))
        return value_at(self.base(kind, key) if values is None else values, path)


@dataclass(slots=True)
class Expectation:
    """A task compiled for grading: which fields must end with which values, and whose they are."""

    task: Task
    snapshot: Snapshot
    toolset: Toolset
    expected: dict[Slot, bytes | None]
    owner: dict[Slot, str]
    owned: dict[str, list[Slot]]
    base_cache: dict[tuple[str, str], FieldValues] = field(default_factory=dict)

    def owner_of(self, slot: Slot) -> str | None:
        """The constraint that owns this field (a created record owns all of its fields)."""
        return self.owner.get(slot) or self.owner.get((slot[0], slot[1], ""))


def _run_writes(fork: Fork, toolset: Toolset, constraint: Constraint) -> None:
    for call in constraint.writes:
        error = toolset.replay(fork, call.name, call.arguments)
        if error is not None:
            raise TaskError(f"constraint {constraint.id}: canonical call {call.name} failed: {error}")


def compile_task(task: Task, snapshot: Snapshot, toolset: Toolset) -> Expectation:
    """Work out what a perfect conversation leaves behind, once per task.

    Raises:
        TaskError: a canonical write fails, changes nothing, or two constraints claim one field.
    """
    cache: dict[tuple[str, str], FieldValues] = {}
    owner: dict[Slot, str] = {}
    owned: dict[str, list[Slot]] = {}
    changes = [c for c in task.constraints if c.intent is Intent.CHANGE]
    for constraint in changes:
        alone = snapshot.fork()
        _run_writes(alone, toolset, constraint)
        watch = _Watch(snapshot, cache)
        watch.step(alone)
        slots = list(watch.final_changes())
        if not slots:
            raise TaskError(f"constraint {constraint.id}: its canonical writes change nothing")
        for slot in slots:
            if slot in owner and owner[slot] != constraint.id:
                raise TaskError(f"constraints {owner[slot]} and {constraint.id} both change {'/'.join(slot)}")
            owner[slot] = constraint.id
        owned[constraint.id] = slots
    if len(changes) != 1:  # a lone constraint's own run is already the whole plan
        together = snapshot.fork()
        for constraint in changes:
            _run_writes(together, toolset, constraint)
        watch = _Watch(snapshot, cache)
        watch.step(together)
    expected = {slot: watch.value(slot) for slot in owner}
    return Expectation(task, snapshot, toolset, expected, owner, owned, cache)


def _normalise(text: str) -> str:
    return text.lower().replace(",", "")


def _states(said: str, fact: str) -> bool:
    """Whether ``fact`` (normalised) appears in ``said`` as whole words.

    A bare substring test lets short facts pass by accident ("2" inside a reservation code,
    "available" inside "unavailable"), so the fact must not continue a word or number on
    either side. tau2's COMMUNICATE check, which :mod:`cove_async.tau2` keeps, is the plain
    substring test.
    """
    start = said.find(fact)
    while start != -1:
        end = start + len(fact)
        if (start == 0 or not said[start - 1].isalnum()) and (end == len(said) or not said[end].isalnum()):
            return True
        start = said.find(fact, start + 1)
    return False


def _targets_in(arguments: Any, keys: set[str]) -> bool:
    """Whether any argument value (at any depth) is one of ``keys``."""
    if isinstance(arguments, str):
        return arguments in keys
    if isinstance(arguments, dict):
        return any(_targets_in(v, keys) for v in arguments.values())
    if isinstance(arguments, list):
        return any(_targets_in(v, keys) for v in arguments)
    return False


def _decoded(arguments: str) -> Any:
    try:
        return json.loads(arguments)
    except ValueError:
        return None


def _assistant_text(messages: Iterable[Message]) -> str:
    return "\n".join(_normalise(m.content) for m in messages if m.role == "assistant" and m.content)


def verify(expectation: Expectation, trajectory: Trajectory, shaping: RewardShaping | None = None) -> Verdict:
    """Grade one conversation against its task. Pure: same inputs, same verdict.

    Args:
        expectation: the task, compiled by :func:`compile_task`.
        trajectory: the conversation; its write calls are replayed, its tool outputs ignored.
        shaping: how the verdict becomes a score (see :class:`RewardShaping`).
    """
    shaping = shaping or RewardShaping()
    task, toolset = expectation.task, expectation.toolset
    refusals = [c for c in task.constraints if c.intent is Intent.REFUSE]
    fork = expectation.snapshot.fork()
    watch = _Watch(expectation.snapshot, expectation.base_cache)

    # Replay, remembering what each write changed.
    replayed: list[_Replayed] = []
    assented = False  # whether the last user message agreed to something
    for index, message in enumerate(trajectory.messages):
        if message.role == "user":
            assented = ASSENT.search(message.content or "") is not None
        if message.role != "assistant":
            continue
        for call in message.tool_calls:
            name = call.function.name
            if not toolset.is_write(name):
                continue  # reads, generic tools and unknown names change nothing (tau2 skips them too)
            error = toolset.replay(fork, name, call.function.arguments)
            replayed.append((index, name, call.function.arguments, error is not None, watch.step(fork), assented))
    final = watch.final_changes()

    # Refusals: no forbidden call on a protected record, and the record unchanged.
    forbidden_events: dict[int, str] = {}
    constraint_reasons: dict[str, list[str]] = {c.id: [] for c in task.constraints}
    for constraint in refusals:
        keys = {ref.key for ref in constraint.targets}
        for i, (index, name, arguments, _error, _effects, _assented) in enumerate(replayed):
            if name in constraint.forbidden_calls and _targets_in(_decoded(arguments), keys):
                forbidden_events[i] = constraint.id
                constraint_reasons[constraint.id].append(
                    f"called {name} on {', '.join(sorted(keys))} (message {index})"
                )
        protected = {(ref.kind, ref.key) for ref in constraint.targets}
        touched = sorted({f"{k} {key}" for (k, key, _p) in final if (k, key) in protected})
        if touched:
            constraint_reasons[constraint.id].append(f"changed {', '.join(touched)}, which must stay as it was")

    # Changes: every owned field ends with its expected value.
    for constraint_id, slots in expectation.owned.items():
        for slot in slots:
            if watch.value(slot) != expectation.expected[slot]:
                what = "unchanged" if slot not in final else "has another value"
                constraint_reasons[constraint_id].append(f"{slot[0]} {slot[1]} {slot[2] or '(record)'} {what}")

    # Information: every fact stated in some assistant message.
    said = _assistant_text(trajectory.messages)
    for constraint in task.constraints:
        if constraint.intent is Intent.INFORM:
            for fact in constraint.answers:
                if not any(_states(said, _normalise(spelling)) for spelling in fact):
                    constraint_reasons[constraint.id].append(f"never told the user {fact[0]!r}")

    collateral = tuple(
        FieldChange(kind=k, key=key, path=path)
        for (k, key, path) in final
        if expectation.owner_of((k, key, path)) is None
    )

    writes = tuple(_classify(expectation, replayed, forbidden_events, watch))
    redundant = sum(w.outcome in REDUNDANT for w in writes)
    failed = sum(w.outcome is WriteOutcome.FAILED for w in writes)
    unconfirmed = sum(not w.confirmed for w in writes) if shaping.require_confirmation else 0
    verdicts = tuple(
        ConstraintVerdict(
            id=c.id, family=c.family, satisfied=not constraint_reasons[c.id], reasons=tuple(constraint_reasons[c.id])
        )
        for c in task.constraints
    )
    terminated_ok = trajectory.termination in _STOPS
    satisfied = sum(v.satisfied for v in verdicts)
    collateral_records = len({(c.kind, c.key) for c in collateral})
    score = satisfied / len(verdicts) if verdicts else 1.0
    score -= shaping.redundancy_penalty * redundant
    score -= shaping.collateral_penalty * collateral_records
    score -= shaping.failed_write_penalty * failed
    score -= shaping.unconfirmed_penalty * unconfirmed
    score = min(1.0, max(0.0, score))
    if shaping.gate and not terminated_ok:
        score = 0.0
    perfect = terminated_ok and satisfied == len(verdicts) and redundant == 0 and not collateral and not unconfirmed
    return Verdict(
        task_id=task.task_id,
        constraints=verdicts,
        writes=writes,
        redundant=redundant,
        failed_writes=failed,
        unconfirmed_writes=unconfirmed,
        collateral=collateral,
        terminated_ok=terminated_ok,
        termination=trajectory.termination.value,
        score=score,
        perfect=perfect,
    )


_Replayed = tuple[int, str, str, bool, dict[Slot, tuple[bytes | None, bytes | None]], bool]
"""A replayed write: message index, tool, arguments, error, what it changed, whether the user had agreed."""


def _classify(
    expectation: Expectation,
    replayed: list[_Replayed],
    forbidden_events: dict[int, str],
    watch: _Watch,
) -> Iterable[WriteVerdict]:
    seen: set[tuple[str, str]] = set()
    for i, (index, name, arguments, error, effects, assented) in enumerate(replayed):
        decoded = _decoded(arguments)
        identity = (name, json.dumps(decoded, sort_keys=True))
        if i in forbidden_events:
            outcome = WriteOutcome.FORBIDDEN
        elif error and not effects:
            outcome = WriteOutcome.FAILED
        elif identity in seen:
            outcome = WriteOutcome.DUPLICATE
        elif not effects:
            outcome = WriteOutcome.NO_EFFECT
        else:
            lasting = [slot for slot, (_old, new) in effects.items() if _survives(slot, new, watch)]
            if not lasting:
                outcome = WriteOutcome.UNDONE
            elif all(expectation.owner_of(slot) is None for slot in lasting):
                outcome = WriteOutcome.UNREQUIRED
            else:
                outcome = WriteOutcome.PRODUCTIVE
        if not error:
            seen.add(identity)
        yield WriteVerdict(
            message_index=index,
            name=name,
            arguments=arguments,
            outcome=outcome,
            changed=tuple("/".join(slot) for slot in effects),
            confirmed=assented or outcome is WriteOutcome.FAILED,
        )


def _survives(slot: Slot, value: bytes | None, watch: _Watch) -> bool:
    """Whether the value a write left in ``slot`` is still there at the end."""
    if slot[2] == "":
        return watch.value(slot) is not None  # a created record survives while it exists
    return watch.value(slot) == value
