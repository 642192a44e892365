"""The simulated server's ``/metrics``: vLLM's metric names, on a registry of its own.

Names and labels follow vLLM's V1 Prometheus logger (``vllm/v1/metrics/loggers.py``, and the
"Production Metrics" page of docs.vllm.ai): label ``model_name`` plus ``engine`` (the data
parallel rank, always ``"0"`` here), counters exposed with ``_total``. Where vLLM renamed a
metric, both names are exported with the same value so dashboards of either era work:
``vllm:kv_cache_usage_perc`` (current) and ``vllm:gpu_cache_usage_perc`` (deprecated in 0.9).
The one metric of our own, ``mockllm_injected_faults_total{fault}``, lets a test reconcile
what the engine saw with what the server did.

Gauges are read from the server's state when scraped, so requests pay nothing for them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import msgspec
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from cove_async.mockllm._config import Fault

__all__ = ("FINISHED_REASONS", "GaugeReading", "ModelSeries", "VllmMetrics")

_ENGINE = "0"
_LABELS = ("model_name", "engine")

_TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_LATENCY_BUCKETS = (0.01, 0.05, 0.1, 0.3, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
_TPOT_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.2, 0.5, 1.0)

FINISHED_REASONS = ("stop", "length", "abort")
"""vLLM's ``finished_reason`` label values (``tool_calls`` answers finish with ``stop``)."""


class GaugeReading(msgspec.Struct, frozen=True, kw_only=True):
    """The scheduler state a scrape reports.

    Attributes:
        running: requests running, by model name.
        waiting: requests waiting, by model name.
        cache_usage: the simulated KV-cache use, 0 to 1 (running requests / slots).
    """

    running: dict[str, int]
    waiting: dict[str, int]
    cache_usage: float


class _Gauges(Collector):
    def __init__(self, read: Callable[[], GaugeReading]) -> None:
        self._read = read

    def collect(self) -> Iterable[Metric]:
        reading = self._read()
        running = GaugeMetricFamily(
            "vllm:num_requests_running", "Number of requests in model execution batches.", labels=_LABELS
        )
        waiting = GaugeMetricFamily(
            "vllm:num_requests_waiting", "Number of requests waiting to be processed.", labels=_LABELS
        )
        kv = GaugeMetricFamily("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", labels=_LABELS)
        gpu = GaugeMetricFamily(
            "vllm:gpu_cache_usage_perc",
            "GPU KV-cache usage. 1 means 100 percent usage. Deprecated name of vllm:kv_cache_usage_perc.",
            labels=_LABELS,
        )
        for model, count in reading.running.items():
            running.add_metric([model, _ENGINE], count)
            waiting.add_metric([model, _ENGINE], reading.waiting.get(model, 0))
            kv.add_metric([model, _ENGINE], reading.cache_usage)
            gpu.add_metric([model, _ENGINE], reading.cache_usage)
        return [running, waiting, kv, gpu]


class ModelSeries:
    """One model's children of every counter and histogram, looked up once."""

    def __init__(self, metrics: VllmMetrics, model: str) -> None:
        labels = (model, _ENGINE)
        self.prompt_tokens = metrics.prompt_tokens.labels(*labels)
        self.generation_tokens = metrics.generation_tokens.labels(*labels)
        self.success = {reason: metrics.request_success.labels(*labels, reason) for reason in FINISHED_REASONS}
        self.ttft = metrics.ttft.labels(*labels)
        self.e2e = metrics.e2e.labels(*labels)
        self.queue = metrics.queue.labels(*labels)
        self.tpot = metrics.tpot.labels(*labels)
        self.faults = {fault: metrics.faults.labels(*labels, fault.value) for fault in Fault}


class VllmMetrics:
    """Every metric of the simulated server, registered on ``registry``.

    Args:
        registry: where to register (the server's own, so servers and tests never collide).
        models: the served model names; each gets its series up front, at zero.
        read_gauges: returns the scheduler state when a scrape asks.
    """

    def __init__(self, registry: CollectorRegistry, models: Sequence[str], read_gauges: Callable[[], GaugeReading]):
        self.prompt_tokens = Counter(
            "vllm:prompt_tokens", "Number of prefill tokens processed.", _LABELS, registry=registry
        )
        self.generation_tokens = Counter(
            "vllm:generation_tokens", "Number of generation tokens processed.", _LABELS, registry=registry
        )
        self.request_success = Counter(
            "vllm:request_success",
            "Count of successfully processed requests.",
            (*_LABELS, "finished_reason"),
            registry=registry,
        )
        self.ttft = Histogram(
            "vllm:time_to_first_token_seconds",
            "Histogram of time to first token in seconds (queue time included).",
            _LABELS,
            registry=registry,
            buckets=_TTFT_BUCKETS,
        )
        self.e2e = Histogram(
            "vllm:e2e_request_latency_seconds",
            "Histogram of e2e request latency in seconds.",
            _LABELS,
            registry=registry,
            buckets=_LATENCY_BUCKETS,
        )
        self.queue = Histogram(
            "vllm:request_queue_time_seconds",
            "Histogram of time spent in WAITING phase for request.",
            _LABELS,
            registry=registry,
            buckets=_LATENCY_BUCKETS,
        )
        self.tpot = Histogram(
            "vllm:request_time_per_output_token_seconds",
            "Histogram of the mean time per output token of each request, in seconds.",
            _LABELS,
            registry=registry,
            buckets=_TPOT_BUCKETS,
        )
        self.faults = Counter(
            "mockllm_injected_faults",
            "Faults the simulated server injected, by kind.",
            (*_LABELS, "fault"),
            registry=registry,
        )
        registry.register(_Gauges(read_gauges))
        self.series = {model: ModelSeries(self, model) for model in models}
