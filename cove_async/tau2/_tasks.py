"""tau2-bench's benchmark tasks (``<domain>/tasks.json``) as msgspec Structs.

Only what evaluation and the user simulator read is typed; other keys tau2 adds over time
(``annotations``, ``issues``, ``ticket``...) are ignored, so newer task files still load. Task
features our evaluator cannot honour (an initial state, environment assertions) are refused at
load time rather than silently skipped: no airline or retail task uses them.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Any, Literal

import msgspec

from cove_async.errors import DataError

__all__ = (
    "RewardType",
    "Tau2Action",
    "Tau2Criteria",
    "Tau2Description",
    "Tau2Instructions",
    "Tau2Scenario",
    "Tau2Task",
    "load_tau2_tasks",
)


class RewardType(enum.Enum):
    """A component a task's reward can be the product of (tau2's ``RewardType``)."""

    DB = "DB"
    ENV_ASSERTION = "ENV_ASSERTION"
    NL_ASSERTION = "NL_ASSERTION"
    ACTION = "ACTION"
    COMMUNICATE = "COMMUNICATE"


class Tau2Action(msgspec.Struct, frozen=True, kw_only=True):
    """One golden tool call.

    ``compare_args`` narrows the ACTION check: None compares every argument, an empty list the
    name only.
    """

    action_id: str
    name: str
    arguments: dict[str, Any]
    requestor: Literal["assistant", "user"] = "assistant"
    info: str | None = None
    compare_args: tuple[str, ...] | None = None


class Tau2Criteria(msgspec.Struct, frozen=True, kw_only=True):
    """How a task is graded.

    ``actions`` None and ``[]`` differ in tau2: None skips the DB replay (DB scores 1), ``[]``
    demands that the agent changed nothing.
    """

    actions: tuple[Tau2Action, ...] | None = None
    env_assertions: list[Any] | None = None
    communicate_info: tuple[str, ...] | None = None
    nl_assertions: tuple[str, ...] | None = None
    # tau2's default when a task omits the key (every pre-1.0 task did).
    reward_basis: tuple[RewardType, ...] = (RewardType.DB, RewardType.COMMUNICATE)


class Tau2Instructions(msgspec.Struct, frozen=True, kw_only=True):
    """The user simulator's structured brief."""

    domain: str
    reason_for_call: str
    task_instructions: str
    known_info: str | None = None
    unknown_info: str | None = None


class Tau2Scenario(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the user simulator is told (instructions may also be plain text)."""

    instructions: Tau2Instructions | str
    persona: str | None = None


class Tau2Description(msgspec.Struct, frozen=True, kw_only=True):
    """Notes for people reading the task; never shown to either model."""

    purpose: str | None = None
    relevant_policies: str | None = None
    notes: str | None = None


class Tau2Task(msgspec.Struct, frozen=True, kw_only=True):
    """One tau2 benchmark task. ``evaluation_criteria`` None means tau2 scores every run 1."""

    id: str
    user_scenario: Tau2Scenario
    evaluation_criteria: Tau2Criteria | None = None
    description: Tau2Description | None = None
    initial_state: Any | None = None


def load_tau2_tasks(tau2_dir: str | Path, domain: str) -> list[Tau2Task]:
    """The tasks in ``<tau2_dir>/<domain>/tasks.json``, in file order.

    Args:
        tau2_dir: a tau2 data folder (holding ``airline/``, ``retail/``...).
        domain: the domain sub-folder to read.

    Raises:
        DataError: the file is missing or not JSON, a task does not fit the format (the message
            gives the file and the JSON path of the first bad value), two tasks share an id, a
            task belongs to another domain, or a task uses a feature this evaluator cannot
            grade (an initial state, environment assertions, an ENV_ASSERTION reward).
    """
    path = Path(tau2_dir) / domain / "tasks.json"
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read tau2 tasks {path}: {exc.strerror}") from exc
    try:
        tasks = msgspec.json.decode(data, type=list[Tau2Task])
    except msgspec.ValidationError as exc:
        raise DataError(f"{path}: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise DataError(f"{path} is not valid JSON: {exc}") from exc
    seen: set[str] = set()
    for index, task in enumerate(tasks):
        where = f"{path}: task {task.id!r} (at $[{index}])"
        if task.id in seen:
            raise DataError(f"{where}: duplicate task id")
        seen.add(task.id)
        instructions = task.user_scenario.instructions
        if isinstance(instructions, Tau2Instructions) and instructions.domain != domain:
            raise DataError(f"{where}: belongs to domain {instructions.domain!r}, not {domain!r}")
        if task.initial_state is not None:
            raise DataError(f"{where}: initial_state is not supported (no airline or retail task sets one)")
        criteria = task.evaluation_criteria
        if criteria is not None and (criteria.env_assertions or RewardType.ENV_ASSERTION in criteria.reward_basis):
            raise DataError(f"{where}: environment assertions are not supported (no airline or retail task has one)")
    return tasks
