"""Test helpers: a real daemon on an ephemeral port, a TCP proxy that can cut connections, waits."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.abc

from cove_async.daemon import Daemon, DaemonConfig

TOKEN = "test-token-0123456789"


@asynccontextmanager
async def running_daemon(state_dir: Path, **config: Any) -> AsyncIterator[Daemon]:
    """A daemon serving on 127.0.0.1 with a free port for the block; stopped hard at the end."""
    settings: dict[str, Any] = {"port": 0, "scrape_interval_s": 0.0}
    settings.update(config)
    daemon = Daemon(DaemonConfig(state_dir=state_dir, **settings))
    async with anyio.create_task_group() as tg:
        await tg.start(daemon.run)
        try:
            yield daemon
        finally:
            tg.cancel_scope.cancel()


async def wait_for(predicate: Callable[[], bool], *, timeout_s: float = 20.0) -> None:
    """Return once ``predicate()`` holds, checking at every scheduler turn (fails after ``timeout_s``).

    For state with no event to wait on (a daemon counter): each check yields to the loop, so
    the test advances exactly as fast as the daemon does, whatever the machine's speed.
    """
    with anyio.fail_after(timeout_s):
        while not predicate():  # noqa: ASYNC110 - daemon counters have no event to wait on
            await anyio.sleep(0.005)


class TcpProxy:
    """Forwards 127.0.0.1:<port> to an upstream port; :meth:`sever` cuts every open connection.

    Lets a test break a client's stream the way a network would, and point the client at a
    restarted daemon (new port) without the client knowing.
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self.connections = 0
        self._scopes: set[anyio.CancelScope] = set()

    async def serve(self, *, task_status: anyio.abc.TaskStatus[int] = anyio.TASK_STATUS_IGNORED) -> None:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
        async with listener:
            self.port = listener.extra(anyio.abc.SocketAttribute.local_port)
            task_status.started(self.port)
            await listener.serve(self._handle)

    def sever(self) -> None:
        for scope in list(self._scopes):
            scope.cancel()

    async def _handle(self, client: anyio.abc.SocketStream) -> None:
        self.connections += 1
        with anyio.CancelScope() as scope:
            self._scopes.add(scope)
            try:
                async with client:
                    try:
                        upstream = await anyio.connect_tcp("127.0.0.1", self.upstream_port)
                    except OSError:
                        return
                    async with upstream, anyio.create_task_group() as tg:
                        tg.start_soon(_pipe, client, upstream, tg.cancel_scope)
                        tg.start_soon(_pipe, upstream, client, tg.cancel_scope)
            finally:
                self._scopes.discard(scope)


async def _pipe(source: anyio.abc.SocketStream, sink: anyio.abc.SocketStream, scope: anyio.CancelScope) -> None:
    try:
        async for chunk in source:
            await sink.send(chunk)
    except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
        pass
    scope.cancel()
