"""An OpenAI-compatible chat backend: several endpoints, caps, retries, typed errors.

Requests go out through :class:`~cove_async.backends._http1.Http1Pool`, one keep-alive pool per
endpoint. The transport was chosen by measurement (``cove-async bench http``, results in
``benchmarks/RESULTS.md``): httpx 0.28 cost milliseconds of CPU per request and collapsed with
thousands in flight, aiohttp 84-118 us for a bare POST, and the pool, which does only what this
path needs, 40-48 us (see its module for why).
"""

from __future__ import annotations

import email.utils
import random
import time
from types import TracebackType
from typing import Final, Self

import anyio
import msgspec
import structlog
import yarl

from cove_async.backends._config import HealthPolicy, Limits, RetryPolicy, Timeouts
from cove_async.backends._errors import (
    BackendConnectionError,
    BackendError,
    BackendProtocolError,
    BackendStatusError,
    BackendTimeout,
)
from cove_async.backends._http1 import Http1Pool
from cove_async.backends._router import Endpoint, EndpointStatistics, Router
from cove_async.backends._types import ChatRequest, ChatResponse
from cove_async.backends._wire import RequestEncoder, decode_response, snippet

__all__ = ("BackendStatistics", "OpenAIChatBackend", "chat_completions_url")

log = structlog.get_logger()

_CHAT_PATH: Final = "/chat/completions"
# The policy bundles are frozen, so one default instance each is safe to share.
_DEFAULT_RETRY: Final = RetryPolicy()
_DEFAULT_LIMITS: Final = Limits()
_DEFAULT_TIMEOUTS: Final = Timeouts()
_DEFAULT_HEALTH: Final = HealthPolicy()


def chat_completions_url(base_url: str) -> str:
    """The chat-completions URL of a server given as ``http://host:port`` or ``.../v1``.

    Raises:
        ValueError: ``base_url`` is not an absolute http(s) URL.
    """
    url = yarl.URL(base_url.rstrip("/"))
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"endpoint must be an absolute http(s) URL such as http://127.0.0.1:8000/v1, got {base_url!r}")
    if url.path.endswith(_CHAT_PATH):
        return str(url)
    if not url.path.endswith("/v1"):
        url = url / "v1"
    return str(url) + _CHAT_PATH


class BackendStatistics(msgspec.Struct, frozen=True, kw_only=True):
    """Counters of one backend since it opened; the metrics layer turns them into series.

    Attributes:
        name: the backend's name (its role, such as ``agent`` or ``user``).
        model: the model name it asks for.
        calls: :meth:`OpenAIChatBackend.complete` calls started.
        completed: calls that returned a completion.
        errors_by_reason: calls that raised, by :attr:`BackendError.reason`.
        retries_by_reason: attempts retried, by the reason of the failure before them.
        waiting: callers waiting for a free slot now.
        prompt_tokens: prompt tokens of completed calls.
        completion_tokens: completion tokens of completed calls.
        endpoints: per-endpoint counters.
    """

    name: str
    model: str
    calls: int
    completed: int
    errors_by_reason: dict[str, int]
    retries_by_reason: dict[str, int]
    waiting: int
    prompt_tokens: int
    completion_tokens: int
    endpoints: tuple[EndpointStatistics, ...]


class _Counters:
    __slots__ = ("calls", "completed", "completion_tokens", "errors_by_reason", "prompt_tokens", "retries_by_reason")

    def __init__(self) -> None:
        self.calls = 0
        self.completed = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.errors_by_reason: dict[str, int] = {}
        self.retries_by_reason: dict[str, int] = {}


def _map_transport_error(exc: Exception, endpoint: str, timeouts: Timeouts) -> BackendError:
    """The backend error for a transport or socket error (attempts are set by the caller)."""
    if isinstance(exc, TimeoutError):
        return BackendTimeout(
            f"no reply from {endpoint} within Timeouts.request_s={timeouts.request_s} s "
            f"(connect_s={timeouts.connect_s}); raise the timeout or check the server's load",
            endpoint=endpoint,
        )
    return BackendConnectionError(
        f"cannot reach {endpoint}: {type(exc).__name__}: {exc}; check the URL and that the server is up",
        endpoint=endpoint,
    )


