"""Relational tables derived from record types.

A domain describes its entities as msgspec Structs (an order with its items, fulfillments and
payments; a user with payment methods). :class:`RecordKind` names one such aggregate and its
primary key; :class:`Schema` turns a set of them into SQLite tables and knows how to move one
record in and out of those tables.

The mapping, decided once per type from its annotations:

* a scalar field (``str``, ``int``, ``float``, ``bool``, a ``Literal``, or any of them ``| None``)
  is a column of the matching SQLite type;
* an embedded Struct (a user's ``name``, an order's ``address``) is flattened into columns
  ``address__city``, ...;
* a list or dict of scalars (a variant's ``options``, a fulfillment's ``tracking_id``) is a JSON
  text column: a value, not an entity;
* a list or dict of Structs, or of a tagged union of Structs (an order's ``items``, a user's
  ``payment_methods``), is a child table ``<kind>__<field>`` with the owner's key, the position
  (dict and list order is part of the data: tau2 serialises in insertion order) and, for dicts,
  the key.

Records are loaded with one query per table and rebuilt in field order, so a loaded record
serialises exactly as the stored one did.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import msgspec
from msgspec import inspect as mi

from cove_async.errors import SchemaError

__all__ = ("RecordKind", "RecordRows", "Schema")

RecordRows = tuple[tuple[Any, ...], tuple[list[tuple[Any, ...]], ...]]
"""A record as stored: its own row and, per child table, its children's rows."""

R = TypeVar("R", bound=msgspec.Struct)

_json_encode = msgspec.json.Encoder().encode
_json_decode = msgspec.json.Decoder().decode


@dataclass(frozen=True, slots=True)
class RecordKind(Generic[R]):
    """One aggregate of a domain: its Struct type, its primary key and its name.

    Args:
        name: the table name, and the top-level key of the domain's tau2 JSON (``"orders"``).
        type: the Struct type of a record.
        key: the field holding the primary key (``"order_id"``).
        indexes: root-table columns to index for :meth:`Sandbox.find` queries, each a tuple of
            column names or SQL expressions (``("lower(email)",)``).
    """

    name: str
    type: type[R]
    key: str
    indexes: tuple[tuple[str, ...], ...] = ()

    def key_of(self, record: R) -> str:
        """The primary key of ``record``."""
        key: str = getattr(record, self.key)
        return key


def _scalar_sql_type(t: mi.Type) -> str | None:
    """The SQLite column type for a scalar annotation, or None if ``t`` is not a scalar."""
    if isinstance(t, mi.StrType):
        return "TEXT"
    if isinstance(t, mi.BoolType | mi.IntType):
        return "INTEGER"
    if isinstance(t, mi.FloatType):
        # No declared type, so no affinity: REAL affinity would turn an int stored in a float
        # field into a float, and tau2 does keep ints there (an exchange of no items records a
        # price difference of 0, not 0.0), which its hash tells apart.
        return ""
    if isinstance(t, mi.LiteralType):
        return "TEXT" if all(isinstance(v, str) for v in t.values) else "INTEGER"
    return None


def _strip_optional(t: mi.Type) -> tuple[mi.Type, bool]:
    if isinstance(t, mi.UnionType):
        rest = tuple(x for x in t.types if not isinstance(x, mi.NoneType))
        if len(rest) == 1 and len(rest) < len(t.types):
            return rest[0], True
    return t, False


def _is_scalar_collection(t: mi.Type) -> bool:
    if isinstance(t, mi.ListType):
        return _scalar_sql_type(t.item_type) is not None
    if isinstance(t, mi.DictType):
        return isinstance(t.key_type, mi.StrType) and _scalar_sql_type(t.value_type) is not None
    return False


def _struct_types(t: mi.Type) -> tuple[mi.StructType, ...] | None:
    """The Struct variants of ``t`` if it is a Struct or a tagged union of Structs."""
    if isinstance(t, mi.StructType):
        return (t,)
    if isinstance(t, mi.UnionType) and all(isinstance(x, mi.StructType) for x in t.types):
        variants = tuple(x for x in t.types if isinstance(x, mi.StructType))
        if not all(v.tag_field == variants[0].tag_field and v.tag_field for v in variants):
            raise SchemaError(f"union {t} must be tagged, with one tag field for every variant")
        return variants
    return None


