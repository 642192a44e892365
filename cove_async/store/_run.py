"""A run's output directory: exactly-once trajectories and resume after a crash.

``OUT/`` holds ``trajectories.jsonl`` (the artefact), ``store.sqlite`` (the ledger) and ``.lock``.

The exactly-once protocol:

1. **Key.** An episode is ``(task_id, sample_index)``; a run holds at most one trajectory per key.
2. **Artefact first.** :meth:`Run.record_batch` appends the batch to the JSONL and ``fsync``s it,
   and only then marks those episodes done in the ledger, in one transaction. A crash between the
   two leaves trajectories the ledger does not know about, never the reverse.
3. **Reconcile on open.** :func:`open_run` on an existing directory cuts a torn last line off the
   JSONL, drops any line whose key already appeared earlier in the file (and any line that is not
   a record, which goes to ``trajectories.rejected.jsonl``), marks done in the ledger every key the
   JSONL holds and the ledger missed, puts back to pending any key the ledger calls done but the
   JSONL lacks (the artefact wins), and puts episodes left ``running`` back to pending.
4. **Work list.** :meth:`Run.pending` returns the requested keys minus the done ones (failed ones
   are retried unless asked otherwise), so re-running the same command finishes the run.
5. **Guards.** ``record_batch`` skips a key already written (so a caller's retry cannot duplicate
   it); an exclusive ``flock`` on ``.lock`` keeps a second process out (the kernel drops it when a
   process dies, even by ``kill -9``); a run refuses to resume with a config that changes results.

The ledger's ``synchronous=NORMAL`` may lose its last commits on power failure, not on a process
crash; step 3 rebuilds them from the fsynced JSONL, so durability rests on the JSONL alone.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path
from typing import Any, Self

import anyio
import msgspec
import structlog

from cove_async.store._errors import RunMismatchError, StoreError, map_storage_errors
from cove_async.store._jsonl import JsonlSink, fsync_dir, iter_lines
from cove_async.store._records import LEDGER_DECODER, EpisodeFailure, LedgerView, TrajectoryRecord
from cove_async.store._sqlite import DoneRow, RunStatistics, Store
from cove_async.tasks import Task

__all__ = ("TRAJECTORIES", "Run", "open_run")

log = structlog.get_logger()

TRAJECTORIES = "trajectories.jsonl"
"""The artefact's file name inside the output directory."""
_REJECTED = "trajectories.rejected.jsonl"
_LEDGER = "store.sqlite"
_LOCK = ".lock"

Key = tuple[str, int]


