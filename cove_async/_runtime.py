"""Process-wide settings for the long-running commands (generate, serve, mock-llm, bench)."""

from __future__ import annotations

import gc

__all__ = ("tune_gc",)


def tune_gc() -> None:
    """Make the cyclic garbage collector run less often, and never over what is already loaded.

    With thousands of episodes in flight, CPython's default thresholds (700 allocations) start
    a young collection every few turns and a full one every few seconds, each walking every
    live container: measured here at 40-60% of wall time and seconds of event-loop lag at 2,000
    to 5,000 episodes in flight, against under 2% and 33-88 ms with a threshold of 50,000
    (``cove-async bench latency --gc-threshold``). Freezing moves the world, the tasks and the
    imported modules, which live for the whole process, out of the collector's sight. Memory
    held in cycles is still reclaimed, only in larger batches.
    """
    gc.freeze()
    gc.set_threshold(50_000, 50, 1000)