class _Flat:
    """Moves one Struct (or a tagged union of Structs) to and from a run of columns.

    Used for a root record's own columns and for a child row's columns. Embedded Structs are
    flattened; collections of scalars are JSON text. Collections of Structs are not allowed here:
    only a root record may own child tables.
    """

    def __init__(self, variants: Sequence[mi.StructType], prefix: str = "") -> None:
        self.columns: list[tuple[str, str]] = []  # (name, sql type), in table order
        self._index: dict[str, int] = {}
        self.tag_field = variants[0].tag_field if len(variants) > 1 or variants[0].tag else None
        if self.tag_field is not None:
            self._add(prefix + self.tag_field, "TEXT")
        # For each variant: its class and one (field name, reader) step per field.
        self._readers: dict[Any, tuple[type[Any], list[tuple[str, Callable[[tuple[Any, ...]], Any]]]]] = {}
        self._writers: dict[type[Any], list[Callable[[Any, list[Any]], None]]] = {}
        self._tags: dict[type[Any], Any] = {}
        for variant in variants:
            readers: list[tuple[str, Callable[[tuple[Any, ...]], Any]]] = []
            writers: list[Callable[[Any, list[Any]], None]] = []
            for f in variant.fields:
                reader, writer = self._plan_field(f, prefix)
                readers.append((f.name, reader))
                writers.append(writer)
            self._readers[variant.tag] = (variant.cls, readers)
            self._writers[variant.cls] = writers
            self._tags[variant.cls] = variant.tag
        self._tag_position = 0 if self.tag_field is not None else None

    def _add(self, name: str, sql_type: str) -> int:
        if name in self._index:
            existing = self.columns[self._index[name]][1]
            if existing != sql_type:
                raise SchemaError(f"column {name!r} is {existing} in one variant, {sql_type} in another")
            return self._index[name]
        self._index[name] = len(self.columns)
        self.columns.append((name, sql_type))
        return self._index[name]

    def _plan_field(
        self, f: mi.Field, prefix: str
    ) -> tuple[Callable[[tuple[Any, ...]], Any], Callable[[Any, list[Any]], None]]:
        name = f.name
        column = prefix + name
        inner, _optional = _strip_optional(f.type)
        sql_type = _scalar_sql_type(inner)
        if sql_type is not None:
            i = self._add(column, sql_type)
            if isinstance(inner, mi.BoolType):
                # SQLite has no booleans: keep the Python type so records compare and serialise alike.
                return (
                    lambda row: None if row[i] is None else bool(row[i]),
                    lambda obj, out: out.__setitem__(i, getattr(obj, name)),
                )
            return (lambda row: row[i], lambda obj, out: out.__setitem__(i, getattr(obj, name)))
        if _is_scalar_collection(inner):
            i = self._add(column, "TEXT")

            def read_json(row: tuple[Any, ...]) -> Any:
                return None if row[i] is None else _json_decode(row[i])

            def write_json(obj: Any, out: list[Any]) -> None:
                value = getattr(obj, name)
                out[i] = None if value is None else _json_encode(value).decode()

            return read_json, write_json
        variants = _struct_types(inner)
        if variants is not None and len(variants) == 1 and not _optional:
            sub = _Embedded(self, variants[0], column + "__")
            return (sub.read, lambda obj, out: sub.write(getattr(obj, name), out))
        raise SchemaError(
            f"field {name!r} of type {f.type} cannot be stored in a flat row; "
            "collections of records belong in a child table of the root record"
        )

    def read_fields(self, row: tuple[Any, ...]) -> dict[str, Any]:
        """The field values stored in ``row`` (of an untagged Struct), by field name."""
        _cls, readers = self._readers[None]
        return {name: read(row) for name, read in readers}

    def read(self, row: tuple[Any, ...]) -> Any:
        """Rebuild the Struct stored in ``row``."""
        tag = row[self._tag_position] if self._tag_position is not None else None
        try:
            cls, readers = self._readers[tag]
        except KeyError:
            raise SchemaError(f"unknown {self.tag_field} {tag!r} in stored row") from None
        return cls(**{name: read(row) for name, read in readers})

    def write(self, obj: Any, out: list[Any]) -> None:
        """Write ``obj`` into the positions of ``out`` that belong to these columns."""
        writers = self._writers.get(type(obj))
        if writers is None:
            raise SchemaError(f"cannot store {type(obj).__name__} here")
        if self._tag_position is not None:
            out[self._tag_position] = self._tags[type(obj)]
        for write in writers:
            write(obj, out)


class _Embedded:
    """An embedded Struct flattened into its parent's columns."""

    def __init__(self, parent: _Flat, t: mi.StructType, prefix: str) -> None:
        if t.tag_field is not None:
            raise SchemaError(f"embedded struct {t.cls.__name__} must not be tagged")
        self._cls = t.cls
        pairs = [parent._plan_field(f, prefix) for f in t.fields]
        self._readers = [(f.name, p[0]) for f, p in zip(t.fields, pairs, strict=True)]
        self._writers = [p[1] for p in pairs]

    def read(self, row: tuple[Any, ...]) -> Any:
        return self._cls(**{name: read(row) for name, read in self._readers})

    def write(self, obj: Any, out: list[Any]) -> None:
        for write in self._writers:
            write(obj, out)


