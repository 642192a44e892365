"""Tool output text: the fast path must give tau2's ``json.dumps`` bytes for every value."""

from __future__ import annotations

import json
import math
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cove_async.domains import get_domain, render
from cove_async.run import load_world
from cove_async.sandbox import Snapshot


def tau2(value: object) -> str:
    """How tau2 prints a tool result (``json.dumps`` of the dumped model, or of each list item)."""
    if isinstance(value, list):
        return json.dumps([msgspec.to_builtins(item) for item in value], default=str)
    return json.dumps(msgspec.to_builtins(value), default=str)


floats = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from(
    [1e16, 1e-5, 1e-4, 9.999e15, 1.5e300, 5e-324, -0.0, 1e15, 0.0001234, 123456789012345678.0]
)
scalars = (
    st.none() | st.booleans() | st.integers() | floats | st.text() | st.text(alphabet=st.characters(max_codepoint=0x7F))
)
trees = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=3000)
@given(trees)
def test_any_json_value_renders_as_tau2_prints_it(value: Any) -> None:
    # Wrapped, since a bare string or number is printed with str() and never encoded.
    for wrapped in ([value], {"value": value}):
        assert render(wrapped) == tau2(wrapped)


class Payment(msgspec.Struct):
    method: str
    amount: float
    note: str | None = None


@pytest.mark.parametrize(
    "payment",
    [
        Payment("gift_card_1", 0.00001),  # msgspec: 0.00001, repr: 1e-05
        Payment("gift_card_1", 1e16),  # msgspec: 1e16, repr: 1e+16
        Payment("gift_card_1", math.nan),  # msgspec: null, repr: NaN
        Payment("gift_card_1", -math.inf),
        Payment("carte cadeau", 12.5, "café"),  # escaped past ASCII
        Payment("x\x7fy", 12.5, "tab\tand\x01control"),
        Payment("card 3e", 1.0),  # looks like an exponent, is a name: still exact
    ],
)
def test_values_the_fast_encoder_writes_differently_are_still_exact(payment: Payment) -> None:
    assert render(payment) == tau2(payment)
    assert render([payment, payment]) == tau2([payment, payment])


@pytest.mark.parametrize("domain", ["retail", "airline"])
def test_every_record_of_a_world_renders_as_tau2_prints_it(domain: str) -> None:
    snapshot: Snapshot = load_world(get_domain(domain), 0)
    checked = 0
    for kind in snapshot.schema.kinds:
        for key in snapshot.keys(kind):
            record = snapshot.peek(kind, key)
            assert render(record) == tau2(record)
            checked += 1
    assert checked > 500


def test_scalars_are_plain_text() -> None:
    assert render("already text") == "already text"
    assert (render(True), render(3), render(2.5)) == ("True", "3", "2.5")
