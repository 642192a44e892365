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


CONFIRM_QUESTION = "Shall I proceed?"


class OracleAgent:
    """Makes the plan's calls one per turn, asking before each write, then states the facts asked for."""

    role: Literal["user", "agent"] = "agent"
    model = "oracle-agent"

    async def next_turn(self, context: EpisodeContext, messages: Sequence[Message]) -> Turn:
        made = sum(len(m.tool_calls) for m in messages if m.role == "assistant")
        plan = context.task.plan
        if made < len(plan):
            call = plan[made]
            writes = {w.name for c in context.task.constraints for w in c.writes}
            if call.name in writes and not _agreed(messages):
                return Turn(
                    # Neither the tool nor its arguments are named: the question must not state a fact.
                    message=Message(role="assistant", content=f"The next step changes your data. {CONFIRM_QUESTION}"),
                    model=self.model,
                )
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


def _agreed(messages: Sequence[Message]) -> bool:
    """Whether the agent asked to proceed and the user said yes, just now."""
    return (
        len(messages) >= 2
        and messages[-1].role == "user"
        and messages[-2].role == "assistant"
        and (messages[-2].content or "").endswith(CONFIRM_QUESTION)
    )


class BriefUser:
    """States the reason for the call, agrees when asked to, and stops once the agent is done."""

    role: Literal["user", "agent"] = "user"
    model = "brief-user"

    async def next_turn(self, context: EpisodeContext, messages: Sequence[Message]) -> Turn:
        spoken = sum(m.role == "user" for m in messages)
        if spoken == 0:
            text = context.task.instruction.reason_for_call
        elif (messages[-1].content or "").endswith(CONFIRM_QUESTION):
            text = "Yes, please."
        else:
            text = "Thanks, that's all. ###STOP###"
        return Turn(message=Message(role="user", content=text), model=self.model)
