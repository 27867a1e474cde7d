"""What the generator writes reaches Pitboss through its own replica sync (`sync_view_run`, what the Celery task
runs), once; and `manage.py demo` wires the demo label to the sandbox."""

from __future__ import annotations

import io
from collections import Counter
from decimal import Decimal

import pytest
from django.core.management import call_command

from backoffice.management.commands.demo import BONUS_RULE, DEPOSITORS, POINTS_RULE
from backoffice.models import Label
from crm.models import Bonus, BonusTemplate, Event, EventSource, Player, Rule, RuleEffect, RuleStatus, Segment
from crm.pipeline import events_apply
from crm.services.bonus_delivery import bonus_deliver
from crm.services.bonuses import SyncResult, bonus_give, bonus_templates_sync
from crm.services.segments import segment_contains
from gamification.models import Wallet
from integrations.models import BonusApiConnection, DataSource, SandboxBonus, SandboxBonusSettings, SyncView
from integrations.replica.services import DONE, sync_view_run
from integrations.sandbox.generator import Generator
from integrations.sandbox.replica import (
    SOURCE_NAME,
    sandbox_replica_drop,
    sandbox_replica_dsn,
    sandbox_replica_ensure,
    sandbox_source_ensure,
)
from tests.crm.bonuses.conftest import in_process  # noqa: F401 - a fixture
from tests.factories import BrandFactory, LabelFactory

pytestmark = pytest.mark.django_db

# The transactional event type of each view row, as the views tell them apart. (The users view holds each player's
# profile as it is now: one row per player, however many changes, each read becoming a profile_update.)
ROWS_BY_TYPE = {
    "deposit": "SELECT count(*) FROM deposits",
    "withdrawal": "SELECT count(*) FROM withdrawals",
    "casino_bet": "SELECT count(*) FROM casino_bets WHERE transaction_type = 'bet'",
    "casino_win": "SELECT count(*) FROM casino_bets WHERE transaction_type = 'win'",
    "sport_bet_placed": "SELECT count(*) FROM sport_bets",
    "sport_bet_settled": "SELECT count(*) FROM sport_bet_settlements",
}


@pytest.fixture
def label(db):
    label = LabelFactory(name="Sandbox casino")
    BrandFactory(label=label, ext_brand_id="sbx-casino")
    BrandFactory(label=label, ext_brand_id="sbx-sports")
    return label


def _sync(source: DataSource) -> Counter:
    """One run of every view of the source; the events accepted, by view."""
    accepted: Counter = Counter()
    for view in SyncView.objects.filter(source=source).order_by("pk"):
        result = sync_view_run(view_id=view.pk)
        assert (result.status, result.error, result.invalid) == (DONE, "", 0), (view.name, result)
        accepted[view.name] = result.accepted
    return accepted


def _events(label) -> dict[str, int]:
    counts = Counter(Event.objects.filter(label=label).exclude(type="profile_update").values_list("type", flat=True))
    return dict(sorted(counts.items()))


def _profiles_read(label) -> set[tuple[str, str]]:
    return set(
        Event.objects.filter(label=label, type="profile_update").values_list(
            "player__brand__ext_brand_id", "player__user_ext_id"
        )
    )


def _rows(sandbox) -> dict[str, int]:
    return dict(sorted((kind, sandbox.sql(query)[0][0]) for kind, query in ROWS_BY_TYPE.items()))


def test_every_generated_row_becomes_one_event_and_a_second_sync_adds_none(label, sandbox):
    source = sandbox_source_ensure(label=label, dsn=sandbox.dsn)
    generator = Generator(dsn=sandbox.dsn, rate_per_minute=600, seed=11)
    for _ in range(20):
        generator.tick(seconds=3)

    _sync(source)

    rows = _rows(sandbox)
    assert all(rows.values()), rows
    assert _events(label) == rows
    assert _profiles_read(label) == set(sandbox.sql("SELECT ext_brand_id, user_ext_id FROM user_profile"))
    assert set(Event.objects.filter(label=label).values_list("source", flat=True)) == {EventSource.REPLICA}
    total = Event.objects.filter(label=label).count()
    assert sum(_sync(source).values()) == 0
    assert Event.objects.filter(label=label).count() == total

    for _ in range(5):  # later rows are read, and only they
        generator.tick(seconds=3)
    _sync(source)
    assert _events(label) == _rows(sandbox) != rows


