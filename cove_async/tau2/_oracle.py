"""An oracle conversation for a tau2 task: the agent makes exactly the golden tool calls."""

from __future__ import annotations

import json
from collections.abc import Sequence

from cove_async.chat import GREETING, Message, TerminationReason, Trajectory, tool_exchange
from cove_async.domains import Toolset
from cove_async.sandbox import Snapshot
from cove_async.tau2._tasks import Tau2Action, Tau2Instructions, Tau2Task

__all__ = ("golden_trajectory",)


def golden_trajectory(
    task: Tau2Task,
    snapshot: Snapshot,
    toolset: Toolset,
    *,
    actions: Sequence[Tau2Action] | None = None,
    termination: TerminationReason = TerminationReason.USER_STOP,
) -> Trajectory:
    """A conversation whose agent calls ``actions`` in order, each answered by really running it.

    The tool results come from executing the calls on a fresh fork of ``snapshot``, so the
    trajectory is what an agent making those calls would have seen. The user opens with the
    task's reason for calling and closes with tau2's stop token.

    Args:
        task: the task (its golden actions are the default calls).
        snapshot: the world the conversation starts from.
        toolset: the domain's tools.
        actions: the calls to make instead of the golden actions (e.g. all but one of them).
            Actions requested by the user side are skipped: the domains have no user tools.
        termination: how the conversation ends.
    """
    if actions is None:
        criteria = task.evaluation_criteria
        actions = (criteria.actions or ()) if criteria is not None else ()
    instructions = task.user_scenario.instructions
    opening = instructions.reason_for_call if isinstance(instructions, Tau2Instructions) else instructions
    messages = [Message(role="assistant", content=GREETING), Message(role="user", content=opening)]
    world = snapshot.fork()
    for index, action in enumerate(actions):
        if action.requestor != "assistant":
            continue
        result = toolset.execute(world, action.name, action.arguments)
        messages += tool_exchange(f"call_{index}", action.name, json.dumps(action.arguments), result.content)
    messages.append(Message(role="assistant", content="Is there anything else I can help you with?"))
    messages.append(Message(role="user", content="###STOP###"))
    return Trajectory(messages=tuple(messages), termination=termination)
