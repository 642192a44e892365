"""The container probe (deploy/healthcheck.py) against a real daemon that wants a token."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import anyio
import pytest

from cove_async.daemon import Daemon, DaemonConfig
from tests.deploy._files import DEPLOY

pytestmark = pytest.mark.anyio

TOKEN = "probe-test-token-0123456789"
PROBE = DEPLOY / "healthcheck.py"


async def probe(port: int, *args: str, **env: str) -> tuple[int, str]:
    """Run the probe as the container would; its exit code and stderr."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("COVE_DAEMON_")}
    environment.update(COVE_DAEMON_PORT=str(port), **env)
    result = await anyio.run_process([sys.executable, str(PROBE), *args], env=environment, check=False)
    return result.returncode, result.stderr.decode()


async def test_the_probe_sends_the_token_from_the_environment_or_a_file(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")  # a trailing newline, as `echo` or `openssl rand` leave it
    daemon = Daemon(DaemonConfig(state_dir=tmp_path / "state", port=0, token=TOKEN, scrape_interval_s=0))
    async with anyio.create_task_group() as tg:
        url = await tg.start(daemon.run)
        port = int(url.rsplit(":", 1)[1])
        assert await probe(port, COVE_DAEMON_TOKEN=TOKEN) == (0, "")
        assert await probe(port, "/readyz", COVE_DAEMON_TOKEN_FILE=str(token_file)) == (0, "")
        code, stderr = await probe(port)  # no token: the daemon refuses
        assert code == 1 and "HTTP 401" in stderr
        code, stderr = await probe(port, COVE_DAEMON_TOKEN="wrong-token-0123456789")
        assert code == 1 and "HTTP 401" in stderr
        code, stderr = await probe(port, "/nowhere", COVE_DAEMON_TOKEN=TOKEN)
        assert code == 1 and "HTTP 404" in stderr
        code, stderr = await probe(port, COVE_DAEMON_TOKEN_FILE=str(tmp_path / "missing"))
        assert code == 1 and "token file" in stderr
        tg.cancel_scope.cancel()
    code, stderr = await probe(port, COVE_DAEMON_TOKEN=TOKEN)  # the daemon is gone
    assert code == 1 and "/healthz" in stderr
