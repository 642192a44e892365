"""The run ledger: runs, tasks, episodes and verdicts in a file-backed SQLite database.

Queries go through aiosqlite (a thread per connection), so commits and their fsyncs never block
the event loop (measurements.md section 2). The database is in WAL mode with
``synchronous=NORMAL``: a commit survives a process crash, and the rare commit lost to a power
failure is rebuilt from the trajectory file on resume (see :mod:`cove_async.store._run`). Every
write method is one transaction, shielded from cancellation so it always commits or rolls back;
callers batch by passing many rows at once.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import aiosqlite
import anyio
import msgspec

from cove_async.store._errors import StoreError, map_storage_errors
from cove_async.store._migrations import migrate

__all__ = ("DoneRow", "EpisodeRow", "EpisodeStatus", "RunRow", "RunStatistics", "Store")

EpisodeStatus = Literal["pending", "running", "done", "failed"]
Key = tuple[str, int]


class RunRow(msgspec.Struct, frozen=True, kw_only=True):
    """A row of ``runs``: the run's id, its config as stored JSON, and when it was created."""

    id: str
    config: bytes
    created: float


class DoneRow(msgspec.Struct, frozen=True, kw_only=True):
    """What marking one episode done writes: its ending and its verdict (as JSON)."""

    task_id: str
    sample_index: int
    termination_reason: str
    failure: str | None
    score: float
    perfect: bool
    verdict: bytes


class EpisodeRow(msgspec.Struct, frozen=True, kw_only=True):
    """A row of ``episodes``."""

    task_id: str
    sample_index: int
    status: EpisodeStatus
    termination_reason: str | None
    failure: str | None
    attempts: int
    created: float
    started: float | None
    finished: float | None


class RunStatistics(msgspec.Struct, frozen=True, kw_only=True):
    """Episode counts of one run, by status, and how many done ones are perfect."""

    requested: int
    pending: int
    running: int
    done: int
    failed: int
    perfect: int


_MARK_DONE = """
INSERT INTO episodes (run_id, task_id, sample_index, status, termination_reason, failure, attempts,
                      created, finished, updated)
VALUES (?, ?, ?, 'done', ?, ?, 1, ?, ?, ?)
ON CONFLICT (run_id, task_id, sample_index) DO UPDATE SET
    status = 'done',
    termination_reason = excluded.termination_reason,
    failure = excluded.failure,
    -- a start already counted the attempt; otherwise the caller skipped mark_running
    attempts = episodes.attempts + (episodes.status != 'running'),
    finished = excluded.finished,
    updated = excluded.updated
"""

_PUT_VERDICT = """
INSERT INTO verdicts (run_id, task_id, sample_index, score, perfect, verdict) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (run_id, task_id, sample_index) DO UPDATE SET
    score = excluded.score, perfect = excluded.perfect, verdict = excluded.verdict
"""

_MARK_FAILED = """
INSERT INTO episodes (run_id, task_id, sample_index, status, termination_reason, failure, attempts,
                      created, finished, updated)
VALUES (?, ?, ?, 'failed', ?, ?, 1, ?, ?, ?)
ON CONFLICT (run_id, task_id, sample_index) DO UPDATE SET
    status = 'failed',
    termination_reason = excluded.termination_reason,
    failure = excluded.failure,
    attempts = episodes.attempts + (episodes.status != 'running'),
    finished = excluded.finished,
    updated = excluded.updated
WHERE episodes.status != 'done'
"""

_MARK_RUNNING = """
INSERT INTO episodes (run_id, task_id, sample_index, status, attempts, created, started, updated)
VALUES (?, ?, ?, 'running', 1, ?, ?, ?)
ON CONFLICT (run_id, task_id, sample_index) DO UPDATE SET
    status = 'running', attempts = episodes.attempts + 1, started = excluded.started, updated = excluded.updated
WHERE episodes.status != 'done'
"""

_ADD_PENDING = """
INSERT INTO episodes (run_id, task_id, sample_index, status, created, updated) VALUES (?, ?, ?, 'pending', ?, ?)
ON CONFLICT (run_id, task_id, sample_index) DO NOTHING
"""

_RESET = """
UPDATE episodes SET status = 'pending', termination_reason = NULL, failure = NULL, finished = NULL, updated = ?
WHERE run_id = ? AND task_id = ? AND sample_index = ?
"""


