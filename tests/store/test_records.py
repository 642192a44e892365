"""The trajectory record: top-level keys, one line per record, round trips, consistency checks."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cove_async.chat import Message
from cove_async.store import SCHEMA_VERSION, TrajectoryRecord, TurnStats, Usage, decode_record, encode_records
from tests.store._factory import record, verdict


def test_a_record_is_one_json_object_a_line_with_the_keys_readers_filter_on() -> None:
    lines = bytes(encode_records([record("run-x", "t0", 0), record("run-x", "t0", 1, perfect=False)])).splitlines()
    assert len(lines) == 2
    first = msgspec.json.decode(lines[0])
    assert {"task_id", "sample_index", "perfect", "score", "termination_reason"} <= first.keys()
    assert (first["task_id"], first["sample_index"], first["perfect"], first["score"]) == ("t0", 0, True, 1.0)
    assert first["termination_reason"] == "user_stop"
    assert first["schema_version"] == SCHEMA_VERSION
    assert first["messages"][2]["tool_calls"][0]["function"]["name"] == "cancel_pending_order"
    assert first["usage"] == {"prompt_tokens": 400, "completion_tokens": 30}
    assert first["verdict"]["perfect"] is True
    assert msgspec.json.decode(lines[1])["perfect"] is False


@given(text=st.text())
def test_any_message_text_round_trips_on_one_line(text: str) -> None:
    base = record("run-x", "t0", 0)
    rec = msgspec.structs.replace(base, messages=(*base.messages, Message(role="user", content=text)))
    data = bytes(encode_records([rec]))
    assert data.count(b"\n") == 1 and data.endswith(b"\n")
    assert decode_record(data) == rec


def test_perfect_and_score_must_repeat_the_verdict() -> None:
    base = record("run-x", "t0", 0)
    with pytest.raises(ValueError, match="must repeat the verdict's"):
        msgspec.structs.replace(base, verdict=verdict("t0", perfect=False))
    with pytest.raises(ValueError, match="the verdict is about task 't9'"):
        msgspec.structs.replace(base, verdict=verdict("t9", perfect=True))
    line = msgspec.json.encode(msgspec.structs.replace(base, verdict=verdict("t0", perfect=True)))
    tampered = line.replace(b'"perfect":true', b'"perfect":false', 1)
    with pytest.raises(msgspec.ValidationError, match="must repeat the verdict's"):
        decode_record(tampered)


def test_readers_ignore_fields_they_do_not_know() -> None:
    data = msgspec.json.encode({**msgspec.to_builtins(record("run-x", "t0", 0)), "added_in_v2": [1, 2]})
    assert decode_record(data) == record("run-x", "t0", 0)


def test_usage_sums_the_turns() -> None:
    turns = [
        TurnStats(role="user", message_index=1, latency_s=0.1, prompt_tokens=5, completion_tokens=1),
        TurnStats(role="agent", message_index=2, latency_s=0.1, prompt_tokens=7, completion_tokens=3),
    ]
    assert Usage.of(turns) == Usage(prompt_tokens=12, completion_tokens=4)
    assert isinstance(decode_record(bytes(encode_records([record("r", "t", 0)]))), TrajectoryRecord)
