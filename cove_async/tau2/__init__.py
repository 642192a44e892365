"""tau2-bench's own evaluation of imported tau2 tasks: task files, grading, pass^k.

``load_tau2_tasks`` reads a domain's ``tasks.json``; ``evaluate_tau2`` grades one finished
conversation exactly as tau2 does (gate, DB replay, COMMUNICATE, NL assertions through a
:class:`Judge`, ACTION as a diagnostic); ``tau2_metrics`` turns verdicts into average reward and
pass^k. Layering: ``_types`` and ``_tasks`` (data) → ``_hash`` and ``_metrics`` → ``_evaluate`` →
``_oracle``.
"""

from cove_async.chat import FunctionCall, Message, TerminationReason, ToolCall, Trajectory
from cove_async.tau2._convert import as_cove_task
from cove_async.tau2._evaluate import (
    ActionCheck,
    ActionResult,
    CommunicateCheck,
    CommunicateResult,
    DbResult,
    Judge,
    NlCheck,
    NlResult,
    Status,
    Tau2Verdict,
    check_actions,
    check_communicate,
    check_db,
    evaluate_tau2,
)
from cove_async.tau2._hash import Tau2Hasher
from cove_async.tau2._judge import JUDGE_SYSTEM_PROMPT, JudgeError, JudgeVerdict, LLMJudge, render_transcript
from cove_async.tau2._metrics import Tau2Metrics, is_successful, pass_hat_k, pass_hat_ks, tau2_metrics
from cove_async.tau2._oracle import golden_trajectory
from cove_async.tau2._tasks import (
    RewardType,
    Tau2Action,
    Tau2Criteria,
    Tau2Description,
    Tau2Instructions,
    Tau2Scenario,
    Tau2Task,
    load_tau2_tasks,
)

__all__ = (
    # conversations
    "FunctionCall",
    "Message",
    "TerminationReason",
    "ToolCall",
    "Trajectory",
    # tasks
    "RewardType",
    "Tau2Action",
    "Tau2Criteria",
    "Tau2Description",
    "Tau2Instructions",
    "Tau2Scenario",
    "Tau2Task",
    "load_tau2_tasks",
    # grading
    "ActionCheck",
    "ActionResult",
    "CommunicateCheck",
    "CommunicateResult",
    "DbResult",
    "Judge",
    "as_cove_task",
    "JUDGE_SYSTEM_PROMPT",
    "JudgeError",
    "JudgeVerdict",
    "LLMJudge",
    "render_transcript",
    "NlCheck",
    "NlResult",
    "Status",
    "Tau2Hasher",
    "Tau2Verdict",
    "check_actions",
    "check_communicate",
    "check_db",
    "evaluate_tau2",
    "golden_trajectory",
    # metrics
    "Tau2Metrics",
    "is_successful",
    "pass_hat_k",
    "pass_hat_ks",
    "tau2_metrics",
)
