"""Templates and the instance lifecycle by time: `now` is passed in, nothing sleeps."""

from __future__ import annotations

import datetime as dt

import pytest

from backoffice.errors import DomainValidationError, Refused
from crm.models import Event
from gamification.models import TournamentInstance, TournamentParticipant, TournamentPrize, WalletEntry
from gamification.selectors import wallet_get
from gamification.services.tournament_finalize import tournament_finalize
from gamification.services.tournament_registration import tournament_register
from gamification.services.tournaments import (
    instance_cancel,
    instance_start,
    instances_advance,
    instances_publish,
    tournament_transition,
)
from gamification.services.wallet import wallet_adjust
from tests.gamification.tournament_helpers import T0, instance_make, players_make, tournament_make

pytestmark = pytest.mark.django_db
HOUR = dt.timedelta(hours=1)


def _fund(player, amount=100, currency="points"):
    wallet_adjust(player=player, currency=currency, amount=amount, source="api", key=f"fund-{player.pk}")


def test_activation_names_every_incomplete_field(tenant_a):
    draft = tournament_make(tenant_a.label, status="draft")
    # As an admin form would hand it over: changed in memory, not saved.
    draft.score_method, draft.schedule, draft.duration = "sum", "repeating", dt.timedelta(0)
    draft.min_players, draft.max_players = 5, 2
    TournamentPrize.objects.create(tournament=draft, place_from=1, place_to=3, points=10)
    TournamentPrize.objects.create(tournament=draft, place_from=3, place_to=5, points=5)
    with pytest.raises(DomainValidationError) as caught:
        tournament_transition(tournament=draft, to="active")
    assert set(caught.value.errors) == {"score_field", "repeat_every", "duration", "max_players", "prizes"}
    assert "overlap" in caught.value.errors["prizes"][0]
    draft.refresh_from_db()
    assert draft.status == "draft"  # bad input changes nothing


def test_buy_in_needs_amount_and_currency_and_status_moves_one_way(tenant_a):
    draft = tournament_make(tenant_a.label, status="draft", registration_type="opt_in")
    draft.buy_in_currency = "gems"
    with pytest.raises(DomainValidationError) as caught:
        tournament_transition(tournament=draft, to="active")
    assert set(caught.value.errors) == {"buy_in_currency"}
    draft.buy_in_currency = ""
    tournament_transition(tournament=draft, to="active")
    with pytest.raises(Refused) as refused:
        tournament_transition(tournament=draft, to="draft")
    assert refused.value.code == "invalid_transition"
    tournament_transition(tournament=draft, to="archived")
    with pytest.raises(Refused):
        tournament_transition(tournament=draft, to="active")


def test_one_time_and_repeating_instances_are_published_ahead_once(tenant_a):
    one = tournament_make(tenant_a.label, publish_before=dt.timedelta(days=1))
    daily = tournament_make(
        tenant_a.label,
        name="Daily",
        schedule="repeating",
        repeat_every=dt.timedelta(days=1),
        repeat_until=T0 + dt.timedelta(days=10),
        publish_before=dt.timedelta(days=2),
    )
    tournament_make(tenant_a.label, name="Draft", status="draft")
    assert instances_publish(now=T0 - dt.timedelta(days=3)) == 0  # nothing due yet
    assert instances_publish(now=T0 - dt.timedelta(hours=2)) == 1 + 2  # the one-time one; two dailies within 2 days
    assert instances_publish(now=T0 - dt.timedelta(hours=2)) == 0  # idempotent
    starts = sorted(TournamentInstance.objects.filter(tournament=daily).values_list("starts_at", flat=True))
    assert starts == [T0, T0 + dt.timedelta(days=1)]
    instances_publish(now=T0 + dt.timedelta(days=9, hours=12))
    latest = TournamentInstance.objects.filter(tournament=daily).order_by("-starts_at").first()
    assert latest.starts_at == T0 + dt.timedelta(days=10)  # repeat_until is the last start
    assert TournamentInstance.objects.filter(tournament=one).count() == 1


def test_the_tick_moves_instances_by_time_and_a_second_tick_changes_nothing(tenant_a):
    t = tournament_make(tenant_a.label, registration_opens_before=HOUR, publish_before=2 * HOUR, prizes=[(1, 1, 50)])
    first, second = players_make(tenant_a, 2)
    instances_advance(now=T0 - 2 * HOUR)
    instance = TournamentInstance.objects.get(tournament=t)
    assert instance.status == "published"
    assert instances_advance(now=T0 - HOUR)["opened"] == 1
    tournament_register(player=first, instance=instance)
    tournament_register(player=second, instance=instance)
    assert instances_advance(now=T0)["started"] == 1
    assert instances_advance(now=T0)["started"] == 0
    result = instances_advance(now=T0 + HOUR)
    assert (result["ended"], result["finalized"]) == (1, 1)
    instance.refresh_from_db()
    assert instance.status == "finished"
    assert instance.finalized_at is not None
    assert WalletEntry.objects.filter(key__endswith=":prize:points").count() == 1
    assert sum(instances_advance(now=T0 + 2 * HOUR).values()) == 0


