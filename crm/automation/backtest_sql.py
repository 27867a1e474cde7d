"""A backtest in one SQL statement, for rules without expressions: the events it matches, its caps and its
accumulations evaluated in PostgreSQL, with only the per-day totals coming back.

The same result as replaying the events one by one (`crm.automation.backtest.Simulation`, which the tests compare
it with), because everything that replay carries from event to event is per player:
- the caps: an event is an effect when the rule's counters allow it, and skipped events count nowhere, so it is an
  effect exactly when it is among the first `cap_count` matching events of its player in its cap period (and the
  first of the player ever, once in a lifetime): `row_number()` over the player (and period) in time order;
- the accumulations: the remainder carried from effect to effect makes what a player has been credited after any
  effect `floor(sum of the values so far / per) * amount` (values and `per` rounded to 8 decimals as the live
  remainder column rounds them), so a day's credit is the difference of that at the day's end and the day before;
- fixed amounts and counted activities are constants per effect.
A value is read as the live path reads it: a JSON number above zero (an integer exactly, a decimal as the double
it parses to: PostgreSQL's shortest text of the float8 is Python's `repr`).
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import orjson
from django.db import connection, transaction

from crm.automation import activities as acts
from crm.automation.backtest import COLUMNS, Simulation, conditions_sql
from crm.automation.rules_cache import CompiledRule

# The cap period a row falls in, as a value that differs exactly when `period_key` differs.
_PERIOD = {
    "hour": "date_trunc('hour', e.occurred_at AT TIME ZONE %s)",
    "day": "(e.occurred_at AT TIME ZONE %s)::date",
    "week": "date_trunc('week', e.occurred_at AT TIME ZONE %s)",  # ISO weeks start on Monday, as date_trunc's
    "month": "date_trunc('month', e.occurred_at AT TIME ZONE %s)",
}
# A JSON number as the live path reads it, rounded to 8 decimals as the live remainder column rounds it (0 when it
# is not above zero): an integer exactly, a decimal as the double orjson parses it to. A decimal of at most 15
# characters is that double's shortest text already (a double holds 15 significant digits), so only a longer one
# goes through float8 (whose shortest text is Python's repr).
_NUMBER = (
    "CASE WHEN jsonb_typeof(e.payload -> %s) <> 'number' THEN 0"
    " WHEN length(e.payload ->> %s) <= 15 OR (e.payload ->> %s) ~ '^-?[0-9]+$'"
    " THEN greatest(round((e.payload -> %s)::numeric, 8), 0)"
    " ELSE greatest(round((e.payload ->> %s)::float8::text::numeric, 8), 0) END"
)


def backtest_aggregate(rule, compiled: CompiledRule, since: dt.datetime, now: dt.datetime, excluded: set[int],
                       progress=None) -> dict[str, Any]:  # fmt: skip
    """The backtest of `rule` (no expressions) over [since, now): the result `Simulation.result()` gives, and
    `events_scanned`."""
    sim = Simulation(compiled, tz=rule.label.time_zone, currencies={})
    sql, params = _statement(rule, compiled, sim, since, now, excluded)
    if progress is not None:
        progress(1)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL extra_float_digits = 1")  # float8 as text: the shortest exact form (Python's repr)
        cursor.execute("SET LOCAL work_mem = '256MB'")  # the window's sort: in memory for a few million rows
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return _result(sim, rows)


def _statement(rule, compiled: CompiledRule, sim: Simulation, since, now, excluded: set[int]) -> tuple[str, list]:
    tz = rule.label.time_zone
    where, where_params = conditions_sql(rule.conditions or [])
    picks, params = ["(e.occurred_at AT TIME ZONE %s)::date AS d"], [tz]
    partition = "p"
    if compiled.cap_count is not None and rule.cap_period in _PERIOD:
        picks.append(f"{_PERIOD[rule.cap_period]} AS k")
        params.append(tz)
        partition = "p, k"
    for n, (_, a) in enumerate(sim.accumulations):
        picks.append(f"{_NUMBER} AS x{n}")
        params += [a["field"]] * 5
    picks.append("e.player_id = ANY(%s::bigint[]) AS gone")
    params.append(sorted(excluded))
    effect = ["true"]
    windows = []
    if compiled.cap_count is not None:
        windows.append(f"row_number() OVER (PARTITION BY {partition} ORDER BY t, i) AS n")
        effect.append(f"n <= {int(compiled.cap_count)}")
    if compiled.once_in_lifetime:
        windows.append("row_number() OVER (PARTITION BY p ORDER BY t, i) AS nl")
        effect.append("nl = 1")
    sums = "".join(f", coalesce(sum(x{n}) FILTER (WHERE f), 0) AS s{n}" for n in range(len(sim.accumulations)))
    units, unit_params, per_currency = _units(sim)
    join = "LEFT JOIN crm_player pl ON pl.id = pd.p" if per_currency else ""
    totals = "".join(f", sum(u{n}) FILTER (WHERE NOT gone)" for n in range(len(sim.accumulations)))
    sql = f"""
