"""The JSONL sink: durable batches, torn tails cut on open, partial lines never read."""

from __future__ import annotations

from pathlib import Path

import pytest
from structlog.testing import capture_logs

from cove_async.store import JsonlSink, StoreError, decode_record, encode_records
from cove_async.store._jsonl import iter_lines, repair_torn_tail
from tests.store._factory import record


@pytest.mark.anyio
async def test_batches_append_in_order(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    async with await JsonlSink.open(path) as sink:
        await sink.append([record("r", "t0", 0), record("r", "t0", 1)])
        await sink.append([])
        await sink.append([record("r", "t1", 0)])
    async with await JsonlSink.open(path) as sink:  # reopening appends
        await sink.append([record("r", "t2", 0)])
    assert [decode_record(line).key for line in iter_lines(path)] == [("t0", 0), ("t0", 1), ("t1", 0), ("t2", 0)]


@pytest.mark.anyio
async def test_opening_cuts_a_torn_last_line_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    good = bytes(encode_records([record("r", "t0", 0)]))
    torn = bytes(encode_records([record("r", "t0", 1)]))[:100]
    path.write_bytes(good + torn)
    assert [decode_record(line).key for line in iter_lines(path)] == [("t0", 0)]  # readers skip it meanwhile
    with capture_logs() as logs:
        sink = await JsonlSink.open(path)
    await sink.aclose()
    assert path.read_bytes() == good
    assert logs == [
        {"event": "jsonl_torn_tail_truncated", "log_level": "warning", "path": str(path), "bytes_dropped": 100}
    ]


def test_a_file_that_is_only_a_partial_line_is_emptied(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(b'{"task_id": "t0", ' * 10_000)  # longer than one read chunk
    assert repair_torn_tail(path) == 180_000
    assert path.read_bytes() == b""
    assert repair_torn_tail(path) == 0


@pytest.mark.anyio
async def test_appending_after_close_is_an_error(tmp_path: Path) -> None:
    sink = await JsonlSink.open(tmp_path / "t.jsonl")
    await sink.aclose()
    await sink.aclose()
    with pytest.raises(StoreError, match="is closed; open a new one"):
        await sink.append([record("r", "t0", 0)])


@pytest.mark.anyio
async def test_an_unusable_path_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot open the trajectory file"):
        await JsonlSink.open(tmp_path / "missing-dir" / "t.jsonl")
