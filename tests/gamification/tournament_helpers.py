"""Shared builders of the tournament tests."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

from crm.pipeline import events_apply
from crm.services.ingest import events_ingest
from gamification.handlers.tournaments import cache_clear
from gamification.models import Tournament, TournamentInstance, TournamentPrize
from gamification.services.leaderboard import ScoreUpdate, participants_enter, scores_apply
from tests.factories import PlayerFactory

_ids = itertools.count(1)
T0 = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)


def tournament_make(label, *, prizes=(), **fields) -> Tournament:
    defaults = {
        "name": "Slots sprint",
        "status": "active",
        "starts_at": T0,
        "duration": dt.timedelta(hours=1),
        "event_type": "casino_bet",
        "registration_type": "opt_in",
    }
    tournament = Tournament.objects.create(label=label, **(defaults | fields))
    for place_from, place_to, points in prizes:
        TournamentPrize.objects.create(tournament=tournament, place_from=place_from, place_to=place_to, points=points)
    return tournament


def instance_make(tournament: Tournament, status: str = "registration", **fields) -> TournamentInstance:
    starts_at = fields.pop("starts_at", tournament.starts_at)
    cache_clear()
    return TournamentInstance.objects.create(
        label_id=tournament.label_id,
        tournament=tournament,
        status=status,
        registration_opens_at=starts_at - dt.timedelta(hours=1),
        starts_at=starts_at,
        ends_at=starts_at + tournament.duration,
        **fields,
    )


def players_make(tenant, count: int, prefix: str = "p") -> list:
    return [PlayerFactory(brand=tenant.brand, label=tenant.label, user_ext_id=f"{prefix}{n}") for n in range(count)]


def play(tenant, events: list[tuple]) -> None:
    """Ingest (player, type, payload, occurred_at) events through the partner path and run the pipeline on them."""
    items = [
        {
            "event_id": f"ev-{next(_ids)}",
            "type": kind,
            "ext_brand_id": tenant.brand.ext_brand_id,
            "user_ext_id": player.user_ext_id,
            "occurred_at": at.isoformat(),
            "payload": payload,
        }
        for player, kind, payload, at in events
    ]
    result = events_ingest(label=tenant.label, items=items, source="api")
    assert result.counts()["accepted"] == len(items), result.items
    events_apply(result.new_ids)


def scores_set(instance: TournamentInstance, players: list, step: int = 1) -> None:
    """Enter `players` (before the start) and give player n the score n * step, through the leaderboard's writes."""
    participants_enter(
        instance_id=instance.pk,
        label_id=instance.label_id,
        player_ids=[p.pk for p in players],
        at=T0 - dt.timedelta(hours=1),
    )
    updates = [
        ScoreUpdate(instance.pk, player.pk, 10_000_000 + n, Decimal(n * step), T0 + dt.timedelta(minutes=n))
        for n, player in enumerate(players, start=1)
    ]
    scores_apply(updates=updates, rules={instance.pk: ("sum", None)})
