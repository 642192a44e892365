"""Writes ``deploy/grafana/dashboards/cove-async.json``, the provisioned Grafana dashboard.

The dashboard is generated rather than hand-edited so that every panel shares one layout, one
data source and one set of template variables, and so that its queries can be reviewed here as
plain strings. Change this file, then regenerate::

    python deploy/grafana/dashboard.py            # rewrite the JSON
    python deploy/grafana/dashboard.py --check    # exit 1 if the JSON is stale (tests do this)

Queries read the recording rules of ``deploy/prometheus/rules.yml`` where one exists (cheap,
and the same numbers an alert would see) and raw series otherwise. Every panel filters by the
``job`` variable (the daemon's scrape job) or, in the inference row, by ``model_name``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

DATASOURCE = {"type": "prometheus", "uid": "cove-prometheus"}
"""Must match the ``uid`` in ``provisioning/datasources/prometheus.yml``."""
OUT = Path(__file__).resolve().parent / "dashboards" / "cove-async.json"

J = '{job=~"$job"}'
M = '{model_name=~"$model_name"}'

Panel = dict[str, Any]


class Layout:
    """Places panels left to right on Grafana's 24-column grid, wrapping to a new line."""

    def __init__(self) -> None:
        self.panels: list[Panel] = []
        self._x = 0
        self._y = 0
        self._line_height = 0
        self._id = 0

    def _next_id(self) -> int:
        self._id += 1
        return self._id

    def row(self, title: str) -> None:
        if self._x:
            self._y += self._line_height
        self.panels.append(
            {
                "type": "row",
                "id": self._next_id(),
                "title": title,
                "collapsed": False,
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": self._y},
                "panels": [],
            }
        )
        self._y += 1
        self._x = 0
        self._line_height = 0

    def add(self, panel: Panel, *, w: int, h: int) -> None:
        if self._x + w > 24:
            self._y += self._line_height
            self._x = 0
            self._line_height = 0
        panel["id"] = self._next_id()
        panel["gridPos"] = {"h": h, "w": w, "x": self._x, "y": self._y}
        self.panels.append(panel)
        self._x += w
        self._line_height = max(self._line_height, h)


def _targets(queries: list[tuple[str, str]]) -> list[dict[str, Any]]:
    return [
        {"refId": chr(ord("A") + i), "datasource": DATASOURCE, "expr": expr, "legendFormat": legend, "range": True}
        for i, (expr, legend) in enumerate(queries)
    ]


def timeseries(
    title: str,
    description: str,
    queries: list[tuple[str, str]],
    *,
    unit: str,
    stack: str | None = None,
    minimum: float | None = 0,
) -> Panel:
    """A time series panel; ``stack`` is ``normal`` or ``percent`` for stacked areas."""
    custom: dict[str, Any] = {"lineWidth": 1, "fillOpacity": 10, "showPoints": "never", "spanNulls": True}
    if stack is not None:
        custom["stacking"] = {"mode": stack, "group": "A"}
        custom["fillOpacity"] = 60
    defaults: dict[str, Any] = {"unit": unit, "custom": custom}
    if minimum is not None:
        defaults["min"] = minimum
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "targets": _targets(queries),
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {
            "legend": {"displayMode": "table", "placement": "bottom", "calcs": ["mean", "max", "lastNotNull"]},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
    }


def stat(title: str, description: str, expr: str, *, unit: str, decimals: int = 2) -> Panel:
    """A single number: the last value of ``expr``."""
    return {
        "type": "stat",
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "targets": _targets([(expr, title)]),
        "fieldConfig": {"defaults": {"unit": unit, "decimals": decimals}, "overrides": []},
        "options": {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "value",
            "graphMode": "area",
            "textMode": "value",
        },
    }


def quantiles(rule: str, selector: str, *, by: str | None = None) -> list[tuple[str, str]]:
    """p50, p95 and p99 of a histogram, from its recording rules ``<rule>:p50_5m`` and so on.

    With ``by``, one series per value of that label, named after it.
    """
    if by is None:
        return [(f"max({rule}:{q}_5m{selector})", q) for q in ("p50", "p95", "p99")]
    return [(f"max by ({by}) ({rule}:{q}_5m{selector})", f"{{{{{by}}}}} {q}") for q in ("p50", "p95", "p99")]


