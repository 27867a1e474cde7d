"""Numeric conditions compare a payload's number as its decimal text, whatever shortcut the compiled predicate takes
(a float against the bound's nearest double, an int against the bound)."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gamification.conditions import NUMERIC_OPS, conditions_compile

_DECIMAL_COMPARE = {"gt": Decimal.__gt__, "gte": Decimal.__ge__, "lt": Decimal.__lt__, "lte": Decimal.__le__}


def _reference(op: str, value, operand) -> bool:
    """The rule as written: a number (not a bool) compared as `Decimal(str(value))`."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return _DECIMAL_COMPARE[op](Decimal(str(value)), Decimal(str(operand)))


def _neighbours(x: float) -> list[float]:
    return [x, math.nextafter(x, math.inf), math.nextafter(x, -math.inf)]


operands = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=-(10**6), max_value=10**6).map(float),
    st.sampled_from([0.1, 0.2, 0.3, 0.5, 1, 2.5, 1e-7, 0.1 + 0.2, 123456789.123456789, 1e16, 2**53 + 1, 5e-324]),
)
values = st.one_of(
    st.floats(allow_nan=False),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.booleans(),
    st.text(max_size=3),
    st.none(),
)


@settings(max_examples=3000, deadline=None)
@given(op=st.sampled_from(NUMERIC_OPS), operand=operands, value=values)
@example(op="gte", operand=0.3, value=0.1 + 0.2)
@example(op="gt", operand=0.1, value=0.1)
@example(op="lte", operand=2**53 + 1, value=2**53 + 1)
@example(op="lt", operand=2**53 + 1, value=float(2**53))
@example(op="gte", operand=-0.0, value=0.0)
@example(op="gt", operand=1e16, value=1e16 + 2)
def test_a_numeric_condition_answers_as_the_decimal_comparison(op, operand, value):
    predicate = conditions_compile([{"field": "amount", "op": op, "value": operand}])
    tried = _neighbours(value) + _neighbours(float(operand)) if isinstance(value, float) else [value]
    for candidate in tried:
        assert predicate({"amount": candidate}) == _reference(op, candidate, operand), (op, operand, candidate)


@pytest.mark.parametrize("op", NUMERIC_OPS)
def test_a_missing_field_never_matches_a_numeric_condition(op):
    assert conditions_compile([{"field": "amount", "op": op, "value": 1}])({"other": 1}) is False