def test_events_carry_the_rows_fields(label, sandbox):
    source = sandbox_source_ensure(label=label, dsn=sandbox.dsn)
    generator = Generator(dsn=sandbox.dsn, rate_per_minute=600, seed=12)
    for _ in range(10):
        generator.tick(seconds=3)
    _sync(source)

    tx, user, amount, method = sandbox.sql(
        "SELECT transaction_id, user_ext_id, deposit_amount, deposit_method FROM deposits ORDER BY dt_finalized LIMIT 1"
    )[0]
    deposit = Event.objects.get(label=label, type="deposit", event_id=tx)
    assert deposit.player.user_ext_id == user
    assert (deposit.payload["deposit_amount"], deposit.payload["deposit_method"]) == (float(amount), method)
    round_id, game_id, game_name = sandbox.sql(
        "SELECT bet_id, game_id, game_name FROM casino_bets WHERE transaction_type = 'win' ORDER BY id LIMIT 1"
    )[0]
    win = Event.objects.get(label=label, type="casino_win", event_id=f"{round_id}-win")
    assert (win.payload["bet_id"], win.payload["game_id"], win.payload["game_name"]) == (round_id, game_id, game_name)
    bet = Event.objects.get(label=label, type="casino_bet", event_id=f"{round_id}-bet")
    assert "bet_id" not in bet.payload
    assert bet.payload["bet_amount"] > 0


def test_profile_changes_arrive_and_players_match_the_operator(label, sandbox):
    source = sandbox_source_ensure(label=label, dsn=sandbox.dsn)
    generator = Generator(dsn=sandbox.dsn, rate_per_minute=600, seed=7)
    for _ in range(30):
        generator.tick(seconds=3)
    _sync(source)
    first = Event.objects.filter(label=label).count()
    for _ in range(30):  # more changes to the same players, read by the next run
        generator.tick(seconds=3)
    _sync(source)
    events_apply(list(Event.objects.filter(label=label).order_by("id").values_list("id", flat=True)))

    assert Event.objects.filter(label=label).count() > first
    operator = {
        (brand, user): (status, kyc, language, currency)
        for brand, user, status, kyc, language, currency in sandbox.sql(
            """SELECT ext_brand_id, user_ext_id, core_account_status, core_kyc_status, core_user_language,
                      core_wallet_currency FROM user_profile"""
        )
    }
    pitboss = {
        (p.brand.ext_brand_id, p.user_ext_id): (
            p.core_account_status, p.core_kyc_status, p.core_user_language, p.core_wallet_currency,
        )
        for p in Player.objects.filter(label=label).select_related("brand")
    }  # fmt: skip
    assert pitboss == operator
    assert "SELF_EXCLUDED" in {status for status, *_ in pitboss.values()}


# --- manage.py demo ------------------------------------------------------------------------------------------------
@pytest.fixture
def demo_replica(db):
    """The replica `manage.py demo` wires (beside the test database); dropped afterwards."""
    dsn = sandbox_replica_dsn()
    yield dsn
    sandbox_replica_drop(dsn=dsn)


def test_demo_wires_the_demo_label_to_the_sandbox_and_its_traffic_arrives(demo_replica):
    out = io.StringIO()
    call_command("demo", stdout=out)

    demo = Label.objects.get(name="Demo Casino Group")
    source = DataSource.objects.get(label=demo)
    assert (source.name, source.dsn) == (SOURCE_NAME, demo_replica)
    assert SyncView.objects.filter(source=source).count() == 6
    assert not DataSource.objects.exclude(label=demo).exists()
    assert f"Demo Casino Group reads the replica database {demo_replica.split('dbname=')[1].split()[0]}" in (
        out.getvalue()
    )
    demo_events = Event.objects.filter(label=demo).count()

    generator = Generator(dsn=sandbox_replica_ensure(), rate_per_minute=600, seed=1)
    for _ in range(5):
        generator.tick(seconds=3)
    _sync(source)

    arrived = Event.objects.filter(label=demo, source=EventSource.REPLICA)
    assert arrived.count() == Event.objects.filter(label=demo).count() - demo_events > 0
    assert set(arrived.values_list("player__brand__ext_brand_id", flat=True)) <= {"demo-casino", "demo-sports"}

    call_command("demo", stdout=io.StringIO())  # again: the same source and views, nothing read twice
    assert DataSource.objects.get(label=demo).pk == source.pk
    assert SyncView.objects.filter(source=source).count() == 6
    assert sum(_sync(source).values()) == 0


