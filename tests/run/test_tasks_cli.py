"""``cove-async tasks``: a seeded task file, the same bytes for the same seed, clear errors otherwise."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from cove_async.cli import main
from cove_async.domains import get_domain
from cove_async.errors import DataError
from cove_async.run import read_tasks, sample_tasks, task_id
from cove_async.run._generate import load_world
from cove_async.tasks import Task


@pytest.mark.parametrize("domain", ["retail", "airline"])
def test_same_seed_same_bytes_and_a_prefix_is_a_prefix(domain: str, tmp_path: Path) -> None:
    a, b, c, d = (tmp_path / f"{n}.jsonl" for n in "abcd")
    assert main(["tasks", "--domain", domain, "--n", "40", "--seed", "5", "--out", str(a)]) == 0
    assert main(["tasks", "--domain", domain, "--n", "40", "--seed", "5", "--out", str(b)]) == 0
    assert main(["tasks", "--domain", domain, "--n", "10", "--seed", "5", "--out", str(c)]) == 0
    assert main(["tasks", "--domain", domain, "--n", "40", "--seed", "6", "--out", str(d)]) == 0
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes().startswith(c.read_bytes())  # task i depends on (seed, i) only
    assert a.read_bytes() != d.read_bytes()
    tasks = read_tasks(a)
    assert [t.task_id for t in tasks] == [task_id(domain, 5, i) for i in range(40)]
    assert {t.domain for t in tasks} == {domain}
    assert len({msgspec.json.encode(t.constraints) for t in tasks}) > 30  # not one task forty times


def test_knobs_reach_the_sampler(tmp_path: Path) -> None:
    out = tmp_path / "t.jsonl"
    assert main(["tasks", "--domain", "retail", "--n", "30", "--constraints", "1", "--fuzziness", "0",
                 "--refusal-rate", "0", "--out", str(out)]) == 0  # fmt: skip
    tasks = read_tasks(out)
    assert all(len(t.constraints) == 1 and t.difficulty.fuzziness == 0 for t in tasks)
    assert all(c.intent.value != "refuse" for t in tasks for c in t.constraints)


def test_read_tasks_names_the_bad_line(tmp_path: Path) -> None:
    world = load_world(get_domain("retail"), 0)
    good = list(sample_tasks("retail", world, n=2, seed=0, world="w"))
    path = tmp_path / "t.jsonl"
    path.write_bytes(b"".join(msgspec.json.encode(t) + b"\n" for t in good) + b'{"task_id": 3}\n')
    with pytest.raises(DataError, match=r"t.jsonl:3: not a task"):
        read_tasks(path)
    assert isinstance(good[0], Task)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--n", "3", "--knob", "bogus=1"], "unknown field `bogus`"),
        (["--n", "-1"], "must be >= 0"),
        (["--n", "3", "--knob", "constraints"], "expected NAME=VALUE"),
    ],
)
def test_bad_flags_are_one_line_and_exit_2(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["tasks", "--domain", "retail", "--out", str(tmp_path / "t.jsonl"), *argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1].startswith("cove-async: error:") and message in err[-1]
