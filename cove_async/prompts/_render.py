"""The two system prompts: the agent's (an instruction plus a domain policy) and the user simulator's."""

from __future__ import annotations

from typing import Final

from cove_async.chat import STOP_MARKERS
from cove_async.tasks import Task

__all__ = ("AGENT_INSTRUCTION", "USER_GUIDELINES", "agent_prompt", "user_prompt")

AGENT_INSTRUCTION: Final = """\
You are a customer service agent. Help the customer within the policy below: it says what you
may do, what you must check first and what you must refuse. Each turn, do exactly one of two
things: write a message to the customer, or call one tool. Tool arguments are JSON objects that
match the tool's parameters."""

_STOP, _TRANSFER, _OUT_OF_SCOPE = STOP_MARKERS

USER_GUIDELINES: Final = f"""\
You are playing a customer who is chatting with a company's customer service agent. The other
side of this conversation is that agent. Write only what the customer would type: one short
message per turn, in the first person, in your own words.

How to play the scenario below:
- Follow the scenario. Give information only when it is needed or the agent asks for it; do
  not put everything into your first message.
- Never make up facts the scenario does not give you (ids, numbers, names, addresses, dates).
  If the agent asks for something you do not know, say that you do not know it.
- When the agent lists the details of a change and asks you to confirm, answer "yes" if they
  match what you want, or "no" and what is wrong if they do not. Do not use words of agreement
  (yes, sure, okay, go ahead, correct...) in any other message.
- Do not end the conversation while the agent is still doing something you asked for: wait
  until it tells you it is done.
- Once everything you wanted is done, or the agent has told you it cannot be done, end the
  conversation with a message that is only {_STOP}.
- If the agent transfers you to a human agent, answer with only {_TRANSFER}.
- If the scenario does not give you what you would need to go on, answer with only
  {_OUT_OF_SCOPE}."""


def agent_prompt(policy: str) -> str:
    """The agent's system prompt: :data:`AGENT_INSTRUCTION`, then ``policy`` inside ``<policy>`` tags."""
    return f"{AGENT_INSTRUCTION}\n\n<policy>\n{policy.strip()}\n</policy>"


def _part(text: str) -> str:
    text = text.strip()
    return text if text else "(nothing)"


def user_prompt(task: Task) -> str:
    """The user simulator's system prompt for ``task``: :data:`USER_GUIDELINES` and its scenario.

    The scenario holds the four parts of the task's :class:`~cove_async.tasks.UserInstruction`
    (why the customer calls, what they know, what they do not know, what they want and how to
    behave); an empty part reads "(nothing)".
    """
    instruction = task.instruction
    return (
        f"{USER_GUIDELINES}\n\n<scenario>\n"
        f"Domain: {task.domain}\n\n"
        f"Why you are contacting customer service:\n{_part(instruction.reason_for_call)}\n\n"
        f"What you know:\n{_part(instruction.known_info)}\n\n"
        f"What you do not know:\n{_part(instruction.unknown_info)}\n\n"
        f"What you want, and how to behave:\n{_part(instruction.task_instructions)}\n"
        "</scenario>"
    )
