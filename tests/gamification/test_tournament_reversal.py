"""A reversed credit takes back the tournament points it raised (tournaments scoring `balance_changed` facts)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from crm.models import Event
from crm.pipeline import events_apply
from gamification.models import LeaderboardBucket, TournamentParticipant
from gamification.selectors.leaderboard import leaderboard_rank, leaderboard_top, score_bucket
from gamification.services.leaderboard import participants_exclude, participants_restore
from gamification.services.tournament_registration import tournament_register
from gamification.services.wallet import wallet_adjust, wallet_entry_reverse
from tests.gamification.tournament_helpers import instance_make, players_make, tournament_make

pytestmark = pytest.mark.django_db
POINTS = [{"field": "currency", "op": "eq", "value": "points"}]


class Facts:
    """Applies the facts the wallet emitted since the last call (the pipeline would, once each)."""

    def __init__(self) -> None:
        self.seen = Event.objects.order_by("-pk").values_list("pk", flat=True).first() or 0

    def apply(self) -> None:
        ids = list(Event.objects.filter(pk__gt=self.seen).order_by("pk").values_list("pk", flat=True))
        if ids:
            self.seen = ids[-1]
            events_apply(ids)


def _running(tenant, *, starts_at=None, **fields):
    fields = {"event_type": "balance_changed", "score_method": "sum", "score_field": "amount",
              "registration_type": "auto", "conditions": POINTS} | fields  # fmt: skip
    starts_at = starts_at or timezone.now() - dt.timedelta(minutes=1)
    return instance_make(tournament_make(tenant.label, starts_at=starts_at, **fields), status="started")


def _credit(player, amount, key, *, currency="points", source="manual"):
    return wallet_adjust(player=player, currency=currency, amount=amount, source=source, key=key, reason="test").entry


def _board(instance) -> list[tuple[int, int, Decimal]]:
    return [(s.place, s.player_id, s.score) for s in leaderboard_top(instance_id=instance.pk)]


def _consistent(instance) -> None:
    """The participant count, the buckets and the ranks agree with the participants' scores."""
    registered = list(
        TournamentParticipant.objects.filter(instance=instance, status="registered").order_by("-score", "reached_at")
    )
    instance.refresh_from_db()
    assert instance.participant_count == len(registered)
    counts: dict[Decimal, int] = {}
    for p in registered:
        counts[score_bucket(p.score)] = counts.get(score_bucket(p.score), 0) + 1
    assert {b.bucket: b.count for b in LeaderboardBucket.objects.filter(instance=instance) if b.count} == counts
    for place, p in enumerate(registered, start=1):
        assert leaderboard_rank(instance_id=instance.pk, player_id=p.player_id).place == place


def _participant(instance, player) -> tuple[Decimal, int]:
    row = TournamentParticipant.objects.get(instance=instance, player=player)
    return row.score, row.events_counted


def test_a_reversed_staff_credit_takes_its_points_off_the_board_and_the_order_changes(tenant_a):
    summed = _running(tenant_a)
    counted = _running(tenant_a, name="Credits", score_method="count", score_field="")
    best = _running(tenant_a, name="Biggest", score_method="best")
    me, rival = players_make(tenant_a, 2)
    facts = Facts()
    _credit(rival, 300, "rival-1")
    _credit(me, 40, "me-gems", currency="gems")  # not points: scores nowhere
    mine = _credit(me, 500, "me-1")
    facts.apply()
    assert _board(summed) == [(1, me.pk, Decimal(500)), (2, rival.pk, Decimal(300))]
    assert _participant(counted, me) == (Decimal(1), 1)

    wallet_entry_reverse(entry=mine, reason="Typed one zero too many")
    facts.apply()
    assert _board(summed) == [(1, rival.pk, Decimal(300)), (2, me.pk, Decimal(0))]
    assert _participant(summed, me) == (Decimal(0), 0)
    assert _participant(counted, me) == (Decimal(0), 0)
    assert _participant(best, me) == (Decimal(500), 1)  # a best value cannot be undone: documented, it stays
    for instance in (summed, counted, best):
        _consistent(instance)

    _credit(me, 350, "me-2")  # the player earns again from there
    facts.apply()
    assert _board(summed) == [(1, me.pk, Decimal(350)), (2, rival.pk, Decimal(300))]
    _consistent(summed)


def test_only_a_credit_that_scored_in_the_instance_is_taken_back(tenant_a):
    (me,) = players_make(tenant_a, 1)
    facts = Facts()
    before = _credit(me, 200, "before-start")  # made before the instance's window
    facts.apply()
    instance = _running(tenant_a, starts_at=timezone.now())
    missions_only = _running(tenant_a, name="Missions", conditions=[*POINTS, {"field": "source", "op": "eq",
                                                                              "value": "mission"}])  # fmt: skip
    staff = _credit(me, 100, "in-window")
    earned = _credit(me, 70, "mission:1", source="mission")
    facts.apply()
    assert _participant(instance, me) == (Decimal(170), 2)
    assert _participant(missions_only, me) == (Decimal(70), 1)

    wallet_entry_reverse(entry=before, reason="Not due")  # scored nowhere: nothing to take back
    facts.apply()
    assert _participant(instance, me) == (Decimal(170), 2)
    wallet_entry_reverse(entry=staff, reason="Not due")  # a manual credit: the missions-only one never counted it
    facts.apply()
    assert _participant(instance, me) == (Decimal(70), 1)
    assert _participant(missions_only, me) == (Decimal(70), 1)
    wallet_entry_reverse(entry=earned, reason="Mission voided")
    facts.apply()
    assert _participant(instance, me) == (Decimal(0), 0)
    assert _participant(missions_only, me) == (Decimal(0), 0)
    _consistent(instance)
    _consistent(missions_only)


def test_a_credit_made_before_an_opt_in_registration_is_not_taken_back(tenant_a):
    instance = _running(tenant_a, registration_type="opt_in")
    (me,) = players_make(tenant_a, 1)
    facts = Facts()
    early = _credit(me, 200, "before-registration")  # the player was not in yet: it never scored
    facts.apply()
    tournament_register(player=me, instance=instance)
    late = _credit(me, 50, "after-registration")
    facts.apply()
    assert _participant(instance, me) == (Decimal(50), 1)
    wallet_entry_reverse(entry=early, reason="Not due")
    facts.apply()
    assert _participant(instance, me) == (Decimal(50), 1)
    wallet_entry_reverse(entry=late, reason="Not due")
    facts.apply()
    assert _participant(instance, me) == (Decimal(0), 0)
    _consistent(instance)


def test_a_player_taken_off_the_board_comes_back_without_the_reversed_points(tenant_a):
    instance = _running(tenant_a)
    me, rival = players_make(tenant_a, 2)
    facts = Facts()
    mine = _credit(me, 500, "me-1")
    _credit(rival, 100, "rival-1")
    facts.apply()
    participants_exclude(instance_id=instance.pk, player_ids=[me.pk])
    wallet_entry_reverse(entry=mine, reason="Not due")
    facts.apply()
    assert TournamentParticipant.objects.get(instance=instance, player=me).score == Decimal(0)
    _consistent(instance)
    participants_restore(instance_id=instance.pk, player_ids=[me.pk])
    assert _board(instance) == [(1, rival.pk, Decimal(100)), (2, me.pk, Decimal(0))]
    _consistent(instance)
