"""The ledger's SQL schema, as an ordered list of migrations.

The schema version lives in SQLite's ``PRAGMA user_version``. Opening a store applies every
migration above it, each in its own transaction, so a store written by an older cove-async is
upgraded in place and one written by a newer cove-async is refused rather than misread. A
change to the schema is a new :class:`Migration` appended here; released migrations never change.
"""

from __future__ import annotations

from pathlib import Path

import aiosqlite
import anyio
import msgspec

from cove_async.store._errors import StoreError

__all__ = ("MIGRATIONS", "STORE_SCHEMA_VERSION", "Migration", "migrate")


class Migration(msgspec.Struct, frozen=True, kw_only=True):
    """The statements that take the schema from ``version - 1`` to ``version``."""

    version: int
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        version=1,
        statements=(
            """
            CREATE TABLE runs (
                id TEXT PRIMARY KEY,
                config TEXT NOT NULL,
                created REAL NOT NULL,
                updated REAL NOT NULL
            )
            """,
            """
            CREATE TABLE tasks (
                run_id TEXT NOT NULL REFERENCES runs (id),
                task_id TEXT NOT NULL,
                task TEXT NOT NULL,
                PRIMARY KEY (run_id, task_id)
            )
            """,
            """
            CREATE TABLE episodes (
                run_id TEXT NOT NULL REFERENCES runs (id),
                task_id TEXT NOT NULL,
                sample_index INTEGER NOT NULL,
                status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'done', 'failed')),
                termination_reason TEXT,
                failure TEXT,
                attempts INTEGER NOT NULL DEFAULT 0,
                created REAL NOT NULL,
                started REAL,
                finished REAL,
                updated REAL NOT NULL,
                PRIMARY KEY (run_id, task_id, sample_index)
            )
            """,
            "CREATE INDEX episodes_by_status ON episodes (run_id, status)",
            """
            CREATE TABLE verdicts (
                run_id TEXT NOT NULL REFERENCES runs (id),
                task_id TEXT NOT NULL,
                sample_index INTEGER NOT NULL,
                score REAL NOT NULL,
                perfect INTEGER NOT NULL CHECK (perfect IN (0, 1)),
                verdict TEXT NOT NULL,
                PRIMARY KEY (run_id, task_id, sample_index)
            )
            """,
        ),
    ),
)

STORE_SCHEMA_VERSION = MIGRATIONS[-1].version
"""The schema version this code reads and writes."""


async def migrate(conn: aiosqlite.Connection, *, path: Path) -> int:
    """Bring the schema up to :data:`STORE_SCHEMA_VERSION`; return the version found before.

    Args:
        conn: an open connection in autocommit mode (``isolation_level=None``).
        path: the database file, for error messages.

    Raises:
        StoreError: the file was written by a newer cove-async.
    """
    async with conn.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    found = int(row[0]) if row is not None else 0
    if found > STORE_SCHEMA_VERSION:
        raise StoreError(
            f"{path} has store schema version {found}, but this cove-async knows versions up to "
            f"{STORE_SCHEMA_VERSION}; upgrade cove-async or use another output directory",
            path=path,
        )
    for migration in MIGRATIONS:
        if migration.version <= found:
            continue
        # Shielded: a migration cut short by cancellation must still roll back or commit.
        with anyio.CancelScope(shield=True):
            await conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in migration.statements:
                    await conn.execute(statement)
                # PRAGMA takes no parameters; the value is our own integer.
                await conn.execute(f"PRAGMA user_version = {migration.version}")
            except BaseException:
                await conn.execute("ROLLBACK")
                raise
            await conn.execute("COMMIT")
    return found
