"""Blocking and async clients for the rollout daemon, over httpx.

httpx fits here: a control API and a few long-lived streams, far from the thousands of
concurrent requests where its connection pool degrades (measurements.md section 3).

Streams resume by themselves. :meth:`DaemonClient.stream` remembers the cursor of the last
trajectory it handed to the caller; when the connection breaks (a network error, a read that
times out because even the daemon's heartbeat stopped, a daemon restart, a stream that ends
without its closing ``{"end": true}`` line) it reconnects with ``after=<that cursor>``, backing
off between attempts, so the caller sees every trajectory exactly once, in order.
"""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any, Self, TypeVar

import anyio
import httpx
import msgspec

from cove_async.client._api import (
    AckRequest,
    JobList,
    JobRequest,
    JobStatus,
    PauseRequest,
    PauseStatus,
    StreamedTrajectory,
    StreamEnd,
)
from cove_async.errors import CoveError

__all__ = ("AsyncDaemonClient", "DaemonClient", "DaemonError", "groups")

T = TypeVar("T")

_TRAJECTORY = msgspec.json.Decoder(StreamedTrajectory)
_END = msgspec.json.Decoder(StreamEnd)
_ERROR = msgspec.json.Decoder(dict[str, Any])
_ENCODER = msgspec.json.Encoder()


