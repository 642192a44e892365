"""Forks share a snapshot, see their own writes and never each other's."""

from __future__ import annotations

import pytest

from cove_async.errors import DataError
from cove_async.sandbox import Schema, Snapshot
from tests.sandbox.test_schema import KIND, Thing, Voucher, _thing


@pytest.fixture
def snapshot() -> Snapshot:
    return Snapshot.from_records(Schema([KIND]), {"things": [_thing(f"t{i}") for i in range(5)]})


def _open(t: Thing) -> bool:
    return t.status == "open"


def test_fork_reads_base_and_own_writes(snapshot: Snapshot) -> None:
    fork = snapshot.fork()
    thing = fork.get_for_update(KIND, "t1")
    assert thing is not None
    thing.status = "closed"
    assert fork.get(KIND, "t1").status == "closed"  # type: ignore[union-attr]
    assert snapshot.load(KIND, "t1").status == "open"  # type: ignore[union-attr]


def test_forks_are_isolated(snapshot: Snapshot) -> None:
    a, b = snapshot.fork(), snapshot.fork()
    a.get_for_update(KIND, "t2").status = "closed"  # type: ignore[union-attr]
    assert b.get(KIND, "t2").status == "open"  # type: ignore[union-attr]
    assert len(b.changes()) == 0
    assert a.state_hash() != b.state_hash()


def test_changes_skip_noop_writes_and_report_before_after(snapshot: Snapshot) -> None:
    fork = snapshot.fork()
    fork.get_for_update(KIND, "t0")  # taken but not changed: not a change
    thing = fork.get_for_update(KIND, "t3")
    assert thing is not None
    voucher = thing.wallet["v_2"]
    assert isinstance(voucher, Voucher)
    voucher.balance = 12.5
    changes = fork.changes()
    assert changes.keys() == {("things", "t3")}
    (change,) = changes.changes
    assert change.before is not None
    assert change.before.wallet["v_2"].balance == 100.0
    assert change.after.wallet["v_2"].balance == 12.5


def test_equal_states_hash_equal_whatever_the_path(snapshot: Snapshot) -> None:
    a, b = snapshot.fork(), snapshot.fork()
    a.get_for_update(KIND, "t1").status = "closed"  # type: ignore[union-attr]
    a.get_for_update(KIND, "t2").tags = ["q"]  # type: ignore[union-attr]
    b.get_for_update(KIND, "t2").tags = ["q"]  # type: ignore[union-attr]
    b.get_for_update(KIND, "t1").status = "closed"  # type: ignore[union-attr]
    assert a.state_hash() == b.state_hash()
    # Writing a value back to what it was leaves no change at all.
    c = snapshot.fork()
    c.get_for_update(KIND, "t1").status = "closed"  # type: ignore[union-attr]
    c.get_for_update(KIND, "t1").status = "open"  # type: ignore[union-attr]
    assert c.state_hash() == snapshot.fork().state_hash()


def test_insert_then_read_keys_and_export(snapshot: Snapshot) -> None:
    fork = snapshot.fork()
    fork.insert(KIND, _thing("new"))
    assert fork.keys(KIND)[-1] == "new"
    assert fork.get(KIND, "new") == _thing("new")
    assert list(fork.export()["things"])[-1] == "new"
    assert snapshot.fork().get(KIND, "new") is None
    with pytest.raises(DataError, match="exists already"):
        fork.insert(KIND, _thing("t0"))


def test_find_sees_own_writes_in_base_order(snapshot: Snapshot) -> None:
    fork = snapshot.fork()
    fork.get_for_update(KIND, "t1").status = "closed"  # type: ignore[union-attr]
    fork.insert(KIND, _thing("new"))
    assert fork.find(KIND, "status = ?", ["open"], _open) == ["t0", "t2", "t3", "t4", "new"]
    fork.get_for_update(KIND, "t1").status = "open"  # type: ignore[union-attr]
    assert fork.find(KIND, "status = ?", ["open"], _open) == ["t0", "t1", "t2", "t3", "t4", "new"]


def test_private_copy_matches_fork(snapshot: Snapshot) -> None:
    fork, copy = snapshot.fork(), snapshot.private_copy()
    for sandbox in (fork, copy):
        sandbox.get_for_update(KIND, "t4").status = "closed"  # type: ignore[union-attr]
        sandbox.insert(KIND, _thing("new"))
        sandbox.flush()
    assert fork.export() == copy.export()
    assert fork.state_hash() == copy.state_hash()
    assert copy.find(KIND, "status = ?", ["open"], _open) == fork.find(KIND, "status = ?", ["open"], _open)


def test_snapshot_bytes_round_trip_and_bad_bytes(snapshot: Snapshot) -> None:
    data = snapshot.to_bytes()
    again = Snapshot.from_bytes(snapshot.schema, data)
    assert again.fork().export() == snapshot.fork().export()
    with pytest.raises(DataError, match="not a cove-async world database"):
        Snapshot.from_bytes(snapshot.schema, b"garbage" * 100)


def test_snapshot_rejects_wrong_record_type() -> None:
    with pytest.raises(DataError, match="expected Thing"):
        Snapshot.from_records(Schema([KIND]), {"things": [Voucher(id="x", balance=1.0)]})


def test_an_int_where_a_float_was_is_a_change(snapshot: Snapshot) -> None:
    """tau2's hash tells 100 from 100.0, so the change set must too."""
    fork = snapshot.fork()
    thing = fork.get_for_update(KIND, "t1")
    assert thing is not None
    voucher = thing.wallet["v_2"]
    assert isinstance(voucher, Voucher)
    voucher.balance = 100
    assert fork.changes().keys() == {("things", "t1")}


def test_loaded_records_are_fresh_even_when_cached(snapshot: Snapshot) -> None:
    first = snapshot.load(KIND, "t3")
    assert first is not None
    first.status = "closed"
    first.lines.clear()
    first.where.x = -1
    if first.tags is not None:
        first.tags.append("mutated")
    again = snapshot.load(KIND, "t3")
    assert again is not None and again is not first
    assert again == _thing("t3")  # nothing done to an earlier copy leaks into a later one
    assert snapshot.load(KIND, "nope") is None and snapshot.load(KIND, "nope") is None


def test_kept_lookups_answer_each_question_and_forks_still_see_their_writes(snapshot: Snapshot) -> None:
    for _ in range(2):  # the second round is answered from what the first kept
        assert snapshot.select_keys(KIND, "thing_id = ?", ("t1",)) == ["t1"]
        assert snapshot.select_keys(KIND, "thing_id = ?", ("t3",)) == ["t3"]
        assert snapshot.select_keys(KIND, "thing_id IN (?, ?)", ["t4", "t0"]) == ["t0", "t4"]
    fork = snapshot.fork()
    fork.get_for_update(KIND, "t2").status = "closed"  # type: ignore[union-attr]
    assert fork.find(KIND, "status = ?", ("open",), _open) == ["t0", "t1", "t3", "t4"]
    assert snapshot.fork().find(KIND, "status = ?", ("open",), _open) == ["t0", "t1", "t2", "t3", "t4"]
