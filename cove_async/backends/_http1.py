"""A lean HTTP/1.1 client for one job: POST a JSON body, read the whole reply, keep the connection.

The engine's hot path is one POST per LLM turn to a handful of servers. A general client spends
most of its CPU on what this path never uses (cookies, redirects, proxies, streaming bodies,
per-request header merging, timer handles per request); measured here with `cove-async bench
http`, a bare POST costs 84-118 us of CPU through aiohttp and 40-48 us through this pool, at 64
to 2,048 in flight. At 5,000 episodes in flight that difference decided whether one core keeps up.

What it does: keep-alive connections per server, reused newest first and dropped after
``keepalive_s`` idle; replies framed by ``Content-Length``, ``Transfer-Encoding: chunked``, or
the end of the connection; ``Connection: close`` honoured; TLS for ``https`` URLs; a request
whose reused connection turns out to be closed by the server before any reply byte is sent
again once on a fresh one (the server's idle timeout raced the send). What it refuses: replies past
``max_body`` bytes and malformed framing, as :class:`TransportError`, after which the connection
is closed. A request cut short (by its timeout or by cancellation) closes its connection,
since the reply may still arrive on it.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
import time
import urllib.parse
from collections.abc import Mapping
from typing import cast

import anyio

__all__ = ("Http1Pool", "Reply", "TransportError")

_MAX_HEAD = 64 * 1024


class TransportError(OSError):
    """The connection failed or the server's reply could not be framed."""


