"""Loading tau2's tasks.json: the real files, lenient to new keys, strict about bad values."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cove_async.errors import DataError
from cove_async.tau2 import RewardType, Tau2Instructions, load_tau2_tasks


def test_real_task_files_load(tau2_dir: Path) -> None:
    airline = load_tau2_tasks(tau2_dir, "airline")
    retail = load_tau2_tasks(tau2_dir, "retail")
    assert (len(airline), len(retail)) == (50, 114)
    assert {t.evaluation_criteria.reward_basis for t in airline if t.evaluation_criteria} == {
        (RewardType.DB, RewardType.COMMUNICATE)
    }
    retail_bases = [t.evaluation_criteria.reward_basis for t in retail if t.evaluation_criteria]
    assert retail_bases.count((RewardType.DB, RewardType.NL_ASSERTION)) == 112
    assert retail_bases.count((RewardType.DB,)) == 2
    first = retail[0]
    assert isinstance(first.user_scenario.instructions, Tau2Instructions)
    assert first.user_scenario.instructions.known_info == "You are Yusuf Rossi in zip code 19122."
    assert first.evaluation_criteria is not None and first.evaluation_criteria.actions is not None
    assert first.evaluation_criteria.actions[4].arguments["item_ids"] == ["1151293680", "4983901480"]


def _task(**changes: Any) -> dict[str, Any]:
    task: dict[str, Any] = {
        "id": "7",
        "user_scenario": {
            "persona": None,
            "instructions": {"domain": "retail", "reason_for_call": "r", "task_instructions": "t"},
        },
        "evaluation_criteria": {
            "actions": [{"action_id": "7_0", "name": "get_user_details", "arguments": {"user_id": "u"}}],
            "communicate_info": [],
            "nl_assertions": None,
            "reward_basis": ["DB"],
        },
    }
    task.update(changes)
    return task


def _write(tmp_path: Path, content: str) -> Path:
    (tmp_path / "retail").mkdir(exist_ok=True)
    (tmp_path / "retail" / "tasks.json").write_text(content)
    return tmp_path


def test_unknown_keys_are_ignored_and_basis_defaults_to_tau2s(tmp_path: Path) -> None:
    task = _task(ticket="x", issues=[{"id": "1"}])
    del task["evaluation_criteria"]["reward_basis"]
    task["evaluation_criteria"]["future_field"] = 1
    (loaded,) = load_tau2_tasks(_write(tmp_path, json.dumps([task])), "retail")
    assert loaded.evaluation_criteria is not None
    assert loaded.evaluation_criteria.reward_basis == (RewardType.DB, RewardType.COMMUNICATE)
    assert loaded.evaluation_criteria.actions is not None
    assert loaded.evaluation_criteria.actions[0].requestor == "assistant"


def test_plain_text_instructions_load(tmp_path: Path) -> None:
    (loaded,) = load_tau2_tasks(
        _write(tmp_path, json.dumps([_task(user_scenario={"instructions": "Call about X"})])), "retail"
    )
    assert loaded.user_scenario.instructions == "Call about X"


def _bad_actions() -> dict[str, Any]:
    task = _task()
    task["evaluation_criteria"]["actions"][0]["arguments"] = "not an object"
    return task


def _bad_basis() -> dict[str, Any]:
    task = _task()
    task["evaluation_criteria"]["reward_basis"] = ["DB", "VIBES"]
    return task


def _env_assertions() -> dict[str, Any]:
    task = _task()
    task["evaluation_criteria"]["env_assertions"] = [{"env_type": "assistant", "func_name": "f", "arguments": {}}]
    return task


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[{", "not valid JSON"),
        (json.dumps({"id": "1"}), r"Expected `array`, got `object`"),
        (json.dumps([_bad_actions()]), r"\$\[0\]\.evaluation_criteria\.actions\[0\]\.arguments"),
        (
            json.dumps([_bad_basis()]),
            r"Invalid enum value 'VIBES' - at `\$\[0\]\.evaluation_criteria\.reward_basis\[1\]`",
        ),
        (json.dumps([_task(id=7)]), r"Expected `str`, got `int` - at `\$\[0\]\.id`"),
        (json.dumps([_task(), _task()]), r"task '7' \(at \$\[1\]\): duplicate task id"),
        (json.dumps([_task(initial_state={"message_history": []})]), "initial_state is not supported"),
        (json.dumps([_env_assertions()]), "environment assertions are not supported"),
        (
            json.dumps(
                [
                    _task(
                        user_scenario={
                            "instructions": {"domain": "airline", "reason_for_call": "r", "task_instructions": "t"}
                        }
                    )
                ]
            ),
            "belongs to domain 'airline'",
        ),
    ],
)
def test_bad_task_files_name_the_file_and_the_place(tmp_path: Path, content: str, message: str) -> None:
    root = _write(tmp_path, content)
    with pytest.raises(DataError, match=message) as info:
        load_tau2_tasks(root, "retail")
    assert str(root / "retail" / "tasks.json") in str(info.value)


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"cannot read tau2 tasks .*airline/tasks\.json"):
        load_tau2_tasks(tmp_path, "airline")
