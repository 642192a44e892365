"""The lean HTTP/1.1 transport against real sockets that answer exactly as a test scripts them."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable

import anyio
import pytest
import trustme

from cove_async.backends._http1 import Http1Pool, TransportError

pytestmark = pytest.mark.anyio

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
    )
    return head, await reader.readexactly(length)


class Server:
    """A TCP server whose connections are handed to ``handler``; counts connections."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.heads: list[bytes] = []
        self.url = ""

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.handler(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def _started(handler: Handler) -> AsyncIterator[Server]:
    server = Server(handler)
    listener = await asyncio.start_server(server._serve, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    server.url = f"http://127.0.0.1:{port}"
    async with listener:
        yield server


async def _never_answers(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _read_request(reader)
    await reader.read()


def _replying(*replies: bytes, record: list[bytes] | None = None) -> Handler:
    """Answer the requests on each connection with ``replies`` in turn, then keep it open."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for reply in replies:
            head, body = await _read_request(reader)
            if record is not None:
                record.append(head + body)
            writer.write(reply)
            await writer.drain()
        await reader.read()  # until the client closes

    return handle


OK = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}'


async def test_content_length_replies_reuse_one_connection() -> None:
    seen: list[bytes] = []
    async for server in _started(_replying(OK, OK, OK, record=seen)):
        pool = Http1Pool(server.url, headers={"Authorization": "Bearer t0k"})
        for _ in range(3):
            reply = await pool.post("/v1/chat/completions?x=1", b'{"a":1}')
            assert (reply.status, reply.body, reply.headers["content-type"]) == (
                200,
                b'{"ok":true}',
                "application/json",
            )
        assert server.connections == 1
        first = seen[0]
        assert first.startswith(b"POST /v1/chat/completions?x=1 HTTP/1.1\r\n")
        assert b"\r\nAuthorization: Bearer t0k\r\n" in first and b"\r\nContent-Length: 7\r\n" in first
        assert first.endswith(b'\r\n\r\n{"a":1}')
        pool.close()


async def test_chunked_and_close_delimited_bodies() -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'4;ext=1\r\n{"a"\r\n7\r\n: [1, 2\r\n2\r\n]}\r\n0\r\nX-Trailer: y\r\n\r\n'
    )
    async for server in _started(_replying(chunked, OK)):
        pool = Http1Pool(server.url)
        assert (await pool.post("/", b"{}")).body == b'{"a": [1, 2]}'
        assert (await pool.post("/", b"{}")).body == b'{"ok":true}'  # the chunked reply left the connection clean
        assert server.connections == 1

    async def until_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.0 200 OK\r\n\r\nall of it")
        await writer.drain()

    async for server in _started(until_close):
        pool = Http1Pool(server.url)
        assert (await pool.post("/", b"{}")).body == b"all of it"
        assert (await pool.post("/", b"{}")).body == b"all of it"
        assert server.connections == 2  # a body framed by the close cannot share its connection


async def test_connection_close_is_honoured_and_bytes_may_arrive_split() -> None:
    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        reply = b"HTTP/1.1 429 Too Many\r\nRetry-After: 2\r\nConnection: close\r\nContent-Length: 4\r\n\r\nbusy"
        for i in range(0, len(reply), 5):
            writer.write(reply[i : i + 5])
            await writer.drain()
            await asyncio.sleep(0.001)

    async for server in _started(slow):
        pool = Http1Pool(server.url)
        for _ in range(2):
            reply = await pool.post("/", b"{}")
            assert (reply.status, reply.headers["retry-after"], reply.body) == (429, "2", b"busy")
        assert server.connections == 2


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (b"SMTP ready\r\n\r\n", "not an HTTP/1.x reply"),
        (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "malformed header line"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: many\r\n\r\n", "bad Content-Length"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk size"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 999999\r\n\r\n", "over 1000"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nshort", "closed the connection before replying"),
    ],
)
async def test_unframeable_replies_are_transport_errors(reply: bytes, message: str) -> None:
    async def answer_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(reply)
        await writer.drain()

    async for server in _started(answer_then_close):
        pool = Http1Pool(server.url, max_body=1000)
        with pytest.raises(TransportError, match=message):
            await pool.post("/", b"{}")
        assert pool.connections == 0


async def test_a_kept_connection_closed_by_the_server_is_retried_once_on_a_new_one() -> None:
    async def answer_first_on_first_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        first_connection = server.connections == 1
        await _read_request(reader)
        if first_connection:
            writer.write(OK)
            await writer.drain()
            await _read_request(reader)  # the next request arrives on the kept connection...
        writer.transport.abort()  # ...and is dropped unanswered (the idle-timeout race); later ones too

    async for server in _started(answer_first_on_first_connection):
        pool = Http1Pool(server.url)
        await pool.post("/", b"{}")
        with pytest.raises(TransportError, match="closed the connection"):
            await pool.post("/", b"{}")
        assert server.connections == 2  # one fresh attempt, not more

    async def drop_second_on_first_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if server.connections > 1:
            await _replying(OK)(reader, writer)
            return
        await _read_request(reader)
        writer.write(OK)
        await writer.drain()
        await _read_request(reader)
        writer.transport.abort()

    async for server in _started(drop_second_on_first_connection):
        pool = Http1Pool(server.url)
        await pool.post("/", b"{}")
        assert (await pool.post("/", b"{}")).status == 200  # sent again on a fresh connection
        assert server.connections == 2


async def test_a_cancelled_request_closes_its_connection() -> None:
    async for server in _started(_never_answers):
        pool = Http1Pool(server.url)
        with anyio.move_on_after(0.05):
            await pool.post("/", b"{}")
        assert pool.connections == 0  # its reply could still come: it must never be reused


async def test_idle_connections_past_their_keepalive_are_not_reused() -> None:
    async for server in _started(_replying(OK, OK)):
        pool = Http1Pool(server.url, keepalive_s=0.05)
        await pool.post("/", b"{}")
        await anyio.sleep(0.1)
        await pool.post("/", b"{}")
        assert server.connections == 2
        assert pool.connections == 1


async def test_refused_connections_and_bad_urls() -> None:
    with pytest.raises(ValueError, match="not an http"):
        Http1Pool("ftp://example.com")
    with pytest.raises(ValueError, match="cannot go on the wire"):
        Http1Pool("http://127.0.0.1:9", headers={"Authorization": "Bearer x\r\nX-Injected: 1"})
    pool = Http1Pool("http://127.0.0.1:9")  # discard port: nothing listens
    with pytest.raises(ConnectionRefusedError):
        await pool.post("/", b"{}")


async def test_a_reply_past_its_deadline_is_a_timeout_and_its_connection_is_dropped() -> None:
    async for server in _started(_never_answers):
        pool = Http1Pool(server.url)
        started = anyio.current_time()
        with pytest.raises(TimeoutError):
            await pool.post("/", b"{}", timeout_s=0.05)
        assert 0.04 < anyio.current_time() - started < 1.0
        assert pool.connections == 0


async def test_https_with_a_verified_certificate() -> None:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    listener = await asyncio.start_server(Server(_replying(OK, OK))._serve, "127.0.0.1", 0, ssl=server_context)
    port = listener.sockets[0].getsockname()[1]
    async with listener:
        pool = Http1Pool(f"https://127.0.0.1:{port}", ssl_context=client_context)
        assert (await pool.post("/", b"{}")).body == b'{"ok":true}'
        assert (await pool.post("/", b"{}")).body == b'{"ok":true}'
        assert pool.connections == 1
        pool.close()
        untrusting = Http1Pool(f"https://127.0.0.1:{port}")  # the system's trust store knows no such CA
        with pytest.raises(ssl.SSLCertVerificationError):
            await untrusting.post("/", b"{}")
