"""Durable appends to a JSON-lines file, and reading back only whole lines.

A batch is encoded and written with one ``write`` call on an ``O_APPEND`` descriptor, then
``fsync``ed, in a worker thread behind a capacity limiter so the event loop never waits on the
disk. A line is visible to readers once written, but only a line ending in a newline counts:
readers here skip a partial last line, and opening the file cuts off one left by a crash.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Self

import anyio
import structlog

from cove_async.store._errors import StoreError, map_storage_errors
from cove_async.store._records import TrajectoryRecord, encode_records

__all__ = ("JsonlSink", "fsync_dir", "iter_lines", "repair_torn_tail")

log = structlog.get_logger()

_CHUNK = 1 << 16


def repair_torn_tail(path: Path) -> int:
    """Cut a partial last line (one without a newline) off the file; return how many bytes went.

    A process killed during a write can leave the start of a line at the end of the file; no
    reader should ever see it. Blocking: call it from a worker thread.
    """
    with path.open("r+b") as file:
        size = file.seek(0, os.SEEK_END)
        end = size
        while end > 0:
            start = max(0, end - _CHUNK)
            file.seek(start)
            chunk = file.read(end - start)
            newline = chunk.rfind(b"\n")
            if newline >= 0:
                keep = start + newline + 1
                break
            end = start
        else:
            keep = 0
        if keep == size:
            return 0
        file.truncate(keep)
        file.flush()
        os.fsync(file.fileno())
        return size - keep


def iter_lines(path: Path) -> Iterator[bytes]:
    """Yield each whole line of the file (newline included), skipping a partial last line.

    A missing file has no lines. Blocking: iterate in a worker thread.
    """
    try:
        file = path.open("rb")
    except FileNotFoundError:
        return
    with file:
        for line in file:
            if line.endswith(b"\n"):
                yield line


def fsync_dir(path: Path) -> None:
    """``fsync`` a directory, so that entries created or renamed in it survive a crash. Blocking."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class JsonlSink:
    """Appends batches of :class:`TrajectoryRecord` to a JSON-lines file, durably.

    Open with :meth:`open`, close with :meth:`aclose` (or ``async with``). Batches are written in
    the order their :meth:`append` calls acquire the limiter (FIFO), one ``write`` and one
    ``fsync`` each. A failed write is cut back off the file, so the file always ends with a
    whole line.
    """

    def __init__(self, path: Path, fd: int, size: int, limiter: anyio.CapacityLimiter) -> None:
        """Use :meth:`open` instead: it repairs the file and opens the descriptor off the loop."""
        self._path = path
        self._fd: int | None = fd
        self._size = size
        self._limiter = limiter

    @classmethod
    async def open(cls, path: Path, *, limiter: anyio.CapacityLimiter | None = None) -> JsonlSink:
        """Open (creating if needed) the file for appending, first cutting off a torn last line.

        Args:
            path: the JSONL file.
            limiter: bounds the worker threads used for file work; default: a limiter of one.

        Raises:
            StoreError: the file cannot be opened or repaired.
        """
        limiter = limiter if limiter is not None else anyio.CapacityLimiter(1)
        fd, size, dropped = await anyio.to_thread.run_sync(cls._open_sync, path, limiter=limiter)
        if dropped:
            log.warning("jsonl_torn_tail_truncated", path=str(path), bytes_dropped=dropped)
        return cls(path, fd, size, limiter)

    @staticmethod
    def _open_sync(path: Path) -> tuple[int, int, int]:
        with map_storage_errors(path, "open the trajectory file"):
            existed = path.exists()
            dropped = repair_torn_tail(path) if existed else 0
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            if not existed:
                # The new directory entry must survive a crash too, or fsynced lines could vanish with it.
                fsync_dir(path.parent)
            return fd, os.fstat(fd).st_size, dropped

    @property
    def path(self) -> Path:
        """The file written."""
        return self._path

    async def append(self, records: Sequence[TrajectoryRecord]) -> None:
        """Append the records as lines and ``fsync``; on return they survive a crash.

        Encoding happens in the worker thread too, so a large batch does not stall the loop.
        If cancelled while the thread runs, the call still waits for the write to finish (the
        batch is then on disk).

        Raises:
            StoreError: the sink is closed or the write failed (the file is left as before).
        """
        if not records:
            return
        await anyio.to_thread.run_sync(self._append_sync, records, limiter=self._limiter)

    def _append_sync(self, records: Sequence[TrajectoryRecord]) -> None:
        fd = self._fd
        if fd is None:
            raise StoreError(f"the trajectory sink for {self._path} is closed; open a new one", path=self._path)
        data = memoryview(encode_records(records))
        with map_storage_errors(self._path, "append to the trajectory file"):
            try:
                written = 0
                while written < len(data):
                    written += os.write(fd, data[written:])
                os.fsync(fd)
            except OSError:
                # Leave no torn line behind: cut the file back to where this batch began.
                os.ftruncate(fd, self._size)
                raise
        self._size += len(data)

    async def aclose(self) -> None:
        """Close the descriptor; later appends raise :class:`StoreError`. Idempotent."""
        fd, self._fd = self._fd, None
        if fd is not None:
            # Under the limiter: an append in its thread must finish before the descriptor goes.
            with anyio.CancelScope(shield=True):
                async with self._limiter:
                    os.close(fd)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()
