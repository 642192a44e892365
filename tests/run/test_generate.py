"""``cove-async generate``: every requested episode exactly once, resumable after kill -9, faults caught."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import anyio
import msgspec
import pytest

from cove_async.cli import main
from cove_async.run import GenerateConfig, GenerateSummary, generate
from cove_async.store import TRAJECTORIES, decode_record

TASKS = 1000  # enough that a kill lands mid-run
REQUIRED_KEYS = {"task_id", "sample_index", "perfect", "score", "termination_reason"}


def _keys(out: Path) -> Counter[tuple[str, int]]:
    lines = (out / TRAJECTORIES).read_bytes().splitlines()
    return Counter(decode_record(line).key for line in lines)


def _complete_keys(out: Path) -> Counter[tuple[str, int]]:
    """Keys of the whole lines only: a kill -9 may land mid-write and leave a torn last line."""
    data = (out / TRAJECTORIES).read_bytes()
    return Counter(decode_record(line).key for line in data[: data.rfind(b"\n") + 1].splitlines())


def _run(config: GenerateConfig) -> GenerateSummary:
    return anyio.run(generate, config, backend_options={"use_uvloop": True})


def test_a_run_writes_every_sample_once_with_the_required_keys(tmp_path: Path) -> None:
    out = tmp_path / "run"
    summary = _run(GenerateConfig(domain="retail", out=out, tasks=40, samples_per_task=3, concurrency=25))
    assert (summary.requested, summary.finished, summary.remaining, summary.failed) == (120, 120, 0, 0)
    keys = _keys(out)
    assert len(keys) == 120 and set(keys.values()) == {1}
    first = json.loads((out / TRAJECTORIES).read_bytes().splitlines()[0])
    assert first.keys() >= REQUIRED_KEYS
    assert first["messages"][0]["role"] == "assistant" and first["tools"]
    assert summary.perfect >= 0.95 * summary.finished  # scripted players solve sampled tasks
    again = _run(GenerateConfig(domain="retail", out=out, tasks=40, samples_per_task=3, concurrency=7))
    assert (again.skipped, again.finished, again.remaining) == (120, 0, 0)  # nothing re-run, nothing duplicated


def test_same_seed_same_trajectories(tmp_path: Path) -> None:
    def exported(name: str, concurrency: int) -> bytes:
        out = tmp_path / name
        _run(GenerateConfig(domain="airline", out=out, tasks=15, samples_per_task=2, concurrency=concurrency))
        rows = tmp_path / f"{name}.jsonl"
        assert main(["export", str(out), "--no-perfect-only", "--out", str(rows)]) == 0
        return rows.read_bytes()

    # One at a time the file order is fixed too, so the exported training rows are the same bytes.
    assert exported("a", 1) == exported("b", 1)
    # Many at once, the order varies but not the trajectories.
    assert sorted(exported("c", 30).splitlines()) == sorted(exported("a", 1).splitlines())


def test_every_injected_fault_is_caught(tmp_path: Path) -> None:
    summary = _run(
        GenerateConfig(domain="retail", out=tmp_path / "f", tasks=150, fault_rate=0.5, concurrency=50, seed=3)
    )
    assert sum(summary.faults_injected.values()) > 30
    assert summary.faults_detected == summary.faults_injected
    assert len(summary.faults_injected) == 5  # every kind was injected somewhere


def _generate_cmd(out: Path, tasks: int) -> list[str]:
    return [sys.executable, "-m", "cove_async", "--log-level", "warning", "generate", "--domain", "retail",
            "--tasks", str(tasks), "--samples-per-task", "2", "--concurrency", "8", "--out", str(out),
            "--no-progress", "--json"]  # fmt: skip


def _wait_for_lines(path: Path, n: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the run ended before it could be interrupted"
        if path.exists() and path.read_bytes().count(b"\n") >= n:
            return
        time.sleep(0.01)
    raise AssertionError(f"{path} never reached {n} lines")


@pytest.mark.slow
def test_kill_9_then_resume_gives_exactly_the_requested_samples(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = subprocess.Popen(_generate_cmd(out, TASKS), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_for_lines(out / TRAJECTORIES, 50, proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 0 < sum(_complete_keys(out).values()) < 2 * TASKS
    resumed = subprocess.run(_generate_cmd(out, TASKS), capture_output=True, check=True)
    summary = json.loads(resumed.stdout)
    assert summary["skipped"] > 0 and summary["remaining"] == 0
    keys = _keys(out)
    assert len(keys) == 2 * TASKS and set(keys.values()) == {1}


@pytest.mark.slow
def test_sigint_finishes_what_is_in_flight_and_resume_completes(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = subprocess.Popen(_generate_cmd(out, TASKS), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _wait_for_lines(out / TRAJECTORIES, 20, proc)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 3, stderr.decode()  # stopped early: work remains
    summary = json.loads(stdout)
    assert summary["remaining"] > 0
    written = sum(_keys(out).values())
    assert written == summary["finished"]  # everything that finished was written, nothing torn
    subprocess.run(_generate_cmd(out, TASKS), capture_output=True, check=True)
    keys = _keys(out)
    assert len(keys) == 2 * TASKS and set(keys.values()) == {1}


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--fault-rate", "2"], "--fault-rate must be between 0 and 1"),
        (["--agent", "ftp://x"], "neither 'scripted' nor an http(s) URL"),
        (["--agent", "http://127.0.0.1:9"], "a server needs a model name"),
        (["--samples-per-task", "0"], "--samples-per-task must be >= 1"),
        (["--knob", "bogus=3"], "unknown field `bogus`"),
    ],
)
def test_bad_flags_are_one_line_and_exit_2(
    flags: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["generate", "--domain", "retail", "--tasks", "2", "--out", str(tmp_path / "o"), *flags])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, err
    assert err[-1].startswith("cove-async: error:") and message in err[-1]


def test_resuming_with_another_config_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = str(tmp_path / "o")
    assert main(["generate", "--domain", "retail", "--tasks", "3", "--out", out, "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["generate", "--domain", "retail", "--tasks", "3", "--seed", "9", "--out", out]) == 2
    assert "another config" in capsys.readouterr().err
    record = decode_record((tmp_path / "o" / TRAJECTORIES).read_bytes().splitlines()[0])
    assert msgspec.json.decode(msgspec.json.encode(record.verdict))["task_id"] == record.task_id
