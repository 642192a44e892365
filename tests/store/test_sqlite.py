"""The SQLite ledger: pragmas, schema version and migrations, uniqueness, status transitions."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from cove_async.store import STORE_SCHEMA_VERSION, Store, StoreError
from cove_async.store._migrations import MIGRATIONS
from cove_async.store._sqlite import DoneRow


def done(task_id: str, sample_index: int) -> DoneRow:
    return DoneRow(
        task_id=task_id,
        sample_index=sample_index,
        termination_reason="user_stop",
        failure=None,
        score=1.0,
        perfect=True,
        verdict=b"{}",
    )


@pytest.mark.anyio
async def test_the_ledger_is_wal_with_the_current_schema(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "s.sqlite")
    await store.put_run("run-1", b'{"seed": 0}')
    await store.aclose()
    with sqlite3.connect(tmp_path / "s.sqlite") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("PRAGMA user_version").fetchone() == (STORE_SCHEMA_VERSION,)
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"runs", "tasks", "episodes", "verdicts"} <= tables
        conn.execute("INSERT INTO episodes VALUES ('run-1', 't', 0, 'pending', NULL, NULL, 0, 0, NULL, NULL, 0)")
        with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
            conn.execute("INSERT INTO episodes VALUES ('run-1', 't', 0, 'pending', NULL, NULL, 0, 0, NULL, NULL, 0)")
        with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
            conn.execute("INSERT INTO episodes VALUES ('run-1', 't', 1, 'lost', NULL, NULL, 0, 0, NULL, NULL, 0)")
    # Reopening does not migrate again, and keeps the data.
    store = await Store.open(tmp_path / "s.sqlite")
    assert [r.id for r in await store.runs()] == ["run-1"]
    await store.aclose()
    assert MIGRATIONS[0].version == 1


@pytest.mark.anyio
async def test_a_ledger_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "s.sqlite") as conn:
        conn.execute(f"PRAGMA user_version = {STORE_SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="upgrade cove-async"):
        await Store.open(tmp_path / "s.sqlite")


@pytest.mark.anyio
async def test_a_file_that_is_not_sqlite_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "s.sqlite").write_bytes(b"not a database, just text that is long enough" * 100)
    with pytest.raises(StoreError, match="SQLite error while open the run ledger"):
        await Store.open(tmp_path / "s.sqlite")


@pytest.mark.anyio
async def test_status_transitions_and_attempts(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "s.sqlite")
    try:
        await store.put_run("r", b"{}")
        await store.add_pending("r", [("a", 0), ("b", 0), ("c", 0)])
        await store.mark_running("r", [("a", 0), ("b", 0)])
        await store.mark_done("r", [done("a", 0), done("c", 0)])  # c skipped mark_running
        await store.mark_failed("r", [("b", 0, "timeout", "took too long"), ("a", 0, None, "late")])
        await store.mark_running("r", [("a", 0), ("b", 0)])  # a is done and stays so
        rows = {r.task_id: r for r in await store.episodes("r")}
        assert {k: (r.status, r.attempts) for k, r in rows.items()} == {
            "a": ("done", 1),
            "b": ("running", 2),
            "c": ("done", 1),
        }
        assert rows["b"].failure == "took too long" and rows["b"].termination_reason == "timeout"
        assert await store.reset_running("r") == 1
        stats = await store.statistics("r")
        assert (stats.requested, stats.pending, stats.done, stats.perfect) == (3, 1, 2, 2)
        await store.reset("r", [("a", 0)])
        assert await store.keys("r", "done") == {("c", 0)}
        assert await store.verdict("r", ("a", 0)) is None
    finally:
        await store.aclose()