def throughput_and_outcomes(d: Layout) -> None:
    d.row("Throughput and outcomes")
    d.add(
        stat(
            "Trajectories/s",
            "Episodes finished per second, every outcome (1-minute rate).",
            f"sum(job:cove_trajectories:rate1m{J})",
            unit="reqps",
        ),
        w=6,
        h=4,
    )
    d.add(
        stat(
            "Pass rate",
            "Share of finished trajectories the verifier found perfect (5 minutes).",
            f"avg(job:cove_trajectories_perfect:ratio5m{J})",
            unit="percentunit",
        ),
        w=6,
        h=4,
    )
    d.add(
        stat(
            "Error ratio",
            "Share of finished episodes that failed: a backend that gave up after its retries, a policy "
            "error, or a task the verifier could not grade (5 minutes). Alert on this.",
            f"avg(job:cove_trajectories_failed:ratio5m{J})",
            unit="percentunit",
        ),
        w=6,
        h=4,
    )
    d.add(
        stat(
            "Mean verifier score",
            "Mean CoVe score (0..1) of the trajectories finished in the last 5 minutes.",
            f"avg(job:cove_verifier_score:mean5m{J})",
            unit="percentunit",
        ),
        w=6,
        h=4,
    )
    d.add(
        timeseries(
            "Trajectories/s by outcome",
            "perfect: every constraint met, nothing redundant or unconfirmed; imperfect: graded, not "
            "perfect; failed: ended in an error or could not be graded.",
            [(f"sum by (outcome) (job_outcome:cove_trajectories:rate1m{J})", "{{outcome}}")],
            unit="reqps",
            stack="normal",
        ),
        w=12,
        h=8,
    )
    d.add(
        timeseries(
            "Episode duration",
            "Wall time of finished episodes, first turn to verdict-ready (p50, p95, p99 over 5 minutes).",
            quantiles("job:cove_episode_duration_seconds", J),
            unit="s",
        ),
        w=12,
        h=8,
    )
    d.add(
        timeseries(
            "Tokens/s by role",
            "Prompt and completion tokens the engine's LLM requests reported, by role (agent policy, user simulator).",
            [(f"sum by (role, direction) (job_role_direction:cove_llm_tokens:rate1m{J})", "{{role}} {{direction}}")],
            unit="short",
        ),
        w=8,
        h=8,
    )
    d.add(
        timeseries(
            "Turns and tool calls/s",
            "Policy turns by role, and tool calls executed against episode sandboxes.",
            [
                (f"sum by (role) (job_role:cove_turns:rate1m{J})", "{{role}} turns"),
                (f"sum(job:cove_tool_calls:rate1m{J})", "tool calls"),
            ],
            unit="reqps",
        ),
        w=8,
        h=8,
    )
    d.add(
        timeseries(
            "Tool error ratio",
            "Share of tool calls the tool answered with an error (a wrong id, a forbidden change): a "
            "policy-quality signal, not an engine fault.",
            [(f"avg(job:cove_tool_errors:ratio5m{J})", "tool errors")],
            unit="percentunit",
        ),
        w=8,
        h=8,
    )
    d.add(
        timeseries(
            "Work asked for and delivered",
            "Episodes submitted jobs asked for per second, trajectories finished per second, and "
            "trajectories streamed to clients per second (a reconnecting client is sent the rest of its "
            "stream again, so streamed can exceed finished). Asked above finished for long: a backlog.",
            [
                (f"sum(job:cove_daemon_episodes_requested:rate1m{J})", "asked for"),
                (f"sum(job:cove_trajectories:rate1m{J})", "finished"),
                (f"sum(job:cove_daemon_trajectories_streamed:rate1m{J})", "streamed"),
                (f"sum(job:cove_daemon_stream_resumes:rate1m{J})", "stream resumes"),
            ],
            unit="reqps",
        ),
        w=12,
        h=8,
    )
    d.add(
        timeseries(
            "Jobs per minute",
            "Jobs submitted, and jobs that ended, by final state (done, cancelled, error), per minute.",
            [
                (f"sum(rate(cove_daemon_jobs_submitted_total{J}[5m])) * 60", "submitted"),
                (f"sum by (state) (rate(cove_daemon_jobs_finished_total{J}[5m])) * 60", "{{state}}"),
            ],
            unit="short",
        ),
        w=6,
        h=8,
    )
    d.add(
        timeseries(
            "Result streams open",
            "Clients reading results streams now.",
            [(f"sum(cove_daemon_streams_open{J})", "open streams")],
            unit="short",
        ),
        w=6,
        h=8,
    )


