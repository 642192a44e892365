"""Which endpoint serves a request: sticky per route key, least in flight otherwise, capped.

An episode's requests go to the same endpoint while it is healthy and has a free slot, so the
server's prefix cache holds the conversation. When it is full, the request goes to the healthy
endpoint with the fewest requests in flight (the episode stays pinned to its endpoint); when it
is unhealthy, the episode is re-pinned. When no endpoint has a free slot, callers wait in FIFO
order for one. Everything runs on the event loop thread, so plain counters are enough.
"""

from __future__ import annotations

import bisect
import collections
import time
from typing import Final

import anyio
import msgspec

from cove_async.backends._config import HealthPolicy, Limits

__all__ = ("LATENCY_BUCKETS_S", "Endpoint", "EndpointStatistics", "Router")

LATENCY_BUCKETS_S: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
"""Upper bounds of the latency histogram buckets (a last, unbounded bucket follows)."""


class EndpointStatistics(msgspec.Struct, frozen=True, kw_only=True):
    """Counters of one endpoint since the backend opened.

    Attributes:
        url: the endpoint's chat-completions URL.
        in_flight: requests being served now.
        max_in_flight: the cap.
        healthy: whether it gets new requests (see :class:`HealthPolicy`).
        requests: attempts sent to it.
        successes: attempts that returned a usable completion.
        failures_by_reason: failed attempts by :attr:`BackendError.reason`.
        latency_sum_s: total wall time of successful attempts.
        latency_buckets: cumulative counts of successful attempts by latency, one per bound in
            :data:`LATENCY_BUCKETS_S` plus a last one for all (Prometheus histogram layout).
    """

    url: str
    in_flight: int
    max_in_flight: int
    healthy: bool
    requests: int
    successes: int
    failures_by_reason: dict[str, int]
    latency_sum_s: float
    latency_buckets: tuple[int, ...]


class Endpoint:
    """One server's state as the router sees it; mutated only by the router and its backend."""

    __slots__ = (
        "_bucket_counts",
        "_consecutive_failures",
        "_latency_sum",
        "_unhealthy_until",
        "cap",
        "failures_by_reason",
        "in_flight",
        "requests",
        "successes",
        "url",
    )

    def __init__(self, url: str, *, cap: int) -> None:
        self.url = url
        self.cap = cap
        self.in_flight = 0
        self.requests = 0
        self.successes = 0
        self.failures_by_reason: dict[str, int] = {}
        self._latency_sum = 0.0
        self._bucket_counts = [0] * (len(LATENCY_BUCKETS_S) + 1)
        self._consecutive_failures = 0
        self._unhealthy_until = 0.0

    def healthy(self, now: float) -> bool:
        """Whether it takes new requests at monotonic time ``now``."""
        return now >= self._unhealthy_until

    def record_success(self, latency_s: float) -> None:
        """Count a usable completion that took ``latency_s``."""
        self.successes += 1
        self._latency_sum += latency_s
        self._bucket_counts[bisect.bisect_left(LATENCY_BUCKETS_S, latency_s)] += 1
        self._consecutive_failures = 0
        self._unhealthy_until = 0.0

    def record_failure(self, reason: str, *, health: HealthPolicy, counts_against_health: bool) -> None:
        """Count a failed attempt; enough in a row take the endpoint out of rotation for a while."""
        self.failures_by_reason[reason] = self.failures_by_reason.get(reason, 0) + 1
        if counts_against_health:
            self._consecutive_failures += 1
            if self._consecutive_failures >= health.failures_to_unhealthy:
                self._unhealthy_until = time.monotonic() + health.cooldown_s
        else:
            # A server that answers (429, a 4xx, a malformed body) is alive.
            self._consecutive_failures = 0

    def statistics(self) -> EndpointStatistics:
        """A snapshot of the counters."""
        cumulative: list[int] = []
        total = 0
        for count in self._bucket_counts:
            total += count
            cumulative.append(total)
        return EndpointStatistics(
            url=self.url,
            in_flight=self.in_flight,
            max_in_flight=self.cap,
            healthy=self.healthy(time.monotonic()),
            requests=self.requests,
            successes=self.successes,
            failures_by_reason=dict(self.failures_by_reason),
            latency_sum_s=self._latency_sum,
            latency_buckets=tuple(cumulative),
        )


