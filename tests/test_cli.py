"""The command line: worlds, tau2 import/export, and one clear line with exit code 2 on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cove_async.cli import main


def _world(tmp_path: Path, name: str, *args: str) -> bytes:
    out = tmp_path / name
    assert (
        main(["world", "--domain", "retail", "--size", "users=30", "--size", "orders=60", "--out", str(out), *args])
        == 0
    )
    return out.read_bytes()


def test_same_seed_same_world_bytes(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    first = _world(tmp_path, "a.sqlite", "--seed", "3")
    again = _world(tmp_path, "b.sqlite", "--seed", "3")
    other = _world(tmp_path, "c.sqlite", "--seed", "4")
    assert first == again
    assert first != other
    assert first.startswith(b"SQLite format 3\x00")


def test_world_json_statistics(capfd: pytest.CaptureFixture[str]) -> None:
    assert main(["world", "--domain", "airline", "--size", "users=20", "--size", "reservations=40", "--json"]) == 0
    stats = json.loads(capfd.readouterr().out)
    assert stats["domain"] == "airline"
    assert stats["size"]["users"] == 20
    assert stats["reservations"]["reservations"] == 40


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["world", "--size", "planes=3"], "expected NAME=N with NAME one of"),
        (["world", "--size", "users=many"], "'many' is not a whole number"),
        (["world", "--size", "products=999"], "products must be between 1 and"),
        (["export-tau2", "--domain", "retail", "--world", "/nonexistent/w.sqlite", "--out", "x.json"], "cannot read"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv: list[str], message: str, capfd: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capfd.readouterr().err.strip()
    assert message in err
    assert err.startswith("cove-async: error:")
    assert "\n" not in err


def test_a_non_world_file_is_refused(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    bogus = tmp_path / "w.sqlite"
    bogus.write_text("not a database at all" * 100)
    assert main(["export-tau2", "--domain", "retail", "--world", str(bogus), "--out", str(tmp_path / "x.json")]) == 2
    assert "not a cove-async world database" in capfd.readouterr().err


def test_tau2_import_export_round_trip(tau2_dir: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """Importing tau2's db and exporting it back gives tau2's own initial hash both ways."""
    initial = json.loads((tau2_dir / "airline" / "gold_actions.json").read_bytes())["initial_hash"]
    world = tmp_path / "airline.sqlite"
    assert main(["import-tau2", "--domain", "airline", "--tau2-dir", str(tau2_dir), "--out", str(world)]) == 0
    assert json.loads(capfd.readouterr().out)["tau2_hash"] == initial
    exported = tmp_path / "db.json"
    assert main(["export-tau2", "--domain", "airline", "--world", str(world), "--out", str(exported)]) == 0
    assert json.loads(capfd.readouterr().out)["tau2_hash"] == initial
    assert set(json.loads(exported.read_bytes())) == {"flights", "users", "reservations"}
