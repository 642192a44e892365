"""The rollout daemon's own CPU per streamed trajectory, side by side with the engine alone.

    python benchmarks/daemon.py                 # 4,000 trajectories (250 tasks x 16), 3 rounds
    python benchmarks/daemon.py --quick         # 512 trajectories, 1 round (a smoke run)
    python benchmarks/daemon.py --stacks        # also: aiohttp vs uvicorn+httptools as the HTTP server

Each round runs the same job twice, each time in a fresh process so that neither warms the
other: once as the engine alone (world, tasks, durable run, :class:`Engine` with the run's
sink; what ``cove-async generate`` does), and once through a daemon, with a client in this
process submitting the job over HTTP and streaming every trajectory (NDJSON) to the end. The
daemon process's CPU from submission to the last line, minus the engine-alone process's CPU
for the same job, divided by the trajectories, is the daemon's own cost per streamed
trajectory: HTTP, the job bookkeeping, the results feed and the stream. Oracle players, so the
episodes cost little and the daemon's share shows. The target is <= 200 us.

``--stacks`` serves the same two kinds of traffic the daemon serves (small JSON answers, and
NDJSON streams of ~20 KB lines written 64 at a time) from aiohttp and from uvicorn with
httptools (if installed), each in its own process, and reports the server's CPU per request
and per streamed line.

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))


def _cpu_of(pid: int) -> float:
    """User + system CPU seconds of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- the engine alone (child process) -----------------------------------------------------------


def _engine_alone(tasks: int, group: int, out: str) -> dict[str, Any]:
    import anyio
    from prometheus_client import CollectorRegistry

    from cove_async._logging import configure_logging
    from cove_async.domains import get_domain
    from cove_async.engine import Engine, EngineConfig, EpisodeJob
    from cove_async.metrics import EngineMetrics
    from cove_async.policies import BriefUser, OracleAgent
    from cove_async.prompts import prompts_for
    from cove_async.run import RunSink, load_world, sample_tasks
    from cove_async.store import Models, Seeds, open_run

    configure_logging(level="error")

    domain = get_domain("retail")  # imported before the clock starts, as the daemon's warm-up job does

    async def main() -> dict[str, Any]:
        started = time.process_time()

        def prepare() -> tuple[Any, list[Any]]:
            snapshot = load_world(domain, 0)
            return snapshot, list(sample_tasks("retail", snapshot, n=tasks, seed=0, world="synthetic:seed=0"))

        snapshot, task_list = await anyio.to_thread.run_sync(prepare)
        prompts = prompts_for("retail")
        async with await open_run(Path(out), {"bench": "engine", "tasks": tasks, "group": group}) as run:
            await run.add_tasks(task_list)
            pending = await run.pending([(t.task_id, i) for t in task_list for i in range(group)])
            by_id = {t.task_id: t for t in task_list}
            sink = RunSink(
                run,
                tools=tuple(domain.toolset.openai_tools()),
                system_prompt=lambda task: prompts(task)[0],
                seeds=Seeds(run=0, world=0),
                models=Models(agent="oracle-agent", user="oracle-user"),
            )
            engine = Engine(
                snapshot=snapshot,
                toolset=domain.toolset,
                user=BriefUser(),
                agent=OracleAgent(),
                prompts=prompts,
                config=EngineConfig(concurrency=1000),
                metrics=EngineMetrics(CollectorRegistry()),
                admission=anyio.Semaphore(1000, max_value=1000),
            )
            t0 = time.perf_counter()
            stats = await engine.run((EpisodeJob(task=by_id[t], sample_index=s) for t, s in pending), sink)
            wall = time.perf_counter() - t0
        return {"cpu_s": time.process_time() - started, "finished": stats.finished, "wall_s": wall}

    return anyio.run(main, backend="asyncio", backend_options={"use_uvloop": True})


# -- through the daemon (child serves; this process is the client) -------------------------------


def _serve_daemon(state: str) -> None:
    import anyio

    from cove_async._logging import configure_logging
    from cove_async.daemon import Daemon, DaemonConfig

    configure_logging(level="error")

    async def main() -> None:
        daemon = Daemon(DaemonConfig(state_dir=Path(state), port=0, scrape_interval_s=0))
        async with anyio.create_task_group() as tg:
            url = await tg.start(daemon.run)
            sys.stdout.write(url + "\n")
            sys.stdout.flush()
            await anyio.sleep_forever()

    anyio.run(main, backend="asyncio", backend_options={"use_uvloop": True})


