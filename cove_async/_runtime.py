"""Process-wide settings for the long-running commands (generate, serve, mock-llm, bench)."""

from __future__ import annotations

import gc

__all__ = ("tune_gc",)


def tune_gc() -> None:
    """Make the cyclic garbage collector run less often, and never over what is already loaded.

    A young collection starts when the count of live containers has grown by the first
    threshold since the last one. CPython's default (700) starts one every few turns with
    thousands of episodes in flight, each walking every young container: measured here at
    40-60% of wall time and seconds of event-loop lag at 2,000 to 5,000 episodes in flight.
    50,000 cut that to a few percent at 2,000, but at 5,000 episodes in flight with 1 s
    latency the in-flight requests alone swing the count by more than that, and collections
    still took 18-21% of the engine's CPU (p99 loop lag 440-450 ms). At 500,000 the steady state
    never reaches a collection (none in 30 s windows at 5,000 in flight; CPU per LLM request
    305 -> 248 us; ``cove-async bench latency --gc-threshold``), and memory held in cycles is
    still reclaimed, in larger batches (RSS +4% at 5,000 in flight). Freezing moves the world,
    the tasks and the imported modules, which live for the whole process, out of the
    collector's sight.
    """
    gc.freeze()
    gc.set_threshold(500_000, 50, 1000)
