"""Exactly-once output and resume: open_run, pending, record_batch, reconciliation, kill -9."""

from __future__ import annotations

import os
import signal
import sys
from collections import Counter
from pathlib import Path

import anyio
import msgspec
import pytest
from structlog.testing import capture_logs

from cove_async.chat import TerminationReason
from cove_async.store import (
    TRAJECTORIES,
    EpisodeFailure,
    JsonlSink,
    RunMismatchError,
    StoreError,
    decode_record,
    encode_records,
    open_run,
)
from cove_async.store._jsonl import iter_lines
from tests.store._crash_writer import requested
from tests.store._factory import VOLATILE, config, record, task

REPO = Path(__file__).resolve().parents[2]


def jsonl_keys(out: Path) -> list[tuple[str, int]]:
    return [decode_record(line).key for line in iter_lines(out / TRAJECTORIES)]


async def ledger_done(out: Path) -> set[tuple[str, int]]:
    async with await open_run(out, config(), volatile=VOLATILE) as run:
        return await run.store.keys(run.run_id, "done")


@pytest.mark.anyio
async def test_a_fresh_run_writes_each_episode_once_and_shrinks_the_work_list(tmp_path: Path) -> None:
    keys = [("t0", 0), ("t0", 1), ("t1", 0)]
    async with await open_run(tmp_path, config(), volatile=VOLATILE) as run:
        assert not run.resumed
        assert await run.pending([*keys, ("t0", 0)]) == keys
        assert await run.record_batch([record(run.run_id, "t0", 0), record(run.run_id, "t1", 0)]) == 2
        assert await run.pending(keys) == [("t0", 1)]
        # A caller's retry of written keys, and a repeat inside one batch, write nothing new.
        with capture_logs() as logs:
            written = await run.record_batch(
                [record(run.run_id, "t0", 0), record(run.run_id, "t0", 1), record(run.run_id, "t0", 1)]
            )
        assert written == 1
        assert [e["event"] for e in logs].count("duplicate_trajectory_skipped") == 2
        stats = await run.statistics()
        assert (stats.requested, stats.done, stats.pending, stats.perfect) == (3, 3, 0, 3)
        assert await run.pending(keys) == []
    assert sorted(jsonl_keys(tmp_path)) == sorted(keys)


@pytest.mark.anyio
async def test_records_of_another_run_are_refused(tmp_path: Path) -> None:
    async with await open_run(tmp_path, config(), volatile=VOLATILE) as run:
        with pytest.raises(ValueError, match=r"build records with run\.run_id"):
            await run.record_batch([record("run-other", "t0", 0)])


@pytest.mark.anyio
async def test_the_same_config_gives_the_same_run_id(tmp_path: Path) -> None:
    async with await open_run(tmp_path / "a", config(), volatile=VOLATILE) as a:
        pass
    async with await open_run(tmp_path / "b", config(concurrency=512), volatile=VOLATILE) as b:
        pass
    async with await open_run(tmp_path / "c", config(seed=1), volatile=VOLATILE) as c:
        pass
    assert a.run_id == b.run_id != c.run_id


class GenerateConfig(msgspec.Struct, frozen=True, kw_only=True):
    domain: str
    seed: int
    concurrency: int


@pytest.mark.anyio
async def test_a_struct_config_works_and_a_non_object_is_refused(tmp_path: Path) -> None:
    async with await open_run(
        tmp_path, GenerateConfig(domain="retail", seed=0, concurrency=4), volatile=("concurrency",)
    ) as run:
        first = run.run_id
    async with await open_run(
        tmp_path, GenerateConfig(domain="retail", seed=0, concurrency=64), volatile=("concurrency",)
    ) as run:
        assert run.resumed and run.run_id == first
    with pytest.raises(TypeError, match="must encode to a JSON object, got list"):
        await open_run(tmp_path / "other", [1, 2])


@pytest.mark.anyio
async def test_a_config_that_changes_results_is_refused_on_resume(tmp_path: Path) -> None:
    async with await open_run(tmp_path, config(), volatile=VOLATILE) as run:
        await run.record_batch([record(run.run_id, "t0", 0)])
    with pytest.raises(RunMismatchError, match="choose a new --out directory") as info:
        await open_run(tmp_path, config(seed=3, samples=4), volatile=VOLATILE)
    assert info.value.differences == ("samples: 2 -> 4", "seed: 0 -> 3")
    # A volatile setting may change; the directory was not locked by the refused attempt.
    async with await open_run(tmp_path, config(concurrency=1024), volatile=VOLATILE) as run:
        assert run.resumed
        assert await run.pending([("t0", 0), ("t0", 1)]) == [("t0", 1)]


@pytest.mark.anyio
async def test_a_second_process_is_kept_out(tmp_path: Path) -> None:
    async with await open_run(tmp_path, config(), volatile=VOLATILE):
        with pytest.raises(StoreError, match=f"in use by another cove-async process \\(pid {os.getpid()}\\)"):
            await open_run(tmp_path, config(), volatile=VOLATILE)
    async with await open_run(tmp_path, config(), volatile=VOLATILE):
        pass  # released on close


