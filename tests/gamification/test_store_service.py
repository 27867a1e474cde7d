"""Store purchases: each refusal has its code and writes nothing; replays buy once; caps and stock hold under races."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection
from django.utils import timezone

from backoffice.errors import DomainError
from crm.models import Event
from gamification.models import Level, StorePurchase, WalletEntry
from gamification.selectors import store_items_for_player, wallet_get
from gamification.services.store import cap_period_start, store_purchase
from tests.factories import PlayerFactory
from tests.gamification.store_helpers import fund, item_make


def _refusal(player, item, key="p1") -> DomainError:
    with pytest.raises(DomainError) as exc:
        store_purchase(player=player, item=item, key=key)
    assert exc.value.status_code == 422
    return exc.value


def _nothing_written(player, item, stock) -> None:
    item.refresh_from_db()
    assert item.stock == stock
    assert not StorePurchase.objects.exists()
    assert not WalletEntry.objects.filter(player=player, source="store").exists()


@pytest.mark.django_db
def test_a_purchase_debits_the_price_takes_one_from_stock_and_is_delivered():
    player = PlayerFactory()
    fund(player, 25)
    item = item_make(player.label, price=10, stock=5)
    result = store_purchase(player=player, item=item, key="p1")
    assert result.created
    purchase = result.purchase
    assert (purchase.price, purchase.currency, purchase.status, purchase.player) == (10, "points", "delivered", player)
    assert (purchase.wallet_entry.amount, purchase.wallet_entry.source) == (-10, "store")
    assert purchase.wallet_entry.key == "store:p1"
    item.refresh_from_db()
    assert item.stock == 4
    assert (wallet_get(player=player).points, wallet_get(player=player).points_earned) == (15, 25)


@pytest.mark.django_db
def test_a_change_level_item_sets_the_players_level():
    player = PlayerFactory()
    fund(player, 50, currency="gems")
    vip = Level.objects.create(label=player.label, name="VIP", required_points=10_000)
    item = item_make(player.label, type="change_level", target_level=vip, price=50, currency="gems")
    store_purchase(player=player, item=item, key="p1")
    wallet = wallet_get(player=player)
    assert (wallet.level, wallet.gems) == (vip, 0)
    (fact,) = Event.objects.filter(player=player, type="level_changed")
    assert fact.payload == {"level_id": vip.pk, "level_name": "VIP"}


@pytest.mark.django_db
def test_a_bought_level_stays_until_the_points_pass_it_and_a_lower_one_is_refused():
    player = PlayerFactory()
    fund(player, 100, currency="gems")
    bronze = Level.objects.create(label=player.label, name="Bronze", required_points=0, is_default=True)
    vip = Level.objects.create(label=player.label, name="VIP", required_points=1_000)
    legend = Level.objects.create(label=player.label, name="Legend", required_points=5_000)
    store_purchase(player=player, item=item_make(player.label, type="change_level", target_level=vip,
                                                 price=50, currency="gems"), key="p1")  # fmt: skip
    fund(player, 10, key="earned-1")  # the points alone reach Bronze: the bought VIP stays
    assert wallet_get(player=player).level == vip
    lower = item_make(player.label, name="Bronze pass", type="change_level", target_level=bronze, price=1,
                      currency="gems")  # fmt: skip
    assert _refusal(player, lower, key="p2").code == "already_at_level"
    assert wallet_get(player=player).gems == 50
    fund(player, 5_000, key="earned-2")
    assert wallet_get(player=player).level == legend


@pytest.mark.django_db
def test_a_replayed_key_returns_the_first_purchase_and_buys_nothing():
    player = PlayerFactory()
    fund(player, 100)
    item = item_make(player.label, stock=5)
    first = store_purchase(player=player, item=item, key="same")
    again = store_purchase(player=player, item=item, key="same")
    assert not again.created
    assert again.purchase.pk == first.purchase.pk
    item.refresh_from_db()
    assert (item.stock, wallet_get(player=player).points, StorePurchase.objects.count()) == (4, 90, 1)


@pytest.mark.django_db
def test_a_key_reused_for_another_item_is_a_conflict():
    player = PlayerFactory()
    fund(player, 100)
    store_purchase(player=player, item=item_make(player.label), key="same")
    with pytest.raises(DomainError) as exc:
        store_purchase(player=player, item=item_make(player.label, name="Mug"), key="same")
    assert (exc.value.code, exc.value.status_code) == ("idempotency_conflict", 409)
    assert wallet_get(player=player).points == 90


@pytest.mark.django_db
def test_insufficient_balance_is_refused_and_takes_no_stock():
    player = PlayerFactory()
    fund(player, 9)
    item = item_make(player.label, price=10, stock=3)
    assert _refusal(player, item).code == "insufficient_balance"
    _nothing_written(player, item, stock=3)
    assert wallet_get(player=player).points == 9


@pytest.mark.django_db
def test_out_of_stock_is_refused_and_debits_nothing():
    player = PlayerFactory()
    fund(player, 100)
    item = item_make(player.label, stock=0)
    assert _refusal(player, item).code == "out_of_stock"
    _nothing_written(player, item, stock=0)
    assert wallet_get(player=player).points == 100


@pytest.mark.django_db
@pytest.mark.parametrize(
    "fields",
    [
        {"is_active": False},
        {"active_from": timezone.now() + dt.timedelta(hours=1)},
        {"active_till": timezone.now() - dt.timedelta(seconds=1)},
    ],
    ids=["flag-off", "not-yet", "ended"],
)
def test_an_item_not_on_sale_is_refused_as_inactive(fields):
    player = PlayerFactory()
    fund(player, 100)
    item = item_make(player.label, stock=2, **fields)
    assert _refusal(player, item).code == "inactive"
    _nothing_written(player, item, stock=2)
    assert store_items_for_player(player=player) == []


@pytest.mark.django_db
def test_a_control_group_player_cannot_buy():
    player = PlayerFactory()
    fund(player, 100)
    player.ach_gamification_in_control_group = True
    item = item_make(player.label, stock=2)
    assert _refusal(player, item).code == "control_group"
    _nothing_written(player, item, stock=2)


@pytest.mark.django_db
def test_a_cap_of_one_a_day_refuses_the_second_purchase_as_limit_reached():
    player = PlayerFactory()
    fund(player, 100)
    item = item_make(player.label, cap_count=1, cap_period="day")
    store_purchase(player=player, item=item, key="p1")
    assert _refusal(player, item, key="p2").code == "limit_reached"
    assert (wallet_get(player=player).points, StorePurchase.objects.count()) == (90, 1)
    # Yesterday's purchase no longer counts, and the cap is per player.
    StorePurchase.objects.update(created_at=timezone.now() - dt.timedelta(days=1))
    assert store_purchase(player=player, item=item, key="p3").created
    other = PlayerFactory(brand=player.brand)
    fund(other, 10, key="fund-other")
    assert store_purchase(player=other, item=item, key="p4").created


@pytest.mark.django_db
def test_an_item_of_another_label_cannot_be_bought():
    player = PlayerFactory()
    fund(player, 100)
    foreign = item_make(PlayerFactory().label)
    with pytest.raises(DomainError) as exc:
        store_purchase(player=player, item=foreign, key="p1")
    assert exc.value.status_code == 404
    assert wallet_get(player=player).points == 100


def test_cap_periods_start_at_the_calendar_day_week_and_month_in_utc():
    now = dt.datetime(2026, 11, 19, 15, 30, tzinfo=dt.UTC)  # a Thursday
    assert cap_period_start(period="day", now=now) == dt.datetime(2026, 11, 19, tzinfo=dt.UTC)
    assert cap_period_start(period="week", now=now) == dt.datetime(2026, 11, 16, tzinfo=dt.UTC)
    assert cap_period_start(period="month", now=now) == dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    assert cap_period_start(period="ever", now=now) is None


@pytest.mark.django_db
def test_the_store_shows_stock_left_remaining_cap_and_affordability():
    player = PlayerFactory()
    fund(player, 15)
    capped = item_make(player.label, name="Capped", price=10, cap_count=2, cap_period="week", stock=7)
    item_make(player.label, name="Pricey", price=16)
    store_purchase(player=player, item=capped, key="p1")
    shown = {item.name: item for item in store_items_for_player(player=player)}
    assert (shown["Capped"].stock, shown["Capped"].cap_remaining, shown["Capped"].affordable) == (6, 1, False)
    assert (shown["Pricey"].stock, shown["Pricey"].cap_remaining, shown["Pricey"].affordable) == (None, None, False)
    fund(player, 100, key="more")
    assert all(item.affordable for item in store_items_for_player(player=player))


def _race(count: int, buy) -> list[str]:
    """Run `buy(n)` in `count` threads released together; the outcome of each: "ok" or the refusal's code."""
    outcomes: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(count)

    def run(n: int) -> None:
        try:
            barrier.wait()
            try:
                buy(n)
                outcome = "ok"
            except DomainError as exc:
                outcome = exc.code
            with lock:
                outcomes.append(outcome)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(outcomes)


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_purchases_with_a_balance_for_ten_let_exactly_ten_through():
    player = PlayerFactory()
    fund(player, 100)
    item = item_make(player.label, price=10, stock=1000)
    outcomes = _race(50, lambda n: store_purchase(player=player, item=item, key=f"buy-{n}"))
    assert outcomes == ["insufficient_balance"] * 40 + ["ok"] * 10
    assert wallet_get(player=player).points == 0
    item.refresh_from_db()
    assert item.stock == 990
    purchases = StorePurchase.objects.filter(player=player)
    assert purchases.count() == 10
    assert all(p.wallet_entry_id is not None for p in purchases)
    assert WalletEntry.objects.filter(player=player, source="store", amount=-10).count() == 10


