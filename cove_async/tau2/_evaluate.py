"""tau2-bench's grading of one finished conversation on an imported tau2 task.

The reward follows tau2's ``evaluate_simulation`` (mode ``ALL``):

* **Gate.** A conversation that did not end by ``user_stop`` or ``agent_stop`` scores 0.
* **DB.** The trajectory's write calls that ran (those with a tool result; reads, generic tools
  and unknown names are skipped) are replayed on one fork of the snapshot, every golden action
  on another (failures ignored); DB is 1 exactly when the two states are equal.
* **COMMUNICATE.** Each ``communicate_info`` string, lower-cased, must occur in the text of some
  assistant message after that text is lower-cased and stripped of commas.
* **NL_ASSERTION.** Judged by a :class:`Judge`, only when the reward depends on it. Without a
  judge it is reported as not evaluated and the reward as unknown (None): it is never passed
  silently.
* **ACTION.** Each golden action must match some tool call by name and ``compare_args``; a
  diagnostic, since no airline or retail task puts it in ``reward_basis``.

The reward is the product of the components in ``reward_basis``.
"""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Iterator, Sequence
from typing import Any, Literal, Protocol

import msgspec

from cove_async.chat import Message, TerminationReason, ToolCall, Trajectory
from cove_async.domains import Toolset
from cove_async.errors import ConfigError, CoveError
from cove_async.sandbox import Fork, Snapshot
from cove_async.tau2._hash import Tau2Hasher
from cove_async.tau2._metrics import is_successful
from cove_async.tau2._tasks import RewardType, Tau2Action, Tau2Task

__all__ = (
    "ActionCheck",
    "ActionResult",
    "CommunicateCheck",
    "CommunicateResult",
    "DbResult",
    "Judge",
    "NlCheck",
    "NlResult",
    "Status",
    "Tau2Verdict",
    "check_actions",
    "check_communicate",
    "check_db",
    "evaluate_tau2",
)

_STOP_REASONS = frozenset({TerminationReason.USER_STOP, TerminationReason.AGENT_STOP})


class Status(enum.Enum):
    """The outcome of one evaluation component."""

    PASS = "pass"
    FAIL = "fail"
    NOT_EVALUATED = "not_evaluated"


class DbResult(msgspec.Struct, frozen=True, kw_only=True):
    """The database check.

    Attributes:
        status: PASS when the replayed states are equal.
        reward: 1.0 or 0.0.
        hash_kind: ``"tau2"`` when the hashes are tau2's whole-DB hash (comparable with the hashes
            tau2 prints), ``"changes"`` when they digest the changed records only (cheaper; equal
            exactly when the tau2 hashes are); None when nothing was replayed.
        predicted_hash: the state after the trajectory's writes.
        gold_hash: the state after the golden actions.
        replayed_writes: how many of the trajectory's write calls were replayed.
        failed_gold_writes: ids of golden write actions that returned an error (tau2 ignores
            them; the gold state then lacks what they asked for).
        replay_mismatches: ids of replayed calls whose output differs from the recorded tool
            message (tau2 aborts such a run: the conversation saw another world than the replay).
        unanswered_writes: ids of write calls with no tool result, which therefore never ran
            and are not replayed.
    """

    status: Status
    reward: float
    hash_kind: Literal["tau2", "changes"] | None = None
    predicted_hash: str | None = None
    gold_hash: str | None = None
    replayed_writes: int = 0
    failed_gold_writes: tuple[str, ...] = ()
    replay_mismatches: tuple[str, ...] = ()
    unanswered_writes: tuple[str, ...] = ()


class CommunicateCheck(msgspec.Struct, frozen=True, kw_only=True):
    """Whether one ``communicate_info`` string was said."""

    info: str
    met: bool


class CommunicateResult(msgspec.Struct, frozen=True, kw_only=True):
    """The COMMUNICATE component: 1.0 when every string was said (also when there are none)."""

    status: Status
    reward: float
    checks: tuple[CommunicateCheck, ...] = ()


class ActionCheck(msgspec.Struct, frozen=True, kw_only=True):
    """Whether one golden action was matched by a tool call of the trajectory."""

    action_id: str
    name: str
    matched: bool


class ActionResult(msgspec.Struct, frozen=True, kw_only=True):
    """The ACTION component: the share of golden actions matched (1.0 when there are none)."""

    status: Status
    reward: float
    checks: tuple[ActionCheck, ...] = ()


class NlCheck(msgspec.Struct, frozen=True, kw_only=True):
    """One natural-language assertion and the judge's verdict (None: not judged)."""

    assertion: str
    met: bool | None