class Router:
    """Hands out endpoint slots: :meth:`acquire` one, :meth:`release` it when the attempt ends."""

    def __init__(self, urls: tuple[str, ...], *, limits: Limits) -> None:
        if not urls:
            raise ValueError("a backend needs at least one endpoint URL, got none")
        self.endpoints = tuple(Endpoint(url, cap=limits.max_in_flight_per_endpoint) for url in urls)
        self._max_routes = limits.max_routes
        self._sticky: dict[str, Endpoint] = {}
        self._waiters: collections.deque[anyio.Event] = collections.deque()
        self._next = 0

    @property
    def waiting(self) -> int:
        """Callers waiting for a free slot."""
        return len(self._waiters)

    def forget(self, route_key: str) -> None:
        """Drop the pin of ``route_key`` (an episode that ended)."""
        self._sticky.pop(route_key, None)

    def _least_loaded(self, avoid: Endpoint | None, now: float) -> Endpoint | None:
        """The endpoint with a free slot and the fewest in flight, or None to wait.

        Healthy endpoints first, ``avoid`` only when no other healthy one has room. While some
        endpoint is healthy but full, callers wait for it rather than go to an unhealthy one,
        where requests are likely to fail; when all are unhealthy, all are used.
        """
        endpoints = self.endpoints
        count = len(endpoints)
        # Start the scan at a rotating offset so ties spread over the endpoints.
        start = self._next
        self._next = start + 1 if start + 1 < count else 0
        healthy: Endpoint | None = None
        unhealthy: Endpoint | None = None
        any_healthy = False
        for step in range(count):
            endpoint = endpoints[(start + step) % count]
            is_healthy = endpoint.healthy(now)
            any_healthy = any_healthy or is_healthy
            if endpoint.in_flight >= endpoint.cap or endpoint is avoid:
                continue
            if is_healthy:
                if healthy is None or endpoint.in_flight < healthy.in_flight:
                    healthy = endpoint
            elif unhealthy is None or endpoint.in_flight < unhealthy.in_flight:
                unhealthy = endpoint
        if healthy is not None:
            return healthy
        avoid_has_room = avoid is not None and avoid.in_flight < avoid.cap
        if any_healthy:
            return avoid if avoid_has_room and avoid is not None and avoid.healthy(now) else None
        if unhealthy is not None:
            return unhealthy
        return avoid if avoid_has_room else None

    def _pick(self, route_key: str, avoid: Endpoint | None) -> Endpoint | None:
        now = time.monotonic()
        sticky = self._sticky.pop(route_key, None)
        if sticky is not None:
            self._sticky[route_key] = sticky  # most recently used goes last
            if sticky is not avoid and sticky.in_flight < sticky.cap and sticky.healthy(now):
                return sticky
        chosen = self._least_loaded(avoid, now)
        if chosen is not None and (sticky is None or not sticky.healthy(now)):
            self._sticky[route_key] = chosen
            if len(self._sticky) > self._max_routes:
                self._sticky.pop(next(iter(self._sticky)))
        return chosen

    def try_acquire(self, route_key: str, *, avoid: Endpoint | None = None) -> Endpoint | None:
        """A slot now, as :meth:`acquire` would choose it, or None when the caller must wait.

        The common case costs no coroutine; callers await :meth:`acquire` only on None.
        """
        if self._waiters:
            return None
        endpoint = self._pick(route_key, avoid)
        if endpoint is not None:
            endpoint.in_flight += 1
            endpoint.requests += 1
        return endpoint

    async def acquire(self, route_key: str, *, avoid: Endpoint | None = None) -> Endpoint:
        """A slot on the best endpoint for ``route_key``, waiting until one is free.

        Args:
            route_key: the sticky key (an episode id).
            avoid: an endpoint not to use if any other has room (the one a retry comes from).

        Returns:
            The endpoint, its ``in_flight`` already counting this request.
        """
        endpoint = self._pick(route_key, avoid) if not self._waiters else None
        queued_before = False
        while endpoint is None:
            event = anyio.Event()
            if queued_before:
                # Woken, but another caller took the slot first: keep this caller's place.
                self._waiters.appendleft(event)
            else:
                self._waiters.append(event)
            queued_before = True
            try:
                await event.wait()
            except BaseException:
                try:
                    self._waiters.remove(event)
                except ValueError:
                    # Woken, then cancelled before using the wake-up: pass it on.
                    self._wake_one()
                raise
            endpoint = self._pick(route_key, avoid)
        endpoint.in_flight += 1
        endpoint.requests += 1
        if self._waiters and any(e.in_flight < e.cap for e in self.endpoints):
            self._wake_one()
        return endpoint

    def release(self, endpoint: Endpoint) -> None:
        """Give back a slot taken by :meth:`acquire`."""
        endpoint.in_flight -= 1
        if self._waiters:
            self._wake_one()

    def _wake_one(self) -> None:
        if self._waiters:
            self._waiters.popleft().set()
