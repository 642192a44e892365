"""``http``: the LLM path against the simulated server at zero latency, and the fault drill.

Three parts, one server process (pinned to its own CPU, so the client's CPU is measured alone):

1. **Clients** (:mod:`cove_async.bench._clients`): requests per second and client CPU per
   request of cove's backend against a bare POST of the same payload through its own transport
   and through aiohttp, measured in the same run, and httpx / httpx2 for comparison, at each
   level of requests in flight.
2. **Episodes**: trajectories per second of engine episodes whose agent and user are LLM
   policies talking to the server's players (scripted or oracle, see
   :mod:`cove_async.bench._players`), at each level of episodes in flight.
3. **Fault drill** (optional, :func:`fault_drill`): a fresh server answering 5% of requests
   with 5xx and 1% with malformed JSON; the run must complete with every episode accounted for
   (finished, or failed with a reason) and the client's and server's counts must reconcile.
"""

from __future__ import annotations

import re
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import msgspec
import structlog

from cove_async.backends import RetryPolicy
from cove_async.bench._clients import CLIENTS, ClientLevel, ClientRow, measure_clients
from cove_async.bench._common import Budget, run_on
from cove_async.bench._episodes import LLMSide, Window, llm_players, measure_window, run_episodes
from cove_async.bench._players import Players, player_models, resolve_players
from cove_async.bench._server import ServerSpec, server_process, server_stats
from cove_async.domains import get_domain
from cove_async.engine import EpisodeJob
from cove_async.mockllm import FaultRates
from cove_async.run import load_world, sample_tasks, write_tasks
from cove_async.sandbox import Snapshot
from cove_async.tasks import Task

__all__ = (
    "DrillClient",
    "DrillServer",
    "FaultDrill",
    "HttpParams",
    "HttpResults",
    "fault_drill",
    "prepare_tasks",
    "run_http",
)

log = structlog.get_logger()


class HttpParams(msgspec.Struct, frozen=True, kw_only=True):
    """Settings of the ``http`` scenario.

    Attributes:
        levels: requests in flight for the client comparison.
        rounds: rounds of the cove/bare trio (cove, http1, aiohttp) per level.
        clients: the clients to compare.
        client_warmup_s: warm-up per client measurement.
        client_window_s: window per client measurement.
        episode_levels: episodes in flight for the trajectories part (empty: skip it).
        episode_warmup_s: warm-up per episode level.
        episode_window_s: window per episode level.
        domain: the domain the episodes play.
        tasks: tasks sampled for the episodes (cycled).
        faults: also run the fault drill.
        fault_episodes: episodes in the fault drill.
        fault_concurrency: episodes in flight in the drill.
        players: who plays in the server: ``auto`` (scripted when installed), ``scripted`` or ``oracle``.
    """

    levels: tuple[int, ...] = (64, 512, 2048)
    rounds: int = 3
    clients: tuple[str, ...] = CLIENTS
    client_warmup_s: float = 0.5
    client_window_s: float = 2.0
    episode_levels: tuple[int, ...] = (64, 512, 2048)
    episode_warmup_s: float = 3.0
    episode_window_s: float = 8.0
    domain: str = "retail"
    tasks: int = 200
    faults: bool = False
    fault_episodes: int = 500
    fault_concurrency: int = 128
    players: Literal["auto", "scripted", "oracle"] = "auto"


class DrillServer(msgspec.Struct, kw_only=True):
    """The faulty server's counts: chat requests received, completed, and faults injected by kind."""

    requests: int
    completed: int
    faults: dict[str, int]


class DrillClient(msgspec.Struct, kw_only=True):
    """The engine's LLM backends' counts, both sides together.

    Attributes:
        calls: ``complete()`` calls.
        completed: calls that returned a completion.
        attempts: HTTP attempts (completed + retried + failed for good).
        retries_by_reason: attempts retried, by the failure before them.
        errors_by_reason: calls that failed for good, by reason.
    """

    calls: int
    completed: int
    attempts: int
    retries_by_reason: dict[str, int]
    errors_by_reason: dict[str, int]


class FaultDrill(msgspec.Struct, kw_only=True):
    """The fault drill: every episode accounted for, and the counts reconciled.

    Attributes:
        fault_rates: the server's fault rates.
        episodes: episodes submitted.
        outcomes: outcomes that came out of the engine.
        missing: submitted episodes with no outcome.
        duplicates: outcomes beyond the first for an episode.
        finished: episodes that ended without an error.
        failed: episodes that ended in an error, each with its reason.
        failed_without_reason: episodes that ended in an error with an empty reason.
        terminations: outcomes by termination reason.
        failure_reasons: failed episodes by the first words of their reason.
        server: the server's counts (requests, faults by kind).
        client: the client's counts over both backends (calls, completed, retries and errors by reason).
        checks: each reconciliation check and whether it held.
        reconciled: every check held.
        elapsed_s: how long the drill took.
    """

    fault_rates: dict[str, float]
    episodes: int
    outcomes: int
    missing: int
    duplicates: int
    finished: int
    failed: int
    failed_without_reason: int
    terminations: dict[str, int]
    failure_reasons: dict[str, int]
    server: DrillServer
    client: DrillClient
    checks: dict[str, bool]
    reconciled: bool
    elapsed_s: float