class NlResult(msgspec.Struct, frozen=True, kw_only=True):
    """The NL_ASSERTION component; ``reward`` is None when it was not evaluated."""

    status: Status
    reward: float | None
    checks: tuple[NlCheck, ...] = ()


class Tau2Verdict(msgspec.Struct, frozen=True, kw_only=True):
    """tau2's grade of one conversation, with every component and why the reward is what it is.

    Attributes:
        task_id: the graded task.
        termination: how the conversation ended.
        gate_passed: whether it ended by ``user_stop`` or ``agent_stop``; if not, the reward is 0.
        reward_basis: the components the reward is the product of.
        reward: tau2's reward; None when it depends on a component that was not evaluated
            (NL_ASSERTION without a judge) and no other component already made it 0.
        db_reward: the reward counting the DB component alone (still gated), always known.
        db: the database check.
        communicate: the COMMUNICATE component (computed even when not in the basis, as tau2 does).
        nl_assertions: the NL_ASSERTION component.
        actions: the ACTION diagnostic.
        reasons: plain-language reasons for a reward below 1 or unknown, and replay anomalies.
    """

    task_id: str
    termination: TerminationReason
    gate_passed: bool
    reward_basis: tuple[RewardType, ...]
    reward: float | None
    db_reward: float
    db: DbResult
    communicate: CommunicateResult
    nl_assertions: NlResult
    actions: ActionResult
    reasons: tuple[str, ...] = ()

    @property
    def success(self) -> bool | None:
        """Whether the reward counts as a success (None when the reward is unknown)."""
        return None if self.reward is None else is_successful(self.reward)


class Judge(Protocol):
    """Decides natural-language assertions about a conversation (an LLM, in tau2)."""

    async def judge(self, messages: Sequence[Message], assertions: Sequence[str]) -> Sequence[bool]:
        """One verdict per assertion, in order: whether the conversation satisfies it.

        Args:
            messages: the whole conversation.
            assertions: the task's ``nl_assertions``.
        """
        ...


def _executed_calls(messages: Sequence[Message]) -> Iterator[tuple[ToolCall, Message | None]]:
    """Each tool call with the tool message that answered it (None if none did).

    Answers are the tool messages right after the calling message, matched by id; an id an
    inference server reuses in a later turn therefore still pairs correctly.
    """
    index, count = 0, len(messages)
    while index < count:
        message = messages[index]
        index += 1
        if not message.tool_calls:
            continue
        answers: dict[str | None, Message] = {}
        while index < count and messages[index].role == "tool":
            answers.setdefault(messages[index].tool_call_id, messages[index])
            index += 1
        for call in message.tool_calls:
            yield call, answers.get(call.id)


def _same_output(replayed: str, recorded: str | None) -> bool:
    # tau2 compares the two outputs as JSON values when both parse, as text otherwise.
    def value(text: str | None) -> Any:
        try:
            return json.loads(text) if text is not None else None
        except ValueError:
            return text

    return bool(value(replayed) == value(recorded))


def _gold_fork(actions: Sequence[Tau2Action], snapshot: Snapshot, toolset: Toolset) -> tuple[Fork, list[str]]:
    gold = snapshot.fork()
    failed = []
    for action in actions:
        # The domains have no user-side tools: tau2 fails such an action, which changes nothing.
        if action.requestor != "assistant":
            continue
        error = toolset.replay(gold, action.name, action.arguments)
        if error is not None and toolset.is_write(action.name):
            failed.append(action.action_id)
    return gold, failed


def check_db(
    task: Tau2Task,
    messages: Sequence[Message],
    snapshot: Snapshot,
    toolset: Toolset,
    *,
    hasher: Tau2Hasher | None = None,
) -> DbResult:
    """tau2's DB check: replay the trajectory's writes and the golden actions, compare the states.

    Args:
        task: the graded task.
        messages: the conversation.
        snapshot: the world the conversation started from (tau2's ``db.json``).
        toolset: the domain's tools.
        hasher: compare tau2's whole-DB hashes (made by this hasher) instead of the change-set
            digests of the two forks; both give the same verdict, the change-set digests cheaper.
    """
    criteria = task.evaluation_criteria
    if criteria is None or criteria.actions is None:
        # tau2 skips the replay when there is nothing to replay the gold state from.
        return DbResult(status=Status.PASS, reward=1.0)
    predicted = snapshot.fork()
    replayed = 0
    mismatches = []
    unanswered = []
    for call, answer in _executed_calls(messages):
        if not toolset.is_write(call.function.name):
            continue
        if answer is None:
            unanswered.append(call.id)
            continue
        result = toolset.execute(predicted, call.function.name, call.function.arguments)
        replayed += 1
        if not _same_output(result.content, answer.content):
            mismatches.append(call.id)
    gold, failed = _gold_fork(criteria.actions, snapshot, toolset)
    if hasher is None:
        kind: Literal["tau2", "changes"] = "changes"
        predicted_hash, gold_hash = predicted.state_hash(), gold.state_hash()
    else:
        kind = "tau2"
        predicted_hash, gold_hash = hasher.hash(predicted), hasher.hash(gold)
    match = predicted_hash == gold_hash
    return DbResult(
        status=Status.PASS if match else Status.FAIL,
        reward=1.0 if match else 0.0,
        hash_kind=kind,
        predicted_hash=predicted_hash,
        gold_hash=gold_hash,
        replayed_writes=replayed,
        failed_gold_writes=tuple(failed),
        replay_mismatches=tuple(mismatches),
        unanswered_writes=tuple(unanswered),
    )