class Run:
    """One run's output directory, open for writing. Made by :func:`open_run`.

    Used by one event loop; methods may be called from many tasks at once. Close with
    :meth:`aclose` or ``async with``.
    """

    def __init__(
        self,
        *,
        out_dir: Path,
        run_id: str,
        store: Store,
        sink: JsonlSink,
        lock_fd: int,
        done: set[Key],
        resumed: bool,
    ) -> None:
        """Use :func:`open_run`: it reconciles the directory before handing out a ``Run``."""
        self._out_dir = out_dir
        self._run_id = run_id
        self._store = store
        self._sink = sink
        self._lock_fd: int | None = lock_fd
        self._done = done
        self._writing: set[Key] = set()
        self._resumed = resumed

    @property
    def run_id(self) -> str:
        """The run's id: a digest of its result-affecting config (the same config gives the same id)."""
        return self._run_id

    @property
    def out_dir(self) -> Path:
        """The output directory."""
        return self._out_dir

    @property
    def trajectories_path(self) -> Path:
        """``OUT/trajectories.jsonl``."""
        return self._sink.path

    @property
    def resumed(self) -> bool:
        """Whether the directory already held this run when it was opened."""
        return self._resumed

    def is_done(self, task_id: str, sample_index: int) -> bool:
        """Whether the episode's trajectory is written (or being written right now)."""
        key = (task_id, sample_index)
        return key in self._done or key in self._writing

    @property
    def done_count(self) -> int:
        """How many trajectories the JSONL holds for this run."""
        return len(self._done)

    async def add_tasks(self, tasks: Iterable[Task]) -> None:
        """Record the tasks played in the ledger (one transaction); re-adding a task replaces it."""
        rows = [(task.task_id, msgspec.json.encode(task)) for task in tasks]
        if rows:
            await self._store.put_tasks(self._run_id, rows)

    async def pending(self, requested: Iterable[tuple[str, int]], *, retry_failed: bool = True) -> list[Key]:
        """The requested episodes still to run, in request order, each once.

        Records every requested key in the ledger (as ``pending`` unless already known), then
        returns those without a trajectory. Keys known to the ledger but not requested now are
        left alone.

        Args:
            requested: ``(task_id, sample_index)`` pairs; repeats are ignored.
            retry_failed: include episodes that failed earlier (the default); False leaves them out.

        Raises:
            ValueError: a sample index is negative.
        """
        keys = list(dict.fromkeys((str(t), int(s)) for t, s in requested))
        for task_id, sample_index in keys:
            if sample_index < 0:
                raise ValueError(f"sample_index must be >= 0, got {sample_index} for task {task_id!r}")
        if keys:
            await self._store.add_pending(self._run_id, keys)
        skip: Collection[Key] = () if retry_failed else await self._store.keys(self._run_id, "failed")
        return [key for key in keys if key not in self._done and key not in skip]

    async def mark_running(self, keys: Sequence[tuple[str, int]]) -> None:
        """Note in the ledger that these episodes started (one attempt more each); optional."""
        keys = [key for key in keys if key not in self._done]
        if keys:
            await self._store.mark_running(self._run_id, keys)

    async def record_batch(self, records: Sequence[TrajectoryRecord]) -> int:
        """Write finished episodes: append them to the JSONL (fsynced), then mark them done.

        Records whose key is already written, or repeated within the batch, are skipped (logged
        as ``duplicate_trajectory_skipped``): a run never holds two trajectories for a key. The
        call is shielded from cancellation, so a batch it has begun always reaches the disk
        and, barring a crash, the ledger.

        Returns:
            How many records were written.

        Raises:
            ValueError: a record belongs to another run.
            StoreError: the JSONL or the ledger could not be written. If the JSONL was written
                but the ledger was not, the keys still count as done here, and the next
                :func:`open_run` brings the ledger in line.
        """
        fresh: list[TrajectoryRecord] = []
        for record in records:
            if record.run_id != self._run_id:
                raise ValueError(
                    f"record for {record.key} has run_id {record.run_id!r}, but this run is {self._run_id!r}; "
                    "build records with run.run_id"
                )
            if self.is_done(*record.key):
                log.warning("duplicate_trajectory_skipped", task_id=record.task_id, sample_index=record.sample_index)
                continue
            self._writing.add(record.key)
            fresh.append(record)
        if not fresh:
            return 0
        keys = [r.key for r in fresh]
        with anyio.CancelScope(shield=True):
            try:
                await self._sink.append(fresh)
            finally:
                self._writing.difference_update(keys)
            # From here the trajectories exist: count them done whatever happens to the ledger.
            self._done.update(keys)
            await self._store.mark_done(
                self._run_id,
                [
                    DoneRow(
                        task_id=r.task_id,
                        sample_index=r.sample_index,
                        termination_reason=r.termination_reason.value,
                        failure=r.failure,
                        score=r.score,
                        perfect=r.perfect,
                        verdict=msgspec.json.encode(r.verdict),
                    )
                    for r in fresh
                ],
            )
        return len(fresh)

    async def record_failures(self, failures: Sequence[EpisodeFailure]) -> None:
        """Mark episodes that produced no trajectory as failed, with their reasons (one transaction).

        A failed episode is not written to the JSONL and is retried when the run resumes. An
        episode already done stays done.
        """
        rows = [
            (
                f.task_id,
                f.sample_index,
                None if f.termination_reason is None else f.termination_reason.value,
                f.reason,
            )
            for f in failures
            if (f.task_id, f.sample_index) not in self._done
        ]
        if rows:
            await self._store.mark_failed(self._run_id, rows)

    async def statistics(self) -> RunStatistics:
        """Episode counts of this run by status, from the ledger."""
        return await self._store.statistics(self._run_id)

    @property
    def store(self) -> Store:
        """The ledger, for reads (episode rows, verdicts)."""
        return self._store

    async def aclose(self) -> None:
        """Close the JSONL, the ledger and the lock. Idempotent."""
        lock_fd, self._lock_fd = self._lock_fd, None
        if lock_fd is None:
            return
        with anyio.CancelScope(shield=True):
            try:
                await self._sink.aclose()
                await self._store.aclose()
            finally:
                os.close(lock_fd)  # releases the flock

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()


