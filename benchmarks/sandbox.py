"""Copy-on-write forks against full private copies, side by side in one run.

    python benchmarks/sandbox.py                 # retail world at tau2's size, a table
    python benchmarks/sandbox.py --json          # one JSON object
    python benchmarks/sandbox.py --world tau2    # tau2's own retail db (needs ../shared/data/tau2)

Both sandbox kinds run the same tool calls through the same executor; only the storage under
them differs. The full-copy baseline deserialises the snapshot's bytes per episode (serialised
once), the cheapest full copy measured here (measurements.md section 1). Each timing is a median
over interleaved rounds, so drift on this shared machine hits both sides alike: read the ratios.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cove_async.domains import get_domain, tau2_hash
from cove_async.domains.retail._records import Order, User
from cove_async.sandbox import Fork, Sandbox, Snapshot

RETAIL = get_domain("retail")
TOOLS = RETAIL.toolset
USERS, ORDERS = (RETAIL.schema.kind(name) for name in ("users", "orders"))


def _rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def _median_us(samples: list[int]) -> float:
    return statistics.median(samples) / 1000


class Episode:
    """A typical retail episode's tool calls: authenticate, look around, change one pending order.

    Five reads and three writes on two records (the user's default address, the order's
    address, then its cancellation), as a scripted agent would do it.
    """

    def __init__(self, snapshot: Snapshot, user_id: str, order_id: str) -> None:
        user = snapshot.load(USERS, user_id)
        order = snapshot.load(ORDERS, order_id)
        assert isinstance(user, User) and isinstance(order, Order)
        self.reads: list[tuple[str, dict[str, Any]]] = [
            ("find_user_id_by_email", {"email": user.email}),
            ("get_user_details", {"user_id": user_id}),
            ("get_order_details", {"order_id": order_id}),
            ("get_product_details", {"product_id": order.items[0].product_id}),
            ("get_item_details", {"item_id": order.items[0].item_id}),
        ]
        address = {
            "address1": "1 Benchmark Way",
            "address2": "Suite 7",
            "city": "Austin",
            "state": "TX",
            "country": "USA",
            "zip": "78701",
        }
        self.writes: list[tuple[str, dict[str, Any]]] = [
            ("modify_pending_order_address", {"order_id": order_id, **address}),
            ("modify_user_address", {"user_id": user_id, **address}),
            ("cancel_pending_order", {"order_id": order_id, "reason": "no longer needed"}),
        ]

    def run(self, sandbox: Sandbox) -> None:
        for name, arguments in self.reads + self.writes:
            result = TOOLS.execute(sandbox, name, arguments)
            if result.error:
                raise RuntimeError(f"benchmark episode failed at {name}: {result.content}")


def _episodes(snapshot: Snapshot, n: int) -> list[Episode]:
    pending = snapshot.select_keys(ORDERS, "status = 'pending'")
    out = []
    for order_id in pending[:n]:
        order = snapshot.load(ORDERS, order_id)
        assert order is not None
        out.append(Episode(snapshot, order.user_id, order_id))
    if not out:
        raise RuntimeError("the world has no pending orders to benchmark with")
    return out


def _interleaved(rounds: int, sides: dict[str, tuple[int, Callable[[int], object]]]) -> dict[str, list[int]]:
    """Run each side's callable ``n`` times per round, alternating sides; nanosecond samples per side."""
    samples: dict[str, list[int]] = {name: [] for name in sides}
    clock = time.perf_counter_ns
    for _ in range(rounds):
        for name, (n, fn) in sides.items():
            out = samples[name]
            for i in range(n):
                started = clock()
                fn(i)
                out.append(clock() - started)
    return samples


def _live_memory(episodes: list[Episode], live: int, make: Callable[[], Sandbox]) -> tuple[float, float]:
    """KiB per live sandbox after each ran a typical episode: (Python heap, process RSS).

    The Python-heap figure (tracemalloc) is exact for forks, which are Python objects only; it
    cannot see SQLite's own allocations, so a full copy is judged by RSS growth.
    """
    gc.collect()
    rss_before = _rss_mib()
    tracemalloc.start()
    heap_before = tracemalloc.get_traced_memory()[0]
    keep = []
    for i in range(live):
        sandbox = make()
        episodes[i % len(episodes)].run(sandbox)
        keep.append(sandbox)
    gc.collect()
    heap = tracemalloc.get_traced_memory()[0] - heap_before
    tracemalloc.stop()
    rss = _rss_mib() - rss_before
    del keep
    gc.collect()
    return heap / 1024 / live, rss * 1024 / live


