"""Admission as under continuous batching: a fixed number of running slots, the rest wait in order."""

from __future__ import annotations

from collections import deque

import anyio

__all__ = ("Slots",)


class Slots:
    """A FIFO counting semaphore that reports how many hold a slot and how many wait.

    A released slot passes straight to the oldest waiter, so a request that arrives while
    others wait cannot overtake them. Taking a free slot does not yield to the event loop,
    which keeps a zero-latency server free of scheduling overhead.

    Args:
        capacity: slots (at least 1).
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.running = 0
        self._waiters: deque[anyio.Event] = deque()

    @property
    def waiting(self) -> int:
        """Requests queued for a slot."""
        return len(self._waiters)

    def try_acquire(self) -> bool:
        """Take a free slot if there is one and nobody is queued for it; never blocks."""
        if self.running < self.capacity and not self._waiters:
            self.running += 1
            return True
        return False

    async def acquire(self) -> None:
        """Take a slot, waiting in arrival order when none is free.

        Cancellation while waiting leaves the queue; a slot handed over at the same moment is
        passed on to the next waiter, so none is lost.
        """
        if self.try_acquire():
            return
        granted = anyio.Event()
        self._waiters.append(granted)
        try:
            await granted.wait()
        except BaseException:
            if granted.is_set():
                self.release()
            else:
                self._waiters.remove(granted)
            raise

    def release(self) -> None:
        """Give a slot back: to the oldest waiter if any, else to the pool."""
        if self._waiters:
            # The slot changes hands, so ``running`` stays the same.
            self._waiters.popleft().set()
        else:
            self.running -= 1
