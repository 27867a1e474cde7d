"""Scheduled rules: the beat starts each due run once (a `RuleRun` unique per rule and schedule time), and a task
works through the audience in chunks of players by id. Each chunk's effects (unique per rule, player and run) and
the run's position commit together, under the run's row lock, so a killed worker's run is resumed where it stopped
(by the next beat) and nothing is applied twice.
"""

from __future__ import annotations

import datetime as dt

import structlog
from django.db import connection, transaction
from django.utils import timezone

from crm.automation.engine import Firing, effects_fire
from crm.automation.rules_cache import rule_compile
from crm.automation.schedule import ScheduleError, schedule_due, schedule_parse
from crm.models.rules import Rule, RuleKind, RuleRun, RuleStatus

log = structlog.get_logger(__name__)

CHUNK = 1000
STALE = dt.timedelta(minutes=2)
CATCH_UP = dt.timedelta(days=2)  # a beat down for longer runs once, for the latest time, not for every missed one


def runs_due(*, now: dt.datetime | None = None) -> list[int]:
    """Create the runs that are due (at most one per rule: its latest due time) and return their ids, with the runs
    a dead worker left (no progress for `STALE`)."""
    now = now or timezone.now()
    new = []
    rules = Rule.objects.filter(status=RuleStatus.ACTIVE, kind=RuleKind.SCHEDULED).select_related("label")
    for rule in rules:
        try:
            schedule = schedule_parse(rule.schedule)
        except ScheduleError:
            continue
        last = RuleRun.objects.filter(rule=rule).order_by("-scheduled_for").values_list("scheduled_for", flat=True)
        since = max(last.first() or rule.activated_at or now, now - CATCH_UP)
        due = schedule_due(schedule, tz_name=rule.label.time_zone, last=since, now=now)
        if due is not None:
            run, created = RuleRun.objects.get_or_create(rule=rule, scheduled_for=due, defaults={"label": rule.label})
            if created:
                new.append(run.pk)
    stale = RuleRun.objects.filter(status="running", started_at__lt=now - STALE).exclude(heartbeat_at__gte=now - STALE)
    return new + [pk for pk in stale.values_list("pk", flat=True) if pk not in new]


def _audience_sql(rule: Rule, now: dt.datetime) -> tuple[str, list]:
    """One SELECT of the audience's player ids (a single column)."""
    if rule.segment_id is None and not rule.segment_conditions:
        return "SELECT id FROM crm_player WHERE label_id = %s", [rule.label_id]
    parts, params = [], []
    if rule.segment is not None:
        from crm.services.segments import segment_query

        sql, args = segment_query(segment=rule.segment)
        parts.append(sql)
        params += list(args)
    if rule.segment_conditions:
        from crm.conditions import players_query

        sql, args = players_query(rule.segment_conditions, label_id=rule.label_id, now=now)
        parts.append(sql)
        params += list(args)
    selects = [f"(SELECT * FROM ({p}) AS s{i}(id))" for i, p in enumerate(parts)]  # noqa: S608 - SQL of the engine
    return " INTERSECT ".join(selects), params


def run_execute(*, run_id: int, chunk: int = CHUNK, max_chunks: int | None = None) -> int:
    """Work through the run's players from where it stopped; return how many were done by this call."""
    done = 0
    chunks = 0
    while max_chunks is None or chunks < max_chunks:
        count = _chunk(run_id, chunk)
        if count is None:
            break
        done += count
        chunks += 1
    return done


def _chunk(run_id: int, size: int) -> int | None:
    """One chunk in one transaction: the next players' effects and the run's position. None when the run is over."""
    with transaction.atomic():
        run = RuleRun.objects.select_for_update().select_related("rule__label").filter(pk=run_id).first()
        if run is None or run.status != "running":
            return None
        rule = run.rule
        now = timezone.now()
        if rule.status != RuleStatus.ACTIVE:  # paused or archived meanwhile: the run stops here
            _finish(run, "stopped", now)
            return None
        sql, params = _audience_sql(rule, now)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT a.id FROM ({sql}) AS a(id) WHERE a.id > %s ORDER BY a.id LIMIT %s",  # noqa: S608
                [*params, run.after_player_id, size],
            )
            ids = [row[0] for row in cursor.fetchall()]
        if not ids:
            _finish(run, "done", now)
            return None
        compiled = rule_compile(rule)
        firings = [Firing(compiled, pid, run.scheduled_for, run_id=run.pk) for pid in ids]
        effects_fire(firings, label_settings={rule.label_id: (rule.label.active_players_only, rule.label.time_zone)})
        run.after_player_id, run.players, run.heartbeat_at = ids[-1], run.players + len(ids), now
        run.save(update_fields=["after_player_id", "players", "heartbeat_at"])
    return len(ids)


def _finish(run: RuleRun, status: str, now: dt.datetime) -> None:
    run.status, run.finished_at, run.heartbeat_at = status, now, now
    run.save(update_fields=["status", "finished_at", "heartbeat_at"])
    log.info("rule_run_finished", run_id=run.pk, rule_id=run.rule_id, status=status, players=run.players)
