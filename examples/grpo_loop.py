"""A minimal GRPO trainer loop against the rollout daemon (``cove-async serve``).

Each step submits a job of ``--tasks`` tasks x ``--group`` samples with group delivery, consumes
the groups as they finish, computes group-relative advantages
``(reward - group mean) / (group std + eps)``, acknowledges what it consumed, and then does what
a trainer does around a weight update: pause the servers, (update), resume with the new policy
version. The "update" here is a no-op: this shows the data flow, not learning.

Run it against a daemon you started::

    cove-async serve --state-dir /tmp/cove-state &
    python examples/grpo_loop.py --daemon http://127.0.0.1:8321

or let it start a daemon (and, with ``--simulated-server``, an OpenAI-compatible simulated
inference server playing the agent) inside this process::

    python examples/grpo_loop.py --spawn --steps 3
    python examples/grpo_loop.py --spawn --simulated-server --steps 3

Without an agent server the scripted agent plays, spoiling ``--fault-rate`` of its episodes
on purpose so that rewards within a group differ; the spawned simulated server garbles the
tool-call arguments of ``--fault-rate / 10`` of its replies (an agent turn in ten, roughly, so
a similar share of episodes fail) for the same reason.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from anyio.from_thread import BlockingPortal, start_blocking_portal

from cove_async.client import DaemonClient, JobRequest, LLMBackend, SampleTasks, StreamedTrajectory, groups

EPS = 1e-6


def advantages(rewards: list[float]) -> list[float]:
    """GRPO's group-relative advantages: (reward - mean) / (std + eps), population std."""
    mean = statistics.fmean(rewards)
    std = statistics.pstdev(rewards)
    return [(r - mean) / (std + EPS) for r in rewards]


def _tokens(trajectory: StreamedTrajectory) -> int:
    """Completion token ids the server returned for the agent's turns (0 without an LLM agent)."""
    return sum(len(extra.get("token_ids") or ()) for extra in trajectory.extras)


@contextlib.contextmanager
def _spawned(simulated_server: bool, fault_rate: float) -> Iterator[tuple[str, str | None]]:
    """A daemon (and maybe a simulated server) on free ports, run by an event loop in a thread."""
    from cove_async._logging import configure_logging
    from cove_async.daemon import Daemon, DaemonConfig

    configure_logging(level="error")
    with tempfile.TemporaryDirectory() as state, start_blocking_portal("asyncio", {"use_uvloop": True}) as portal:
        server_url = _start_server(portal, fault_rate) if simulated_server else None
        daemon = Daemon(DaemonConfig(state_dir=Path(state), port=0, scrape_interval_s=0))
        future, url = portal.start_task(daemon.run)
        try:
            yield url, server_url
        finally:
            future.cancel()


def _start_server(portal: BlockingPortal, fault_rate: float) -> str:
    """The simulated server playing the scripted agent; a share of its replies carry tool-call
    arguments that are not JSON (a model's mistake), which fails those episodes: rewards differ."""
    from cove_async.mockllm import FaultRates, LatencyModel, MockLLMServer
    from cove_async.mockllm._scripted import scripted_responders

    server = MockLLMServer(
        latency=LatencyModel(ttft_s=0.005, per_token_s=0.0002),
        faults=FaultRates(bad_tool_arguments=fault_rate / 10),
        responders=scripted_responders(),
    )
    _, url = portal.start_task(lambda task_status: server.run(host="127.0.0.1", port=0, task_status=task_status))
    return f"{url}/v1"


def train(client: DaemonClient, args: argparse.Namespace, agent_url: str | None) -> list[dict[str, object]]:
    """Run ``args.steps`` steps; returns one report per step."""
    reports = []
    version = "step-0"
    for step in range(args.steps):
        started = time.perf_counter()
        if agent_url:
            agent: LLMBackend | Literal["scripted"] = LLMBackend(
                urls=(agent_url,),
                model=args.model,
                temperature=1.0,
                extra_body={"logprobs": True, "return_token_ids": True},
            )
        else:
            agent = "scripted"
        job = client.submit(
            JobRequest(
                tasks=SampleTasks(domain=args.domain, n=args.tasks, seed=step),
                samples_per_task=args.group,
                agent=agent,
                user="scripted",
                fault_rate=0.0 if agent_url else args.fault_rate,
                policy_version=version,
                group=True,
                name=f"grpo-step-{step}",
            )
        )
        rewards: list[float] = []
        advs: list[float] = []
        tokens = 0
        informative = 0
        for group in groups(client.stream(job.id), args.group):
            group_rewards = [t.reward for t in group]
            group_advs = advantages(group_rewards)
            rewards += group_rewards
            advs += group_advs
            tokens += sum(_tokens(t) for t in group)
            informative += len(set(group_rewards)) > 1  # a group with one reward teaches nothing
            # A real trainer would build its batch from t.messages / t.extras and these advantages.
            client.ack(job.id, group[-1].cursor)
        elapsed = time.perf_counter() - started
        # The weight update: stop new LLM calls, (load weights), resume tagging the new version.
        client.pause()
        version = f"step-{step + 1}"
        client.resume(policy_version=version)
        reports.append(
            {
                "step": step,
                "job": job.id,
                "trajectories": len(rewards),
                "groups": len(rewards) // args.group,
                "informative_groups": informative,
                "reward_mean": round(statistics.fmean(rewards), 4),
                "reward_std": round(statistics.pstdev(rewards), 4),
                "advantage_mean": round(statistics.fmean(advs), 6),
                "advantage_abs_max": round(max(abs(a) for a in advs), 4),
                "completion_token_ids": tokens,
                "seconds": round(elapsed, 2),
                "trajectories_per_s": round(len(rewards) / elapsed, 1),
            }
        )
        sys.stdout.write(json.dumps(reports[-1]) + "\n")
        sys.stdout.flush()
    return reports


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--daemon", default="http://127.0.0.1:8321", help="the daemon's URL")
    parser.add_argument("--token", help="the daemon's bearer token")
    parser.add_argument("--spawn", action="store_true", help="start a daemon in this process instead")
    parser.add_argument(
        "--simulated-server", action="store_true", help="with --spawn: the agent is an LLM on a simulated server"
    )
    parser.add_argument("--agent-url", help="the policy's OpenAI-compatible server (default: the scripted agent)")
    parser.add_argument("--model", default="scripted-agent", help="the policy's model name on that server")
    parser.add_argument("--domain", default="airline", choices=("airline", "retail"))
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=16, help="tasks per step (prompts)")
    parser.add_argument("--group", type=int, default=8, help="samples per task (GRPO group size)")
    parser.add_argument("--fault-rate", type=float, default=0.3, help="scripted agent: share of spoiled episodes")
    args = parser.parse_args(argv)

    with contextlib.ExitStack() as stack:
        url, agent_url = args.daemon, args.agent_url
        if args.spawn:
            url, server_url = stack.enter_context(_spawned(args.simulated_server, args.fault_rate))
            agent_url = agent_url or server_url
        client = stack.enter_context(DaemonClient(url, token=args.token))
        reports = train(client, args, agent_url)
    total = sum(int(str(r["trajectories"])) for r in reports)
    sys.stderr.write(json.dumps({"steps": len(reports), "trajectories": total}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
