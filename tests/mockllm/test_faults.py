"""Fault draws: seeded, per arrival, at their rates; queued faults go first without shifting the rest."""

from __future__ import annotations

from collections import Counter

import pytest

from cove_async.mockllm import Fault, FaultRates, FaultSchedule

RATES = FaultRates(error_500=0.05, error_503=0.02, hang=0.01, malformed_json=0.1, empty_choices=0.03)


def _draw(schedule: FaultSchedule, n: int) -> list[Fault | None]:
    return [schedule.next() for _ in range(n)]


def test_the_same_seed_gives_the_same_faults() -> None:
    assert _draw(FaultSchedule(RATES, seed=3), 500) == _draw(FaultSchedule(RATES, seed=3), 500)
    assert _draw(FaultSchedule(RATES, seed=3), 500) != _draw(FaultSchedule(RATES, seed=4), 500)


def test_each_fault_comes_at_its_rate() -> None:
    n = 100_000
    counts = Counter(_draw(FaultSchedule(RATES, seed=0), n))
    for fault, rate in RATES.rates().items():
        sigma = (n * rate * (1 - rate)) ** 0.5
        assert abs(counts[fault] - n * rate) <= 5 * sigma + 1, fault
    assert counts[Fault.BAD_TOOL_ARGUMENTS] == 0 and counts[Fault.ERROR_429] == 0


def test_no_rates_no_faults() -> None:
    assert set(_draw(FaultSchedule(FaultRates(), seed=0), 1000)) == {None}
    assert set(_draw(FaultSchedule(FaultRates(hang=1.0), seed=0), 100)) == {Fault.HANG}


def test_queued_faults_come_first_and_keep_later_draws_in_place() -> None:
    plain = _draw(FaultSchedule(RATES, seed=9), 50)
    schedule = FaultSchedule(RATES, seed=9)
    schedule.queue([Fault.ERROR_429, None, Fault.HANG])
    assert schedule.queued == 3
    drawn = _draw(schedule, 50)
    assert drawn[:3] == [Fault.ERROR_429, None, Fault.HANG]
    assert drawn[3:] == plain[3:]
    assert schedule.queued == 0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_rate_of_one_faults_every_request(seed: int) -> None:
    assert _draw(FaultSchedule(FaultRates(bad_tool_arguments=1.0), seed=seed), 200) == [Fault.BAD_TOOL_ARGUMENTS] * 200
