"""tau2 benchmark tasks as CoVe tasks, so the engine and the daemon can play them.

The conversion keeps what tau2 grades deterministically: the golden writes become one change
constraint (the CoVe verifier then expects exactly the fields they change, as tau2's DB check
expects exactly their final state) and ``communicate_info`` becomes an information constraint
(checked as whole words, where tau2 checks substrings). NL assertions are not carried over:
grade those with :func:`cove_async.tau2.evaluate_tau2` and a judge. Tasks whose golden actions
include no write and list no information become tasks with no constraints, which only a proper
stop without changes passes, as in tau2 where ``actions`` is an empty list.

A few golden actions fail in tau2's own world (two retail tasks exchange items of an order that
is not delivered, or beyond a gift card's balance); tau2 ignores them, since they change
nothing, and so does the conversion: only the writes that succeed on a fresh fork become the
constraint. Two retail tasks write an address and later overwrite it; the CoVe verifier counts
the first write as redundant, so their golden path is not perfect under CoVe rules although its
final state is what tau2 expects.
"""

from __future__ import annotations

from cove_async.domains import Toolset
from cove_async.sandbox import Snapshot
from cove_async.tasks import Call, Constraint, Difficulty, Intent, Ref, Task, UserInstruction
from cove_async.tau2._tasks import Tau2Instructions, Tau2Task

__all__ = ("as_cove_task",)


def as_cove_task(task: Tau2Task, domain: str, toolset: Toolset, snapshot: Snapshot) -> Task:
    """The CoVe task that plays ``task`` in tau2's own world (``world="tau2"``).

    Args:
        task: a task from tau2's ``tasks.json``.
        domain: its domain.
        toolset: the domain's tools (they tell writes from reads).
        snapshot: tau2's world, on which the golden actions are run to drop the ones that fail.
    """
    criteria = task.evaluation_criteria
    actions = [a for a in (criteria.actions or ()) if a.requestor == "assistant"] if criteria is not None else []
    fork = snapshot.fork()
    plan = tuple(
        Call(name=a.name, arguments=a.arguments)
        for a in actions
        if toolset.replay(fork, a.name, a.arguments) is None or not toolset.is_write(a.name)
    )
    writes = tuple(call for call in plan if toolset.is_write(call.name))
    constraints: list[Constraint] = []
    if writes:
        constraints.append(
            Constraint(
                id=f"c{len(constraints)}",
                family="tau2_golden_writes",
                intent=Intent.CHANGE,
                targets=(),
                params={"tau2_task_id": task.id},
                writes=writes,
            )
        )
    facts = criteria.communicate_info if criteria is not None else None
    if facts:
        constraints.append(
            Constraint(
                id=f"c{len(constraints)}",
                family="tau2_communicate",
                intent=Intent.INFORM,
                targets=(),
                params={"tau2_task_id": task.id},
                answers=tuple((fact,) for fact in facts),
            )
        )
    user_id = next((str(a.arguments["user_id"]) for a in actions if "user_id" in a.arguments), "")
    return Task(
        task_id=f"tau2-{domain}-{task.id}",
        domain=domain,
        world="tau2",
        user=Ref(kind="users", key=user_id),
        constraints=tuple(constraints),
        fuzzy=(),
        instruction=_instruction(task),
        plan=plan,
        difficulty=Difficulty(constraints=len(constraints), fuzziness=0),
    )


def _instruction(task: Tau2Task) -> UserInstruction:
    brief = task.user_scenario.instructions
    if isinstance(brief, Tau2Instructions):
        return UserInstruction(
            reason_for_call=brief.reason_for_call,
            known_info=brief.known_info or "",
            unknown_info=brief.unknown_info or "",
            task_instructions=brief.task_instructions,
        )
    return UserInstruction(reason_for_call=brief, known_info="", unknown_info="", task_instructions="")
