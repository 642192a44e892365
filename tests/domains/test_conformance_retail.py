"""Retail tools against tau2's own outputs: every golden action of all 114 tasks, byte for byte.

``gold_actions.json`` was produced by running tau2's tools: for each task, each golden action's
exact tool message (``content``, ``error``) and tau2's hash of the whole database afterwards. A
task passes when our replay gives the same messages and the same hash, on a copy-on-write fork
and on a full private copy alike.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from cove_async.domains import load_tau2_db, tau2_hash
from cove_async.domains.retail._records import KINDS
from cove_async.domains.retail._tools import TOOLSET
from cove_async.sandbox import Sandbox, Schema, Snapshot

TASK_IDS = [str(i) for i in range(114)]


@pytest.fixture(scope="module")
def gold(tau2_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((tau2_dir / "retail" / "gold_actions.json").read_bytes())
    return data


@pytest.fixture(scope="module")
def snapshot(tau2_dir: Path) -> Snapshot:
    return load_tau2_db(Schema(KINDS), tau2_dir / "retail" / "db.json")


def test_gold_file_lists_the_114_tasks(gold: dict[str, Any]) -> None:
    assert gold["domain"] == "retail"
    assert sorted(gold["tasks"], key=int) == TASK_IDS


def test_untouched_import_has_tau2_initial_hash(snapshot: Snapshot, gold: dict[str, Any]) -> None:
    assert tau2_hash(snapshot.fork().export()) == gold["initial_hash"]
    assert tau2_hash(snapshot.private_copy().export()) == gold["initial_hash"]


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


@pytest.mark.parametrize("task_id", TASK_IDS)
def test_golden_actions_on_a_fork(snapshot: Snapshot, gold: dict[str, Any], task_id: str) -> None:
    task = gold["tasks"][task_id]
    fork = snapshot.fork()
    assert _replay(fork, task) == []
    assert tau2_hash(fork.export()) == task["gold_hash"]
    # The fork's own change set holds exactly the records tau2 reports as changed, with their values.
    changed = {(c.kind, c.key): msgspec.to_builtins(c.after) for c in fork.changes().changes}
    assert changed == {
        (kind, key): record for kind, records in task["changed"].items() for key, record in records.items()
    }


def test_golden_actions_on_a_private_copy(snapshot: Snapshot, gold: dict[str, Any]) -> None:
    # A full-database export costs ~70 ms, so the baseline sandbox replays only the tasks that
    # bring a write tool (succeeding or failing) not seen in an earlier task: every write path
    # through SQL, at a tenth of the cost of all 114.
    seen: set[tuple[str, bool]] = set()
    replayed = 0
    for task_id in TASK_IDS:
        task = gold["tasks"][task_id]
        writes = {(a["name"], a["error"]) for a in task["actions"] if TOOLSET.is_write(a["name"])}
        if writes <= seen:
            continue
        seen |= writes
        replayed += 1
        copy = snapshot.private_copy()
        assert _replay(copy, task) == [], task_id
        assert tau2_hash(copy.export()) == task["gold_hash"], task_id
    assert {name for name, _ in seen} == {name for name in TOOLSET.names if TOOLSET.is_write(name)}
    assert replayed >= 5


def _shape(schema: dict[str, Any]) -> dict[str, Any]:
    """What of a parameter schema the model is bound by: names, types, enums, required; no prose."""

    def prop(p: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {k: p[k] for k in ("type", "enum") if k in p}
        if "items" in p:
            out["items"] = prop(p["items"])
        if "anyOf" in p:
            out["anyOf"] = [prop(option) for option in p["anyOf"]]
        return out

    return {
        "type": schema["type"],
        "properties": [(name, prop(p)) for name, p in schema.get("properties", {}).items()],
        "required": schema.get("required", []),
    }


def test_our_tool_schemas_match_tau2_in_everything_but_wording(tau2_dir: Path) -> None:
    theirs = json.loads((tau2_dir / "retail" / "tool_schemas.json").read_bytes())
    ours = TOOLSET.openai_tools()
    assert [t["function"]["name"] for t in ours] == [t["function"]["name"] for t in theirs]
    for mine, tau2 in zip(ours, theirs, strict=True):
        assert mine["type"] == tau2["type"] == "function"
        assert _shape(mine["function"]["parameters"]) == _shape(tau2["function"]["parameters"]), mine["function"][
            "name"
        ]
        assert mine["function"]["description"].strip()
        assert mine["function"]["description"] != tau2["function"]["description"]


def test_openai_tools_from_a_tau2_dir_are_tau2s_exact_list(tau2_dir: Path) -> None:
    theirs = json.loads((tau2_dir / "retail" / "tool_schemas.json").read_bytes())
    assert TOOLSET.openai_tools(tau2_dir) == theirs
