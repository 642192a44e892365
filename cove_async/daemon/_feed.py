"""A job's results as a resumable stream: the lines of its trajectory file, numbered by cursor.

The job's ``trajectories.jsonl`` (written by :mod:`cove_async.store`, fsynced before a batch
counts) is the stream. Trajectory ``k`` (1-based) is line ``k``, so a cursor means the same
line before and after a daemon restart: the store only ever appends, and on reopening it cuts
off a torn last line, which no stream was ever sent (lines are announced only once their
batch is durable).

:class:`JobFeed` keeps the byte offset of every line (8 bytes a line) and an event that fires
when lines are added or the job ends. Reads and indexing touch the disk, so they run in worker
threads, a chunk of lines per hop.
"""

from __future__ import annotations

import os
from array import array
from pathlib import Path

import anyio

__all__ = ("JobFeed",)

_INDEX_CHUNK = 1 << 20


def _line_ends(path: Path, start: int) -> list[int]:
    """Offsets just past each newline at or after ``start`` (whole lines only). Blocking."""
    ends: list[int] = []
    try:
        file = path.open("rb")
    except FileNotFoundError:
        return ends
    with file:
        file.seek(start)
        position = start
        while chunk := file.read(_INDEX_CHUNK):
            index = chunk.find(b"\n")
            while index >= 0:
                ends.append(position + index + 1)
                index = chunk.find(b"\n", index + 1)
            position += len(chunk)
    return ends


def _read(path: Path, start: int, stop: int) -> bytes:
    """Bytes ``[start, stop)`` of the file. Blocking."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.pread(fd, stop - start, start)
    finally:
        os.close(fd)


class JobFeed:
    """The numbered lines of one job's trajectory file, and a way to wait for more.

    Args:
        path: the job's ``trajectories.jsonl``.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offsets = array("q", [0])
        self._changed = anyio.Event()
        self.finished = False
        """Whether the job has ended: no line will be added (until a restart resumes it)."""

    @property
    def count(self) -> int:
        """Lines (trajectories) announced so far; also the cursor of the last one."""
        return len(self._offsets) - 1

    def changed(self) -> anyio.Event:
        """An event set at the next change (new lines, or the job ending). Take it *before*
        checking :attr:`count`, so a change in between is not missed."""
        return self._changed

    async def refresh(self) -> int:
        """Index the lines appended since the last call and wake the streams; returns how many."""
        ends = await anyio.to_thread.run_sync(_line_ends, self.path, self._offsets[-1])
        if ends:
            self._offsets.extend(ends)
            self._notify()
        return len(ends)

    def finish(self) -> None:
        """Mark the job ended and wake the streams, so they can say so and close."""
        self.finished = True
        self._notify()

    def wake(self) -> None:
        """Wake the streams without a change (the daemon is stopping: they should look)."""
        self._notify()

    def reopen(self) -> None:
        """Mark the job running again (resumed after a restart)."""
        self.finished = False

    def _notify(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    async def read(self, start: int, stop: int) -> bytes:
        """Trajectories ``start + 1 .. stop`` as NDJSON, each object opening with its ``"cursor"``.

        Args:
            start: the cursor to read after (0 for the beginning).
            stop: the cursor of the last line to read (at most :attr:`count`).

        Raises:
            ValueError: the range is empty or outside ``0 .. count``.
        """
        if not 0 <= start < stop <= self.count:
            raise ValueError(f"cannot read cursors {start + 1}..{stop}: the feed holds 1..{self.count}")
        offsets = self._offsets
        base = offsets[start]
        data = await anyio.to_thread.run_sync(_read, self.path, base, offsets[stop])
        view = memoryview(data)
        out = bytearray()
        for cursor in range(start + 1, stop + 1):
            # Every line is a JSON object: splice the cursor in after its opening brace.
            out += b'{"cursor":%d,' % cursor
            out += view[offsets[cursor - 1] - base + 1 : offsets[cursor] - base]
        return bytes(out)
