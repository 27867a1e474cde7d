"""Who makes mission progress and in which money: players not ACTIVE (the label's setting), sums in the base currency."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from structlog.testing import capture_logs

from backoffice.services.currency import exchange_rate_create
from crm.models import Event, Player
from gamification.models import Badge, BadgeAward, MissionProgress, PlayerMission, WalletEntry
from gamification.selectors import missions_for_player, wallet_get
from gamification.services.missions import mission_claim
from tests.factories import PlayerFactory
from tests.gamification.mission_helpers import bet, event, feed, mission_make

pytestmark = pytest.mark.django_db

SUM_BETS = {"target": 100, "aggregation": "sum", "sum_field": "bet_amount", "conditions": []}


def _player(tenant, user: str, **fields):
    return PlayerFactory(brand=tenant.brand, label=tenant.label, user_ext_id=user, **fields)


def _value(player, mission) -> Decimal | None:
    pm = PlayerMission.objects.filter(player=player, mission=mission).first()
    return None if pm is None else Decimal(pm.progress.get(str(mission.tasks.get().pk), "0"))


def test_a_self_excluded_player_makes_no_progress_and_earns_nothing_next_to_an_active_one(tenant_a):
    excluded = _player(tenant_a, "excluded", core_account_status="SELF_EXCLUDED")
    mission = mission_make(tenant_a.label, tasks=[{"target": 2}], reward_points=10)
    unlocked = mission_make(tenant_a.label, tasks=[{"target": 1}], type="locked", unlock_event_type="deposit")
    feed(tenant_a.label, [bet(), bet(user="excluded"), bet(), bet(user="excluded"), bet(user="excluded")])
    feed(tenant_a.label, [event("deposit", {"deposit_amount": 5}, user="excluded")])
    active = PlayerMission.objects.get(player=tenant_a.player, mission=mission)
    assert (active.state, wallet_get(player=tenant_a.player).points) == ("claimed", 10)
    assert not PlayerMission.objects.filter(player=excluded).exists()  # no run, no unlock
    assert not MissionProgress.objects.filter(player=excluded).exists()
    assert not WalletEntry.objects.filter(player=excluded).exists()
    assert not Event.objects.filter(player=excluded, type="mission_completed").exists()
    assert [v.state for v in missions_for_player(player=excluded) if v.id == unlocked.pk] == ["locked"]


def test_with_the_label_setting_off_a_player_not_active_progresses(tenant_a):
    tenant_a.label.active_players_only = False
    tenant_a.label.save()
    excluded = _player(tenant_a, "excluded", core_account_status="SELF_EXCLUDED")
    mission = mission_make(tenant_a.label, tasks=[{"target": 2}])
    feed(tenant_a.label, [bet(user="excluded")])
    assert _value(excluded, mission) == Decimal(1)


def test_a_player_who_becomes_active_again_progresses_from_then_on(tenant_a):
    suspended = _player(tenant_a, "suspended", core_account_status="SUSPENDED")
    mission = mission_make(tenant_a.label, tasks=[{"target": 5}])
    feed(tenant_a.label, [bet(user="suspended")])
    suspended.core_account_status = "ACTIVE"
    suspended.save()
    feed(tenant_a.label, [bet(user="suspended")])
    assert _value(suspended, mission) == Decimal(1)


def test_sums_of_money_count_in_the_base_currency_at_the_rate_of_their_day(tenant_a):
    assert tenant_a.label.base_currency == "EUR"
    exchange_rate_create(label=tenant_a.label, currency="SEK", rate=Decimal("0.1"), valid_from=dt.date(2026, 1, 1))
    exchange_rate_create(label=tenant_a.label, currency="SEK", rate=Decimal("0.2"), valid_from=dt.date(2026, 1, 6))
    swede = _player(tenant_a, "swede", core_wallet_currency="SEK")
    mission = mission_make(tenant_a.label, tasks=[SUM_BETS])
    feed(
        tenant_a.label,
        [
            bet(amount=100, user="swede", at="2026-01-05T12:00:00Z"),  # 10 EUR
            bet(amount=100, user="swede", at="2026-01-06T12:00:00Z"),  # 20 EUR: the next day's rate
            bet(amount=40),  # the EUR player's bet is taken as it is
        ],
    )
    assert (_value(swede, mission), _value(tenant_a.player, mission)) == (Decimal(30), Decimal(40))
    feed(tenant_a.label, [bet(amount=400, user="swede", at="2026-01-06T13:00:00Z")])  # 80 EUR: 110 >= 100
    assert PlayerMission.objects.get(player=swede, mission=mission).state == "claimed"


def test_an_amount_without_a_rate_does_not_count_and_is_logged_without_the_player(tenant_a):
    norwegian = _player(tenant_a, "norwegian", core_wallet_currency="NOK")
    summed = mission_make(tenant_a.label, tasks=[SUM_BETS])
    slots = [{"field": "game_category", "op": "eq", "value": "slots"}]
    counted = mission_make(tenant_a.label, tasks=[{"target": 5, "conditions": slots}])  # no money involved: counts
    at_least_one = mission_make(tenant_a.label, tasks=[{"target": 5}])  # bet_amount >= 1: not met without a rate
    with capture_logs() as logs:
        feed(tenant_a.label, [bet(amount=50, user="norwegian"), bet(amount=60, user="norwegian")])
    assert [_value(norwegian, m) for m in (summed, counted, at_least_one)] == [None, Decimal(2), None]
    [line] = [entry for entry in logs if entry["event"] == "mission_amount_without_rate"]
    assert line == {
        "event": "mission_amount_without_rate",
        "log_level": "info",
        "label_id": tenant_a.label.pk,
        "currencies": {"NOK": 2},
    }


def test_conditions_on_money_compare_the_amount_in_the_base_currency(tenant_a):
    exchange_rate_create(label=tenant_a.label, currency="SEK", rate=Decimal("0.1"), valid_from=dt.date(2026, 1, 1))
    swede = _player(tenant_a, "swede", core_wallet_currency="SEK")
    mission = mission_make(tenant_a.label, tasks=[{"target": 5}])  # slot bets of at least 1.00 (EUR)
    locked = mission_make(
        tenant_a.label,
        tasks=[{"target": 1}],
        type="locked",
        unlock_event_type="deposit",
        unlock_event_conditions=[{"field": "deposit_amount", "op": "gte", "value": 50}],
    )
    feed(tenant_a.label, [bet(amount=5, user="swede"), bet(amount=10, user="swede"), bet(amount=30, user="swede")])
    assert _value(swede, mission) == Decimal(2)  # 0.50 EUR is below 1.00; 1.00 and 3.00 are not
    feed(tenant_a.label, [event("deposit", {"deposit_amount": 100}, user="swede")])  # 10 EUR: not enough
    assert [v.state for v in missions_for_player(player=swede) if v.id == locked.pk] == ["locked"]
    feed(tenant_a.label, [event("deposit", {"deposit_amount": 500}, user="swede")])  # 50 EUR
    assert [v.state for v in missions_for_player(player=swede) if v.id == locked.pk] == ["available"]


def test_a_player_whose_wallet_currency_is_not_known_yet_counts_in_the_base_currency(tenant_a):
    newcomer = _player(tenant_a, "newcomer", core_wallet_currency="")  # created by an event, no profile yet
    mission = mission_make(tenant_a.label, tasks=[SUM_BETS])
    feed(tenant_a.label, [bet(amount=25, user="newcomer")])
    assert _value(newcomer, mission) == Decimal(25)


def test_a_player_excluded_after_completing_claims_nothing(tenant_a):
    badge = Badge.objects.create(label=tenant_a.label, name="Finisher")
    mission = mission_make(
        tenant_a.label, tasks=[{"target": 1}], claim_required=True, reward_points=10, reward_badge=badge
    )
    feed(tenant_a.label, [bet()])
    Player.objects.filter(pk=tenant_a.player.pk).update(core_account_status="SELF_EXCLUDED")
    tenant_a.player.refresh_from_db()
    result = mission_claim(player=tenant_a.player, mission=mission)
    assert (result.created, result.player_mission.state) == (True, "claimed")
    assert wallet_get(player=tenant_a.player).points == 0
    assert not WalletEntry.objects.filter(player=tenant_a.player).exists()
    assert not BadgeAward.objects.filter(player=tenant_a.player).exists()
