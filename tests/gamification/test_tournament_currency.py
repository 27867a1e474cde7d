"""Money in tournaments counts in the label's base currency: a SEK player's bets are converted at the rate of their
day before they rank against EUR players; an amount with no rate does not count; counts are not converted."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from backoffice.models import ExchangeRate
from crm.models import EventType
from gamification.selectors.leaderboard import leaderboard_top
from gamification.selectors.tournaments import score_currency
from tests.gamification.tournament_helpers import T0, instance_make, play, players_make, tournament_make

pytestmark = pytest.mark.django_db
MIN = dt.timedelta(minutes=1)
PLAYER = "/api/v1/players/shared-brand/shared-player"


def _bet(player, amount, minute):
    return (player, "casino_bet", {"bet_amount": amount, "game_id": "g-1", "game_name": "Starburst"}, T0 + minute * MIN)


def _rate(tenant, currency: str, rate: str, day: dt.date) -> None:
    ExchangeRate.objects.create(label=tenant.label, currency=currency, rate=Decimal(rate), valid_from=day)


def _wallet(player, currency: str) -> None:
    player.core_wallet_currency = currency
    player.save(update_fields=["core_wallet_currency"])


def _board(instance) -> list[tuple[int, Decimal]]:
    return [(s.player_id, s.score) for s in leaderboard_top(instance_id=instance.pk)]


@pytest.fixture
def race(tenant_a):
    tournament = tournament_make(tenant_a.label, score_method="sum", score_field="bet_amount", registration_type="auto")
    return instance_make(tournament, status="started")


def test_a_sek_players_bets_convert_before_they_rank_against_eur_players(tenant_a, race):
    _rate(tenant_a, "SEK", "0.08", T0.date() - dt.timedelta(days=30))
    _rate(tenant_a, "SEK", "0.09", T0.date())  # the rate of the bets' day applies, not an older one
    swede, eur_high, eur_low = players_make(tenant_a, 3)
    _wallet(swede, "SEK")
    play(tenant_a, [_bet(swede, 1000, 1), _bet(swede, 500.5, 2), _bet(eur_high, 200, 3), _bet(eur_low, 100, 4)])
    # 1,500.5 SEK at 0.09 = 135.045 EUR: between the two EUR players, not first with 1,500.5 "EUR".
    assert _board(race) == [(eur_high.pk, Decimal(200)), (swede.pk, Decimal("135.045")), (eur_low.pk, Decimal(100))]
    assert score_currency(race) == "EUR"


def test_an_amount_with_no_rate_does_not_count_and_is_logged_with_its_currency(tenant_a, race, caplog):
    nok, eur = players_make(tenant_a, 2)
    _wallet(nok, "NOK")  # no NOK rate in this label
    play(tenant_a, [_bet(nok, 5000, 1), _bet(eur, 10, 2)])
    assert _board(race) == [(eur.pk, Decimal(10))]
    logged = [r.msg for r in caplog.records if isinstance(r.msg, dict)]
    assert {"event": "tournament_amount_without_rate", "currency": "NOK", "events": 1} in [
        {k: m[k] for k in ("event", "currency", "events") if k in m} for m in logged
    ]


def test_a_player_whose_wallet_currency_is_not_known_yet_counts_in_the_base_currency(tenant_a, race):
    # Created by an event before the profile arrived: as for missions, the amounts count in the base currency.
    newcomer, eur = players_make(tenant_a, 2)
    _wallet(newcomer, "")
    play(tenant_a, [_bet(newcomer, 30, 1), _bet(eur, 20, 2)])
    assert _board(race) == [(newcomer.pk, Decimal(30)), (eur.pk, Decimal(20))]


def test_a_minimum_bet_condition_compares_in_the_base_currency_and_counts_are_not_converted(tenant_a):
    conditions = [{"field": "bet_amount", "op": "gte", "value": 10}]  # at least 10 EUR
    tournament = tournament_make(tenant_a.label, conditions=conditions, registration_type="auto")  # a count
    instance = instance_make(tournament, status="started")
    _rate(tenant_a, "SEK", "0.1", T0.date())
    swede, eur = players_make(tenant_a, 2)
    _wallet(swede, "SEK")
    # 50 SEK = 5 EUR (too small), 150 SEK = 15 EUR (counts once); 12 EUR counts.
    play(tenant_a, [_bet(swede, 50, 1), _bet(swede, 150, 2), _bet(eur, 12, 3), _bet(eur, 9, 4)])
    assert _board(instance) == [(swede.pk, Decimal(1)), (eur.pk, Decimal(1))]
    assert score_currency(instance) is None  # a count is not money


def test_another_base_currency_is_used_as_is(tenant_a, race):
    tenant_a.label.base_currency = "SEK"
    tenant_a.label.save(update_fields=["base_currency"])
    _rate(tenant_a, "EUR", "11", T0.date())
    swede, eur = players_make(tenant_a, 2)
    _wallet(swede, "SEK")
    play(tenant_a, [_bet(swede, 100, 1), _bet(eur, 10, 2)])
    race.refresh_from_db()
    assert _board(race) == [(eur.pk, Decimal(110)), (swede.pk, Decimal(100))]
    assert score_currency(race) == "SEK"


def _client(tenant) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {tenant.raw_key}")
    return client


def test_the_api_and_the_players_state_show_the_scores_currency_only_when_they_are_money(tenant_a, tenant_b, race):
    counted = instance_make(tournament_make(tenant_a.label, name="Spins", registration_type="auto"), status="started")
    _rate(tenant_a, "SEK", "0.1", T0.date())
    _wallet(tenant_a.player, "SEK")
    play(tenant_a, [_bet(tenant_a.player, 250, 1)])
    client = _client(tenant_a)
    detail = client.get(f"/api/v1/tournaments/{race.pk}").json()
    assert (detail["score_method"], detail["score_currency"]) == ("sum", "EUR")
    assert client.get(f"/api/v1/tournaments/{counted.pk}").json()["score_currency"] is None
    board = client.get(f"/api/v1/tournaments/{race.pk}/leaderboard").json()
    assert (board["score_currency"], board["top"][0]["score"]) == ("EUR", 25.0)
    state = client.get(f"{PLAYER}/gamification").json()
    shown = {row["tournament"]["id"]: row["tournament"]["score_currency"] for row in state["tournaments"]}
    assert shown == {race.pk: "EUR", counted.pk: None}
    assert _client(tenant_b).get(f"/api/v1/tournaments/{race.pk}/leaderboard").status_code == 404


def test_the_admin_leaderboard_names_the_currency(tenant_a, tenant_b, outsider, staff_client, race):
    (player,) = players_make(tenant_a, 1)
    play(tenant_a, [_bet(player, 12.5, 1)])
    url = reverse("admin:gamification_tournamentinstance_leaderboard", args=[race.pk])
    page = staff_client(tenant_a.admin).get(url).content.decode()
    assert "Score (EUR)" in page
    assert "scores in EUR, the label&#x27;s base currency" in page or "scores in EUR, the label's base currency" in page
    assert staff_client(tenant_b.admin).get(url).status_code == 404
    assert staff_client(outsider).get(url).status_code == 404


def test_a_custom_event_with_its_own_currency_converts_its_scored_amount(tenant_a):
    fields = [
        {"name": "stake", "type": "number", "required": True},
        {"name": "currency", "type": "string", "required": False},
    ]
    EventType.objects.create(label=tenant_a.label, name="poker_buy_in", fields=fields)
    tournament = tournament_make(
        tenant_a.label, event_type="poker_buy_in", score_method="sum", score_field="stake", registration_type="auto"
    )
    instance = instance_make(tournament, status="started")
    _rate(tenant_a, "USD", "0.5", T0.date())
    usd_table, eur_wallet = players_make(tenant_a, 2)
    _wallet(usd_table, "SEK")  # the event's own currency wins over the wallet's
    play(tenant_a, [
        (usd_table, "poker_buy_in", {"stake": 100, "currency": "usd"}, T0 + MIN),
        (eur_wallet, "poker_buy_in", {"stake": 60}, T0 + 2 * MIN),  # no currency of its own: a plain number
    ])  # fmt: skip
    assert _board(instance) == [(eur_wallet.pk, Decimal(60)), (usd_table.pk, Decimal(50))]


def test_the_builder_preview_says_amounts_count_in_the_base_currency(tenant_a, tenant_b, outsider, staff_client, race):
    plain = tournament_make(tenant_a.label, name="Logins", event_type="login")
    client = staff_client(tenant_a.admin)
    page = client.get(reverse("admin:gamification_tournament_change", args=[race.tournament_id])).content.decode()
    assert "bet amount of your casino bets, amounts in EUR (the label&#x27;s base currency" in page
    other = client.get(reverse("admin:gamification_tournament_change", args=[plain.pk])).content.decode()
    assert "1 point for each of your logins" in other
    assert "amounts in" not in other
    url = reverse("admin:gamification_tournament_change", args=[race.tournament_id])
    assert staff_client(tenant_b.admin).get(url).status_code == 404
    assert staff_client(outsider).get(url).status_code == 404