@dataclass(slots=True)
class _Child:
    """A child table: one row per element of a list or dict field of the root record."""

    field: str
    table: str
    is_dict: bool
    flat: _Flat
    select: str = ""
    select_all: str = ""
    insert: str = ""


@dataclass(slots=True)
class _Mapping:
    """Everything needed to move one kind's records in and out of its tables."""

    kind: RecordKind[Any]
    root: _Flat
    children: list[_Child]
    field_order: list[str]
    select: str = ""
    select_all: str = ""
    insert: str = ""
    update: str = ""
    ddl: list[str] = field(default_factory=list)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _build_mapping(kind: RecordKind[Any]) -> _Mapping:
    info = mi.type_info(kind.type)
    if not isinstance(info, mi.StructType):
        raise SchemaError(f"{kind.name}: {kind.type!r} is not a msgspec Struct")
    own_fields: list[mi.Field] = []
    children: list[_Child] = []
    for f in info.fields:
        inner, _ = _strip_optional(f.type)
        item = inner.item_type if isinstance(inner, mi.ListType) else None
        if isinstance(inner, mi.DictType):
            item = inner.value_type
        variants = _struct_types(item) if item is not None else None
        if variants is not None:
            table = f"{kind.name}__{f.name}"
            children.append(_Child(f.name, table, isinstance(inner, mi.DictType), _Flat(variants)))
        else:
            own_fields.append(f)
    if kind.key not in {f.name for f in own_fields}:
        raise SchemaError(f"{kind.name}: key field {kind.key!r} is not a scalar field of {kind.type.__name__}")
    root_info = mi.StructType(
        cls=kind.type,
        fields=tuple(own_fields),
        tag_field=None,
        tag=None,
        array_like=False,
        forbid_unknown_fields=False,
    )
    mapping = _Mapping(kind, _Flat([root_info]), children, [f.name for f in info.fields])
    key_col = _quote(kind.key)
    cols = ", ".join(f"{_quote(n)} {t}{' PRIMARY KEY' if n == kind.key else ''}" for n, t in mapping.root.columns)
    mapping.ddl.append(f"CREATE TABLE {_quote(kind.name)} ({cols})")
    for i, expressions in enumerate(kind.indexes):
        mapping.ddl.append(
            f"CREATE INDEX {_quote(f'{kind.name}__ix{i}')} ON {_quote(kind.name)} ({', '.join(expressions)})"
        )
    names = ", ".join(_quote(n) for n, _ in mapping.root.columns)
    mapping.select = f"SELECT {names} FROM {_quote(kind.name)} WHERE {key_col} = ?"
    mapping.select_all = f"SELECT {names} FROM {_quote(kind.name)} ORDER BY rowid"
    marks = ", ".join("?" for _ in mapping.root.columns)
    mapping.insert = f"INSERT INTO {_quote(kind.name)} ({names}) VALUES ({marks})"
    assignments = ", ".join(f"{_quote(n)} = ?" for n, _ in mapping.root.columns)
    mapping.update = f"UPDATE {_quote(kind.name)} SET {assignments} WHERE {key_col} = ?"
    for child in children:
        head = [("_owner", "TEXT NOT NULL"), ("_pos", "INTEGER NOT NULL")]
        if child.is_dict:
            head.append(("_key", "TEXT NOT NULL"))
        all_cols = head + child.flat.columns
        mapping.ddl.append(
            f"CREATE TABLE {_quote(child.table)} ("
            + ", ".join(f"{_quote(n)} {t}" for n, t in all_cols)
            + ", PRIMARY KEY (_owner, _pos)) WITHOUT ROWID"
        )
        if child.is_dict:
            # Dict keys are ids (item ids, payment method ids) that tools look records up by.
            mapping.ddl.append(f"CREATE INDEX {_quote(child.table + '__key')} ON {_quote(child.table)} (_key)")
        data_cols = (["_key"] if child.is_dict else []) + [n for n, _ in child.flat.columns]
        child.select = (
            f"SELECT {', '.join(_quote(n) for n in data_cols)} FROM {_quote(child.table)} "
            "WHERE _owner = ? ORDER BY _pos"
        )
        child.select_all = (
            f"SELECT _owner, {', '.join(_quote(n) for n in data_cols)} FROM {_quote(child.table)} ORDER BY _owner, _pos"
        )
        child.insert = (
            f"INSERT INTO {_quote(child.table)} ({', '.join(_quote(n) for n, _ in all_cols)}) "
            f"VALUES ({', '.join('?' for _ in all_cols)})"
        )
    return mapping


def _assemble(m: _Mapping, row: tuple[Any, ...], child_rows: Sequence[list[tuple[Any, ...]]]) -> Any:
    """A record from its root row and, per child table, its rows in position order."""
    values = m.root.read_fields(row)
    for child, rows in zip(m.children, child_rows, strict=True):
        if child.is_dict:
            values[child.field] = {r[0]: child.flat.read(r[1:]) for r in rows}
        else:
            values[child.field] = [child.flat.read(r) for r in rows]
    return m.kind.type(**values)


