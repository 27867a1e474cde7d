"""Players whose account is not ACTIVE are not entered in tournaments and are not shown on leaderboards (the label's
active_players_only, on by default): at entry, while scoring, when their status changes later, and at the end."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from backoffice.errors import Refused
from gamification.models import LeaderboardBucket, TournamentInstance, TournamentParticipant, Wallet
from gamification.selectors.leaderboard import leaderboard_around, leaderboard_rank, leaderboard_top, score_bucket
from gamification.selectors.tournaments import tournament_leaderboard, tournaments_for_player
from gamification.services.tournament_finalize import tournament_finalize
from gamification.services.tournament_registration import participant_approve, tournament_register
from gamification.services.tournaments import instance_cancel, instances_advance
from gamification.services.wallet import wallet_adjust
from tests.gamification.tournament_helpers import T0, instance_make, play, players_make, tournament_make

pytestmark = pytest.mark.django_db
MIN = dt.timedelta(minutes=1)
PLAYER = "/api/v1/players/shared-brand/shared-player"


def _bet(player, amount, minute):
    return (player, "casino_bet", {"bet_amount": amount, "game_id": "g-1", "game_name": "Starburst"}, T0 + minute * MIN)


def _race(tenant, **fields):
    tournament = tournament_make(
        tenant.label, score_method="sum", score_field="bet_amount", **({"registration_type": "auto"} | fields)
    )
    return instance_make(tournament, status="started")


def _status(player, status: str) -> None:
    player.core_account_status = status
    player.save(update_fields=["core_account_status"])


def _board(instance) -> list[tuple[int, int, Decimal]]:
    return [(s.place, s.player_id, s.score) for s in leaderboard_top(instance_id=instance.pk)]


def _consistent(instance) -> None:
    """Counts, buckets and ranks describe the same registered participants."""
    registered = list(
        TournamentParticipant.objects.filter(instance=instance, status="registered").order_by("-score", "reached_at")
    )
    instance.refresh_from_db()
    assert instance.participant_count == len(registered)
    counts: dict[Decimal, int] = {}
    for p in registered:
        counts[score_bucket(p.score)] = counts.get(score_bucket(p.score), 0) + 1
    stored = {b.bucket: b.count for b in LeaderboardBucket.objects.filter(instance=instance) if b.count}
    assert stored == counts
    for place, p in enumerate(registered, start=1):
        assert leaderboard_rank(instance_id=instance.pk, player_id=p.player_id).place == place


def test_a_self_excluded_player_who_bets_most_does_not_lead_nor_enter(tenant_a):
    instance = _race(tenant_a)
    excluded, first, second = players_make(tenant_a, 3)
    _status(excluded, "SELF_EXCLUDED")
    play(tenant_a, [_bet(excluded, 1000, 1), _bet(first, 50, 2), _bet(second, 20, 3)])
    assert _board(instance) == [(1, first.pk, Decimal(50)), (2, second.pk, Decimal(20))]
    assert not TournamentParticipant.objects.filter(instance=instance, player=excluded).exists()
    assert leaderboard_rank(instance_id=instance.pk, player_id=excluded.pk) is None
    _consistent(instance)


def test_with_the_setting_off_every_player_competes(tenant_a):
    tenant_a.label.active_players_only = False
    tenant_a.label.save(update_fields=["active_players_only"])
    instance = _race(tenant_a)
    excluded, first = players_make(tenant_a, 2)
    _status(excluded, "SELF_EXCLUDED")
    play(tenant_a, [_bet(excluded, 1000, 1), _bet(first, 50, 2)])
    assert _board(instance) == [(1, excluded.pk, Decimal(1000)), (2, first.pk, Decimal(50))]


@pytest.mark.parametrize("kind", ["opt_in", "manual"])
def test_registration_is_refused_naming_the_status_and_changes_nothing(tenant_a, kind):
    instance = _race(tenant_a, registration_type=kind)
    (player,) = players_make(tenant_a, 1)
    _status(player, "BLOCKED")
    with pytest.raises(Refused) as refused:
        tournament_register(player=player, instance=instance)
    assert refused.value.code == "account_not_active"
    assert "BLOCKED" in refused.value.message
    assert not TournamentParticipant.objects.filter(instance=instance).exists()
    assert [t.can_register for t in tournaments_for_player(player=player)] == [False]


def test_a_pending_player_who_stopped_being_active_cannot_be_approved(tenant_a):
    instance = _race(tenant_a, registration_type="manual")
    (player,) = players_make(tenant_a, 1)
    tournament_register(player=player, instance=instance)
    _status(player, "SUSPENDED")
    with pytest.raises(Refused) as refused:
        participant_approve(instance=instance, player=player)
    assert refused.value.code == "account_not_active"
    assert TournamentParticipant.objects.get(instance=instance, player=player).status == "pending"


def test_a_player_who_self_excludes_later_leaves_the_board_at_the_next_beat_and_returns_once_active(tenant_a):
    instance = _race(tenant_a, registration_type="opt_in")
    a, b, c, d = players_make(tenant_a, 4)
    for player in (a, b, c, d):
        tournament_register(player=player, instance=instance)
    play(tenant_a, [_bet(a, 40, 1), _bet(b, 30, 2), _bet(c, 20, 3), _bet(d, 10, 4)])
    _status(b, "SELF_EXCLUDED")  # through the players API, replica sync or the admin: no event reaches scoring
    counts = instances_advance(now=T0 + 5 * MIN)
    assert (counts["excluded"], counts["restored"]) == (1, 0)
    assert _board(instance) == [(1, a.pk, Decimal(40)), (2, c.pk, Decimal(20)), (3, d.pk, Decimal(10))]
    assert [s.player_id for s in leaderboard_around(instance_id=instance.pk, player_id=c.pk, k=1)] == [a.pk, c.pk, d.pk]
    assert leaderboard_rank(instance_id=instance.pk, player_id=b.pk) is None
    _consistent(instance)
    play(tenant_a, [_bet(b, 100, 6)])  # refused by the operator in real life; here it must not count either
    assert TournamentParticipant.objects.get(instance=instance, player=b).score == Decimal(30)
    _status(b, "ACTIVE")
    play(tenant_a, [_bet(b, 5, 7)])  # back on the board before this bet counts
    assert _board(instance)[:2] == [(1, a.pk, Decimal(40)), (2, b.pk, Decimal(35))]
    _consistent(instance)


def test_the_scoring_batch_takes_a_registered_player_off_when_their_event_arrives(tenant_a):
    instance = _race(tenant_a)
    a, b = players_make(tenant_a, 2)
    play(tenant_a, [_bet(a, 10, 1), _bet(b, 20, 2)])
    _status(b, "DEACTIVATED")
    play(tenant_a, [_bet(b, 20, 3)])
    assert _board(instance) == [(1, a.pk, Decimal(10))]
    assert TournamentParticipant.objects.get(instance=instance, player=b).status == "excluded"
    _consistent(instance)
    board = tournament_leaderboard(instance=instance, player=b)
    assert (board.me, board.around) == (None, [])


def test_final_places_and_prizes_leave_out_a_player_not_active_at_the_end(tenant_a):
    tournament = tournament_make(
        tenant_a.label,
        score_method="sum",
        score_field="bet_amount",
        registration_type="auto",
        prizes=[(1, 1, 500), (2, 2, 100)],
    )
    instance = instance_make(tournament, status="started")
    leader, second, third = players_make(tenant_a, 3)
    play(tenant_a, [_bet(leader, 90, 1), _bet(second, 50, 2), _bet(third, 10, 3)])
    _status(leader, "SELF_EXCLUDED")  # after the last beat: finalization itself must see it
    TournamentInstance.objects.filter(pk=instance.pk).update(status="finalizing")
    assert tournament_finalize(instance_id=instance.pk) == "finished"
    places = dict(TournamentParticipant.objects.filter(instance=instance).values_list("player_id", "place"))
    assert places == {leader.pk: None, second.pk: 1, third.pk: 2}
    instance.refresh_from_db()
    assert instance.participant_count == 2
    paid = Wallet.objects.filter(label=tenant_a.label, points__gt=0).order_by("-points")
    assert [(w.player_id, w.points) for w in paid] == [(second.pk, 500), (third.pk, 100)]


def test_the_api_refuses_registration_and_ranks_no_one_not_active(tenant_a, tenant_b):
    instance = _race(tenant_a, registration_type="opt_in")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {tenant_a.raw_key}")
    url = f"{PLAYER}/tournaments/{instance.pk}/registrations"
    assert client.post(url).status_code == 201
    play(tenant_a, [_bet(tenant_a.player, 30, 1)])
    _status(tenant_a.player, "SELF_EXCLUDED")
    board = client.get(
        f"/api/v1/tournaments/{instance.pk}/leaderboard?ext_brand_id=shared-brand&user_ext_id=shared-player"
    )
    assert (board.json()["me"], board.json()["around"]) == (None, [])  # before the beat already
    instances_advance(now=T0 + 5 * MIN)
    body = client.get(f"/api/v1/tournaments/{instance.pk}/leaderboard").json()
    assert (body["participant_count"], body["top"]) == (0, [])
    rows = client.get(f"{PLAYER}/tournaments").json()
    assert [(r["participation"]["status"], r["participation"]["rank"], r["can_register"]) for r in rows] == [
        ("excluded", None, False)
    ]
    other = _race(tenant_a, registration_type="opt_in", name="Another")
    refused = client.post(f"{PLAYER}/tournaments/{other.pk}/registrations")
    assert (refused.status_code, refused.json()["code"]) == (422, "account_not_active")
    assert "SELF_EXCLUDED" in refused.json()["message"]
    assert not TournamentParticipant.objects.filter(instance=other).exists()
    foreign = APIClient()
    foreign.credentials(HTTP_AUTHORIZATION=f"Api-Key {tenant_b.raw_key}")
    assert foreign.post(f"{PLAYER}/tournaments/{other.pk}/registrations").status_code == 404


def test_the_admin_lists_who_is_off_the_board_to_its_label_only(tenant_a, tenant_b, outsider, staff_client):
    instance = _race(tenant_a)
    a, b = players_make(tenant_a, 2)
    play(tenant_a, [_bet(a, 10, 1), _bet(b, 20, 2)])
    _status(b, "SELF_EXCLUDED")
    instances_advance(now=T0 + 5 * MIN)
    page = reverse("admin:gamification_tournamentinstance_change", args=[instance.pk])
    html = staff_client(tenant_a.admin).get(page).content.decode()
    assert "1 not ranked while their account is not ACTIVE" in html
    assert f"{b} (SELF_EXCLUDED)" in html
    board = staff_client(tenant_a.admin).get(
        reverse("admin:gamification_tournamentinstance_leaderboard", args=[instance.pk]), {"q": b.user_ext_id}
    )
    assert "players whose account is not ACTIVE are not ranked" in board.content.decode()
    assert staff_client(tenant_b.admin).get(page).status_code == 404
    assert staff_client(outsider).get(page).status_code == 404


def test_turning_the_setting_off_puts_excluded_players_back_at_the_next_beat(tenant_a):
    instance = _race(tenant_a)
    a, b = players_make(tenant_a, 2)
    play(tenant_a, [_bet(a, 10, 1), _bet(b, 20, 2)])
    _status(b, "BANNED")
    assert instances_advance(now=T0 + 5 * MIN)["excluded"] == 1
    tenant_a.label.active_players_only = False
    tenant_a.label.save(update_fields=["active_players_only"])
    assert instances_advance(now=T0 + 6 * MIN)["restored"] == 1
    assert _board(instance) == [(1, b.pk, Decimal(20)), (2, a.pk, Decimal(10))]
    _consistent(instance)


def test_registering_again_once_active_puts_the_player_back(tenant_a):
    instance = _race(tenant_a, registration_type="opt_in")
    (player,) = players_make(tenant_a, 1)
    tournament_register(player=player, instance=instance)
    play(tenant_a, [_bet(player, 15, 1)])
    _status(player, "SUSPENDED")
    instances_advance(now=T0 + 5 * MIN)
    _status(player, "ACTIVE")
    result = tournament_register(player=player, instance=instance)
    assert (result.created, result.participant.status, result.participant.score) == (False, "registered", 15)
    _consistent(instance)


def test_a_cancel_refunds_the_buy_in_of_a_player_off_the_board(tenant_a):
    tournament = tournament_make(
        tenant_a.label, name="High roller", registration_type="buy_in", buy_in_amount=300, buy_in_currency="points"
    )
    instance = instance_make(tournament, status="started")
    (player,) = players_make(tenant_a, 1)
    wallet_adjust(player=player, currency="points", amount=300, source="api", key="fund", counts_as_earned=False)
    tournament_register(player=player, instance=instance)
    _status(player, "SELF_EXCLUDED")
    instances_advance(now=T0 + 5 * MIN)
    assert instance_cancel(instance=instance, reason="Provider outage") == 1
    assert TournamentParticipant.objects.get(instance=instance, player=player).status == "refunded"
    assert Wallet.objects.get(player=player).points == 300  # the player's own points back, never withheld
    _consistent(instance)


def test_staff_approving_a_player_no_longer_active_are_told_why_and_nothing_changes(tenant_a, tenant_b, staff_client):
    instance = _race(tenant_a, registration_type="manual")
    (player,) = players_make(tenant_a, 1)
    tournament_register(player=player, instance=instance)
    _status(player, "LOCKED")
    url = reverse("admin:gamification_tournamentinstance_participant", args=[instance.pk, player.pk, "approve"])
    assert staff_client(tenant_b.admin).post(url).status_code == 404
    answer = staff_client(tenant_a.admin).post(url, follow=True)
    assert "account is LOCKED: tournaments are open to ACTIVE accounts only" in answer.content.decode()
    assert TournamentParticipant.objects.get(instance=instance, player=player).status == "pending"
    instance.refresh_from_db()
    assert instance.participant_count == 0
