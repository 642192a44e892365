"""The daemon's HTTP API on aiohttp.

aiohttp serves it because it measured as cheap as uvicorn with httptools on the two things the
daemon does (small JSON answers: 45-50 us of server CPU each for both; NDJSON streaming of
20 KB trajectories: 4-8 us a line for both; ``benchmarks/daemon.py --stacks``), it is already
a dependency (the LLM client and the simulated server), and it runs inside the daemon's own
event loop and task group with no server process of its own.

Routes (every answer but streams and ``/metrics`` is JSON; every error is
``{"error": {"status": N, "message": "..."}}`` with a 4xx status that says what was wrong):

=======  ==============================  ==================================================
POST     /v1/jobs                        submit a job (:class:`JobRequest`) -> 201 JobStatus
GET      /v1/jobs                        every job -> JobList
GET      /v1/jobs/{id}                   one job -> JobStatus
DELETE   /v1/jobs/{id}                   cancel it -> JobStatus
GET      /v1/jobs/{id}/results           NDJSON stream (``after``, ``limit``, ``follow``)
POST     /v1/jobs/{id}/ack               acknowledge a cursor (:class:`AckRequest`)
GET      /v1/backends                    what is paused -> PauseStatus
POST     /v1/backends/pause              pause servers (:class:`PauseRequest`)
POST     /v1/backends/resume             resume servers (optionally a new policy version)
GET      /healthz                        200 while the process serves
GET      /readyz                         200 once unfinished jobs are resumed, 503 before
GET      /metrics                        Prometheus text (see :mod:`._metrics`)
=======  ==============================  ==================================================

With a token configured, every request needs ``Authorization: Bearer <token>`` (401 otherwise).
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import anyio
import msgspec
import structlog
from aiohttp import web
from prometheus_client.exposition import choose_encoder

from cove_async.client._api import AckRequest, ErrorBody, JobList, JobRequest, PauseRequest, StreamEnd
from cove_async.daemon._errors import ApiError
from cove_async.errors import ConfigError

if TYPE_CHECKING:
    from cove_async.daemon._daemon import Daemon
    from cove_async.daemon._jobs import Job

__all__ = ("start_http",)

log = structlog.get_logger()

T = TypeVar("T")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_ENCODER = msgspec.json.Encoder()
_JSON = "application/json"
_NDJSON = "application/x-ndjson"
_STREAMED = "cove_streamed"
_RESULTS_PARAMS = frozenset(("after", "limit", "follow"))
_DISCONNECT_POLL_S = 1.0


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=_ENCODER.encode(body), status=status, content_type=_JSON, headers=headers)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return _json({"error": ErrorBody(status=status, message=message)}, status, headers)


async def _decode(request: web.Request, body_type: type[T], *, empty: T | None = None) -> T:
    """The request body as ``body_type``: 400 if it is not JSON, 422 if it does not fit, 413 if too big."""
    data = await request.read()
    if not data.strip():
        if empty is not None:
            return empty
        raise ApiError(400, f"the request body is empty; send a JSON {body_type.__name__} object")
    try:
        return msgspec.json.decode(data, type=body_type)
    except msgspec.ValidationError as exc:
        raise ApiError(422, f"invalid {body_type.__name__}: {exc}") from None
    except msgspec.DecodeError as exc:
        raise ApiError(400, f"the request body is not valid JSON: {exc}") from None


def _int_param(request: web.Request, name: str, *, minimum: int) -> int | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"query parameter {name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise ApiError(400, f"query parameter {name} must be >= {minimum}, got {value}")
    return value


def _bool_param(request: web.Request, name: str, default: bool) -> bool:
    raw = request.query.get(name)
    if raw is None:
        return default
    if raw.lower() in ("1", "true", "yes"):
        return True
    if raw.lower() in ("0", "false", "no"):
        return False
    raise ApiError(400, f"query parameter {name} must be true or false, got {raw!r}")


class _Api:
    """The route handlers, bound to one daemon."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        token = daemon.config.token
        self._expected = f"Bearer {token}".encode() if token else None

    @web.middleware
    async def guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Authentication, JSON errors for everything refused, and request metrics."""
        started = time.perf_counter()
        try:
            if self._expected is not None:
                given = request.headers.get("Authorization", "").encode()
                if not hmac.compare_digest(given, self._expected):
                    reason = "missing" if not given else "wrong"
                    raise ApiError(
                        401,
                        f"the Authorization header is {reason}: send 'Authorization: Bearer <token>' with the "
                        "daemon's --token",
                        headers={"WWW-Authenticate": "Bearer"},
                    )
            response = await handler(request)
        except ApiError as exc:
            response = _error(exc.status, str(exc), exc.headers)
        except web.HTTPException as exc:  # aiohttp's own: unknown route, wrong method, body too large
            response = _error(exc.status, _http_message(request, exc), _allow(exc))
        if not request.get(_STREAMED):
            route = _route(request)
            self.daemon.metrics.http_request(
                route=route, method=request.method, code=response.status, duration_s=time.perf_counter() - started
            )
        return response

    # -- jobs ----------------------------------------------------------------------------

    async def submit(self, request: web.Request) -> web.Response:
        body = await _decode(request, JobRequest)
        status = await self.daemon.submit(body)
        return _json(status, 201, {"Location": f"/v1/jobs/{status.id}"})

    async def list_jobs(self, request: web.Request) -> web.Response:
        return _json(JobList(jobs=tuple(job.status() for job in self.daemon.jobs.values())))

    async def get_job(self, request: web.Request) -> web.Response:
        return _json(self.daemon.job(request.match_info["id"]).status())

    async def cancel_job(self, request: web.Request) -> web.Response:
        return _json(self.daemon.cancel(request.match_info["id"]))

    async def ack(self, request: web.Request) -> web.Response:
        job_id = request.match_info["id"]
        self.daemon.job(job_id)
        body = await _decode(request, AckRequest)
        return _json(await self.daemon.acknowledge(job_id, body.cursor))

    async def results(self, request: web.Request) -> web.StreamResponse:
        job = self.daemon.job(request.match_info["id"])
        unknown = set(request.query) - _RESULTS_PARAMS
        if unknown:
            raise ApiError(400, f"unknown query parameter(s) {sorted(unknown)}; known: after, limit, follow")
        after = _int_param(request, "after", minimum=0)
        limit = _int_param(request, "limit", minimum=1)
        follow = _bool_param(request, "follow", True)
        if after is None:
            after = job.acked
        if after > job.requested:
            raise ApiError(422, f"after={after} is beyond the job's {job.requested} trajectories")
        response = web.StreamResponse(
            headers={"Content-Type": _NDJSON, "Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        )
        started = time.perf_counter()
        await response.prepare(request)
        metrics = self.daemon.metrics
        request[_STREAMED] = True
        metrics.http_request(
            route=_route(request), method=request.method, code=200, duration_s=time.perf_counter() - started
        )
        if after > 0:
            metrics.stream_resumes.inc()
        self.daemon.streams_open += 1
        try:
            await self._stream(request, response, job, after, limit, follow)
        except ConnectionResetError:
            log.info("stream_client_left", job_id=job.id)
        finally:
            self.daemon.streams_open -= 1
        return response

    async def _stream(
        self, request: web.Request, response: web.StreamResponse, job: Job, after: int, limit: int | None, follow: bool
    ) -> None:
        feed = job.feed
        chunk = self.daemon.config.stream_chunk
        heartbeat = self.daemon.config.heartbeat_s
        counter = self.daemon.metrics.trajectories_streamed
        stop_at = after + limit if limit is not None else None
        cursor = after
        idle_since = time.perf_counter()
        reason: Literal["finished", "limit", "caught_up"]
        while not self.daemon.closing:
            changed = feed.changed()
            available = feed.count if stop_at is None else min(feed.count, stop_at)
            if cursor < available:
                stop = min(available, cursor + chunk)
                await response.write(await feed.read(cursor, stop))
                counter.inc(stop - cursor)
                cursor = stop
                idle_since = time.perf_counter()
                continue
            if stop_at is not None and cursor >= stop_at:
                reason = "limit"
            elif feed.finished and cursor >= feed.count:
                reason = "finished"
            elif not follow:
                reason = "caught_up"
            else:
                with anyio.move_on_after(_DISCONNECT_POLL_S):
                    await changed.wait()
                transport = request.transport
                if transport is None or transport.is_closing():
                    log.info("stream_client_left", job_id=job.id, cursor=cursor)
                    return
                if time.perf_counter() - idle_since >= heartbeat:
                    await response.write(b"\n")
                    idle_since = time.perf_counter()
                continue
            end = StreamEnd(end=True, state=job.state, cursor=cursor, reason=reason)
            await response.write(_ENCODER.encode(end) + b"\n")
            await response.write_eof()
            return

    # -- backends, health, metrics -------------------------------------------------------

    async def backends(self, request: web.Request) -> web.Response:
        return _json(self.daemon.pause_status())

    async def pause(self, request: web.Request) -> web.Response:
        body = await _decode(request, PauseRequest, empty=PauseRequest())
        return _json(await self.daemon.pause(body))

    async def resume(self, request: web.Request) -> web.Response:
        body = await _decode(request, PauseRequest, empty=PauseRequest())
        return _json(await self.daemon.resume(body))

    async def healthz(self, request: web.Request) -> web.Response:
        return _json({"status": "ok"})

    async def readyz(self, request: web.Request) -> web.Response:
        if not self.daemon.ready:
            return _error(503, "resuming jobs from the state directory")
        return _json({"status": "ready", "jobs": len(self.daemon.jobs)})

    async def metrics(self, request: web.Request) -> web.Response:
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        return web.Response(body=encoder(self.daemon.registry), headers={"Content-Type": content_type})


def _route(request: web.Request) -> str:
    info = request.match_info
    route = getattr(info, "route", None)
    resource = getattr(route, "resource", None)
    canonical = getattr(resource, "canonical", None)
    # Unmatched paths share one label value: the label set must stay bounded.
    return canonical if isinstance(canonical, str) and getattr(info, "http_exception", None) is None else "unmatched"


def _http_message(request: web.Request, exc: web.HTTPException) -> str:
    if exc.status == 404:
        return f"no route {request.method} {request.path}; the API lives under /v1 (see the README)"
    if exc.status == 405:
        allowed = ", ".join(sorted(getattr(exc, "allowed_methods", ()) or ()))
        return f"{request.method} is not allowed on {request.path}; allowed: {allowed}"
    if exc.status == 413:
        return f"the request body is larger than this daemon accepts ({exc.text or 'see --max-request-bytes'})"
    return exc.text or exc.reason


def _allow(exc: web.HTTPException) -> dict[str, str] | None:
    allowed = getattr(exc, "allowed_methods", None)
    return {"Allow": ", ".join(sorted(allowed))} if allowed else None


async def start_http(daemon: Daemon) -> tuple[web.AppRunner, str]:
    """Start serving the API for ``daemon``; returns the runner (clean it up) and the base URL.

    Raises:
        ConfigError: the address cannot be bound.
    """
    api = _Api(daemon)
    config = daemon.config
    app = web.Application(client_max_size=config.max_request_bytes, middlewares=[api.guard])
    router = app.router
    router.add_post("/v1/jobs", api.submit)
    router.add_get("/v1/jobs", api.list_jobs)
    router.add_get("/v1/jobs/{id}", api.get_job)
    router.add_delete("/v1/jobs/{id}", api.cancel_job)
    router.add_get("/v1/jobs/{id}/results", api.results)
    router.add_post("/v1/jobs/{id}/ack", api.ack)
    router.add_get("/v1/backends", api.backends)
    router.add_post("/v1/backends/pause", api.pause)
    router.add_post("/v1/backends/resume", api.resume)
    router.add_get("/healthz", api.healthz)
    router.add_get("/readyz", api.readyz)
    router.add_get("/metrics", api.metrics)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, config.host, config.port, backlog=1024)
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise ConfigError(f"cannot serve on {config.host}:{config.port}: {exc.strerror or exc}") from None
    host, port = runner.addresses[0][:2]
    shown = f"[{host}]" if ":" in host else host
    return runner, f"http://{shown}:{port}"
