"""Prompts: our policy for synthetic worlds, tau2's for tau2's, and a user prompt that carries the whole scenario."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec
import pytest

from cove_async.chat import STOP_MARKERS
from cove_async.errors import ConfigError
from cove_async.prompts import (
    AGENT_INSTRUCTION,
    AIRLINE_POLICY,
    RETAIL_POLICY,
    domain_policy,
    is_tau2_world,
    prompts_for,
    tau2_policy,
    user_prompt,
)
from cove_async.tasks import Difficulty, Ref, Task, UserInstruction


def _task(domain: str = "retail", world: str = "synthetic:seed=0", task_id: str = "t1", **parts: str) -> Task:
    instruction = {
        "reason_for_call": "You want to return the blue lamp.",
        "known_info": "You are Ada Lovelace, zip 12345.",
        "unknown_info": "You do not know your order ids.",
        "task_instructions": "Confirm only if the details match.\nEnd with ###STOP###.",
        **parts,
    }
    return Task(
        task_id=task_id,
        domain=domain,
        world=world,
        user=Ref(kind="users", key="ada_1"),
        constraints=(),
        fuzzy=(),
        instruction=UserInstruction(**instruction),
        plan=(),
        difficulty=Difficulty(constraints=0, fuzziness=0),
    )


def test_synthetic_task_gets_our_policy_for_its_domain() -> None:
    """Each domain's agent prompt is our instruction plus that domain's policy, not the other's."""
    retail_agent, _ = prompts_for("retail")(_task("retail"))
    airline_agent, _ = prompts_for("airline")(_task("airline"))
    assert retail_agent.startswith(AGENT_INSTRUCTION) and airline_agent.startswith(AGENT_INSTRUCTION)
    assert RETAIL_POLICY.strip() in retail_agent and AIRLINE_POLICY.strip() not in retail_agent
    assert AIRLINE_POLICY.strip() in airline_agent and RETAIL_POLICY.strip() not in airline_agent


def test_agent_prompt_is_built_once_and_shared_across_tasks() -> None:
    """A run with many tasks holds one agent prompt, not one per task."""
    prompts = prompts_for("retail")
    first, _ = prompts(_task(task_id="a"))
    second, _ = prompts(_task(task_id="b"))
    assert first is second


def test_user_prompt_carries_every_part_of_the_instruction_and_the_stop_rules() -> None:
    """The user simulator sees the four instruction parts and all three stop markers."""
    task = _task("airline")
    _, prompt = prompts_for("airline")(task)
    assert prompt == user_prompt(task)
    for part in msgspec.structs.astuple(task.instruction):
        assert part in prompt
    for marker in STOP_MARKERS:
        assert marker in prompt
    assert "Domain: airline" in prompt
    assert prompt.index("<scenario>") < prompt.index(task.instruction.reason_for_call) < prompt.index("</scenario>")


def test_empty_instruction_parts_read_as_nothing() -> None:
    """An empty part is shown as '(nothing)' rather than an empty heading."""
    prompt = user_prompt(_task(unknown_info="  "))
    assert "What you do not know:\n(nothing)\n" in prompt


def test_policies_state_the_rules_tasks_rely_on() -> None:
    """The rules the refusal families and the confirmation check depend on are in the texts."""
    retail, airline = " ".join(RETAIL_POLICY.split()), " ".join(AIRLINE_POLICY.split())
    for needle in (
        "no longer needed",
        "ordered by mistake",
        "pending (item modified)",
        "email",
        "zip code",
        "answer yes",
        "same product",
        "gift card",
    ):
        assert needle in retail, needle
    for needle in (
        "2024-05-15 15:00:00",
        "five passengers",
        "basic economy reservation cannot have its flights changed",
        "added but never removed",
        "cannot be added after booking",
        "number of passengers never can",
        "$100 per passenger",
        "$50 per passenger",
        "24 hours",
        "answer yes",
    ):
        assert needle in airline, needle


def test_tau2_world_task_gets_tau2s_own_policy(tau2_dir: Path) -> None:
    """A task set in tau2's world is shown tau2's policy.md, read from the data folder."""
    for domain in ("retail", "airline"):
        policy = (tau2_dir / domain / "policy.md").read_text()
        prompts = prompts_for(domain, tau2_dir=tau2_dir)
        agent, user = prompts(_task(domain, world="tau2"))
        assert policy.strip() in agent and agent.startswith(AGENT_INSTRUCTION)
        assert user == user_prompt(_task(domain, world="tau2"))
        # A synthetic task of the same run still gets our policy.
        ours, _ = prompts(_task(domain))
        assert domain_policy(domain).strip() in ours and policy.strip() not in ours


def test_our_policies_are_our_own_words(tau2_dir: Path) -> None:
    """No sentence of tau2's policy text appears verbatim in ours."""
    for domain in ("retail", "airline"):
        theirs = tau2_policy(tau2_dir, domain)
        ours = " ".join(domain_policy(domain).split())
        sentences = [" ".join(s.split()) for s in re.split(r"(?<=[.!:])\s+|\n", theirs)]
        copied = [s for s in sentences if len(s) >= 40 and s in ours]
        assert copied == [], copied


def test_tau2_task_without_tau2_dir_is_a_clear_error() -> None:
    """Playing a tau2-world task with our policy would be wrong: it fails, saying what to pass."""
    with pytest.raises(ConfigError, match=r"task t1 is set in tau2's world.*tau2_dir"):
        prompts_for("retail")(_task(world="tau2:base"))


def test_bad_inputs_are_config_errors(tmp_path: Path) -> None:
    """Unknown domain, missing policy file and a task of another domain each fail clearly."""
    with pytest.raises(ConfigError, match=r"unknown|no prompts for domain 'telecom'"):
        prompts_for("telecom")
    with pytest.raises(ConfigError, match=r"cannot read tau2's retail policy at .*policy.md"):
        prompts_for("retail", tau2_dir=tmp_path)
    (tmp_path / "retail").mkdir()
    (tmp_path / "retail" / "policy.md").write_text("  \n")
    with pytest.raises(ConfigError, match="is empty"):
        prompts_for("retail", tau2_dir=tmp_path)
    with pytest.raises(ConfigError, match="is a airline task; these prompts are for retail"):
        prompts_for("retail")(_task("airline"))


def test_world_names() -> None:
    """Only 'tau2' and 'tau2:...' name tau2's world."""
    assert is_tau2_world("tau2") and is_tau2_world("tau2:test")
    assert not is_tau2_world("synthetic:seed=0") and not is_tau2_world("tau2x")