@pytest.mark.anyio
async def test_a_crash_between_jsonl_and_ledger_is_reconciled(tmp_path: Path) -> None:
    async with await open_run(tmp_path, config(), volatile=VOLATILE) as run:
        run_id = run.run_id
        await run.pending([("t0", 0), ("t0", 1), ("t1", 0)])
        await run.mark_running([("t0", 0), ("t0", 1)])
    # The JSONL write of a batch happened, the ledger commit did not (as after kill -9 between them).
    async with await JsonlSink.open(tmp_path / TRAJECTORIES) as sink:
        await sink.append([record(run_id, "t0", 0, perfect=False)])
    with capture_logs() as logs:
        run = await open_run(tmp_path, config(), volatile=VOLATILE)
    async with run:
        opened = next(e for e in logs if e["event"] == "run_opened")
        assert (opened["recovered"], opened["interrupted"], opened["done"]) == (1, 1, 1)
        assert await run.pending([("t0", 0), ("t0", 1), ("t1", 0)]) == [("t0", 1), ("t1", 0)]
        rows = {(r.task_id, r.sample_index): r for r in await run.store.episodes(run.run_id)}
        assert rows["t0", 0].status == "done" and rows["t0", 0].termination_reason == "user_stop"
        assert rows["t0", 1].status == "pending" and rows["t0", 1].attempts == 1
        stored = await run.store.verdict(run.run_id, ("t0", 0))
        assert stored is not None and stored[:2] == (0.0, False)
        assert msgspec.json.decode(stored[2])["constraints"][0]["satisfied"] is False


@pytest.mark.anyio
async def test_a_torn_last_line_is_cut_and_the_episode_redone(tmp_path: Path) -> None:
    async with await open_run(tmp_path, config(), volatile=VOLATILE) as run:
        run_id = run.run_id
        await run.record_batch([record(run_id, "t0", 0)])
    whole = (tmp_path / TRAJECTORIES).read_bytes()
    torn = bytes(encode_records([record(run_id, "t0", 1)]))[:-40]
    with (tmp_path / TRAJECTORIES).open("ab") as file:
        file.write(torn)
    with capture_logs() as logs:
        run = await open_run(tmp_path, config(), volatile=VOLATILE)
    async with run:
        assert {"event": "jsonl_torn_tail_truncated", "log_level": "warning"}.items() <= logs[0].items()
        assert logs[0]["bytes_dropped"] == len(torn)
        assert (tmp_path / TRAJECTORIES).read_bytes() == whole
        assert await run.pending([("t0", 0), ("t0", 1)]) == [("t0", 1)]


@pytest.mark.anyio
async def test_duplicate_and_unreadable_lines_are_dropped_on_open(tmp_path: Path) -> None:
    async with await open_run(tmp_path, config(), volatile=VOLATILE) as run:
        run_id = run.run_id
        await run.record_batch([record(run_id, "t0", 0), record(run_id, "t1", 0)])
    path = tmp_path / TRAJECTORIES
    lines = path.read_bytes().splitlines(keepends=True)
    later = bytes(encode_records([record(run_id, "t0", 0, perfect=False)]))
    path.write_bytes(lines[0] + b'{"not": "a record"}\n' + lines[1] + later + lines[0])
    with capture_logs() as logs:
        run = await open_run(tmp_path, config(), volatile=VOLATILE)
    async with run:
        assert path.read_bytes() == lines[0] + lines[1]  # the first occurrence wins
        assert (tmp_path / "trajectories.rejected.jsonl").read_bytes() == b'{"not": "a record"}\n'
        dropped = next(e for e in logs if e["event"] == "jsonl_lines_dropped")
        assert (dropped["duplicates"], dropped["rejected"]) == (2, 1)
        await run.record_batch([record(run_id, "t2", 0)])
    assert jsonl_keys(tmp_path) == [("t0", 0), ("t1", 0), ("t2", 0)]


@pytest.mark.anyio
async def test_the_jsonl_wins_over_the_ledger(tmp_path: Path) -> None:
    async with await open_run(tmp_path, config(), volatile=VOLATILE) as run:
        await run.record_batch([record(run.run_id, "t0", 0), record(run.run_id, "t0", 1)])
    lines = (tmp_path / TRAJECTORIES).read_bytes().splitlines(keepends=True)
    (tmp_path / TRAJECTORIES).write_bytes(lines[0])  # the trajectory file lost a line
    async with await open_run(tmp_path, config(), volatile=VOLATILE) as run:
        assert await run.pending([("t0", 0), ("t0", 1)]) == [("t0", 1)]
        assert await run.store.verdict(run.run_id, ("t0", 1)) is None


