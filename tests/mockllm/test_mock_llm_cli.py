"""``cove-async mock-llm``: flags checked before serving, a real process that serves and stops on SIGTERM."""

from __future__ import annotations

import argparse
import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import anyio
import pytest

from cove_async.cli import _mockllm
from cove_async.errors import ConfigError, CoveError, DataError

# The command is registered with a parser of our own, as cove_async.cli does with every module.
_RUNNER = """
import argparse, sys
from cove_async._logging import configure_logging
from cove_async.cli import _mockllm
configure_logging(level="info", json=True)
parser = argparse.ArgumentParser(prog="cove-async")
_mockllm.register(parser.add_subparsers(dest="command", required=True))
args = parser.parse_args(sys.argv[1:])
sys.exit(args.run(args) or 0)
"""


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="cove-async")
    _mockllm.register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["mock-llm", *argv])


def test_defaults_serve_on_port_8000_without_latency_or_faults() -> None:
    """With no flags: localhost:8000, no latency, no faults, 256 running slots, uvloop."""
    args = _parse()
    settings = _mockllm._settings(args)
    assert (settings.host, settings.port, settings.seed, args.uvloop) == ("127.0.0.1", 8000, 0, True)
    assert settings.latency.ttft_s == settings.latency.per_token_s == 0.0 and settings.latency.max_running == 256
    assert sum(settings.faults.rates().values()) == 0.0
    assert list(settings.responders) == ["scripted-agent", "scripted-user", "mock"]


def test_flags_reach_the_latency_model_and_fault_rates() -> None:
    """Milliseconds become seconds; the 5xx share is split between 500 and 503."""
    settings = _mockllm._settings(
        _parse(
            "--ttft-ms", "250", "--tpot-ms", "20", "--batch-slowdown", "0.01", "--max-running", "64",
            "--fault-5xx", "0.1", "--fault-malformed", "0.02", "--fault-hang", "0.01", "--seed", "7",
        )
    )  # fmt: skip
    latency, faults = settings.latency, settings.faults
    assert (latency.ttft_s, latency.per_token_s, latency.batch_slowdown, latency.max_running) == (0.25, 0.02, 0.01, 64)
    assert (faults.error_500, faults.error_503, faults.malformed_json, faults.hang) == (0.05, 0.05, 0.02, 0.01)
    assert settings.seed == 7


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--port", "70000"), "--port must be between 0 and 65535"),
        (("--fault-5xx", "1.5"), "--fault-5xx must be a share of requests between 0 and 1, got 1.5"),
        (("--fault-5xx", "0.6", "--fault-hang", "0.6"), "add up to 1.2, more than 1"),
        (("--ttft-ms", "-5"), "ttft_s must be a finite number of seconds >= 0"),
        (("--max-running", "0"), "max_running must be >= 1"),
        (("--metrics-port", "-1"), "--metrics-port must be between 0 and 65535"),
    ],
)
def test_bad_values_fail_before_serving_with_one_clear_message(argv: tuple[str, ...], message: str) -> None:
    """Each bad value is a CoveError (exit 2 through the CLI) that names it, before any port is opened."""
    args = _parse(*argv)
    with pytest.raises(CoveError) as caught:
        args.run(args)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_bad_task_files_fail_before_serving(tmp_path: Path) -> None:
    """A missing task file is an OSError, a malformed one a DataError naming the line (both exit 2)."""
    args = _parse("--tasks", str(tmp_path / "no-such.jsonl"))
    with pytest.raises(OSError, match=r"no-such\.jsonl"):
        args.run(args)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"task_id": 1}\n')
    args = _parse("--tasks", str(bad))
    with pytest.raises(DataError, match=r"bad.jsonl:1: not a task"):
        args.run(args)


def test_port_in_use_is_one_config_error_not_a_group() -> None:
    """A server that cannot bind reports the bind error itself (one line through the CLI)."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        args = _parse("--port", str(taken.getsockname()[1]), "--no-uvloop")
        with pytest.raises(ConfigError, match=r"cannot listen on 127\.0\.0\.1:\d+: .*choose a free port"):
            args.run(args)


def test_unparsable_flag_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    """argparse rejects a non-number with exit code 2 and a usage line."""
    with pytest.raises(SystemExit) as caught:
        _parse("--fault-5xx", "lots")
    assert caught.value.code == 2
    assert "invalid float value: 'lots'" in capsys.readouterr().err


async def _read_line(stream: anyio.abc.ByteReceiveStream) -> bytes:
    data = b""
    while b"\n" not in data:
        data += await stream.receive()
    return data.split(b"\n", 1)[0]


@pytest.mark.slow
@pytest.mark.anyio
async def test_process_serves_then_stops_gracefully_on_sigterm(tmp_path: Path) -> None:
    """A real process announces its URL, answers chat requests and exits 0 on SIGTERM after logging its totals."""
    process = await anyio.open_process(
        [sys.executable, "-c", _RUNNER, "mock-llm", "--port", "0", "--metrics-port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    async with process:
        assert process.stdout is not None and process.stderr is not None
        with anyio.fail_after(30):
            ready = json.loads(await _read_line(process.stdout))
        assert ready["models"] == ["scripted-agent", "scripted-user", "mock"] and ready["tasks"] == 0
        body = {"model": "mock", "messages": [{"role": "user", "content": "hello there"}]}
        async with aiohttp.ClientSession() as session:
            async with session.post(ready["base_url"] + "/chat/completions", json=body) as response:
                assert response.status == 200
                completion = await response.json()
            async with session.get(f"http://127.0.0.1:{ready['metrics_port']}/metrics") as response:
                metrics = await response.text()
        assert completion["choices"][0]["message"]["content"].startswith("Re: hello there")
        assert 'vllm:request_success_total{engine="0",finished_reason="stop",model_name="mock"} 1.0' in metrics
        process.send_signal(signal.SIGTERM)
        with anyio.fail_after(30):
            code = await process.wait()
            errors = b""
            async for chunk in process.stderr:
                errors += chunk
    assert code == 0
    events = [json.loads(line) for line in errors.decode().splitlines() if line.startswith("{")]
    stopped = [e for e in events if e["event"] == "mockllm_stopped"]
    assert [e["event"] for e in events if e["event"] == "stopping"] == ["stopping"]
    assert len(stopped) == 1 and stopped[0]["completed"] == 1


def _listed() -> bool:
    from cove_async import cli

    return _mockllm in getattr(cli, "_COMMANDS", ())


@pytest.mark.skipif(not _listed(), reason="cove_async.cli._COMMANDS does not list the mock-llm module yet")
def test_cove_async_mock_llm_bad_flag_is_one_line_and_exit_2() -> None:
    """Through the real entry point: a bad value prints one error line and exits 2."""
    done = subprocess.run(
        [sys.executable, "-m", "cove_async", "mock-llm", "--fault-5xx", "2"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "cove-async: error: --fault-5xx must be a share of requests between 0 and 1, got 2.0"
    ]