WITH m AS (
  SELECT e.player_id AS p, e.occurred_at AS t, e.id AS i, {", ".join(picks)}
    FROM crm_event e
   WHERE e.label_id = %s AND e.type = %s AND e.occurred_at >= %s AND e.occurred_at < %s AND ({where})
), {_effects_sql(compiled, rule.cap_period, effect, windows, sums, len(sim.accumulations))}, a AS (
  SELECT pd.*{units} FROM pd {join}
)
SELECT d, sum(matched) FILTER (WHERE NOT gone), sum(matched), sum(effects) FILTER (WHERE NOT gone),
       count(DISTINCT p) FILTER (WHERE effects > 0 AND NOT gone){totals}
  FROM a GROUP BY GROUPING SETS ((d), ()) ORDER BY d NULLS LAST
"""  # noqa: S608 - only the compiler's fragments and whole numbers are formatted in
    params += [rule.label_id, rule.trigger_type, since, now, *where_params, *unit_params]
    return sql, params


def _effects_sql(compiled: CompiledRule, period: str, effect: list[str], windows: list[str], sums: str,
                 accumulations: int) -> str:  # fmt: skip
    """The `pd` step: per player and day, the matching events, the effects and the accumulated values' sums.

    A cap by hour or by day falls within a day, so most of it is a grouping without any sort: per player and cap
    period, `least(count, cap)` effects and, where the count is within the cap, the sum of every value. Only the
    periods over their cap are ordered in time, to sum their first `cap` values. Other caps number every row."""
    if compiled.cap_count is None or period not in ("hour", "day") or compiled.once_in_lifetime:
        return f"""r AS (
  SELECT *, {" AND ".join(effect)} AS f FROM (SELECT m.*{"".join(", " + w for w in windows)} FROM m) w
), pd AS (
  SELECT p, d, gone, count(*) AS matched, count(*) FILTER (WHERE f) AS effects{sums} FROM r GROUP BY p, d, gone
)"""  # noqa: S608 - only the compiler's fragments and whole numbers are formatted in
    cap = int(compiled.cap_count)
    plain = "".join(f", coalesce(sum(x{n}), 0) AS s{n}" for n in range(accumulations))
    chosen = "".join(f", sum(CASE WHEN g.c > {cap} THEN o.s{n} ELSE g.s{n} END) AS s{n}" for n in range(accumulations))
    return f"""g AS (
  SELECT p, k, d, gone, count(*) AS c{plain} FROM m GROUP BY p, k, d, gone
), o AS (
  SELECT p, k{plain} FROM (SELECT m.*, row_number() OVER (PARTITION BY p, k ORDER BY t, i) AS n
                             FROM m WHERE (p, k) IN (SELECT p, k FROM g WHERE c > {cap})) w
   WHERE n <= {cap} GROUP BY p, k
), pd AS (
  SELECT g.p, g.d, g.gone, sum(g.c) AS matched, sum(least(g.c, {cap})) AS effects{chosen}
    FROM g LEFT JOIN o ON o.p = g.p AND o.k = g.k GROUP BY g.p, g.d, g.gone
)"""  # noqa: S608 - whole numbers only


def _units(sim: Simulation) -> tuple[str, list, bool]:
    """Per (player, day) row: what each accumulation credits that day, in units (times `amount` later); and whether
    a rate depends on the player's wallet currency."""
    parts: list[str] = []
    params: list[Any] = []
    per_currency = False
    window = "OVER (PARTITION BY p ORDER BY d)"
    for n, (_, a) in enumerate(sim.accumulations):
        if isinstance(a["per"], dict):
            per_currency = True
            per = "round((%s::jsonb ->> pl.core_wallet_currency)::numeric, 8)"  # no rate for the currency: NULL
            rates = {k: str(Decimal(str(v))) for k, v in a["per"].items()}
            value: Any = orjson.dumps(rates).decode()
        else:
            per = "%s::numeric"
            value = acts.per_for(a, "").quantize(Decimal("0.00000001"), rounding=ROUND_HALF_UP)
        parts.append(f", div(sum(s{n}) {window}, {per}) - div(sum(s{n}) {window} - s{n}, {per}) AS u{n}")
        params += [value, value]
    return "".join(parts), params, per_currency


def _result(sim: Simulation, rows: list[tuple]) -> dict[str, Any]:
    days: list[dict[str, Any]] = []
    players = scanned = 0
    for day, matched, seen, effects, people, *units in rows:
        if day is None:  # the grand total row
            players, scanned = people, int(seen or 0)
            continue
        if not matched:  # only players left out matched that day
            continue
        row = {"day": day.isoformat(), **dict.fromkeys(COLUMNS, 0), "matched": int(matched)}
        row["effects"], row["capped"] = int(effects), int(matched) - int(effects)
        for column, amount in sim.fixed:
            row[column] += amount * row["effects"]
        for (_, a), unit in zip(sim.accumulations, units, strict=True):
            row[a["currency"]] += int(unit or 0) * a["amount"]
        row["players"] = people
        days.append(row)
    totals = {k: sum(d[k] for d in days) for k in COLUMNS}
    return {"players": players, "totals": totals, "days": days, "events_scanned": scanned}
