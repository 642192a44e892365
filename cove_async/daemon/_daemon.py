"""The rollout daemon: jobs from HTTP, one shared admission limiter, durable results, pauses.

:class:`Daemon` owns everything with a lifetime: the state directory (locked, so one daemon
uses it at a time), the jobs' tasks, the HTTP server, the backend scraper and the loop-lag
watcher, all in one task group. ``await Daemon(config).run()`` serves until cancelled; on
start it resumes every job the state directory holds that had not ended.

Fairness: each job runs its own :class:`~cove_async.engine.Engine`; all engines take their
episodes' slots from one semaphore (``--concurrency``), whose waiters are woken in FIFO order,
and each engine queues one intake at a time, so jobs take turns slot by slot whatever their size.
"""

from __future__ import annotations

import fcntl
import ipaddress
import os
import secrets
import time
from collections import Counter
from pathlib import Path

import anyio
import msgspec
import structlog
from anyio.abc import TaskGroup, TaskStatus
from prometheus_client import CollectorRegistry

from cove_async.client._api import (
    InlineTasks,
    JobRequest,
    JobStatus,
    LLMBackend,
    PauseRequest,
    PauseStatus,
    SampleTasks,
    Tau2Tasks,
)
from cove_async.daemon._errors import ApiError
from cove_async.daemon._jobs import Job, JobServices, JobStore, StoredJob, domain_of, requested_count, snapshot_for
from cove_async.daemon._metrics import DaemonMetrics, DaemonReading
from cove_async.daemon._pause import PauseBoard, server_key
from cove_async.daemon._scrape import BackendScraper
from cove_async.domains import Domain, get_domain
from cove_async.errors import ConfigError, CoveError
from cove_async.metrics import EngineMetrics, watch_loop_lag
from cove_async.sandbox import Snapshot
from cove_async.tasks import Task
from cove_async.tau2 import as_cove_task, load_tau2_tasks

__all__ = ("Daemon", "DaemonConfig", "is_loopback", "serve_daemon")

log = structlog.get_logger()


class DaemonConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How the daemon runs (``cove-async serve`` flags).

    Attributes:
        state_dir: where jobs and their results live (created; one daemon at a time).
        host: the address to bind; anything but loopback needs ``token``.
        port: the TCP port (0 picks a free one).
        token: the bearer token every request must carry (None: no authentication, loopback only).
        concurrency: episodes in flight across all jobs, at most.
        max_request_bytes: the largest request body accepted (413 above).
        max_job_episodes: the most episodes (tasks x samples) one job may ask for.
        max_samples_per_task: the largest GRPO group.
        max_active_jobs: jobs not yet ended, at most (429 above).
        tau2_dir: tau2's data folder, for tasks set in tau2's world.
        scrape: inference servers whose ``/metrics`` to re-export besides the ones jobs use.
        scrape_interval_s: seconds between scrapes of the servers' ``/metrics`` (0: never).
        heartbeat_s: an idle results stream gets an empty line this often (keeps proxies and
            clients from timing it out, and finds clients that left).
        stream_chunk: trajectories read and sent per write on a results stream.
    """

    state_dir: Path
    host: str = "127.0.0.1"
    port: int = 8321
    token: str | None = None
    concurrency: int = 1000
    max_request_bytes: int = 16 * 1024 * 1024
    max_job_episodes: int = 1_000_000
    max_samples_per_task: int = 1024
    max_active_jobs: int = 64
    tau2_dir: Path | None = None
    scrape: tuple[str, ...] = ()
    scrape_interval_s: float = 5.0
    heartbeat_s: float = 15.0
    stream_chunk: int = 64

    def __post_init__(self) -> None:
        for name in ("concurrency", "max_request_bytes", "max_job_episodes", "max_samples_per_task"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_active_jobs < 1 or self.stream_chunk < 1:
            raise ConfigError("max_active_jobs and stream_chunk must be >= 1")
        if self.heartbeat_s <= 0 or self.scrape_interval_s < 0:
            raise ConfigError("heartbeat_s must be > 0 and scrape_interval_s >= 0")
        if self.token is not None and len(self.token) < 16:
            raise ConfigError(f"the token must be at least 16 characters, got {len(self.token)}")
        if not is_loopback(self.host) and not self.token:
            raise ConfigError(
                f"refusing to serve on {self.host!r} without a token: anyone who can reach it could run jobs "
                "on your servers; pass --token (or set COVE_DAEMON_TOKEN), or bind 127.0.0.1"
            )
        for url in self.scrape:
            try:
                server_key(url)
            except ValueError as exc:
                raise ConfigError(f"--scrape: {exc}") from None


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (``127.0.0.0/8``, ``::1``, ``localhost``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _lock_state_dir(state_dir: Path) -> int:
    state_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(state_dir / ".daemon.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise ConfigError(
            f"{state_dir} is in use by another cove-async daemon; stop it or choose another --state-dir"
        ) from None
    return fd


def _scripted_available(domain: str, side: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(f"cove_async.policies.scripted._{domain}_{side}") is not None


class Daemon:
    """The rollout daemon. Run it with :meth:`run`; everything else is for the HTTP layer and tests.

    Args:
        config: how to run.
        registry: the Prometheus registry to export (a fresh one by default).
    """

    def __init__(self, config: DaemonConfig, *, registry: CollectorRegistry | None = None) -> None:
        self.config = config
        self.registry = registry or CollectorRegistry()
        self.engine_metrics = EngineMetrics(self.registry)
        self.metrics = DaemonMetrics(self.registry, self._reading)
        self.board = PauseBoard(on_wait=self.metrics.pause_wait.observe)
        self.scraper = BackendScraper(self._servers_in_use, interval_s=config.scrape_interval_s or 5.0)
        self.registry.register(self.scraper)
        self.store = JobStore(config.state_dir)
        self.jobs: dict[str, Job] = {}
        self.ready = False
        self.closing = False
        """Set when the daemon stops: streams end without their end line, so clients reconnect."""
        self.streams_open = 0
        self.url = ""
        self._admission: anyio.Semaphore | None = None
        self._tg: TaskGroup | None = None

    # -- lifetime ------------------------------------------------------------------------

    async def run(self, *, task_status: TaskStatus[str] = anyio.TASK_STATUS_IGNORED) -> None:
        """Serve until cancelled: resume unfinished jobs, answer the API, scrape the servers.

        ``task_status.started`` receives the base URL (``http://127.0.0.1:PORT``) once the
        server accepts connections. Cancelling stops every job at once (episodes in flight are
        dropped and run again by the next daemon on this state directory).

        Raises:
            ConfigError: the state directory is in use, or the address cannot be bound.
        """
        from cove_async.daemon._http import start_http

        config = self.config
        lock_fd = await anyio.to_thread.run_sync(_lock_state_dir, config.state_dir)
        try:
            self._admission = anyio.Semaphore(config.concurrency, max_value=config.concurrency)
            async with anyio.create_task_group() as tg:
                self._tg = tg
                runner, self.url = await start_http(self)
                try:
                    await self._load_pauses()
                    tg.start_soon(watch_loop_lag, self.engine_metrics)
                    if config.scrape_interval_s > 0:
                        tg.start_soon(self.scraper.run)
                    for stored, status, directory in await anyio.to_thread.run_sync(
                        lambda: list(self.store.load_all())
                    ):
                        job = Job(
                            stored,
                            directory,
                            state=status.state,
                            acked=status.acked,
                            error=status.error,
                            policy_version=status.policy_version,
                        )
                        self.jobs[job.id] = job
                        if not job.final:
                            log.info("job_resuming", job_id=job.id, state=job.state)
                            tg.start_soon(job.run, self._services())
                        else:
                            await self._load_final_counts(job)
                    self.ready = True
                    log.info("daemon_serving", url=self.url, jobs=len(self.jobs), state_dir=str(config.state_dir))
                    task_status.started(self.url)
                    await anyio.sleep_forever()
                finally:
                    self.closing = True
                    for job in self.jobs.values():
                        job.feed.wake()
                    with anyio.CancelScope(shield=True):
                        await runner.cleanup()
        finally:
            os.close(lock_fd)

    @property
    def _pauses_path(self) -> Path:
        return self.config.state_dir / "pauses.json"

    async def _load_pauses(self) -> None:
        """Pauses outlive a restart: a daemon restarted mid weight update must not send work to
        servers being updated. The trainer's resume lifts them as usual."""
        try:
            data = await anyio.to_thread.run_sync(self._pauses_path.read_bytes)
        except FileNotFoundError:
            return
        saved = msgspec.json.decode(data, type=PauseStatus)
        if saved.all:
            self.board.pause()
        if saved.urls:
            self.board.pause(saved.urls)
        if saved.all or saved.urls:
            log.warning("backends_still_paused", all=saved.all, servers=list(saved.urls))

    async def _save_pauses(self) -> None:
        data = msgspec.json.encode(self.pause_status())
        path = self._pauses_path
        tmp = path.with_name(path.name + ".tmp")

        def write() -> None:
            tmp.write_bytes(data)
            os.replace(tmp, path)

        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(write)

    async def _load_final_counts(self, job: Job) -> None:
        """Counts of an ended job, for its status (the feed index and the ledger's tallies)."""
        if (job.directory / "run" / "store.sqlite").exists():
            from cove_async.store import Store

            await job.feed.refresh()
            store = await Store.open(job.directory / "run" / "store.sqlite")
            try:
                runs = await store.runs()
                if runs:
                    stats = await store.statistics(runs[0].id)
                    job.perfect, job.failed = stats.perfect, stats.failed
            finally:
                await store.aclose()

    def _services(self) -> JobServices:
        assert self._admission is not None
        return JobServices(
            admission=self._admission,
            board=self.board,
            engine_metrics=self.engine_metrics,
            prepare=self._prepare,
            tau2_dir=self.config.tau2_dir,
            on_finished=self.metrics.job_finished,
        )

    async def _prepare(self, domain: Domain, request: JobRequest) -> tuple[Snapshot, list[Task]]:
        """A job's world and tasks. Each job loads its own world, in a worker thread, and the
        sampler reads it in that thread before the engine uses it on the loop: a snapshot is
        never used by two threads at once."""
        source = request.tasks
        tau2_dir = self.config.tau2_dir
        if isinstance(source, SampleTasks):
            from cove_async.run import knobs_for, sample_tasks

            world = f"synthetic:seed={source.world_seed}"
            knobs = knobs_for(domain.name, source.knobs)

            def sample() -> tuple[Snapshot, list[Task]]:
                snapshot = snapshot_for(domain, world, tau2_dir)
                tasks = sample_tasks(domain.name, snapshot, n=source.n, seed=source.seed, world=world, knobs=knobs)
                return snapshot, list(tasks)

            return await anyio.to_thread.run_sync(sample)
        if isinstance(source, Tau2Tasks):
            assert tau2_dir is not None  # checked at submission

            def convert() -> tuple[Snapshot, list[Task]]:
                snapshot = domain.load_tau2(tau2_dir)
                by_id = {t.id: t for t in load_tau2_tasks(tau2_dir, domain.name)}
                return snapshot, [as_cove_task(by_id[i], domain.name, domain.toolset, snapshot) for i in source.ids]

            return await anyio.to_thread.run_sync(convert)
        snapshot = await anyio.to_thread.run_sync(snapshot_for, domain, source.tasks[0].world, tau2_dir)
        return snapshot, list(source.tasks)

    # -- the API -------------------------------------------------------------------------

    def job(self, job_id: str) -> Job:
        """The job called ``job_id``.

        Raises:
            ApiError: 404, no such job.
        """
        job = self.jobs.get(job_id)
        if job is None:
            raise ApiError(404, f"no job {job_id!r}; GET /v1/jobs lists the jobs this daemon knows")
        return job

    async def submit(self, request: JobRequest) -> JobStatus:
        """Accept a job: check it, write it to the state directory, start it.

        Raises:
            ApiError: 422 for a job the daemon cannot run (the message says why), 429 when
                ``max_active_jobs`` jobs are running.
        """
        self._check(request)
        active = sum(not job.final for job in self.jobs.values())
        if active >= self.config.max_active_jobs:
            raise ApiError(
                429,
                f"{active} jobs are running, the most this daemon allows (--max-active-jobs "
                f"{self.config.max_active_jobs}); wait for one to end or cancel one",
                headers={"Retry-After": "10"},
            )
        stored = StoredJob(id=f"job-{secrets.token_hex(8)}", created_at=time.time(), request=request)
        # Shielded: once the job is on disk it must also be started, whatever the client does.
        with anyio.CancelScope(shield=True):
            directory = await anyio.to_thread.run_sync(self.store.create, stored)
            job = Job(stored, directory)
            self.jobs[job.id] = job
            assert self._tg is not None
            self._tg.start_soon(job.run, self._services())
        self.metrics.jobs_submitted.inc()
        self.metrics.episodes_requested.inc(job.requested)
        log.info("job_submitted", job_id=job.id, name=request.name, episodes=job.requested)
        return job.status()

    def _check(self, request: JobRequest) -> None:
        config = self.config
        source = request.tasks
        try:
            domain = get_domain(domain_of(request))
            if isinstance(source, SampleTasks):
                from cove_async.run import knobs_for

                knobs_for(domain.name, source.knobs)
        except ConfigError as exc:
            raise ApiError(422, f"tasks: {exc}") from None
        if isinstance(source, InlineTasks):
            self._check_inline(source)
        if isinstance(source, Tau2Tasks):
            self._check_tau2(source, request)
        if request.samples_per_task > config.max_samples_per_task:
            raise ApiError(
                422,
                f"samples_per_task is {request.samples_per_task}, above this daemon's limit of "
                f"{config.max_samples_per_task} (--max-samples-per-task)",
            )
        episodes = requested_count(request)
        if episodes > config.max_job_episodes:
            raise ApiError(
                422,
                f"the job asks for {episodes} episodes (tasks x samples_per_task), above this daemon's limit of "
                f"{config.max_job_episodes} (--max-job-episodes); split it into smaller jobs",
            )
        for side in ("agent", "user"):
            spec = getattr(request, side)
            if spec == "scripted" and not _scripted_available(domain.name, side):
                raise ApiError(
                    422, f"{side}: no scripted {side} for {domain.name} in this build; use 'oracle' or an LLM backend"
                )
            if isinstance(spec, LLMBackend):
                for url in spec.urls:
                    try:
                        server_key(url)
                    except ValueError as exc:
                        raise ApiError(422, f"{side}.urls: {exc}") from None

    def _check_tau2(self, source: Tau2Tasks, request: JobRequest) -> None:
        if self.config.tau2_dir is None:
            raise ApiError(422, "tasks.kind 'tau2' needs tau2's data: start the daemon with --tau2-dir")
        if request.user == "scripted":
            raise ApiError(
                422,
                "user: the scripted user plays sampled CoVe tasks only (it needs their fuzzy descriptions); "
                "for tau2 tasks use an LLM user simulator or 'oracle'",
            )
        if not source.ids:
            raise ApiError(422, "tasks.ids: give at least one tau2 task id")
        try:
            known = {t.id for t in load_tau2_tasks(self.config.tau2_dir, source.domain)}
        except CoveError as exc:
            raise ApiError(422, f"tasks: {exc}") from None
        unknown = [i for i in source.ids if i not in known]
        if unknown:
            raise ApiError(422, f"tasks.ids: no tau2 {source.domain} task {', '.join(map(repr, unknown[:5]))}")
        if len(set(source.ids)) != len(source.ids):
            raise ApiError(422, "tasks.ids: a task id is repeated; ids must be unique within a job")

    def _check_inline(self, source: InlineTasks) -> None:
        first = source.tasks[0]
        seen: set[str] = set()
        for index, task in enumerate(source.tasks):
            where = f"tasks.tasks[{index}] ({task.task_id!r})"
            if task.task_id in seen:
                raise ApiError(422, f"{where}: task id repeated; task ids must be unique within a job")
            seen.add(task.task_id)
            if task.domain != first.domain:
                raise ApiError(422, f"{where}: domain {task.domain!r} differs from the first task's {first.domain!r}")
            if task.world != first.world:
                raise ApiError(422, f"{where}: world {task.world!r} differs from the first task's {first.world!r}")
        world = first.world
        if world.startswith("synthetic:seed="):
            if not world[len("synthetic:seed=") :].lstrip("-").isdigit():
                raise ApiError(422, f"tasks.tasks[0].world {world!r}: the seed must be a whole number")
        elif world == "tau2" or world.startswith("tau2:"):
            if self.config.tau2_dir is None:
                raise ApiError(422, f"world {world!r} needs tau2's data: start the daemon with --tau2-dir")
        else:
            raise ApiError(422, f"tasks.tasks[0].world {world!r}: use 'synthetic:seed=N' or 'tau2'")

    def cancel(self, job_id: str) -> JobStatus:
        """Cancel a job now (episodes in flight are dropped).

        Raises:
            ApiError: 404, no such job; 409, the job already ended done or in error.
        """
        job = self.job(job_id)
        if job.state == "cancelled":
            return job.status()
        if not job.cancel():
            raise ApiError(409, f"job {job_id} already ended ({job.state}); there is nothing to cancel")
        log.info("job_cancel_requested", job_id=job_id)
        return job.status()

    async def acknowledge(self, job_id: str, cursor: int) -> JobStatus:
        """Record the client's acknowledged cursor.

        Raises:
            ApiError: 404, no such job; 422, a cursor beyond the trajectories written.
        """
        job = self.job(job_id)
        if cursor > job.feed.count:
            raise ApiError(
                422, f"cursor {cursor} is beyond the {job.feed.count} trajectories written so far; ack what you got"
            )
        await job.acknowledge(cursor)
        return job.status()

    async def pause(self, request: PauseRequest) -> PauseStatus:
        """Pause servers (all when none are named): intake and new LLM calls to them wait."""
        if request.policy_version is not None:
            raise ApiError(422, "policy_version belongs on /v1/backends/resume (the version loaded by the update)")
        servers = self._servers(request)
        self.board.pause(servers)
        await self._save_pauses()
        self.metrics.pauses.inc()
        log.info("backends_paused", servers=sorted(servers) or "all")
        return self.pause_status()

    async def resume(self, request: PauseRequest) -> PauseStatus:
        """Resume servers (all when none are named), moving jobs on to a new policy version if given."""
        servers = self._servers(request)
        self.board.resume(servers)
        await self._save_pauses()
        if request.policy_version is not None:
            for job in self.jobs.values():
                agent = job.request.agent
                if job.final or not isinstance(agent, LLMBackend):
                    continue
                if not servers or servers & {server_key(url) for url in agent.urls}:
                    await job.set_policy_version(request.policy_version)
        log.info("backends_resumed", servers=sorted(servers) or "all", policy_version=request.policy_version)
        return self.pause_status()

    def _servers(self, request: PauseRequest) -> set[str]:
        try:
            return {server_key(url) for url in request.urls}
        except ValueError as exc:
            raise ApiError(422, f"urls: {exc}") from None

    def pause_status(self) -> PauseStatus:
        """What is paused now."""
        return PauseStatus(all=self.board.paused_all, urls=self.board.paused_urls, waiting=self.board.waiting)

    # -- metrics -------------------------------------------------------------------------

    def _servers_in_use(self) -> set[str]:
        servers = {server_key(url) for url in self.config.scrape}
        for job in self.jobs.values():
            if not job.final:
                servers |= job.servers
        return servers

    def _reading(self) -> DaemonReading:
        states: Counter[str] = Counter(job.state for job in self.jobs.values())
        admission = self._admission
        capacity = self.config.concurrency
        return DaemonReading(
            jobs=dict(states),
            episodes_remaining=sum(
                max(0, job.requested - job.feed.count - job.failed) for job in self.jobs.values() if not job.final
            ),
            streams_open=self.streams_open,
            admission_capacity=capacity,
            admission_in_use=0 if admission is None else capacity - admission.value,
            admission_waiting=0 if admission is None else admission.statistics().tasks_waiting,
            paused_servers=len(self.board.paused_urls),
            paused_all=self.board.paused_all,
            pause_waiting=self.board.waiting,
        )


async def serve_daemon(config: DaemonConfig, *, task_status: TaskStatus[str] = anyio.TASK_STATUS_IGNORED) -> None:
    """Run a daemon with ``config`` until cancelled (``cove-async serve``)."""
    await Daemon(config).run(task_status=task_status)
