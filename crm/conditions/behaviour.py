"""The `behaviour` leaf of condition trees: count / sum / min / max of an event type whose fields match conditions,
over a window of days, compared with a number. Read from the per-player daily roll-ups (crm.models.rollups), never
from raw events.

    {"behaviour": {"event_type": "deposit", "where": [{"field": "deposit_method", "op": "eq", "value": "card"}],
                   "measure": "sum", "field": "deposit_amount", "window": {"last_days": 30}},
     "op": "gte", "value": 100}

Windows, in the spec's time zone (the label's): `{"last_days": N}` (1..365, today included), `{"previous": "day" |
"week" | "month"}` (the previous full calendar day, ISO week, month), `{"from": "YYYY-MM-DD", "to": "YYYY-MM-DD"}`
(inclusive, at most 365 days back). A player with no matching event in the window has a count and a sum of 0 and no
min or max (unset: only `ne` holds on it), in Python and in SQL alike.

SQL: a count or a sum reads the players' running totals (crm_rollupseries: one row per spec and player, the days
with events and the running count and sum at each), the window's value being the total at its last day minus the
total at the day before its first (two binary searches, `width_bucket`); a min or a max groups the window's daily
rows by player. `p.id IN (SELECT pb_rollup_series_players(...))` (or `pb_rollup_players(...)` for min / max) when a
player with nothing in the window does not match, `NOT (p.id IN (...))` over the players whose value fails when such
a player matches (count < 3, sum = 0). The functions (migrations crm/0008_rollups, crm/0012_rollup_buckets) declare
`ROWS 1000`, so the planner hashes their result once wherever the leaf sits in the tree (under any / not / COALESCE).
A count of a tree that is only this leaf is `count_sql`: counted from the roll-ups alone. A query narrowed to a few
players (a membership check) reads each one's row by primary key (`_correlated`).
Python: one query per leaf for the players asked, over the daily rows through the primary key (spec, player, day):
an evaluation independent of the running totals, which the property-based tests compare with SQL.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from decimal import Decimal
from typing import Any

import orjson

from crm.conditions.tree import register_leaf

MEASURES = ("count", "sum", "min", "max")
NUMBER_OPS = ("eq", "ne", "gt", "gte", "lt", "lte", "between")
PREVIOUS = ("day", "week", "month")
MAX_DAYS_BACK = 365
_AGG = {"count": "sum(r.count)", "sum": "sum(r.sum)", "min": "min(r.min)", "max": "max(r.max)"}
NARROW_PLAYERS = 1000  # up to this many players asked, one primary-key range each rather than the whole window
RUNNING = {"count": "counts", "sum": "sums"}  # measures read from the running totals (crm_rollupseries)
ONE_DAY = dt.timedelta(days=1)
_CMP = {"eq": "=", "ne": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
_OP_WORDS = {"eq": "=", "ne": "≠", "gt": ">", "gte": "≥", "lt": "<", "lte": "≤", "between": "between"}


# --- windows ---------------------------------------------------------------------------------------------------------


def window_days(window: dict[str, Any], *, today: dt.date) -> tuple[dt.date, dt.date]:
    """The first and last day (inclusive) of a (valid) window, `today` being today in the label's time zone."""
    if "last_days" in window:
        return today - dt.timedelta(days=int(window["last_days"]) - 1), today
    if "previous" in window:
        unit = window["previous"]
        if unit == "day":
            day = today - dt.timedelta(days=1)
            return day, day
        if unit == "week":
            monday = today - dt.timedelta(days=today.weekday())
            return monday - dt.timedelta(days=7), monday - dt.timedelta(days=1)
        first_this = today.replace(day=1)
        last_prev = first_this - dt.timedelta(days=1)
        return last_prev.replace(day=1), last_prev
    return dt.date.fromisoformat(window["from"]), dt.date.fromisoformat(window["to"])


def _today(time_zone: str, now: dt.datetime) -> dt.date:
    return now.astimezone(zoneinfo.ZoneInfo(time_zone)).date()


