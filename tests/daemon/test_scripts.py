"""The daemon benchmark and the GRPO example run and print what they promise (timings are not judged)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_daemon_benchmark_reports_the_overhead_per_trajectory() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "daemon.py"), "--quick"],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    result = json.loads(done.stdout)["daemon"]
    assert result["trajectories"] == 512
    for key in (
        "engine_alone_cpu_us_per_trajectory",
        "daemon_process_cpu_us_per_trajectory",
        "daemon_overhead_us_per_trajectory",
    ):
        assert isinstance(result[key], float), key


@pytest.mark.slow
def test_grpo_example_computes_group_relative_advantages() -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples" / "grpo_loop.py"),
            "--spawn",
            "--steps",
            "2",
            "--tasks",
            "3",
            "--group",
            "4",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    reports = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["step"] for r in reports] == [0, 1]
    for report in reports:
        assert report["trajectories"] == 12 and report["groups"] == 3
        # Advantages are centred within each group, so their mean over the step is zero.
        assert abs(report["advantage_mean"]) < 1e-6
        assert 0.0 <= report["reward_mean"] <= 1.0