class Store:
    """The SQLite ledger of an output directory. Open with :meth:`open`; close with :meth:`aclose`.

    One connection, used by one event loop. Writes are one transaction per call; reads see every
    committed write.
    """

    def __init__(self, path: Path, conn: aiosqlite.Connection) -> None:
        """Use :meth:`open`: it configures the connection and migrates the schema."""
        self._path = path
        self._conn = conn
        # One connection: concurrent callers must not interleave their transactions on it.
        self._write_lock = anyio.Lock()

    @classmethod
    async def open(cls, path: Path) -> Store:
        """Open (creating if needed) the ledger at ``path`` and bring its schema up to date.

        Raises:
            StoreError: the file cannot be opened, is not a SQLite database, or is newer than this code.
        """
        with map_storage_errors(path, "open the run ledger"):
            # Autocommit mode: transactions are explicit (BEGIN IMMEDIATE ... COMMIT) in _write.
            conn = await aiosqlite.connect(path, isolation_level=None)
            try:
                for pragma in (
                    "PRAGMA journal_mode = WAL",
                    "PRAGMA synchronous = NORMAL",
                    "PRAGMA foreign_keys = ON",
                    "PRAGMA busy_timeout = 5000",
                ):
                    await conn.execute(pragma)
                await migrate(conn, path=path)
            except BaseException:
                with anyio.CancelScope(shield=True):
                    await conn.close()
                raise
        return cls(path, conn)

    @property
    def path(self) -> Path:
        """The database file."""
        return self._path

    async def aclose(self) -> None:
        """Close the connection (a checkpoint folds the WAL back into the file)."""
        with anyio.CancelScope(shield=True), map_storage_errors(self._path, "close the run ledger"):
            await self._conn.close()

    async def _write(self, action: str, ops: Sequence[tuple[str, Iterable[Sequence[object]]]]) -> None:
        # Shielded: once begun, a transaction must end in COMMIT or ROLLBACK even if the caller
        # is cancelled, or the connection would be left inside it.
        with anyio.CancelScope(shield=True), map_storage_errors(self._path, action):
            async with self._write_lock:
                await self._transaction(ops)

    async def _transaction(self, ops: Sequence[tuple[str, Iterable[Sequence[object]]]]) -> None:
        await self._conn.execute("BEGIN IMMEDIATE")
        try:
            for sql, rows in ops:
                await self._conn.executemany(sql, rows)
        except BaseException:
            await self._conn.execute("ROLLBACK")
            raise
        await self._conn.execute("COMMIT")

    async def _fetch(self, action: str, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        with map_storage_errors(self._path, action):
            async with self._conn.execute(sql, params) as cursor:
                return [tuple(row) for row in await cursor.fetchall()]

    async def runs(self) -> list[RunRow]:
        """Every run recorded, oldest first."""
        rows = await self._fetch("read runs", "SELECT id, config, created FROM runs ORDER BY created")
        return [RunRow(id=str(i), config=str(c).encode(), created=float(t)) for i, c, t in rows]

    async def put_run(self, run_id: str, config: bytes) -> None:
        """Create the run, or replace its stored config (keeping its creation time)."""
        now = time.time()
        await self._write(
            "record the run",
            [
                (
                    "INSERT INTO runs (id, config, created, updated) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (id) DO UPDATE SET config = excluded.config, updated = excluded.updated",
                    [(run_id, config.decode(), now, now)],
                )
            ],
        )

    async def put_tasks(self, run_id: str, tasks: Sequence[tuple[str, bytes]]) -> None:
        """Record tasks as ``(task_id, task JSON)``; a task already recorded is replaced."""
        await self._write(
            "record tasks",
            [
                (
                    "INSERT INTO tasks (run_id, task_id, task) VALUES (?, ?, ?) "
                    "ON CONFLICT (run_id, task_id) DO UPDATE SET task = excluded.task",
                    [(run_id, task_id, body.decode()) for task_id, body in tasks],
                )
            ],
        )

    async def add_pending(self, run_id: str, keys: Sequence[Key]) -> None:
        """Record episodes as requested (``pending``); those already recorded keep their status."""
        now = time.time()
        await self._write("record requested episodes", [(_ADD_PENDING, [(run_id, t, s, now, now) for t, s in keys])])

    async def mark_running(self, run_id: str, keys: Sequence[Key]) -> None:
        """Mark episodes started (one more attempt each); done ones are left alone."""
        now = time.time()
        await self._write("mark episodes running", [(_MARK_RUNNING, [(run_id, t, s, now, now, now) for t, s in keys])])

    async def mark_done(self, run_id: str, rows: Sequence[DoneRow]) -> None:
        """Mark episodes done and store their verdicts, in one transaction."""
        now = time.time()
        await self._write(
            "mark episodes done",
            [
                (
                    _MARK_DONE,
                    [(run_id, r.task_id, r.sample_index, r.termination_reason, r.failure, now, now, now) for r in rows],
                ),
                (
                    _PUT_VERDICT,
                    [(run_id, r.task_id, r.sample_index, r.score, int(r.perfect), r.verdict.decode()) for r in rows],
                ),
            ],
        )

    async def mark_failed(self, run_id: str, rows: Sequence[tuple[str, int, str | None, str]]) -> None:
        """Mark episodes failed from ``(task_id, sample_index, termination_reason, reason)``; done ones stay done."""
        now = time.time()
        await self._write(
            "mark episodes failed",
            [(_MARK_FAILED, [(run_id, t, s, term, reason, now, now, now) for t, s, term, reason in rows])],
        )

    async def reset(self, run_id: str, keys: Sequence[Key]) -> None:
        """Put episodes back to ``pending`` and forget their verdicts."""
        now = time.time()
        await self._write(
            "reset episodes",
            [
                (_RESET, [(now, run_id, t, s) for t, s in keys]),
                (
                    "DELETE FROM verdicts WHERE run_id = ? AND task_id = ? AND sample_index = ?",
                    [(run_id, t, s) for t, s in keys],
                ),
            ],
        )

    async def reset_running(self, run_id: str) -> int:
        """Put episodes left ``running`` by a crashed process back to ``pending``; return how many."""
        rows = await self._fetch(
            "find interrupted episodes",
            "SELECT task_id, sample_index FROM episodes WHERE run_id = ? AND status = 'running'",
            (run_id,),
        )
        keys = [(str(t), int(s)) for t, s in rows]
        if keys:
            await self._write(
                "reset interrupted episodes",
                [
                    (
                        "UPDATE episodes SET status = 'pending', updated = ? "
                        "WHERE run_id = ? AND task_id = ? AND sample_index = ?",
                        [(time.time(), run_id, t, s) for t, s in keys],
                    )
                ],
            )
        return len(keys)

    async def keys(self, run_id: str, status: EpisodeStatus) -> set[Key]:
        """The keys of the run's episodes in ``status``."""
        rows = await self._fetch(
            f"read {status} episodes",
            "SELECT task_id, sample_index FROM episodes WHERE run_id = ? AND status = ?",
            (run_id, status),
        )
        return {(str(t), int(s)) for t, s in rows}

    async def episodes(self, run_id: str) -> list[EpisodeRow]:
        """Every episode of the run, ordered by key."""
        rows = await self._fetch(
            "read episodes",
            "SELECT task_id, sample_index, status, termination_reason, failure, attempts, created, started, finished "
            "FROM episodes WHERE run_id = ? ORDER BY task_id, sample_index",
            (run_id,),
        )
        return [
            EpisodeRow(
                task_id=str(t),
                sample_index=int(s),
                status=_as_status(st, self._path),
                termination_reason=None if term is None else str(term),
                failure=None if fail is None else str(fail),
                attempts=int(att),
                created=float(cr),
                started=None if sta is None else float(sta),
                finished=None if fin is None else float(fin),
            )
            for t, s, st, term, fail, att, cr, sta, fin in rows
        ]

    async def verdict(self, run_id: str, key: Key) -> tuple[float, bool, bytes] | None:
        """The stored ``(score, perfect, verdict JSON)`` of one episode, if it has one."""
        rows = await self._fetch(
            "read a verdict",
            "SELECT score, perfect, verdict FROM verdicts WHERE run_id = ? AND task_id = ? AND sample_index = ?",
            (run_id, key[0], key[1]),
        )
        if not rows:
            return None
        score, perfect, body = rows[0]
        return float(score), bool(perfect), str(body).encode()

    async def statistics(self, run_id: str) -> RunStatistics:
        """Episode counts by status, and perfect verdicts among done episodes."""
        counts = dict.fromkeys(("pending", "running", "done", "failed"), 0)
        for status, count in await self._fetch(
            "count episodes", "SELECT status, COUNT(*) FROM episodes WHERE run_id = ? GROUP BY status", (run_id,)
        ):
            counts[str(status)] = int(count)
        perfect = await self._fetch(
            "count perfect episodes",
            "SELECT COUNT(*) FROM verdicts v JOIN episodes e USING (run_id, task_id, sample_index) "
            "WHERE v.run_id = ? AND e.status = 'done' AND v.perfect = 1",
            (run_id,),
        )
        return RunStatistics(
            requested=sum(counts.values()),
            pending=counts["pending"],
            running=counts["running"],
            done=counts["done"],
            failed=counts["failed"],
            perfect=int(perfect[0][0]),
        )


def _as_status(value: object, path: Path) -> EpisodeStatus:
    if value == "pending" or value == "running" or value == "done" or value == "failed":
        return value
    raise StoreError(f"unknown episode status {value!r} in {path}; was it written by another program?", path=path)
