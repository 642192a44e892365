"""A writer process for the kill -9 test: writes every requested episode through ``Run`` in small
batches, pausing briefly between them so the test can kill it mid-run.

Usage: ``python -m tests.store._crash_writer OUT TASKS SAMPLES BATCH``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import anyio

from cove_async.store import open_run
from tests.store._factory import VOLATILE, config, record


def requested(tasks: int, samples: int) -> list[tuple[str, int]]:
    return [(f"t{t:03d}", s) for t in range(tasks) for s in range(samples)]


async def write(out: Path, tasks: int, samples: int, batch: int) -> None:
    async with await open_run(out, config(tasks=tasks, samples=samples), volatile=VOLATILE) as run:
        todo = await run.pending(requested(tasks, samples))
        for start in range(0, len(todo), batch):
            chunk = todo[start : start + batch]
            await run.mark_running(chunk)
            await run.record_batch([record(run.run_id, t, s, pad=4000) for t, s in chunk])
            # Leaves the killer a window between batches, as an engine waiting on episodes would.
            await anyio.sleep(0.003)


if __name__ == "__main__":
    out_arg, tasks_arg, samples_arg, batch_arg = sys.argv[1:5]
    anyio.run(write, Path(out_arg), int(tasks_arg), int(samples_arg), int(batch_arg))
