"""Records as sets of field values, so changes can be attributed field by field.

A *path* names one field of one record: ``"status"``, or for a dict field one entry of it
(``"payment_methods/gift_card_7"``, ``"dates/2024-05-20"``), because two constraints may change two
entries of one dict (two gift cards of one user) and each must be judged on its own. The empty
path ``""`` stands for a whole record that was created. Values are compared by their canonical
encoding, which tells ``100`` from ``100.0`` as tau2's hash does.
"""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = ("FieldValues", "Slot", "changed_paths", "field_values", "value_at")

_encode = msgspec.msgpack.Encoder(order="sorted").encode

Slot = tuple[str, str, str]
"""(record kind, record key, path)."""

FieldValues = dict[str, bytes]
"""Path to canonical value bytes, for one record."""


def field_values(record: Any | None) -> FieldValues:
    """The paths and encoded values of ``record`` (empty for a record that does not exist)."""
    if record is None:
        return {}
    out: FieldValues = {}
    for name in record.__struct_fields__:
        value = getattr(record, name)
        if isinstance(value, dict):
            for key, item in value.items():
                out[f"{name}/{key}"] = _encode(item)
            out[name] = b""  # the dict itself exists, even when empty
        else:
            out[name] = _encode(value)
    return out


def changed_paths(before: FieldValues, after: FieldValues) -> dict[str, tuple[bytes | None, bytes | None]]:
    """Paths whose value differs, with the value before and after (None: absent).

    A record that did not exist before is one change at the path ``""``.
    """
    if not before and after:
        return {"": (None, value_at(after, ""))}
    out: dict[str, tuple[bytes | None, bytes | None]] = {}
    for path in sorted(before.keys() | after.keys()):
        old, new = before.get(path), after.get(path)
        if old != new:
            out[path] = (old, new)
    return out


def value_at(values: FieldValues, path: str) -> bytes | None:
    """The value at ``path`` (``""``: the whole record), or None where there is none."""
    if path:
        return values.get(path)
    return b"".join(values[p] for p in sorted(values)) if values else None
