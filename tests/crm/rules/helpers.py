"""Making rules and feeding events through the real pipeline handlers, for the rules tests."""

from __future__ import annotations

import itertools

from crm.models.rules import Rule, RuleKind, RuleStatus
from crm.services.rules import rule_save, rule_transition
from tests.gamification.mission_helpers import event, feed  # noqa: F401 - re-exported for the tests

_ids = itertools.count(1)
BIG_DEPOSITS = [{"field": "deposit_amount", "op": "gte", "value": 100}]
POINTS_50 = [{"type": "points", "amount": 50}]


def rule_make(label, *, status=RuleStatus.ACTIVE, **fields) -> Rule:
    """A real-time rule (default: 50 points per deposit of at least 100), activated unless `status` says otherwise."""
    fields.setdefault("kind", RuleKind.REALTIME)
    if fields["kind"] == RuleKind.REALTIME:
        fields.setdefault("trigger_type", "deposit")
        fields.setdefault("conditions", BIG_DEPOSITS)
    fields.setdefault("activities", POINTS_50)
    rule = rule_save(rule=Rule(label=label, name=fields.pop("name", f"Rule {next(_ids)}"), **fields))
    if status != RuleStatus.DRAFT:
        rule_transition(rule=rule, to=RuleStatus.ACTIVE)
        if status != RuleStatus.ACTIVE:
            rule_transition(rule=rule, to=status)
    return rule


def deposit(amount, *, at="2026-01-05T12:00:00Z", user="shared-player", event_id=None, **extra) -> dict:
    return event("deposit", {"deposit_amount": amount, **extra}, at=at, user=user, event_id=event_id)


def bet(amount, *, at="2026-01-05T12:00:00Z", user="shared-player") -> dict:
    return event("casino_bet", {"bet_amount": amount, "game_id": "g1", "game_name": "Book"}, at=at, user=user)
