"""A task's canonical plan as a conversation: the proof that the task is solvable."""

from __future__ import annotations

import json

from cove_async.chat import GREETING, Message, TerminationReason, Trajectory, tool_exchange
from cove_async.domains import Toolset
from cove_async.sandbox import Snapshot
from cove_async.tasks import Intent, Task

__all__ = ("plan_trajectory",)


def plan_trajectory(task: Task, snapshot: Snapshot, toolset: Toolset) -> Trajectory:
    """The conversation in which an agent follows ``task.plan`` exactly.

    Each planned call becomes an assistant tool call answered by its real result on a fresh fork,
    each write preceded by the agent asking for confirmation and the user agreeing, as the
    policies require; then the agent states every fact the task asks for (the first spelling of
    each) and the user stops. If the verifier grades this conversation perfect, the task is
    solvable.
    """
    fork = snapshot.fork()
    messages = [
        Message(role="assistant", content=GREETING),
        Message(role="user", content=task.instruction.reason_for_call),
    ]
    for i, call in enumerate(task.plan):
        arguments = json.dumps(call.arguments)
        if toolset.is_write(call.name):
            # Asked without naming the tool or its arguments, so the question cannot state a fact for the agent.
            messages.append(Message(role="assistant", content="May I make this change? Confirm?"))
            messages.append(Message(role="user", content="Yes."))
        result = toolset.execute(fork, call.name, call.arguments)
        messages += tool_exchange(f"call_{i}", call.name, arguments, result.content)
    facts = [fact[0] for c in task.constraints if c.intent is Intent.INFORM for fact in c.answers]
    closing = "Here is what you asked about: " + "; ".join(facts) + "." if facts else "Everything is done."
    messages.append(Message(role="assistant", content=closing))
    messages.append(Message(role="user", content="###STOP###"))
    return Trajectory(messages=tuple(messages), termination=TerminationReason.USER_STOP)
