"""Active rules per label, compiled once: conditions into a predicate, expressions into `Expression`s.

The cache is per process and keyed by a cheap version read once per batch (count and newest `updated_at` of the
label's active rules), so a rule activated, paused or edited in the admin is seen by every worker at its next batch;
a change in this process also clears it at once (`rules_cache_clear`).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import connection

from crm.automation.activities import GAMIFICATION_TYPES, WALLET_TYPES
from crm.models.rules import Rule, RuleKind, RuleStatus


@dataclass(frozen=True)
class CompiledRule:
    """What firing a rule needs, read once: no query per event."""

    id: int
    label_id: int
    name: str
    kind: str
    trigger_type: str
    predicate: Callable[[dict[str, Any]], bool]
    segment_id: int | None
    segment_conditions: dict | None
    activities: tuple[dict[str, Any], ...]
    expressions: dict[int, Any] = field(default_factory=dict)  # activity index -> compiled Expression
    priority: int = 100
    once_in_lifetime: bool = False
    cap_count: int | None = None
    cap_period: str = ""
    webhook_secret: str = ""
    gamification_only: bool = False
    uses_state: bool = False

    @property
    def has_counters(self) -> bool:
        return self.once_in_lifetime or self.cap_count is not None

    @property
    def has_audience(self) -> bool:
        return self.segment_id is not None or bool(self.segment_conditions)

    @property
    def credits(self) -> bool:
        """Its activities may credit a wallet (points, gems, diamonds added, or an accumulation)."""
        return any(a["type"] == "accumulate" or (a["type"] in WALLET_TYPES and not a.get("deduct"))
                   for a in self.activities)  # fmt: skip

    @property
    def reads_wallet(self) -> bool:
        """Its activities read or take back what the activities before them wrote (a debit, a badge's stage and
        fact): the credits of earlier effects must be written before it, and its own are written as it goes."""
        return any(a.get("deduct") or a["type"] == "badge" for a in self.activities)


@dataclass
class LabelRules:
    version: tuple
    by_type: dict[str, list[CompiledRule]]
    active_players_only: bool
    time_zone: str


_cache: dict[int, LabelRules] = {}
_lock = threading.Lock()


def rules_cache_clear(label_id: int | None = None) -> None:
    """Forget the compiled rules of a label (all labels with None): the next batch reads them again."""
    with _lock:
        if label_id is None:
            _cache.clear()
        else:
            _cache.pop(label_id, None)


def rule_compile(rule: Rule) -> CompiledRule:
    """Compile one rule (assumed valid: rules are validated when saved)."""
    from gamification.conditions import conditions_compile

    expressions: dict[int, Any] = {}
    uses_state = False
    for index, activity in enumerate(rule.activities or []):
        if activity.get("type") in WALLET_TYPES and "expression" in activity:
            from crm.expressions import expression_compile

            compiled = expression_compile(activity["expression"])
            expressions[index] = compiled
            uses_state = uses_state or any(r.startswith("state.") for r in compiled.references())
    activities = tuple(rule.activities or [])
    return CompiledRule(
        id=rule.pk,
        label_id=rule.label_id,
        name=rule.name,
        kind=rule.kind,
        trigger_type=rule.trigger_type,
        predicate=conditions_compile(rule.conditions or []),
        segment_id=getattr(rule, "segment_id", None),
        segment_conditions=rule.segment_conditions or None,
        activities=activities,
        expressions=expressions,
        priority=rule.priority,
        once_in_lifetime=rule.once_in_lifetime,
        cap_count=rule.cap_count,
        cap_period=rule.cap_period,
        webhook_secret=rule.webhook_secret,
        gamification_only=bool(activities) and all(a.get("type") in GAMIFICATION_TYPES for a in activities),
        uses_state=uses_state,
    )


_VERSIONS = """
SELECT l.id, l.active_players_only, l.time_zone, count(r.id), max(r.updated_at)
  FROM backoffice_label l
  LEFT JOIN crm_rule r ON r.label_id = l.id AND r.status = %s AND r.kind = %s
 WHERE l.id = ANY(%s)
 GROUP BY l.id
"""


def realtime_rules(label_ids: Iterable[int]) -> dict[int, LabelRules]:
    """The labels' active real-time rules by trigger type, in priority order: one query when nothing changed."""
    ids = sorted(set(label_ids))
    with connection.cursor() as cursor:
        cursor.execute(_VERSIONS, [RuleStatus.ACTIVE, RuleKind.REALTIME, ids])
        versions = {row[0]: row for row in cursor.fetchall()}
    out: dict[int, LabelRules] = {}
    for label_id, (_, active_only, tz, count, newest) in versions.items():
        version = (count, newest, active_only, tz)
        cached = _cache.get(label_id)
        if cached is None or cached.version != version:
            cached = _load(label_id, version, active_only, tz)
            with _lock:
                _cache[label_id] = cached
        out[label_id] = cached
    return out


def _load(label_id: int, version: tuple, active_only: bool, tz: str) -> LabelRules:
    rules = Rule.objects.filter(label_id=label_id, status=RuleStatus.ACTIVE, kind=RuleKind.REALTIME)
    by_type: dict[str, list[CompiledRule]] = {}
    for rule in rules.order_by("priority", "id"):
        by_type.setdefault(rule.trigger_type, []).append(rule_compile(rule))
    return LabelRules(version=version, by_type=by_type, active_players_only=active_only, time_zone=tz)


def period_key(period: str, at: dt.datetime, tz_name: str) -> str:
    """The key of the cap period `at` falls in, in the label's time zone."""
    from zoneinfo import ZoneInfo

    local = at.astimezone(ZoneInfo(tz_name))
    if period == "hour":
        return local.strftime("%Y-%m-%dT%H")
    if period == "day":
        return local.strftime("%Y-%m-%d")
    if period == "week":
        year, week, _ = local.isocalendar()
        return f"{year}-W{week:02d}"
    if period == "month":
        return local.strftime("%Y-%m")
    return "ever"