def _window_problem(window: Any, today: dt.date) -> str | None:
    if not isinstance(window, dict) or len(window) not in (1, 2):
        return 'Expected {"last_days": N}, {"previous": "day" | "week" | "month"} or {"from": DATE, "to": DATE}.'
    if set(window) == {"last_days"}:
        n = window["last_days"]
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_DAYS_BACK:
            return f"last_days is a whole number of days from 1 to {MAX_DAYS_BACK}."
        return None
    if set(window) == {"previous"}:
        return None if window["previous"] in PREVIOUS else "previous is one of day, week, month."
    if set(window) == {"from", "to"}:
        days: list[dt.date] = []
        for key in ("from", "to"):
            text = window[key]
            try:
                day = dt.date.fromisoformat(text) if isinstance(text, str) and len(text) == 10 else None
            except ValueError:
                day = None
            if day is None:
                return f"{key} is a date written YYYY-MM-DD, e.g. 2026-01-31."
            days.append(day)
        if days[0] > days[1]:
            return "from must not be after to."
        if days[0] < today - dt.timedelta(days=MAX_DAYS_BACK):
            return f"A window reaches at most {MAX_DAYS_BACK} days back (from {today - dt.timedelta(days=365)})."
        return None
    return 'Expected {"last_days": N}, {"previous": "day" | "week" | "month"} or {"from": DATE, "to": DATE}.'


# --- the leaf --------------------------------------------------------------------------------------------------------


def _number(value: Any) -> Decimal:
    return Decimal(str(value))


def _holds(op: str, operand: Any, value: Decimal | None) -> bool:
    """Whether a player's value (None: unset) meets `op operand`."""
    if value is None:
        return op == "ne"
    if op == "between":
        return _number(operand[0]) <= value <= _number(operand[1])
    bound = _number(operand)
    return {
        "eq": value == bound,
        "ne": value != bound,
        "gt": value > bound,
        "gte": value >= bound,
        "lt": value < bound,
        "lte": value <= bound,
    }[op]


def _empty_value(measure: str) -> Decimal | None:
    """A player's value with no roll-up row in the window."""
    return Decimal(0) if measure in ("count", "sum") else None


def node_key(node: dict) -> str:
    """The key of a leaf's loaded value: its behaviour (the window included), not its comparison."""
    return orjson.dumps(node["behaviour"], option=orjson.OPT_SORT_KEYS).decode()


