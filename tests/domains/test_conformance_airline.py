"""Airline tools against tau2's own outputs: every golden action of all 50 tasks, byte for byte.

``gold_actions.json`` holds, per task, the exact tool message (``content``, ``error``) tau2 gave
for each golden action and tau2's hash of the whole database afterwards. A task passes when our
replay gives the same messages, the same changed records and the same hash, on a copy-on-write
fork and on a full private copy alike.

Every golden action succeeds in tau2, so error paths and send_certificate (no golden action uses
it) are pinned by test_airline_tools.py.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec
import pytest

from cove_async.domains import load_tau2_db, tau2_hash
from cove_async.domains.airline._records import KINDS
from cove_async.domains.airline._tools import TOOLSET
from cove_async.sandbox import Sandbox, Schema, Snapshot

TASK_IDS = [str(i) for i in range(50)]


@pytest.fixture(scope="module")
def gold(tau2_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((tau2_dir / "airline" / "gold_actions.json").read_bytes())
    return data


@pytest.fixture(scope="module")
def snapshot(tau2_dir: Path) -> Snapshot:
    return load_tau2_db(Schema(KINDS), tau2_dir / "airline" / "db.json")


def _replay(sandbox: Sandbox, task: dict[str, Any]) -> list[str]:
    """Run the task's golden actions; describe every message that differs from tau2's."""
    mismatches = []
    for i, action in enumerate(task["actions"]):
        result = TOOLSET.execute(sandbox, action["name"], action["arguments"])
        if (result.content, result.error) != (action["content"], action["error"]):
            mismatches.append(
                f"action {i} {action['name']}: got error={result.error} {result.content!r}, "
                f"tau2 error={action['error']} {action['content']!r}"
            )
    return mismatches


def test_gold_file_lists_the_50_tasks(gold: dict[str, Any]) -> None:
    assert gold["domain"] == "airline"
    assert sorted(gold["tasks"], key=int) == TASK_IDS


def test_untouched_import_has_tau2_initial_hash(snapshot: Snapshot, gold: dict[str, Any]) -> None:
    assert tau2_hash(snapshot.fork().export()) == gold["initial_hash"]


@pytest.mark.parametrize("task_id", TASK_IDS)
def test_golden_actions_on_a_fork(snapshot: Snapshot, gold: dict[str, Any], task_id: str) -> None:
    task = gold["tasks"][task_id]
    fork = snapshot.fork()
    assert _replay(fork, task) == []
    # The fork's change set holds exactly the records tau2 reports as changed, with their values.
    changed = {(c.kind, c.key): msgspec.to_builtins(c.after) for c in fork.changes().changes}
    assert changed == {
        (kind, key): record for kind, records in task["changed"].items() for key, record in records.items()
    }
    if changed:
        assert tau2_hash(fork.export()) == task["gold_hash"]
    else:
        # An unchanged fork exports the snapshot itself, whose hash the import test pins (and a
        # whole export costs ~150 ms).
        assert task["gold_hash"] == gold["initial_hash"]


def test_golden_actions_on_a_private_copy(snapshot: Snapshot, gold: dict[str, Any]) -> None:
    # The baseline sandbox replays the tasks that use a write tool a number of times not seen in
    # an earlier task: every write path through SQL, three bookings in one episode, repeated
    # cancellations and flight changes, at 10 exports instead of 26.
    seen: set[tuple[str, int]] = set()
    replayed = []
    for task_id in TASK_IDS:
        task = gold["tasks"][task_id]
        uses = Counter(a["name"] for a in task["actions"] if TOOLSET.is_write(a["name"]))
        if set(uses.items()) <= seen:
            continue
        seen |= set(uses.items())
        copy = snapshot.private_copy()
        assert _replay(copy, task) == [], task_id
        assert tau2_hash(copy.export()) == task["gold_hash"], task_id
        replayed.append(task_id)
    assert ("book_reservation", 3) in seen
    assert len(replayed) == 10


def test_gold_covers_every_write_tool_but_send_certificate(gold: dict[str, Any]) -> None:
    used = {a["name"] for task in gold["tasks"].values() for a in task["actions"] if TOOLSET.is_write(a["name"])}
    assert used == {name for name in TOOLSET.names if TOOLSET.is_write(name)} - {"send_certificate"}


def _resolve(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with tau2's ``anyOf[$ref, {additionalProperties: true}]`` items folded into one object."""
    if "$ref" in schema:
        return _resolve(defs[schema["$ref"].rsplit("/", 1)[1]], defs)
    if "anyOf" in schema:
        options = [_resolve(option, defs) for option in schema["anyOf"]]
        merged = next(o for o in options if "properties" in o)
        return {**merged, "additionalProperties": any(o.get("additionalProperties") for o in options)}
    return schema


def _shape(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """What of a schema binds the model: names, types, enums, required, nested objects; no prose."""
    schema = _resolve(schema, defs)
    out: dict[str, Any] = {k: schema[k] for k in ("type", "enum", "additionalProperties") if k in schema}
    if "items" in schema:
        out["items"] = _shape(schema["items"], defs)
    if "properties" in schema:
        out["properties"] = [(name, _shape(p, defs)) for name, p in schema["properties"].items()]
        out["required"] = schema.get("required", [])
    return out


def test_our_tool_schemas_match_tau2_in_everything_but_wording(tau2_dir: Path) -> None:
    theirs = json.loads((tau2_dir / "airline" / "tool_schemas.json").read_bytes())
    ours = TOOLSET.openai_tools()
    assert [t["function"]["name"] for t in ours] == [t["function"]["name"] for t in theirs]
    for mine, tau2 in zip(ours, theirs, strict=True):
        name = mine["function"]["name"]
        assert mine["type"] == tau2["type"] == "function"
        tau2_params = tau2["function"]["parameters"]
        assert _shape(mine["function"]["parameters"], {}) == _shape(tau2_params, tau2_params.get("$defs", {})), name
        assert mine["function"]["description"].strip()
        assert mine["function"]["description"] != tau2["function"]["description"], name


def test_nested_objects_are_compared_not_skipped(tau2_dir: Path) -> None:
    theirs = json.loads((tau2_dir / "airline" / "tool_schemas.json").read_bytes())
    book = next(t["function"]["parameters"] for t in theirs if t["function"]["name"] == "book_reservation")
    payments = _shape(book["properties"]["payment_methods"], book["$defs"])
    assert payments["items"]["properties"] == [("payment_id", {"type": "string"}), ("amount", {"type": "integer"})]
    assert payments["items"]["additionalProperties"] is True


def test_openai_tools_from_a_tau2_dir_are_tau2s_exact_list(tau2_dir: Path) -> None:
    theirs = json.loads((tau2_dir / "airline" / "tool_schemas.json").read_bytes())
    assert TOOLSET.openai_tools(tau2_dir) == theirs
