"""A task's canonical plan as a conversation: the proof that the task is solvable."""

from __future__ import annotations

import json

from cove_async.chat import FunctionCall, Message, TerminationReason, ToolCall, Trajectory
from cove_async.domains import Toolset
from cove_async.sandbox import Snapshot
from cove_async.tasks import Intent, Task

__all__ = ("GREETING", "plan_trajectory")

GREETING = "Hi! How can I help you today?"
"""The agent's opening line, as in tau2."""


def plan_trajectory(task: Task, snapshot: Snapshot, toolset: Toolset) -> Trajectory:
    """The conversation in which an agent follows ``task.plan`` exactly.

    Each planned call becomes an assistant tool call answered by its real result on a fresh fork;
    then the agent states every fact the task asks for (the first spelling of each) and the
    user stops. If the verifier grades this conversation perfect, the task is solvable.
    """
    fork = snapshot.fork()
    messages = [
        Message(role="assistant", content=GREETING),
        Message(role="user", content=task.instruction.reason_for_call),
    ]
    for i, call in enumerate(task.plan):
        call_id = f"call_{i}"
        arguments = json.dumps(call.arguments)
        result = toolset.execute(fork, call.name, call.arguments)
        messages.append(
            Message(
                role="assistant",
                tool_calls=(ToolCall(id=call_id, function=FunctionCall(name=call.name, arguments=arguments)),),
            )
        )
        messages.append(Message(role="tool", tool_call_id=call_id, content=result.content))
    facts = [fact[0] for c in task.constraints if c.intent is Intent.INFORM for fact in c.answers]
    closing = "Here is what you asked about: " + "; ".join(facts) + "." if facts else "Everything is done."
    messages.append(Message(role="assistant", content=closing))
    messages.append(Message(role="user", content="###STOP###"))
    return Trajectory(messages=tuple(messages), termination=TerminationReason.USER_STOP)
