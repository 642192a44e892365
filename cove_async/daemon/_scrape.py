"""The inference servers' own ``/metrics``, scraped and re-exported under one set of names.

vLLM and SGLang name the same things differently, and each renamed metrics across versions
(vLLM's ``gpu_cache_usage_perc`` became ``kv_cache_usage_perc``, ``time_per_output_token_seconds``
became ``inter_token_latency_seconds``; counters gained ``_total``). The daemon scrapes every
server its jobs use (plus any given with ``--scrape``) every few seconds and re-exports what it
found as ``cove_backend_*`` series labelled ``backend`` (the server's base URL), ``model`` and
``server`` (``vllm`` or ``sglang``), so one dashboard shows the engine and its servers on one
time axis, whichever server and version runs. For each unified name the first source name a
server exposes wins (the current spelling before the deprecated one), so nothing counts twice.
Other labels (vLLM's ``engine`` data-parallel rank, SGLang's ``tp_rank``) are summed away.

Which source names map to which unified name is :data:`GAUGES`, :data:`COUNTERS` and
:data:`HISTOGRAMS`; ``cove_backend_up`` says whether the last scrape of a server worked.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import aiohttp
import anyio
import structlog
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

__all__ = ("COUNTERS", "GAUGES", "HISTOGRAMS", "BackendScraper")

log = structlog.get_logger()

GAUGES: dict[str, tuple[str, ...]] = {
    "cove_backend_requests_running": ("vllm:num_requests_running", "sglang:num_running_reqs"),
    "cove_backend_requests_waiting": ("vllm:num_requests_waiting", "sglang:num_queue_reqs"),
    "cove_backend_kv_cache_usage_ratio": (
        "vllm:kv_cache_usage_perc",
        "vllm:gpu_cache_usage_perc",
        "sglang:token_usage",
    ),
}
"""Unified gauge -> source names in order of preference."""

COUNTERS: dict[str, tuple[str, ...]] = {
    "cove_backend_prompt_tokens": ("vllm:prompt_tokens", "sglang:prompt_tokens"),
    "cove_backend_generation_tokens": ("vllm:generation_tokens", "sglang:generation_tokens"),
    "cove_backend_preemptions": ("vllm:num_preemptions",),
    "cove_backend_requests_finished": ("vllm:request_success", "sglang:num_requests"),
}
"""Unified counter (exported with ``_total``) -> source names, with or without their ``_total``."""

HISTOGRAMS: dict[str, tuple[str, ...]] = {
    "cove_backend_time_to_first_token_seconds": (
        "vllm:time_to_first_token_seconds",
        "sglang:time_to_first_token_seconds",
    ),
    "cove_backend_inter_token_latency_seconds": (
        "vllm:inter_token_latency_seconds",
        "vllm:request_time_per_output_token_seconds",
        "vllm:time_per_output_token_seconds",
        "sglang:inter_token_latency_seconds",
        "sglang:time_per_output_token_seconds",
    ),
    "cove_backend_e2e_request_latency_seconds": (
        "vllm:e2e_request_latency_seconds",
        "sglang:e2e_request_latency_seconds",
    ),
    "cove_backend_request_queue_time_seconds": ("vllm:request_queue_time_seconds", "sglang:queue_time_seconds"),
}
"""Unified histogram -> source names in order of preference."""

_DOCS = {
    "cove_backend_requests_running": "Requests running on the inference server (vllm/sglang), by backend and model.",
    "cove_backend_requests_waiting": "Requests queued on the inference server, by backend and model.",
    "cove_backend_kv_cache_usage_ratio": "KV-cache use of the inference server, 0..1.",
    "cove_backend_prompt_tokens": "Prompt tokens the inference server processed.",
    "cove_backend_generation_tokens": "Tokens the inference server generated.",
    "cove_backend_preemptions": "Requests the inference server preempted.",
    "cove_backend_requests_finished": "Requests the inference server finished.",
    "cove_backend_time_to_first_token_seconds": "Time to first token on the inference server.",
    "cove_backend_inter_token_latency_seconds": "Time between output tokens on the inference server.",
    "cove_backend_e2e_request_latency_seconds": "Request latency on the inference server, end to end.",
    "cove_backend_request_queue_time_seconds": "Time requests waited in the inference server's queue.",
}

Key = tuple[str, str]  # (model, server kind)


def _base(name: str) -> str:
    return name[: -len("_total")] if name.endswith("_total") else name


@dataclass(slots=True)
class _Reading:
    """What one scrape of one server found, already unified."""

    up: bool = False
    duration_s: float = 0.0
    gauges: dict[str, dict[Key, float]] = field(default_factory=dict)
    counters: dict[str, dict[Key, float]] = field(default_factory=dict)
    # unified name -> key -> (bucket bound -> cumulative count, sum)
    histograms: dict[str, dict[Key, tuple[dict[float, float], float]]] = field(default_factory=dict)


def parse_metrics(text: str) -> _Reading:
    """Unify one server's ``/metrics`` text (see the module docs).

    Raises:
        ValueError: the text is not the Prometheus text format.
    """
    families: dict[str, Metric] = {}
    for family in text_string_to_metric_families(text):
        families.setdefault(_base(family.name), family)
    reading = _Reading(up=True)
    for unified, sources in GAUGES.items():
        found = _first(families, sources)
        if found is not None:
            reading.gauges[unified] = _sum_samples(found, ("",))
    for unified, sources in COUNTERS.items():
        found = _first(families, tuple(_base(s) for s in sources))
        if found is not None:
            reading.counters[unified] = _sum_samples(found, ("_total", ""))
    for unified, sources in HISTOGRAMS.items():
        found = _first(families, sources)
        if found is not None and found.type == "histogram":
            reading.histograms[unified] = _histograms(found)
    return reading


def _first(families: dict[str, Metric], sources: Iterable[str]) -> Metric | None:
    for source in sources:
        family = families.get(_base(source))
        if family is not None:
            return family
    return None


def _key(family: Metric, labels: dict[str, str]) -> Key:
    return (labels.get("model_name", ""), family.name.partition(":")[0])


def _sum_samples(family: Metric, suffixes: tuple[str, ...]) -> dict[Key, float]:
    names = {family.name + suffix for suffix in suffixes}
    out: dict[Key, float] = {}
    for sample in family.samples:
        if sample.name in names:
            key = _key(family, sample.labels)
            out[key] = out.get(key, 0.0) + sample.value
    return out


def _histograms(family: Metric) -> dict[Key, tuple[dict[float, float], float]]:
    buckets: dict[Key, dict[float, float]] = {}
    sums: dict[Key, float] = {}
    for sample in family.samples:
        key = _key(family, sample.labels)
        if sample.name.endswith("_bucket") and "le" in sample.labels:
            bound = float(sample.labels["le"])
            per_key = buckets.setdefault(key, {})
            per_key[bound] = per_key.get(bound, 0.0) + sample.value
        elif sample.name.endswith("_sum"):
            sums[key] = sums.get(key, 0.0) + sample.value
    return {key: (bounds, sums.get(key, 0.0)) for key, bounds in buckets.items()}


def _bound(value: float) -> str:
    return "+Inf" if value == float("inf") else repr(value)


class BackendScraper(Collector):
    """Scrapes servers' ``/metrics`` in the background and serves the unified series on collect.

    Register it on the daemon's registry; run :meth:`run` in the daemon's task group.

    Args:
        servers: the servers to scrape now (``server_key`` form), asked before every round.
        interval_s: seconds between rounds.
        timeout_s: per-scrape timeout.
        max_servers: servers kept at most (bounds the ``backend`` label).
    """

    def __init__(
        self,
        servers: Callable[[], Iterable[str]],
        *,
        interval_s: float = 5.0,
        timeout_s: float = 3.0,
        max_servers: int = 64,
    ) -> None:
        self._servers = servers
        self._interval_s = interval_s
        self._timeout_s = timeout_s
        self._max_servers = max_servers
        self._readings: dict[str, _Reading] = {}

    async def run(self) -> None:
        """Scrape every ``interval_s`` seconds until cancelled."""
        timeout = aiohttp.ClientTimeout(total=self._timeout_s)
        async with aiohttp.ClientSession(timeout=timeout, cookie_jar=aiohttp.DummyCookieJar()) as session:
            while True:
                await self.scrape_once(session)
                await anyio.sleep(self._interval_s)

    async def scrape_once(self, session: aiohttp.ClientSession) -> None:
        """One round: every current server, concurrently; servers no longer used are forgotten."""
        servers = sorted(set(self._servers()))[: self._max_servers]
        async with anyio.create_task_group() as tg:
            for server in servers:
                tg.start_soon(self._scrape, session, server)
        for gone in set(self._readings) - set(servers):
            del self._readings[gone]

    async def _scrape(self, session: aiohttp.ClientSession, server: str) -> None:
        started = time.perf_counter()
        try:
            async with session.get(server + "/metrics") as reply:
                text = await reply.text()
                if reply.status != 200:
                    raise ValueError(f"HTTP {reply.status}")
            reading = parse_metrics(text)
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
            if self._readings.get(server, _Reading(up=True)).up:
                log.warning("backend_scrape_failed", backend=server, error=f"{type(exc).__name__}: {exc}")
            reading = _Reading(up=False)
        reading.duration_s = time.perf_counter() - started
        self._readings[server] = reading

    def collect(self) -> Iterable[Metric]:
        """The unified series of the last round (Prometheus calls this on every scrape)."""
        labels = ["backend", "model", "server"]
        up = GaugeMetricFamily(
            "cove_backend_up", "Whether the last scrape of the server's /metrics worked.", labels=["backend"]
        )
        duration = GaugeMetricFamily(
            "cove_backend_scrape_duration_seconds", "How long the last scrape of the server took.", labels=["backend"]
        )
        gauges = {name: GaugeMetricFamily(name, _DOCS[name], labels=labels) for name in GAUGES}
        counters = {name: CounterMetricFamily(name, _DOCS[name], labels=labels) for name in COUNTERS}
        histograms = {name: HistogramMetricFamily(name, _DOCS[name], labels=labels) for name in HISTOGRAMS}
        for server, reading in sorted(self._readings.items()):
            up.add_metric([server], 1.0 if reading.up else 0.0)
            duration.add_metric([server], reading.duration_s)
            for name, values in reading.gauges.items():
                for (model, kind), value in values.items():
                    gauges[name].add_metric([server, model, kind], value)
            for name, values in reading.counters.items():
                for (model, kind), value in values.items():
                    counters[name].add_metric([server, model, kind], value)
            for name, per_key in reading.histograms.items():
                for (model, kind), (bounds, total) in per_key.items():
                    ordered = [(_bound(b), count) for b, count in sorted(bounds.items())]
                    histograms[name].add_metric([server, model, kind], ordered, sum_value=total)
        yield up
        yield duration
        yield from gauges.values()
        yield from counters.values()
        yield from histograms.values()