def _retry_after_s(value: str | None, value_ms: str | None = None) -> float | None:
    """How long the server asked to wait, in seconds; None when it did not say (or said nonsense).

    ``retry-after-ms`` (milliseconds, sent by OpenAI and the simulated server) wins over
    ``Retry-After`` (delta-seconds or an HTTP date) because it is more precise.
    """
    if value_ms:
        try:
            return max(0.0, float(value_ms) / 1000)
        except ValueError:
            pass
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class OpenAIChatBackend:
    """A :class:`~cove_async.backends.ChatBackend` speaking ``/v1/chat/completions`` over HTTP.

    Open it with ``async with``; one instance serves one role (agent or user simulator) and may
    have several endpoints serving the same model. Each call is routed (sticky per
    ``route_key``, least in flight otherwise, see :class:`Limits` and :class:`HealthPolicy`),
    retried as :class:`RetryPolicy` says and bounded by :class:`Timeouts`.

    Args:
        endpoints: base URLs (``http://host:8000`` or ``http://host:8000/v1``).
        model: the model name sent in every request (a request's ``model`` overrides it).
        name: a label for logs and statistics, such as the role.
        api_key: sent as ``Authorization: Bearer ...`` when given.
        retry: the retry policy.
        limits: caps and keep-alive.
        timeouts: per-stage timeouts.
        health: when endpoints leave and rejoin the rotation.
        rng: the source of backoff jitter (a seeded one makes delays reproducible).
    """

    def __init__(
        self,
        *,
        endpoints: tuple[str, ...],
        model: str,
        name: str = "llm",
        api_key: str | None = None,
        retry: RetryPolicy = _DEFAULT_RETRY,
        limits: Limits = _DEFAULT_LIMITS,
        timeouts: Timeouts = _DEFAULT_TIMEOUTS,
        health: HealthPolicy = _DEFAULT_HEALTH,
        rng: random.Random | None = None,
    ) -> None:
        if isinstance(endpoints, str):
            raise TypeError(f"endpoints must be a tuple of URLs, got the single string {endpoints!r}")
        urls = tuple(chat_completions_url(url) for url in endpoints)
        self.name = name
        self.model = model
        self._router = Router(urls, limits=limits)
        self._encoder = RequestEncoder(model=model)
        self._retry = retry
        self._limits = limits
        self._timeouts = timeouts
        self._health = health
        self._rng = rng or random.Random()
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._pools: dict[str, tuple[Http1Pool, str]] | None = None
        self._counters = _Counters()

    async def __aenter__(self) -> Self:
        if self._pools is not None:
            raise RuntimeError(f"backend {self.name!r} is already open; use one `async with` per instance")
        pools: dict[str, tuple[Http1Pool, str]] = {}
        for endpoint in self._router.endpoints:
            url = yarl.URL(endpoint.url)
            pool = Http1Pool(
                str(url.origin()),
                headers=self._headers,
                keepalive_s=self._limits.keepalive_s,
                connect_timeout_s=self._timeouts.connect_s,
            )
            pools[endpoint.url] = (pool, url.raw_path_qs)
        self._pools = pools
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        pools, self._pools = self._pools, None
        for pool, _path in (pools or {}).values():
            pool.close()

    def forget_route(self, route_key: str) -> None:
        """Drop the endpoint pin of ``route_key`` (call it when an episode ends; optional, the
        pins are bounded by :attr:`Limits.max_routes` anyway)."""
        self._router.forget(route_key)

    def statistics(self) -> BackendStatistics:
        """A snapshot of the backend's counters."""
        counters = self._counters
        return BackendStatistics(
            name=self.name,
            model=self.model,
            calls=counters.calls,
            completed=counters.completed,
            errors_by_reason=dict(counters.errors_by_reason),
            retries_by_reason=dict(counters.retries_by_reason),
            waiting=self._router.waiting,
            prompt_tokens=counters.prompt_tokens,
            completion_tokens=counters.completion_tokens,
            endpoints=tuple(endpoint.statistics() for endpoint in self._router.endpoints),
        )

    async def complete(self, request: ChatRequest, *, route_key: str) -> ChatResponse:
        """Ask for one chat completion.

        Args:
            request: what to ask.
            route_key: the sticky routing key, normally the episode id.

        Returns:
            The completion, with the endpoint that answered, the attempts it took and timings.

        Raises:
            BackendConnectionError: no connection after the allowed attempts.
            BackendTimeout: no reply in time after the allowed attempts, or no free slot within
                ``Timeouts.acquire_s``.
            BackendStatusError: a 4xx other than 429 (at once), or 429/5xx on the last attempt.
            BackendProtocolError: a reply that is not a usable chat completion.
            RuntimeError: the backend is not open.

        Cancelling the call releases its slot and closes its connection.
        """
        pools = self._pools
        if pools is None:
            raise RuntimeError(f"backend {self.name!r} is not open; use `async with OpenAIChatBackend(...)`")
        counters = self._counters
        counters.calls += 1
        started = time.perf_counter()
        body = self._encoder.encode(request)
        avoid: Endpoint | None = None
        attempt = 0
        while True:
            attempt += 1
            endpoint = self._router.try_acquire(route_key, avoid=avoid)
            if endpoint is None:
                endpoint = await self._acquire(route_key, avoid, attempt)
            sent = time.perf_counter()
            retry_after: float | None = None
            try:
                # The translation is inline rather than a context manager: this is the hot path.
                pool, path = pools[endpoint.url]
                try:
                    reply = await pool.post(path, body, timeout_s=self._timeouts.request_s)
                except OSError as exc:  # TimeoutError included
                    raise _map_transport_error(exc, endpoint.url, self._timeouts) from exc
                data = reply.body
                status = reply.status
                if status != 200:
                    headers = reply.headers
                    retry_after = _retry_after_s(headers.get("retry-after"), headers.get("retry-after-ms"))
                if status != 200:
                    raise self._status_error(status, data, endpoint.url)
                received = time.perf_counter()
                response = decode_response(
                    data,
                    endpoint=endpoint.url,
                    attempts=attempt,
                    latency_s=received - sent,
                    total_s=received - started,
                )
            except BackendError as error:
                failure = error
            else:
                endpoint.record_success(received - sent)
                counters.completed += 1
                counters.prompt_tokens += response.usage.prompt_tokens
                counters.completion_tokens += response.usage.completion_tokens
                return response
            finally:
                self._router.release(endpoint)
            reason = failure.reason
            endpoint.record_failure(
                reason,
                health=self._health,
                counts_against_health=reason in ("connection", "timeout", "http_5xx"),
            )
            if not self._retryable(failure) or attempt >= self._retry.max_attempts:
                raise self._final(failure, attempt)
            counters.retries_by_reason[reason] = counters.retries_by_reason.get(reason, 0) + 1
            delay = self._delay(attempt, retry_after)
            log.info(
                "llm_request_retry",
                backend=self.name,
                endpoint=endpoint.url,
                reason=reason,
                attempt=attempt,
                delay_s=round(delay, 3),
                route_key=route_key,
            )
            await anyio.sleep(delay)
            avoid = endpoint

    async def _acquire(self, route_key: str, avoid: Endpoint | None, attempt: int) -> Endpoint:
        limit = self._timeouts.acquire_s
        if limit is None:
            return await self._router.acquire(route_key, avoid=avoid)
        with anyio.move_on_after(limit):
            return await self._router.acquire(route_key, avoid=avoid)
        error = BackendTimeout(
            f"no endpoint of backend {self.name!r} had a free slot within Timeouts.acquire_s={limit} s "
            f"(Limits.max_in_flight_per_endpoint={self._limits.max_in_flight_per_endpoint}, "
            f"{len(self._router.endpoints)} endpoints); raise the cap or lower the concurrency",
            attempts=attempt - 1,
        )
        error.reason = "capacity"
        self._count_error(error)
        raise error

    def _status_error(self, status: int, data: bytes, url: str) -> BackendStatusError:
        text = snippet(data)
        if status == 429 or status >= 500:
            hint = "the server is overloaded or failing"
        else:
            hint = "the request was refused and is not retried; check the model name, the tools and the body"
        return BackendStatusError(
            f"HTTP {status} from {url} ({hint}): {text!r}", status=status, snippet=text, endpoint=url
        )

    def _retryable(self, error: BackendError) -> bool:
        if isinstance(error, BackendStatusError):
            return error.status == 429 or error.status >= 500
        if isinstance(error, BackendProtocolError):
            return self._retry.retry_protocol_errors
        return isinstance(error, BackendConnectionError | BackendTimeout)

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        policy = self._retry
        if retry_after is not None:
            return min(retry_after, policy.retry_after_max_s)
        ceiling = min(policy.backoff_max_s, policy.backoff_base_s * 2 ** (attempt - 1))
        return self._rng.uniform(0.0, ceiling)

    def _final(self, error: BackendError, attempts: int) -> BackendError:
        error.attempts = attempts
        if attempts > 1:
            error.args = (
                f"{error.args[0]}; gave up after {attempts} attempts (RetryPolicy.max_attempts={self._retry.max_attempts})",
            )
        self._count_error(error)
        return error

    def _count_error(self, error: BackendError) -> None:
        reasons = self._counters.errors_by_reason
        reasons[error.reason] = reasons.get(error.reason, 0) + 1
