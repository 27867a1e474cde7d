"""Tournaments in the admin: the builder with its preview and guarded transitions, instance actions by state, the
live leaderboard page; managers act, support reads, other labels and outsiders see nothing."""

from __future__ import annotations

import pytest
from django.urls import reverse

from backoffice.models import Role
from gamification.models import Tournament, TournamentInstance, TournamentParticipant
from gamification.services.tournament_registration import tournament_register
from gamification.services.wallet import wallet_adjust
from tests.gamification.tournament_helpers import instance_make, players_make, scores_set, tournament_make

pytestmark = pytest.mark.django_db
ADD = "admin:gamification_tournament_add"


def _form(label, **overrides) -> dict:
    return {
        "label": label.pk, "name": "Weekend race", "names": "{}", "descriptions": "{}", "image_url": "", "custom": "{}",
        "schedule": "one_time", "starts_at_0": "2026-03-02", "starts_at_1": "12:00:00", "duration": "02:00:00",
        "repeat_every": "", "repeat_until_0": "", "repeat_until_1": "", "publish_before": "1 00:00:00",
        "registration_opens_before": "", "registration_type": "opt_in", "buy_in_amount": "", "buy_in_currency": "",
        "min_players": "0", "max_players": "", "event_type": "casino_bet",
        "conditions": '[{"field": "game_category", "op": "eq", "value": "slots"}]', "score_method": "sum",
        "score_field": "bet_amount", "max_counted_events": "", "leaderboard_size": "100",
        "prizes-TOTAL_FORMS": "2", "prizes-INITIAL_FORMS": "0", "prizes-MIN_NUM_FORMS": "0",
        "prizes-MAX_NUM_FORMS": "1000",
        "prizes-0-place_from": "1", "prizes-0-place_to": "1", "prizes-0-points": "500", "prizes-0-gems": "0",
        "prizes-0-diamonds": "0", "prizes-0-badge": "", "prizes-0-description": "",
        "prizes-1-place_from": "2", "prizes-1-place_to": "10", "prizes-1-points": "50", "prizes-1-gems": "0",
        "prizes-1-diamonds": "0", "prizes-1-badge": "", "prizes-1-description": "",
    } | overrides  # fmt: skip


def _change(obj) -> str:
    return reverse(f"admin:gamification_{obj._meta.model_name}_change", args=[obj.pk])


def _act(obj, name: str) -> str:
    return reverse(f"admin:gamification_{obj._meta.model_name}_{name}", args=[obj.pk])


def test_a_manager_builds_previews_and_activates_a_tournament(tenant_a, staff_with_role, staff_client):
    manager = staff_client(staff_with_role(tenant_a.label, Role.MANAGER))
    assert manager.get(reverse(ADD)).status_code == 200
    assert manager.post(reverse(ADD), _form(tenant_a.label)).status_code == 302
    assert "Weekend race" in manager.get(reverse("admin:gamification_tournament_changelist")).content.decode()
    tournament = Tournament.objects.get(name="Weekend race")
    assert (tournament.status, tournament.prizes.count()) == ("draft", 2)
    page = manager.get(_change(tournament)).content.decode()
    assert "Once, 02 Mar 2026 12:00 UTC, for 2 hours" in page
    assert "the total bet amount of your casino bets where game category is slots" in page  # the player's words
    assert "500 points" in page
    assert manager.get(_act(tournament, "activate")).status_code == 200  # the confirmation page
    manager.post(_act(tournament, "activate"))
    tournament.refresh_from_db()
    assert tournament.status == "active"


def test_the_form_names_the_fields_in_error_and_saves_nothing(tenant_a, staff_client):
    client = staff_client(tenant_a.admin)
    bad = _form(tenant_a.label, score_field="", registration_type="buy_in", conditions='[{"field": "x"}]',
                **{"prizes-1-place_from": "1"})  # fmt: skip
    response = client.post(reverse(ADD), bad)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert {"score_field", "buy_in_amount", "buy_in_currency", "conditions"} <= set(errors)
    assert not Tournament.objects.exists()


def test_support_reads_and_cannot_act(tenant_a, staff_with_role, staff_client):
    draft = tournament_make(tenant_a.label, status="draft", prizes=[(1, 1, 10)])
    instance = instance_make(draft, status="registration")
    support = staff_client(staff_with_role(tenant_a.label, Role.SUPPORT))
    assert support.get(_change(draft)).status_code == 200
    assert support.get(_change(instance)).status_code == 200
    assert support.post(_act(draft, "activate")).status_code == 403
    assert support.post(_act(instance, "cancel"), {"reason": "no"}).status_code == 403
    draft.refresh_from_db()
    instance.refresh_from_db()
    assert (draft.status, instance.status) == ("draft", "registration")


