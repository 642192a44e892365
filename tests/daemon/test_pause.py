"""Weight-update pauses against the simulated server: no episode fails, versions move on."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import anyio
import pytest

from cove_async.backends import (
    BackendConnectionError,
    BackendStatusError,
    ChatRequest,
    ChatResponse,
    Usage,
)
from cove_async.chat import Message
from cove_async.client import AsyncDaemonClient, JobRequest, LLMBackend, SampleTasks
from cove_async.daemon import PausableBackend, PauseBoard, PauseGate, group_key, server_key
from cove_async.mockllm import LatencyModel, running_server
from cove_async.mockllm._scripted import scripted_responders
from tests.daemon._support import running_daemon, wait_for

pytestmark = pytest.mark.anyio


@pytest.mark.slow
async def test_a_pause_mid_job_fails_no_episode_and_tags_the_new_version(tmp_path: Path) -> None:
    """Server and daemon paused mid-job: calls meet 503s and wait; after the resume every episode finishes."""
    latency = LatencyModel(ttft_s=0.01, per_token_s=0.0005)
    async with (
        running_server(latency=latency, responders=scripted_responders()) as server,
        running_daemon(tmp_path) as daemon,
        AsyncDaemonClient(daemon.url) as client,
    ):
        agent = LLMBackend(urls=(server.base_url,), model="scripted-agent", temperature=1.0)
        job = await client.submit(
            JobRequest(
                tasks=SampleTasks(domain="airline", n=6, seed=4),
                samples_per_task=4,
                agent=agent,
                user="scripted",
                policy_version="v1",
            )
        )
        first = [t async for t in client.stream(job.id, limit=2)]
        assert all(t.policy_versions == ("v1",) for t in first)

        # The trainer pauses the server first (as vLLM would refuse requests during the update)...
        server.pause(retry_after_s=1.0)
        with anyio.fail_after(20):
            await server.wait_until(lambda s: s.paused_answers >= 1)
        # ... then tells the daemon, which holds new calls and the requests already refused.
        await client.pause([server.base_url])
        await wait_for(lambda: daemon.board.waiting >= 1)
        in_flight_before = daemon.jobs[job.id].status().written
        server.resume()
        status = await client.resume(policy_version="v2")
        assert status.all is False and status.urls == ()

        rest = [t async for t in client.stream(job.id, after=2)]
        final = await client.job(job.id)

    assert final.state == "done" and final.written == 24 and final.failed == 0
    trajectories = first + rest
    assert all(t.termination_reason.value not in ("agent_error", "user_error") for t in trajectories)
    assert server.statistics().paused_answers >= 1
    versions = {v for t in trajectories for v in t.policy_versions}
    assert versions == {"v1", "v2"}
    assert in_flight_before < 24
    # Every agent turn records the version it was produced under.
    for trajectory in trajectories:
        agent_turns = [turn for turn in trajectory.turns if turn.role == "agent"]
        assert agent_turns and all(turn.policy_version in ("v1", "v2") for turn in agent_turns)


class _Flaky:
    """A backend whose first call waits for ``release`` and then fails the way a pausing server does."""

    def __init__(self, error: Exception) -> None:
        self.error: Exception | None = error
        self.release = anyio.Event()
        self.route_keys: list[str] = []

    async def complete(self, request: ChatRequest, *, route_key: str) -> ChatResponse:
        self.route_keys.append(route_key)
        if self.error is not None:
            await self.release.wait()
            error, self.error = self.error, None
            raise error
        return ChatResponse(message=Message(role="assistant", content="ok"), finish_reason="stop", usage=Usage())


REQUEST = ChatRequest(messages=(Message(role="user", content="hi"),))


@pytest.mark.parametrize(
    "error",
    [
        BackendStatusError("paused", status=503, snippet=""),
        BackendStatusError("slow down", status=429, snippet=""),
        BackendConnectionError("reset"),
    ],
    ids=["503", "429", "connection"],
)
async def test_a_call_refused_because_of_a_pause_is_asked_again_after_the_resume(error: Exception) -> None:
    """A call in flight when a pause starts, refused by the server, waits for the resume and is asked again."""
    board = PauseBoard()
    inner = _Flaky(error)
    backend = PausableBackend(inner, servers={"http://s:1"}, board=board)
    results: list[ChatResponse] = []
    async with anyio.create_task_group() as tg:

        async def call() -> None:
            results.append(await backend.complete(REQUEST, route_key="task-7/3"))

        tg.start_soon(call)
        await wait_for(lambda: len(inner.route_keys) == 1)  # in flight
        board.pause(["http://s:1"])
        inner.release.set()  # the server refuses it because of the pause
        await wait_for(lambda: board.waiting == 1)
        assert inner.route_keys == ["task-7"] and not results  # held, not retried while paused
        board.resume(["http://s:1"])
    assert results and results[0].message.content == "ok"
    assert inner.route_keys == ["task-7", "task-7"]  # one group, one server


async def test_new_calls_wait_for_the_resume() -> None:
    """While a backend's server is paused, a new call does not reach it."""
    board = PauseBoard()
    inner = _Flaky(BackendStatusError("unused", status=503, snippet=""))
    inner.error = None
    backend = PausableBackend(inner, servers={"http://s:1"}, board=board)
    board.pause()
    async with anyio.create_task_group() as tg:
        tg.start_soon(partial(backend.complete, REQUEST, route_key="t/0"))
        await wait_for(lambda: board.waiting == 1)
        assert inner.route_keys == []
        board.resume()
    assert inner.route_keys == ["t"]


async def test_a_failure_without_a_pause_is_raised() -> None:
    """A 503 while nothing is paused is the backend's to report: no wait, no retry here."""
    board = PauseBoard()
    inner = _Flaky(BackendStatusError("down", status=503, snippet=""))
    inner.release.set()
    backend = PausableBackend(inner, servers={"http://s:1"}, board=board)
    with pytest.raises(BackendStatusError):
        await backend.complete(REQUEST, route_key="t/0")


async def test_a_paused_jobs_intake_yields_its_slots_to_other_jobs() -> None:
    """A job whose server is paused takes no shared slot; a job on another server gets them."""
    board = PauseBoard()
    shared = anyio.Semaphore(1, max_value=1)
    paused_job = PauseGate(shared, servers={"http://a:1"}, board=board)
    other_job = PauseGate(shared, servers=set(), board=board)
    board.pause(["http://a:1"])
    order: list[str] = []
    async with anyio.create_task_group() as tg:

        async def take(name: str, gate: PauseGate) -> None:
            await gate.acquire()
            order.append(name)
            gate.release()

        tg.start_soon(take, "paused", paused_job)
        await wait_for(lambda: board.waiting == 1)
        await take("other", other_job)
        assert order == ["other"] and shared.value == 1
        board.resume(["http://a:1"])
    assert order == ["other", "paused"]


def test_server_keys_and_group_keys() -> None:
    """A server is the same whatever its spelling; a route key's group is its task id."""
    same = {server_key(u) for u in ("http://h:8000", "http://h:8000/", "http://h:8000/v1", "http://h:8000/v1/")}
    assert same == {"http://h:8000"}
    assert server_key("https://h/v1/chat/completions") == "https://h:443"
    assert group_key("retail-s0-000001/15") == "retail-s0-000001"
    assert group_key("odd/id/with/slashes/2") == "odd/id/with/slashes"
    with pytest.raises(ValueError, match="http"):
        server_key("h:8000")