class HttpResults(msgspec.Struct, kw_only=True):
    """The ``http`` scenario's measurements.

    Attributes:
        players: who played in the episodes.
        request_body_bytes: the client comparison's request body size.
        clients: every client measurement.
        levels: cove against the bare POST, per level (the acceptance numbers).
        episodes: one window per level of episodes in flight.
        fault_drill: the fault drill, when run.
    """

    players: str
    request_body_bytes: int
    clients: list[ClientRow]
    levels: list[ClientLevel]
    episodes: list[Window]
    fault_drill: FaultDrill | None


def prepare_tasks(domain: str, n: int, seed: int, out_dir: Path) -> tuple[Snapshot, list[Task], Path]:
    """The world, ``n`` sampled tasks and the task file the server's players load."""
    snapshot = load_world(get_domain(domain), 0)
    tasks = list(sample_tasks(domain, snapshot, n=n, seed=seed, world="synthetic:seed=0"))
    path = out_dir / "tasks.jsonl"
    write_tasks(tasks, path)
    return snapshot, tasks, path


def run_http(params: HttpParams, budget: Budget) -> tuple[HttpResults, list[str]]:
    """Measure the ``http`` scenario (blocking).

    Returns:
        The results, and notes for the reader.
    """
    from cove_async.backends._wire import RequestEncoder
    from cove_async.bench._clients import benchmark_request
    from cove_async.mockllm import DEFAULT_MODEL

    notes: list[str] = []
    kind = resolve_players(params.players, params.domain, notes)
    levels = sorted(params.levels)
    with tempfile.TemporaryDirectory(prefix="cove-bench-http-") as tmp:
        snapshot, tasks, tasks_file = prepare_tasks(params.domain, params.tasks, 0, Path(tmp))
        spec = ServerSpec(tasks_file=str(tasks_file), domain=params.domain, players=kind)
        with server_process(spec) as server:
            rows, summary = run_on(
                "uvloop",
                _clients,
                server.url,
                levels,
                params,
                budget,
            )
            windows: list[Window] = []
            user_model, agent_model = player_models(kind)
            for level in sorted(params.episode_levels):
                if budget.exhausted(params.episode_warmup_s + params.episode_window_s):
                    notes.append(f"episodes at {level} in flight and above: skipped, the time budget ran out")
                    break
                windows.append(
                    run_on(
                        "uvloop",
                        _episode_level,
                        params,
                        snapshot,
                        tasks,
                        server.url,
                        (user_model, agent_model),
                        level,
                        server.cpu_s,
                    )
                )
        drill = None
        if params.faults:
            drill = fault_drill(
                domain=params.domain,
                snapshot=snapshot,
                tasks=tasks,
                tasks_file=tasks_file,
                players=kind,
                episodes=params.fault_episodes,
                concurrency=params.fault_concurrency,
            )
    body = RequestEncoder(model=DEFAULT_MODEL).encode(benchmark_request())
    return (
        HttpResults(
            players=kind,
            request_body_bytes=len(body),
            clients=rows,
            levels=summary,
            episodes=windows,
            fault_drill=drill,
        ),
        notes,
    )


async def _clients(
    url: str, levels: list[int], params: HttpParams, budget: Budget
) -> tuple[list[ClientRow], list[ClientLevel]]:
    return await measure_clients(
        url,
        levels=levels,
        rounds=params.rounds,
        clients=params.clients,
        times=(params.client_warmup_s, params.client_window_s),
        budget=budget,
    )


async def _episode_level(
    params: HttpParams,
    snapshot: Snapshot,
    tasks: list[Task],
    url: str,
    models: tuple[str, str],
    level: int,
    server_cpu: Callable[[], float],
) -> Window:
    user_model, agent_model = models
    async with llm_players(
        LLMSide(urls=(url,), model=agent_model), LLMSide(urls=(url,), model=user_model), in_flight=level
    ) as (user, agent, backends):
        return await measure_window(
            domain=params.domain,
            snapshot=snapshot,
            tasks=tasks,
            user=user,
            agent=agent,
            concurrency=level,
            warmup_s=params.episode_warmup_s,
            window_s=params.episode_window_s,
            metrics_urls=(url,),
            server_cpu=server_cpu,
            backends=backends,
        )


_BACKEND_REASON = re.compile(r"^(\w+) model .* at \S+: (\w+(?: HTTP \d+)?) after ")


