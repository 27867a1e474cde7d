"""Registration: opt-in, buy-in, manual approval, automatic; every refusal by code; the maximum under concurrency."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from backoffice.errors import NotFound, Refused
from crm.models import Event
from gamification.models import TournamentInstance, TournamentParticipant, WalletEntry
from gamification.selectors import wallet_get
from gamification.services.tournament_registration import (
    participant_approve,
    participant_reject,
    tournament_register,
)
from gamification.services.tournaments import instance_cancel
from gamification.services.wallet import wallet_adjust
from tests.gamification.tournament_helpers import instance_make, players_make, tournament_make


def _refused(code, **kwargs):
    with pytest.raises(Refused) as caught:
        tournament_register(**kwargs)
    assert caught.value.code == code


@pytest.mark.django_db
def test_opt_in_registers_once_and_emits_one_fact(tenant_a):
    instance = instance_make(tournament_make(tenant_a.label))
    (player,) = players_make(tenant_a, 1)
    first = tournament_register(player=player, instance=instance)
    again = tournament_register(player=player, instance=instance)
    assert (first.created, first.pending, again.created) == (True, False, False)
    instance.refresh_from_db()
    assert instance.participant_count == 1
    fact = Event.objects.get(type="tournament_registered")
    assert fact.event_id == f"tournament:{instance.pk}:{player.pk}:registered"
    assert fact.payload["registration_type"] == "opt_in"


@pytest.mark.django_db
def test_buy_in_debits_once_and_insufficient_balance_registers_nothing(tenant_a):
    t = tournament_make(tenant_a.label, registration_type="buy_in", buy_in_amount=25, buy_in_currency="diamonds")
    instance = instance_make(t)
    rich, poor = players_make(tenant_a, 2)
    wallet_adjust(player=rich, currency="diamonds", amount=30, source="api", key="fund-rich")
    wallet_adjust(player=poor, currency="diamonds", amount=20, source="api", key="fund-poor")
    tournament_register(player=rich, instance=instance)
    tournament_register(player=rich, instance=instance)
    assert wallet_get(player=rich).diamonds == 5
    participant = TournamentParticipant.objects.get(player=rich)
    assert participant.buy_in_entry.key == f"tournament:{instance.pk}:{rich.pk}:buy-in"
    _refused("insufficient_balance", player=poor, instance=instance)
    assert wallet_get(player=poor).diamonds == 20
    assert not TournamentParticipant.objects.filter(player=poor).exists()
    assert not Event.objects.filter(type="tournament_registered", player=poor).exists()
    instance.refresh_from_db()
    assert instance.participant_count == 1


@pytest.mark.django_db
def test_refusals_closed_full_and_control_group(tenant_a):
    t = tournament_make(tenant_a.label, max_players=1)
    first, second, hidden = players_make(tenant_a, 3)
    hidden.ach_gamification_in_control_group = True
    hidden.save()
    for month, status in enumerate(("published", "finalizing", "finished", "cancelled", "failed"), start=1):
        closed = instance_make(t, status=status, starts_at=t.starts_at.replace(year=2027, month=month))
        _refused("registration_closed", player=first, instance=closed)
    late = instance_make(t, status="started")
    tournament_register(player=first, instance=late)  # late registration while it runs
    _refused("tournament_full", player=second, instance=late)
    _refused("control_group", player=hidden, instance=late)


@pytest.mark.django_db
def test_manual_registration_waits_for_approval_within_the_maximum(tenant_a):
    t = tournament_make(tenant_a.label, registration_type="manual", max_players=1)
    instance = instance_make(t)
    first, second, third = players_make(tenant_a, 3)
    assert tournament_register(player=first, instance=instance).pending
    tournament_register(player=second, instance=instance)
    tournament_register(player=third, instance=instance)
    assert not Event.objects.filter(type="tournament_registered").exists()
    participant_approve(instance=instance, player=first)
    with pytest.raises(Refused) as caught:
        participant_approve(instance=instance, player=second)
    assert caught.value.code == "tournament_full"
    participant_reject(instance=instance, player=third)
    with pytest.raises(Refused) as caught:
        participant_approve(instance=instance, player=third)
    assert caught.value.code == "not_pending"
    statuses = dict(TournamentParticipant.objects.values_list("player_id", "status"))
    assert statuses == {first.pk: "registered", second.pk: "pending", third.pk: "rejected"}
    assert Event.objects.filter(type="tournament_registered").count() == 1


@pytest.mark.django_db
def test_another_labels_instance_is_not_found(tenant_a, tenant_b):
    instance = instance_make(tournament_make(tenant_a.label))
    with pytest.raises(NotFound):
        tournament_register(player=tenant_b.player, instance=instance)


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_registrations_to_a_maximum_of_five_admit_exactly_five(tenant_a):
    t = tournament_make(tenant_a.label, registration_type="buy_in", buy_in_amount=10, buy_in_currency="points",
                        max_players=5)  # fmt: skip
    instance = instance_make(t)
    players = players_make(tenant_a, 20)
    for player in players:
        wallet_adjust(player=player, currency="points", amount=10, source="api", key=f"fund-{player.pk}")
    barrier, outcomes = threading.Barrier(20), []

    def register(player) -> None:
        try:
            barrier.wait(timeout=30)
            tournament_register(player=player, instance=TournamentInstance.objects.get(pk=instance.pk))
            outcomes.append("registered")
        except Refused as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=register, args=(p,)) for p in players]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["registered"] * 5 + ["tournament_full"] * 15
    instance.refresh_from_db()
    assert instance.participant_count == 5
    assert TournamentParticipant.objects.filter(instance=instance, status="registered").count() == 5
    assert WalletEntry.objects.filter(key__endswith=":buy-in").count() == 5  # the refused paid nothing
    assert instance_cancel(instance=instance, reason="test") == 5
