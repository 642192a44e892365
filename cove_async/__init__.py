"""cove-async: verified multi-turn tool-use data and exact rewards, made at scale.

Layers, each importing only those before it:
``errors`` → ``sandbox`` (shared snapshot, copy-on-write forks) → ``domains`` (records, tools,
tau2 import/export, synthetic worlds) → ``tau2`` (tau2's tasks and evaluation semantics) →
``cli`` (the only place that configures logging).
"""

__version__ = "0.1.0"
