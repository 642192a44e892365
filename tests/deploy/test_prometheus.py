"""A real Prometheus scrapes the daemon while its jobs run against the simulated inference server.

Prometheus (Debian's binary) scrapes the daemon's ``/metrics`` with the bearer token from a
file, as the compose stack does, and the simulated vLLM server's ``/metrics``, every second,
and evaluates ``deploy/prometheus/rules.yml``. The test runs one job to the end, pauses the
backends (a weight update) and submits a second job, which then waits mid-run; it checks what
Prometheus sees in that state, resumes, and once both jobs are done reads the trajectory
counters, histogram quantiles and recording rules through the HTTP API, as Grafana does,
comparing them with what the processes recorded.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import httpx
import pytest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from cove_async.daemon import Daemon, DaemonConfig
from cove_async.mockllm import LatencyModel, running_server
from tests.deploy._files import RULES
from tests.deploy._prometheus import Sample, ScrapeJob, finite, prometheus_binary, running_prometheus

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

TOKEN = "deploy-test-token-0123456789"
TASKS = 5
SAMPLES = 4  # a GRPO group per task: 20 episodes per job


@pytest.fixture
def anyio_backend() -> tuple[str, dict[str, object]]:
    # A real Prometheus costs seconds: run on the daemon's own loop only.
    return ("asyncio", {"use_uvloop": True})


def bucket_bounds(buckets: dict[float, float], q: float) -> tuple[float, float]:
    """The bucket (lower, upper] where quantile ``q`` of cumulative ``buckets`` (le -> count) falls."""
    rank = q * buckets[math.inf]
    lower = 0.0
    for edge in sorted(buckets):
        if buckets[edge] >= rank:
            return lower, edge
        lower = edge
    raise AssertionError("unreachable: the +Inf bucket holds every observation")


def summed_buckets(families: Iterable[Metric], name: str, **labels: str) -> dict[float, float]:
    """Cumulative bucket counts of histogram ``name``, summed over its series that carry ``labels``."""
    buckets: dict[float, float] = {}
    for family in families:
        for sample in family.samples:
            if sample.name == f"{name}_bucket" and labels.items() <= sample.labels.items():
                edge = float(sample.labels["le"])
                buckets[edge] = buckets.get(edge, 0.0) + sample.value
    assert buckets.get(math.inf), f"{name}{labels} has no observations"
    return buckets


def by_label(samples: list[Sample], label: str) -> dict[str, float]:
    return {labels.get(label, ""): value for labels, value in samples}


def one(value: float) -> Callable[[list[Sample]], bool]:
    """A predicate: exactly one series, equal to ``value``."""
    return lambda samples: len(samples) == 1 and samples[0][1] == value


def job_request(llm_url: str, seed: int) -> dict[str, Any]:
    return {
        "tasks": {"kind": "sample", "domain": "retail", "n": TASKS, "seed": seed},
        "samples_per_task": SAMPLES,
        "agent": {"urls": [llm_url], "model": "mock", "max_tokens": 32},
        "user": "scripted",
        "caps": {"max_agent_turns": 4, "max_user_turns": 3},
        "group": True,
    }


async def trickle(base_url: str) -> None:
    """One small chat request to the simulated server every 0.2 s, until cancelled."""
    body = {"model": "mock", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 4}
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        while True:
            reply = await client.post("/v1/chat/completions", json=body)
            assert reply.status_code == 200, reply.text
            await anyio.sleep(0.2)


async def poll(api: httpx.AsyncClient, path: str, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """GET ``path`` until ``predicate`` holds on its JSON (the daemon's own view; bounded)."""
    with anyio.fail_after(30):
        while True:
            response = await api.get(path)
            assert response.status_code == 200, response.text
            body: dict[str, Any] = response.json()
            if predicate(body):
                return body
            await anyio.sleep(0.05)


async def test_prometheus_scrapes_the_daemon_while_a_job_runs_on_the_simulated_server(tmp_path: Path) -> None:
    prometheus_binary()  # skip before starting anything when it is not installed
    token_file = tmp_path / "cove-daemon-token"
    token_file.write_text(TOKEN + "\n")
    latency = LatencyModel(ttft_s=0.004, per_token_s=0.0005, max_running=8)
    episodes = TASKS * SAMPLES

    async with running_server(latency=latency) as llm, anyio.create_task_group() as tg:
        daemon = Daemon(
            DaemonConfig(
                state_dir=tmp_path / "state",
                port=0,
                token=TOKEN,
                concurrency=8,
                scrape=(llm.url,),  # re-export the server's metrics even when no job uses it
                scrape_interval_s=0.5,
            )
        )
        url = await tg.start(daemon.run)
        jobs = [
            ScrapeJob("cove-async", [url.removeprefix("http://")], credentials_file=token_file),
            ScrapeJob("vllm", [llm.url.removeprefix("http://")]),
        ]
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with (
            running_prometheus(tmp_path, jobs, rule_files=[RULES]) as prom,
            httpx.AsyncClient(base_url=url, headers=headers, timeout=10) as api,
        ):
            # Job 1 runs to the end.
            first = await api.post("/v1/jobs", json=job_request(llm.url, seed=1))
            assert first.status_code == 201, first.text
            first_id = first.json()["id"]
            await poll(api, f"/v1/jobs/{first_id}", lambda s: s["state"] == "done")

            # A weight update: pause every backend, then submit job 2, which waits for the resume.
            assert (await api.post("/v1/backends/pause", json={})).status_code == 200
            second = await api.post("/v1/jobs", json=job_request(llm.url, seed=2))
            assert second.status_code == 201, second.text
            second_id = second.json()["id"]
            await poll(api, "/v1/backends", lambda p: p["all"] and p["waiting"] > 0)

            # Prometheus sees the paused daemon mid-job: job 1's trajectories, job 2 waiting.
            await prom.wait_for('up{job="cove-async"}', one(1))  # the token file worked
            await prom.wait_for('sum(cove_trajectories_total{job="cove-async"})', one(episodes))
            await prom.wait_for("cove_daemon_backends_paused_all", one(1))
            await prom.wait_for("cove_daemon_pause_waiting", lambda s: len(s) == 1 and s[0][1] > 0)
            await prom.wait_for(
                'cove_daemon_jobs{state=~"running|done"}',
                lambda s: by_label(s, "state") == {"running": 1, "done": 1},
            )

            assert (await api.post("/v1/backends/resume", json={})).status_code == 200
            status = await poll(api, f"/v1/jobs/{second_id}", lambda s: s["state"] == "done")
            assert status["written"] + status["failed"] == episodes

            # Both jobs done: every episode counted once, the pause and the jobs accounted for.
            outcomes = await prom.wait_for(
                "sum by (outcome) (cove_trajectories_total)", lambda s: sum(v for _, v in s) == 2 * episodes
            )
            local = {
                o: daemon.registry.get_sample_value("cove_trajectories_total", {"outcome": o}) or 0.0
                for o in by_label(outcomes, "outcome")
            }
            assert by_label(outcomes, "outcome") == local
            await prom.wait_for('cove_daemon_jobs_finished_total{state="done"}', one(2))
            await prom.wait_for("cove_daemon_pauses_total", one(1))
            await prom.wait_for("cove_daemon_backends_paused_all", one(0))
            await prom.wait_for(
                "sum(vllm:request_success_total)",
                lambda s: len(s) == 1 and s[0][1] == llm.statistics().completed,
            )

            # Quantiles as Prometheus computes them fall in the bucket the processes' own counts say.
            engine = list(daemon.registry.collect())
            for name, q, labels in (
                ("cove_llm_request_duration_seconds", 0.95, {"role": "agent"}),
                ("cove_episode_duration_seconds", 0.5, {}),
                ("cove_daemon_pause_wait_seconds", 0.5, {}),
            ):
                low, high = bucket_bounds(summed_buckets(engine, name, **labels), q)
                selector = ", ".join(f'{k}="{v}"' for k, v in labels.items())
                value = await prom.value(f"histogram_quantile({q}, sum by (le) ({name}_bucket{{{selector}}}))")
                assert low <= value <= high, (name, q, value, low, high)
            async with aiohttp.ClientSession() as session, session.get(llm.url + "/metrics") as response:
                served = list(text_string_to_metric_families(await response.text()))
            low, high = bucket_bounds(summed_buckets(served, "vllm:time_to_first_token_seconds"), 0.5)
            ttft = await prom.value("histogram_quantile(0.5, sum by (le) (vllm:time_to_first_token_seconds_bucket))")
            assert low <= ttft <= high and ttft >= latency.ttft_s / 2, (ttft, low, high)
            # The daemon's re-export of the same server agrees with the server's own buckets.
            backend = await prom.wait_for(
                "sum by (le) (cove_backend_time_to_first_token_seconds_bucket)",
                lambda s: (
                    by_label(s, "le").get("+Inf")
                    == summed_buckets(served, "vllm:time_to_first_token_seconds")[math.inf]
                ),
            )
            assert len(backend) > 1

            # The deploy recording rules evaluate to real numbers on this data. A rate over the
            # server's histograms needs observations between two scrapes; if both jobs fell
            # between the same two, the server's rates are zero (and its quantiles NaN), so keep
            # a trickle of requests going while the rules are read.
            tg.start_soon(trickle, llm.url)
            rate = await prom.wait_for('job:cove_trajectories:rate1m{job="cove-async"}', finite)
            assert rate[0][1] > 0
            passing = await prom.wait_for("job:cove_trajectories_perfect:ratio5m", finite)
            assert 0 <= passing[0][1] <= 1
            for rule in (
                'job_role:cove_llm_request_duration_seconds:p95_5m{role="agent"}',
                "job:cove_episode_duration_seconds:p95_5m",
                "job:cove_daemon_pause_wait_seconds:p95_5m",
                'model_name:vllm_time_to_first_token_seconds:p95_5m{model_name="mock"}',
                "backend:cove_backend_time_to_first_token_seconds:p95_5m",
            ):
                (result,) = await prom.wait_for(rule, finite)
                assert result[1] > 0, rule
            kv = await prom.query(
                "max by (model_name) (vllm:kv_cache_usage_perc) or max by (model_name) (vllm:gpu_cache_usage_perc)"
            )
            assert by_label(kv, "model_name").keys() == {"mock"}
        tg.cancel_scope.cancel()
