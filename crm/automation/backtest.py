"""Backtest: replay a (draft) real-time rule over the last N days of the label's events, writing nothing but the
backtest's own row.

The trigger type, the window and the event-field conditions are pushed into SQL (one scan of the label's events by
type and time, `event_label_type_occurred`), fetching only the player, the local day and the few payload fields the
activities read. Caps, once-in-a-lifetime, accumulation and amounts are then simulated in Python on those rows in
time order. The audience, responsible gambling and the `state` expressions read use the players' state as it is now
(the past state is not kept), which the page says.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import orjson
import structlog
from django.db import connection, transaction
from django.utils import timezone

from crm.automation import activities as acts
from crm.automation.rules_cache import CompiledRule, rule_compile
from crm.models import AccountStatus
from crm.models.rules import BacktestRun

log = structlog.get_logger(__name__)

CHUNK = 50_000
AGGREGATE_IN_SQL = True  # False: every rule replayed row by row (the reference the tests compare with)
# A cap period's key in SQL, exactly as `period_key` writes it (the local time is `e.occurred_at AT TIME ZONE %s`).
PERIOD_SQL = {
    "hour": "to_char(e.occurred_at AT TIME ZONE %s, 'YYYY-MM-DD\"T\"HH24')",
    "day": "to_char(e.occurred_at AT TIME ZONE %s, 'YYYY-MM-DD')",
    "week": "to_char(e.occurred_at AT TIME ZONE %s, 'IYYY-\"W\"IW')",
    "month": "to_char(e.occurred_at AT TIME ZONE %s, 'YYYY-MM')",
    "ever": "('ever' || left(%s, 0))",
}


def conditions_sql(conditions: list[dict[str, Any]]) -> tuple[str, list]:
    """The event-condition list as a SQL boolean over `e.payload` (no conditions: TRUE), with the exact semantics of
    `gamification.conditions.conditions_compile` (the roll-ups' compiler)."""
    from crm.conditions.events_sql import event_conditions_sql

    return event_conditions_sql(list(conditions), payload="e.payload")


# --- the simulation ------------------------------------------------------------------------------------------------
SCALE = Decimal("0.00000001")


def _scaled(value: Decimal) -> int:
    """`value` rounded half up to 8 decimals, as a whole number of 10^-8."""
    return int(value.quantize(SCALE, rounding=ROUND_HALF_UP).scaleb(8))


COUNTED = {"bonus": "bonuses", "set_marker": "markers", "remove_marker": "markers", "mission": "missions",
           "badge": "badges", "webhook": "webhooks"}  # fmt: skip
COLUMNS = ("matched", "effects", "capped", "points", "gems", "diamonds", "bonuses", "markers", "missions", "badges",
           "webhooks")  # fmt: skip


class Simulation:
    """Caps, once-in-a-lifetime, accumulation and costs of one rule over matching events in time order.

    The activities are planned once: fixed amounts and counted activities add constants per effect; expressions and
    accumulations are computed per event (the live path's arithmetic: Decimal of the JSON number's repr)."""

    def __init__(self, rule: CompiledRule, *, tz: str, currencies: dict[int, str]):
        self.rule, self.tz, self.currencies = rule, tz, currencies
        self.counters: dict[tuple[int, str], int] = defaultdict(int)
        self.remainders: dict[tuple[int, int], int] = defaultdict(int)
        self.days: dict[str, dict[str, Any]] = {}
        self.day_players: dict[str, set[int]] = defaultdict(set)
        self.limited = rule.once_in_lifetime or rule.cap_count is not None
        self.fixed: list[tuple[str, int]] = []
        self.computed: list[tuple[int, str, int]] = []  # (activity index, column, sign)
        self.accumulations: list[tuple[int, dict[str, Any]]] = []
        self.decimals: dict[Any, int] = {}
        self.pers: dict[tuple[int, str], int | None] = {}
        # The `state` expressions read: each player's as it is now (balances, aggregates), for the current chunk of
        # rows only, so memory stays bounded by the chunk whatever the number of players.
        self.states: dict[int, dict[str, Any]] = {}
        for index, a in enumerate(rule.activities):
            sign = -1 if a.get("deduct") else 1
            if a["type"] in acts.WALLET_TYPES and "expression" in a:
                self.computed.append((index, a["type"], sign))
            elif a["type"] in acts.WALLET_TYPES:
                self.fixed.append((a["type"], sign * a["amount"]))
            elif a["type"] == "accumulate":
                self.accumulations.append((index, a))
            else:
                self.fixed.append((COUNTED[a["type"]], 1))

    def states_load(self, player_ids) -> None:
        """The `state` of a chunk's players (when an expression reads it), in place of the last chunk's."""
        if not self.rule.uses_state:
            return
        from crm.automation.engine import states_load

        self.states = states_load(player_ids=set(player_ids))

    def _day(self, day: str) -> dict[str, Any]:
        row = self.days[day] = {"day": day, **dict.fromkeys(COLUMNS, 0)}
        return row

    def feed(self, player_id: int, period: str, day: str, payload: dict[str, Any]) -> None:
        """One matching event: `period` is its cap period's key (`period_key`, computed in SQL), `day` its local day."""
        row = self.days.get(day) or self._day(day)
        row["matched"] += 1
        if self.limited and not self._counters_take(player_id, period):
            row["capped"] += 1
            return
        row["effects"] += 1
        self.day_players[day].add(player_id)
        for column, amount in self.fixed:
            row[column] += amount
        if self.computed:
            self._computed(row, payload, self.states.get(player_id, {}))
        if self.accumulations:
            self._accumulate(row, player_id, payload)

    def _counters_take(self, player_id: int, period: str) -> bool:
        rule, counters = self.rule, self.counters
        life = (player_id, "life")
        if rule.once_in_lifetime and counters[life] >= 1:
            return False
        key = (player_id, period)
        if rule.cap_count is not None and counters[key] >= rule.cap_count:
            return False
        if rule.once_in_lifetime:
            counters[life] += 1
        if rule.cap_count is not None:
            counters[key] += 1
        return True

    def _computed(self, row: dict, payload: dict, state: dict[str, Any]) -> None:
        from crm.expressions import ExpressionError

        for index, column, sign in self.computed:
            try:
                amount = acts.whole(self.rule.expressions[index].evaluate(event=payload, state=state))
            except ExpressionError:
                amount = 0
            row[column] += sign * amount

    def _accumulate(self, row: dict, player_id: int, payload: dict) -> None:
        # Whole numbers of 10^-8: the live remainder is a numeric(24, 8), which rounds what it is given half up.
        for index, a in self.accumulations:
            per = self._scaled_per(index, a, self.currencies.get(player_id, ""))
            raw = payload.get(a["field"])
            if per is None or isinstance(raw, bool) or not isinstance(raw, int | float) or raw <= 0:
                continue
            value = self.decimals.get(raw)
            if value is None:
                value = self.decimals[raw] = _scaled(Decimal(str(raw)))
            total = self.remainders[(player_id, index)] + value
            units = total // per
            self.remainders[(player_id, index)] = total - units * per
            row[a["currency"]] += units * a["amount"]

    def _scaled_per(self, index: int, a: dict[str, Any], currency: str) -> int | None:
        key = (index, currency)
        if key not in self.pers:
            per = acts.per_for(a, currency)
            self.pers[key] = None if per is None else _scaled(per)
        return self.pers[key]

    def result(self) -> dict[str, Any]:
        days = [dict(self.days[d], players=len(self.day_players[d])) for d in sorted(self.days)]
        totals = {k: sum(d[k] for d in days) for k in COLUMNS}
        everyone = set().union(*self.day_players.values()) if self.day_players else set()
        return {"players": len(everyone), "totals": totals, "days": days}


def _fields_needed(rule: CompiledRule) -> list[str]:
    """The payload fields the activities read (accumulated fields, `event.x` in expressions)."""
    names: set[str] = set()
    for index, a in enumerate(rule.activities):
        if a["type"] == "accumulate":
            names.add(a["field"])
        if index in rule.expressions:
            names |= {r.split(".", 1)[1] for r in rule.expressions[index].references() if r.startswith("event.")}
    return sorted(names)


def backtest_run(*, rule, days: int, now: dt.datetime | None = None, progress=None) -> dict[str, Any]:
    """Replay `rule` (a Rule row, any status) over the last `days` days; return the result. Reads only."""
    now = now or timezone.now()
    compiled = rule_compile(rule)
    since = now - dt.timedelta(days=days)
    excluded, currencies = _players_excluded(rule, compiled, now)
    if not compiled.expressions and AGGREGATE_IN_SQL:
        from crm.automation.backtest_sql import backtest_aggregate

        result = backtest_aggregate(rule, compiled, since, now, excluded, progress)
    else:
        result = _replayed(rule, compiled, since, now, excluded, currencies, progress)
    result |= {"from": since.isoformat(), "to": now.isoformat(), "days_back": days}
    return result


def _replayed(rule, compiled: CompiledRule, since, now, excluded, currencies, progress) -> dict[str, Any]:
    """Any rule (one with expressions needs it): its matching events in time order, simulated one by one in Python,
    read through a server-side cursor in chunks, with progress between them."""
    label = rule.label
    where, params = conditions_sql(rule.conditions or [])
    fields = _fields_needed(compiled)
    picks = "".join(", e.payload->%s" for _ in fields)
    sim = Simulation(compiled, tz=label.time_zone, currencies=currencies)
    period = PERIOD_SQL.get(rule.cap_period or "", "left(%s, 0)")  # every branch takes the time zone once
    sql = (
        f"SELECT e.player_id, to_char(e.occurred_at AT TIME ZONE %s, 'YYYY-MM-DD'), {period}{picks}"  # noqa: S608
        f" FROM crm_event e WHERE e.label_id = %s AND e.type = %s AND e.occurred_at >= %s AND e.occurred_at < %s"
        f" AND ({where}) ORDER BY e.occurred_at, e.id"
    )
    tz = label.time_zone
    total = _estimate(label.pk, rule.trigger_type, since, now)
    seen = 0
    feed = sim.feed
    parsed: dict[Any, Any] = {}  # JSON text of a field's value -> the value: bets repeat their amounts
    # One statement through a server-side cursor, read in chunks: no page re-sorts, and the progress is written
    # between chunks (on another connection, see backtest_execute).
    with transaction.atomic(), connection.cursor() as cursor:
        # Every row is read: plan for the whole result, not the first rows (a cursor's default, 0.1, picks an index
        # walk in time order with a heap fetch per row).
        cursor.execute("SET LOCAL cursor_tuple_fraction = 1.0")
        stream = connection.connection.cursor(name=f"backtest_{rule.pk}_{int(now.timestamp())}")
        try:
            stream.execute(sql, [tz, tz, *fields, label.pk, rule.trigger_type, since, now, *params])
            while rows := stream.fetchmany(CHUNK):
                sim.states_load(row[0] for row in rows)
                for player_id, day, key, *values in rows:
                    if player_id not in excluded:
                        feed(player_id, key, day, _payload(fields, values, parsed) if fields else {})
                seen += len(rows)
                if progress is not None and total:
                    progress(min(99, int(seen * 100 / total)))
        finally:
            stream.close()
    return sim.result() | {"events_scanned": seen}


def _payload(fields: list[str], values: list, parsed: dict[Any, Any]) -> dict[str, Any]:
    """The fields' values; jsonb reaches a raw cursor as its JSON text (see crm.pipeline._row), parsed once per text."""
    payload = {}
    for name, value in zip(fields, values, strict=True):
        if isinstance(value, str | bytes):
            text = value
            value = parsed.get(text)
            if value is None:
                value = orjson.loads(text)
                if len(parsed) < 100_000:
                    parsed[text] = value
        if value is not None:
            payload[name] = value
    return payload


def _estimate(label_id: int, type_: str, since: dt.datetime, now: dt.datetime) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM crm_event"
            " WHERE label_id = %s AND type = %s AND occurred_at >= %s AND occurred_at < %s",
            [label_id, type_, since, now],
        )
        return cursor.fetchone()[0]


