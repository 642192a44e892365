"""Settings: out-of-range values fail with an error naming the field; the latency arithmetic."""

from __future__ import annotations

import math

import msgspec
import pytest

from cove_async.errors import ConfigError
from cove_async.mockllm import Fault, FaultRates, LatencyModel


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"ttft_s": -0.1}, "ttft_s"),
        ({"ttft_s": math.inf}, "ttft_s"),
        ({"per_token_s": -1.0}, "per_token_s"),
        ({"batch_slowdown": -0.5}, "batch_slowdown"),
        ({"batch_slowdown": math.nan}, "batch_slowdown"),
        ({"max_running": 0}, "max_running"),
    ],
)
def test_bad_latency_names_the_field(kwargs: dict[str, float], field: str) -> None:
    with pytest.raises(ConfigError, match=rf"LatencyModel\.{field} must be"):
        LatencyModel(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("field", [f.value for f in Fault])
def test_a_rate_outside_zero_one_names_the_fault(field: str) -> None:
    with pytest.raises(ConfigError, match=rf"FaultRates\.{field} must be between 0 and 1, got 1.5"):
        FaultRates(**{field: 1.5})


def test_rates_adding_up_past_one_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"add up to 1\.1"):
        FaultRates(error_500=0.6, hang=0.5)
    with pytest.raises(ConfigError, match=r"FaultRates\.retry_after_s"):
        FaultRates(retry_after_s=-1.0)


def test_settings_decoded_from_json_get_the_same_checks() -> None:
    with pytest.raises(ConfigError, match=r"LatencyModel\.ttft_s"):
        msgspec.json.decode(b'{"ttft_s": -2}', type=LatencyModel)
    with pytest.raises(msgspec.ValidationError, match="unknown field `ttft`"):
        msgspec.json.decode(b'{"ttft": 2}', type=LatencyModel)
    with pytest.raises(msgspec.ValidationError, match=r"\$.hang"):
        msgspec.json.decode(b'{"hang": "often"}', type=FaultRates)


def test_decode_time_grows_with_the_batch() -> None:
    model = LatencyModel(per_token_s=0.01, batch_slowdown=0.5)
    assert model.decode_s(1, running=10) == 0.0  # the first token is the TTFT's
    assert model.decode_s(11, running=1) == pytest.approx(0.1)
    assert model.decode_s(11, running=3) == pytest.approx(0.1 * (1 + 0.5 * 2))
    assert LatencyModel().decode_s(1000, running=1000) == 0.0


def test_uniform_rates_spread_over_answered_faults() -> None:
    rates = FaultRates.uniform(0.12).rates()
    assert rates[Fault.HANG] == 0.0
    assert sum(rates.values()) == pytest.approx(0.12)
    assert len({v for f, v in rates.items() if f is not Fault.HANG}) == 1
    with pytest.raises(ConfigError, match="between 0 and 1"):
        FaultRates.uniform(2.0)
