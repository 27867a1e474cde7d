"""Tournament scoring is checked against the event catalogue when saved (admin, model clean) and again at activation:
an unknown event type or field, a sum or best over a text, a condition that can never match, a repeat ending before
the start are refused naming the field. A template saved before these checks still opens and says what is wrong."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from backoffice.errors import DomainError
from crm.models import EventType
from gamification.models import Tournament, TournamentPrize
from gamification.services.tournaments import tournament_transition
from tests.gamification.test_tournament_admin import ADD, _form
from tests.gamification.tournament_helpers import T0, tournament_make

pytestmark = pytest.mark.django_db


def _draft(label, **fields) -> Tournament:
    tournament = tournament_make(label, status="draft", **fields)
    TournamentPrize.objects.create(tournament=tournament, place_from=1, place_to=1, points=100)
    return tournament


def test_a_tournament_on_an_unknown_type_cannot_be_activated(tenant_a):
    tournament = _draft(tenant_a.label, event_type="casino_bets")
    with pytest.raises(DomainError) as exc:
        tournament_transition(tournament=tournament, to="active")
    assert exc.value.errors == {"event_type": ['Unknown event type "casino_bets"; did you mean "casino_bet"?']}
    assert Tournament.objects.get(pk=tournament.pk).status == "draft"


def test_activation_names_a_best_over_a_text_and_a_condition_that_never_matches(tenant_a):
    tournament = _draft(
        tenant_a.label, event_type="sport_bet_settled", score_method="best", score_field="league",
        conditions=[{"field": "result", "op": "eq", "value": "win"}, {"field": "is_live", "op": "eq", "value": "yes"}],
    )  # fmt: skip
    with pytest.raises(DomainError) as exc:
        tournament_transition(tournament=tournament, to="active")
    assert exc.value.errors == {
        "conditions": [
            'Condition 1: result is one of won, lost, void, cashout, half_won, half_lost; "win" is not.',
            'Condition 2: is_live is true or false; "yes" is not.',
        ],
        "score_field": ["league is a text: only a number can be scored."],
    }


def test_a_tournament_on_a_custom_type_and_on_a_gamification_fact_activates(tenant_a):
    EventType.objects.create(
        label=tenant_a.label, name="spin_won", fields=[{"name": "multiplier", "type": "integer", "required": True}]
    )
    spins = _draft(tenant_a.label, event_type="spin_won", score_method="best", score_field="multiplier",
                   conditions=[{"field": "multiplier", "op": "gte", "value": 10}])  # fmt: skip
    tournament_transition(tournament=spins, to="active")
    missions = _draft(tenant_a.label, name="Mission race", event_type="mission_completed")
    tournament_transition(tournament=missions, to="active")
    assert set(Tournament.objects.values_list("status", flat=True)) == {"active"}


def test_full_clean_refuses_an_unknown_field_and_a_repeat_ending_before_the_start(tenant_a):
    tournament = Tournament(
        label=tenant_a.label, name="Race", starts_at=T0, duration=dt.timedelta(hours=1), event_type="deposit",
        score_method="sum", score_field="amount", schedule="repeating", repeat_every=dt.timedelta(days=1),
        repeat_until=T0 - dt.timedelta(days=1),
    )  # fmt: skip
    with pytest.raises(ValidationError) as exc:
        tournament.full_clean()
    assert exc.value.message_dict == {
        "score_field": ['deposit events have no field "amount".'],
        "repeat_until": ["Must not be before the start."],
    }


def test_the_admin_refuses_each_field_and_saves_nothing(tenant_a, staff_client):
    client = staff_client(tenant_a.admin)
    data = _form(
        tenant_a.label, event_type="casino_bet", score_field="game_name",
        conditions='[{"field": "game_categry", "op": "eq", "value": "slots"}]',
    )  # fmt: skip
    response = client.post(reverse(ADD), data)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "conditions": ['Condition 1: casino_bet events have no field "game_categry"; did you mean "game_category"?'],
        "score_field": ["game_name is a text: only a number can be added up."],
    }
    response = client.post(reverse(ADD), _form(tenant_a.label, event_type="deposits", score_field="deposit_amount"))
    assert response.context["adminform"].form.errors == {
        "event_type": ['Unknown event type "deposits"; did you mean "deposit"?']
    }
    assert not Tournament.objects.exists()
    assert client.post(reverse(ADD), _form(tenant_a.label)).status_code == 302  # the valid one is saved


def test_a_stored_template_the_catalogue_refuses_still_opens_says_why_and_is_fixed_by_saving(tenant_a, staff_client):
    tournament = tournament_make(tenant_a.label, event_type="deposits")  # active, saved before the checks
    url = reverse("admin:gamification_tournament_change", args=[tournament.pk])
    client = staff_client(tenant_a.admin)
    page = client.get(url).content.decode()
    assert "does not fit the event catalogue: event_type: Unknown event type &quot;deposits&quot;" in page
    fixed = _form(tenant_a.label, event_type="deposit", score_method="count", score_field="", conditions="[]")
    fixed |= {"prizes-TOTAL_FORMS": "0"}
    assert client.post(url, fixed).status_code == 302
    assert Tournament.objects.get(pk=tournament.pk).event_type == "deposit"
    assert "does not fit the event catalogue" not in client.get(url).content.decode()


def test_only_staff_of_the_tournaments_label_see_its_page_and_what_is_wrong(tenant_a, tenant_b, outsider, staff_client):
    tournament = _draft(tenant_a.label, event_type="deposits")
    url = reverse("admin:gamification_tournament_change", args=[tournament.pk])
    assert "Fix before activating: event_type" in staff_client(tenant_a.admin).get(url).content.decode()
    assert staff_client(tenant_b.admin).get(url).status_code == 404
    assert staff_client(outsider).get(url).status_code == 404