def test_demo_points_the_demo_label_bonus_api_at_the_sandbox_and_a_bonus_is_applied_there(demo_replica, in_process):  # noqa: F811
    call_command("demo", "--base-url", "http://localhost", stdout=io.StringIO())
    demo = Label.objects.get(name="Demo Casino Group")
    connection = BonusApiConnection.objects.get(label=demo)
    assert connection.base_url == f"http://localhost/sandbox/bonus-api/{demo.label_key}"
    assert connection.secret == SandboxBonusSettings.objects.get(label=demo).secret
    templates = {t.operator_code: (t.type, t.amount) for t in BonusTemplate.objects.filter(label=demo)}
    assert templates == {
        "10FREE_SPIN_IN_GOLDEN_SLOT": ("free_spins", Decimal("10.00")), "CASH_5_EUR": ("cash", Decimal("5.00")),
        "DEPOSIT_MATCH_100": ("deposit_match", Decimal("100.00")), "WELCOME_COUPON": ("coupon", None),
    }  # fmt: skip
    assert bonus_templates_sync(label=demo) == SyncResult(created=0, updated=4, deactivated=0)  # the same, over HTTP

    generator = Generator(dsn=sandbox_replica_ensure(), rate_per_minute=600, seed=2)
    generator.tick(seconds=3)
    _sync(DataSource.objects.get(label=demo))
    player = Player.objects.filter(label=demo, events__source=EventSource.REPLICA).select_related("brand").first()
    bonus = bonus_give(
        player=player, template=BonusTemplate.objects.get(label=demo, operator_code="CASH_5_EUR"), source="staff",
        key="demo-check",
    )  # fmt: skip
    bonus_deliver(bonus_id=bonus.pk)

    bonus.refresh_from_db()
    assert bonus.status == "issued"
    applied = SandboxBonus.objects.get(label=demo)
    assert (applied.bonus_code, applied.user_ext_id, applied.ext_brand_id) == (
        "CASH_5_EUR", player.user_ext_id, player.brand.ext_brand_id,
    )  # fmt: skip


def test_demo_sample_segment_and_rules_act_on_the_sandbox_traffic(demo_replica):
    call_command("demo", stdout=io.StringIO())
    demo = Label.objects.get(name="Demo Casino Group")
    assert sorted(Rule.objects.filter(label=demo, status=RuleStatus.ACTIVE).values_list("name", flat=True)) == sorted(
        [BONUS_RULE, POINTS_RULE]
    )
    segment = Segment.objects.get(label=demo, name=DEPOSITORS)

    generator = Generator(dsn=sandbox_replica_ensure(), rate_per_minute=600, seed=4)
    for _ in range(15):
        generator.tick(seconds=3)
    _sync(DataSource.objects.get(label=demo))
    arrived = Event.objects.filter(label=demo, source=EventSource.REPLICA).order_by("id")
    events_apply(list(arrived.values_list("id", flat=True)))

    deposits = arrived.filter(type="deposit").select_related("player")
    active = [e for e in deposits if e.player.core_account_status == "ACTIVE"]
    assert active
    effects = RuleEffect.objects.filter(rule__name=POINTS_RULE, status="applied")
    assert sorted(effects.values_list("event_id", flat=True)) == sorted(e.pk for e in active)
    player = active[0].player
    assert Wallet.objects.get(player=player).points == 10 * sum(1 for e in active if e.player_id == player.pk)
    assert segment_contains(segment=segment, player_id=player.pk)
    trustly = {e.player_id for e in active if e.payload.get("deposit_method") == "Trustly"}
    assert trustly
    bonuses = Bonus.objects.filter(label=demo, template__operator_code="CASH_5_EUR")
    assert sorted(bonuses.values_list("player_id", flat=True)) == sorted(trustly)  # once per player, ever


def test_demo_with_the_sandbox_off_wires_nothing_and_says_so(settings):
    settings.PITBOSS_SANDBOX = False
    settings.SETTINGS_MODULE = "backoffice.settings.test"  # last: each override's holder starts without it
    out = io.StringIO()
    call_command("demo", stdout=out)

    assert not DataSource.objects.exists()
    assert "Sandbox operator: off (PITBOSS_SANDBOX), so nothing new arrives on its own." in out.getvalue()