def _through_daemon(tasks: int, group: int) -> dict[str, Any]:
    from cove_async.client import DaemonClient, JobRequest, SampleTasks

    with tempfile.TemporaryDirectory() as state:
        child = subprocess.Popen(
            [sys.executable, __file__, "--role", "daemon", "--state", state], stdout=subprocess.PIPE, text=True
        )
        try:
            assert child.stdout is not None
            url = child.stdout.readline().strip()
            with DaemonClient(url) as client:
                # A one-episode job first: the daemon imports the domain, the players and the
                # prompts on first use, which the engine-alone process did before its clock started.
                warm = client.submit(
                    JobRequest(tasks=SampleTasks(domain="retail", n=1, seed=99), agent="oracle", user="oracle")
                )
                assert sum(1 for _ in client.stream(warm.id)) == 1
                before = _cpu_of(child.pid)
                t0 = time.perf_counter()
                job = client.submit(
                    JobRequest(
                        tasks=SampleTasks(domain="retail", n=tasks, seed=0),
                        samples_per_task=group,
                        agent="oracle",
                        user="oracle",
                        group=True,
                    )
                )
                client_cpu0 = time.process_time()
                streamed = sum(1 for _ in client.stream(job.id))
                wall = time.perf_counter() - t0
                client_cpu = time.process_time() - client_cpu0
                cpu = _cpu_of(child.pid) - before
        finally:
            child.terminate()
            child.wait()
    return {"cpu_s": cpu, "streamed": streamed, "wall_s": wall, "client_cpu_s": client_cpu}


def _child(args: list[str]) -> dict[str, Any]:
    done = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def measure_daemon(tasks: int, group: int, rounds: int) -> dict[str, Any]:
    """Rounds of engine-alone vs through-the-daemon; medians and the per-trajectory difference."""
    n = tasks * group
    engine_runs, daemon_runs = [], []
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as out:
            engine_runs.append(_child(["--role", "engine", "--tasks", str(tasks), "--group", str(group), "--out", out]))
        daemon_runs.append(_through_daemon(tasks, group))
    for run in engine_runs:
        assert run["finished"] == n, run
    for run in daemon_runs:
        assert run["streamed"] == n, run
    engine_cpu = statistics.median(r["cpu_s"] for r in engine_runs)
    daemon_cpu = statistics.median(r["cpu_s"] for r in daemon_runs)
    per_round = [(d["cpu_s"] - e["cpu_s"]) / n * 1e6 for e, d in zip(engine_runs, daemon_runs, strict=True)]
    return {
        "trajectories": n,
        "rounds": rounds,
        "engine_alone_cpu_s": round(engine_cpu, 3),
        "daemon_process_cpu_s": round(daemon_cpu, 3),
        "engine_alone_cpu_us_per_trajectory": round(engine_cpu / n * 1e6, 1),
        "daemon_process_cpu_us_per_trajectory": round(daemon_cpu / n * 1e6, 1),
        "daemon_overhead_us_per_trajectory": round(statistics.median(per_round), 1),
        "daemon_overhead_us_per_round": [round(x, 1) for x in per_round],
        "client_cpu_us_per_trajectory": round(statistics.median(r["client_cpu_s"] for r in daemon_runs) / n * 1e6, 1),
        "engine_alone_wall_s": round(statistics.median(r["wall_s"] for r in engine_runs), 2),
        "daemon_wall_s_submit_to_last_line": round(statistics.median(r["wall_s"] for r in daemon_runs), 2),
        "target_us": 200,
    }


# -- HTTP server stacks ------------------------------------------------------------------------

_LINE = b'{"x":"' + b"a" * 20_000 + b'"}\n'
_SMALL = json.dumps({"id": "job-0", "state": "running", "requested": 2000, "written": 100}).encode()