async def open_run(out_dir: Path | str, run_config: object, *, volatile: Collection[str] = ()) -> Run:
    """Create a run in ``out_dir``, or resume the one there; reconcile it (see the module docs).

    Args:
        out_dir: the output directory (created if missing).
        run_config: everything that determines the run's results (domain, task source, seeds,
            samples, policies and their sampling settings, caps...), as a msgspec Struct or a
            mapping that encodes to a JSON object. Stored in the ledger; its digest is the run id.
        volatile: top-level keys of ``run_config`` that do not change results (concurrency,
            metrics port): stored, but free to differ on resume.

    Raises:
        RunMismatchError: the directory holds a run whose config differs in a non-volatile key,
            or trajectories of another run.
        StoreError: the directory is locked by another process or cannot be used.
        TypeError: ``run_config`` does not encode to a JSON object.
    """
    out = Path(out_dir)
    config = msgspec.to_builtins(run_config)
    if not isinstance(config, dict):
        raise TypeError(f"run_config must encode to a JSON object, got {type(config).__name__}")
    volatile = frozenset(volatile)
    identity = {k: v for k, v in config.items() if k not in volatile}
    run_id = "run-" + hashlib.sha256(msgspec.json.encode(identity, order="sorted")).hexdigest()[:16]

    lock_fd = await anyio.to_thread.run_sync(_lock, out)
    store: Store | None = None
    sink: JsonlSink | None = None
    try:
        store = await Store.open(out / _LEDGER)
        runs = await store.runs()
        if len(runs) > 1:
            raise StoreError(f"{store.path} holds {len(runs)} runs; an output directory holds one", path=store.path)
        resumed = bool(runs)
        if runs:
            stored = msgspec.json.decode(runs[0].config)
            differences = _differences(stored, config, volatile)
            if differences:
                raise RunMismatchError(
                    f"{out} holds run {runs[0].id} made with another config ({'; '.join(differences)}); "
                    "re-run with the original settings to resume it, or choose a new --out directory",
                    path=out,
                    differences=differences,
                )
            # The stored id wins: a key newly declared volatile must not orphan the written lines.
            run_id = runs[0].id
        await store.put_run(run_id, msgspec.json.encode(config, order="sorted"))
        limiter = anyio.CapacityLimiter(1)
        path = out / TRAJECTORIES
        sink = await JsonlSink.open(path, limiter=limiter)
        ledger_done = await store.keys(run_id, "done")
        scan = await anyio.to_thread.run_sync(_scan, path, run_id, ledger_done, limiter=limiter)
        if scan.foreign:
            raise RunMismatchError(
                f"{path} holds trajectories of run {scan.foreign} but the ledger's run is {run_id}; "
                "an output directory holds one run: choose a new --out directory",
                path=path,
                differences=(f"run_id: {scan.foreign} -> {run_id}",),
            )
        if scan.drop:
            await sink.aclose()
            await anyio.to_thread.run_sync(_rewrite, path, scan.drop, limiter=limiter)
            sink = await JsonlSink.open(path, limiter=limiter)
            log.warning(
                "jsonl_lines_dropped",
                path=str(path),
                duplicates=scan.duplicates,
                rejected=len(scan.drop) - scan.duplicates,
            )
        recovered = [
            DoneRow(
                task_id=v.task_id,
                sample_index=v.sample_index,
                termination_reason=v.termination_reason,
                failure=None,
                score=v.score,
                perfect=v.perfect,
                verdict=bytes(v.verdict),
            )
            for v in scan.recover
        ]
        if recovered:
            await store.mark_done(run_id, recovered)
        orphaned = sorted(ledger_done - scan.keys)
        if orphaned:
            log.warning("ledger_done_without_trajectory", run_id=run_id, episodes=len(orphaned))
            await store.reset(run_id, orphaned)
        interrupted = await store.reset_running(run_id)
        log.info(
            "run_opened",
            run_id=run_id,
            out_dir=str(out),
            resumed=resumed,
            done=len(scan.keys),
            recovered=len(recovered),
            orphaned=len(orphaned),
            interrupted=interrupted,
        )
        return Run(
            out_dir=out,
            run_id=run_id,
            store=store,
            sink=sink,
            lock_fd=lock_fd,
            done=scan.keys,
            resumed=resumed,
        )
    except BaseException:
        with anyio.CancelScope(shield=True):
            if sink is not None:
                await sink.aclose()
            if store is not None:
                await store.aclose()
            os.close(lock_fd)
        raise


