"""``components``: the building blocks, each against its baseline, side by side in one run.

- **Sandboxes** (retail, synthetic world at tau2's size): a copy-on-write fork against a full
  private copy (the snapshot deserialised per episode); a read tool call on each; the change
  set after a typical episode against hashing the whole database, tau2's way. Interleaved
  rounds, so drift on a shared machine hits both sides alike. (The same measurement, with
  memory per sandbox, is ``benchmarks/sandbox.py``.)
- **Sampler**: tasks per second per domain, each task proven solvable by its sampler (a
  perfect canonical plan) before it is returned.
- **Verifier**: per domain, compiling a task and verifying its canonical trajectory, medians.
- **Output**: encoding trajectory records to JSON lines; appending them to the JSONL artefact
  (fsynced per batch); and the whole ``Run.record_batch`` (JSONL plus the aiosqlite ledger).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import msgspec
import structlog

from cove_async.bench._common import Budget, median, run_on
from cove_async.bench._players import in_process_players, resolve_players
from cove_async.domains import get_domain, tau2_hash
from cove_async.engine import Engine, EngineConfig, EpisodeJob, Outcome
from cove_async.run import load_world, sample_tasks, to_record
from cove_async.sandbox import Sandbox, Snapshot
from cove_async.store import JsonlSink, Models, Seeds, TrajectoryRecord, encode_records, open_run
from cove_async.verify import compile_task, plan_trajectory, verify

__all__ = ("ComponentsParams", "ComponentsResults", "run_components")

log = structlog.get_logger()


class ComponentsParams(msgspec.Struct, frozen=True, kw_only=True):
    """Settings of the ``components`` scenario.

    Attributes:
        rounds: interleaved rounds of each side-by-side measurement.
        sampler_tasks: tasks sampled per domain per round.
        verifier_tasks: tasks compiled and verified per domain.
        records: trajectory records written per output measurement.
        batch: records per write (the engine's default batch).
        domains: the domains for the sampler and verifier.
    """

    rounds: int = 5
    sampler_tasks: int = 300
    verifier_tasks: int = 200
    records: int = 2000
    batch: int = 64
    domains: tuple[str, ...] = ("retail", "airline")


class ComponentsResults(msgspec.Struct, kw_only=True):
    """The ``components`` scenario's measurements (microseconds are medians).

    Attributes:
        sandbox: fork vs full copy, read calls on each, change set vs whole-DB hash (retail).
        sampler_tasks_per_s: per domain, tasks sampled and proven solvable per second.
        verifier: per domain, ``compile_us`` and ``verify_us`` per typical trajectory.
        output: records per second and MB per second for encoding, the JSONL sink and the run's store.
    """

    sandbox: dict[str, float]
    sampler_tasks_per_s: dict[str, float]
    verifier: dict[str, dict[str, float]]
    output: dict[str, float]


def _interleaved(rounds: int, sides: dict[str, tuple[int, Callable[[int], object]]]) -> dict[str, list[float]]:
    """Each side's callable ``n`` times per round, sides alternating; microsecond samples per side."""
    samples: dict[str, list[float]] = {name: [] for name in sides}
    clock = time.perf_counter_ns
    for _ in range(rounds):
        for name, (n, fn) in sides.items():
            out = samples[name]
            for i in range(n):
                started = clock()
                fn(i)
                out.append((clock() - started) / 1000)
    return samples


def _typical_episode(snapshot: Snapshot, n: int) -> list[list[tuple[str, dict[str, Any]]]]:
    """Tool calls of a typical retail episode per pending order: five reads, then three writes on two records."""
    domain = get_domain("retail")
    orders, users = domain.schema.kind("orders"), domain.schema.kind("users")
    episodes = []
    address = {
        "address1": "1 Bench Way",
        "address2": "",
        "city": "Austin",
        "state": "TX",
        "country": "USA",
        "zip": "78701",
    }
    for order_id in snapshot.select_keys(orders, "status = 'pending'")[:n]:
        order: Any = snapshot.load(orders, order_id)
        user: Any = snapshot.load(users, order.user_id)
        episodes.append(
            [
                ("find_user_id_by_email", {"email": user.email}),
                ("get_user_details", {"user_id": order.user_id}),
                ("get_order_details", {"order_id": order_id}),
                ("get_product_details", {"product_id": order.items[0].product_id}),
                ("get_item_details", {"item_id": order.items[0].item_id}),
                ("modify_pending_order_address", {"order_id": order_id, **address}),
                ("modify_user_address", {"user_id": order.user_id, **address}),
                ("cancel_pending_order", {"order_id": order_id, "reason": "no longer needed"}),
            ]
        )
    return episodes


def _sandbox(rounds: int) -> dict[str, float]:
    domain = get_domain("retail")
    tools = domain.toolset
    snapshot = load_world(domain, 0)
    episodes = _typical_episode(snapshot, 50)

    def run(sandbox: Sandbox, calls: list[tuple[str, dict[str, Any]]]) -> Sandbox:
        for name, arguments in calls:
            tools.execute(sandbox, name, arguments)
        return sandbox

    creation = _interleaved(
        rounds, {"fork": (2000, lambda i: snapshot.fork()), "copy": (20, lambda i: snapshot.private_copy())}
    )
    fork, copy = snapshot.fork(), snapshot.private_copy()
    order_ids = [e[2][1]["order_id"] for e in episodes]

    def read_on(sandbox: Sandbox) -> Callable[[int], object]:
        return lambda i: tools.execute(sandbox, "get_order_details", {"order_id": order_ids[i % len(order_ids)]})

    reads = _interleaved(rounds, {"fork": (400, read_on(fork)), "copy": (400, read_on(copy))})
    done = [run(snapshot.fork(), calls) for calls in episodes[:20]]
    diffs = _interleaved(
        rounds,
        {
            "changes": (len(done), lambda i: done[i].changes()),
            "hash": (3, lambda i: tau2_hash(done[i].export())),
        },
    )
    episode = _interleaved(rounds, {"fork": (20, lambda i: run(snapshot.fork(), episodes[i % len(episodes)]))})
    fork_us, copy_us = median(creation["fork"], 3), median(creation["copy"])
    read_fork, read_copy = median(reads["fork"]), median(reads["copy"])
    diff_us, hash_us = median(diffs["changes"]), median(diffs["hash"])
    return {
        "fork_us": fork_us,
        "full_copy_us": copy_us,
        "fork_speedup_vs_copy": round(copy_us / fork_us, 1),
        "read_us_fork": read_fork,
        "read_us_copy": read_copy,
        "read_ratio_fork_vs_copy": round(read_fork / read_copy, 3),
        "typical_episode_tools_us": median(episode["fork"]),
        "change_set_us": diff_us,
        "whole_db_hash_us": hash_us,
        "change_set_speedup_vs_hash": round(hash_us / diff_us, 1),
    }


def _sampler(domain_name: str, n: int, rounds: int, budget: Budget) -> float:
    domain = get_domain(domain_name)
    snapshot = load_world(domain, 0)
    rates = []
    for r in range(rounds):
        if r and budget.exhausted():
            break
        started = time.perf_counter()
        count = sum(1 for _ in sample_tasks(domain_name, snapshot, n=n, seed=1000 + r, world="synthetic:seed=0"))
        rates.append(count / (time.perf_counter() - started))
    return median(rates)


def _verifier(domain_name: str, n: int) -> dict[str, float]:
    domain = get_domain(domain_name)
    snapshot = load_world(domain, 0)
    tasks = list(sample_tasks(domain_name, snapshot, n=n, seed=7, world="synthetic:seed=0"))
    compile_us, verify_us, messages = [], [], []
    for task in tasks:
        started = time.perf_counter_ns()
        expectation = compile_task(task, snapshot, domain.toolset)
        compiled = time.perf_counter_ns()
        trajectory = plan_trajectory(task, snapshot, domain.toolset)
        before = time.perf_counter_ns()
        verdict = verify(expectation, trajectory)
        after = time.perf_counter_ns()
        if not verdict.perfect:
            log.warning("bench_canonical_trajectory_not_perfect", task_id=task.task_id)
        compile_us.append((compiled - started) / 1000)
        verify_us.append((after - before) / 1000)
        messages.append(len(trajectory.messages))
    return {
        "compile_us": median(compile_us),
        "verify_us": median(verify_us),
        "messages_per_trajectory": round(statistics.median(messages), 1),
    }


class _Keep:
    def __init__(self) -> None:
        self.outcomes: list[Outcome] = []

    async def write(self, outcomes: Sequence[Outcome]) -> None:
        self.outcomes.extend(outcomes)


async def _records(n: int) -> list[TrajectoryRecord]:
    """``n`` real trajectory records: retail episodes played in-process."""
    from cove_async.prompts import prompts_for

    domain = get_domain("retail")
    snapshot = load_world(domain, 0)
    tasks = list(sample_tasks("retail", snapshot, n=n, seed=3, world="synthetic:seed=0"))
    user, agent = in_process_players("retail", resolve_players("auto", "retail", []))
    prompts = prompts_for("retail")
    keep = _Keep()
    engine = Engine(
        snapshot=snapshot, toolset=domain.toolset, user=user, agent=agent, prompts=prompts, config=EngineConfig()
    )
    await engine.run((EpisodeJob(task=t, sample_index=0) for t in tasks), keep)
    tools = tuple(domain.toolset.openai_tools())
    return [
        to_record(
            o,
            run_id="run-bench",
            tools=tools,
            system_prompt=prompts(o.task)[0],
            seeds=Seeds(run=0, world=0),
            models=Models(agent="scripted-agent", user="scripted-user"),
        )
        for o in keep.outcomes
        if o.verdict is not None
    ]


async def _output(n: int, batch: int) -> dict[str, float]:
    records = await _records(n)
    batches = [records[i : i + batch] for i in range(0, len(records), batch)]
    started = time.perf_counter()
    size = sum(len(encode_records(b)) for b in batches)
    encode_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory(prefix="cove-bench-output-") as tmp:
        sink = await JsonlSink.open(Path(tmp) / "trajectories.jsonl")
        started = time.perf_counter()
        for b in batches:
            await sink.append(b)
        jsonl_s = time.perf_counter() - started
        await sink.aclose()
        async with await open_run(Path(tmp) / "run", {"bench": "components"}) as run:
            await run.pending([r.key for r in records])
            fresh = [msgspec.structs.replace(r, run_id=run.run_id) for r in records]
            started = time.perf_counter()
            for i in range(0, len(fresh), batch):
                await run.record_batch(fresh[i : i + batch])
            store_s = time.perf_counter() - started
    mb = size / 1e6
    return {
        "records": len(records),
        "record_kib": round(size / len(records) / 1024, 2),
        "batch": batch,
        "encode_records_per_s": round(len(records) / encode_s),
        "encode_mb_per_s": round(mb / encode_s, 1),
        "jsonl_records_per_s": round(len(records) / jsonl_s),
        "jsonl_mb_per_s": round(mb / jsonl_s, 1),
        "store_records_per_s": round(len(records) / store_s),
        "store_batches_per_s": round(len(batches) / store_s, 1),
    }


def run_components(params: ComponentsParams, budget: Budget) -> tuple[ComponentsResults, list[str]]:
    """Measure the ``components`` scenario (blocking)."""
    notes = ["sandbox figures are for the retail world at tau2's size (seed 0)"]
    sandbox = _sandbox(params.rounds)
    log.info("bench_components_sandbox", **sandbox)
    sampler = {}
    verifier = {}
    for name in params.domains:
        if budget.exhausted():
            notes.append(f"{name}: sampler and verifier skipped, the time budget ran out")
            continue
        sampler[name] = _sampler(name, params.sampler_tasks, params.rounds, budget)
        verifier[name] = _verifier(name, params.verifier_tasks)
    output = run_on("uvloop", _output, params.records, params.batch)
    return ComponentsResults(sandbox=sandbox, sampler_tasks_per_s=sampler, verifier=verifier, output=output), notes