def check_communicate(task: Tau2Task, messages: Sequence[Message]) -> CommunicateResult:
    """tau2's COMMUNICATE check over the assistant messages of ``messages``.

    The info string is only lower-cased while the message also loses its commas, exactly as in
    tau2, so an info string holding a comma can never be found.
    """
    infos = task.evaluation_criteria.communicate_info if task.evaluation_criteria is not None else None
    if not infos:
        return CommunicateResult(status=Status.PASS, reward=1.0)
    # tau2 reads assistant messages with text; empty or whitespace-only text says nothing.
    said = [
        m.content.lower().replace(",", "")
        for m in messages
        if m.role == "assistant" and m.content is not None and m.content.strip()
    ]
    checks = tuple(CommunicateCheck(info=info, met=any(info.lower() in text for text in said)) for info in infos)
    met = all(check.met for check in checks)
    return CommunicateResult(status=Status.PASS if met else Status.FAIL, reward=1.0 if met else 0.0, checks=checks)


def _arguments(call: ToolCall) -> dict[str, Any] | None:
    try:
        value = json.loads(call.function.arguments)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _matches(action: Tau2Action, name: str, arguments: dict[str, Any]) -> bool:
    if action.name != name:
        return False
    # With compare_args unset tau2 compares the arguments the *call* has, so a call that omits an
    # argument still matches on the rest; kept for parity, it is only a diagnostic.
    keys = arguments.keys() if action.compare_args is None else action.compare_args
    called = {k: v for k, v in arguments.items() if k in keys}
    expected = {k: v for k, v in action.arguments.items() if k in keys}
    return called == expected


def check_actions(task: Tau2Task, messages: Sequence[Message]) -> ActionResult:
    """tau2's ACTION check: is each golden action matched by some tool call (any order, extras allowed)?"""
    actions = task.evaluation_criteria.actions if task.evaluation_criteria is not None else None
    if not actions:
        return ActionResult(status=Status.PASS, reward=1.0)
    calls = []
    for message in messages:
        for call in message.tool_calls:
            arguments = _arguments(call)
            if arguments is not None:
                calls.append((call.function.name, arguments))
    checks = tuple(
        ActionCheck(
            action_id=action.action_id,
            name=action.name,
            matched=any(_matches(action, name, arguments) for name, arguments in calls),
        )
        for action in actions
    )
    matched = sum(check.matched for check in checks)
    return ActionResult(
        status=Status.PASS if matched == len(checks) else Status.FAIL,
        reward=matched / len(checks),
        checks=checks,
    )


async def _check_nl(
    task: Tau2Task, messages: Sequence[Message], judge: Judge | None, *, needed: bool, gate_passed: bool
) -> tuple[NlResult, str | None]:
    """The NL_ASSERTION component and, when it is not a pass, why."""
    assertions = task.evaluation_criteria.nl_assertions if task.evaluation_criteria is not None else None
    if not assertions:
        # tau2 scores a task without assertions 1 with no judge call.
        return NlResult(status=Status.PASS, reward=1.0), None
    unjudged = tuple(NlCheck(assertion=a, met=None) for a in assertions)
    if not needed:
        return NlResult(status=Status.NOT_EVALUATED, reward=None, checks=unjudged), None
    if not gate_passed:
        # The reward is 0 whatever the judge says; spare the call.
        return NlResult(status=Status.NOT_EVALUATED, reward=None, checks=unjudged), None
    if judge is None:
        return (
            NlResult(status=Status.NOT_EVALUATED, reward=None, checks=unjudged),
            "NL_ASSERTION not evaluated: no judge configured, so the reward is unknown",
        )
    try:
        verdicts = list(await judge.judge(messages, assertions))
    except CoveError as exc:
        # A judge that could not answer (backend down, unreadable reply) decides nothing.
        return (
            NlResult(status=Status.NOT_EVALUATED, reward=None, checks=unjudged),
            f"NL_ASSERTION not evaluated: the judge failed: {exc}",
        )
    if len(verdicts) != len(assertions):
        # tau2 passes a short or empty judge reply (all([]) is True); we refuse to.
        return (
            NlResult(status=Status.NOT_EVALUATED, reward=None, checks=unjudged),
            f"NL_ASSERTION not evaluated: the judge returned {len(verdicts)} verdicts for {len(assertions)} assertions",
        )
    checks = tuple(NlCheck(assertion=a, met=bool(v)) for a, v in zip(assertions, verdicts, strict=True))
    if all(verdicts):
        return NlResult(status=Status.PASS, reward=1.0, checks=checks), None
    failed = "; ".join(repr(c.assertion) for c in checks if not c.met)
    return NlResult(status=Status.FAIL, reward=0.0, checks=checks), f"NL_ASSERTION failed: {failed}"


