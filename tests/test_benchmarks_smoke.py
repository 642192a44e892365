"""The benchmarks still run and print what they promise (timings are never judged here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_sandbox_benchmark_emits_its_keys() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "sandbox.py"), "--quick", "--json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    result = json.loads(done.stdout)
    for key in (
        "fork_us_median",
        "fork_speedup_vs_copy",
        "private_kib_per_sandbox",
        "rss_mib_10k_sandboxes",
        "read_us_median",
        "read_ratio_vs_copy",
        "diff_us_median",
        "diff_speedup_vs_hash",
    ):
        assert isinstance(result[key], int | float), key
    assert result["changed_rows_per_episode"] == 2
