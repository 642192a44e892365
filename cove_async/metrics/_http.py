"""``/metrics`` over HTTP for Prometheus to scrape (``--metrics-port``)."""

from __future__ import annotations

import anyio
import structlog
from aiohttp import web
from anyio.abc import TaskStatus
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

__all__ = ("serve_metrics",)

log = structlog.get_logger()


async def serve_metrics(
    registry: CollectorRegistry,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    task_status: TaskStatus[int] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``GET /metrics`` (Prometheus text, or OpenMetrics if asked) until cancelled.

    Start with ``port = await tg.start(serve_metrics, registry, ...)`` (keyword arguments via
    ``functools.partial``): ``started`` reports the bound port, useful with ``port=0``. The
    registry is rendered on the event loop; it holds a few dozen series, well under a
    millisecond. Runs on anyio's asyncio backend (aiohttp needs asyncio).

    Args:
        registry: the registry to expose.
        host: address to bind (``0.0.0.0`` to be scraped from other hosts).
        port: TCP port; 0 picks a free one.
        task_status: receives the bound port once the server accepts connections.

    Raises:
        OSError: the address cannot be bound (in use, not permitted).
    """

    async def metrics(request: web.Request) -> web.Response:
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        return web.Response(body=encoder(registry), headers={"Content-Type": content_type})

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = int(runner.addresses[0][1])
        log.info("metrics_serving", host=host, port=bound)
        task_status.started(bound)
        await anyio.sleep_forever()
    finally:
        with anyio.CancelScope(shield=True):
            await runner.cleanup()
