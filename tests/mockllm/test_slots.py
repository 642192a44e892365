"""Admission: a capped number run, the rest wait in arrival order, cancellation loses no slot."""

from __future__ import annotations

import asyncio

import anyio
import pytest

from cove_async.mockllm._slots import Slots

pytestmark = pytest.mark.anyio


async def test_waiters_get_slots_in_arrival_order() -> None:
    slots = Slots(2)
    assert slots.try_acquire() and slots.try_acquire()
    assert not slots.try_acquire()
    order: list[int] = []

    async def wait(i: int) -> None:
        await slots.acquire()
        order.append(i)

    async with anyio.create_task_group() as tg:
        for i in range(3):
            tg.start_soon(wait, i)
        await anyio.wait_all_tasks_blocked()
        assert (slots.running, slots.waiting) == (2, 3)
        for _ in range(3):
            slots.release()
    assert order == [0, 1, 2]
    assert (slots.running, slots.waiting) == (2, 0)


async def test_a_cancelled_waiter_leaves_the_queue() -> None:
    slots = Slots(1)
    assert slots.try_acquire()
    async with anyio.create_task_group() as tg:
        tg.start_soon(slots.acquire)
        await anyio.wait_all_tasks_blocked()
        assert slots.waiting == 1
        tg.cancel_scope.cancel()
    assert (slots.running, slots.waiting) == (1, 0)
    slots.release()
    assert slots.running == 0


async def test_a_slot_handed_to_a_cancelled_waiter_passes_on() -> None:
    """aiohttp cancels the handler of a client that hung up with ``Task.cancel()``, which can
    land after the slot was handed over but before the waiter woke up."""
    slots = Slots(1)
    assert slots.try_acquire()
    got: list[str] = []
    doomed_task: asyncio.Task[object] | None = None

    async def doomed() -> None:
        nonlocal doomed_task
        doomed_task = task = asyncio.current_task()
        assert task is not None
        try:
            await slots.acquire()
        except asyncio.CancelledError:
            got.append("cancelled")
            task.uncancel()
            return
        got.append("doomed")

    async def patient() -> None:
        await slots.acquire()
        got.append("patient")

    async with anyio.create_task_group() as tg:
        tg.start_soon(doomed)
        await anyio.wait_all_tasks_blocked()
        tg.start_soon(patient)
        await anyio.wait_all_tasks_blocked()
        assert doomed_task is not None
        slots.release()  # the slot goes to "doomed"...
        doomed_task.cancel()  # ...whose handler is cancelled before it wakes up to take it
    assert got == ["cancelled", "patient"]
    assert (slots.running, slots.waiting) == (1, 0)
