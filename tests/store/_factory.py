"""Small, valid records for store tests: a task with one change constraint and a matching verdict."""

from __future__ import annotations

from cove_async.chat import Message, TerminationReason, tool_exchange
from cove_async.store import Models, Seeds, TrajectoryRecord, TurnStats, Usage
from cove_async.tasks import Call, Constraint, Difficulty, Intent, Ref, Task, UserInstruction
from cove_async.verify import ConstraintVerdict, Verdict

TOOLS = (
    {
        "type": "function",
        "function": {
            "name": "cancel_pending_order",
            "description": "Cancel a pending order.",
            "parameters": {
                "type": "object",
                "properties": {"order_id": {"type": "string"}, "reason": {"type": "string"}},
                "required": ["order_id", "reason"],
            },
        },
    },
)

INSTRUCTION = UserInstruction(
    reason_for_call="You want to cancel the order with the blue headphones.",
    known_info="You are Ana Lee, zip 10001.",
    unknown_info="You do not know the order id.",
    task_instructions="Ask to cancel; the reason is that you no longer need it.",
)


def constraint(task_id: str) -> Constraint:
    return Constraint(
        id="c0",
        family="cancel_pending_order",
        intent=Intent.CHANGE,
        targets=(Ref(kind="orders", key=f"#W{task_id}"),),
        writes=(
            Call(name="cancel_pending_order", arguments={"order_id": f"#W{task_id}", "reason": "no longer needed"}),
        ),
    )


def task(task_id: str) -> Task:
    return Task(
        task_id=task_id,
        domain="retail",
        world="synthetic:seed=0",
        user=Ref(kind="users", key="ana_lee_1"),
        constraints=(constraint(task_id),),
        fuzzy=(),
        instruction=INSTRUCTION,
        plan=constraint(task_id).writes,
        difficulty=Difficulty(constraints=1, fuzziness=1),
    )


def verdict(task_id: str, *, perfect: bool) -> Verdict:
    return Verdict(
        task_id=task_id,
        constraints=(
            ConstraintVerdict(
                id="c0",
                family="cancel_pending_order",
                satisfied=perfect,
                reasons=() if perfect else ("order was not cancelled",),
            ),
        ),
        writes=(),
        redundant=0,
        failed_writes=0,
        collateral=(),
        terminated_ok=True,
        termination="user_stop",
        score=1.0 if perfect else 0.0,
        perfect=perfect,
    )


def record(run_id: str, task_id: str, sample_index: int, *, perfect: bool = True, pad: int = 0) -> TrajectoryRecord:
    """A finished episode; ``pad`` adds that many characters to a user message (bigger lines)."""
    call, result = tool_exchange(
        f"call_{sample_index}",
        "cancel_pending_order",
        f'{{"order_id": "#W{task_id}", "reason": "no longer needed"}}',
        "{}",
    )
    messages = (
        Message(role="assistant", content="Hi! How can I help you today?"),
        Message(role="user", content="I want to cancel an order." + " " * pad),
        call,
        result,
        Message(role="assistant", content="Done: the order is cancelled."),
        Message(role="user", content="Thanks! ###STOP###"),
    )
    turns = (
        TurnStats(role="user", message_index=1, latency_s=0.5, prompt_tokens=100, completion_tokens=10, seed=7),
        TurnStats(role="agent", message_index=2, latency_s=0.25, ttft_s=0.05, prompt_tokens=300, completion_tokens=20),
    )
    return TrajectoryRecord(
        run_id=run_id,
        task_id=task_id,
        sample_index=sample_index,
        episode_id=f"{task_id}/{sample_index}",
        domain="retail",
        perfect=perfect,
        score=1.0 if perfect else 0.0,
        termination_reason=TerminationReason.USER_STOP,
        messages=messages,
        tools=TOOLS,
        system_prompt="You are a retail agent. Follow the policy.",
        world="synthetic:seed=0",
        constraints=(constraint(task_id),),
        instruction=INSTRUCTION,
        difficulty=Difficulty(constraints=1, fuzziness=1),
        verdict=verdict(task_id, perfect=perfect),
        turns=turns,
        usage=Usage.of(turns),
        seeds=Seeds(run=0, world=0),
        models=Models(agent="scripted-agent", user="scripted-user"),
        tool_calls=1,
    )


def config(**overrides: object) -> dict[str, object]:
    """A run config: result-affecting keys plus ``concurrency`` (declared volatile by the tests)."""
    base: dict[str, object] = {
        "domain": "retail",
        "tasks": 5,
        "samples": 2,
        "seed": 0,
        "agent": "scripted",
        "concurrency": 8,
    }
    base.update(overrides)
    return base


VOLATILE = ("concurrency",)
