"""Event conditions (the list format of `gamification.conditions`) as SQL over a jsonb payload, with exactly the
semantics of `conditions_compile`:

- text compares case-insensitively by Unicode full case folding (Python's `str.casefold`): SQL calls
  `pb_casefold(text)`, created by migration `crm/0008_rollups` from this module's table (ASCII text takes a fast path,
  `lower(... COLLATE "C")`; other text is translated character by character, as `str.casefold` does);
- numbers compare numerically (1 = 1.0), only against JSON numbers (never a numeric text, never a boolean);
- booleans equal only JSON booleans;
- a missing field (or a JSON null) meets no condition, except `ne` and `not_in`, which it meets.
Every compiled condition is true or false, never NULL, so `NOT` is exact. Numeric casts sit in a `CASE` so that no
plan evaluates them on a text.

    sql, params = event_conditions_sql([{"field": "game_category", "op": "eq", "value": "Slots"}])
    # "(coalesce(jsonb_typeof(e.payload -> %s) = 'string' AND pb_casefold(e.payload ->> %s) = %s, false))"
"""

from __future__ import annotations

import sys
from decimal import Decimal
from typing import Any

from gamification.conditions import LIST_OPS, NUMERIC_OPS

CASEFOLD_FUNCTION = "pb_casefold"
_COMPARE = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


def casefold_table() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Every character `str.casefold` changes: (those folding to one character, those folding to several)."""
    single: list[tuple[str, str]] = []
    multi: list[tuple[str, str]] = []
    for code in range(sys.maxunicode + 1):
        if 0xD800 <= code <= 0xDFFF:
            continue  # surrogates: never in PostgreSQL text
        char = chr(code)
        folded = char.casefold()
        if folded != char:
            (single if len(folded) == 1 else multi).append((char, folded))
    return single, multi


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def casefold_function_sql() -> str:
    """`CREATE OR REPLACE FUNCTION pb_casefold(text)`: `str.casefold` in SQL, for this Python's Unicode version."""
    single, multi = casefold_table()
    expr = f"translate(t, {_literal(''.join(c for c, _ in single))}, {_literal(''.join(f for _, f in single))})"
    for char, folded in multi:
        expr = f"replace({expr}, {_literal(char)}, {_literal(folded)})"
    return f"""CREATE OR REPLACE FUNCTION pb_casefold(t text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fold$
SELECT CASE WHEN octet_length(t) = char_length(t) THEN lower(t COLLATE "C") ELSE {expr} END
$fold$"""


def _by_kind(values: list[Any]) -> tuple[list[str], list[Decimal], list[str]]:
    """Operands split as `_norm` compares them: texts (case-folded), numbers, booleans (as jsonb)."""
    texts, numbers, booleans = [], [], []
    for value in values:
        if isinstance(value, bool):
            booleans.append("true" if value else "false")
        elif isinstance(value, int | float):
            numbers.append(Decimal(str(value)))
        elif isinstance(value, str):
            texts.append(value.casefold())
    return texts, numbers, booleans


def _equals_any(payload: str, field: str, values: list[Any]) -> tuple[str, list]:
    """The field is present and equals one of `values` (never NULL)."""
    texts, numbers, booleans = _by_kind(values)
    parts: list[str] = []
    params: list[Any] = []
    if texts:
        if len(texts) == 1:
            parts.append(f"coalesce(jsonb_typeof({payload} -> %s) = 'string' AND {CASEFOLD_FUNCTION}({payload} ->> %s) = %s, false)")  # fmt: skip  # noqa: E501
            params += [field, field, texts[0]]
        else:
            parts.append(f"coalesce(jsonb_typeof({payload} -> %s) = 'string' AND {CASEFOLD_FUNCTION}({payload} ->> %s) = ANY(%s::text[]), false)")  # fmt: skip  # noqa: E501
            params += [field, field, texts]
    if numbers:
        parts.append(
            f"CASE WHEN jsonb_typeof({payload} -> %s) = 'number'"
            f" THEN ({payload} ->> %s)::numeric = ANY(%s::numeric[]) ELSE false END"
        )
        params += [field, field, numbers]
    if booleans:
        parts.append(f"coalesce(({payload} -> %s) = ANY(%s::jsonb[]), false)")
        params += [field, booleans]
    if not parts:
        return "false", []
    return "(" + " OR ".join(parts) + ")", params


def _condition_sql(payload: str, field: str, op: str, operand: Any) -> tuple[str, list]:
    if op in NUMERIC_OPS:
        return (
            f"CASE WHEN jsonb_typeof({payload} -> %s) = 'number'"
            f" THEN ({payload} ->> %s)::numeric {_COMPARE[op]} %s::numeric ELSE false END",
            [field, field, Decimal(str(operand))],
        )
    if op == "contains":
        return (
            f"coalesce(jsonb_typeof({payload} -> %s) = 'string'"
            f" AND strpos({CASEFOLD_FUNCTION}({payload} ->> %s), %s) > 0, false)",
            [field, field, operand.casefold()],
        )
    values = operand if op in LIST_OPS else [operand]
    sql, params = _equals_any(payload, field, values)
    if op in ("ne", "not_in"):
        return f"NOT {sql}", params
    return sql, params


def event_conditions_sql(conditions: list[dict[str, Any]], *, payload: str = "e.payload") -> tuple[str, list]:
    """The conditions (valid in shape: `conditions_validate`) as one SQL boolean over the jsonb `payload` expression,
    true exactly when `conditions_compile(conditions)(payload)` is; "true" for no conditions. Positional `%s`
    parameters, in order."""
    if not conditions:
        return "true", []
    parts: list[str] = []
    params: list[Any] = []
    for cond in conditions:
        sql, more = _condition_sql(payload, cond["field"], cond["op"], cond["value"])
        parts.append(f"({sql})")
        params += more
    return "(" + " AND ".join(parts) + ")", params
