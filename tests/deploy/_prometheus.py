"""A real Prometheus server for tests: Debian's ``prometheus`` binary on a free port, data in tmp.

The server scrapes the given targets every second and evaluates the given rule files every
second. Tests read it through the HTTP API (``/api/v1/query``) exactly as Grafana would.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import socket
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from anyio.abc import Process

__all__ = ("Prometheus", "ScrapeJob", "finite", "prometheus_binary", "running_prometheus")

SCRAPE_INTERVAL = "1s"
_READY_TIMEOUT_S = 20.0
_WAIT_TIMEOUT_S = 20.0
_POLL_S = 0.1


def prometheus_binary() -> str:
    """The ``prometheus`` executable (``$PROMETHEUS``, then PATH, then /usr/bin); skips the test when absent."""
    candidates = [os.environ.get("PROMETHEUS"), shutil.which("prometheus"), "/usr/bin/prometheus"]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    pytest.skip(
        "the prometheus binary is not installed (not on PATH nor at /usr/bin/prometheus): "
        "`apt-get install -y prometheus` (.ci/run installs it), or set PROMETHEUS to its path"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


Sample = tuple[dict[str, str], float]


@dataclass(frozen=True)
class ScrapeJob:
    """One scrape job: its name, ``host:port`` targets, and a bearer-token file if they need one."""

    name: str
    targets: Sequence[str]
    credentials_file: Path | None = None

    def config(self) -> dict[str, Any]:
        job: dict[str, Any] = {"job_name": self.name, "static_configs": [{"targets": list(self.targets)}]}
        if self.credentials_file is not None:
            job["authorization"] = {"type": "Bearer", "credentials_file": str(self.credentials_file)}
        return job


class Prometheus:
    """A running Prometheus: instant queries, and polling until a query satisfies a predicate."""

    def __init__(self, client: httpx.AsyncClient, process: Process, log: Path) -> None:
        self._client = client
        self._process = process
        self._log = log

    def log_tail(self) -> str:
        """The end of the server's log, for failure messages."""
        return self._log.read_text(errors="replace")[-3000:]

    async def query(self, expr: str) -> list[Sample]:
        """Evaluate ``expr`` now; one (labels, value) per series of the instant vector (or the scalar)."""
        response = await self._client.get("/api/v1/query", params={"query": expr})
        body: dict[str, Any] = response.json()
        assert body.get("status") == "success", f"query {expr!r} failed: {body}"
        data = body["data"]
        if data["resultType"] == "scalar":
            return [({}, float(data["result"][1]))]
        return [(series["metric"], float(series["value"][1])) for series in data["result"]]

    async def wait_for(self, expr: str, predicate: Callable[[list[Sample]], bool]) -> list[Sample]:
        """Poll ``expr`` until ``predicate`` holds on its result; fail with the last result after a deadline.

        Prometheus scrapes on its own clock, so polling its API is the only way to learn that it
        has seen a value; the deadline keeps a broken scrape from hanging the test.
        """
        last: list[Sample] = []
        with anyio.move_on_after(_WAIT_TIMEOUT_S):
            while True:
                last = await self.query(expr)
                if predicate(last):
                    return last
                await anyio.sleep(_POLL_S)
        targets = (await self._client.get("/api/v1/targets")).json()
        pytest.fail(
            f"after {_WAIT_TIMEOUT_S} s, {expr!r} = {last}\ntargets: {json.dumps(targets)[:2000]}\n{self.log_tail()}"
        )

    async def value(self, expr: str) -> float:
        """The single value ``expr`` evaluates to (fails unless exactly one series)."""
        result = await self.query(expr)
        assert len(result) == 1, f"{expr!r} gave {len(result)} series: {result}"
        return result[0][1]


def finite(samples: list[Sample]) -> bool:
    """One series or more, all finite numbers (histogram_quantile gives NaN with no observations)."""
    return bool(samples) and all(math.isfinite(v) for _, v in samples)


@asynccontextmanager
async def running_prometheus(
    tmp_path: Path, jobs: Sequence[ScrapeJob], *, rule_files: Sequence[Path] = ()
) -> AsyncIterator[Prometheus]:
    """Prometheus scraping ``jobs`` (``/metrics`` on each target) every second, for the block.

    Args:
        tmp_path: where the config, the TSDB and the log go.
        jobs: the scrape jobs.
        rule_files: recording-rule files to evaluate every second.
    """
    binary = prometheus_binary()
    config = {
        "global": {
            "scrape_interval": SCRAPE_INTERVAL,
            "scrape_timeout": SCRAPE_INTERVAL,
            "evaluation_interval": SCRAPE_INTERVAL,
        },
        "rule_files": [str(path) for path in rule_files],
        "scrape_configs": [job.config() for job in jobs],
    }
    config_path = tmp_path / "prometheus.yml"
    config_path.write_text(json.dumps(config, indent=2))  # JSON is YAML
    log_path = tmp_path / "prometheus.log"
    port = _free_port()
    command = [
        binary,
        f"--config.file={config_path}",
        f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
    ]
    with log_path.open("wb") as log:
        process = await anyio.open_process(command, stdin=None, stdout=log, stderr=log)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5.0) as client:
            prometheus = Prometheus(client, process, log_path)
            with anyio.move_on_after(_READY_TIMEOUT_S) as scope:
                while True:
                    if process.returncode is not None:
                        pytest.fail(f"prometheus exited with {process.returncode}:\n{prometheus.log_tail()}")
                    try:
                        if (await client.get("/-/ready")).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass  # not listening yet
                    await anyio.sleep(_POLL_S)
            if scope.cancelled_caught:
                pytest.fail(f"prometheus not ready after {_READY_TIMEOUT_S} s:\n{prometheus.log_tail()}")
            yield prometheus
    finally:
        with anyio.CancelScope(shield=True):
            process.terminate()
            with anyio.move_on_after(10) as stopping:
                await process.wait()
            if stopping.cancelled_caught:
                process.kill()
                await process.wait()
            await process.aclose()
