"""The CoVe verifier: grade a conversation against a task's explicit constraints.

``compile_task`` once per task, then ``verify`` each conversation; ``plan_trajectory`` turns a
task's canonical plan into the conversation that proves the task solvable.
"""

from cove_async.verify._plan import plan_trajectory
from cove_async.verify._verdict import (
    ASSENT,
    ConstraintVerdict,
    FieldChange,
    RewardShaping,
    Verdict,
    WriteOutcome,
    WriteVerdict,
)
from cove_async.verify._verifier import Expectation, TaskError, compile_task, verify

__all__ = (
    "ASSENT",
    "ConstraintVerdict",
    "Expectation",
    "FieldChange",
    "RewardShaping",
    "TaskError",
    "Verdict",
    "WriteOutcome",
    "WriteVerdict",
    "compile_task",
    "plan_trajectory",
    "verify",
)
