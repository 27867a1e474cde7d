"""The `automation` consumer group's rules handler: real-time rules over a page of events.

For the page: the labels' active rules by trigger type (compiled, cached), each event's payload tested against the
rules of its type in Python, the audience (segment, condition tree) checked once per rule for all the page's
candidates in one SQL statement, then `effects_fire` in event order and, within an event, priority order.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from django.db import connection

from crm.automation.engine import Firing, effects_fire
from crm.automation.rules_cache import CompiledRule, realtime_rules
from crm.pipeline import EventRow, handler


@handler("rules", group="automation", order=10)
def rules_apply(events: list[EventRow]) -> None:
    """Fire the active real-time rules the page's events match (each effect once: see crm.automation.engine)."""
    if not events:
        return
    rule_sets = realtime_rules({e.label_id for e in events})
    firings: list[Firing] = []
    for event in events:
        rules = rule_sets[event.label_id].by_type.get(event.type) if event.label_id in rule_sets else None
        for rule in rules or ():
            if rule.predicate(event.payload):
                firings.append(
                    Firing(rule, event.player_id, event.occurred_at, event_id=event.id, payload=event.payload)
                )
    if not firings:
        return
    firings = audience_filter(firings, now=dt.datetime.now(dt.UTC))
    settings = {label_id: (s.active_players_only, s.time_zone) for label_id, s in rule_sets.items()}
    effects_fire(firings, label_settings=settings)


def audience_filter(firings: list[Firing], *, now: dt.datetime) -> list[Firing]:
    """Keep the firings whose player is in their rule's audience: one membership query per rule with an audience."""
    candidates: dict[int, set[int]] = defaultdict(set)
    rules: dict[int, CompiledRule] = {}
    for firing in firings:
        if firing.rule.has_audience:
            candidates[firing.rule.id].add(firing.player_id)
            rules[firing.rule.id] = firing.rule
    if not candidates:
        return firings
    members = {rule_id: audience_members(rules[rule_id], ids, now=now) for rule_id, ids in candidates.items()}
    return [f for f in firings if not f.rule.has_audience or f.player_id in members[f.rule.id]]


def audience_members(rule: CompiledRule, player_ids: set[int], *, now: dt.datetime) -> set[int]:
    """Which of `player_ids` are in the rule's segment and match its condition tree, now."""
    ids = set(player_ids)
    if rule.segment_id is not None and ids:
        from crm.models.segments import Segment
        from crm.services.segments import segment_member_ids

        segment = Segment.objects.get(pk=rule.segment_id)
        ids &= set(segment_member_ids(segment=segment, player_ids=ids))
    if rule.segment_conditions and ids:
        from crm.conditions import players_query

        sql, params = players_query(rule.segment_conditions, label_id=rule.label_id, now=now, player_ids=ids)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            ids = {row[0] for row in cursor.fetchall()}
    return ids
