"""The HTTP-client benchmark still runs and reports the overhead keys (timings are never judged here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_http_clients_benchmark_reports_cpu_per_request_against_bare() -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "http_clients.py"),
            "--quick",
            "--json",
            "--clients",
            "aiohttp",
            "cove",
            "--levels",
            "8",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    report = json.loads(done.stdout)
    level = report["levels"]["8"]
    assert level["client_cpu_us_per_request"] > 0 and level["bare_client_cpu_us_per_request"] > 0
    assert level["ratio"] > 0
    rows = {row["client"]: row for row in report["results"]}
    assert set(rows) == {"aiohttp", "cove"}
    assert all(row["completed"] > 0 and row["errors"] == 0 for row in rows.values())
