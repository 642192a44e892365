"""``daemon``: trajectories per second streamed through the rollout daemon, and its CPU per trajectory.

The daemon (:mod:`cove_async.daemon`) runs in a child process pinned to its own CPU, with a
fresh state directory; this process plays the RL trainer with
:class:`~cove_async.client.AsyncDaemonClient`: it submits a job of sampled tasks with the
in-process players, streams every trajectory, and times the job from submission to its last
trajectory. The daemon's CPU per trajectory is read from ``/proc``; the trainer's own CPU
(decoding the stream) is reported apart. A warm-up job comes first, then ``repetitions`` jobs.
When the daemon package is not installed the scenario says so instead of failing.
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
import time
from pathlib import Path
from typing import Literal

import msgspec
import structlog

from cove_async.bench._common import Budget, Spread, median, run_on, spread
from cove_async.bench._server import ServerHandle, child_process, split_cpus

__all__ = ("DaemonParams", "DaemonResults", "daemon_available", "run_daemon")

log = structlog.get_logger()


class DaemonParams(msgspec.Struct, frozen=True, kw_only=True):
    """Settings of the ``daemon`` scenario.

    Attributes:
        domain: the domain of the sampled tasks.
        tasks: tasks per job.
        samples_per_task: the GRPO group size.
        repetitions: timed jobs.
        warmup_tasks: tasks of the untimed first job.
        concurrency: the daemon's episodes in flight.
        players: ``scripted`` or ``oracle`` (both sides in-process in the daemon).
    """

    domain: str = "retail"
    tasks: int = 500
    samples_per_task: int = 4
    repetitions: int = 3
    warmup_tasks: int = 50
    concurrency: int = 1000
    players: Literal["scripted", "oracle"] = "scripted"


class DaemonResults(msgspec.Struct, kw_only=True):
    """The ``daemon`` scenario's measurements (medians over the jobs; None when not available).

    Attributes:
        available: whether the daemon is installed and ran.
        reason: why not, when it did not.
        players: who played.
        trajectories_per_job: trajectories streamed per job.
        traj_per_s: trajectories per second, submission to the last one streamed.
        daemon_cpu_us_per_traj: the daemon process's CPU per trajectory.
        trainer_cpu_us_per_traj: this process's CPU per trajectory (submitting, decoding the stream).
        first_trajectory_s: time from submission to the first trajectory streamed.
        spread: the spread of each measure over the jobs.
    """

    available: bool
    reason: str = ""
    players: str = ""
    trajectories_per_job: int = 0
    traj_per_s: float | None = None
    daemon_cpu_us_per_traj: float | None = None
    trainer_cpu_us_per_traj: float | None = None
    first_trajectory_s: float | None = None
    spread: dict[str, Spread] = {}


def daemon_available() -> bool:
    """Whether the rollout daemon and its client are installed."""
    return all(importlib.util.find_spec(name) is not None for name in ("cove_async.daemon", "cove_async.client"))


def daemon_child() -> None:
    """The daemon process: read a ``DaemonConfig`` line on stdin, say the URL, serve until stdin closes."""
    import functools
    import os

    import anyio

    from cove_async._logging import configure_logging
    from cove_async.daemon import DaemonConfig, serve_daemon

    line = msgspec.json.decode(sys.stdin.buffer.readline())
    cpu = line.pop("cpu", None)
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    configure_logging(level="error", json=True)
    config = msgspec.convert(line, DaemonConfig, dec_hook=lambda t, v: Path(v) if t is Path else v)

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            url = await tg.start(functools.partial(serve_daemon, config))
            sys.stdout.write(url + "\n")
            sys.stdout.flush()
            await anyio.to_thread.run_sync(sys.stdin.buffer.read, abandon_on_cancel=True)
            tg.cancel_scope.cancel()

    anyio.run(main, backend="asyncio", backend_options={"use_uvloop": True})


class _Job(msgspec.Struct, kw_only=True):
    trajectories: int
    wall_s: float
    first_s: float
    daemon_cpu_s: float
    trainer_cpu_s: float


async def _job(daemon: ServerHandle, params: DaemonParams, tasks: int, seed: int) -> _Job:
    from cove_async.client import AsyncDaemonClient, JobRequest, SampleTasks

    request = JobRequest(
        tasks=SampleTasks(domain=params.domain, n=tasks, seed=seed),
        samples_per_task=params.samples_per_task,
        agent=params.players,
        user=params.players,
        seed=seed,
        name=f"bench-{seed}",
    )
    async with AsyncDaemonClient(daemon.url, timeout_s=120.0, stream_read_timeout_s=120.0) as client:
        cpu0, daemon0, started = time.process_time(), daemon.cpu_s(), time.perf_counter()
        status = await client.submit(request)
        count, first = 0, 0.0
        async for _ in client.stream(status.id):
            count += 1
            if count == 1:
                first = time.perf_counter() - started
        wall = time.perf_counter() - started
        return _Job(
            trajectories=count,
            wall_s=wall,
            first_s=first,
            daemon_cpu_s=daemon.cpu_s() - daemon0,
            trainer_cpu_s=time.process_time() - cpu0,
        )


def run_daemon(params: DaemonParams, budget: Budget) -> tuple[DaemonResults, list[str]]:
    """Measure the ``daemon`` scenario (blocking); reports "not available" without the daemon."""
    if not daemon_available():
        reason = "not available: the rollout daemon (cove_async.daemon, cove_async.client) is not installed"
        return DaemonResults(available=False, reason=reason), [reason]
    notes: list[str] = []
    client_cpus, daemon_cpu = split_cpus()
    jobs: list[_Job] = []
    with tempfile.TemporaryDirectory(prefix="cove-bench-daemon-") as state:
        config = {"state_dir": state, "port": 0, "concurrency": params.concurrency, "cpu": daemon_cpu}
        payload = msgspec.json.encode(config)
        with child_process("cove_async.bench._daemon:daemon_child", payload, client_cpus, "rollout daemon") as daemon:
            if params.warmup_tasks:
                run_on("uvloop", _job, daemon, params, params.warmup_tasks, 10_000)
            for rep in range(params.repetitions):
                if rep and budget.exhausted():
                    notes.append(f"only {rep} of {params.repetitions} jobs: the time budget ran out")
                    break
                job = run_on("uvloop", _job, daemon, params, params.tasks, rep)
                log.info("bench_daemon_job", repetition=rep, traj_per_s=round(job.trajectories / job.wall_s))
                jobs.append(job)
    expected = params.tasks * params.samples_per_task
    short = [j.trajectories for j in jobs if j.trajectories != expected]
    if short:
        notes.append(f"some jobs streamed fewer trajectories than the {expected} asked for: {short}")
    tps = [j.trajectories / j.wall_s for j in jobs]
    daemon_us = [j.daemon_cpu_s / max(j.trajectories, 1) * 1e6 for j in jobs]
    trainer_us = [j.trainer_cpu_s / max(j.trajectories, 1) * 1e6 for j in jobs]
    first = [j.first_s for j in jobs]
    return (
        DaemonResults(
            available=True,
            players=params.players,
            trajectories_per_job=expected,
            traj_per_s=median(tps),
            daemon_cpu_us_per_traj=median(daemon_us),
            trainer_cpu_us_per_traj=median(trainer_us),
            first_trajectory_s=median(first, 3),
            spread={
                "traj_per_s": spread(tps),
                "daemon_cpu_us_per_traj": spread(daemon_us),
                "trainer_cpu_us_per_traj": spread(trainer_us),
            },
        ),
        notes,
    )
