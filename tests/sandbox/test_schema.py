"""Records survive the trip through SQLite tables unchanged, whatever their shape."""

from __future__ import annotations

import sqlite3
from typing import Literal

import msgspec
import pytest

from cove_async.errors import SchemaError
from cove_async.sandbox import RecordKind, Schema


class Point(msgspec.Struct, kw_only=True):
    x: float
    label: str | None


class Card(msgspec.Struct, kw_only=True, tag_field="source", tag="card"):
    id: str
    last_four: str


class Voucher(msgspec.Struct, kw_only=True, tag_field="source", tag="voucher"):
    id: str
    balance: float


class Line(msgspec.Struct, kw_only=True):
    sku: str
    qty: int
    options: dict[str, str]
    gift: bool


class Thing(msgspec.Struct, kw_only=True):
    thing_id: str
    where: Point
    lines: list[Line]
    status: Literal["open", "closed"]
    wallet: dict[str, Card | Voucher]
    tags: list[str] | None = None
    score: float | None = None


KIND = RecordKind("things", Thing, "thing_id", indexes=(("status",),))


def _thing(key: str, **changes: object) -> Thing:
    base = Thing(
        thing_id=key,
        where=Point(x=1.0, label=None),
        lines=[
            Line(sku="a", qty=2, options={"z": "1", "a": "2"}, gift=True),
            Line(sku="b", qty=1, options={}, gift=False),
        ],
        status="open",
        wallet={"v_2": Voucher(id="v_2", balance=100.0), "c_1": Card(id="c_1", last_four="0042")},
        tags=["x", "y"],
    )
    return msgspec.structs.replace(base, **changes)


@pytest.fixture
def conn() -> sqlite3.Connection:
    c = sqlite3.connect(":memory:")
    Schema([KIND]).create(c)
    return c


def test_round_trip_keeps_values_types_and_order(conn: sqlite3.Connection) -> None:
    schema = Schema([KIND])
    thing = _thing("t1")
    schema.store(conn, "things", thing)
    loaded = schema.load(conn, "things", "t1")
    assert loaded == thing
    # Order and float-ness are part of tau2's output bytes, not only equality.
    assert msgspec.json.encode(loaded) == msgspec.json.encode(thing)
    assert list(loaded.wallet) == ["v_2", "c_1"]
    assert isinstance(loaded.wallet["v_2"].balance, float)
    assert loaded.lines[0].gift is True


def test_missing_key_loads_none(conn: sqlite3.Connection) -> None:
    assert Schema([KIND]).load(conn, "things", "nope") is None


def test_replace_rewrites_children_and_keeps_position(conn: sqlite3.Connection) -> None:
    schema = Schema([KIND])
    for key in ["a", "b", "c"]:
        schema.store(conn, "things", _thing(key))
    shorter = _thing("a", lines=[Line(sku="z", qty=9, options={}, gift=False)], status="closed")
    schema.replace(conn, "things", shorter)
    assert schema.load(conn, "things", "a") == shorter
    assert conn.execute('SELECT count(*) FROM "things__lines" WHERE _owner = ?', ("a",)).fetchone() == (1,)
    assert schema.keys(conn, "things") == ["a", "b", "c"]


def test_keys_in_insertion_order(conn: sqlite3.Connection) -> None:
    schema = Schema([KIND])
    for key in ["b", "a", "c"]:
        schema.store(conn, "things", _thing(key))
    assert schema.keys(conn, "things") == ["b", "a", "c"]


class Inner(msgspec.Struct):
    lines: list[Line]


class Outer(msgspec.Struct):
    outer_id: str
    inners: list[Inner]


def test_nested_record_collections_are_rejected() -> None:
    with pytest.raises(SchemaError, match="child table"):
        Schema([RecordKind("outer", Outer, "outer_id")])


def test_key_must_be_a_scalar_field() -> None:
    with pytest.raises(SchemaError, match="key field 'lines'"):
        Schema([RecordKind("things", Thing, "lines")])


def test_unknown_kind_names_the_known_ones() -> None:
    with pytest.raises(SchemaError, match="known: things"):
        Schema([KIND]).kind("thangs")