class DaemonError(CoveError):
    """The daemon refused a request, or could not be reached after the allowed reconnects.

    Attributes:
        status: the HTTP status (None when the daemon could not be reached).
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def _check(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    try:
        message = _ERROR.decode(response.content)["error"]["message"]
    except (msgspec.DecodeError, KeyError, TypeError):
        message = response.text[:500]
    raise DaemonError(
        f"{response.request.method} {response.request.url.path}: HTTP {response.status_code}: {message}",
        status=response.status_code,
    )


def _decode(response: httpx.Response, body_type: type[T]) -> T:
    _check(response)
    return msgspec.json.decode(response.content, type=body_type)


def _headers(token: str | None) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def _results_params(after: int | None, limit: int | None, follow: bool) -> dict[str, str]:
    params = {"follow": "true" if follow else "false"}
    if after is not None:
        params["after"] = str(after)
    if limit is not None:
        params["limit"] = str(limit)
    return params


class _Lines:
    """Splits a byte stream into NDJSON lines and decodes them (trajectories, or the end line)."""

    def __init__(self) -> None:
        self._rest = b""

    def feed(self, chunk: bytes) -> Iterator[StreamedTrajectory | StreamEnd]:
        data = self._rest + chunk if self._rest else chunk
        start = 0
        while (newline := data.find(b"\n", start)) >= 0:
            line = data[start:newline]
            start = newline + 1
            if not line:
                continue  # a heartbeat
            yield _END.decode(line) if line.startswith(b'{"end"') else _TRAJECTORY.decode(line)
        self._rest = data[start:]


class _Resume:
    """The reconnect policy of one stream: how often, how long to wait, when to give up."""

    def __init__(self, job_id: str, max_reconnects: int, backoff_s: float) -> None:
        self.job_id = job_id
        self.max_reconnects = max_reconnects
        self.backoff_s = backoff_s
        self.failures = 0

    def progressed(self) -> None:
        self.failures = 0

    def next_delay(self, cursor: int, reason: str) -> float:
        """Seconds to wait before reconnecting; raises when the reconnects are used up."""
        self.failures += 1
        if self.failures > self.max_reconnects:
            raise DaemonError(
                f"results stream of {self.job_id} broke {self.failures} times in a row without progress "
                f"(last: {reason}); resume later with after={cursor}"
            )
        return random.uniform(0, min(10.0, self.backoff_s * 2 ** (self.failures - 1)))


def _retryable(response: httpx.Response) -> bool:
    return response.status_code >= 500 or response.status_code == 429


class DaemonClient:
    """A blocking client for the rollout daemon.

    Args:
        base_url: the daemon's URL (``http://127.0.0.1:8321``).
        token: the daemon's bearer token, if it has one.
        timeout_s: connect and request timeout for API calls.
        stream_read_timeout_s: a results stream that sends nothing (not even a heartbeat) for
            this long is treated as broken and reconnected.
        max_reconnects: reconnects in a row without a new trajectory before a stream gives up.
        backoff_s: the first reconnect's backoff ceiling (doubling, jittered, capped at 10 s).
        transport: an httpx transport (tests).
    """

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8321",
        *,
        token: str | None = None,
        timeout_s: float = 30.0,
        stream_read_timeout_s: float = 60.0,
        max_reconnects: int = 10,
        backoff_s: float = 0.25,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = httpx.Client(base_url=base_url, headers=_headers(token), timeout=timeout_s, transport=transport)
        self._stream_timeout = httpx.Timeout(timeout_s, read=stream_read_timeout_s)
        self.max_reconnects = max_reconnects
        self.backoff_s = backoff_s

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    def submit(self, request: JobRequest) -> JobStatus:
        """Submit a job; returns its status (with its ``id``).

        Raises:
            DaemonError: the daemon refused it (the message says why).
        """
        return _decode(self._http.post("/v1/jobs", content=_ENCODER.encode(request)), JobStatus)

    def job(self, job_id: str) -> JobStatus:
        """A job's status."""
        return _decode(self._http.get(f"/v1/jobs/{job_id}"), JobStatus)

    def jobs(self) -> list[JobStatus]:
        """Every job the daemon knows, oldest first."""
        return list(_decode(self._http.get("/v1/jobs"), JobList).jobs)

    def cancel(self, job_id: str) -> JobStatus:
        """Cancel a job (episodes in flight are dropped)."""
        return _decode(self._http.delete(f"/v1/jobs/{job_id}"), JobStatus)

    def ack(self, job_id: str, cursor: int) -> JobStatus:
        """Acknowledge every trajectory up to ``cursor``: a stream opened without ``after`` starts there."""
        body = _ENCODER.encode(AckRequest(cursor=cursor))
        return _decode(self._http.post(f"/v1/jobs/{job_id}/ack", content=body), JobStatus)

    def pause(self, urls: Iterable[str] = ()) -> PauseStatus:
        """Pause servers (all when none are named) for a weight update."""
        body = _ENCODER.encode(PauseRequest(urls=tuple(urls)))
        return _decode(self._http.post("/v1/backends/pause", content=body), PauseStatus)

    def resume(self, urls: Iterable[str] = (), *, policy_version: str | None = None) -> PauseStatus:
        """Resume servers (all when none are named), tagging later agent turns with ``policy_version``."""
        body = _ENCODER.encode(PauseRequest(urls=tuple(urls), policy_version=policy_version))
        return _decode(self._http.post("/v1/backends/resume", content=body), PauseStatus)

    def stream(
        self, job_id: str, *, after: int | None = None, limit: int | None = None, follow: bool = True
    ) -> Iterator[StreamedTrajectory]:
        """The job's trajectories as they finish, each exactly once, resuming by itself after breaks.

        Args:
            job_id: the job.
            after: start after this cursor (None: after the daemon's acknowledged cursor).
            limit: stop after this many trajectories.
            follow: wait for trajectories still to come (False: stop when caught up).

        Raises:
            DaemonError: the daemon refused the stream (4xx), or it broke ``max_reconnects``
                times in a row without a new trajectory.
        """
        resume = _Resume(job_id, self.max_reconnects, self.backoff_s)
        cursor = after
        remaining = limit
        while True:
            reason = "the stream ended without its end line"
            try:
                with self._http.stream(
                    "GET",
                    f"/v1/jobs/{job_id}/results",
                    params=_results_params(cursor, remaining, follow),
                    timeout=self._stream_timeout,
                ) as response:
                    if _retryable(response):
                        response.read()
                        reason = f"HTTP {response.status_code}"
                    else:
                        if response.status_code >= 400:
                            response.read()
                            _check(response)
                        lines = _Lines()
                        for chunk in response.iter_bytes():
                            for item in lines.feed(chunk):
                                if isinstance(item, StreamEnd):
                                    return
                                cursor = item.cursor
                                resume.progressed()
                                if remaining is not None:
                                    remaining -= 1
                                yield item
            except httpx.TransportError as exc:
                reason = f"{type(exc).__name__}: {exc}"
            time.sleep(resume.next_delay(cursor or 0, reason))


