"""Which request gets which fault (a seeded draw per request, plus faults queued on purpose), and
how a reply is spoiled for the fault that corrupts tool calls."""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec

from cove_async.chat import FunctionCall, ToolCall
from cove_async.mockllm._config import Fault, FaultRates
from cove_async.mockllm._responder import Reply

__all__ = ("FaultSchedule", "break_tool_arguments")


class FaultSchedule:
    """Decides the fault of each chat request, in arrival order.

    The n-th call to :meth:`next` always draws the n-th number of ``random.Random(seed)``, so
    with a fixed seed the n-th request to arrive gets the same fault in every run, however the
    requests interleave. Queued faults (:meth:`queue`) are handed out first, and still consume
    their draw, so queuing does not shift the random faults of later requests.

    Args:
        rates: the share of requests per fault.
        seed: seeds the draws.
    """

    def __init__(self, rates: FaultRates, *, seed: int) -> None:
        self._rng = random.Random(seed)
        self._queued: deque[Fault | None] = deque()
        # Cumulative upper bounds: a draw u < bound[i] (and >= the previous bound) picks fault i.
        self._bounds: list[tuple[float, Fault]] = []
        total = 0.0
        for fault, rate in rates.rates().items():
            if rate > 0.0:
                total += rate
                self._bounds.append((total, fault))

    def queue(self, faults: Iterable[Fault | None]) -> None:
        """Give the next requests these faults, in order (None: a request without a fault)."""
        self._queued.extend(faults)

    @property
    def queued(self) -> int:
        """Queued faults not handed out yet."""
        return len(self._queued)

    def next(self) -> Fault | None:
        """The fault of the next request to arrive, or None for a normal answer."""
        draw = self._rng.random()
        if self._queued:
            return self._queued.popleft()
        for bound, fault in self._bounds:
            if draw < bound:
                return fault
        return None


def break_tool_arguments(reply: Reply, tools: Sequence[dict[str, Any]] | None) -> tuple[ToolCall, ...]:
    """The reply's tool calls with the first one's ``arguments`` no longer valid JSON.

    The arguments lose their last character, as when generation stops mid-call; should that
    still parse (a bare number, trailing blanks), a stray ``}`` is appended instead. A reply
    without calls gets one, to the first offered tool (``unknown_tool`` if none), with
    arguments ``{"``.
    """
    if not reply.tool_calls:
        name = str(tools[0].get("function", {}).get("name", "unknown_tool")) if tools else "unknown_tool"
        return (ToolCall(id="call_broken", function=FunctionCall(name=name, arguments='{"')),)
    first = reply.tool_calls[0]
    broken = first.function.arguments[:-1]
    try:
        msgspec.json.decode(broken)
    except msgspec.DecodeError:
        pass
    else:
        broken = first.function.arguments + "}"
    function = FunctionCall(name=first.function.name, arguments=broken)
    return (ToolCall(id=first.id, function=function), *reply.tool_calls[1:])
