"""The simulated inference server in a process of its own, so the client's CPU is measured alone.

:func:`server_process` starts :class:`~cove_async.mockllm.MockLLMServer` in a child process
(pinned to the last usable CPU when there are several, with the benchmark pinned to the
others), waits for its URL and stops it on exit. The server plays the default responder, the
benchmark's players (scripted or oracle, knowing a task file), or both. :func:`server_stats`
and :func:`scrape_metrics` read it over HTTP like any client would.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import os
import select
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import msgspec

from cove_async.bench._common import BenchError
from cove_async.bench._players import Players
from cove_async.mockllm import FaultRates, LatencyModel, ServerStatistics

__all__ = (
    "ServerHandle",
    "ServerSpec",
    "child_process",
    "parse_prometheus",
    "process_cpu_s",
    "scrape_metrics",
    "server_process",
    "server_stats",
    "split_cpus",
)

_START_TIMEOUT_S = 60.0


class ServerSpec(msgspec.Struct, frozen=True, kw_only=True):
    """What the benchmark's server process serves.

    Attributes:
        latency: its latency model.
        faults: its fault rates.
        tasks_file: a task file (JSONL) whose tasks the players may play (the scripted agent
            needs none; the users and the oracle agent answer only for tasks they know).
        domain: the tasks' domain.
        players: ``scripted`` or ``oracle`` (see :mod:`cove_async.bench._players`).
        seed: seeds the fault draws.
        cpu: the CPU to pin the server to (set by :func:`server_process`).
    """

    latency: LatencyModel = LatencyModel()
    faults: FaultRates = FaultRates()
    tasks_file: str | None = None
    domain: str = "retail"
    players: Players = "oracle"
    seed: int = 0
    cpu: int | None = None


def serve_child() -> None:
    """The server process's entry point: read a :class:`ServerSpec` line, serve, say the URL, stop at EOF.

    The spec comes as one JSON line on stdin, the URL goes out as one line on stdout, and the
    server stops when stdin closes (the parent exited or is done), so it never outlives its parent.
    """
    import anyio

    from cove_async._logging import configure_logging
    from cove_async._runtime import tune_gc
    from cove_async.bench._players import player_responders
    from cove_async.mockllm import DEFAULT_MODEL, DefaultResponder, MockLLMServer, Responder
    from cove_async.run import read_tasks

    spec = msgspec.json.decode(sys.stdin.buffer.readline(), type=ServerSpec)
    if spec.cpu is not None:
        os.sched_setaffinity(0, {spec.cpu})
    configure_logging(level="error", json=True)
    # Clients cancel requests when a measurement window closes; that is not worth a line each.
    logging.getLogger("aiohttp").setLevel(logging.CRITICAL)
    responders: dict[str, Responder] = {DEFAULT_MODEL: DefaultResponder()}
    tasks = read_tasks(Path(spec.tasks_file)) if spec.tasks_file is not None else []
    responders.update(player_responders(spec.players, tasks, spec.domain))
    server = MockLLMServer(latency=spec.latency, faults=spec.faults, responders=responders, seed=spec.seed)
    tune_gc()  # as `cove-async mock-llm` runs: with thousands of requests held, default GC dominates

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            url = await tg.start(functools.partial(server.run, host="127.0.0.1", port=0))
            sys.stdout.write(url + "\n")
            sys.stdout.flush()
            # Wait for EOF in a thread so the loop stays free.
            await anyio.to_thread.run_sync(sys.stdin.buffer.read, abandon_on_cancel=True)
            tg.cancel_scope.cancel()

    try:
        import uvloop  # noqa: F401

        options: dict[str, object] = {"use_uvloop": True}
    except ImportError:
        options = {}
    anyio.run(main, backend="asyncio", backend_options=options)


def split_cpus() -> tuple[set[int] | None, int | None]:
    """(the client's CPUs, the server's CPU): the last usable CPU for the server, the rest for the client.

    Both None on a single-CPU machine or where affinity is not supported.
    """
    if not hasattr(os, "sched_getaffinity"):
        return None, None
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None, None
    return set(cpus[:-1]), cpus[-1]


class ServerHandle(msgspec.Struct, frozen=True, kw_only=True):
    """A running benchmark server: its URL (``http://host:port``) and process id."""

    url: str
    pid: int

    def cpu_s(self) -> float:
        """The CPU the server process has used so far (NaN when it cannot be read)."""
        return process_cpu_s(self.pid)


def process_cpu_s(pid: int) -> float:
    """User plus system CPU seconds of process ``pid`` from ``/proc`` (NaN when unreadable)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
    except OSError:
        return math.nan
    # After the command name: state is field 3, utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def server_process(spec: ServerSpec, *, pin: bool = True) -> Iterator[ServerHandle]:
    """Run the simulated server in a child process for the block.

    With ``pin``, the server gets the last usable CPU and this process the others for the
    duration of the block (then its affinity is restored).

    Raises:
        BenchError: the server did not start.
    """
    client_cpus, server_cpu = split_cpus() if pin else (None, None)
    payload = msgspec.json.encode(msgspec.structs.replace(spec, cpu=server_cpu))
    with child_process("cove_async.bench._server:serve_child", payload, client_cpus, "simulated server") as handle:
        yield handle


@contextlib.contextmanager
def child_process(entry: str, payload: bytes, client_cpus: set[int] | None, what: str) -> Iterator[ServerHandle]:
    """Run ``module:function`` in a child Python process that serves HTTP for the block.

    The child reads ``payload`` (one line) on stdin, answers its URL on stdout, and must stop
    when stdin closes, which happens when the block ends (or this process dies). While the
    block runs, this process is pinned to ``client_cpus`` (when given).

    Raises:
        BenchError: the child did not report a URL in time.
    """
    module, _, function = entry.partition(":")
    command = [sys.executable, "-c", f"from {module} import {function}; {function}()"]
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert process.stdin is not None and process.stdout is not None
    before = os.sched_getaffinity(0) if client_cpus is not None else None
    try:
        process.stdin.write(payload + b"\n")
        process.stdin.flush()
        ready, _, _ = select.select([process.stdout], [], [], _START_TIMEOUT_S)
        line = process.stdout.readline().decode().strip() if ready else ""
        if not line.startswith("http"):
            process.kill()
            raise BenchError(
                f"the benchmark's {what} did not start within {_START_TIMEOUT_S:.0f} s "
                f"(exit code {process.poll()}); see its stderr above"
            )
        if client_cpus is not None:
            os.sched_setaffinity(0, client_cpus)
        yield ServerHandle(url=line, pid=process.pid)
    finally:
        if before is not None:
            os.sched_setaffinity(0, before)
        with contextlib.suppress(OSError):
            process.stdin.close()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        process.stdout.close()


async def server_stats(url: str) -> ServerStatistics:
    """The simulated server's ``/admin/stats``.

    Raises:
        BenchError: it could not be read.
    """
    async with aiohttp.ClientSession() as session, session.get(url + "/admin/stats") as reply:
        body = await reply.read()
        if reply.status != 200:
            raise BenchError(f"{url}/admin/stats answered HTTP {reply.status}: {body[:200]!r}")
    return msgspec.json.decode(body, type=ServerStatistics)


async def scrape_metrics(
    session: aiohttp.ClientSession, url: str, *, timeout_s: float = 5.0
) -> dict[str, float] | None:
    """A server's ``/metrics`` as ``{series: value}`` (label sets folded into the name), or None.

    None when the server has no ``/metrics``, fails, or does not answer within ``timeout_s``:
    reading them is a bonus, never required. A saturated server answers its ``/metrics`` behind
    thousands of queued completions (11 s measured at 4,096 episodes in flight), which must not
    stall the measurement.
    """
    try:
        metrics_url = url.rstrip("/").removesuffix("/v1") + "/metrics"
        async with session.get(metrics_url, timeout=aiohttp.ClientTimeout(total=timeout_s)) as reply:
            if reply.status != 200:
                return None
            text = await reply.text()
    except (aiohttp.ClientError, OSError, TimeoutError):
        return None
    return parse_prometheus(text)


def parse_prometheus(text: str) -> dict[str, float]:
    """Prometheus text exposition as ``{name{labels}: value}``; label sets of a name are also summed under ``name``."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        if "}" in line:
            head, _, rest = line.rpartition("}")
            series = head + "}"
        else:
            series, _, rest = line.partition(" ")
        try:
            value = float(rest.split()[0])
        except (ValueError, IndexError):
            continue
        out[series] = value
        name = series.partition("{")[0]
        if name != series:
            out[name] = out.get(name, 0.0) + value
    return out