@pytest.mark.django_db(transaction=True)
def test_ten_buyers_with_money_race_for_a_stock_of_three_and_exactly_three_win():
    brand = PlayerFactory().brand
    item = item_make(brand.label, price=10, stock=3)
    players = [PlayerFactory(brand=brand) for _ in range(10)]
    for n, player in enumerate(players):
        fund(player, 10, key=f"fund-{n}")
    outcomes = _race(10, lambda n: store_purchase(player=players[n], item=item, key=f"buy-{n}"))
    assert outcomes == ["ok"] * 3 + ["out_of_stock"] * 7
    item.refresh_from_db()
    assert item.stock == 0
    assert StorePurchase.objects.count() == 3
    assert sorted(wallet_get(player=p).points for p in players) == [0] * 3 + [10] * 7


@pytest.mark.django_db(transaction=True)
def test_concurrent_purchases_by_one_player_cannot_pass_a_cap_of_one():
    player = PlayerFactory()
    fund(player, 100)
    item = item_make(player.label, cap_count=1, cap_period="day")
    outcomes = _race(10, lambda n: store_purchase(player=player, item=item, key=f"buy-{n}"))
    assert outcomes == ["limit_reached"] * 9 + ["ok"]
    assert (wallet_get(player=player).points, StorePurchase.objects.count()) == (90, 1)
