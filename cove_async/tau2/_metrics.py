"""tau2-bench's summary metrics: average reward and pass^k.

pass^k (Yao et al. 2024) is the chance that k trials drawn without replacement from a task's n
trials all succeed, ``C(c, k) / C(n, k)`` with c successes, averaged over tasks. As in tau2,
k runs from 1 to the fewest trials any task has, and conversations lost to an infrastructure
error count in neither metric.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

import msgspec

from cove_async.chat import TerminationReason

if TYPE_CHECKING:
    from cove_async.tau2._evaluate import Tau2Verdict

__all__ = ("Tau2Metrics", "is_successful", "pass_hat_k", "pass_hat_ks", "tau2_metrics")


def is_successful(reward: float) -> bool:
    """Whether a reward counts as a success (tau2 allows 1e-6 either side of 1)."""
    return 1 - 1e-6 <= reward <= 1 + 1e-6


def pass_hat_k(num_trials: int, successes: int, k: int) -> float:
    """pass^k of one task: ``C(successes, k) / C(num_trials, k)``.

    Raises:
        ValueError: ``k`` is below 1 or above ``num_trials``, or ``successes`` is outside
            ``0..num_trials``.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if num_trials < k:
        raise ValueError(f"k must be <= the number of trials ({num_trials}), got {k}")
    if not 0 <= successes <= num_trials:
        raise ValueError(f"successes must be in 0..{num_trials}, got {successes}")
    return math.comb(successes, k) / math.comb(num_trials, k)


def pass_hat_ks(successes_by_task: Mapping[str, Sequence[bool]]) -> dict[int, float]:
    """pass^k for k = 1 .. the fewest trials of any task, each averaged over the tasks.

    Args:
        successes_by_task: task id to the success of each of its trials.

    Returns:
        k to the mean pass^k; empty when there are no tasks.

    Raises:
        ValueError: a task has no trials.
    """
    if not successes_by_task:
        return {}
    empty = [task for task, trials in successes_by_task.items() if not trials]
    if empty:
        raise ValueError(f"tasks without trials: {empty}")
    max_k = min(len(trials) for trials in successes_by_task.values())
    return {
        k: sum(pass_hat_k(len(trials), sum(trials), k) for trials in successes_by_task.values())
        / len(successes_by_task)
        for k in range(1, max_k + 1)
    }


class Tau2Metrics(msgspec.Struct, frozen=True, kw_only=True):
    """tau2's headline numbers over a set of graded conversations.

    Attributes:
        simulations: conversations counted.
        tasks: distinct tasks among them.
        excluded: conversations left out because they ended in an infrastructure error.
        avg_reward: the mean reward per conversation (0.0 when none are counted).
        pass_hat_ks: k to pass^k.
    """

    simulations: int
    tasks: int
    excluded: int
    avg_reward: float
    pass_hat_ks: dict[int, float]


def tau2_metrics(verdicts: Iterable[Tau2Verdict], *, db_only: bool = False) -> Tau2Metrics:
    """Average reward and pass^k over ``verdicts``, as tau2 reports them.

    Args:
        verdicts: one per conversation; a task's trials are the verdicts with its id.
        db_only: use each verdict's DB-only reward instead of the full reward.

    Raises:
        ValueError: a counted verdict's reward is unknown (an NL assertion was not judged);
            configure a judge, or pass ``db_only=True``.
    """
    counted = []
    excluded = 0
    for verdict in verdicts:
        if verdict.termination is TerminationReason.INFRASTRUCTURE_ERROR:
            excluded += 1
        else:
            counted.append(verdict)
    rewards: list[tuple[str, float]] = []
    unknown = []
    for verdict in counted:
        reward = verdict.db_reward if db_only else verdict.reward
        if reward is None:
            unknown.append(verdict.task_id)
        else:
            rewards.append((verdict.task_id, reward))
    if unknown:
        raise ValueError(
            f"the reward of tasks {sorted(set(unknown))} is unknown (NL assertions not judged): "
            "configure a judge, or use db_only=True"
        )
    successes: dict[str, list[bool]] = {}
    for task_id, reward in rewards:
        successes.setdefault(task_id, []).append(is_successful(reward))
    return Tau2Metrics(
        simulations=len(rewards),
        tasks=len(successes),
        excluded=excluded,
        avg_reward=sum(r for _, r in rewards) / len(rewards) if rewards else 0.0,
        pass_hat_ks=pass_hat_ks(successes),
    )
