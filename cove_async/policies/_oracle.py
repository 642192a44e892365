"""Oracle policies: an agent that follows the task's canonical plan, and a brief user.

They know what no real agent knows (the task's plan), so they prove nothing about solvability
from the conversation; they exist to drive the engine in tests and benchmarks at zero model cost,
with every episode perfect by construction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Literal

from cove_async.chat import FunctionCall, Message, ToolCall
from cove_async.engine import EpisodeContext, Turn
from cove_async.tasks import Intent

__all__ = ("OracleAgent", "BriefUser")


class OracleAgent:
    """Makes the plan's calls one per turn, then states the facts the task asks for."""

    role: Literal["user", "agent"] = "agent"
    model = "oracle-agent"

    async def next_turn(self, context: EpisodeContext, messages: Sequence[Message]) -> Turn:
        made = sum(len(m.tool_calls) for m in messages if m.role == "assistant")
        plan = context.task.plan
        if made < len(plan):
            call = plan[made]
            tool_call = ToolCall(
                id=f"call_{made}", function=FunctionCall(name=call.name, arguments=json.dumps(call.arguments))
            )
            return Turn(message=Message(role="assistant", tool_calls=(tool_call,)), model=self.model)
        facts = [fact[0] for c in context.task.constraints if c.intent is Intent.INFORM for fact in c.answers]
        text = ("Here is what you asked about: " + "; ".join(facts) + ". ") if facts else ""
        return Turn(
            message=Message(role="assistant", content=text + "Is there anything else I can help with?"),
            model=self.model,
        )


class BriefUser:
    """States the reason for the call, then stops as soon as the agent answers."""

    role: Literal["user", "agent"] = "user"
    model = "brief-user"

    async def next_turn(self, context: EpisodeContext, messages: Sequence[Message]) -> Turn:
        spoken = sum(m.role == "user" for m in messages)
        text = context.task.instruction.reason_for_call if spoken == 0 else "Thanks, that's all. ###STOP###"
        return Turn(message=Message(role="user", content=text), model=self.model)
