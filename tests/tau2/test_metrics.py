"""pass^k and the average reward, against values worked out by hand."""

from __future__ import annotations

import pytest

from cove_async.tau2 import (
    ActionResult,
    CommunicateResult,
    DbResult,
    NlResult,
    Status,
    Tau2Verdict,
    TerminationReason,
    is_successful,
    pass_hat_k,
    pass_hat_ks,
    tau2_metrics,
)


@pytest.mark.parametrize(
    ("n", "c", "k", "expected"),
    [
        (4, 2, 1, 2 / 4),
        (4, 2, 2, 1 / 6),  # C(2,2)/C(4,2)
        (4, 2, 3, 0.0),
        (4, 3, 2, 3 / 6),  # C(3,2)/C(4,2)
        (4, 3, 3, 1 / 4),  # C(3,3)/C(4,3)
        (4, 4, 4, 1.0),
        (5, 4, 3, 4 / 10),  # C(4,3)/C(5,3)
        (1, 0, 1, 0.0),
    ],
)
def test_pass_hat_k(n: int, c: int, k: int, expected: float) -> None:
    assert pass_hat_k(n, c, k) == pytest.approx(expected)


@pytest.mark.parametrize(("n", "c", "k"), [(3, 1, 4), (3, 1, 0), (3, 4, 1), (3, -1, 1)])
def test_pass_hat_k_rejects_impossible_arguments(n: int, c: int, k: int) -> None:
    with pytest.raises(ValueError, match="must be"):
        pass_hat_k(n, c, k)


def test_pass_hat_ks_averages_over_tasks_up_to_the_fewest_trials() -> None:
    result = pass_hat_ks(
        {
            "a": [True, True, False, True],  # c=3 of 4: 3/4, 1/2, 1/4, 0
            "b": [True, False, False, False],  # c=1 of 4: 1/4, 0, 0, 0
            "c": [True, True, True],  # c=3 of 3 (fewest trials: k stops at 3): 1, 1, 1
        }
    )
    assert result.keys() == {1, 2, 3}
    assert result[1] == pytest.approx((3 / 4 + 1 / 4 + 1) / 3)
    assert result[2] == pytest.approx((1 / 2 + 0 + 1) / 3)
    assert result[3] == pytest.approx((1 / 4 + 0 + 1) / 3)
    assert pass_hat_ks({}) == {}
    with pytest.raises(ValueError, match="without trials"):
        pass_hat_ks({"a": []})


def test_success_tolerates_rounding_only() -> None:
    assert is_successful(1.0)
    assert is_successful(1 - 5e-7)
    assert not is_successful(1 - 2e-6)
    assert not is_successful(0.0)


def _verdict(task_id: str, reward: float | None, *, db: float = 1.0, termination: str = "user_stop") -> Tau2Verdict:
    return Tau2Verdict(
        task_id=task_id,
        termination=TerminationReason(termination),
        gate_passed=True,
        reward_basis=(),
        reward=reward,
        db_reward=db,
        db=DbResult(status=Status.PASS, reward=db),
        communicate=CommunicateResult(status=Status.PASS, reward=1.0),
        nl_assertions=NlResult(status=Status.NOT_EVALUATED, reward=None),
        actions=ActionResult(status=Status.PASS, reward=1.0),
    )


def test_metrics_exclude_infrastructure_errors_and_average_rewards() -> None:
    verdicts = [
        _verdict("a", 1.0),
        _verdict("a", 0.0),
        _verdict("a", 0.0, termination="infrastructure_error"),
        _verdict("b", 1.0),
        _verdict("b", 1.0),
    ]
    metrics = tau2_metrics(verdicts)
    assert (metrics.simulations, metrics.tasks, metrics.excluded) == (4, 2, 1)
    assert metrics.avg_reward == pytest.approx(3 / 4)
    assert metrics.pass_hat_ks == pytest.approx({1: (1 / 2 + 1) / 2, 2: (0 + 1) / 2})


def test_metrics_refuse_unknown_rewards_unless_db_only() -> None:
    verdicts = [_verdict("a", None, db=1.0), _verdict("a", 0.0, db=0.0)]
    with pytest.raises(ValueError, match=r"\['a'\].*judge"):
        tau2_metrics(verdicts)
    metrics = tau2_metrics(verdicts, db_only=True)
    assert metrics.pass_hat_ks == {1: 0.5, 2: 0.0}
    assert tau2_metrics([]).pass_hat_ks == {}
