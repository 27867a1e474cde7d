"""Writes on automation rules: validation, status changes, backtests; and the audience estimate the admin shows.

A rule is checked as a whole when saved (`rule_errors`): its trigger type and event conditions against the label's
event catalogue, its audience tree (crm.conditions), its schedule, its activities, its cap. Only a valid rule can be
activated. Every change clears the process's compiled rules (other processes see the change at their next batch).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from backoffice.errors import DomainValidationError, Refused
from crm.automation.activities import activities_errors
from crm.automation.rules_cache import rules_cache_clear
from crm.automation.schedule import ScheduleError, schedule_next, schedule_parse
from crm.models.rules import BacktestRun, Rule, RuleKind, RuleStatus

if TYPE_CHECKING:
    from django.contrib.auth.models import User

TRANSITIONS: dict[str, set[str]] = {
    RuleStatus.DRAFT: {RuleStatus.ACTIVE, RuleStatus.ARCHIVED},
    RuleStatus.ACTIVE: {RuleStatus.PAUSED, RuleStatus.ARCHIVED},
    RuleStatus.PAUSED: {RuleStatus.ACTIVE, RuleStatus.ARCHIVED},
    RuleStatus.ARCHIVED: set(),
}
MAX_BACKTEST_DAYS = 90


class InvalidTransition(Refused):
    default_code = "invalid_transition"


def rule_errors(*, rule: Rule) -> dict[str, list[str]]:
    """Everything wrong with the rule, by field (empty: it can be activated)."""
    errors: dict[str, list[str]] = {}
    if rule.kind == RuleKind.REALTIME:
        errors |= _trigger_errors(rule)
    else:
        try:
            schedule_parse(rule.schedule or "")
        except ScheduleError as exc:
            errors["schedule"] = [str(exc)]
    errors |= _audience_errors(rule)
    errors |= activities_errors(rule.activities, label_id=rule.label_id)
    if (rule.cap_count is None) != (not rule.cap_period):
        errors["cap_count"] = ["A frequency cap needs both a count and a period."]
    elif rule.cap_count == 0:
        errors["cap_count"] = ["At least 1."]
    return errors


def _trigger_errors(rule: Rule) -> dict[str, list[str]]:
    from django.core.exceptions import ValidationError

    from crm.selectors import event_catalogue
    from gamification.conditions import catalogue_errors, conditions_validate

    if not rule.trigger_type:
        return {"trigger_type": ["A real-time rule needs the event type that fires it."]}
    try:
        conditions_validate(rule.conditions)
    except ValidationError as exc:
        return {"conditions": list(exc.messages)}
    catalogue = event_catalogue(label_id=rule.label_id)
    found = catalogue_errors(catalogue, event_type=rule.trigger_type, conditions=rule.conditions)
    return {("trigger_type" if k == "event_type" else k): v for k, v in found.items()}


def _audience_errors(rule: Rule) -> dict[str, list[str]]:
    if rule.segment is not None and rule.segment.label_id != rule.label_id:
        return {"segment": ["Choose a segment of the rule's own label."]}
    tree = rule.segment_conditions
    if not tree:
        return {}
    if not isinstance(tree, dict):
        return {"segment_conditions": ["A condition tree (an object), or empty for every player."]}
    from crm.conditions import TreeError, tree_validate

    try:
        tree_validate(tree, label_id=rule.label_id)
    except TreeError as exc:
        return {"segment_conditions": [f"{path}: {'; '.join(msgs)}" for path, msgs in exc.errors.items()]}
    return {}


def rule_save(*, rule: Rule, by: User | None = None) -> Rule:
    """Create or update a rule; an active rule must stay valid (400 naming the fields otherwise)."""
    if rule.status == RuleStatus.ACTIVE:
        errors = rule_errors(rule=rule)
        if errors:
            raise DomainValidationError(errors)
    if rule.pk is None and by is not None:
        rule.created_by = by
    with transaction.atomic():
        rule.save()
    rules_cache_clear(rule.label_id)
    return rule


def rule_transition(*, rule: Rule, to: str, by: User | None = None) -> Rule:
    """Move the rule to `to` (draft → active ⇄ paused → archived). Activating checks the rule (400 naming fields)."""
    if to not in TRANSITIONS.get(rule.status, set()):
        raise InvalidTransition(f"A {rule.status} rule cannot become {to}.")
    if to == RuleStatus.ACTIVE:
        errors = rule_errors(rule=rule)
        if errors:
            raise DomainValidationError(errors)
        rule.activated_at = timezone.now()
    rule.status = to
    rule.save(update_fields=["status", "activated_at", "updated_at"])
    rules_cache_clear(rule.label_id)
    return rule


def rule_next_runs(*, rule: Rule, count: int = 5, after: dt.datetime | None = None) -> list[dt.datetime]:
    """A scheduled rule's next run times (UTC); empty when the schedule is not valid."""
    try:
        schedule = schedule_parse(rule.schedule or "")
    except ScheduleError:
        return []
    return schedule_next(schedule, tz_name=rule.label.time_zone, after=after or timezone.now(), count=count)


def backtest_start(*, rule: Rule, days: int, by: User | None = None) -> BacktestRun:
    """Queue a backtest of the rule over the last `days` days (after commit). The rule need not be active."""
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_BACKTEST_DAYS:
        raise DomainValidationError({"days": [f"A whole number of days from 1 to {MAX_BACKTEST_DAYS}."]})
    if rule.kind != RuleKind.REALTIME:
        raise DomainValidationError({"kind": ["Only a real-time rule can be backtested (it replays events)."]})
    errors = {k: v for k, v in rule_errors(rule=rule).items() if k != "activities" or rule.activities}
    if errors:
        raise DomainValidationError(errors)
    backtest = BacktestRun.objects.create(label_id=rule.label_id, rule=rule, days=days, requested_by=by)

    def send() -> None:
        from crm.automation.tasks import rules_backtest

        rules_backtest.delay(backtest.pk)

    transaction.on_commit(send)
    return backtest


def rule_audience_estimate(*, rule: Rule, now: dt.datetime | None = None) -> dict[str, Any]:
    """How many players the audience holds now, and (real-time) the share of the last 7 days' trigger events whose
    fields match the conditions: what the admin's "estimate audience" shows."""
    from crm.automation.backtest import conditions_sql
    from crm.automation.selectors import rule_audience_count

    now = now or timezone.now()
    result: dict[str, Any] = {"players": rule_audience_count(rule=rule, now=now)}
    if rule.kind == RuleKind.REALTIME and rule.trigger_type:
        from django.db import connection

        where, params = conditions_sql(rule.conditions or [])
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT count(*), count(*) FILTER (WHERE {where}) FROM crm_event e"  # noqa: S608 - built from a whitelist
                " WHERE e.label_id = %s AND e.type = %s AND e.occurred_at >= %s",
                [*params, rule.label_id, rule.trigger_type, now - dt.timedelta(days=7)],
            )
            total, matching = cursor.fetchone()
        result |= {"events_7d": total, "matching_7d": matching, "share": (matching / total) if total else None}
    return result
