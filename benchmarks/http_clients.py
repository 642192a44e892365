"""HTTP clients for the LLM path, side by side in one run (a thin entry point to ``cove-async bench http``).

    python benchmarks/http_clients.py            # 64, 512, 2048 in flight; a table
    python benchmarks/http_clients.py --full     # adds 4096 in flight
    python benchmarks/http_clients.py --quick    # seconds: 64 and 256 in flight, short windows
    python benchmarks/http_clients.py --json     # one JSON object instead of the table
    python benchmarks/http_clients.py --clients aiohttp cove --levels 64 --rounds 8   # just the ratio

The measurement lives in :mod:`cove_async.bench._clients` (``cove-async bench http`` runs it
with the episodes over HTTP and the fault drill); this script runs only the client comparison
and prints it in the shape this script always had: ``results`` (one row per measurement) and
``levels`` (cove's CPU per request against the bare aiohttp POST, per level).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import msgspec

from cove_async._logging import configure_logging
from cove_async.bench._clients import CLIENTS, measure_clients
from cove_async.bench._common import Budget, Loop, machine_facts, run_on, uvloop_available
from cove_async.bench._server import ServerSpec, server_process


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--quick", action="store_true", help="seconds: 64 and 256 in flight, short windows, one round")
    parser.add_argument("--full", action="store_true", help="add 4096 in flight")
    parser.add_argument(
        "--rounds", type=int, help="rounds of the aiohttp/cove pair per level (default 3, 1 with --quick)"
    )
    parser.add_argument("--clients", nargs="+", choices=CLIENTS, help="measure only these (default: all that import)")
    parser.add_argument("--levels", type=int, nargs="+", help="requests in flight to measure (overrides the defaults)")
    args = parser.parse_args()
    configure_logging(level="warning")  # logs to stderr: stdout is the result
    levels = args.levels or ([64, 256] if args.quick else [64, 512, 2048] + ([4096] if args.full else []))
    times = (0.2, 0.5) if args.quick else (0.5, 2.0)
    rounds = args.rounds or (1 if args.quick else 3)
    loop: Loop = "uvloop" if uvloop_available() else "asyncio"
    with server_process(ServerSpec()) as server:
        rows, levels_summary = run_on(
            loop,
            lambda: measure_clients(
                server.url,
                levels=sorted(levels),
                rounds=rounds,
                clients=tuple(args.clients or CLIENTS),
                times=times,
                budget=Budget(None),
            ),
        )
    report: dict[str, Any] = {
        "machine": msgspec.to_builtins(machine_facts()),
        "loop": loop,
        "warmup_s": times[0],
        "window_s": times[1],
        "rounds": rounds,
        "results": msgspec.to_builtins(rows),
        "levels": {
            str(level.in_flight): {
                "client_cpu_us_per_request": level.client_cpu_us_per_request,
                "bare_client_cpu_us_per_request": level.bare_client_cpu_us_per_request,
                "ratio": level.ratio,
                "client_cpu_us_per_request_rounds": level.cpu_rounds,
                "bare_client_cpu_us_per_request_rounds": level.bare_cpu_rounds,
            }
            for level in levels_summary
        },
    }
    if args.json:
        sys.stdout.write(json.dumps(report) + "\n")
        return
    for row in report["results"]:
        cpu = row["client_cpu_us_per_request"]
        sys.stdout.write(
            f"{row['client']:<15} {row['in_flight']:>6} in flight  {row['requests_per_s']:>8.0f} req/s  "
            f"{'-' if cpu is None else f'{cpu:.0f}':>7} us/req  {row['errors']} errors  {row['note']}\n"
        )
    for level, summary in report["levels"].items():
        sys.stdout.write(
            f"{level:>5} in flight: cove {summary['client_cpu_us_per_request']} us, "
            f"bare {summary['bare_client_cpu_us_per_request']} us, ratio {summary['ratio']}\n"
        )


if __name__ == "__main__":
    main()
