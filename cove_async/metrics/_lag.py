"""Event-loop lag: how late the loop wakes a task that asked to sleep.

Lag is the engine's main failure signal: CPU work on the loop (a big JSON encode, a slow
verifier, a blocking call) delays every episode at once. A watcher that sleeps for ``interval``
and measures how much longer it actually took sees exactly that delay.
"""

from __future__ import annotations

import anyio

from cove_async.metrics._engine import EngineMetrics

__all__ = ("watch_loop_lag",)


async def watch_loop_lag(metrics: EngineMetrics, interval: float = 0.1) -> None:
    """Observe event-loop lag into ``metrics.event_loop_lag`` every ``interval`` seconds, until cancelled.

    Start it in the engine's task group (``tg.start_soon(watch_loop_lag, metrics)``). Each sample
    is the time the sleep overran; a loop blocked for 50 ms shows as a sample of about 50 ms.

    Args:
        metrics: where to record.
        interval: seconds between samples (> 0); smaller catches shorter stalls at a little CPU.

    Raises:
        ValueError: ``interval`` is not positive.
    """
    if interval <= 0:
        raise ValueError(f"interval must be > 0 seconds, got {interval}")
    while True:
        start = anyio.current_time()
        await anyio.sleep(interval)
        # Timers may fire a clock tick early; that is not negative lag.
        metrics.event_loop_lag.observe(max(0.0, anyio.current_time() - start - interval))
