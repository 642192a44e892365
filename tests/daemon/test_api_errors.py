"""Every refused request gets a 4xx with a JSON message that names what is wrong."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from cove_async.client import DaemonError, JobRequest, SampleTasks
from cove_async.client._client import AsyncDaemonClient
from cove_async.domains import get_domain
from cove_async.run import load_world, sample_tasks
from tests.daemon._support import running_daemon, wait_for

pytestmark = pytest.mark.anyio

ORACLE = {"agent": "oracle", "user": "oracle"}
SMALL = {"tasks": {"kind": "sample", "domain": "retail", "n": 2}, **ORACLE}


def _inline_tasks(n: int) -> list[dict[str, Any]]:
    snapshot = load_world(get_domain("retail"), 0)
    tasks = sample_tasks("retail", snapshot, n=n, seed=5, world="synthetic:seed=0")
    return [msgspec.to_builtins(task) for task in tasks]


def _job(**overrides: Any) -> dict[str, Any]:
    body = dict(SMALL)
    body.update(overrides)
    return body


# (name, body, expected status, words the message must contain)
SUBMIT_CASES: list[tuple[str, Any, int, tuple[str, ...]]] = [
    ("not json", b"{tasks:", 400, ("not valid JSON",)),
    ("empty body", b"", 400, ("empty",)),
    ("unknown field", _job(sample_per_task=4), 422, ("sample_per_task",)),
    ("wrong type", _job(samples_per_task="16"), 422, ("samples_per_task", "int")),
    ("zero samples", _job(samples_per_task=0), 422, ("samples_per_task must be >= 1",)),
    ("no tasks", {"agent": "oracle", "user": "oracle"}, 422, ("tasks",)),
    ("unknown task kind", _job(tasks={"kind": "files", "path": "x"}), 422, ("kind", "files")),
    ("zero tasks", _job(tasks={"kind": "sample", "domain": "retail", "n": 0}), 422, ("tasks.n must be >= 1",)),
    ("unknown domain", _job(tasks={"kind": "sample", "domain": "retial", "n": 2}), 422, ("retial", "airline, retail")),
    (
        "unknown knob",
        _job(tasks={"kind": "sample", "domain": "retail", "n": 2, "knobs": {"fuzzyness": 2}}),
        422,
        ("fuzzyness",),
    ),
    (
        "tau2 ids without tau2 data",
        _job(tasks={"kind": "tau2", "domain": "retail", "ids": ["0"]}),
        422,
        ("--tau2-dir",),
    ),
    ("oracle on one side", _job(agent="oracle", user="scripted"), 422, ("oracle", "both")),
    ("fault rate without scripted agent", _job(fault_rate=0.5), 422, ("fault_rate", "scripted")),
    ("fault rate above 1", _job(agent="scripted", user="scripted", fault_rate=1.5), 422, ("fault_rate", "1.5")),
    ("unknown policy kind", _job(agent="gpt", user="oracle"), 422, ("agent",)),
    ("llm without urls", _job(agent={"urls": [], "model": "m"}, user="scripted"), 422, ("urls",)),
    ("llm bad url", _job(agent={"urls": ["ftp://x"], "model": "m"}, user="scripted"), 422, ("ftp://x",)),
    ("llm bad top_p", _job(agent={"urls": ["http://h:1"], "model": "m", "top_p": 2}, user="scripted"), 422, ("top_p",)),
    ("bad caps", _job(caps={"max_agent_turns": 0}), 422, ("max_agent_turns",)),
    ("too many samples", _job(samples_per_task=64), 422, ("samples_per_task is 64", "--max-samples-per-task")),
    (
        "job too large",
        _job(tasks={"kind": "sample", "domain": "retail", "n": 400}, samples_per_task=32),
        422,
        ("12800 episodes", "--max-job-episodes"),
    ),
    ("request too large", _job(name="x" * 70_000), 413, ("larger than",)),
]


async def test_every_invalid_submission_is_refused_with_a_message(tmp_path: Path) -> None:
    """Malformed bodies, bad values, impossible combinations and limits: 400, 413 or 422, each explained."""
    async with (
        running_daemon(tmp_path, max_samples_per_task=32, max_job_episodes=10_000, max_request_bytes=64_000) as daemon,
        httpx.AsyncClient(base_url=daemon.url) as http,
    ):
        for name, body, status, words in SUBMIT_CASES:
            content = body if isinstance(body, bytes) else json.dumps(body).encode()
            reply = await http.post("/v1/jobs", content=content)
            assert reply.status_code == status, (name, reply.text)
            message = reply.json()["error"]["message"]
            assert reply.json()["error"]["status"] == status
            for word in words:
                assert word in message, (name, message)
        assert daemon.jobs == {}  # nothing refused was started


async def test_inline_tasks_must_be_unique_and_set_in_a_known_world(tmp_path: Path) -> None:
    """Inline tasks: repeated ids, mixed worlds and unknown worlds are 422s naming the task."""
    tasks = _inline_tasks(2)
    async with running_daemon(tmp_path) as daemon, httpx.AsyncClient(base_url=daemon.url) as http:
        repeated = _job(tasks={"kind": "inline", "tasks": [tasks[0], tasks[0]]})
        reply = await http.post("/v1/jobs", json=repeated)
        assert reply.status_code == 422 and "tasks.tasks[1]" in reply.json()["error"]["message"]

        other_world = dict(tasks[1], world="synthetic:seed=9")
        reply = await http.post("/v1/jobs", json=_job(tasks={"kind": "inline", "tasks": [tasks[0], other_world]}))
        assert reply.status_code == 422 and "differs" in reply.json()["error"]["message"]

        unknown = [dict(task, world="mars") for task in tasks]
        reply = await http.post("/v1/jobs", json=_job(tasks={"kind": "inline", "tasks": unknown}))
        assert reply.status_code == 422 and "'mars'" in reply.json()["error"]["message"]

        tau2 = [dict(task, world="tau2") for task in tasks]
        reply = await http.post("/v1/jobs", json=_job(tasks={"kind": "inline", "tasks": tau2}))
        assert reply.status_code == 422 and "--tau2-dir" in reply.json()["error"]["message"]

        reply = await http.post("/v1/jobs", json=_job(tasks={"kind": "inline", "tasks": tasks}))
        assert reply.status_code == 201


async def test_routes_methods_jobs_cursors_and_params_are_checked(tmp_path: Path) -> None:
    """404 unknown route or job, 405 wrong method, 409 cancelling a finished job, 400/422 bad stream params."""
    async with running_daemon(tmp_path) as daemon, httpx.AsyncClient(base_url=daemon.url) as http:
        reply = await http.get("/v2/jobs")
        assert reply.status_code == 404 and "/v1" in reply.json()["error"]["message"]
        reply = await http.put("/v1/jobs")
        assert reply.status_code == 405 and "PUT" in reply.json()["error"]["message"]
        assert "POST" in reply.headers["Allow"]
        for method, path in (
            ("GET", "/v1/jobs/job-nope"),
            ("DELETE", "/v1/jobs/job-nope"),
            ("GET", "/v1/jobs/job-nope/results"),
            ("POST", "/v1/jobs/job-nope/ack"),
        ):
            reply = await http.request(method, path, json={"cursor": 1} if method == "POST" else None)
            assert reply.status_code == 404, path
            assert "job-nope" in reply.json()["error"]["message"]

        created = await http.post("/v1/jobs", json=SMALL)
        assert created.status_code == 201
        job_id = created.json()["id"]
        assert created.headers["Location"] == f"/v1/jobs/{job_id}"
        await wait_for(lambda: daemon.jobs[job_id].final)

        results = f"/v1/jobs/{job_id}/results"
        for params, status, word in (
            ({"after": "abc"}, 400, "after must be a whole number"),
            ({"after": "-1"}, 400, "after must be >= 0"),
            ({"limit": "0"}, 400, "limit must be >= 1"),
            ({"follow": "maybe"}, 400, "follow must be true or false"),
            ({"cursor": "3"}, 400, "unknown query parameter"),
            ({"after": "3"}, 422, "beyond the job's 2 trajectories"),
        ):
            reply = await http.get(results, params=params)
            assert reply.status_code == status, params
            assert word in reply.json()["error"]["message"]

        ack = f"/v1/jobs/{job_id}/ack"
        for body, status, word in (
            ({"cursor": 3}, 422, "beyond the 2 trajectories"),
            ({"cursor": -1}, 422, "cursor must be >= 0"),
            ({"position": 1}, 422, "position"),
            ({}, 422, "cursor"),
        ):
            reply = await http.post(ack, json=body)
            assert reply.status_code == status, body
            assert word in reply.json()["error"]["message"]

        reply = await http.delete(f"/v1/jobs/{job_id}")
        assert reply.status_code == 409 and "already ended (done)" in reply.json()["error"]["message"]

        reply = await http.post("/v1/backends/pause", json={"urls": ["not a url"]})
        assert reply.status_code == 422 and "not a url" in reply.json()["error"]["message"]
        reply = await http.post("/v1/backends/pause", json={"policy_version": "v2"})
        assert reply.status_code == 422 and "resume" in reply.json()["error"]["message"]
        reply = await http.post("/v1/backends/resume", json={"url": "http://h:1"})
        assert reply.status_code == 422 and "url" in reply.json()["error"]["message"]


async def test_too_many_active_jobs_is_a_429_with_retry_after(tmp_path: Path) -> None:
    """Past ``max_active_jobs`` unfinished jobs a submission is refused with 429 and Retry-After."""
    async with running_daemon(tmp_path, max_active_jobs=1) as daemon, httpx.AsyncClient(base_url=daemon.url) as http:
        # A paused LLM job stays active: its episodes wait for the resume.
        await http.post("/v1/backends/pause", json={})
        llm = _job(agent={"urls": ["http://127.0.0.1:9"], "model": "m"}, user="scripted")
        assert (await http.post("/v1/jobs", json=llm)).status_code == 201
        reply = await http.post("/v1/jobs", json=SMALL)
        assert reply.status_code == 429 and reply.headers["Retry-After"] == "10"
        assert "--max-active-jobs 1" in reply.json()["error"]["message"]


async def test_the_client_raises_the_daemons_message(tmp_path: Path) -> None:
    """The Python client turns a 4xx into a DaemonError carrying the status and the daemon's words."""
    async with running_daemon(tmp_path) as daemon, AsyncDaemonClient(daemon.url) as client:
        with pytest.raises(DaemonError) as caught:
            await client.submit(JobRequest(tasks=SampleTasks(domain="nowhere", n=1), agent="oracle", user="oracle"))
        assert caught.value.status == 422 and "'nowhere'" in str(caught.value)
        with pytest.raises(DaemonError) as missing:
            [t async for t in client.stream("job-missing")]
        assert missing.value.status == 404