class BehaviourLeaf:
    """The `behaviour` leaf kind (crm.conditions.tree.LeafKind)."""

    def validate(self, node: dict, label_id: int, path: str) -> dict[str, list[str]]:
        from crm.selectors import event_catalogue
        from gamification.conditions import catalogue_errors, conditions_validate

        errors: dict[str, list[str]] = {}

        def fail(where: str, message: str) -> None:
            errors.setdefault(where, []).append(message)

        extra = sorted(set(node) - {"behaviour", "op", "value"})
        if extra:
            fail(path, f"Unexpected key {', '.join(extra)}: a behaviour condition has behaviour, op and value.")
        spec = node.get("behaviour")
        bpath = f"{path}.behaviour"
        if not isinstance(spec, dict):
            fail(bpath, "Expected an object with event_type, where, measure, field and window.")
            return errors
        unknown = sorted(set(spec) - {"event_type", "where", "measure", "field", "window"})
        if unknown:
            fail(bpath, f"Unexpected key {', '.join(unknown)}.")
        event_type, measure = spec.get("event_type"), spec.get("measure", "count")
        if not isinstance(event_type, str) or not event_type:
            fail(f"{bpath}.event_type", "Choose an event type.")
        if measure not in MEASURES:
            fail(f"{bpath}.measure", "measure is one of count, sum, min, max.")
        field = spec.get("field")
        if measure == "count" and field:
            fail(f"{bpath}.field", "A count counts events: it takes no field.")
        if measure in ("sum", "min", "max") and (not isinstance(field, str) or not field):
            fail(f"{bpath}.field", f"Choose the number field to {'add up' if measure == 'sum' else 'compare'}.")
        where = spec.get("where", [])
        try:
            conditions_validate(where)
        except Exception as exc:  # django ValidationError: its message names the condition
            fail(f"{bpath}.where", " ".join(getattr(exc, "messages", [str(exc)])))
        if isinstance(event_type, str) and event_type and not errors:
            found = catalogue_errors(
                event_catalogue(label_id=label_id), event_type=event_type, conditions=where,
                value_field=str(field or "") if measure != "count" else "", value_use="measured",
            )  # fmt: skip
            for key, messages in found.items():
                where_key = {"event_type": "event_type", "conditions": "where", "value_field": "field"}[key]
                errors.setdefault(f"{bpath}.{where_key}", []).extend(messages)
        today = _label_today(label_id)
        problem = _window_problem(spec.get("window"), today)
        if problem:
            fail(f"{bpath}.window", problem)
        op, value = node.get("op"), node.get("value")
        if op not in NUMBER_OPS:
            fail(f"{path}.op", f"Compare with one of {', '.join(NUMBER_OPS)}.")
        elif op == "between":
            if not (isinstance(value, list) and len(value) == 2 and all(_is_number(v) for v in value)):
                fail(f"{path}.value", "Between needs two numbers: [from, to].")
            elif value[0] > value[1]:
                fail(f"{path}.value", f"The first value ({value[0]}) must not be more than the second ({value[1]}).")
        elif not _is_number(value):
            fail(f"{path}.value", "Enter a number.")
        return errors

    def sql(self, node: dict, label_id: int, now: dt.datetime, player_ids: list[int] | None = None) -> tuple[str, list]:
        """The players matching, as a boolean over `p.id`. Given `player_ids` (a query narrowed to a few players,
        e.g. one membership check), each player's value is read through the primary key (one row of running totals
        for a count or a sum, the window's daily rows for a min or a max) instead of reading the whole window."""
        spec, measure, first, last = _resolve(node, label_id, now)
        op, operand = node["op"], node["value"]
        if player_ids is not None and len(player_ids) <= NARROW_PLAYERS:
            return _correlated(spec.pk, measure, first, last, op, operand)
        lo, hi = operand if op == "between" else [operand, None]
        keep = not _holds(op, operand, _empty_value(measure))
        # keep: the players whose value holds (nobody else does); else: everyone but the players whose value fails.
        if measure in RUNNING:
            players = "p.id IN (SELECT pb_rollup_series_players(%s, %s, %s, %s, %s, %s::numeric, %s::numeric, %s))"
            params = [spec.pk, first - ONE_DAY, last, measure, op, _number(lo), _number_or_none(hi), keep]
        else:
            players = "p.id IN (SELECT pb_rollup_players(%s, %s, %s, %s, %s, %s::numeric, %s::numeric, %s))"
            params = [spec.pk, first, last, measure, op, _number(lo), _number_or_none(hi), keep]
        return (f"({players})" if keep else f"(NOT {players})"), params

    def join_sql(self, node: dict, label_id: int, now: dt.datetime, alias: str) -> tuple[str, list, str, list] | None:
        """For a leaf that must hold for every player selected (directly under the root's `all`): an inner join of
        the players' running totals and the condition on it, so PostgreSQL joins (hash, parallel) instead of hashing
        the ids of the function. Only a count or a sum for which a player with nothing in the window does not match
        (no row: not selected, as without the join); None otherwise."""
        spec, measure, first, last = _resolve(node, label_id, now)
        op, operand = node["op"], node["value"]
        if measure not in RUNNING or _holds(op, operand, _empty_value(measure)):
            return None
        join = f"JOIN crm_rollupseries {alias} ON {alias}.spec_id = %s AND {alias}.player_id = p.id"
        compare, more = _compare(op, operand)
        where = f"({_running_value(RUNNING[measure], alias)} {compare})"
        return join, [spec.pk], where, [last, first - ONE_DAY, *more]

    def count_sql(self, node: dict, label_id: int, now: dt.datetime) -> tuple[str, list]:
        """How many of the label's players match a tree made of this one leaf, read from the roll-ups alone (no scan
        of the players, no set of ids): a count or a sum counts the rows of running totals whose window value holds
        (one row per player, two binary searches each); a min or a max groups the window's daily rows by player.
        When a player with nothing in the window matches (count < 3), the label's players minus those that fail."""
        spec, measure, first, last = _resolve(node, label_id, now)
        op, operand = node["op"], node["value"]
        keep = not _holds(op, operand, _empty_value(measure))
        compare, more = _compare(op, operand)
        test = "IS TRUE" if keep else "IS NOT TRUE"
        if measure in RUNNING:
            value = _running_value(RUNNING[measure])
            counted = f"SELECT count(*) FROM crm_rollupseries t WHERE t.spec_id = %s AND ({value} {compare}) {test}"  # noqa: S608 - constants
            params: list[Any] = [spec.pk, last, first - ONE_DAY, *more]
        else:
            counted = (
                f"SELECT count(*) FROM (SELECT r.player_id FROM crm_rollup r"  # noqa: S608 - _AGG holds constants
                f" WHERE r.spec_id = %s AND r.day BETWEEN %s AND %s GROUP BY r.player_id"
                f" HAVING ({_AGG[measure]} {compare}) {test}) g"
            )
            params = [spec.pk, first, last, *more]
        if keep:
            return counted, params
        everyone = "SELECT count(*) FROM crm_player p WHERE p.label_id = %s"
        return f"SELECT ({everyone}) - ({counted})", [label_id, *params]

    def load(self, nodes: list[dict], label_id: int, player_ids: list[int], now: dt.datetime) -> dict[int, dict]:
        from django.db import connection

        out: dict[int, dict] = {pid: {} for pid in player_ids}
        for node in nodes:
            spec, measure, first, last = _resolve(node, label_id, now)
            key = node_key(node)
            with connection.cursor() as cursor:
                cursor.execute(
                    f"""SELECT r.player_id, {_AGG[measure]} FROM crm_rollup r
                         WHERE r.spec_id = %s AND r.player_id = ANY(%s::bigint[]) AND r.day BETWEEN %s AND %s
                         GROUP BY r.player_id""",  # noqa: S608 - _AGG holds constants
                    [spec.pk, list(player_ids), first, last],
                )
                for pid, value in cursor.fetchall():
                    out.setdefault(pid, {})[key] = Decimal(value) if value is not None else None
        return out

    def matches(self, node: dict, state: dict, now: dt.datetime) -> bool:
        measure = node["behaviour"].get("measure", "count")
        key = node_key(node)
        value = state[key] if key in state else _empty_value(measure)
        return _holds(node["op"], node["value"], value)

    def describe(self, node: dict, label_id: int) -> str:
        from gamification.conditions import conditions_describe

        spec = node["behaviour"]
        measure = spec.get("measure", "count")
        what = (
            f"number of {spec['event_type']} events"
            if measure == "count"
            else f"{measure} of {spec['field']} of {spec['event_type']} events"
        )
        if spec.get("where"):
            what += f" where {conditions_describe(spec['where'])}"
        window = spec["window"]
        if "last_days" in window:
            span = "today" if window["last_days"] == 1 else f"in the last {window['last_days']} days"
        elif "previous" in window:
            span = {"day": "yesterday", "week": "last week", "month": "last month"}[window["previous"]]
        else:
            span = f"from {window['from']} to {window['to']}"
        op, value = node["op"], node["value"]
        shown = f"between {value[0]} and {value[1]}" if op == "between" else f"{_OP_WORDS[op]} {value}"
        return f"{what[0].upper()}{what[1:]} {span} {shown}"


