"""Conditions on an event's payload fields, shared by mission tasks and tournament scoring.

Stored as a JSON list of `{"field": ..., "op": ..., "value": ...}`; every condition must hold. Validated once when
saved: their shape (`conditions_validate`) and, with the event type they filter, against the label's event catalogue
(`catalogue_errors`: the type exists, each field is one of its fields, each value fits its field's kind, a summed or
scored field is a number). Compiled once into a predicate (`conditions_compile`) that the pipeline calls per event
without touching the database. A missing field never matches (except for `ne` and `not_in`).

    [{"field": "game_category", "op": "eq", "value": "slots"}, {"field": "bet_amount", "op": "gte", "value": 1.0}]
"""

from __future__ import annotations

import difflib
import math
import operator
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError

from crm.catalogue import FieldInfo, LabelCatalogue

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


# --- against the event catalogue -----------------------------------------------------------------------------------
KIND_WORDS = {"string": "a text", "integer": "a whole number", "number": "a number", "boolean": "true or false",
              "timestamp": "a timestamp", "object": "an object", "list": "a list"}  # fmt: skip


def _quoted(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)


def _did_you_mean(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.75)
    return f"; did you mean {_quoted(close[0])}?" if close else "."


def _no_field(type_name: str, name: str, fields: Mapping[str, FieldInfo]) -> str:
    return f"{type_name} events have no field {_quoted(name)}{_did_you_mean(name, fields)}"


def _value_problem(name: str, info: FieldInfo, value: Any) -> str | None:
    """Why `value` can never equal a value of the field, if it cannot."""
    if info.numeric:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"{name} is {KIND_WORDS[info.kind]}; {_quoted(value)} is not."
        if info.kind == "integer" and value != int(value):
            return f"{name} is a whole number; {_quoted(value)} is not."
        return None
    if info.kind == "boolean":
        return None if isinstance(value, bool) else f"{name} is true or false; {_quoted(value)} is not."
    if not isinstance(value, str):
        return f"{name} is a text: write the value in quotes ({_quoted(str(value))})."
    if info.choices and value.casefold() not in {c.casefold() for c in info.choices}:
        return f"{name} is one of {', '.join(info.choices)}; {_quoted(value)} is not."
    return None


def _condition_problem(cond: dict[str, Any], fields: Mapping[str, FieldInfo], type_name: str) -> str | None:
    name, op, operand = cond["field"], cond["op"], cond["value"]
    info = fields.get(name)
    if info is None:
        return _no_field(type_name, name, fields)
    kind = KIND_WORDS[info.kind]
    if info.kind in ("timestamp", "object", "list"):
        return f"{name} is {kind}: a condition cannot test it."
    if op in NUMERIC_OPS and not info.numeric:
        return f"{op} compares numbers; {name} is {kind}."
    if op == "contains" and info.kind != "string":
        return f"contains searches a text; {name} is {kind}."
    if op == "contains" or op in NUMERIC_OPS:  # a number (the shape says) bounds any number, whole or not
        return None
    for value in operand if op in LIST_OPS else [operand]:
        problem = _value_problem(name, info, value)
        if problem:
            return problem
    return None


def conditions_check(conditions: list[dict[str, Any]], fields: Mapping[str, FieldInfo], type_name: str) -> list[str]:
    """What in `conditions` (valid in shape) events of `type_name` (of these `fields`) can never match."""
    problems = []
    for index, cond in enumerate(conditions, start=1):
        problem = _condition_problem(cond, fields, type_name)
        if problem:
            problems.append(f"Condition {index}: {problem}")
    return problems


def catalogue_errors(
    catalogue: LabelCatalogue, *, event_type: str, conditions: Any, value_field: str = "", value_use: str = "added up"
) -> dict[str, list[str]]:
    """What events of `event_type` matching `conditions`, and their `value_field` (summed or scored, "" for none), can
    never be, by key: "event_type", "conditions", "value_field". Conditions invalid in shape are left to
    `conditions_validate`; nothing else is checked while the type is unknown."""
    if not event_type:
        return {}
    fields = catalogue.fields(event_type)
    if fields is None:
        if event_type in catalogue.inactive:
            return {"event_type": [f"The event type {_quoted(event_type)} is switched off: ingest refuses its events."]}
        hint = _did_you_mean(event_type, catalogue.names())
        return {"event_type": [f"Unknown event type {_quoted(event_type)}{hint}"]}
    errors: dict[str, list[str]] = {}
    try:
        conditions_validate(conditions)
    except ValidationError:
        pass
    else:
        problems = conditions_check(conditions, fields, event_type)
        if problems:
            errors["conditions"] = problems
    if value_field:
        info = fields.get(value_field)
        if info is None:
            errors["value_field"] = [_no_field(event_type, value_field, fields)]
        elif not info.numeric:
            errors["value_field"] = [f"{value_field} is {KIND_WORDS[info.kind]}: only a number can be {value_use}."]
    return errors


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


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


def _float_twin(bound: Decimal) -> float | None:
    """The double nearest `bound`, when comparing a payload's float with it gives what comparing the float's
    shortest decimal text (`_number`) with `bound` gives; None when it might not.

    A decimal of at most 15 significant digits (DBL_DIG) in the doubles' normal range is the only such decimal that
    rounds to its double. Rounding to the nearest double keeps order, so for a float x: x < twin implies
    str(x) < bound, x > twin implies str(x) > bound, and x == twin means str(x) is that one decimal, `bound`."""
    if not bound.is_finite() or len(bound.normalize().as_tuple().digits) > 15:
        return None
    twin = float(bound)
    return twin if twin == 0 or 1e-300 < abs(twin) < 1e300 else None


def _compile_one(field: str, op: str, operand: Any) -> Predicate:
    if op in NUMERIC_OPS:
        bound = Decimal(str(operand))
        compare = _COMPARE[op]
        twin = _float_twin(bound)

        def numeric(payload: dict[str, Any]) -> bool:
            # Per event and condition on the pipeline: a float against the bound's double and an int against the
            # bound (exact) answer as the decimal comparison does, without making a Decimal.
            value = payload.get(field)
            kind = type(value)
            if kind is float and twin is not None and value == value:  # NaN: the decimal comparison's answer
                return compare(value, twin)
            if kind is int:
                return compare(value, bound)
            number = _number(value)
            return number is not None and compare(number, bound)

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