def _lock(out: Path) -> int:
    with map_storage_errors(out, "create the output directory"):
        out.mkdir(parents=True, exist_ok=True)
        fd = os.open(out / _LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise StoreError(
            f"{out} is in use by another cove-async process (pid {holder}); wait for it to finish or "
            "choose another --out directory",
            path=out,
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    return fd


def _differences(stored: Any, requested: dict[str, Any], volatile: frozenset[str]) -> tuple[str, ...]:
    if not isinstance(stored, dict):
        return (f"stored config is not a JSON object: {stored!r}",)
    out = []
    for key in sorted((stored.keys() | requested.keys()) - volatile):
        old, new = stored.get(key, "<absent>"), requested.get(key, "<absent>")
        if msgspec.json.encode(old, order="sorted") != msgspec.json.encode(new, order="sorted"):
            out.append(f"{key}: {_short(old)} -> {_short(new)}")
    return tuple(out)


def _short(value: Any) -> str:
    text = msgspec.json.encode(value, order="sorted").decode() if value != "<absent>" else "<absent>"
    return text if len(text) <= 80 else text[:77] + "..."


class _Scan(msgspec.Struct, kw_only=True):
    keys: set[Key]
    recover: list[LedgerView]
    drop: set[int]
    duplicates: int
    foreign: str | None


def _scan(path: Path, run_id: str, ledger_done: set[Key]) -> _Scan:
    """Read the JSONL's keys; list the lines to drop and the records the ledger missed. Blocking."""
    keys: set[Key] = set()
    recover: list[LedgerView] = []
    drop: set[int] = set()
    duplicates = 0
    with map_storage_errors(path, "read the trajectory file"):
        for number, line in enumerate(iter_lines(path)):
            try:
                view = LEDGER_DECODER.decode(line)
            except msgspec.DecodeError as exc:
                log.warning("jsonl_line_rejected", path=str(path), line=number + 1, error=str(exc))
                drop.add(number)
                continue
            if view.run_id != run_id:
                return _Scan(keys=keys, recover=[], drop=set(), duplicates=0, foreign=view.run_id)
            key = (view.task_id, view.sample_index)
            if key in keys:
                drop.add(number)
                duplicates += 1
                continue
            keys.add(key)
            if key not in ledger_done:
                # Copy out of the line so the line's buffer is not kept alive by the view.
                recover.append(
                    LedgerView(
                        view.run_id,
                        view.task_id,
                        view.sample_index,
                        view.perfect,
                        view.score,
                        view.termination_reason,
                        msgspec.Raw(bytes(view.verdict)),
                    )
                )
    return _Scan(keys=keys, recover=recover, drop=drop, duplicates=duplicates, foreign=None)


def _rewrite(path: Path, drop: set[int]) -> None:
    """Replace the file by its lines minus ``drop`` (by line number), atomically. Blocking.

    Dropped lines that are not records (rather than duplicates) are kept aside in
    ``trajectories.rejected.jsonl`` for inspection.
    """
    tmp = path.with_name(path.name + ".tmp")
    rejected: list[bytes] = []
    with map_storage_errors(path, "rewrite the trajectory file"):
        with tmp.open("wb") as out:
            for number, line in enumerate(iter_lines(path)):
                if number not in drop:
                    out.write(line)
                    continue
                try:
                    LEDGER_DECODER.decode(line)
                except msgspec.DecodeError:
                    rejected.append(line)
            out.flush()
            os.fsync(out.fileno())
        if rejected:
            with path.with_name(_REJECTED).open("ab") as aside:
                aside.writelines(rejected)
                aside.flush()
                os.fsync(aside.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
