"""What every scenario shares: machine facts, time budgets, spreads, CPU clocks, memory and loop lag.

Every number a scenario reports is a median over repetitions, with its spread (min, max and the
values themselves) next to it, and every report carries the machine it was measured on: on a
shared two-core machine absolute times drift, so the ratios measured side by side in one run
are what to compare.
"""

from __future__ import annotations

import contextlib
import datetime
import gc
import importlib.metadata
import math
import os
import platform
import sqlite3
import statistics
import time
from collections.abc import Awaitable, Callable, Coroutine, Generator, Iterator, Sequence
from typing import Any, Literal, TypeVar

import anyio
import msgspec

from cove_async.errors import CoveError

__all__ = (
    "BenchError",
    "Budget",
    "CpuClock",
    "GcTimer",
    "gc_threshold",
    "LagSampler",
    "Loop",
    "Machine",
    "ScenarioReport",
    "Spread",
    "machine_facts",
    "median",
    "now_iso",
    "percentile",
    "pinned",
    "rss_mib",
    "run_on",
    "spread",
    "timed_await",
    "uvloop_available",
)

T = TypeVar("T")

Loop = Literal["uvloop", "asyncio"]


class BenchError(CoveError):
    """A benchmark cannot run as asked (a missing server, an unusable setting)."""


class Spread(msgspec.Struct, frozen=True, kw_only=True):
    """A measure over repetitions: its median, its range and every value."""

    median: float
    min: float
    max: float
    values: tuple[float, ...]


def median(values: Sequence[float], digits: int = 1) -> float:
    """The median of ``values`` rounded to ``digits`` (NaN when empty)."""
    return round(statistics.median(values), digits) if values else math.nan


def spread(values: Sequence[float], digits: int = 1) -> Spread:
    """The :class:`Spread` of ``values`` (NaNs when empty)."""
    if not values:
        return Spread(median=math.nan, min=math.nan, max=math.nan, values=())
    return Spread(
        median=median(values, digits),
        min=round(min(values), digits),
        max=round(max(values), digits),
        values=tuple(round(v, digits) for v in values),
    )


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) of ``values`` by the nearest-rank method (NaN when empty)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


class Machine(msgspec.Struct, frozen=True, kw_only=True):
    """Where a result was measured.

    Attributes:
        cpu_model: the processor's model name.
        cores: logical CPUs of the machine.
        cores_usable: logical CPUs this process may run on.
        memory_gib: physical memory.
        load_avg_1m: the one-minute load average when the facts were read (a busy neighbour shows here).
        python: the interpreter version.
        implementation: CPython, PyPy...
        platform: the operating system and kernel.
        sqlite: the SQLite library version.
        packages: versions of the packages that shape the numbers (None: not installed).
    """

    cpu_model: str
    cores: int
    cores_usable: int
    memory_gib: float
    load_avg_1m: float
    python: str
    implementation: str
    platform: str
    sqlite: str
    packages: dict[str, str | None]


_PACKAGES = (
    "cove-async",
    "anyio",
    "uvloop",
    "aiohttp",
    "aiosqlite",
    "msgspec",
    "httpx",
    "httpx2",
    "httpcore",
    "prometheus-client",
    "structlog",
    "matplotlib",
)


def _cpu_model() -> str:
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    return platform.processor() or platform.machine()


def _memory_gib() -> float:
    with contextlib.suppress(OSError), open("/proc/meminfo") as info:
        for line in info:
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    return math.nan


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def machine_facts() -> Machine:
    """The facts about this machine and interpreter that every result carries."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count() or 1
    try:
        load = round(os.getloadavg()[0], 2)
    except OSError:
        load = math.nan
    return Machine(
        cpu_model=_cpu_model(),
        cores=os.cpu_count() or 1,
        cores_usable=usable,
        memory_gib=_memory_gib(),
        load_avg_1m=load,
        python=platform.python_version(),
        implementation=platform.python_implementation(),
        platform=platform.platform(),
        sqlite=sqlite3.sqlite_version,
        packages={name: _version(name) for name in _PACKAGES},
    )


class ScenarioReport(msgspec.Struct, kw_only=True):
    """One scenario's result as printed with ``--json``.

    Attributes:
        scenario: the scenario's name.
        machine: where it ran.
        params: the settings it ran with (sizes, levels, repetitions).
        started_at: when it started (UTC, ISO 8601).
        duration_s: how long it took, set-up included.
        truncated: the time budget ran out before every measurement was made.
        notes: what a reader must know to read the numbers (fallbacks, skipped parts).
        results: the scenario's measurements (see each scenario's result type).
    """

    scenario: str
    machine: Machine
    params: dict[str, Any]
    started_at: str
    duration_s: float
    truncated: bool
    notes: list[str]
    results: Any


def now_iso() -> str:
    """The current UTC time, ISO 8601, to the second."""
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


class Budget:
    """A scenario's time limit: measurements check :meth:`left` and stop early when it runs out.

    Args:
        seconds: the budget; None for no limit.
    """

    def __init__(self, seconds: float | None) -> None:
        if seconds is not None and seconds <= 0:
            raise BenchError(f"the time budget must be > 0 seconds, got {seconds}")
        self._deadline = None if seconds is None else time.monotonic() + seconds
        self.truncated = False
        """Set by callers that skipped a measurement because the budget ran out."""

    def left(self) -> float:
        """Seconds left (infinity without a limit; never negative)."""
        if self._deadline is None:
            return math.inf
        return max(0.0, self._deadline - time.monotonic())

    def exhausted(self, need_s: float = 0.0) -> bool:
        """Whether less than ``need_s`` seconds are left; marks the budget truncated if so."""
        out = self.left() <= need_s
        self.truncated |= out
        return out


def rss_mib() -> float:
    """The process's resident memory now, in MiB."""
    with contextlib.suppress(OSError), open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # peak, the best available here