def _combine(values: Sequence[float | None]) -> float | None:
    """The product, where an unknown factor makes it unknown unless a known factor is 0."""
    known = [v for v in values if v is not None]
    if any(v == 0.0 for v in known):
        return 0.0
    if len(known) < len(values):
        return None
    return math.prod(known)


async def evaluate_tau2(
    task: Tau2Task,
    trajectory: Trajectory,
    snapshot: Snapshot,
    toolset: Toolset,
    *,
    judge: Judge | None = None,
    hasher: Tau2Hasher | None = None,
) -> Tau2Verdict:
    """Grade a finished conversation the way tau2-bench grades it.

    Args:
        task: the tau2 task the conversation was run on.
        trajectory: the conversation and how it ended.
        snapshot: the world it started from (tau2's ``db.json`` of the task's domain).
        toolset: the domain's tools.
        judge: decides NL assertions; without one, a reward that depends on them is None.
        hasher: compare tau2's whole-DB hashes instead of change-set digests (same verdict,
            hashes comparable with tau2's own).

    Returns:
        The verdict, with each component, the reward, the DB-only reward and the reasons.

    Raises:
        ConfigError: the task asks for a component this evaluator does not implement
            (ENV_ASSERTION).
        Exception: whatever ``judge.judge`` raises other than a :class:`CoveError` propagates; a
            ``CoveError`` (such as ``JudgeError``) makes NL_ASSERTION not evaluated, never a pass.
    """
    criteria = task.evaluation_criteria
    basis = tuple(dict.fromkeys(criteria.reward_basis)) if criteria is not None else ()
    if RewardType.ENV_ASSERTION in basis:
        raise ConfigError(f"task {task.id!r}: ENV_ASSERTION rewards are not supported")
    messages = trajectory.messages
    gate_passed = trajectory.termination in _STOP_REASONS
    reasons: list[str] = []
    if not gate_passed:
        reasons.append(f"ended by {trajectory.termination.value}: tau2 scores 0 unless user_stop or agent_stop")

    db = check_db(task, messages, snapshot, toolset, hasher=hasher)
    communicate = check_communicate(task, messages)
    actions = check_actions(task, messages)
    nl, nl_reason = await _check_nl(
        task, messages, judge, needed=RewardType.NL_ASSERTION in basis, gate_passed=gate_passed
    )

    if db.status is Status.FAIL:
        reasons.append("DB: the state after the trajectory's writes differs from the state after the golden actions")
    if db.replay_mismatches:
        reasons.append(f"DB: replayed calls {list(db.replay_mismatches)} gave other outputs than the conversation saw")
    if db.unanswered_writes:
        reasons.append(f"DB: write calls {list(db.unanswered_writes)} have no tool result and were not replayed")
    if RewardType.COMMUNICATE in basis and communicate.status is Status.FAIL:
        missing = [c.info for c in communicate.checks if not c.met]
        reasons.append(f"COMMUNICATE: not said by the agent: {missing}")
    if nl_reason is not None:
        reasons.append(nl_reason)
    if RewardType.ACTION in basis and actions.status is Status.FAIL:
        missing = [c.action_id for c in actions.checks if not c.matched]
        reasons.append(f"ACTION: golden actions not matched: {missing}")

    components: dict[RewardType, float | None] = {
        RewardType.DB: db.reward,
        RewardType.COMMUNICATE: communicate.reward,
        RewardType.NL_ASSERTION: nl.reward,
        RewardType.ACTION: actions.reward,
    }
    reward = _combine([components[b] for b in basis]) if gate_passed else 0.0
    return Tau2Verdict(
        task_id=task.id,
        termination=trajectory.termination,
        gate_passed=gate_passed,
        reward_basis=basis,
        reward=reward,
        db_reward=db.reward if gate_passed else 0.0,
        db=db,
        communicate=communicate,
        nl_assertions=nl,
        actions=actions,
        reasons=tuple(reasons),
    )
