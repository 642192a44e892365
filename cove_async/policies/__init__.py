"""Policies that speak in episodes: in-process oracles and scripted players, and LLM-backed ones."""

from cove_async.policies._llm import LLMAgent, LLMUser
from cove_async.policies._oracle import BriefUser, OracleAgent

__all__ = ("BriefUser", "LLMAgent", "LLMUser", "OracleAgent")
