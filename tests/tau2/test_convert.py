"""tau2 tasks as CoVe tasks: the golden path is perfect, and missing its writes or facts is caught."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from cove_async.chat import Message
from cove_async.domains import get_domain
from cove_async.tasks import Intent
from cove_async.tau2 import as_cove_task, load_tau2_tasks
from cove_async.verify import compile_task, plan_trajectory, verify

# Golden paths that write an address and later overwrite it: CoVe counts the first as redundant.
REDUNDANT_GOLDEN = {("retail", "22"), ("retail", "110")}


@pytest.mark.parametrize("name", ["retail", "airline"])
def test_every_tau2_task_converts_and_its_golden_path_is_perfect(name: str, tau2_dir: Path) -> None:
    domain = get_domain(name)
    world = domain.load_tau2(tau2_dir)
    imperfect = set()
    for tau2_task in load_tau2_tasks(tau2_dir, name):
        task = as_cove_task(tau2_task, name, domain.toolset, world)
        assert task.world == "tau2" and task.task_id == f"tau2-{name}-{tau2_task.id}"
        verdict = verify(compile_task(task, world, domain.toolset), plan_trajectory(task, world, domain.toolset))
        if not verdict.perfect:
            imperfect.add((name, tau2_task.id))
    assert imperfect == {key for key in REDUNDANT_GOLDEN if key[0] == name}


def test_dropping_the_last_write_or_a_fact_is_caught(tau2_dir: Path) -> None:
    domain = get_domain("retail")
    world = domain.load_tau2(tau2_dir)
    tasks = [as_cove_task(t, "retail", domain.toolset, world) for t in load_tau2_tasks(tau2_dir, "retail")]
    with_writes = next(t for t in tasks if any(c.intent is Intent.CHANGE for c in t.constraints))
    last = max(i for i, call in enumerate(with_writes.plan) if domain.toolset.is_write(call.name))
    short = msgspec.structs.replace(with_writes, plan=with_writes.plan[:last] + with_writes.plan[last + 1 :])
    verdict = verify(compile_task(with_writes, world, domain.toolset), plan_trajectory(short, world, domain.toolset))
    assert not verdict.constraints[0].satisfied

    with_facts = next(t for t in tasks if any(c.intent is Intent.INFORM for c in t.constraints))
    trajectory = plan_trajectory(with_facts, world, domain.toolset)
    messages = list(trajectory.messages)
    messages[-2] = Message(role="assistant", content="All done.")
    silent = msgspec.structs.replace(trajectory, messages=tuple(messages))
    verdict = verify(compile_task(with_facts, world, domain.toolset), silent)
    inform = next(v for v in verdict.constraints if v.family == "tau2_communicate")
    assert not inform.satisfied and "never told the user" in inform.reasons[0]
