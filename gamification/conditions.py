"""Conditions on an event's payload fields, shared by mission tasks and tournament scoring.

Stored as a JSON list of `{"field": ..., "op": ..., "value": ...}`; every condition must hold. Validated once when
saved (`conditions_validate`), compiled once into a predicate (`conditions_compile`) that the pipeline calls per event
without touching the database. A missing field never matches (except for `ne` and `not_in`).

    [{"field": "game_category", "op": "eq", "value": "slots"}, {"field": "bet_amount", "op": "gte", "value": 1.0}]
"""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError

OPS = ("eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "contains")
NUMERIC_OPS = ("gt", "gte", "lt", "lte")
LIST_OPS = ("in", "not_in")
MAX_CONDITIONS = 20

Predicate = Callable[[dict[str, Any]], bool]


def _scalar_ok(value: Any) -> bool:
    if isinstance(value, float) and not math.isfinite(value):
        return False
    return isinstance(value, str | int | float | bool)


def conditions_validate(value: Any) -> None:
    """Raise ValidationError naming the bad condition unless `value` is a valid list of conditions."""
    if not isinstance(value, list):
        raise ValidationError("Expected a list of conditions.", code="invalid")
    if len(value) > MAX_CONDITIONS:
        raise ValidationError(f"At most {MAX_CONDITIONS} conditions.", code="invalid")
    for index, cond in enumerate(value, start=1):
        where = f"Condition {index}"
        if not isinstance(cond, dict) or set(cond) != {"field", "op", "value"}:
            raise ValidationError(f"{where}: expected an object with field, op and value.", code="invalid")
        field, op, operand = cond["field"], cond["op"], cond["value"]
        if not isinstance(field, str) or not field or len(field) > 64:
            raise ValidationError(f"{where}: field must be a payload field name.", code="invalid")
        if op not in OPS:
            raise ValidationError(f"{where}: op must be one of {', '.join(OPS)}.", code="invalid")
        if op in LIST_OPS:
            if not isinstance(operand, list) or not operand or not all(_scalar_ok(v) for v in operand):
                raise ValidationError(f"{where}: {op} needs a non-empty list of values.", code="invalid")
        elif op in NUMERIC_OPS:
            if isinstance(operand, bool) or not isinstance(operand, int | float) or not math.isfinite(operand):
                raise ValidationError(f"{where}: {op} needs a number.", code="invalid")
        elif op == "contains":
            if not isinstance(operand, str) or not operand:
                raise ValidationError(f"{where}: contains needs a text.", code="invalid")
        elif not _scalar_ok(operand):
            raise ValidationError(f"{where}: {op} needs a text, a number or a boolean.", code="invalid")


def _norm(value: Any) -> Any:
    """Compare case-insensitively for text, numerically for numbers (1 == 1.0), exactly for booleans."""
    if isinstance(value, str):
        return value.casefold()
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int | float):
        return Decimal(str(value))
    return value


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return Decimal(str(value))


def _compile_one(field: str, op: str, operand: Any) -> Predicate:
    if op in NUMERIC_OPS:
        bound = Decimal(str(operand))
        compare = {
            "gt": lambda n: n > bound,
            "gte": lambda n: n >= bound,
            "lt": lambda n: n < bound,
            "lte": lambda n: n <= bound,
        }[op]

        def numeric(payload: dict[str, Any]) -> bool:
            number = _number(payload.get(field))
            return number is not None and compare(number)

        return numeric
    if op in LIST_OPS:
        wanted = frozenset(_norm(v) for v in operand)
        if op == "in":
            return lambda payload: field in payload and _norm(payload[field]) in wanted
        return lambda payload: field not in payload or _norm(payload[field]) not in wanted
    if op == "contains":
        needle = operand.casefold()
        return lambda payload: isinstance(payload.get(field), str) and needle in payload[field].casefold()
    target = _norm(operand)
    if op == "eq":
        return lambda payload: field in payload and _norm(payload[field]) == target
    return lambda payload: field not in payload or _norm(payload[field]) != target  # ne


def conditions_compile(conditions: list[dict[str, Any]]) -> Predicate:
    """One predicate `payload -> bool` that holds when every condition holds (no conditions: always)."""
    predicates = [_compile_one(c["field"], c["op"], c["value"]) for c in conditions]
    if not predicates:
        return lambda payload: True
    if len(predicates) == 1:
        return predicates[0]
    return lambda payload: all(p(payload) for p in predicates)


def conditions_describe(conditions: list[dict[str, Any]]) -> str:
    """Plain words for the admin preview: `game_category = slots and bet_amount ≥ 1.0`."""
    symbols = {"eq": "=", "ne": "≠", "gt": ">", "gte": "≥", "lt": "<", "lte": "≤", "in": "in", "not_in": "not in",
               "contains": "contains"}  # fmt: skip
    parts = []
    for c in conditions:
        value = ", ".join(map(str, c["value"])) if isinstance(c["value"], list) else c["value"]
        parts.append(f"{c['field']} {symbols[c['op']]} {value}")
    return " and ".join(parts) or "any"
