"""Export to training formats: openai (CoVe-12k row shape) and sharegpt."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from cove_async.chat import FunctionCall, Message, ToolCall
from cove_async.store import TRAJECTORIES, StoreError, encode_records, export
from tests.store._factory import TOOLS, record


def write(out: Path, *records: object) -> None:
    out.mkdir(exist_ok=True)
    (out / TRAJECTORIES).write_bytes(bytes(encode_records(records)))  # type: ignore[arg-type]


def test_openai_rows_match_the_release_format(tmp_path: Path) -> None:
    write(tmp_path, record("r", "t0", 0), record("r", "t0", 1, perfect=False))
    rows = list(export(tmp_path))
    assert len(rows) == 1
    row = rows[0]
    assert set(row) == {"messages", "tools", "data_source"}
    assert row["data_source"] == "retail" and row["tools"] == list(TOOLS)
    assert row["messages"][0] == {
        "role": "system",
        "content": "You are a retail agent. Follow the policy.",
        "tool_call_id": None,
        "tool_calls": None,
    }
    assert all(set(m) == {"role", "content", "tool_call_id", "tool_calls"} for m in row["messages"])
    call = row["messages"][3]
    assert call["tool_calls"] == [
        {
            "id": "call_0",
            "type": "function",
            "function": {
                "name": "cancel_pending_order",
                "arguments": '{"order_id": "#Wt0", "reason": "no longer needed"}',
            },
        }
    ]
    assert row["messages"][4] == {"role": "tool", "content": "{}", "tool_call_id": "call_0", "tool_calls": None}
    assert row["messages"][-1]["content"].endswith("###STOP###")
    assert len(list(export(tmp_path, perfect_only=False))) == 2
    msgspec.json.encode(rows)  # plain JSON data


def test_sharegpt_rows_map_roles_and_group_parallel_calls(tmp_path: Path) -> None:
    base = record("r", "t0", 0)
    calls = (
        ToolCall(id="a", function=FunctionCall(name="get_order_details", arguments='{"order_id": "#W1"}')),
        ToolCall(id="b", function=FunctionCall(name="get_order_details", arguments="{not json")),
    )
    messages = (
        *base.messages[:2],
        Message(role="assistant", content="Let me look.", tool_calls=calls),
        Message(role="tool", tool_call_id="a", content="order 1"),
        Message(role="tool", tool_call_id="b", content="Error: bad arguments"),
        *base.messages[2:],
    )
    write(tmp_path, msgspec.structs.replace(base, messages=messages))
    (row,) = export(tmp_path, format="sharegpt")
    assert row["system"] == "You are a retail agent. Follow the policy."
    assert msgspec.json.decode(row["tools"]) == list(TOOLS)
    froms = [turn["from"] for turn in row["conversations"]]
    assert froms == ["gpt", "human", "function_call", "observation", "function_call", "observation", "gpt", "human"]
    assert msgspec.json.decode(row["conversations"][2]["value"]) == [
        {"name": "get_order_details", "arguments": {"order_id": "#W1"}},
        {"name": "get_order_details", "arguments": "{not json"},
    ]
    assert msgspec.json.decode(row["conversations"][3]["value"]) == ["order 1", "Error: bad arguments"]
    assert msgspec.json.decode(row["conversations"][4]["value"]) == {
        "name": "cancel_pending_order",
        "arguments": {"order_id": "#Wt0", "reason": "no longer needed"},
    }
    assert row["conversations"][5]["value"] == "{}"


def test_export_reads_a_file_being_written_and_each_key_once(tmp_path: Path) -> None:
    write(tmp_path, record("r", "t0", 0, perfect=False), record("r", "t0", 0, pad=1), record("r", "t1", 0, pad=2))
    with (tmp_path / TRAJECTORIES).open("ab") as file:
        file.write(bytes(encode_records([record("r", "t2", 0, pad=3)]))[:-50])
    # The first line for t0 (imperfect) is its trajectory: the later duplicate is not exported; the
    # partial line for t2 is not read.
    pads = [len(r["messages"][2]["content"]) - len("I want to cancel an order.") for r in export(tmp_path)]
    assert pads == [2]
    pads = [
        len(r["messages"][2]["content"]) - len("I want to cancel an order.")
        for r in export(tmp_path, perfect_only=False)
    ]
    assert pads == [0, 2]


def test_export_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="run `cove-async generate"):
        list(export(tmp_path))
    (tmp_path / TRAJECTORIES).write_bytes(b'{"task_id": 1}\n')
    with pytest.raises(StoreError, match="line 1 is not a trajectory record"):
        list(export(tmp_path))
    with pytest.raises(ValueError, match="format must be"):
        list(export(tmp_path, format="csv"))  # type: ignore[arg-type]
