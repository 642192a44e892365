"""Policy bundles for a backend: retries, limits, timeouts and endpoint health."""

from __future__ import annotations

import msgspec

__all__ = ("HealthPolicy", "Limits", "RetryPolicy", "Timeouts")


class RetryPolicy(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """When and how long to wait before trying a failed request again.

    Connection errors, timeouts, HTTP 429 and HTTP 5xx are retried; other 4xx never are (the
    request itself is wrong), nor are malformed replies unless ``retry_protocol_errors``.
    Between attempts the caller sleeps a "full jitter" backoff, uniform in
    ``[0, min(backoff_max_s, backoff_base_s * 2**(attempt - 1))]``, or, when the server sent
    ``Retry-After`` (or ``retry-after-ms``), that long (capped at ``retry_after_max_s``).

    Attributes:
        max_attempts: attempts in all, the first included (1 disables retries).
        backoff_base_s: the backoff ceiling after the first failure.
        backoff_max_s: the largest backoff ceiling.
        retry_after_max_s: the longest ``Retry-After`` honoured.
        retry_protocol_errors: also retry replies that are not a usable chat completion.
    """

    max_attempts: int = 4
    backoff_base_s: float = 0.5
    backoff_max_s: float = 8.0
    retry_after_max_s: float = 60.0
    retry_protocol_errors: bool = False

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"RetryPolicy.max_attempts must be >= 1, got {self.max_attempts}")
        if self.backoff_base_s < 0 or self.backoff_max_s < 0 or self.retry_after_max_s < 0:
            raise ValueError(
                "RetryPolicy backoff_base_s, backoff_max_s and retry_after_max_s must be >= 0, got "
                f"{self.backoff_base_s}, {self.backoff_max_s}, {self.retry_after_max_s}"
            )


class Limits(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How much a backend may ask of its servers at once.

    Attributes:
        max_in_flight_per_endpoint: requests in flight to one endpoint at most; further callers
            go to another endpoint or wait for a free slot.
        max_routes: sticky route keys remembered (least recently used forgotten first).
        keepalive_s: how long an idle connection is kept; below the server's own keep-alive
            (uvicorn closes idle connections after 5 s), so a reused socket is never one the
            server is closing.
    """

    max_in_flight_per_endpoint: int = 256
    max_routes: int = 100_000
    keepalive_s: float = 4.0

    def __post_init__(self) -> None:
        if self.max_in_flight_per_endpoint < 1:
            raise ValueError(f"Limits.max_in_flight_per_endpoint must be >= 1, got {self.max_in_flight_per_endpoint}")
        if self.max_routes < 1:
            raise ValueError(f"Limits.max_routes must be >= 1, got {self.max_routes}")


class Timeouts(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How long one call may wait, per stage.

    Attributes:
        connect_s: to open a connection.
        request_s: one attempt, from sending the request to the end of the reply body.
        acquire_s: to get a free slot on some endpoint; None waits as long as it takes (the
            caps are backpressure, not failures).
    """

    connect_s: float = 10.0
    request_s: float = 600.0
    acquire_s: float | None = None

    def __post_init__(self) -> None:
        for name in ("connect_s", "request_s", "acquire_s"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"Timeouts.{name} must be > 0, got {value}")


class HealthPolicy(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """When an endpoint stops getting new requests, and for how long.

    After ``failures_to_unhealthy`` consecutive failed attempts (connection error, timeout or
    5xx; a 429 is a live server asking to slow down, not a failure of health), the endpoint gets
    no new requests for ``cooldown_s`` while another endpoint is healthy; then it is tried
    again, and one success makes it healthy. When every endpoint is unhealthy, they are all used.

    Attributes:
        failures_to_unhealthy: consecutive failures that mark an endpoint unhealthy.
        cooldown_s: how long it stays out of rotation.
    """

    failures_to_unhealthy: int = 3
    cooldown_s: float = 5.0

    def __post_init__(self) -> None:
        if self.failures_to_unhealthy < 1:
            raise ValueError(f"HealthPolicy.failures_to_unhealthy must be >= 1, got {self.failures_to_unhealthy}")
        if self.cooldown_s < 0:
            raise ValueError(f"HealthPolicy.cooldown_s must be >= 0, got {self.cooldown_s}")