def _reason(failure: str) -> str:
    """A failed episode's reason in a few words (``agent: protocol``, ``user: http_5xx HTTP 503``)."""
    match = _BACKEND_REASON.match(failure)
    return f"{match[1]}: {match[2]}" if match else failure[:60]


DRILL_RATES = FaultRates(error_500=0.025, error_503=0.025, malformed_json=0.01, retry_after_s=0.05)
"""The fault drill's server: 5% 5xx (half 500, half 503 with a short Retry-After) and 1% malformed JSON."""


def fault_drill(
    *,
    domain: str,
    snapshot: Snapshot,
    tasks: list[Task],
    tasks_file: Path,
    players: Players,
    episodes: int,
    concurrency: int,
    rates: FaultRates = DRILL_RATES,
) -> FaultDrill:
    """Run ``episodes`` episodes against a faulty server and reconcile every count (blocking).

    Retries use a short backoff (so the drill takes seconds), the default four attempts.
    """
    spec = ServerSpec(tasks_file=str(tasks_file), domain=domain, players=players, faults=rates, seed=7)
    jobs = [EpisodeJob(task=tasks[i % len(tasks)], sample_index=i // len(tasks)) for i in range(episodes)]
    with server_process(spec) as server:
        return run_on("uvloop", _drill, domain, snapshot, jobs, server.url, players, concurrency, rates)


async def _drill(
    domain: str,
    snapshot: Snapshot,
    jobs: list[EpisodeJob],
    url: str,
    players: Players,
    concurrency: int,
    rates: FaultRates,
) -> FaultDrill:
    user_model, agent_model = player_models(players)
    retry = RetryPolicy(backoff_base_s=0.02, backoff_max_s=0.2)
    async with llm_players(
        LLMSide(urls=(url,), model=agent_model),
        LLMSide(urls=(url,), model=user_model),
        in_flight=concurrency,
        retry=retry,
        request_timeout_s=60.0,
    ) as (user, agent, backends):
        counts, elapsed, _ = await run_episodes(
            domain=domain, snapshot=snapshot, jobs=jobs, user=user, agent=agent, concurrency=concurrency
        )
        client_stats = [b.statistics() for b in backends]
    server = await server_stats(url)
    calls = sum(s.calls for s in client_stats)
    completed = sum(s.completed for s in client_stats)
    retries: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    for s in client_stats:
        retries.update(s.retries_by_reason)
        errors.update(s.errors_by_reason)
    attempts = completed + sum(retries.values()) + sum(errors.values())
    seen = Counter(episode for episode in counts.episode_ids)
    expected = {f"{j.task.task_id}/{j.sample_index}" for j in jobs}
    missing = len(expected - set(seen))
    duplicates = sum(n - 1 for n in seen.values() if n > 1)
    failed = len(counts.failures)
    without_reason = sum(1 for _, reason in counts.failures if not reason.strip())
    faults = server.faults
    server_5xx = faults.get("error_500", 0) + faults.get("error_503", 0)
    checks = {
        "every_episode_came_out_once": missing == 0 and duplicates == 0 and counts.finished == len(jobs),
        "every_failure_has_a_reason": without_reason == 0,
        "episodes_add_up": (counts.finished - failed) + failed == len(jobs),
        "server_requests_equal_client_attempts": server.requests == attempts,
        "server_5xx_equal_client_5xx_retries_and_errors": server_5xx == retries["http_5xx"] + errors["http_5xx"],
        "server_malformed_equal_client_protocol_errors": faults.get("malformed_json", 0)
        == errors["protocol"] + retries["protocol"],
        "client_errors_equal_failed_episodes": sum(errors.values()) == failed,
        "calls_equal_completed_plus_errors": calls == completed + sum(errors.values()),
    }
    reasons: Counter[str] = Counter(_reason(reason) for _, reason in counts.failures)
    drill = FaultDrill(
        fault_rates={k.value: v for k, v in rates.rates().items() if v},
        episodes=len(jobs),
        outcomes=counts.finished,
        missing=missing,
        duplicates=duplicates,
        finished=counts.finished - failed,
        failed=failed,
        failed_without_reason=without_reason,
        terminations=dict(sorted(counts.terminations.items())),
        failure_reasons=dict(reasons.most_common(8)),
        server=DrillServer(requests=server.requests, completed=server.completed, faults=dict(sorted(faults.items()))),
        client=DrillClient(
            calls=calls,
            completed=completed,
            attempts=attempts,
            retries_by_reason=dict(sorted(retries.items())),
            errors_by_reason=dict(sorted(errors.items())),
        ),
        checks=checks,
        reconciled=all(checks.values()),
        elapsed_s=round(elapsed, 2),
    )
    log.info("bench_fault_drill", reconciled=drill.reconciled, failed=failed, episodes=len(jobs))
    return drill