def test_too_few_players_at_the_start_fails_and_refunds_every_buy_in_once(tenant_a):
    t = tournament_make(tenant_a.label, registration_type="buy_in", buy_in_amount=30, buy_in_currency="gems",
                        min_players=3)  # fmt: skip
    instance = instance_make(t)
    players = players_make(tenant_a, 2)
    for player in players:
        _fund(player, 100, "gems")
        tournament_register(player=player, instance=instance)
    assert wallet_get(player=players[0]).gems == 70
    assert instances_advance(now=T0)["failed"] == 1
    instance.refresh_from_db()
    assert instance.status == "failed"
    assert "minimum" in instance.status_reason
    assert [wallet_get(player=p).gems for p in players] == [100, 100]
    assert set(TournamentParticipant.objects.values_list("status", flat=True)) == {"refunded"}
    refund = WalletEntry.objects.get(key=f"tournament:{instance.pk}:{players[0].pk}:refund")
    assert (refund.source, refund.counts_as_earned) == ("tournament", False)
    instances_advance(now=T0)
    assert WalletEntry.objects.filter(key__endswith=":refund").count() == 2


def test_cancel_refunds_once_and_a_finished_instance_cannot_be_cancelled(tenant_a):
    t = tournament_make(tenant_a.label, registration_type="buy_in", buy_in_amount=10, buy_in_currency="points")
    instance = instance_make(t, status="started")
    (player,) = players_make(tenant_a, 1)
    _fund(player)
    tournament_register(player=player, instance=instance)
    with pytest.raises(DomainValidationError) as caught:
        instance_cancel(instance=instance, reason=" ")
    assert set(caught.value.errors) == {"reason"}
    assert instance_cancel(instance=instance, reason="Game provider outage") == 1
    assert wallet_get(player=player).points == 100
    with pytest.raises(Refused) as refused:
        instance_cancel(instance=instance, reason="again")
    assert refused.value.code == "invalid_transition"
    assert WalletEntry.objects.filter(key__endswith=":refund").count() == 1
    done = instance_make(t, status="finished", starts_at=T0 + HOUR)
    with pytest.raises(Refused):
        instance_cancel(instance=done, reason="late")


def test_automatic_tournament_with_too_few_players_fails_at_the_end(tenant_a):
    t = tournament_make(tenant_a.label, registration_type="auto", min_players=2, prizes=[(1, 1, 10)])
    instance = instance_make(t, status="finalizing")
    assert tournament_finalize(instance_id=instance.pk) == "failed"
    instance.refresh_from_db()
    assert instance.status == "failed"
    assert not WalletEntry.objects.filter(source="tournament").exists()


def test_finalization_places_by_score_pays_prizes_and_emits_results(tenant_a):
    t = tournament_make(tenant_a.label, prizes=[(1, 1, 100), (2, 2, 40)])
    instance = instance_make(t, status="started")
    players = players_make(tenant_a, 3)
    for player in players:
        tournament_register(player=player, instance=instance)
    TournamentParticipant.objects.filter(player=players[2]).update(score=9)
    TournamentParticipant.objects.filter(player=players[0]).update(score=5)
    instances_advance(now=T0 + HOUR)
    places = dict(TournamentParticipant.objects.values_list("player_id", "place"))
    assert places == {players[2].pk: 1, players[0].pk: 2, players[1].pk: 3}
    assert [wallet_get(player=p).points for p in players] == [40, 0, 100]
    won = Event.objects.filter(type="tournament_won").values_list("player_id", flat=True)
    lost = Event.objects.filter(type="tournament_lost").values_list("player_id", flat=True)
    assert set(won) == {players[0].pk, players[2].pk}
    assert list(lost) == [players[1].pk]


def test_start_now_moves_the_start_and_the_schedule_does_not_publish_that_slot_again(tenant_a):
    t = tournament_make(tenant_a.label, publish_before=2 * HOUR)
    instances_publish(now=T0 - HOUR)
    instance = TournamentInstance.objects.get(tournament=t)
    instance_start(instance=instance)
    instance.refresh_from_db()
    assert instance.status == "started"
    assert instance.starts_at < T0 + HOUR
    assert instances_publish(now=T0 - HOUR) == 0
    assert TournamentInstance.objects.filter(tournament=t).count() == 1


def test_start_now_keeps_the_minimum_players(tenant_a):
    instance = instance_make(tournament_make(tenant_a.label, min_players=2))
    with pytest.raises(Refused) as caught:
        instance_start(instance=instance)
    assert caught.value.code == "too_few_players"