def saturation_and_admission(d: Layout) -> None:
    d.row("Saturation and admission")
    d.add(
        timeseries(
            "Episodes in flight",
            "Episodes admitted and not finished, per daemon process. Flat at the concurrency cap means "
            "the engine is saturated: look at admission wait and the inference row.",
            [(f"sum by (instance) (cove_episodes_in_flight{J})", "{{instance}}")],
            unit="short",
        ),
        w=8,
        h=8,
    )
    d.add(
        timeseries(
            "Admission wait",
            "Time an episode waited for an in-flight slot before starting (p50, p95, p99). Rising waits "
            "with a flat in-flight count mean the cap, not the servers, is the limit.",
            quantiles("job:cove_admission_wait_seconds", J),
            unit="s",
        ),
        w=8,
        h=8,
    )
    d.add(
        timeseries(
            "Channel depth",
            "Items buffered between the engine's actors (finished episodes waiting for the verifier, "
            "outcomes waiting for the sink). A full channel is backpressure from the stage after it.",
            [(f"max by (channel) (cove_channel_depth{J})", "{{channel}}")],
            unit="short",
        ),
        w=8,
        h=8,
    )
    d.add(
        timeseries(
            "Shared admission",
            "The daemon's cap on episodes in flight across all jobs, the slots held now, and job intakes "
            "queued for a slot (jobs take turns, first come first served).",
            [
                (f"sum(cove_daemon_admission_capacity{J})", "capacity"),
                (f"sum(cove_daemon_admission_in_use{J})", "in use"),
                (f"sum(cove_daemon_admission_waiting{J})", "intakes waiting"),
            ],
            unit="short",
        ),
        w=8,
        h=8,
    )
    d.add(
        timeseries(
            "Active jobs",
            "Jobs preparing (sampling tasks, loading the world) and running.",
            [('sum by (state) (cove_daemon_jobs{job=~"$job", state=~"preparing|running"})', "{{state}}")],
            unit="short",
            stack="normal",
        ),
        w=8,
        h=8,
    )
    d.add(
        timeseries(
            "Backlog",
            "Episodes of unfinished jobs not yet written: divided by trajectories/s, the time to drain.",
            [(f"sum(cove_daemon_episodes_remaining{J})", "episodes remaining")],
            unit="short",
        ),
        w=8,
        h=8,
    )


def time_split(d: Layout) -> None:
    d.row("Time split per phase")
    agent = 'sum(job_role:cove_llm_request_duration_seconds:rate1m{job=~"$job", role="agent"})'
    user = 'sum(job_role:cove_llm_request_duration_seconds:rate1m{job=~"$job", role="user"})'
    llm = f"(sum(job_role:cove_llm_request_duration_seconds:rate1m{J}) or vector(0))"
    rest = f"sum(job:cove_episode_duration_seconds:rate1m{J}) - {llm}"
    verifier = f"sum(job:cove_verifier_duration_seconds:rate1m{J})"
    phases = [
        (agent, "agent LLM"),
        (user, "user LLM"),
        (rest, "tools and engine"),
        (verifier, "verifier"),
    ]
    d.add(
        timeseries(
            "Seconds per second, by phase",
            "Summed over episodes: how many seconds of LLM waiting (agent, user simulator), of tools "
            "and engine work (episode wall time less its LLM time: tool calls on the sandbox and "
            "scheduling), and of verification each second of wall time holds. With N episodes in "
            "flight the stack adds up to about N.",
            phases,
            unit="s",
            stack="normal",
        ),
        w=12,
        h=8,
    )
    d.add(
        timeseries(
            "Share of time, by phase",
            "The same split as shares: where an episode's time goes. Mostly LLM is healthy; a growing "
            "tools-and-engine share points at the event loop or the sandboxes.",
            phases,
            unit="percentunit",
            stack="percent",
        ),
        w=12,
        h=8,
    )
    d.add(
        timeseries(
            "LLM request latency by role",
            "Request sent to reply parsed, as the engine saw it (p50, p95, p99).",
            quantiles("job_role:cove_llm_request_duration_seconds", J, by="role"),
            unit="s",
        ),
        w=8,
        h=8,
    )
    d.add(
        timeseries(
            "LLM time to first token by role",
            "Time to first token of the requests whose backend reported it (p50, p95, p99).",
            quantiles("job_role:cove_llm_time_to_first_token_seconds", J, by="role"),
            unit="s",
        ),
        w=8,
        h=8,
    )
    d.add(
        timeseries(
            "Verifier duration",
            "CPU time to grade one episode on the engine's event loop (p50, p95, p99).",
            quantiles("job:cove_verifier_duration_seconds", J),
            unit="s",
        ),
        w=8,
        h=8,
    )


