"""The immutable base world that every sandbox of a process shares."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from cove_async.errors import DataError
from cove_async.sandbox._copy import PrivateCopy
from cove_async.sandbox._fork import Fork
from cove_async.sandbox._schema import RecordKind, RecordRows, Schema

__all__ = ("Snapshot",)

R = TypeVar("R", bound=msgspec.Struct)

_MAX_SELECTIONS = 100_000


def _connect() -> sqlite3.Connection:
    # check_same_thread=False: a snapshot is built in one thread (a CLI worker, a test fixture)
    # and read on the event loop's thread; it is never written after construction.
    return sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)


class Snapshot:
    """An in-memory SQLite database that nobody writes to once it is built.

    Sandboxes read through it and keep their own changes beside it, so one snapshot serves
    thousands of live episodes. Build one with :meth:`from_records`, :meth:`from_bytes` or
    :meth:`open`; never call the constructor.
    """

    def __init__(self, schema: Schema, conn: sqlite3.Connection) -> None:
        self.schema = schema
        self.conn = conn
        conn.execute("PRAGMA query_only = 1")
        self._keys: dict[str, list[str]] = {}
        self._positions: dict[str, dict[str, int]] = {}
        self._bytes: bytes | None = None
        self._rows: dict[tuple[str, str], RecordRows | None] = {}
        self._shared: dict[tuple[str, str], Any] = {}
        self._selections: dict[tuple[str, str, tuple[Any, ...]], list[str]] = {}

    @classmethod
    def from_records(cls, schema: Schema, records: Mapping[str, Iterable[Any]]) -> Snapshot:
        """Build a snapshot holding ``records`` (kind name to records, in order)."""
        conn = _connect()
        schema.create(conn)
        conn.execute("BEGIN")
        for name, items in records.items():
            kind = schema.kind(name)
            for record in items:
                if not isinstance(record, kind.type):
                    raise DataError(f"{name}: expected {kind.type.__name__}, got {type(record).__name__}")
                try:
                    schema.store(conn, name, record)
                except sqlite3.IntegrityError:
                    raise DataError(f"{name}: duplicate key {kind.key_of(record)!r}") from None
        conn.execute("COMMIT")
        # Leave free pages behind so a private copy's first write does not have to grow (and so
        # reallocate) the whole deserialised buffer; see measurements.md section 6.
        conn.execute("VACUUM")
        return cls(schema, conn)

    @classmethod
    def from_bytes(cls, schema: Schema, data: bytes) -> Snapshot:
        """Load a snapshot from the bytes :meth:`to_bytes` produced."""
        conn = _connect()
        try:
            conn.deserialize(data)
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.DatabaseError as exc:
            raise DataError(f"not a cove-async world database: {exc}") from exc
        missing = {k.name for k in schema.kinds} - tables
        if missing:
            raise DataError(f"world database lacks the tables {sorted(missing)}; is it for another domain?")
        return cls(schema, conn)

    @classmethod
    def open(cls, schema: Schema, path: str | Path) -> Snapshot:
        """Load a snapshot from a SQLite file written by :meth:`save`."""
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise DataError(f"cannot read world database {path}: {exc.strerror}") from exc
        return cls.from_bytes(schema, data)

    def to_bytes(self) -> bytes:
        """The database as SQLite file bytes: equal worlds built alike give equal bytes."""
        if self._bytes is None:
            self._bytes = self.conn.serialize()
        return self._bytes

    def save(self, path: str | Path) -> None:
        """Write the database to ``path`` as a SQLite file."""
        Path(path).write_bytes(self.to_bytes())

    def load(self, kind: RecordKind[R], key: str) -> R | None:
        """A fresh copy of the base record ``key``, or None: the caller may mutate it.

        The rows behind each record are read from SQLite once and kept (the snapshot never
        changes); every call builds a new record from them, so no caller sees another's edits.
        Keeping rows rather than records is what makes that safe without a deep copy, and
        assembling from rows keeps every number's type as stored (an int in a float field).
        """
        cache_key = (kind.name, key)
        try:
            rows = self._rows[cache_key]
        except KeyError:
            rows = self._rows[cache_key] = self.schema.load_rows(self.conn, kind.name, key)
        record: R | None = None if rows is None else self.schema.assemble(kind.name, rows)
        return record

    def peek(self, kind: RecordKind[R], key: str) -> R | None:
        """The base record ``key``, or None, shared by every caller: never mutate it.

        Reads dominate episodes (a flight search loads dozens of flights, each with its dated
        instances), and building a record is most of a read's cost, so a record read this way
        is built once per process. Forks serve plain reads from here and hand out private
        copies (:meth:`load`) only for updates; the isolation property test would catch a
        tool that mutated what it only read.
        """
        cache_key = (kind.name, key)
        try:
            record: R | None = self._shared[cache_key]
        except KeyError:
            record = self._shared[cache_key] = self.load(kind, key)
        return record

    def keys(self, kind: RecordKind[Any]) -> list[str]:
        """Every key of ``kind``, in insertion order (cached: the snapshot never changes)."""
        keys = self._keys.get(kind.name)
        if keys is None:
            keys = self._keys[kind.name] = self.schema.keys(self.conn, kind.name)
        return keys

    def position(self, kind: RecordKind[Any], key: str) -> int:
        """The insertion position of base record ``key`` (len(keys) for a key not in the base)."""
        positions = self._positions.get(kind.name)
        if positions is None:
            positions = self._positions[kind.name] = {k: i for i, k in enumerate(self.keys(kind))}
        return positions.get(key, len(positions))

    def select_keys(self, kind: RecordKind[Any], where: str, params: Sequence[Any] = ()) -> list[str]:
        """Keys of the base records of ``kind`` matching the SQL condition ``where``, in order.

        Answers are kept (the snapshot never changes): episodes ask the same few lookups again
        and again, and a query costs far more than a dictionary hit. The returned list is
        shared: do not mutate it.
        """
        query = (kind.name, where, tuple(params))
        keys = self._selections.get(query)
        if keys is None:
            if len(self._selections) >= _MAX_SELECTIONS:
                self._selections.clear()  # a bound, not a policy: lookups repeat within episodes
            sql = f'SELECT "{kind.key}" FROM "{kind.name}" WHERE {where} ORDER BY rowid'
            keys = self._selections[query] = [row[0] for row in self.conn.execute(sql, params)]
        return keys

    def fork(self) -> Fork:
        """A new copy-on-write sandbox over this snapshot."""
        return Fork(self)

    def private_copy(self) -> PrivateCopy:
        """A sandbox on a private full copy of the database (the baseline a fork is measured against)."""
        return PrivateCopy(self)