class Schema:
    """The tables of a set of record kinds, and the moves between records and rows.

    Args:
        kinds: the domain's aggregates, in the order tau2 lists them in its JSON.
    """

    def __init__(self, kinds: Iterable[RecordKind[Any]]) -> None:
        self.kinds: tuple[RecordKind[Any], ...] = tuple(kinds)
        self._mappings = {k.name: _build_mapping(k) for k in self.kinds}

    def kind(self, name: str) -> RecordKind[Any]:
        """The kind called ``name``."""
        try:
            return self._mappings[name].kind
        except KeyError:
            raise SchemaError(f"unknown record kind {name!r}; known: {', '.join(self._mappings)}") from None

    def ddl(self) -> list[str]:
        """CREATE statements for every table and index."""
        return [stmt for m in self._mappings.values() for stmt in m.ddl]

    def create(self, conn: sqlite3.Connection) -> None:
        """Create every table of the schema in ``conn``."""
        for stmt in self.ddl():
            conn.execute(stmt)

    def load(self, conn: sqlite3.Connection, kind: str, key: str) -> Any | None:
        """Read one record from ``conn``, or None if there is no record with that key."""
        rows = self.load_rows(conn, kind, key)
        return None if rows is None else self.assemble(kind, rows)

    def load_rows(self, conn: sqlite3.Connection, kind: str, key: str) -> RecordRows | None:
        """The rows that hold record ``key`` (its own and its children's), or None if there is none."""
        m = self._mappings[kind]
        row = conn.execute(m.select, (key,)).fetchone()
        if row is None:
            return None
        return row, tuple(conn.execute(child.select, (key,)).fetchall() for child in m.children)

    def assemble(self, kind: str, rows: RecordRows) -> Any:
        """A new record built from the rows :meth:`load_rows` read (they are left untouched)."""
        row, children = rows
        return _assemble(self._mappings[kind], row, children)

    def load_all(self, conn: sqlite3.Connection, kind: str) -> list[Any]:
        """Every record of ``kind`` in ``conn``, in insertion order, with one query per table."""
        m = self._mappings[kind]
        owned: list[dict[str, list[tuple[Any, ...]]]] = []
        for child in m.children:
            by_owner: dict[str, list[tuple[Any, ...]]] = {}
            for row in conn.execute(child.select_all):
                by_owner.setdefault(row[0], []).append(row[1:])
            owned.append(by_owner)
        key_at = [name for name, _ in m.root.columns].index(m.kind.key)
        return [
            _assemble(m, row, [by_owner.get(row[key_at], []) for by_owner in owned])
            for row in conn.execute(m.select_all)
        ]

    def store(self, conn: sqlite3.Connection, kind: str, record: Any) -> None:
        """Insert ``record`` into ``conn`` (it must not be there yet)."""
        m = self._mappings[kind]
        row: list[Any] = [None] * len(m.root.columns)
        m.root.write(record, row)
        conn.execute(m.insert, row)
        self._store_children(conn, m, record)

    def replace(self, conn: sqlite3.Connection, kind: str, record: Any) -> None:
        """Overwrite the stored record with ``record``'s key, keeping its place in insertion order."""
        m = self._mappings[kind]
        key = m.kind.key_of(record)
        row: list[Any] = [None] * len(m.root.columns)
        m.root.write(record, row)
        # UPDATE, not DELETE + INSERT: the row id is the record's position, which tau2's
        # first-match lookups and key order depend on.
        conn.execute(m.update, [*row, key])
        for child in m.children:
            conn.execute(f"DELETE FROM {_quote(child.table)} WHERE _owner = ?", (key,))
        self._store_children(conn, m, record)

    def _store_children(self, conn: sqlite3.Connection, m: _Mapping, record: Any) -> None:
        key = m.kind.key_of(record)
        for child in m.children:
            value = getattr(record, child.field)
            if child.is_dict:
                items: Iterator[tuple[Any, ...]] = ((k, v) for k, v in value.items())
            else:
                items = ((v,) for v in value)
            rows = []
            for pos, item in enumerate(items):
                out: list[Any] = [None] * len(child.flat.columns)
                child.flat.write(item[-1], out)
                rows.append((key, pos, *item[:-1], *out))
            if rows:
                conn.executemany(child.insert, rows)

    def keys(self, conn: sqlite3.Connection, kind: str) -> list[str]:
        """Every key of ``kind`` in ``conn``, in insertion order."""
        m = self._mappings[kind]
        return [r[0] for r in conn.execute(f"SELECT {_quote(m.kind.key)} FROM {_quote(kind)} ORDER BY rowid")]
