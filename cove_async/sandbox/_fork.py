"""Copy-on-write sandboxes: a shared snapshot plus the records one episode changed."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from cove_async.errors import DataError
from cove_async.sandbox._changes import Change, ChangeSet, same_record
from cove_async.sandbox._schema import RecordKind

if TYPE_CHECKING:
    from cove_async.sandbox._snapshot import Snapshot

__all__ = ("Fork",)

R = TypeVar("R", bound=msgspec.Struct)


class Fork:
    """One episode's world: reads fall through to the snapshot, writes stay here.

    The write set maps (kind, key) to the episode's own copy of a record. A record enters it
    the first time a tool asks for it to update (:meth:`get_for_update`) or inserts it, and
    from then on every read of that key sees the episode's copy. Nothing is ever written to the
    snapshot, so forks cannot see each other, and forking costs one small object.

    Tools mutate the record that :meth:`get_for_update` returns in place, as tau2's tools
    mutate their pydantic models: a tool that fails half-way leaves its partial change behind,
    exactly as in tau2 (which has no rollback either).
    """

    __slots__ = ("_new", "_writes", "snapshot")

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self._writes: dict[tuple[str, str], Any] = {}
        self._new: dict[str, list[str]] = {}

    def get(self, kind: RecordKind[R], key: str) -> R | None:
        """The current record ``key``, or None. Read-only: use :meth:`get_for_update` to change it."""
        record = self._writes.get((kind.name, key))
        if record is not None:
            return record  # type: ignore[no-any-return]
        return self.snapshot.peek(kind, key)

    def get_for_update(self, kind: RecordKind[R], key: str) -> R | None:
        """The episode's own copy of record ``key`` (None if there is none), to mutate in place."""
        slot = (kind.name, key)
        record = self._writes.get(slot)
        if record is None:
            record = self.snapshot.load(kind, key)
            if record is None:
                return None
            self._writes[slot] = record
        return record

    def insert(self, kind: RecordKind[R], record: R) -> None:
        """Add a new record; its key must not exist yet."""
        key = kind.key_of(record)
        if self.get(kind, key) is not None:
            raise DataError(f"{kind.name}: key {key!r} exists already")
        self._writes[(kind.name, key)] = record
        self._new.setdefault(kind.name, []).append(key)

    def find(
        self,
        kind: RecordKind[R],
        where: str,
        params: Sequence[Any],
        matches: Callable[[R], bool],
    ) -> list[str]:
        """Keys of the current records of ``kind`` that match, in insertion order.

        ``where`` (SQL over the kind's root columns, served by its indexes) selects among the
        snapshot's records; ``matches`` must state the same condition in Python, and decides
        for the records this episode changed or added, whose base row may no longer be true.
        """
        own = {key: record for (name, key), record in self._writes.items() if name == kind.name}
        keys = [k for k in self.snapshot.select_keys(kind, where, params) if k not in own]
        changed = [k for k, record in own.items() if matches(record)]
        if not changed:
            return keys
        position = self.snapshot.position
        return sorted(keys + changed, key=lambda k: (position(kind, k), k in self._new.get(kind.name, ())))

    def keys(self, kind: RecordKind[Any]) -> list[str]:
        """Every key of ``kind``: the snapshot's, then this episode's new ones, in insertion order."""
        return self.snapshot.keys(kind) + self._new.get(kind.name, [])

    def flush(self) -> None:
        """Nothing to do: a fork's writes are live as soon as they are made."""

    def written(self) -> Iterator[tuple[str, str, Any]]:
        """The records this fork holds its own copies of, as (kind, key, record), in first-write order.

        Read-only: a verifier watches these to see what each tool call changed.
        """
        for (name, key), record in self._writes.items():
            yield name, key, record

    def changes(self) -> ChangeSet:
        """The records this episode changed, compared with the snapshot. O(records written)."""
        out = []
        for (name, key), after in self._writes.items():
            before = self.snapshot.schema.load(self.snapshot.conn, name, key)
            if not same_record(before, after):
                out.append(Change(kind=name, key=key, before=before, after=after))
        out.sort(key=lambda c: (c.kind, c.key))
        return ChangeSet(changes=tuple(out))

    def state_hash(self) -> str:
        """A digest that is equal for two forks of one snapshot exactly when their states are."""
        return self.changes().state_hash()

    def export(self) -> dict[str, dict[str, Any]]:
        """The whole current state as plain data: kind name to key to record. O(database)."""
        schema = self.snapshot.schema
        out: dict[str, dict[str, Any]] = {}
        for kind in schema.kinds:
            records = {kind.key_of(r): r for r in schema.load_all(self.snapshot.conn, kind.name)}
            for (name, key), record in self._writes.items():
                if name == kind.name:
                    records[key] = record  # a new key lands at the end, in insertion order
            out[kind.name] = {key: msgspec.to_builtins(record) for key, record in records.items()}
        return out

    @property
    def write_count(self) -> int:
        """How many records this fork holds copies of."""
        return len(self._writes)
