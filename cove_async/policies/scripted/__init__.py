"""Scripted players: a user who plays a task and an agent who solves it from the conversation alone."""

from cove_async.policies.scripted._core import AgentReply, Fault

__all__ = ("AgentReply", "Fault")
