"""The condition tree evaluated in Python for one player at a time (rules on an event, live membership checks).

`player_states` loads, in one query, every field value a tree can test, read through the same SQL expressions the
compiler uses (crm/conditions/fields.py); `tree_matches` decides with the same operand meanings (crm/conditions/ops.py).
The property-based tests prove it agrees with `players_query` on random trees and random players.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection

from crm.conditions.fields import COLUMNS, FIELDS, NEGATIONS, custom_name
from crm.conditions.ops import birth_day, birthday_target, capitals, date_span, fold, number
from crm.conditions.tree import LEAF_KINDS, leaf_kind_of, root, walk


@dataclass
class PlayerState:
    """What a tree can ask of one player: `values` by field key (as SQL reads them: 0 deposits without an aggregate
    row, the default level without a wallet, '' for an unset text; `custom` the whole custom-properties object), and
    the state pluggable leaf kinds loaded for them (`leaves[kind]`)."""

    player_id: int
    label_id: int
    time_zone: ZoneInfo
    values: dict[str, Any]
    leaves: dict[str, dict] = field(default_factory=dict)
    loaded: dict[str, list] = field(default_factory=dict)


def label_settings(label_id: int) -> tuple[ZoneInfo, int | None]:
    """The label's time zone and its default level's id (the level of players without a wallet)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT l.time_zone, (SELECT id FROM gamification_level v WHERE v.label_id = l.id AND v.is_default)
               FROM backoffice_label l WHERE l.id = %s""",
            [label_id],
        )
        row = cursor.fetchone()
    if row is None:
        return ZoneInfo("UTC"), None
    return ZoneInfo(row[0]), row[1]


def _state_sql() -> str:
    columns = ",\n  ".join(c.expr for c in COLUMNS.values())
    return f"""SELECT p.id, p.custom,
  {columns}