class Reply:
    """A status, the headers (names lower-cased) and the whole body."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body


class _Connection(asyncio.Protocol):
    """One TCP connection, parsing at most one reply at a time (no pipelining)."""

    def __init__(self, max_body: int) -> None:
        self._max_body = max_body
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._waiter: asyncio.Future[Reply] | None = None
        self._head: tuple[int, dict[str, str]] | None = None
        self._length = -1  # -1: until the connection closes; -2: chunked
        self.closed = False
        self.keep = True
        self.received_any = False
        self.idle_since = 0.0

    # asyncio callbacks --------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter, self._waiter = self._waiter, None
        if waiter is None or waiter.done():
            return
        if self._head is not None and self._length == -1:  # framed by the close itself
            status, headers = self._head
            waiter.set_result(Reply(status, headers, bytes(self._buffer)))
        else:
            reason = f": {exc}" if exc else ""
            waiter.set_exception(TransportError(f"the server closed the connection before replying{reason}"))

    def data_received(self, data: bytes) -> None:
        if self._waiter is None:  # bytes nobody asked for: the connection is not reusable
            self.abort()
            return
        self.received_any = True
        self._buffer += data
        try:
            reply = self._parse()
        except TransportError as exc:
            waiter, self._waiter = self._waiter, None
            if not waiter.done():
                waiter.set_exception(exc)
            self.abort()
            return
        if reply is not None:
            waiter, self._waiter = self._waiter, None
            if not waiter.done():
                waiter.set_result(reply)

    # requests ---------------------------------------------------------------------------------

    def send(self, data: bytes, waiter: asyncio.Future[Reply]) -> None:
        assert self._transport is not None
        self._waiter = waiter
        self.received_any = False
        self._transport.write(data)

    def abort(self) -> None:
        self.closed = True
        if self._transport is not None:
            self._transport.abort()

    # parsing ----------------------------------------------------------------------------------

    def _parse(self) -> Reply | None:
        buffer = self._buffer
        if self._head is None:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > _MAX_HEAD:
                    raise TransportError(f"reply head longer than {_MAX_HEAD} bytes")
                return None
            self._head = self._read_head(bytes(buffer[:end]))
            del buffer[: end + 4]
        if self._length >= 0:
            if len(buffer) < self._length:
                return None
            body = bytes(buffer[: self._length])
            del buffer[: self._length]
        elif self._length == -2:
            chunked = self._dechunk()
            if chunked is None:
                return None
            body = chunked
        else:
            if len(buffer) > self._max_body:
                raise TransportError(f"reply body over {self._max_body} bytes")
            return None  # until the server closes
        status, headers = self._head
        self._head = None
        return Reply(status, headers, body)

    def _read_head(self, head: bytes) -> tuple[int, dict[str, str]]:
        lines = head.split(b"\r\n")
        status_line = lines[0]
        if not status_line.startswith(b"HTTP/1.") or len(status_line) < 12 or not status_line[9:12].isdigit():
            raise TransportError(f"not an HTTP/1.x reply: {status_line[:80]!r}")
        status = int(status_line[9:12])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if not sep:
                raise TransportError(f"malformed header line: {line[:80]!r}")
            headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
        connection = headers.get("connection", "").lower()
        self.keep = connection != "close" and status_line.startswith(b"HTTP/1.1")
        if "chunked" in headers.get("transfer-encoding", "").lower():
            self._length = -2
        elif "content-length" in headers:
            try:
                self._length = int(headers["content-length"])
            except ValueError:
                raise TransportError(f"bad Content-Length {headers['content-length']!r}") from None
            if self._length < 0:
                raise TransportError(f"bad Content-Length {self._length}")
        elif status in (204, 304) or 100 <= status < 200:
            self._length = 0
        else:
            self._length = -1
            self.keep = False
        if self._length > self._max_body:
            raise TransportError(f"reply body of {self._length} bytes is over {self._max_body}")
        return status, headers

    def _dechunk(self) -> bytes | None:
        """The body, once every chunk and the last one are in; None while some are missing."""
        buffer = self._buffer
        parts: list[bytes] = []
        position = 0
        total = 0
        while True:
            end = buffer.find(b"\r\n", position)
            if end < 0:
                return None
            size_text = bytes(buffer[position:end]).split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise TransportError(f"bad chunk size {size_text[:20]!r}") from None
            start = end + 2
            if size == 0:
                trailer_end = buffer.find(b"\r\n\r\n", end)
                if buffer[start : start + 2] == b"\r\n":
                    trailer_end = end
                if trailer_end < 0:
                    return None
                del buffer[: trailer_end + 4]
                return b"".join(parts)
            total += size
            if total > self._max_body:
                raise TransportError(f"reply body over {self._max_body} bytes")
            if len(buffer) < start + size + 2:
                return None
            parts.append(bytes(buffer[start : start + size]))
            position = start + size + 2


def _expire(waiter: asyncio.Future[Reply]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError("no whole reply before the deadline"))


class Http1Pool:
    """Keep-alive connections to one server, for POSTs of whole bodies.

    Args:
        url: the server (``http://host:port`` or ``https://...``); requests name their path.
        headers: sent with every request (``Authorization``...); Host, Content-Type and
            Content-Length are added.
        keepalive_s: an idle connection older than this is closed instead of reused.
        connect_timeout_s: how long opening a connection may take (``TimeoutError`` past it).
        max_body: the largest reply body accepted.
        ssl_context: for ``https`` (default: the system's verified context).

    Raises:
        ValueError: not an http(s) URL, or a header that cannot go on the wire (CR, LF, NUL).
    """

    def __init__(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        keepalive_s: float = 4.0,
        connect_timeout_s: float = 10.0,
        max_body: int = 64 * 1024 * 1024,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self._host = parts.hostname
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._ssl: ssl.SSLContext | None = None
        if parts.scheme == "https":
            self._ssl = ssl_context or ssl.create_default_context()
        authority = parts.netloc.rpartition("@")[2]
        self._connect_timeout_s = connect_timeout_s
        for name, value in (headers or {}).items():
            if any(c in name + value for c in "\r\n\0") or not name or ":" in name:
                raise ValueError(f"header {name!r} has a name or value that cannot go on the wire")
        extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        self._head_suffix = f"Host: {authority}\r\nContent-Type: application/json\r\n{extra}Content-Length: ".encode()
        self._keepalive_s = keepalive_s
        self._max_body = max_body
        self._idle: collections.deque[_Connection] = collections.deque()
        self._open: set[_Connection] = set()

    async def post(self, path: str, body: bytes, *, timeout_s: float | None = None) -> Reply:
        """Send ``body`` to ``path`` and return the reply.

        Args:
            path: the path and query (``/v1/chat/completions``).
            body: the JSON body.
            timeout_s: how long the whole exchange may take, connecting included (None: no limit).

        Raises:
            TimeoutError: no whole reply within ``timeout_s``.
            TransportError: the connection broke, or the reply could not be framed (other
                ``OSError`` subclasses from the socket layer, such as a refused connection, come
                through as they are).
        """
        request = b"".join(
            (b"POST ", path.encode(), b" HTTP/1.1\r\n", self._head_suffix, b"%d\r\n\r\n" % len(body), body)
        )
        loop = asyncio.get_running_loop()
        deadline = None if timeout_s is None else loop.time() + timeout_s
        connection, reused = self._take()
        if connection is None:
            connection = await self._connect(deadline)
        try:
            return await self._exchange(connection, request, deadline)
        except TransportError:
            if not (reused and not connection.received_any):
                raise
        # The server closed a kept connection as we reused it (its idle timeout racing our send)
        # without a byte of reply: it had not taken the request, so it goes again, once.
        connection = await self._connect(deadline)
        return await self._exchange(connection, request, deadline)

    async def _exchange(self, connection: _Connection, request: bytes, deadline: float | None) -> Reply:
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Reply] = loop.create_future()
        connection.send(request, waiter)
        # A timer on our own future, not a cancel scope: this runs once per LLM request, and a
        # scope (with its task bookkeeping) cost more than the rest of the exchange's Python.
        timer = None if deadline is None else loop.call_at(deadline, _expire, waiter)
        try:
            reply = await waiter
        except BaseException:
            # Cancelled, timed out or broken: the reply may still come on this connection.
            self._discard(connection)
            raise
        finally:
            if timer is not None:
                timer.cancel()
        if connection.keep and not connection.closed:
            connection.idle_since = time.monotonic()
            self._idle.append(connection)
        else:
            self._discard(connection)
        return reply

    def _take(self) -> tuple[_Connection | None, bool]:
        now = time.monotonic()
        idle = self._idle
        # The oldest wait at the left: drop those past their keep-alive or closed by the server.
        while idle and (idle[0].closed or now - idle[0].idle_since >= self._keepalive_s):
            self._discard(idle.popleft())
        while idle:
            connection = idle.pop()  # the newest: the least likely to be closed by the server
            if not connection.closed:
                return connection, True
            self._discard(connection)
        return None, False

    async def _connect(self, deadline: float | None) -> _Connection:
        loop = asyncio.get_running_loop()
        max_body = self._max_body
        limit = self._connect_timeout_s if deadline is None else min(self._connect_timeout_s, deadline - loop.time())
        with anyio.fail_after(max(0.0, limit)):
            _transport, connection = await loop.create_connection(
                lambda: _Connection(max_body),
                self._host,
                self._port,
                ssl=self._ssl,
                server_hostname=self._host if self._ssl is not None else None,
            )
        self._open.add(connection)
        return connection

    def _discard(self, connection: _Connection) -> None:
        connection.abort()
        self._open.discard(connection)

    @property
    def connections(self) -> int:
        """Connections open now (idle or busy)."""
        return sum(not connection.closed for connection in self._open)

    def close(self) -> None:
        """Close every connection; requests still running fail with :class:`TransportError`."""
        self._idle.clear()
        for connection in list(self._open):
            self._discard(connection)
