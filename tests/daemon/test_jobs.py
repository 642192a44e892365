"""Job lifecycle: list, cancel (and stay cancelled across a restart), ended jobs reload their counts, pauses persist."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from cove_async.client import AsyncDaemonClient, JobRequest, LLMBackend, SampleTasks, Tau2Tasks
from tests.daemon._support import running_daemon, wait_for

pytestmark = pytest.mark.anyio


async def test_a_cancelled_job_ends_its_stream_and_stays_cancelled_after_a_restart(tmp_path: Path) -> None:
    """DELETE stops a running job; its stream ends saying so; a new daemon neither resumes nor forgets it."""
    stuck = JobRequest(
        tasks=SampleTasks(domain="retail", n=2),
        agent=LLMBackend(urls=("http://127.0.0.1:9",), model="m"),
        user="scripted",
        name="stuck",
    )
    done = JobRequest(tasks=SampleTasks(domain="retail", n=3), agent="oracle", user="oracle", name="quick")
    async with running_daemon(tmp_path) as daemon, AsyncDaemonClient(daemon.url) as client:
        await client.pause()  # the LLM job's episodes wait: it is running but never finishes
        first = await client.submit(stuck)
        second = await client.submit(done)
        assert [t.cursor async for t in client.stream(second.id)] == [1, 2, 3]
        await wait_for(lambda: daemon.jobs[first.id].state == "running")
        cancelled = await client.cancel(first.id)
        assert cancelled.id == first.id
        async with httpx.AsyncClient(base_url=daemon.url) as http:
            reply = await http.get(f"/v1/jobs/{first.id}/results")
        assert reply.text.splitlines()[-1] == '{"end":true,"state":"cancelled","cursor":0,"reason":"finished"}'
        assert (await client.cancel(first.id)).state == "cancelled"  # idempotent
        listed = await client.jobs()
        assert [(j.name, j.state) for j in listed] == [("stuck", "cancelled"), ("quick", "done")]

    async with running_daemon(tmp_path) as daemon, AsyncDaemonClient(daemon.url) as client:
        listed = await client.jobs()
        assert [(j.name, j.state, j.written, j.perfect) for j in listed] == [
            ("stuck", "cancelled", 0, 0),
            ("quick", "done", 3, 3),
        ]
        # The pause outlives the restart (a restart mid weight update must not send work to the
        # servers being updated) until the trainer resumes.
        assert daemon.board.paused_all and (await client.resume()).all is False
    async with running_daemon(tmp_path) as daemon:
        assert not daemon.board.paused_all


async def test_tau2_tasks_by_id_run_in_tau2s_world_and_bad_ids_are_refused(tmp_path: Path, tau2_dir: Path) -> None:
    """A job of tau2 benchmark tasks: converted to CoVe tasks, played in tau2's world, graded."""
    ids = ("0", "1", "5", "22")  # retail 22's golden path rewrites an address: imperfect under CoVe
    job = JobRequest(tasks=Tau2Tasks(domain="retail", ids=ids), samples_per_task=2, agent="oracle", user="oracle")
    async with running_daemon(tmp_path, tau2_dir=tau2_dir) as daemon, AsyncDaemonClient(daemon.url) as client:
        status = await client.submit(job)
        assert status.requested == 8
        results = [t async for t in client.stream(status.id)]
        assert sorted((t.task_id, t.sample_index) for t in results) == sorted(
            (f"tau2-retail-{i}", s) for i in ids for s in range(2)
        )
        perfect = {t.task_id for t in results if t.perfect}
        assert perfect == {"tau2-retail-0", "tau2-retail-1", "tau2-retail-5"}
        async with httpx.AsyncClient(base_url=daemon.url) as http:
            body = {
                "tasks": {"kind": "tau2", "domain": "retail", "ids": ["0", "nope"]},
                "agent": "oracle",
                "user": "oracle",
            }
            reply = await http.post("/v1/jobs", json=body)
            assert reply.status_code == 422 and "'nope'" in reply.json()["error"]["message"]
            body = {
                "tasks": {"kind": "tau2", "domain": "retail", "ids": ["0"]},
                "agent": "scripted",
                "user": "scripted",
            }
            reply = await http.post("/v1/jobs", json=body)
            assert reply.status_code == 422 and "LLM user simulator" in reply.json()["error"]["message"]