def run(snapshot: Snapshot, *, quick: bool) -> dict[str, Any]:
    episodes = _episodes(snapshot, 200)
    scale = 10 if quick else 1
    # Memory first: once full copies have been freed, the allocator reuses their memory and RSS
    # growth would under-count the next ones.
    _, kib_copy = _live_memory(episodes, 100 // scale, snapshot.private_copy)
    kib_fork, _ = _live_memory(episodes, 1000 // scale, snapshot.fork)
    # A full copy costs milliseconds, a fork under a microsecond: take 100x more fork samples.
    creation = _interleaved(
        5,
        {"fork": (2000 // scale, lambda i: snapshot.fork()), "copy": (20 // scale, lambda i: snapshot.private_copy())},
    )

    fork, copy = snapshot.fork(), snapshot.private_copy()
    order_ids = [e.reads[2][1]["order_id"] for e in episodes]

    def read_on(sandbox: Sandbox) -> Callable[[int], object]:
        return lambda i: TOOLS.execute(sandbox, "get_order_details", {"order_id": order_ids[i % len(order_ids)]})

    reads = _interleaved(5, {"fork": (400 // scale, read_on(fork)), "copy": (400 // scale, read_on(copy))})

    def write_on(sandboxes: list[Sandbox]) -> Callable[[int], object]:
        # A fresh sandbox per write, made before timing: the first write to a record is the costly one.
        return lambda i: TOOLS.execute(sandboxes[i], *episodes[i % len(episodes)].writes[0])

    n_writes = 40 // scale
    write_samples: dict[str, list[int]] = {"fork": [], "copy": []}
    for _ in range(5):
        forks: list[Sandbox] = [snapshot.fork() for _ in range(n_writes)]
        copies: list[Sandbox] = [snapshot.private_copy() for _ in range(n_writes)]
        batch = _interleaved(1, {"fork": (n_writes, write_on(forks)), "copy": (n_writes, write_on(copies))})
        for side, values in batch.items():
            write_samples[side].extend(values)
        del forks, copies

    # The change set after a typical episode against hashing the whole state, tau2's way.
    done: list[Fork] = []
    for episode in episodes[:20]:
        f = snapshot.fork()
        episode.run(f)
        done.append(f)
    diffs = _interleaved(
        3,
        {
            "diff": (len(done), lambda i: done[i].changes()),
            "hash": (max(1, 3 // scale), lambda i: tau2_hash(done[i].export())),
        },
    )
    changed_rows = statistics.median(len(f.changes()) for f in done)

    gc.collect()
    keep = []
    for i in range(10_000 // scale):
        f = snapshot.fork()
        episodes[i % len(episodes)].run(f)
        keep.append(f)
    rss_10k = _rss_mib()
    del keep

    fork_us, copy_us = _median_us(creation["fork"]), _median_us(creation["copy"])
    read_fork, read_copy = _median_us(reads["fork"]), _median_us(reads["copy"])
    write_fork, write_copy = _median_us(write_samples["fork"]), _median_us(write_samples["copy"])
    diff_us, hash_us = _median_us(diffs["diff"]), _median_us(diffs["hash"])
    return {
        "fork_us_median": round(fork_us, 3),
        "copy_us_median": round(copy_us, 1),
        "fork_speedup_vs_copy": round(copy_us / fork_us, 1),
        "private_kib_per_sandbox": round(kib_fork, 2),
        "copy_private_kib_per_sandbox": round(kib_copy, 1),
        "rss_mib_10k_sandboxes": round(rss_10k, 1),
        "live_sandboxes_for_rss": 10_000 // scale,
        "read_us_median": round(read_fork, 1),
        "copy_read_us_median": round(read_copy, 1),
        "read_ratio_vs_copy": round(read_fork / read_copy, 3),
        "write_us_median": round(write_fork, 1),
        "copy_write_us_median": round(write_copy, 1),
        "write_ratio_vs_copy": round(write_fork / write_copy, 3),
        "diff_us_median": round(diff_us, 1),
        "whole_db_hash_us_median": round(hash_us, 1),
        "diff_speedup_vs_hash": round(hash_us / diff_us, 1),
        "changed_rows_per_episode": changed_rows,
    }


def _machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--world", choices=["synthetic", "tau2"], default="synthetic")
    parser.add_argument("--tau2-dir", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/tau2")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="a tenth of the samples (a smoke run, not a measurement)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.world == "tau2":
        snapshot = RETAIL.load_tau2(args.tau2_dir)
    else:
        snapshot = RETAIL.generate_world(RETAIL.world_size(), args.seed)
    results = {"benchmark": "sandbox", "world": args.world, "machine": _machine(), **run(snapshot, quick=args.quick)}
    if args.json:
        sys.stdout.write(json.dumps(results) + "\n")
        return
    rows = [
        (
            "fork (us, median)",
            results["fork_us_median"],
            results["copy_us_median"],
            f"{results['fork_speedup_vs_copy']}x faster",
        ),
        (
            "read tool call (us)",
            results["read_us_median"],
            results["copy_read_us_median"],
            f"ratio {results['read_ratio_vs_copy']}",
        ),
        (
            "write tool call (us)",
            results["write_us_median"],
            results["copy_write_us_median"],
            f"ratio {results['write_ratio_vs_copy']}",
        ),
        ("private KiB / sandbox", results["private_kib_per_sandbox"], results["copy_private_kib_per_sandbox"], ""),
        (
            "change set vs whole-DB hash (us)",
            results["diff_us_median"],
            results["whole_db_hash_us_median"],
            f"{results['diff_speedup_vs_hash']}x faster",
        ),
    ]
    sys.stdout.write(f"{'':36}{'fork':>14}{'full copy':>14}\n")
    for label, a, b, note in rows:
        sys.stdout.write(f"{label:36}{a:>14}{b:>14}  {note}\n")
    sys.stdout.write(
        f"RSS with {results['live_sandboxes_for_rss']} live forks: {results['rss_mib_10k_sandboxes']} MiB\n"
    )


if __name__ == "__main__":
    main()
