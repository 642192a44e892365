"""Parity with tau2's DB grading on all 164 airline and retail tasks.

A conversation made of the golden actions scores DB 1; the same conversation without its last
golden action that changed the world scores 0. Along the way the gold state's tau2 hash must be
the very ``gold_hash`` tau2 computed (``gold_actions.json``), and the cheap change-set verdict
must agree with the tau2-hash verdict on every case.
"""

from __future__ import annotations

import importlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cove_async.domains import Toolset, load_tau2_db, tau2_hash
from cove_async.sandbox import Schema, Snapshot
from cove_async.tau2 import Tau2Action, Tau2Hasher, Tau2Task, evaluate_tau2, golden_trajectory, load_tau2_tasks

pytestmark = pytest.mark.anyio

# Tasks none of whose golden actions changes the world: no golden action writes, or every golden
# write fails (pinned so that a change in tool semantics shows up here).
NO_STATE_CHANGE = {
    "airline": [
        *("0", "1", "2", "3", "4", "5", "6", "9", "10", "13", "26", "27"),
        *("28", "31", "34", "36", "38", "41", "43", "45", "46", "47", "48", "49"),
    ],
    "retail": ["10", "12", "24", "25", "50", "57", "62", "65", "67", "68", "105"],
}


# Write tools that no golden action calls, so no gold state exercises them.
_NEVER_IN_GOLD = {"airline": {"send_certificate"}, "retail": set()}


@dataclass(frozen=True)
class World:
    domain: str
    snapshot: Snapshot
    toolset: Toolset
    tasks: list[Tau2Task]
    gold_hashes: dict[str, str]
    hasher: Tau2Hasher


@pytest.fixture(scope="module", params=["airline", "retail"])
def world(request: pytest.FixtureRequest, tau2_dir: Path) -> World:
    domain: str = request.param
    kinds = importlib.import_module(f"cove_async.domains.{domain}._records").KINDS
    toolset: Toolset = importlib.import_module(f"cove_async.domains.{domain}._tools").TOOLSET
    snapshot = load_tau2_db(Schema(kinds), tau2_dir / domain / "db.json")
    gold: dict[str, Any] = json.loads((tau2_dir / domain / "gold_actions.json").read_bytes())
    return World(
        domain=domain,
        snapshot=snapshot,
        toolset=toolset,
        tasks=load_tau2_tasks(tau2_dir, domain),
        gold_hashes={task_id: entry["gold_hash"] for task_id, entry in gold["tasks"].items()},
        hasher=Tau2Hasher(snapshot),
    )


def _last_state_change(world: World, actions: tuple[Tau2Action, ...]) -> int | None:
    """The index of the last golden action whose execution changed the world, if any did."""
    fork = world.snapshot.fork()
    last, before = None, fork.state_hash()
    for index, action in enumerate(actions):
        world.toolset.execute(fork, action.name, action.arguments)
        after = fork.state_hash()
        if after != before:
            last = index
        before = after
    return last


async def test_golden_conversations_score_db_1_and_lose_it_without_their_last_write(world: World) -> None:
    unchanged = []
    for task in world.tasks:
        assert task.evaluation_criteria is not None and task.evaluation_criteria.actions is not None
        actions = task.evaluation_criteria.actions
        full = golden_trajectory(task, world.snapshot, world.toolset)
        fast = await evaluate_tau2(task, full, world.snapshot, world.toolset)
        exact = await evaluate_tau2(task, full, world.snapshot, world.toolset, hasher=world.hasher)
        assert fast.db_reward == exact.db_reward == 1.0, (task.id, fast.reasons)
        assert exact.db.gold_hash == exact.db.predicted_hash == world.gold_hashes[task.id], task.id
        assert fast.db.replay_mismatches == fast.db.unanswered_writes == (), task.id
        assert fast.db.replayed_writes == sum(world.toolset.is_write(a.name) for a in actions)

        last = _last_state_change(world, actions)
        if last is None:
            unchanged.append(task.id)
            continue
        short = golden_trajectory(task, world.snapshot, world.toolset, actions=actions[:last] + actions[last + 1 :])
        fast = await evaluate_tau2(task, short, world.snapshot, world.toolset)
        exact = await evaluate_tau2(task, short, world.snapshot, world.toolset, hasher=world.hasher)
        assert fast.db_reward == exact.db_reward == 0.0, (task.id, last)
        assert exact.db.gold_hash == world.gold_hashes[task.id]
        assert fast.reward == 0.0  # NL/COMMUNICATE cannot rescue a DB failure

    sys.stdout.write(
        f"\n[tau2 parity] {world.domain}: {len(world.tasks)} tasks at DB 1; {len(unchanged)} have no golden "
        f"action that changes the world (no DB-0 case): {unchanged}\n"
    )
    assert unchanged == NO_STATE_CHANGE[world.domain]


def _hash_sample(world: World) -> list[Tau2Task]:
    """Every 6th task that writes, plus the first task using each write tool not yet covered."""
    writing = [t for t in world.tasks if any(world.toolset.is_write(a.name) for a in _actions(t))]
    sample = writing[::6]
    covered = {a.name for t in sample for a in _actions(t)}
    for task in writing:
        if {a.name for a in _actions(task) if world.toolset.is_write(a.name)} - covered:
            sample.append(task)
            covered.update(a.name for a in _actions(task))
    return sample


def _actions(task: Tau2Task) -> tuple[Tau2Action, ...]:
    assert task.evaluation_criteria is not None and task.evaluation_criteria.actions is not None
    return task.evaluation_criteria.actions


@pytest.mark.slow
async def test_tau2_hasher_equals_tau2_hash_of_the_full_export(world: World) -> None:
    """The hasher's digest is literally ``tau2_hash(fork.export())``, on a sample covering every write tool."""
    sample = _hash_sample(world)
    for task in sample:
        fork = world.snapshot.fork()
        for action in _actions(task):
            world.toolset.execute(fork, action.name, action.arguments)
        assert world.hasher.hash(fork) == tau2_hash(fork.export()) == world.gold_hashes[task.id], task.id
    used = {a.name for t in sample for a in _actions(t)}
    assert {name for name in world.toolset.names if world.toolset.is_write(name)} - used <= _NEVER_IN_GOLD[world.domain]