def _serve_stack(kind: str, port: int) -> None:
    if kind == "aiohttp":
        import uvloop
        from aiohttp import web

        async def small(request: web.Request) -> web.Response:
            return web.Response(body=_SMALL, content_type="application/json")

        async def stream(request: web.Request) -> web.StreamResponse:
            response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
            await response.prepare(request)
            for _ in range(int(request.query["n"]) // 64):
                await response.write(_LINE * 64)
            await response.write_eof()
            return response

        app = web.Application()
        app.router.add_get("/small", small)
        app.router.add_get("/stream", stream)
        uvloop.install()
        web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)
        return

    import uvicorn

    async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] == "/small":
            await send(
                {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]}
            )
            await send({"type": "http.response.body", "body": _SMALL})
            return
        n = int(scope["query_string"].split(b"=")[1])
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/x-ndjson")]}
        )
        for _ in range(n // 64):
            await send({"type": "http.response.body", "body": _LINE * 64, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    uvicorn.run(
        asgi, host="127.0.0.1", port=port, loop="uvloop", http="httptools", log_level="warning", access_log=False
    )


def _load_stack(pid: int, port: int, requests: int, lines: int) -> dict[str, float]:
    import asyncio

    import aiohttp

    async def main() -> dict[str, float]:
        async with aiohttp.ClientSession() as session:
            for _ in range(200):
                try:
                    async with session.get(f"http://127.0.0.1:{port}/small") as reply:
                        await reply.read()
                    break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.05)
            limit = asyncio.Semaphore(16)

            async def one() -> None:
                async with limit, session.get(f"http://127.0.0.1:{port}/small") as reply:
                    await reply.read()

            before = _cpu_of(pid)
            await asyncio.gather(*(one() for _ in range(requests)))
            small_us = (_cpu_of(pid) - before) / requests * 1e6

            async def stream() -> None:
                async with session.get(f"http://127.0.0.1:{port}/stream?n={lines}") as reply:
                    async for _ in reply.content.iter_chunked(1 << 20):
                        pass

            before = _cpu_of(pid)
            await asyncio.gather(*(stream() for _ in range(4)))
            line_us = (_cpu_of(pid) - before) / (4 * lines) * 1e6
            return {"small_json_us_per_request": round(small_us, 1), "ndjson_us_per_line": round(line_us, 2)}

    return asyncio.run(main())


def measure_stacks(rounds: int, requests: int, lines: int) -> dict[str, Any]:
    """Server CPU per small JSON request and per streamed NDJSON line, per stack, per round."""
    import importlib.util

    kinds = ["aiohttp"] + (
        ["uvicorn"] if importlib.util.find_spec("uvicorn") and importlib.util.find_spec("httptools") else []
    )
    out: dict[str, list[dict[str, float]]] = {kind: [] for kind in kinds}
    for round_index in range(rounds):
        for offset, kind in enumerate(kinds):
            port = 18400 + 10 * round_index + offset
            server = subprocess.Popen(
                [sys.executable, __file__, "--role", "stack", "--stack", kind, "--port", str(port)]
            )
            try:
                out[kind].append(_load_stack(server.pid, port, requests, lines))
            finally:
                server.terminate()
                server.wait()
    return {
        kind: {
            "small_json_us_per_request": statistics.median(r["small_json_us_per_request"] for r in runs),
            "ndjson_us_per_line": statistics.median(r["ndjson_us_per_line"] for r in runs),
            "rounds": runs,
        }
        for kind, runs in out.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="512 trajectories, one round, short stack runs")
    parser.add_argument("--tasks", type=int, default=250)
    parser.add_argument("--group", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--stacks", action="store_true", help="also compare HTTP server stacks")
    parser.add_argument("--role", choices=("engine", "daemon", "stack"), help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--state", help=argparse.SUPPRESS)
    parser.add_argument("--stack", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "engine":
        sys.stdout.write(json.dumps(_engine_alone(args.tasks, args.group, args.out)) + "\n")
        return
    if args.role == "daemon":
        _serve_daemon(args.state)
        return
    if args.role == "stack":
        _serve_stack(args.stack, args.port)
        return
    tasks, rounds = (32, 1) if args.quick else (args.tasks, args.rounds)
    result: dict[str, Any] = {"daemon": measure_daemon(tasks, args.group, rounds)}
    if args.stacks:
        result["stacks"] = measure_stacks(
            1 if args.quick else 3, 2_000 if args.quick else 20_000, 1_280 if args.quick else 25_600
        )
    result["machine"] = {"cpus": os.cpu_count(), "python": sys.version.split()[0]}
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
