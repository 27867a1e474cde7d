"""Scoring through the real pipeline: events ingested, then processed by every registered handler."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from crm.models import Event
from gamification.models import TournamentParticipant
from gamification.selectors.leaderboard import leaderboard_top
from gamification.services.tournament_registration import entries_announce, tournament_register
from tests.gamification.tournament_helpers import T0, instance_make, play, players_make, tournament_make

pytestmark = pytest.mark.django_db
MIN = dt.timedelta(minutes=1)


def _bet(player, amount, minute, **extra):
    payload = {"bet_amount": amount, "game_id": "g-1", "game_name": "Starburst", "game_category": "slots", **extra}
    return (player, "casino_bet", payload, T0 + minute * MIN)


def _scores(instance) -> dict:
    rows = TournamentParticipant.objects.filter(instance=instance, status="registered")
    return {row.player_id: (row.score, row.events_counted) for row in rows}


def test_count_with_conditions_counts_only_matching_events_in_the_window(tenant_a):
    conditions = [
        {"field": "game_category", "op": "eq", "value": "slots"},
        {"field": "bet_amount", "op": "gte", "value": 1},
    ]
    instance = instance_make(tournament_make(tenant_a.label, conditions=conditions), status="started")
    me, other = players_make(tenant_a, 2)
    for player in (me, other):
        tournament_register(player=player, instance=instance)
    play(tenant_a, [
        _bet(me, 1.5, 1), _bet(me, 0.5, 2), _bet(me, 2, 3, game_category="live"), _bet(me, 3, 4),
        _bet(me, 5, -1), _bet(me, 5, 61),  # before the start, after the end
        (me, "casino_win", {"win_amount": 9, "game_id": "g-1", "game_name": "Starburst"}, T0 + 5 * MIN),
        _bet(other, 1, 10),
    ])  # fmt: skip
    assert _scores(instance) == {me.pk: (Decimal(2), 2), other.pk: (Decimal(1), 1)}


def test_sum_and_best_use_the_field_and_the_cap_keeps_the_first_events(tenant_a):
    summed = instance_make(
        tournament_make(tenant_a.label, score_method="sum", score_field="bet_amount", max_counted_events=2),
        status="started",
    )
    best = instance_make(
        tournament_make(tenant_a.label, name="Best", score_method="best", score_field="bet_amount"), status="started"
    )
    (me,) = players_make(tenant_a, 1)
    for instance in (summed, best):
        tournament_register(player=me, instance=instance)
    play(tenant_a, [_bet(me, 2.5, 1), _bet(me, 7, 2), _bet(me, 4, 3)])
    assert _scores(summed) == {me.pk: (Decimal("9.5"), 2)}
    assert _scores(best) == {me.pk: (Decimal(7), 3)}


def test_only_registered_players_score_in_opt_in_and_automatic_ones_enter_by_playing(tenant_a):
    opt_in = instance_make(tournament_make(tenant_a.label), status="started")
    auto = instance_make(tournament_make(tenant_a.label, name="Auto", registration_type="auto"), status="started")
    registered, stranger, hidden = players_make(tenant_a, 3)
    hidden.ach_gamification_in_control_group = True
    hidden.save()
    tournament_register(player=registered, instance=opt_in)
    play(tenant_a, [_bet(registered, 1, 1), _bet(stranger, 1, 2), _bet(hidden, 1, 3)])
    assert set(_scores(opt_in)) == {registered.pk}
    assert _scores(auto) == {registered.pk: (Decimal(1), 1), stranger.pk: (Decimal(1), 1)}  # not the control group
    facts = Event.objects.filter(type="tournament_registered", payload__instance_id=auto.pk)
    assert not facts.exists()  # automatic entries are announced by the beat, off the pipeline's hot path
    assert entries_announce() == 2
    assert sorted(facts.values_list("player_id", flat=True)) == sorted([registered.pk, stranger.pk])
    play(tenant_a, [_bet(stranger, 1, 4)])
    assert entries_announce() == 0
    assert facts.count() == 2  # registered once


def test_a_tie_goes_to_who_reached_the_score_first(tenant_a):
    instance = instance_make(tournament_make(tenant_a.label), status="started")
    early, late = players_make(tenant_a, 2)
    tournament_register(player=late, instance=instance)  # registered first, yet reaches 2 later
    tournament_register(player=early, instance=instance)
    TournamentParticipant.objects.update(reached_at=T0 - MIN)  # as if they registered before the start
    play(tenant_a, [_bet(late, 1, 1), _bet(early, 1, 2), _bet(early, 1, 3), _bet(late, 1, 9)])
    top = leaderboard_top(instance_id=instance.pk, limit=10)
    assert [(s.place, s.player_id) for s in top] == [(1, early.pk), (2, late.pk)]


def test_automatic_entries_tie_by_their_own_events_not_by_entry_order(tenant_a):
    instance = instance_make(tournament_make(tenant_a.label, registration_type="auto"), status="started")
    first_in, second_in = players_make(tenant_a, 2)
    play(tenant_a, [_bet(first_in, 1, 5), _bet(second_in, 1, 2)])  # one batch: entered together
    assert [s.player_id for s in leaderboard_top(instance_id=instance.pk, limit=10)] == [second_in.pk, first_in.pk]


def test_instances_not_running_do_not_score(tenant_a):
    t = tournament_make(tenant_a.label)
    finished = instance_make(t, status="finished")
    upcoming = instance_make(t, status="registration", starts_at=T0 + dt.timedelta(days=400))
    (me,) = players_make(tenant_a, 1)
    TournamentParticipant.objects.create(instance=finished, label=tenant_a.label, player=me, reached_at=T0)
    tournament_register(player=me, instance=upcoming)
    play(tenant_a, [_bet(me, 1, 5)])
    assert TournamentParticipant.objects.filter(player=me, score__gt=0).count() == 0
