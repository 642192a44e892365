"""What an episode changed, as data."""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec

__all__ = ("Change", "ChangeSet", "hash_records", "same_record")

# Sorted keys and fields: two sandboxes holding equal records hash equal, whatever order their
# dicts were filled in (tau2 hashes with sort_keys=True for the same reason).
_canonical = msgspec.msgpack.Encoder(order="sorted").encode


class Change(msgspec.Struct, frozen=True, kw_only=True):
    """One record an episode changed: its value in the base (None if new) and now."""

    kind: str
    key: str
    before: Any | None
    after: Any


class ChangeSet(msgspec.Struct, frozen=True, kw_only=True):
    """The records an episode changed, sorted by (kind, key).

    No-op writes (a record rewritten with the values it already had) are not changes.
    """

    changes: tuple[Change, ...]

    def __len__(self) -> int:
        return len(self.changes)

    def keys(self) -> set[tuple[str, str]]:
        """The (kind, key) pairs that changed."""
        return {(c.kind, c.key) for c in self.changes}

    def state_hash(self) -> str:
        """A digest of the changed records' final values.

        Two sandboxes forked from one base have equal hashes exactly when their states are equal,
        so this stands in for a whole-database hash at the cost of the changed rows only.
        """
        return hash_records((c.kind, c.key, c.after) for c in self.changes)


def same_record(a: Any, b: Any) -> bool:
    """Whether two records hold the same values, down to the type of each number.

    Struct equality says ``100 == 100.0``; tau2's hash does not, so neither do we.
    """
    return a is b or _canonical(a) == _canonical(b)


def hash_records(records: Any) -> str:
    """sha256 over the canonical encoding of ``(kind, key, record)`` triples, in the given order."""
    digest = hashlib.sha256()
    for kind, key, record in records:
        digest.update(_canonical((kind, key, record)))
    return digest.hexdigest()
