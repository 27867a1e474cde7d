"""Reads of automation rules: label-scoped lists, the audience count, stats per hour or day."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from django.db import connection
from django.db.models import Max, QuerySet, Sum
from django.utils import timezone

from crm.models.rules import Rule, RuleStat

if TYPE_CHECKING:
    from backoffice.scoping import Actor


def rules_for_actor(*, actor: Actor) -> QuerySet[Rule]:
    """The rules of the labels the actor may see, with their totals (fired, applied, failed, last fired)."""
    return (
        Rule.objects.for_actor(actor)
        .select_related("label")
        .annotate(
            total_fired=Sum("stats__fired"),
            total_applied=Sum("stats__applied"),
            total_skipped=Sum("stats__skipped"),
            total_failed=Sum("stats__failed"),
            last_fired=Max("stats__last_fired_at"),
        )
    )


def rule_for_actor(*, actor: Actor, rule_id: int) -> Rule:
    """One of the actor's rules with its totals; NotFound for a missing id and another label's alike."""
    from backoffice.errors import NotFound

    rule = rules_for_actor(actor=actor).filter(pk=rule_id).first()
    if rule is None:
        raise NotFound("No such rule.")
    return rule


def rules_using_segment(segment) -> list[tuple[str, Any]]:
    """The rules limited to `segment` (archived ones included: they still name it), for `segment_uses`."""
    return [("Rule", rule) for rule in Rule.objects.filter(segment=segment).order_by("name")]


def rule_audience_count(*, rule: Rule, now: dt.datetime | None = None) -> int:
    """How many players are in the rule's audience now (segment and condition tree; none: the whole label)."""
    from crm.automation.scheduled import _audience_sql

    sql, params = _audience_sql(rule, now or timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM ({sql}) AS a(id)", params)  # noqa: S608
        return cursor.fetchone()[0]


def rule_stats(*, rule: Rule, days: int = 14, now: dt.datetime | None = None, hourly: bool = False) -> list[dict]:
    """Fired, applied, skipped and failed per day (label time zone) or per hour over the last `days` days, oldest
    first, with empty periods as zeros (for the chart)."""
    from zoneinfo import ZoneInfo

    now = now or timezone.now()
    tz = ZoneInfo(rule.label.time_zone)
    since = now - dt.timedelta(days=days)
    rows = RuleStat.objects.filter(rule=rule, hour__gte=since).values_list(
        "hour", "fired", "applied", "skipped", "failed"
    )
    buckets: dict[str, dict[str, Any]] = {}
    for key in _periods(since, now, tz, hourly):
        buckets[key] = {"period": key, "fired": 0, "applied": 0, "skipped": 0, "failed": 0}
    for hour, fired, applied, skipped, failed in rows:
        key = _key(hour.astimezone(tz), hourly)
        bucket = buckets.setdefault(key, {"period": key, "fired": 0, "applied": 0, "skipped": 0, "failed": 0})
        bucket["fired"] += fired
        bucket["applied"] += applied
        bucket["skipped"] += skipped
        bucket["failed"] += failed
    return [buckets[k] for k in sorted(buckets)]


def _key(local: dt.datetime, hourly: bool) -> str:
    return local.strftime("%Y-%m-%d %H:00" if hourly else "%Y-%m-%d")


def _periods(since: dt.datetime, now: dt.datetime, tz, hourly: bool) -> list[str]:
    step = dt.timedelta(hours=1) if hourly else dt.timedelta(days=1)
    keys, at = [], since
    while at <= now:
        keys.append(_key(at.astimezone(tz), hourly))
        at += step
    keys.append(_key(now.astimezone(tz), hourly))
    return sorted(set(keys))
