"""Settings of the simulated inference server: its latency model and the faults it injects.

Both are frozen msgspec Structs, so they can be built in Python or decoded from JSON (a CLI flag,
a config file) with the same checks: an out-of-range value raises :class:`ConfigError` naming the
field, the value and what would be accepted.
"""

from __future__ import annotations

import enum
import math

import msgspec

from cove_async.errors import ConfigError

__all__ = ("Fault", "FaultRates", "LatencyModel")


def _check_seconds(owner: str, name: str, value: float) -> None:
    if not math.isfinite(value) or value < 0:
        raise ConfigError(f"{owner}.{name} must be a finite number of seconds >= 0, got {value!r}")


class LatencyModel(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How long the simulated server takes to answer, as a continuous-batching server would.

    A request first WAITS until one of ``max_running`` slots is free (FIFO), then RUNS: its
    first token comes ``ttft_s`` after it was admitted, and each further token takes
    ``per_token_s x (1 + batch_slowdown x others)``, where ``others`` is the number of other
    requests running when its decode starts (read once, after the first token). So with the
    defaults a request costs no time at all and the server adds no sleep anywhere, which is
    what the engine's overhead benchmark needs.

    Attributes:
        ttft_s: time to first token, from admission (prefill), in seconds.
        per_token_s: time per output token after the first with the batch to itself, in seconds.
        batch_slowdown: growth of the per-token time per other running request (0 = none; 0.01
            makes a token 2x slower with 100 others running).
        max_running: requests decoded at once; the rest wait in arrival order (vLLM's
            ``max_num_seqs``, whose default is 256 on most GPUs).
    """

    ttft_s: float = 0.0
    per_token_s: float = 0.0
    batch_slowdown: float = 0.0
    max_running: int = 256

    def __post_init__(self) -> None:
        _check_seconds("LatencyModel", "ttft_s", self.ttft_s)
        _check_seconds("LatencyModel", "per_token_s", self.per_token_s)
        if not math.isfinite(self.batch_slowdown) or self.batch_slowdown < 0:
            raise ConfigError(
                f"LatencyModel.batch_slowdown must be a finite number >= 0, got {self.batch_slowdown!r}; "
                "0 turns the batching slowdown off"
            )
        if self.max_running < 1:
            raise ConfigError(f"LatencyModel.max_running must be >= 1, got {self.max_running}")

    def decode_s(self, completion_tokens: int, running: int) -> float:
        """Seconds to generate the tokens after the first, with ``running`` requests in the batch.

        Args:
            completion_tokens: tokens generated, the first included.
            running: requests running at once, this one included.
        """
        if self.per_token_s == 0.0 or completion_tokens <= 1:
            return 0.0
        others = max(running - 1, 0)
        return (completion_tokens - 1) * self.per_token_s * (1.0 + self.batch_slowdown * others)


class Fault(enum.Enum):
    """A way the simulated server misbehaves on one request."""

    ERROR_500 = "error_500"
    """HTTP 500 with an OpenAI-style error body, at once."""
    ERROR_503 = "error_503"
    """HTTP 503 with ``Retry-After``, at once (an overloaded or restarting server)."""
    ERROR_429 = "error_429"
    """HTTP 429 with ``Retry-After``, at once (rate limited)."""
    HANG = "hang"
    """No answer at all until the client gives up (or the server stops); holds no running slot."""
    MALFORMED_JSON = "malformed_json"
    """HTTP 200 whose body is the first half of the real reply: not JSON."""
    BAD_TOOL_ARGUMENTS = "bad_tool_arguments"
    """HTTP 200 with a tool call whose ``arguments`` string does not parse as JSON."""
    EMPTY_CHOICES = "empty_choices"
    """HTTP 200 with ``"choices": []``."""


class FaultRates(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The share of chat requests that get each :class:`Fault`.

    Each request draws at most one fault (one uniform number from the server's seeded RNG per
    request, in arrival order), so the rates must add up to at most 1.

    Attributes:
        error_500: share answered with HTTP 500.
        error_503: share answered with HTTP 503 and ``Retry-After``.
        error_429: share answered with HTTP 429 and ``Retry-After``.
        hang: share never answered.
        malformed_json: share whose body is cut in half.
        bad_tool_arguments: share with a tool call whose arguments are not JSON.
        empty_choices: share with an empty ``choices`` list.
        retry_after_s: what 503 and 429 answers ask the client to wait, in seconds (sent as
            ``Retry-After``, rounded up to whole seconds, and exactly as ``retry-after-ms``).
    """

    error_500: float = 0.0
    error_503: float = 0.0
    error_429: float = 0.0
    hang: float = 0.0
    malformed_json: float = 0.0
    bad_tool_arguments: float = 0.0
    empty_choices: float = 0.0
    retry_after_s: float = 1.0

    def __post_init__(self) -> None:
        for fault, rate in self.rates().items():
            if not math.isfinite(rate) or not 0.0 <= rate <= 1.0:
                raise ConfigError(f"FaultRates.{fault.value} must be between 0 and 1, got {rate!r}")
        total = sum(self.rates().values())
        if total > 1.0 + 1e-9:
            raise ConfigError(
                f"FaultRates add up to {total:g}, more than 1: each request gets at most one fault; lower some rates"
            )
        _check_seconds("FaultRates", "retry_after_s", self.retry_after_s)

    def rates(self) -> dict[Fault, float]:
        """Every fault with its rate, in :class:`Fault` order."""
        return {fault: float(getattr(self, fault.value)) for fault in Fault}

    @classmethod
    def uniform(cls, total: float, *, retry_after_s: float = 1.0) -> FaultRates:
        """``total`` spread evenly over the faults that end in an answer (hangs excluded).

        Args:
            total: the share of requests that get some fault, between 0 and 1.
            retry_after_s: as in the class.
        """
        if not math.isfinite(total) or not 0.0 <= total <= 1.0:
            raise ConfigError(f"the total fault rate must be between 0 and 1, got {total!r}")
        answered = [f for f in Fault if f is not Fault.HANG]
        share = total / len(answered)
        return cls(retry_after_s=retry_after_s, **{f.value: share for f in answered})
