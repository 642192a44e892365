"""Engine metrics: naming conventions, bounded labels, the /metrics endpoint, the loop-lag watcher."""

from __future__ import annotations

import functools
import re
import time

import aiohttp
import anyio
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from cove_async.metrics import EngineMetrics, serve_metrics, watch_loop_lag

NAME = re.compile(r"^cove_[a-z][a-z0-9]*(_[a-z0-9]+)*$")
FORBIDDEN_LABELS = {"episode", "episode_id", "task", "task_id", "sample", "sample_index", "trajectory_id", "run_id"}


def exercised() -> tuple[CollectorRegistry, EngineMetrics]:
    """A registry where every metric has at least one sample."""
    registry = CollectorRegistry()
    m = EngineMetrics(registry)
    m.trajectory("perfect", duration_s=1.5)
    m.trajectory("perfect")
    m.trajectory("failed")
    m.episodes_in_flight.inc(3)
    m.turn("user")
    m.turn("agent")
    m.tool_call("get_order_details", error=False)
    m.tool_call("cancel_pending_order", error=True)
    m.llm_request(backend="vllm-0", role="agent", duration_s=0.8, ttft_s=0.05, prompt_tokens=1000, completion_tokens=50)
    m.retry("status_5xx")
    m.timeout("request")
    m.verified(duration_s=0.0004, score=0.75)
    m.channel_depth("verifier", 12)
    m.sandboxes_live.set(3)
    m.event_loop_lag.observe(0.002)
    m.admission_wait.observe(0.3)
    return registry, m


def test_names_and_labels_follow_the_conventions() -> None:
    registry, _ = exercised()
    families = list(registry.collect())
    assert len(families) >= 18
    for family in families:
        assert NAME.match(family.name), family.name
        assert family.samples, f"{family.name} has no samples"
        if family.type == "counter":
            assert all(s.name.endswith(("_total", "_created")) for s in family.samples), family.name
        if family.type == "histogram" and family.name != "cove_verifier_score":
            assert family.name.endswith("_seconds"), family.name
        for sample in family.samples:
            assert not FORBIDDEN_LABELS & sample.labels.keys(), (family.name, sample.labels)
            assert "episode" not in " ".join(sample.labels), (family.name, sample.labels)


def test_free_form_labels_are_bounded() -> None:
    registry = CollectorRegistry()
    m = EngineMetrics(registry, max_label_values=4)
    for i in range(100):
        m.tool_call(f"invented_tool_{i}", error=i % 2 == 0)
        m.retry(f"reason_{i}")
    tools = {s.labels["tool"] for f in registry.collect() if f.name == "cove_tool_calls" for s in f.samples}
    assert tools == {"invented_tool_0", "invented_tool_1", "invented_tool_2", "invented_tool_3", "other"}
    assert registry.get_sample_value("cove_tool_calls_total", {"tool": "other"}) == 96
    assert registry.get_sample_value("cove_tool_errors_total", {"tool": "other"}) == 48
    with pytest.raises(ValueError, match="outcome must be one of"):
        m.trajectory("great")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="role must be"):
        m.turn("system")  # type: ignore[arg-type]


def test_one_metrics_object_per_registry() -> None:
    registry = CollectorRegistry()
    EngineMetrics(registry)
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        EngineMetrics(registry)


@pytest.mark.anyio
async def test_the_endpoint_serves_parseable_metrics() -> None:
    registry, _ = exercised()
    async with anyio.create_task_group() as tg:
        port = await tg.start(functools.partial(serve_metrics, registry, host="127.0.0.1", port=0))
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
                assert response.status == 200
                assert response.headers["Content-Type"].startswith("text/plain")
                text = await response.text()
            async with session.get(f"http://127.0.0.1:{port}/nothing") as response:
                assert response.status == 404
        tg.cancel_scope.cancel()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples["cove_trajectories_total", (("outcome", "perfect"),)] == 2
    assert samples["cove_llm_tokens_total", (("direction", "prompt"), ("role", "agent"))] == 1000
    assert samples["cove_llm_time_to_first_token_seconds_count", (("backend", "vllm-0"), ("role", "agent"))] == 1
    assert (
        samples["cove_llm_request_duration_seconds_bucket", (("backend", "vllm-0"), ("le", "1.0"), ("role", "agent"))]
        == 1
    )
    assert (
        samples["cove_llm_request_duration_seconds_bucket", (("backend", "vllm-0"), ("le", "0.5"), ("role", "agent"))]
        == 0
    )
    assert samples["cove_channel_depth", (("channel", "verifier"),)] == 12
    assert samples["cove_verifier_score_bucket", (("le", "0.7"),)] == 0
    assert samples["cove_verifier_score_bucket", (("le", "0.8"),)] == 1
    assert samples["cove_episodes_in_flight", ()] == 3
    assert ("cove_build_info", (("version", "0.1.0"),)) in samples


@pytest.mark.anyio
async def test_the_lag_watcher_sees_a_blocked_loop() -> None:
    registry = CollectorRegistry()
    m = EngineMetrics(registry)

    def count() -> float:
        return registry.get_sample_value("cove_event_loop_lag_seconds_count") or 0.0

    async def next_sample() -> None:
        before = count()
        with anyio.fail_after(5):
            while count() == before:
                await anyio.lowlevel.checkpoint()

    async with anyio.create_task_group() as tg:
        tg.start_soon(watch_loop_lag, m, 0.01)
        # Right after a sample the watcher is asleep again: it goes from observe() to sleep()
        # without yielding.
        await next_sample()
        time.sleep(0.05)  # noqa: ASYNC251  (blocking the loop is the point of the test)
        await next_sample()
        tg.cancel_scope.cancel()
    lag_sum = registry.get_sample_value("cove_event_loop_lag_seconds_sum")
    small = registry.get_sample_value("cove_event_loop_lag_seconds_bucket", {"le": "0.025"})
    assert lag_sum is not None and lag_sum >= 0.04
    assert small is not None and small < count()  # one sample alone was above 25 ms


@pytest.mark.anyio
async def test_the_lag_watcher_rejects_a_bad_interval() -> None:
    with pytest.raises(ValueError, match="interval must be > 0"):
        await watch_loop_lag(EngineMetrics(CollectorRegistry()), 0)
