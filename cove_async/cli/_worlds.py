"""``cove-async world``, ``import-tau2`` and ``export-tau2``: making and moving worlds."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import msgspec
import structlog

from cove_async.cli._common import UsageError, write_table
from cove_async.domains import DOMAIN_NAMES, Domain, get_domain, tau2_hash
from cove_async.sandbox import Snapshot

__all__ = ("register",)

log = structlog.get_logger()


def _parse_sizes(domain: Domain, pairs: Sequence[str]) -> msgspec.Struct:
    """The domain's world size from ``NAME=N`` pairs over its defaults."""
    fields = {f.name for f in msgspec.structs.fields(domain.world_size)}
    values: dict[str, int] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or name not in fields:
            raise UsageError(f"--size {pair!r}: expected NAME=N with NAME one of {', '.join(sorted(fields))}")
        try:
            values[name] = int(raw)
        except ValueError:
            raise UsageError(f"--size {pair!r}: {raw!r} is not a whole number") from None
    try:
        return msgspec.convert(values, domain.world_size)
    except msgspec.ValidationError as exc:
        raise UsageError(f"--size: {exc}") from None


def _cmd_world(args: argparse.Namespace) -> None:
    domain = get_domain(args.domain)
    size = _parse_sizes(domain, args.size)
    started = time.perf_counter()
    snapshot = domain.generate_world(size, args.seed)
    elapsed = time.perf_counter() - started
    log.info("world_generated", domain=domain.name, seed=args.seed, seconds=round(elapsed, 3))
    if args.out:
        snapshot.save(args.out)
    if args.tau2_json:
        Path(args.tau2_json).write_text(json.dumps(snapshot.fork().export()))
    stats = {
        "domain": domain.name,
        "seed": args.seed,
        "size": msgspec.to_builtins(size),
        **domain.world_stats(snapshot),
    }
    if args.json:
        sys.stdout.write(json.dumps(stats) + "\n")
    else:
        write_table(stats)


def _cmd_import_tau2(args: argparse.Namespace) -> None:
    domain = get_domain(args.domain)
    snapshot = domain.load_tau2(args.tau2_dir)
    snapshot.save(args.out)
    digest = tau2_hash(snapshot.fork().export())
    sys.stdout.write(json.dumps({"domain": domain.name, "out": str(args.out), "tau2_hash": digest}) + "\n")


def _cmd_export_tau2(args: argparse.Namespace) -> None:
    domain = get_domain(args.domain)
    state = Snapshot.open(domain.schema, args.world).fork().export()
    Path(args.out).write_text(json.dumps(state, indent=2))
    sys.stdout.write(json.dumps({"domain": domain.name, "out": str(args.out), "tau2_hash": tau2_hash(state)}) + "\n")


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the world commands to the command line."""
    world = commands.add_parser("world", help="generate a seeded synthetic world and print its statistics")
    world.add_argument("--domain", choices=DOMAIN_NAMES, default="retail")
    world.add_argument("--seed", type=int, default=0)
    world.add_argument("--size", action="append", default=[], metavar="NAME=N", help="a size knob, repeatable")
    world.add_argument("--out", type=Path, help="write the world as a SQLite file")
    world.add_argument("--tau2-json", type=Path, help="also write it in tau2's db.json shape")
    world.add_argument("--json", action="store_true", help="print the statistics as one JSON object")
    world.set_defaults(run=_cmd_world)

    imp = commands.add_parser("import-tau2", help="import tau2's db.json into a world SQLite file")
    imp.add_argument("--domain", choices=DOMAIN_NAMES, required=True)
    imp.add_argument("--tau2-dir", type=Path, required=True, help="tau2's data folder, holding <domain>/db.json")
    imp.add_argument("--out", type=Path, required=True)
    imp.set_defaults(run=_cmd_import_tau2)

    exp = commands.add_parser("export-tau2", help="export a world SQLite file to tau2's db.json shape")
    exp.add_argument("--domain", choices=DOMAIN_NAMES, required=True)
    exp.add_argument("--world", type=Path, required=True)
    exp.add_argument("--out", type=Path, required=True)
    exp.set_defaults(run=_cmd_export_tau2)
