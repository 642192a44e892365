"""Safety: loopback by default, a token required elsewhere, and then on every request."""

from __future__ import annotations

import argparse
from pathlib import Path

import httpx
import pytest

from cove_async.cli import _serve
from cove_async.daemon import DaemonConfig, is_loopback
from cove_async.errors import ConfigError
from tests.daemon._support import TOKEN, running_daemon

pytestmark = pytest.mark.anyio


async def test_with_a_token_every_route_needs_it(tmp_path: Path) -> None:
    """Missing or wrong bearer tokens get 401 on every route (metrics and health included); the right one passes."""
    async with running_daemon(tmp_path, token=TOKEN) as daemon, httpx.AsyncClient(base_url=daemon.url) as http:
        for method, path in (
            ("GET", "/v1/jobs"),
            ("POST", "/v1/jobs"),
            ("GET", "/v1/jobs/job-x/results"),
            ("POST", "/v1/backends/pause"),
            ("GET", "/metrics"),
            ("GET", "/healthz"),
            ("GET", "/no/such/route"),
        ):
            for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}, {"Authorization": TOKEN}):
                reply = await http.request(method, path, headers=headers)
                assert reply.status_code == 401, (method, path, headers)
                assert reply.headers["WWW-Authenticate"] == "Bearer"
                assert "Authorization: Bearer <token>" in reply.json()["error"]["message"]
        good = {"Authorization": f"Bearer {TOKEN}"}
        assert (await http.get("/v1/jobs", headers=good)).json() == {"jobs": []}
        assert (await http.get("/healthz", headers=good)).status_code == 200
        assert (await http.get("/readyz", headers=good)).json()["status"] == "ready"
        assert not daemon.board.paused_all  # the unauthorised pause did nothing


def test_binding_beyond_loopback_needs_a_token(tmp_path: Path) -> None:
    """0.0.0.0 or a LAN address without a token is refused with the fix in the message; loopback is fine."""
    for host in ("0.0.0.0", "192.0.2.7", "::", "example.org"):
        with pytest.raises(ConfigError, match="--token"):
            DaemonConfig(state_dir=tmp_path, host=host)
        DaemonConfig(state_dir=tmp_path, host=host, token=TOKEN)
    for host in ("127.0.0.1", "127.8.0.1", "::1", "localhost"):
        assert is_loopback(host)
        DaemonConfig(state_dir=tmp_path, host=host)
    with pytest.raises(ConfigError, match="at least 16 characters"):
        DaemonConfig(state_dir=tmp_path, host="0.0.0.0", token="short")


def test_serve_reads_the_token_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``cove-async serve --host 0.0.0.0`` is refused without a token and accepted with $COVE_DAEMON_TOKEN."""
    parser = argparse.ArgumentParser()
    _serve.register(parser.add_subparsers())
    args = parser.parse_args(["serve", "--state-dir", str(tmp_path), "--host", "0.0.0.0"])
    monkeypatch.delenv(_serve.TOKEN_ENV, raising=False)
    with pytest.raises(ConfigError, match=r"refusing to serve on '0\.0\.0\.0' without a token"):
        _serve._config(args)
    monkeypatch.setenv(_serve.TOKEN_ENV, TOKEN)
    assert _serve._config(args).token == TOKEN
