"""Per-episode worlds: an immutable SQLite snapshot shared by all, a copy-on-write fork each.

Layering: ``_schema`` (record types to tables) → ``_changes`` (change sets and state hashes) →
``_fork`` and ``_copy`` (the two sandbox kinds) → ``_snapshot`` (the shared base that makes both).
Tools are written against :class:`Sandbox`, the protocol both kinds satisfy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

import msgspec

from cove_async.sandbox._changes import Change, ChangeSet, hash_records
from cove_async.sandbox._copy import PrivateCopy
from cove_async.sandbox._fork import Fork
from cove_async.sandbox._schema import RecordKind, Schema
from cove_async.sandbox._snapshot import Snapshot

__all__ = (
    "Change",
    "ChangeSet",
    "Fork",
    "PrivateCopy",
    "RecordKind",
    "Sandbox",
    "Schema",
    "Snapshot",
    "hash_records",
)

R = TypeVar("R", bound=msgspec.Struct)


class Sandbox(Protocol):
    """What a tool may do with the world of its episode."""

    def get(self, kind: RecordKind[R], key: str) -> R | None: ...

    def get_for_update(self, kind: RecordKind[R], key: str) -> R | None: ...

    def insert(self, kind: RecordKind[R], record: R) -> None: ...

    def find(
        self, kind: RecordKind[R], where: str, params: Sequence[Any], matches: Callable[[R], bool]
    ) -> list[str]: ...

    def keys(self, kind: RecordKind[Any]) -> list[str]: ...

    def flush(self) -> None: ...

    def changes(self) -> ChangeSet: ...

    def state_hash(self) -> str: ...

    def export(self) -> dict[str, dict[str, Any]]: ...
