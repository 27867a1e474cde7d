"""Tournament scores on the event pipeline.

Per micro-batch: the candidate instances of each label come from an in-process cache (refreshed every
CACHE_SECONDS, with their conditions compiled once), so an event whose type no tournament scores costs a dict
lookup and no query. For the events that may score, one query confirms which instances are running (under their
shared advisory lock, which finalization takes alone: a batch in flight finishes before places are assigned, and a
batch after it skips the instance) and finds control-group players, automatic registration enters the
new players, and one `scores_apply` call applies the whole batch. Automatic entries get their tournament_registered
fact from the next beat (`entries_announce`): ingesting facts would cost the hot path more than the scoring itself.

Cache delay: an instance created or a template changed is seen by the handler at most CACHE_SECONDS later. Instances
are published ahead of their start, so in practice no event is missed; a condition edited on a running tournament
applies within that delay.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import connection

from crm.pipeline import EventRow, handler
from crm.selectors import control_group_player_ids
from gamification.conditions import Predicate, conditions_compile
from gamification.models import InstanceStatus, RegistrationType, ScoreMethod, TournamentInstance
from gamification.services.leaderboard import ScoreUpdate, participants_enter, scores_apply

CACHE_SECONDS = 5.0
ONE = Decimal(1)
_CANDIDATE_STATUSES = (InstanceStatus.PUBLISHED, InstanceStatus.REGISTRATION, InstanceStatus.STARTED)


@dataclass(frozen=True, slots=True)
class Running:
    id: int
    label_id: int
    starts_at: Any
    ends_at: Any
    predicate: Predicate
    method: str
    field: str
    cap: int | None
    auto: bool
    max_players: int | None


# label id -> (monotonic expiry, {event type: [instances]})
_cache: dict[int, tuple[float, dict[str, list[Running]]]] = {}


def cache_clear() -> None:
    """Forget the cached instances (tests change tournaments faster than the cache expires)."""
    _cache.clear()


def _load(label_ids: list[int]) -> dict[int, dict[str, list[Running]]]:
    found: dict[int, dict[str, list[Running]]] = {label_id: defaultdict(list) for label_id in label_ids}
    rows = TournamentInstance.objects.filter(label_id__in=label_ids, status__in=_CANDIDATE_STATUSES).select_related(
        "tournament"
    )
    for instance in rows:
        t = instance.tournament
        found[instance.label_id][t.event_type].append(
            Running(
                id=instance.pk,
                label_id=instance.label_id,
                starts_at=instance.starts_at,
                ends_at=instance.ends_at,
                predicate=conditions_compile(t.conditions or []),
                method=t.score_method,
                field=t.score_field,
                cap=t.max_counted_events,
                auto=t.registration_type == RegistrationType.AUTO,
                max_players=t.max_players,
            )
        )
    return found


def running_by_label(label_ids: set[int]) -> dict[int, dict[str, list[Running]]]:
    now = time.monotonic()
    stale = [label_id for label_id in label_ids if label_id not in _cache or _cache[label_id][0] <= now]
    if stale:
        for label_id, by_type in _load(stale).items():
            _cache[label_id] = (now + CACHE_SECONDS, by_type)
    return {label_id: _cache[label_id][1] for label_id in label_ids}


def _value(instance: Running, payload: dict[str, Any]) -> Decimal | None:
    if instance.method == ScoreMethod.COUNT:
        return ONE
    raw = payload.get(instance.field)
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw) or raw < 0:
        return None  # no usable number: the event does not score
    return Decimal(str(raw))


def score_matches(events: list[EventRow]) -> list[tuple[Running, EventRow, Decimal]]:
    """(instance, event, value) for each running instance an event scores in (the bench's ceiling run uses it too)."""
    running = running_by_label({event.label_id for event in events})
    matches = []
    for event in events:
        for instance in running[event.label_id].get(event.type, ()):
            if instance.starts_at <= event.occurred_at < instance.ends_at and instance.predicate(event.payload):
                value = _value(instance, event.payload)
                if value is not None:
                    matches.append((instance, event, value))
    return matches


def _confirm(instance_ids: list[int], player_ids: list[int]) -> tuple[set[int], set[int]]:
    """The instances running now and the control-group players among `player_ids`.

    Each instance's advisory lock is taken shared, without waiting: only its finalization holds it alone, and then
    the instance no longer scores anyway (waiting could also deadlock with a finalization that waits for a wallet
    row an earlier handler of this batch holds).
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM unnest(%s::bigint[]) AS id"
            " WHERE pg_try_advisory_xact_lock_shared(hashtextextended('tournament-instance:' || id, 0))",
            [instance_ids],
        )
        locked = [row[0] for row in cursor.fetchall()]
        # A new statement, so a new snapshot: a finalization that committed meanwhile is seen. Running means started,
        # or due to start with the beat not there yet (a failed start later makes these scores moot).
        cursor.execute(
            "SELECT id FROM gamification_tournamentinstance WHERE id = ANY(%s)"
            " AND (status = 'started' OR (status IN ('published', 'registration') AND starts_at <= now()))",
            [locked],
        )
        live = {row[0] for row in cursor.fetchall()}
    return live, control_group_player_ids(player_ids=player_ids)


@handler("tournaments", group="gamification", order=40)
def score_tournaments(events: list[EventRow]) -> None:
    """Apply the batch's scores to the running tournaments of its labels."""
    matches = score_matches(events)
    if not matches:
        return
    live, control = _confirm(sorted({m[0].id for m in matches}), sorted({m[1].player_id for m in matches}))
    matches = [m for m in matches if m[0].id in live and m[1].player_id not in control]
    if not matches:
        return
    _auto_enter(matches)
    updates = [ScoreUpdate(i.id, e.player_id, e.id, value, e.occurred_at) for i, e, value in matches]
    rules = {instance.id: (instance.method, instance.cap) for instance, _, _ in matches}
    scores_apply(updates=updates, rules=rules)


def _auto_enter(matches) -> None:
    """Enter the scoring players of automatic tournaments (those already in are left as they are)."""
    instances = {instance.id: instance for instance, _, _ in matches if instance.auto}
    if not instances:
        return
    pairs = {(instance.id, event.player_id) for instance, event, _ in matches if instance.auto}
    # Only players not yet in reach participants_enter: it locks the instance row until the batch commits, which
    # would queue concurrent batches of the same tournament behind each other.
    players: dict[int, set[int]] = defaultdict(set)
    for instance_id, player_id in pairs - _present(pairs):
        players[instance_id].add(player_id)
    # Entered as of the batch's first event: a score's time is then when the player's own events reached it, so a
    # tie goes to who reached it first, not to the order of entry.
    first = min(event.occurred_at for _, event, _ in matches)
    for instance_id, player_ids in sorted(players.items()):  # instance rows locked in id order: no deadlock
        instance = instances[instance_id]
        participants_enter(
            instance_id=instance.id,
            label_id=instance.label_id,
            player_ids=sorted(player_ids),
            max_players=instance.max_players,
            at=first,
        )


def _present(pairs: set[tuple[int, int]]) -> set[tuple[int, int]]:
    ordered = sorted(pairs)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT p.instance_id, p.player_id FROM gamification_tournamentparticipant p"
            " JOIN unnest(%s::bigint[], %s::bigint[]) AS w(instance_id, player_id)"
            "   ON p.instance_id = w.instance_id AND p.player_id = w.player_id",
            [[i for i, _ in ordered], [p for _, p in ordered]],
        )
        return set(cursor.fetchall())