def test_instance_actions_follow_the_state_and_cancel_refunds(tenant_a, staff_client):
    t = tournament_make(tenant_a.label, registration_type="buy_in", buy_in_amount=10, buy_in_currency="points")
    instance = instance_make(t, status="published")
    client = staff_client(tenant_a.admin)
    client.post(_act(instance, "open_registration"))
    instance.refresh_from_db()
    assert instance.status == "registration"
    client.post(_act(instance, "open_registration"))  # no longer published: refused with a message
    instance.refresh_from_db()
    assert instance.status == "registration"
    (player,) = players_make(tenant_a, 1)
    wallet_adjust(player=player, currency="points", amount=10, source="api", key="fund")
    tournament_register(player=player, instance=instance)
    assert client.post(_act(instance, "cancel"), {"reason": ""}).status_code == 200  # the reason is required
    client.post(_act(instance, "cancel"), {"reason": "Provider outage"})
    instance.refresh_from_db()
    assert (instance.status, instance.status_reason) == ("cancelled", "Provider outage")
    assert TournamentParticipant.objects.get(player=player).status == "refunded"


def test_pending_players_are_approved_or_rejected(tenant_a, staff_client):
    instance = instance_make(tournament_make(tenant_a.label, registration_type="manual"))
    yes, no = players_make(tenant_a, 2)
    for player in (yes, no):
        tournament_register(player=player, instance=instance)
    client = staff_client(tenant_a.admin)
    assert "Approve" in client.get(_change(instance)).content.decode()
    url = "admin:gamification_tournamentinstance_participant"
    client.post(reverse(url, args=[instance.pk, yes.pk, "approve"]))
    client.post(reverse(url, args=[instance.pk, no.pk, "reject"]))
    assert dict(TournamentParticipant.objects.values_list("player_id", "status")) == {
        yes.pk: "registered",
        no.pk: "rejected",
    }


def test_the_live_leaderboard_shows_the_top_and_a_players_neighbours(tenant_a, staff_client):
    instance = instance_make(tournament_make(tenant_a.label), status="started")
    scores_set(instance, players_make(tenant_a, 7))
    client = staff_client(tenant_a.admin)
    url = reverse("admin:gamification_tournamentinstance_leaderboard", args=[instance.pk])
    page = client.get(url).content.decode()
    assert 'http-equiv="refresh"' in page
    assert page.index("p6 @") < page.index("p5 @")
    found = client.get(url, {"q": "p2"}).content.decode()
    assert "Rank and neighbours" in found
    assert "No registered participant" in client.get(url, {"q": "nobody"}).content.decode()
    TournamentInstance.objects.filter(pk=instance.pk).update(status="finished")
    assert 'http-equiv="refresh"' not in client.get(url).content.decode()


def test_other_labels_and_outsiders_see_nothing(tenant_a, tenant_b, outsider, staff_client):
    t = tournament_make(tenant_a.label, name="A only")
    instance = instance_make(t, status="started")
    board = reverse("admin:gamification_tournamentinstance_leaderboard", args=[instance.pk])
    client_b = staff_client(tenant_b.admin)
    assert "A only" not in client_b.get(reverse("admin:gamification_tournament_changelist")).content.decode()
    assert "A only" not in client_b.get(reverse("admin:gamification_tournamentinstance_changelist")).content.decode()
    assert client_b.get(_change(t)).status_code == 404
    assert client_b.get(_change(instance)).status_code == 404
    assert client_b.get(board).status_code == 404
    assert client_b.post(_act(instance, "cancel"), {"reason": "x"}).status_code == 404
    stranger = staff_client(outsider)
    assert stranger.get(reverse("admin:gamification_tournament_changelist")).status_code == 403
    assert stranger.get(board).status_code == 404  # the instance is looked up within their (no) labels first
    instance.refresh_from_db()
    assert instance.status == "started"
    assert staff_client(tenant_a.admin).get(board).status_code == 200


def test_the_sidebar_shows_tournaments_to_staff_of_a_label(tenant_a, staff_with_role, staff_client):
    support = staff_client(staff_with_role(tenant_a.label, Role.SUPPORT))
    page = support.get(reverse("admin:index")).content.decode()
    assert reverse("admin:gamification_tournament_changelist") in page
    assert reverse("admin:gamification_tournamentinstance_changelist") in page


def test_the_pages_offer_only_the_moves_the_state_allows(tenant_a, staff_client):
    client = staff_client(tenant_a.admin)
    tournament = tournament_make(tenant_a.label)
    html = client.get(_change(tournament)).content.decode()
    assert "/archive/" in html
    assert "/activate/" not in html  # active already: Archive is the one move left
    published = instance_make(tournament, status="published")
    html = client.get(_change(published)).content.decode()
    assert "/open-registration/" in html
    assert "/start/" in html
    assert "/cancel/" in html
    finished = instance_make(tournament, status="finished", starts_at=tournament.starts_at.replace(year=2025))
    html = client.get(_change(finished)).content.decode()
    for move in ("/open-registration/", "/start/", "/cancel/"):
        assert move not in html
    assert "/leaderboard-page/" in html