@pytest.mark.anyio
async def test_trajectories_of_another_run_are_refused(tmp_path: Path) -> None:
    async with await open_run(tmp_path / "other", config(seed=9), volatile=VOLATILE) as other:
        await other.record_batch([record(other.run_id, "t0", 0)])
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / TRAJECTORIES).write_bytes((tmp_path / "other" / TRAJECTORIES).read_bytes())
    with pytest.raises(RunMismatchError, match="holds trajectories of run"):
        await open_run(tmp_path / "mine", config(), volatile=VOLATILE)


@pytest.mark.anyio
async def test_failures_are_recorded_and_retried(tmp_path: Path) -> None:
    async with await open_run(tmp_path, config(), volatile=VOLATILE) as run:
        await run.add_tasks([task("t0"), task("t1")])
        keys = [("t0", 0), ("t1", 0)]
        await run.pending(keys)
        await run.mark_running(keys)
        await run.record_batch([record(run.run_id, "t0", 0)])
        await run.record_failures(
            [
                EpisodeFailure(task_id="t1", sample_index=0, reason="cancelled at shutdown"),
                # A done episode is never downgraded.
                EpisodeFailure(
                    task_id="t0",
                    sample_index=0,
                    reason="late failure",
                    termination_reason=TerminationReason.INFRASTRUCTURE_ERROR,
                ),
            ]
        )
        stats = await run.statistics()
        assert (stats.done, stats.failed) == (1, 1)
        assert await run.pending(keys) == [("t1", 0)]
        assert await run.pending(keys, retry_failed=False) == []
        rows = {(r.task_id, r.sample_index): r for r in await run.store.episodes(run.run_id)}
        assert rows["t1", 0].failure == "cancelled at shutdown" and rows["t1", 0].attempts == 1
        assert rows["t0", 0].status == "done"
        await run.mark_running([("t1", 0)])
        await run.record_batch([record(run.run_id, "t1", 0)])
        rows = {(r.task_id, r.sample_index): r for r in await run.store.episodes(run.run_id)}
        assert rows["t1", 0].status == "done" and rows["t1", 0].attempts == 2 and rows["t1", 0].failure is None


@pytest.mark.slow
@pytest.mark.anyio
async def test_kill_9_mid_run_then_resume_gives_every_sample_exactly_once(tmp_path: Path) -> None:
    tasks, samples, batch = 40, 5, 4
    wanted = requested(tasks, samples)
    path = tmp_path / TRAJECTORIES
    async with await anyio.open_process(
        [sys.executable, "-m", "tests.store._crash_writer", str(tmp_path), str(tasks), str(samples), str(batch)],
        cwd=REPO,
        stdout=None,
        stderr=None,  # inherited: pytest shows the writer's output if it fails
    ) as child:
        with anyio.fail_after(20):
            # Poll the artefact until the writer is well into the run, then kill it without warning.
            # Another process's progress shows only in the file, so no event can replace the poll.
            while (not path.exists() or path.stat().st_size < 12 * 4000) and child.returncode is None:  # noqa: ASYNC110
                await anyio.sleep(0.002)
        child.send_signal(signal.SIGKILL)
        await child.wait()
        assert child.returncode == -signal.SIGKILL
    before = len(jsonl_keys(tmp_path))
    assert 0 < before < len(wanted), "the kill must land mid-run"

    async with await open_run(tmp_path, config(tasks=tasks, samples=samples), volatile=VOLATILE) as run:
        todo = await run.pending(wanted)
        assert len(todo) == len(wanted) - before
        for start in range(0, len(todo), 16):
            await run.record_batch([record(run.run_id, t, s) for t, s in todo[start : start + 16]])
        stats = await run.statistics()
        ledger = await run.store.keys(run.run_id, "done")
    written = jsonl_keys(tmp_path)
    assert Counter(written) == Counter(wanted)  # every requested sample, exactly once
    assert ledger == set(wanted) and stats.done == len(wanted) and stats.running == stats.pending == 0


@pytest.mark.anyio
async def test_concurrent_writers_share_a_run(tmp_path: Path) -> None:
    """Batches from many tasks at once, overlapping in keys: each key written once, ledger in step."""
    wanted = [(f"t{t}", s) for t in range(10) for s in range(4)]
    async with await open_run(tmp_path, config(), volatile=VOLATILE) as run:
        await run.pending(wanted)

        async def writer(offset: int) -> None:
            for start in range(0, len(wanted), 5):
                keys = wanted[(start + offset) % len(wanted) :][:5]
                await run.mark_running(keys)
                await run.record_batch([record(run.run_id, t, s) for t, s in keys])
                await run.record_failures([EpisodeFailure(task_id=t, sample_index=s, reason="late") for t, s in keys])

        async with anyio.create_task_group() as tg:
            for offset in range(0, 40, 3):
                tg.start_soon(writer, offset)
        assert await run.store.keys(run.run_id, "done") == set(wanted)
    assert Counter(jsonl_keys(tmp_path)) == Counter(wanted)
