"""Sampling a task file: many tasks from one world, each from its own seeded generator."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec

from cove_async.errors import ConfigError, DataError
from cove_async.sandbox import Snapshot
from cove_async.tasks import Task

__all__ = ("KNOB_NAMES", "knobs_for", "read_tasks", "sample_tasks", "task_id", "write_tasks")

KNOB_NAMES = ("constraints", "fuzziness", "refusal_rate")
"""The difficulty knobs both domains share (each domain has more; see its ``Knobs`` type)."""


def _sampler(domain: str) -> tuple[Any, type[msgspec.Struct]]:
    if domain == "retail":
        from cove_async.tasks.retail import RetailKnobs, sample_retail_task

        return sample_retail_task, RetailKnobs
    if domain == "airline":
        from cove_async.tasks.airline import AirlineKnobs, sample_airline_task

        return sample_airline_task, AirlineKnobs
    raise ConfigError(f"no task sampler for domain {domain!r}; known: airline, retail")


def knobs_for(domain: str, overrides: dict[str, Any] | None = None) -> msgspec.Struct:
    """The domain's knobs: its defaults with ``overrides`` applied.

    Raises:
        ConfigError: an unknown knob, or a value the domain rejects (the message says which).
    """
    _, knobs_type = _sampler(domain)
    try:
        return msgspec.convert(dict(overrides or {}), knobs_type)
    except (msgspec.ValidationError, ValueError) as exc:
        raise ConfigError(f"{domain} knobs: {exc}") from None


def task_id(domain: str, seed: int, index: int) -> str:
    """The id of the ``index``-th task of a file sampled with ``seed`` (``retail-s0-000042``)."""
    return f"{domain}-s{seed}-{index:06d}"


def sample_tasks(
    domain: str, snapshot: Snapshot, *, n: int, seed: int, world: str, knobs: msgspec.Struct | None = None
) -> Iterator[Task]:
    """``n`` tasks, each solvable by construction (the sampler proves it), in order.

    Task ``i`` comes from its own generator seeded with ``(domain, seed, i)``, so the first
    ``k`` tasks of a larger file are the same ``k`` tasks, and any task can be re-made alone.

    Raises:
        ConfigError: ``n`` < 0 or bad knobs.
    """
    # Checked here, not on first iteration, so a bad request fails before any file is opened.
    if n < 0:
        raise ConfigError(f"the number of tasks must be >= 0, got {n}")
    sample, _ = _sampler(domain)
    chosen = knobs if knobs is not None else knobs_for(domain)
    return (
        sample(
            snapshot, random.Random(f"{domain}:{seed}:{i}"), task_id=task_id(domain, seed, i), world=world, knobs=chosen
        )
        for i in range(n)
    )


_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder(Task)


def write_tasks(tasks: Iterator[Task] | list[Task], path: Path) -> int:
    """Write tasks as JSON lines; returns how many. The same tasks give the same bytes."""
    count = 0
    buffer = bytearray()
    with path.open("wb") as out:
        for task in tasks:
            _ENCODER.encode_into(task, buffer, -1)
            buffer.extend(b"\n")
            count += 1
            if len(buffer) > 1 << 20:
                out.write(buffer)
                buffer.clear()
        out.write(buffer)
    return count


def read_tasks(path: Path) -> list[Task]:
    """Read a task file written by :func:`write_tasks`.

    Raises:
        DataError: a line is not a task (the message names the line and the field).
    """
    tasks = []
    with path.open("rb") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                tasks.append(_DECODER.decode(line))
            except msgspec.DecodeError as exc:
                raise DataError(f"{path}:{number}: not a task: {exc}") from None
    return tasks