@contextlib.contextmanager
def pinned(cpu: int | None) -> Iterator[int | None]:
    """Run the block on one CPU (all of the process's threads), then restore the affinity.

    Yields the CPU used, or None when pinning is off or not supported.
    """
    if cpu is None or not hasattr(os, "sched_setaffinity"):
        yield None
        return
    before = os.sched_getaffinity(0)
    if cpu not in before:
        raise BenchError(f"cannot pin to CPU {cpu}: this process may run on {sorted(before)}")
    os.sched_setaffinity(0, {cpu})
    try:
        yield cpu
    finally:
        os.sched_setaffinity(0, before)


def uvloop_available() -> bool:
    """Whether uvloop imports."""
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


def run_on(loop: Loop, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    """Run ``fn(*args)`` in a fresh event loop of the kind asked for (anyio's asyncio backend).

    Raises:
        BenchError: uvloop was asked for and is not installed.
    """
    if loop == "uvloop" and not uvloop_available():
        raise BenchError("uvloop is not installed; pip install uvloop, or pass --loop asyncio")
    options: dict[str, Any] = {"use_uvloop": True} if loop == "uvloop" else {}
    return anyio.run(fn, *args, backend="asyncio", backend_options=options)


class CpuClock:
    """Process CPU and the main thread's CPU between :meth:`start` and :meth:`stop`.

    ``other_s`` is what other threads used meanwhile (the store's writer threads, aiosqlite).
    """

    def __init__(self) -> None:
        self._p0 = self._t0 = self._w0 = 0.0
        self.process_s = self.thread_s = self.wall_s = 0.0

    def start(self) -> None:
        self._p0, self._t0, self._w0 = time.process_time(), time.thread_time(), time.perf_counter()

    def stop(self) -> None:
        self.process_s = time.process_time() - self._p0
        self.thread_s = time.thread_time() - self._t0
        self.wall_s = time.perf_counter() - self._w0

    @property
    def other_s(self) -> float:
        return max(0.0, self.process_s - self.thread_s)


class _TimedAwait:
    """Awaits a coroutine, adding the main thread's CPU of each step it runs to ``acc[key]``.

    A coroutine runs in steps between its suspensions; timing each step (rather than the whole
    ``await``) counts only its own CPU, not the other tasks that ran while it was suspended.
    """

    def __init__(self, coro: Coroutine[Any, Any, T], acc: dict[str, float], key: str) -> None:
        self._coro = coro
        self._acc = acc
        self._key = key

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, acc, key, clock = self._coro, self._acc, self._key, time.thread_time
        sent: Any = None
        thrown: BaseException | None = None
        while True:
            started = clock()
            try:
                step = coro.send(sent) if thrown is None else coro.throw(thrown)
            except StopIteration as done:
                acc[key] += clock() - started
                return done.value
            acc[key] += clock() - started
            try:
                sent, thrown = (yield step), None
            except BaseException as exc:  # delivered into the coroutine, as `await` would
                sent, thrown = None, exc


async def timed_await(coro: Coroutine[Any, Any, T], acc: dict[str, float], key: str) -> T:
    """``await coro``, adding the main-thread CPU it used (its own steps only) to ``acc[key]``."""
    result: T = await _TimedAwait(coro, acc, key)
    return result


class GcTimer:
    """Time spent in Python's cyclic garbage collector while installed (``with GcTimer() as gc_time:``).

    With thousands of live episodes the collector's full passes walk every live object, so its
    share of the loop's time grows with the episodes in flight; this makes that visible.
    """

    def __init__(self) -> None:
        self.seconds = 0.0
        self.collections = [0, 0, 0]
        self._started = 0.0

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started
            self.collections[info["generation"]] += 1

    def reset(self) -> None:
        """Start counting from zero."""
        self.seconds = 0.0
        self.collections = [0, 0, 0]

    def __enter__(self) -> GcTimer:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *_exc: object) -> None:
        gc.callbacks.remove(self._callback)


@contextlib.contextmanager
def gc_threshold(threshold0: int | None) -> Iterator[None]:
    """Run the block with ``gc.set_threshold(threshold0, 50, 1000)`` (None: leave the collector alone)."""
    if threshold0 is None:
        yield
        return
    before = gc.get_threshold()
    gc.set_threshold(threshold0, 50, 1000)
    try:
        yield
    finally:
        gc.set_threshold(*before)


class LagSampler:
    """Event-loop lag: how late a task that sleeps ``interval`` seconds wakes up, sampled until cancelled.

    Unlike the Prometheus histogram of :func:`cove_async.metrics.watch_loop_lag`, it keeps every
    sample, so percentiles are exact.
    """

    def __init__(self, interval: float = 0.01) -> None:
        if interval <= 0:
            raise BenchError(f"the lag sampling interval must be > 0 s, got {interval}")
        self.interval = interval
        self.samples: list[float] = []
        self.recording = True

    async def run(self) -> None:
        """Sample until cancelled (start it in a task group)."""
        clock = time.perf_counter
        while True:
            started = clock()
            await anyio.sleep(self.interval)
            if self.recording:
                self.samples.append(max(0.0, clock() - started - self.interval))

    def reset(self) -> None:
        """Forget the samples so far (call it when the measurement window opens)."""
        self.samples.clear()

    def percentiles_ms(self) -> dict[str, float]:
        """p50, p99 and max of the samples, in milliseconds (NaN without samples)."""
        s = self.samples
        return {
            "p50": round(percentile(s, 50) * 1e3, 2),
            "p99": round(percentile(s, 99) * 1e3, 2),
            "max": round(max(s) * 1e3, 2) if s else math.nan,
        }
