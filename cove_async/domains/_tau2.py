"""tau2-bench's JSON database format: import, export and its DB hash."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import msgspec

from cove_async.errors import DataError
from cove_async.sandbox import Sandbox, Schema, Snapshot

__all__ = ("export_tau2", "load_tau2_db", "tau2_hash")


def load_tau2_db(schema: Schema, path: str | Path) -> Snapshot:
    """A snapshot holding the records of tau2's ``db.json`` at ``path``.

    Raises:
        DataError: the file is missing, not JSON, or a record does not fit the schema (the
            message gives the JSON path of the first bad value).
    """
    try:
        raw = msgspec.json.decode(Path(path).read_bytes())
    except OSError as exc:
        raise DataError(f"cannot read tau2 database {path}: {exc.strerror}") from exc
    except msgspec.DecodeError as exc:
        raise DataError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise DataError(f"{path}: expected a JSON object of tables, got {type(raw).__name__}")
    expected = [k.name for k in schema.kinds]
    if sorted(raw) != sorted(expected):
        raise DataError(f"{path}: tables {sorted(raw)} do not match this domain's {sorted(expected)}")
    records: dict[str, list[Any]] = {}
    for kind in schema.kinds:
        table = raw[kind.name]
        try:
            records[kind.name] = [msgspec.convert(value, kind.type) for value in table.values()]
        except msgspec.ValidationError as exc:
            raise DataError(f"{path}: {kind.name}: {exc}") from exc
    return Snapshot.from_records(schema, records)


def export_tau2(sandbox: Sandbox) -> dict[str, dict[str, Any]]:
    """The sandbox's current state in tau2's JSON shape (tables of records keyed by id)."""
    return sandbox.export()


def tau2_hash(state: dict[str, dict[str, Any]]) -> str:
    """tau2's DB hash: sha256 of the JSON dump with sorted keys."""
    return hashlib.sha256(json.dumps(state, sort_keys=True, default=str).encode()).hexdigest()
