"""Policies that speak in episodes: in-process oracles and scripted players, and LLM-backed ones."""

from cove_async.policies._oracle import BriefUser, OracleAgent

__all__ = ("BriefUser", "OracleAgent")
