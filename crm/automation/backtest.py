"""Backtest: replay a (draft) real-time rule over the last N days of the label's events, writing nothing but the
backtest's own row.

The trigger type, the window and the event-field conditions are pushed into SQL (one scan of the label's events by
type and time, `event_label_type_occurred`), fetching only the player, the local day and the few payload fields the
activities read. Caps, once-in-a-lifetime, accumulation and amounts are then simulated in Python on those rows in
time order. The audience and responsible gambling use the players' state as it is now (the past state is not kept),
which the page says.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import orjson
import structlog
from django.db import connection
from django.utils import timezone

from crm.automation import activities as acts
from crm.automation.rules_cache import CompiledRule, rule_compile
from crm.models import AccountStatus
from crm.models.rules import BacktestRun

log = structlog.get_logger(__name__)

CHUNK = 50_000
# A cap period's key in SQL, exactly as `period_key` writes it (the local time is `e.occurred_at AT TIME ZONE %s`).
PERIOD_SQL = {
    "hour": "to_char(e.occurred_at AT TIME ZONE %s, 'YYYY-MM-DD\"T\"HH24')",
    "day": "to_char(e.occurred_at AT TIME ZONE %s, 'YYYY-MM-DD')",
    "week": "to_char(e.occurred_at AT TIME ZONE %s, 'IYYY-\"W\"IW')",
    "month": "to_char(e.occurred_at AT TIME ZONE %s, 'YYYY-MM')",
    "ever": "('ever' || left(%s, 0))",
}


def conditions_sql(conditions: list[Mapping[str, Any]]) -> tuple[str, list]:
    """The event-condition list as a SQL boolean over `e.payload` (no conditions: TRUE), with the exact semantics of
    `gamification.conditions.conditions_compile` (the roll-ups' compiler)."""
    from crm.conditions.events_sql import event_conditions_sql

    return event_conditions_sql(list(conditions), payload="e.payload")


# --- the simulation ------------------------------------------------------------------------------------------------
class Simulation:
    """Caps, once-in-a-lifetime, accumulation and costs of one rule over matching events in time order."""

    def __init__(self, rule: CompiledRule, *, tz: str, currencies: dict[int, str]):
        self.rule, self.tz, self.currencies = rule, tz, currencies
        self.counters: dict[tuple[int, str], int] = defaultdict(int)
        self.remainders: dict[tuple[int, int], Decimal] = defaultdict(Decimal)
        self.days: dict[str, dict[str, Any]] = {}
        self.players: set[int] = set()
        self.day_players: dict[str, set[int]] = defaultdict(set)
        self.totals: dict[str, int] = defaultdict(int)

    def _day(self, day: str) -> dict[str, Any]:
        row = self.days.get(day)
        if row is None:
            row = self.days[day] = {"day": day, "matched": 0, "effects": 0, "capped": 0, "points": 0, "gems": 0,
                                    "diamonds": 0, "bonuses": 0, "markers": 0, "missions": 0, "badges": 0,
                                    "webhooks": 0}  # fmt: skip
        return row

    def feed(self, player_id: int, period: str, day: str, payload: dict[str, Any]) -> None:
        """One matching event: `period` is its cap period's key (`period_key`, computed in SQL), `day` its local day."""
        row = self.days.get(day) or self._day(day)
        row["matched"] += 1
        if (self.rule.once_in_lifetime or self.rule.cap_count is not None) and not self._counters_take(
            player_id, period
        ):
            row["capped"] += 1
            return
        row["effects"] += 1
        self.players.add(player_id)
        self.day_players[day].add(player_id)
        for index, activity in enumerate(self.rule.activities):
            self._cost(row, player_id, payload, index, activity)

    def _counters_take(self, player_id: int, period: str) -> bool:
        rule = self.rule
        keys = []
        if rule.once_in_lifetime:
            keys.append(((player_id, "life"), 1))
        if rule.cap_count is not None:
            keys.append(((player_id, period), rule.cap_count))
        if any(self.counters[key] >= limit for key, limit in keys):
            return False
        for key, _ in keys:
            self.counters[key] += 1
        return True

    def _cost(self, row: dict, player_id: int, payload: dict, index: int, a: dict[str, Any]) -> None:
        t = a["type"]
        if t in acts.WALLET_TYPES:
            if "expression" in a:
                from crm.expressions import ExpressionError

                try:
                    amount = acts.whole(self.rule.expressions[index].evaluate(event=payload, state={}))
                except ExpressionError:
                    amount = 0
            else:
                amount = a["amount"]
            row[t] += -amount if a.get("deduct") else amount
        elif t == "accumulate":
            per = acts.per_for(a, self.currencies.get(player_id, ""))
            raw = payload.get(a["field"])
            if per is None or isinstance(raw, bool) or not isinstance(raw, int | float | Decimal) or raw <= 0:
                return
            credit, rest = acts.accumulate_step(
                remainder=self.remainders[(player_id, index)], value=Decimal(str(raw)), per=per, amount=a["amount"]
            )
            self.remainders[(player_id, index)] = rest
            row[a["currency"]] += credit
        else:
            row[{"bonus": "bonuses", "set_marker": "markers", "remove_marker": "markers", "mission": "missions",
                 "badge": "badges", "webhook": "webhooks"}[t]] += 1  # fmt: skip

    def result(self) -> dict[str, Any]:
        days = [dict(self.days[d], players=len(self.day_players[d])) for d in sorted(self.days)]
        keys = ("matched", "effects", "capped", "points", "gems", "diamonds", "bonuses", "markers", "missions",
                "badges", "webhooks")  # fmt: skip
        totals = {k: sum(d[k] for d in days) for k in keys}
        return {"players": len(self.players), "totals": totals, "days": days}


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
    label = rule.label
    since = now - dt.timedelta(days=days)
    where, params = conditions_sql(rule.conditions or [])
    fields = _fields_needed(compiled)
    picks = "".join(", e.payload->%s" for _ in fields)
    excluded, currencies = _players_excluded(rule, compiled, now)
    sim = Simulation(compiled, tz=label.time_zone, currencies=currencies)
    period = PERIOD_SQL.get(rule.cap_period or "", "left(%s, 0)")  # every branch takes the time zone once
    sql = (
        f"SELECT e.player_id, e.occurred_at, e.id, to_char(e.occurred_at AT TIME ZONE %s, 'YYYY-MM-DD'),"  # noqa: S608
        f" {period}{picks}"
        f" FROM crm_event e WHERE e.label_id = %s AND e.type = %s AND e.occurred_at >= %s AND e.occurred_at < %s"
        f" AND ({where}) AND (e.occurred_at, e.id) > (%s, %s) ORDER BY e.occurred_at, e.id LIMIT {CHUNK}"
    )
    total = _estimate(label.pk, rule.trigger_type, since, now)
    seen, after = 0, (since - dt.timedelta(microseconds=1), 0)
    with connection.cursor() as cursor:
        while True:  # pages by (occurred_at, id), each in autocommit: the progress shows as it goes
            tz = label.time_zone
            cursor.execute(sql, [tz, tz, *fields, label.pk, rule.trigger_type, since, now, *params, *after])
            rows = cursor.fetchall()
            feed = sim.feed
            for player_id, _, _, day, key, *values in rows:
                if player_id not in excluded:
                    feed(player_id, key, day, _payload(fields, values) if fields else {})
            seen += len(rows)
            if len(rows) < CHUNK:
                break
            after = (rows[-1][1], rows[-1][2])
            if progress is not None and total:
                progress(min(99, int(seen * 100 / total)))
    result = sim.result()
    result |= {"events_scanned": seen, "from": since.isoformat(), "to": now.isoformat(), "days_back": days}
    return result


def _payload(fields: list[str], values: list) -> dict[str, Any]:
    # jsonb reaches a raw cursor as its JSON text (see crm.pipeline._row)
    pairs = zip(fields, values, strict=True)
    return {f: orjson.loads(v) if isinstance(v, str | bytes) else v for f, v in pairs if v is not None}


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

    def progress(percent: int) -> None:
        BacktestRun.objects.filter(pk=backtest_id).update(progress=percent)

    try:
        result = backtest_run(rule=backtest.rule, days=backtest.days, progress=progress)
    except Exception as exc:
        log.exception("backtest_failed", backtest_id=backtest_id)
        BacktestRun.objects.filter(pk=backtest_id).update(
            status="failed", error=f"{type(exc).__name__}: {exc}"[:500], finished_at=timezone.now()
        )
        return
    BacktestRun.objects.filter(pk=backtest_id).update(
        status="done", progress=100, result=result, finished_at=timezone.now()
    )