def runtime_health(d: Layout) -> None:
    d.row("Runtime health")
    d.add(
        timeseries(
            "Event-loop lag",
            "How late the event loop woke a sleeping watcher, per process (p50, p95, p99). Every episode "
            "in the process is delayed by this much; keep p99 under 50 ms.",
            quantiles("instance:cove_event_loop_lag_seconds", J, by="instance"),
            unit="s",
        ),
        w=12,
        h=8,
    )
    d.add(
        timeseries(
            "Live sandboxes",
            "Copy-on-write episode sandboxes open now; should track episodes in flight. A gap that grows is a leak.",
            [
                (f"sum by (instance) (cove_sandboxes_live{J})", "{{instance}} sandboxes"),
                (f"sum by (instance) (cove_episodes_in_flight{J})", "{{instance}} episodes"),
            ],
            unit="short",
        ),
        w=12,
        h=8,
    )
    d.add(
        timeseries(
            "LLM retries/s by reason",
            "Requests retried after a connection error, a timeout, a 5xx or a 429 (Retry-After honoured). "
            "Bursts during a weight-update pause are expected.",
            [(f"sum by (reason) (rate(cove_llm_retries_total{J}[$__rate_interval]))", "{{reason}}")],
            unit="reqps",
        ),
        w=12,
        h=8,
    )
    d.add(
        timeseries(
            "Timeouts/s by reason",
            "Requests, turns or whole episodes that ran out of time.",
            [(f"sum by (reason) (rate(cove_timeouts_total{J}[$__rate_interval]))", "{{reason}}")],
            unit="reqps",
        ),
        w=12,
        h=8,
    )
    d.add(
        timeseries(
            "Weight-update pauses",
            "Servers paused one by one, whether every server is paused, and LLM calls and admissions "
            "waiting for a resume now. Episodes wait; they do not fail.",
            [
                (f"sum(cove_daemon_backends_paused{J})", "servers paused"),
                (f"max(cove_daemon_backends_paused_all{J})", "all paused"),
                (f"sum(cove_daemon_pause_waiting{J})", "waiting for resume"),
            ],
            unit="short",
        ),
        w=12,
        h=8,
    )
    d.add(
        timeseries(
            "Pause wait",
            "How long each LLM call or admission waited out a pause (p50, p95, p99): the trainer's weight "
            "update time as the engine feels it.",
            quantiles("job:cove_daemon_pause_wait_seconds", J),
            unit="s",
        ),
        w=12,
        h=8,
    )
    d.add(
        timeseries(
            "API requests/s by status",
            "Answers of the daemon's HTTP API by status code. 401: a client without the right token; "
            "429: too many active jobs; other 4xx: a malformed request (the answer says what is wrong).",
            [(f"sum by (code) (job_code:cove_daemon_http_requests:rate1m{J})", "{{code}}")],
            unit="reqps",
            stack="normal",
        ),
        w=12,
        h=8,
    )
    d.add(
        timeseries(
            "API latency by route",
            "Time to answer, by route (p95, p99); for results streams, time to the first byte.",
            [
                (
                    f"max by (route) (job_route:cove_daemon_http_request_duration_seconds:{q}_5m{J})",
                    f"{{{{route}}}} {q}",
                )
                for q in ("p95", "p99")
            ],
            unit="s",
        ),
        w=12,
        h=8,
    )


