"""Property: whatever crashes interleave with the writes, resuming gives each key once, the first written."""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from pathlib import Path

import anyio
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cove_async.store import TRAJECTORIES, TrajectoryRecord, decode_record, encode_records, open_run
from cove_async.store._jsonl import iter_lines
from tests.store._factory import VOLATILE, config, record

UNIVERSE = [(f"t{t}", s) for t in range(3) for s in range(2)]

# How a batch ends: written through Run; killed after the JSONL write and before the ledger
# commit; killed in the middle of the JSONL write (cut at a fraction of its bytes); or written
# twice to the JSONL by a faulty writer that bypassed Run.
Step = tuple[str, list[int], float]
steps = st.tuples(
    st.sampled_from(["ok", "after_jsonl", "torn", "raw_duplicate"]),
    st.lists(st.integers(0, len(UNIVERSE) - 1), min_size=1, max_size=4),
    st.floats(0.0, 0.999),
)
sessions = st.lists(st.lists(steps, min_size=1, max_size=4), min_size=1, max_size=4)


def _make(run_id: str, key: tuple[str, int], marker: str) -> TrajectoryRecord:
    return msgspec.structs.replace(record(run_id, *key), episode_id=marker)


def _raw_append(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


async def _play(out: Path, plan: list[list[Step]]) -> dict[tuple[str, int], str]:
    """Play the sessions; return the marker of the first complete line written for each key."""
    first: dict[tuple[str, int], str] = {}
    counter = 0
    for session in plan:
        async with await open_run(out, config(), volatile=VOLATILE) as run:
            await run.pending(UNIVERSE)
            for kind, indexes, cut in session:
                records = []
                for index in indexes:
                    counter += 1
                    records.append(_make(run.run_id, UNIVERSE[index], f"m{counter}"))
                path = out / TRAJECTORIES
                if kind == "ok":
                    await run.record_batch(records)
                    for r in records:
                        first.setdefault(r.key, r.episode_id)
                    continue
                data = bytes(encode_records(records))
                if kind == "torn":
                    data = data[: int(len(data) * cut)]
                elif kind == "raw_duplicate":
                    data += data
                _raw_append(path, data)
                for line in data.splitlines(keepends=True):
                    if line.endswith(b"\n"):
                        r = decode_record(line)
                        first.setdefault(r.key, r.episode_id)
                break  # the process "dies": its Run is abandoned (closing it commits nothing more)
    return first


async def _finish(out: Path) -> None:
    async with await open_run(out, config(), volatile=VOLATILE) as run:
        todo = await run.pending(UNIVERSE)
        await run.record_batch([_make(run.run_id, key, "final") for key in todo])


async def _check(out: Path, first: dict[tuple[str, int], str]) -> None:
    await _finish(out)
    async with await open_run(out, config(), volatile=VOLATILE) as run:
        assert await run.pending(UNIVERSE) == []
        ledger = await run.store.keys(run.run_id, "done")
        stats = await run.statistics()
    lines = [decode_record(line) for line in iter_lines(out / TRAJECTORIES)]
    assert Counter(r.key for r in lines) == Counter(UNIVERSE)  # no duplicates, no losses
    assert ledger == set(UNIVERSE) and stats.done == len(UNIVERSE)
    # A written trajectory is never replaced: the survivor of each key is the first one written.
    assert {r.key: r.episode_id for r in lines} == {key: first.get(key, "final") for key in UNIVERSE}
    assert (out / TRAJECTORIES).read_bytes().endswith(b"\n")


@pytest.mark.slow
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan=sessions)
def test_random_crash_points_never_duplicate_or_lose_a_trajectory(plan: list[list[Step]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)

        async def main() -> None:
            first = await _play(out, plan)
            await _check(out, first)

        anyio.run(main)
