"""Results streams: every trajectory exactly once, across disconnects and a daemon restart."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import anyio
import httpx
import pytest

from cove_async.client import AsyncDaemonClient, JobRequest, SampleTasks, StreamedTrajectory, groups
from tests.daemon._support import TcpProxy, running_daemon, wait_for

pytestmark = pytest.mark.anyio


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


@pytest.mark.slow
@pytest.mark.parametrize(
    "anyio_backend", [("asyncio", {"use_uvloop": True})], ids=["uvloop"]
)  # the daemon's loop; 8 s a run
async def test_2000_trajectories_arrive_once_across_two_disconnects_and_a_restart(tmp_path: Path) -> None:
    """A client cut off twice and a daemon killed mid-job still yield each of 2,000 trajectories once, groups whole."""
    request = JobRequest(
        tasks=SampleTasks(domain="retail", n=125, seed=3),
        samples_per_task=16,
        agent="oracle",
        user="oracle",
        group=True,
    )
    received: list[StreamedTrajectory] = []
    async with anyio.create_task_group() as outer:
        first = running_daemon(tmp_path, concurrency=16)
        daemon = await first.__aenter__()
        proxy = TcpProxy(_port(daemon.url))
        proxy_port = await outer.start(proxy.serve)
        client = AsyncDaemonClient(f"http://127.0.0.1:{proxy_port}", backoff_s=0.05, max_reconnects=40)
        async with client:
            job = await client.submit(request)
            async for trajectory in client.stream(job.id):
                received.append(trajectory)
                if len(received) == 100:
                    # Kill the daemon mid-job and start another on the same state directory.
                    written = daemon.jobs[job.id].feed.count
                    assert written < 2000, "the job finished before the restart; the test needs it mid-way"
                    await first.__aexit__(None, None, None)
                    second = running_daemon(tmp_path, concurrency=16)
                    daemon = await second.__aenter__()
                    proxy.upstream_port = _port(daemon.url)
                    proxy.sever()
                elif len(received) in (700, 1300):
                    proxy.sever()  # a network cut: the client reconnects after its last cursor
            status = await client.job(job.id)
        await second.__aexit__(None, None, None)
        outer.cancel_scope.cancel()

    assert status.state == "done" and status.written == 2000 and status.failed == 0
    assert [t.cursor for t in received] == list(range(1, 2001))
    keys = Counter((t.task_id, t.sample_index) for t in received)
    assert len(keys) == 2000 and max(keys.values()) == 1
    assert proxy.connections >= 4  # the first connection, two cuts, the restart
    # Group delivery: each task's 16 samples arrive together, whichever daemon wrote them.
    batches = list(groups(received, 16))
    assert len(batches) == 125
    assert all(len({t.task_id for t in batch}) == 1 and len(batch) == 16 for batch in batches)
    assert all(t.reward == t.score == 1.0 for t in received)


async def test_a_stream_resumes_after_the_acknowledged_cursor(tmp_path: Path) -> None:
    """Breaking off, acknowledging and reopening without ``after`` continues exactly where the ack left it."""
    async with running_daemon(tmp_path) as daemon, AsyncDaemonClient(daemon.url) as client:
        job = await client.submit(
            JobRequest(
                tasks=SampleTasks(domain="retail", n=6, seed=1), samples_per_task=2, agent="oracle", user="oracle"
            )
        )
        first = [t.cursor async for t in client.stream(job.id, limit=5)]
        assert first == [1, 2, 3, 4, 5]
        await client.ack(job.id, 5)
        rest = [t.cursor async for t in client.stream(job.id)]
        assert rest == list(range(6, 13))
        again = [t.cursor async for t in client.stream(job.id, after=10)]
        assert again == [11, 12]
        status = await client.job(job.id)
        assert status.acked == 5 and status.written == 12


async def test_follow_false_stops_when_caught_up_and_the_end_line_says_why(tmp_path: Path) -> None:
    """``follow=false`` ends with a ``caught_up`` or ``finished`` end line carrying the last cursor."""
    async with running_daemon(tmp_path) as daemon, AsyncDaemonClient(daemon.url) as client:
        job = await client.submit(
            JobRequest(tasks=SampleTasks(domain="retail", n=3, seed=2), agent="oracle", user="oracle")
        )
        await wait_for(lambda: daemon.jobs[job.id].final)
        async with httpx.AsyncClient(base_url=daemon.url) as http:
            reply = await http.get(f"/v1/jobs/{job.id}/results", params={"after": 1, "follow": "false"})
        lines = reply.text.splitlines()
        assert reply.headers["content-type"] == "application/x-ndjson"
        assert [line[:12] for line in lines[:2]] == ['{"cursor":2,', '{"cursor":3,']
        assert lines[-1] == '{"end":true,"state":"done","cursor":3,"reason":"finished"}'