def inference_servers(d: Layout) -> None:
    d.row("Inference servers")
    d.add(
        timeseries(
            "Requests running and waiting",
            "vLLM's scheduler: requests in the running batch and waiting for a slot, per model. Waiting "
            "above zero for long means the server, not the engine, is the bottleneck.",
            [
                (f"sum by (model_name) (vllm:num_requests_running{M})", "{{model_name}} running"),
                (f"sum by (model_name) (vllm:num_requests_waiting{M})", "{{model_name}} waiting"),
            ],
            unit="short",
        ),
        w=8,
        h=8,
    )
    d.add(
        timeseries(
            "KV-cache use",
            "Share of the KV cache in use (vllm:kv_cache_usage_perc since vLLM 0.9, "
            "vllm:gpu_cache_usage_perc before). Near 1, vLLM preempts requests.",
            [
                (
                    f"max by (model_name) (vllm:kv_cache_usage_perc{M}) "
                    f"or max by (model_name) (vllm:gpu_cache_usage_perc{M})",
                    "{{model_name}}",
                )
            ],
            unit="percentunit",
        ),
        w=8,
        h=8,
    )
    d.add(
        timeseries(
            "Tokens/s",
            "Prompt (prefill) and generated tokens per second, per model, as the server counts them.",
            [
                (f"sum by (model_name) (model_name:vllm_generation_tokens:rate1m{M})", "{{model_name}} generated"),
                (f"sum by (model_name) (model_name:vllm_prompt_tokens:rate1m{M})", "{{model_name}} prompt"),
            ],
            unit="short",
        ),
        w=8,
        h=8,
    )
    server_latency = [
        (
            "vllm_time_to_first_token_seconds",
            "Time to first token (server)",
            "vLLM's time to first token, queueing included.",
        ),
        (
            "vllm_e2e_request_latency_seconds",
            "Request latency (server)",
            "vLLM's end-to-end request latency, arrival to last token.",
        ),
        (
            "vllm_request_queue_time_seconds",
            "Queue time (server)",
            "Time requests waited in vLLM's queue before their first schedule: the server is saturated "
            "when this grows.",
        ),
        (
            "vllm_request_time_per_output_token_seconds",
            "Time per output token (server)",
            "Each request's mean time per generated token after the first: decode speed under the batch.",
        ),
    ]
    for metric, title, description in server_latency:
        d.add(
            timeseries(
                title,
                description + " p50, p95, p99 over 5 minutes.",
                quantiles(f"model_name:{metric}", M, by="model_name"),
                unit="s",
            ),
            w=8,
            h=8,
        )
    d.add(
        timeseries(
            "Agent request latency: engine vs server",
            "p95 of the agent's LLM requests as the engine measured them, next to vLLM's own end-to-end "
            "p95. The gap is the network and the engine's HTTP client; both panels share the time axis.",
            [
                ('max(job_role:cove_llm_request_duration_seconds:p95_5m{job=~"$job", role="agent"})', "engine p95"),
                (
                    f"max by (model_name) (model_name:vllm_e2e_request_latency_seconds:p95_5m{M})",
                    "{{model_name}} server p95",
                ),
            ],
            unit="s",
        ),
        w=8,
        h=8,
    )
    d.add(
        timeseries(
            "Requests finished/s by reason",
            "vLLM's finished requests per second by reason: stop (normal, tool calls included), length "
            "(hit max_tokens: raise it or shorten prompts), abort (client gave up or a pause aborted it).",
            [
                (
                    f"sum by (model_name, finished_reason) (model_name_finished_reason:vllm_request_success:rate1m{M})",
                    "{{model_name}} {{finished_reason}}",
                )
            ],
            unit="reqps",
            stack="normal",
        ),
        w=8,
        h=8,
    )
    # The same servers as the daemon scrapes and re-exports them: vLLM or SGLang, any version,
    # without Prometheus having to reach the servers itself.
    d.add(
        timeseries(
            "Daemon's view: running and waiting",
            "Requests running and queued on each inference server the daemon's jobs use, from the "
            "daemon's own scrape of the server's /metrics (vLLM and SGLang alike).",
            [
                (f"sum by (backend) (cove_backend_requests_running{J})", "{{backend}} running"),
                (f"sum by (backend) (cove_backend_requests_waiting{J})", "{{backend}} waiting"),
            ],
            unit="short",
        ),
        w=8,
        h=8,
    )
    d.add(
        timeseries(
            "Daemon's view: KV-cache use",
            "KV-cache use of each server (vLLM kv_cache_usage_perc or gpu_cache_usage_perc, SGLang "
            "token_usage), from the daemon's scrape.",
            [(f"max by (backend) (cove_backend_kv_cache_usage_ratio{J})", "{{backend}}")],
            unit="percentunit",
        ),
        w=8,
        h=8,
    )
    d.add(
        timeseries(
            "Daemon's view: tokens/s",
            "Prompt tokens each server processed and tokens it generated per second, from the daemon's scrape.",
            [
                (f"sum by (backend) (backend:cove_backend_generation_tokens:rate1m{J})", "{{backend}} generated"),
                (
                    f"sum by (backend) (rate(cove_backend_prompt_tokens_total{J}[$__rate_interval]))",
                    "{{backend}} prompt",
                ),
            ],
            unit="short",
        ),
        w=8,
        h=8,
    )
    d.add(
        timeseries(
            "Daemon's view: server latency p95",
            "Per server: time to first token, time between output tokens, end-to-end latency and queue "
            "time (p95 over 5 minutes), from the daemon's scrape.",
            [
                (f"max by (backend) (backend:cove_backend_{name}:p95_5m{J})", f"{{{{backend}}}} {label}")
                for name, label in (
                    ("time_to_first_token_seconds", "TTFT"),
                    ("inter_token_latency_seconds", "inter-token"),
                    ("e2e_request_latency_seconds", "e2e"),
                    ("request_queue_time_seconds", "queue"),
                )
            ],
            unit="s",
        ),
        w=8,
        h=8,
    )
    d.add(
        timeseries(
            "Daemon's view: finished and preempted requests/s",
            "Requests each server finished, and requests it preempted (vLLM: KV cache full, the request "
            "is recomputed later; rising preemptions mean too many requests in flight for the cache).",
            [
                (
                    f"sum by (backend) (rate(cove_backend_requests_finished_total{J}[$__rate_interval]))",
                    "{{backend}} finished",
                ),
                (
                    f"sum by (backend) (rate(cove_backend_preemptions_total{J}[$__rate_interval]))",
                    "{{backend}} preempted",
                ),
            ],
            unit="reqps",
        ),
        w=8,
        h=8,
    )
    d.add(
        timeseries(
            "Daemon's view: server /metrics reachable",
            "1 when the daemon's last scrape of the server's /metrics worked; 0 means the server is down "
            "or unreachable from the daemon, and its panels above go stale.",
            [(f"max by (backend) (cove_backend_up{J})", "{{backend}}")],
            unit="short",
        ),
        w=8,
        h=8,
    )