class AsyncDaemonClient:
    """The async twin of :class:`DaemonClient` (same arguments, same methods, awaited)."""

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8321",
        *,
        token: str | None = None,
        timeout_s: float = 30.0,
        stream_read_timeout_s: float = 60.0,
        max_reconnects: int = 10,
        backoff_s: float = 0.25,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url, headers=_headers(token), timeout=timeout_s, transport=transport
        )
        self._stream_timeout = httpx.Timeout(timeout_s, read=stream_read_timeout_s)
        self.max_reconnects = max_reconnects
        self.backoff_s = backoff_s

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connections."""
        await self._http.aclose()

    async def submit(self, request: JobRequest) -> JobStatus:
        """Submit a job; returns its status (with its ``id``)."""
        return _decode(await self._http.post("/v1/jobs", content=_ENCODER.encode(request)), JobStatus)

    async def job(self, job_id: str) -> JobStatus:
        """A job's status."""
        return _decode(await self._http.get(f"/v1/jobs/{job_id}"), JobStatus)

    async def jobs(self) -> list[JobStatus]:
        """Every job the daemon knows, oldest first."""
        return list(_decode(await self._http.get("/v1/jobs"), JobList).jobs)

    async def cancel(self, job_id: str) -> JobStatus:
        """Cancel a job (episodes in flight are dropped)."""
        return _decode(await self._http.delete(f"/v1/jobs/{job_id}"), JobStatus)

    async def ack(self, job_id: str, cursor: int) -> JobStatus:
        """Acknowledge every trajectory up to ``cursor``."""
        body = _ENCODER.encode(AckRequest(cursor=cursor))
        return _decode(await self._http.post(f"/v1/jobs/{job_id}/ack", content=body), JobStatus)

    async def pause(self, urls: Iterable[str] = ()) -> PauseStatus:
        """Pause servers (all when none are named) for a weight update."""
        body = _ENCODER.encode(PauseRequest(urls=tuple(urls)))
        return _decode(await self._http.post("/v1/backends/pause", content=body), PauseStatus)

    async def resume(self, urls: Iterable[str] = (), *, policy_version: str | None = None) -> PauseStatus:
        """Resume servers (all when none are named), tagging later agent turns with ``policy_version``."""
        body = _ENCODER.encode(PauseRequest(urls=tuple(urls), policy_version=policy_version))
        return _decode(await self._http.post("/v1/backends/resume", content=body), PauseStatus)

    async def stream(
        self, job_id: str, *, after: int | None = None, limit: int | None = None, follow: bool = True
    ) -> AsyncIterator[StreamedTrajectory]:
        """As :meth:`DaemonClient.stream`, asynchronously."""
        resume = _Resume(job_id, self.max_reconnects, self.backoff_s)
        cursor = after
        remaining = limit
        while True:
            reason = "the stream ended without its end line"
            try:
                async with self._http.stream(
                    "GET",
                    f"/v1/jobs/{job_id}/results",
                    params=_results_params(cursor, remaining, follow),
                    timeout=self._stream_timeout,
                ) as response:
                    if _retryable(response):
                        await response.aread()
                        reason = f"HTTP {response.status_code}"
                    else:
                        if response.status_code >= 400:
                            await response.aread()
                            _check(response)
                        lines = _Lines()
                        async for chunk in response.aiter_bytes():
                            for item in lines.feed(chunk):
                                if isinstance(item, StreamEnd):
                                    return
                                cursor = item.cursor
                                resume.progressed()
                                if remaining is not None:
                                    remaining -= 1
                                yield item
            except httpx.TransportError as exc:
                reason = f"{type(exc).__name__}: {exc}"
            await anyio.sleep(resume.next_delay(cursor or 0, reason))


def groups(trajectories: Iterable[StreamedTrajectory], size: int) -> Iterator[list[StreamedTrajectory]]:
    """Consecutive trajectories of one task, ``size`` at a time (a job submitted with ``group``).

    A group cut short (a member that could not be graded) is yielded when the next task's
    trajectories start, or at the end.

    Raises:
        ValueError: ``size`` < 1.
    """
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    group: list[StreamedTrajectory] = []
    for trajectory in trajectories:
        if group and trajectory.task_id != group[0].task_id:
            yield group
            group = []
        group.append(trajectory)
        if len(group) == size:
            yield group
            group = []
    if group:
        yield group