FROM crm_player p
LEFT JOIN crm_playeraggregate a ON a.player_id = p.id
LEFT JOIN gamification_wallet w ON w.player_id = p.id
JOIN backoffice_brand b ON b.id = p.brand_id
WHERE p.label_id = %s AND p.id = ANY(%s)"""  # noqa: S608 - expressions of the field table only


_STATE_SQL = _state_sql()


def player_states(
    *,
    label_id: int,
    player_ids: Iterable[int],
    tree: Any = None,
    now: dt.datetime | None = None,
) -> dict[int, PlayerState]:
    """The state of each of these players of the label (ids of other labels are left out), in one query; with `tree`
    (and `now`), also the state of its pluggable leaves, loaded for all the players at once."""
    ids = [int(i) for i in player_ids]
    tz, default_level = label_settings(label_id)
    keys = list(COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(_STATE_SQL, [label_id, ids])
        rows = cursor.fetchall()
    states = {}
    for row in rows:
        values = dict(zip(keys, row[2:], strict=True))
        values["custom"] = _json(row[1])
        if values["gamification.level"] is None:
            values["gamification.level"] = default_level
        states[row[0]] = PlayerState(player_id=row[0], label_id=label_id, time_zone=tz, values=values)
    if tree is not None and states:
        _load_leaves(root(tree), list(states.values()), now or dt.datetime.now(dt.UTC))
    return states


def _json(value: Any) -> dict:
    """The custom properties as stored: numbers as exact decimals, as PostgreSQL compares them."""
    if isinstance(value, str):
        return json.loads(value, parse_float=Decimal)
    return value or {}


def _load_leaves(tree: Any, states: list[PlayerState], now: dt.datetime) -> None:
    """Load the pluggable leaves of `tree` that these states do not hold yet."""
    by_kind: dict[str, list[dict]] = {}
    for leaf in walk(tree):
        kind = leaf_kind_of(leaf) if "field" not in leaf else None
        if kind and not any(leaf in s.loaded.get(kind, ()) for s in states[:1]):
            by_kind.setdefault(kind, []).append(leaf)
    for kind, nodes in by_kind.items():
        loaded = LEAF_KINDS[kind].load(nodes, states[0].label_id, [s.player_id for s in states], now)
        for state in states:
            state.leaves.setdefault(kind, {}).update(loaded.get(state.player_id, {}))
            state.loaded.setdefault(kind, []).extend(nodes)


def tree_matches(tree: Any, *, state: PlayerState, now: dt.datetime) -> bool:
    """Whether the player of `state` matches the (valid) `tree` at `now`."""
    tree = root(tree)
    _load_leaves(tree, [state], now)
    return _matches(tree, state, now)


def _matches(node: dict, state: PlayerState, now: dt.datetime) -> bool:
    if "all" in node:
        return all(_matches(child, state, now) for child in node["all"])
    if "any" in node:
        return any(_matches(child, state, now) for child in node["any"])
    if "not" in node:
        return not _matches(node["not"], state, now)
    if "field" in node:
        return field_matches(node["field"], node["op"], node.get("value"), state, now)
    kind = leaf_kind_of(node)
    assert kind is not None, node
    return bool(LEAF_KINDS[kind].matches(node, state.leaves.get(kind, {}), now))


def field_matches(key: str, op: str, value: Any, state: PlayerState, now: dt.datetime) -> bool:
    """One field condition on one player. The ops that hold on an unset value are negations of the others."""
    if op in NEGATIONS:
        return not field_matches(key, NEGATIONS[op], value, state, now)
    name = custom_name(key)
    if name is not None:
        return _custom(op, value, state.values["custom"].get(name))
    kind, raw = FIELDS[key].kind, state.values[key]
    if kind in ("text", "choice"):
        if COLUMNS[key].capitals:
            return _capitals(op, value, raw or "")
        return _text(op, value, raw or "")
    if kind in ("integer", "number"):
        return _number(op, value, number(raw))
    if kind == "boolean":
        return raw is (op == "is_true")
    if kind in ("date", "datetime"):
        return _date(kind, op, value, raw, state.time_zone, now)
    if kind == "markers":
        return bool(raw) if op == "is_set" else fold(value) in {fold(m) for m in raw}
    if kind == "level":
        return raw is not None and (raw == value if op == "eq" else raw in value)
    raise ValueError(kind)


def _text(op: str, value: Any, text: str) -> bool:
    if op == "is_set":
        return text != ""
    if op == "eq":
        return fold(text) == fold(value)
    if op == "in":
        return fold(text) in {fold(v) for v in value}
    if op == "contains":
        return fold(value) in fold(text)
    if op == "starts_with":
        return fold(text).startswith(fold(value))
    raise ValueError(op)


def _capitals(op: str, value: Any, text: str) -> bool:
    if op == "is_set":
        return text != ""
    if op == "in":
        return text in {capitals(v) for v in value}
    wanted = capitals(value)
    return {"eq": text == wanted, "contains": wanted in text, "starts_with": text.startswith(wanted)}[op]


def _number(op: str, value: Any, n: Any) -> bool:
    if op == "is_set":
        return n is not None
    if n is None:
        return False
    if op == "between":
        return number(value[0]) <= n <= number(value[1])
    bound = number(value)
    return {"eq": n == bound, "gt": n > bound, "gte": n >= bound, "lt": n < bound, "lte": n <= bound}[op]


def _date(kind: str, op: str, value: Any, raw: dt.datetime | None, tz: ZoneInfo, now: dt.datetime) -> bool:
    if op == "is_set" or raw is None:
        return raw is not None
    if op == "birthday_in_days":
        month, day, feb29 = birthday_target(days=value, label_tz=tz, now=now)
        born = birth_day(raw)
        return born == (month, day) or (feb29 and born == (2, 29))
    return date_span(kind=kind, op=op, value=value, label_tz=tz, now=now).holds(raw)


def _custom_equals(raw: Any, value: Any) -> bool:
    if isinstance(value, bool):
        return raw is value
    if isinstance(value, int | float):
        n = number(raw)
        return n is not None and n == number(value)
    return isinstance(raw, str) and fold(raw) == fold(value)


def _custom(op: str, value: Any, raw: Any) -> bool:
    if op == "is_set":
        return raw is not None and raw != ""
    if op in ("is_true", "is_false"):
        return raw is (op == "is_true")
    if op == "eq":
        return _custom_equals(raw, value)
    if op == "in":
        return any(_custom_equals(raw, v) for v in value)
    if op in ("contains", "starts_with"):
        return _text(op, value, raw if isinstance(raw, str) else "")
    return _number(op, value, number(raw))