def _players_excluded(rule, compiled: CompiledRule, now: dt.datetime) -> tuple[set[int], dict[int, str]]:
    """Players the rule would skip as things stand (not ACTIVE under the label's setting, control group for a
    gamification-only rule, outside the audience), and every player's wallet currency when accumulation needs it."""
    from django.db.models import Q

    from crm.models import Player

    label = rule.label
    players = Player.objects.filter(label_id=label.pk)
    skip = Q(pk__in=[])
    if label.active_players_only:
        skip |= ~Q(core_account_status=AccountStatus.ACTIVE)
    if compiled.gamification_only:
        skip |= Q(ach_gamification_in_control_group=True)
    excluded = set(players.filter(skip).values_list("pk", flat=True))
    if compiled.has_audience:
        from crm.automation.handler import audience_members

        everyone = set(players.values_list("pk", flat=True))
        excluded |= everyone - audience_members(compiled, everyone, now=now)
    currencies: dict[int, str] = {}
    if any(a["type"] == "accumulate" for a in compiled.activities):
        currencies = dict(players.values_list("pk", "core_wallet_currency"))
    return excluded, currencies


def backtest_execute(*, backtest_id: int) -> None:
    """Run one queued backtest, writing its progress and result on its row only."""
    backtest = BacktestRun.objects.select_related("rule__label").filter(pk=backtest_id).first()
    if backtest is None or backtest.status in ("done", "failed"):
        return
    BacktestRun.objects.filter(pk=backtest_id).update(status="running", progress=0)
    # The progress goes through a connection of its own: the scan holds a transaction open on the default one.
    side = connection.copy()

    def progress(percent: int) -> None:
        with side.cursor() as cursor:
            cursor.execute("UPDATE crm_backtestrun SET progress = %s WHERE id = %s", [percent, backtest_id])

    try:
        result = backtest_run(rule=backtest.rule, days=backtest.days, progress=progress)
    except Exception as exc:
        log.exception("backtest_failed", backtest_id=backtest_id)
        BacktestRun.objects.filter(pk=backtest_id).update(
            status="failed", error=f"{type(exc).__name__}: {exc}"[:500], finished_at=timezone.now()
        )
        return
    finally:
        side.close()
    BacktestRun.objects.filter(pk=backtest_id).update(
        status="done", progress=100, result=result, finished_at=timezone.now()
    )
