"""Weight-update pauses: which servers are paused, and a backend wrapper that waits them out.

A trainer about to load new weights calls ``POST /v1/backends/pause``; from then on:

- **intake stops** for jobs that use a paused server: their admission gate
  (:class:`PauseGate`) holds new episodes before they take a shared admission slot, so jobs
  on other servers get the whole daemon meanwhile;
- **new LLM calls wait** (:class:`PausableBackend`) until ``POST /v1/backends/resume``;
- **calls in flight** finish, or meet the server's own pause (429/503 with ``Retry-After``,
  retried by the backend); a call that still fails with 429, 503 or a broken connection after
  its retries, while a pause is on or began during the call, waits for the resume and is asked
  again. So episodes do not fail because of a weight update.

A backend with several servers waits while any of them is paused: the daemon cannot steer a
group's requests away from one server, and sending them to a server whose weights are being
replaced would mix policies inside one conversation.

:class:`PausableBackend` also routes by GRPO group rather than by episode: the engine's route
key is ``"<task_id>/<sample_index>"``, and the wrapper passes on ``task_id``, so every sample of
a task goes to the same server and shares its prefix cache.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable

import anyio
import yarl
from anyio import SemaphoreStatistics

from cove_async.backends import (
    BackendConnectionError,
    BackendError,
    BackendStatusError,
    ChatBackend,
    ChatRequest,
    ChatResponse,
)

__all__ = ("PauseBoard", "PauseGate", "PausableBackend", "group_key", "server_key")

_PAUSE_STATUSES = frozenset((429, 503))


def server_key(url: str) -> str:
    """A server's identity for pausing: scheme, host, port and path, without ``/v1`` or a trailing slash.

    ``http://h:8000``, ``http://h:8000/`` and ``http://h:8000/v1`` are the same server.

    Raises:
        ValueError: ``url`` is not an absolute http(s) URL.
    """
    parsed = yarl.URL(url.strip())
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(f"{url!r} is not an absolute http(s) URL such as http://127.0.0.1:8000")
    path = parsed.path.rstrip("/")
    if path.endswith("/chat/completions"):
        path = path[: -len("/chat/completions")]
    if path.endswith("/v1"):
        path = path[: -len("/v1")]
    return f"{parsed.scheme}://{parsed.host}:{parsed.port}{path}"


def group_key(route_key: str) -> str:
    """The GRPO group of an engine route key ``"<task_id>/<sample_index>"``: the task id."""
    task_id, sep, _ = route_key.rpartition("/")
    return task_id if sep else route_key


class PauseBoard:
    """Which servers are paused now. One per daemon; used on the event loop thread only.

    Args:
        on_wait: called with the seconds an LLM call or an admission waited for a resume
            (metrics), each time one ends a wait.
    """

    def __init__(self, *, on_wait: Callable[[float], None] | None = None) -> None:
        self._all = False
        self._urls: set[str] = set()
        self._changed = anyio.Event()
        self._on_wait = on_wait
        self.epoch = 0
        """Counts pauses; a call that saw it change while it ran was caught by a pause."""
        self.waiting = 0
        """Calls and admissions waiting for a resume now."""

    @property
    def paused_all(self) -> bool:
        """Whether every server is paused."""
        return self._all

    @property
    def paused_urls(self) -> tuple[str, ...]:
        """The servers paused one by one, sorted."""
        return tuple(sorted(self._urls))

    def is_paused(self, servers: Collection[str]) -> bool:
        """Whether any of ``servers`` (as :func:`server_key` gives them) is paused."""
        if not servers:
            return False
        return self._all or not self._urls.isdisjoint(servers)

    def pause(self, servers: Iterable[str] = ()) -> None:
        """Pause ``servers``, or every server when none are given."""
        servers = set(servers)
        if servers:
            self._urls |= servers
        else:
            self._all = True
        self.epoch += 1
        self._notify()

    def resume(self, servers: Iterable[str] = ()) -> None:
        """Resume ``servers``, or lift every pause when none are given.

        Resuming one server while all are paused does nothing: the pause of all stays until a
        resume of all.
        """
        servers = set(servers)
        if servers:
            self._urls -= servers
        else:
            self._all = False
            self._urls.clear()
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    async def wait_until_open(self, servers: Collection[str]) -> None:
        """Return once none of ``servers`` is paused (at once if none is)."""
        if not self.is_paused(servers):
            return
        started = time.perf_counter()
        self.waiting += 1
        try:
            while self.is_paused(servers):
                await self._changed.wait()
        finally:
            self.waiting -= 1
            if self._on_wait is not None:
                self._on_wait(time.perf_counter() - started)


class PausableBackend:
    """A :class:`~cove_async.backends.ChatBackend` that waits out pauses and routes by group.

    Args:
        inner: the backend that makes the calls (its own retries handle short server pauses).
        servers: the :func:`server_key` of each of ``inner``'s servers.
        board: the daemon's pause board.
    """

    def __init__(self, inner: ChatBackend, *, servers: Collection[str], board: PauseBoard) -> None:
        self._inner = inner
        self.servers = frozenset(servers)
        self._board = board

    async def complete(self, request: ChatRequest, *, route_key: str) -> ChatResponse:
        """One chat completion, after any pause of this backend's servers is lifted.

        Raises:
            BackendError: the call failed for a reason other than a pause (see the module docs).
        """
        board = self._board
        key = group_key(route_key)
        while True:
            await board.wait_until_open(self.servers)
            epoch = board.epoch
            try:
                return await self._inner.complete(request, route_key=key)
            except BackendError as exc:
                if not _pause_like(exc) or (board.epoch == epoch and not board.is_paused(self.servers)):
                    raise
                # A pause came while the call ran: the server refused it for the weight update.


def _pause_like(exc: BackendError) -> bool:
    """Whether a failure looks like a server pausing: 429/503, or a dropped connection."""
    if isinstance(exc, BackendStatusError):
        return exc.status in _PAUSE_STATUSES
    return isinstance(exc, BackendConnectionError)


class PauseGate(anyio.Semaphore):
    """A job's admission limiter: waits while the job's servers are paused, then takes a shared slot.

    Passed to :class:`~cove_async.engine.Engine` as its ``admission``: the engine calls
    :meth:`acquire` before starting each episode and :meth:`release` when it ends. Waiting for
    the resume *before* queueing for the shared slot keeps a paused job from holding slots that
    other jobs could use; the shared semaphore wakes waiters in FIFO order, so jobs take turns.

    Args:
        shared: the daemon's admission semaphore.
        servers: the job's LLM servers (empty for in-process players: never paused).
        board: the daemon's pause board.
    """

    # anyio.Semaphore() builds the running backend's semaphore in __new__; this is an
    # implementation of the interface in its own right.
    def __new__(cls, *_args: object, **_kwargs: object) -> PauseGate:
        return object.__new__(cls)

    def __init__(
        self,
        shared: anyio.Semaphore,
        *,
        servers: Collection[str],
        board: PauseBoard,
    ) -> None:
        super().__init__(shared.max_value or 1)
        self._shared = shared
        self._servers = frozenset(servers)
        self._board = board

    async def acquire(self) -> None:
        """Wait until the job's servers are not paused, then for a shared slot."""
        while True:
            await self._board.wait_until_open(self._servers)
            await self._shared.acquire()
            if not self._board.is_paused(self._servers):
                return
            self._shared.release()  # paused while queueing: give the slot to a job that can use it

    def acquire_nowait(self) -> None:
        """Take a shared slot without waiting.

        Raises:
            anyio.WouldBlock: the job's servers are paused, or no slot is free.
        """
        if self._board.is_paused(self._servers):
            raise anyio.WouldBlock
        self._shared.acquire_nowait()

    def release(self) -> None:
        """Give the shared slot back."""
        self._shared.release()

    @property
    def value(self) -> int:
        """Free shared slots."""
        return self._shared.value

    @property
    def max_value(self) -> int | None:
        """The shared cap."""
        return self._shared.max_value

    def statistics(self) -> SemaphoreStatistics:
        """The shared semaphore's statistics."""
        return self._shared.statistics()
