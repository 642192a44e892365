"""Scripted players: a user who plays a task and an agent who solves it from the conversation alone.

The agent never sees the task, only the messages, so a task it solves is solvable from the
conversation; its deliberate faults (:class:`Fault`) make failing trajectories that the verifier
must catch. Both players are deterministic given their seed.
"""

from cove_async.policies.scripted._core import AgentReply, Fault
from cove_async.policies.scripted._policy import ScriptedAgent, ScriptedUser, fault_for

__all__ = ("AgentReply", "Fault", "ScriptedAgent", "ScriptedUser", "fault_for")
