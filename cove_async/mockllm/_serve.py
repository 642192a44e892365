"""Running the simulated server: :func:`serve` for the command line, :func:`running_server` for tests."""

from __future__ import annotations

import functools
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager

import anyio
from anyio.abc import TaskStatus

from cove_async.mockllm._config import FaultRates, LatencyModel
from cove_async.mockllm._responder import Responder
from cove_async.mockllm._server import MockLLMServer

__all__ = ("running_server", "serve")


async def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    latency: LatencyModel | None = None,
    faults: FaultRates | None = None,
    responders: Mapping[str, Responder] | None = None,
    seed: int = 0,
    clock: Callable[[], float] = time.time,
    paused: bool = False,
    task_status: TaskStatus[str] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Run a simulated inference server until cancelled (the ``cove-async mock-llm`` command).

    Args:
        host: the address to bind.
        port: the TCP port; 0 picks a free one.
        latency: the latency model (default: none).
        faults: fault rates (default: none).
        responders: served models by name (default: ``{"mock": DefaultResponder()}``).
        seed: seeds fault draws and completion ids.
        clock: wall-clock time for ``created``.
        paused: start paused (503 until ``POST /admin/resume``).
        task_status: receives ``http://host:port`` once the server accepts connections.

    Raises:
        ConfigError: a bad setting, or the address cannot be bound.
    """
    server = MockLLMServer(latency=latency, faults=faults, responders=responders, seed=seed, clock=clock, paused=paused)
    await server.run(host=host, port=port, task_status=task_status)


@asynccontextmanager
async def running_server(
    *,
    host: str = "127.0.0.1",
    latency: LatencyModel | None = None,
    faults: FaultRates | None = None,
    responders: Mapping[str, Responder] | None = None,
    seed: int = 0,
    clock: Callable[[], float] = time.time,
    paused: bool = False,
) -> AsyncIterator[MockLLMServer]:
    """A simulated server on a free port for the duration of the block (tests, benchmarks).

    ``server.base_url`` is the OpenAI base URL; ``server.statistics()``, ``pause()`` and
    ``inject()`` control and observe it. Arguments as in :func:`serve`.
    """
    server = MockLLMServer(latency=latency, faults=faults, responders=responders, seed=seed, clock=clock, paused=paused)
    async with anyio.create_task_group() as tg:
        await tg.start(functools.partial(server.run, host=host, port=0))
        try:
            yield server
        finally:
            tg.cancel_scope.cancel()
