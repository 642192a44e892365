"""The full-copy sandbox: what a fork replaces, kept as a baseline and a reference."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from cove_async.errors import DataError
from cove_async.sandbox._changes import Change, ChangeSet, same_record
from cove_async.sandbox._schema import RecordKind

if TYPE_CHECKING:
    from cove_async.sandbox._snapshot import Snapshot

__all__ = ("PrivateCopy",)

R = TypeVar("R", bound=msgspec.Struct)


class PrivateCopy:
    """A sandbox that owns a whole copy of the database (SQLite serialize/deserialize).

    It costs milliseconds and megabytes per episode, which is why forks exist; it stays as the
    benchmark baseline and as the reference the property tests hold forks to, since here every
    write really goes through SQL into the episode's own tables.
    """

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.schema = snapshot.schema
        self.conn = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        self.conn.deserialize(snapshot.to_bytes())
        self._dirty: dict[tuple[str, str], Any] = {}

    def get(self, kind: RecordKind[R], key: str) -> R | None:
        """The current record ``key``, or None."""
        record = self._dirty.get((kind.name, key))
        if record is not None:
            return record  # type: ignore[no-any-return]
        loaded: R | None = self.schema.load(self.conn, kind.name, key)
        return loaded

    def get_for_update(self, kind: RecordKind[R], key: str) -> R | None:
        """Record ``key`` to mutate in place; written back to the tables by :meth:`flush`."""
        slot = (kind.name, key)
        record = self._dirty.get(slot)
        if record is None:
            record = self.schema.load(self.conn, kind.name, key)
            if record is None:
                return None
            self._dirty[slot] = record
        return record  # type: ignore[no-any-return]

    def insert(self, kind: RecordKind[R], record: R) -> None:
        """Add a new record; its key must not exist yet."""
        key = kind.key_of(record)
        if self.get(kind, key) is not None:
            raise DataError(f"{kind.name}: key {key!r} exists already")
        self.schema.store(self.conn, kind.name, record)

    def find(
        self,
        kind: RecordKind[R],
        where: str,
        params: Sequence[Any],
        matches: Callable[[R], bool],
    ) -> list[str]:
        """Keys of the records of ``kind`` matching ``where``, in insertion order."""
        self.flush()
        sql = f'SELECT "{kind.key}" FROM "{kind.name}" WHERE {where} ORDER BY rowid'
        return [row[0] for row in self.conn.execute(sql, params)]

    def keys(self, kind: RecordKind[Any]) -> list[str]:
        """Every key of ``kind``, in insertion order."""
        return self.schema.keys(self.conn, kind.name)

    def flush(self) -> None:
        """Write every record taken for update back into the tables."""
        self.conn.execute("SAVEPOINT flush")
        for (name, _key), record in self._dirty.items():
            self.schema.replace(self.conn, name, record)
        self.conn.execute("RELEASE flush")
        self._dirty.clear()

    def changes(self) -> ChangeSet:
        """Every record that differs from the snapshot, found by comparing all of them."""
        self.flush()
        out = []
        for kind in self.schema.kinds:
            for key in self.keys(kind):
                before = self.snapshot.load(kind, key)
                after = self.get(kind, key)
                if not same_record(before, after):
                    out.append(Change(kind=kind.name, key=key, before=before, after=after))
        out.sort(key=lambda c: (c.kind, c.key))
        return ChangeSet(changes=tuple(out))

    def state_hash(self) -> str:
        """The same digest as :meth:`Fork.state_hash`, computed the slow way."""
        return self.changes().state_hash()

    def export(self) -> dict[str, dict[str, Any]]:
        """The whole current state as plain data: kind name to key to record."""
        self.flush()
        return {
            kind.name: {kind.key_of(r): msgspec.to_builtins(r) for r in self.schema.load_all(self.conn, kind.name)}
            for kind in self.schema.kinds
        }