def variable(name: str, label: str, query: str) -> dict[str, Any]:
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DATASOURCE,
        "query": {"query": query, "refId": name},
        "definition": query,
        "refresh": 2,
        "multi": True,
        "includeAll": True,
        "allValue": ".+",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "sort": 1,
    }


def dashboard() -> dict[str, Any]:
    """The whole dashboard as Grafana's JSON model."""
    d = Layout()
    throughput_and_outcomes(d)
    saturation_and_admission(d)
    time_split(d)
    runtime_health(d)
    inference_servers(d)
    return {
        "uid": "cove-async",
        "title": "cove-async",
        "description": "Rollout engine and the inference servers it drives, on one time axis.",
        "tags": ["cove-async", "vllm"],
        "timezone": "browser",
        "editable": False,
        "graphTooltip": 1,
        "refresh": "10s",
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": "now-30m", "to": "now"},
        "annotations": {
            "list": [
                {
                    "name": "Weight-update pauses",
                    "datasource": DATASOURCE,
                    "enable": True,
                    "iconColor": "orange",
                    "expr": f"max(cove_daemon_backends_paused_all{J}) > 0 or sum(cove_daemon_backends_paused{J}) > 0",
                    "step": "15s",
                    "titleFormat": "backends paused",
                }
            ]
        },
        "links": [],
        "templating": {
            "list": [
                variable("job", "daemon", "label_values(cove_build_info, job)"),
                variable("model_name", "model", "label_values(vllm:num_requests_running, model_name)"),
            ]
        },
        "panels": d.panels,
    }


def render() -> str:
    """The dashboard JSON exactly as it is committed."""
    return json.dumps(dashboard(), indent=2) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed JSON differs")
    args = parser.parse_args()
    text = render()
    if args.check:
        if not OUT.is_file() or OUT.read_text() != text:
            sys.stderr.write(f"{OUT} is stale: run python {Path(__file__).name}\n")
            return 1
        return 0
    OUT.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