def _compare(op: str, operand: Any) -> tuple[str, list]:
    """`op operand` as SQL to put after a value."""
    if op == "between":
        return "BETWEEN %s AND %s", [_number(operand[0]), _number(operand[1])]
    return f"{_CMP[op]} %s", [_number(operand)]


def _running_value(column: str, row: str = "t") -> str:
    """A window's count or sum from a row of running totals: the total at its last day (first %s) minus the total
    at the day before its first (second %s). `width_bucket(day, days)` is how many of the row's days are on or
    before `day` (binary search); index 0 reads NULL: nothing before."""
    return (
        f"(coalesce({row}.{column}[width_bucket(%s::date, {row}.days)], 0)"
        f" - coalesce({row}.{column}[width_bucket(%s::date, {row}.days)], 0))"
    )


def _correlated(spec_id: int, measure: str, first, last, op: str, operand: Any) -> tuple[str, list]:
    """The player's value read through the primary key, compared; unset as in `_holds`: a count or a sum from the
    player's row of running totals (spec, player), a min or a max from the window's daily rows (spec, player, day)."""
    if measure in RUNNING:
        value = (
            f"COALESCE((SELECT {_running_value(RUNNING[measure], 's')} FROM crm_rollupseries s"  # noqa: S608 - constants
            " WHERE s.spec_id = %s AND s.player_id = p.id), 0)"
        )
        params: list[Any] = [last, first - ONE_DAY, spec_id]
    else:
        value = (
            f"(SELECT {_AGG[measure]} FROM crm_rollup r"  # noqa: S608 - _AGG holds constants
            " WHERE r.spec_id = %s AND r.player_id = p.id AND r.day BETWEEN %s AND %s)"
        )
        params = [spec_id, first, last]
    compare, more = _compare(op, operand)
    unset = "TRUE" if op == "ne" and measure in ("min", "max") else "FALSE"  # unset: only ne holds
    return f"COALESCE({value} {compare}, {unset})", params + more


def _number_or_none(value: Any) -> Decimal | None:
    return None if value is None else _number(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and Decimal(str(value)).is_finite()


def _label_today(label_id: int) -> dt.date:
    from backoffice.models import Label

    time_zone = Label.objects.filter(pk=label_id).values_list("time_zone", flat=True).first() or "UTC"
    return _today(time_zone, dt.datetime.now(dt.UTC))


def _resolve(node: dict, label_id: int, now: dt.datetime):
    """The spec answering the leaf (created and backfilled on first use), its measure and the window's days."""
    from crm.services.rollups import rollup_spec_ensure

    behaviour = node["behaviour"]
    spec = rollup_spec_ensure(label_id=label_id, behaviour=behaviour)
    first, last = window_days(behaviour["window"], today=_today(spec.time_zone, now))
    return spec, behaviour.get("measure", "count"), first, last


register_leaf("behaviour", BehaviourLeaf())
