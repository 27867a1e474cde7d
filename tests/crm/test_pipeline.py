"""Event processing: the profile projection, the aggregates, exactly-once claims, poison events set aside, and the
sweeper that processes what a lost dispatch left behind. The handlers run in this process, on the test database."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from crm import pipeline
from crm.models import Event, Player, PlayerAggregate
from crm.pipeline import events_process, events_process_stale
from crm.services.ingest import events_ingest
from crm.tasks import BATCH_SIZE, sweep_events
from tests.factories import PlayerFactory

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 1, 10, 12, 0, tzinfo=dt.UTC)


def at(minutes: float) -> str:
    return (T0 + dt.timedelta(minutes=minutes)).isoformat()


def ev(event_id: str, type_: str, payload: dict, minutes: float = 0, user: str = "shared-player") -> dict:
    return {"event_id": event_id, "type": type_, "ext_brand_id": "shared-brand", "user_ext_id": user,
            "occurred_at": at(minutes), "payload": payload}  # fmt: skip


def ingest(tenant, items: list[dict], received_at: dt.datetime | None = None) -> list[int]:
    result = events_ingest(label=tenant.label, items=items, source="api", received_at=received_at)
    assert result.counts()["accepted"] == len(items), [i.errors for i in result.items if i.errors]
    return result.new_ids


def aggregate_of(player) -> dict:
    fields = ("deposit_count", "deposit_sum", "first_deposit_at", "last_deposit_at", "withdrawal_count",
              "withdrawal_sum", "bet_count", "bet_sum", "win_sum", "login_count", "last_login_at", "last_entry_point")  # fmt: skip
    return PlayerAggregate.objects.filter(player=player).values(*fields).get()


# --- the profile projection -----------------------------------------------------------------------------------------


def test_a_profile_update_writes_only_the_fields_that_changed(tenant_a):
    player = tenant_a.player  # user_country MT, core_user_language EN
    ids = ingest(tenant_a, [ev("pu-1", "profile_update", {"user_country": "mt", "core_user_language": "EN",
                                                           "core_username": "renamed"}, minutes=5)])  # fmt: skip
    # Written by someone else after the event was sent: a field the update does not carry must survive it.
    Player.objects.filter(pk=player.pk).update(core_kyc_status="VERIFIED")

    with CaptureQueriesContext(connection) as ctx:
        assert events_process(ids) == 1

    player.refresh_from_db()
    assert (player.core_username, player.user_country, player.core_kyc_status) == ("renamed", "MT", "VERIFIED")
    assert player.dt_update == T0 + dt.timedelta(minutes=5)  # no dt_update sent: the event's time stands in
    [update] = [q["sql"] for q in ctx.captured_queries if q["sql"].startswith('UPDATE "crm_player"')]
    assert update.split(" WHERE ")[0].count('" = ') == 3
    for column in ("core_username", "dt_update", "updated_at"):
        assert f'"{column}" =' in update
    assert Event.objects.get(pk=ids[0]).processed_at is not None


def test_an_older_profile_update_never_goes_back_in_time(tenant_a):
    player = tenant_a.player
    newer = ev("pu-new", "profile_update", {"core_username": "newer", "dt_update": at(30)}, minutes=30)
    events_process(ingest(tenant_a, [newer]))
    # Sent later, changed earlier: its dt_update, or its occurred_at when it has none, is older than the profile's.
    older_by_dt_update = ev("pu-old-1", "profile_update", {"core_username": "old-1", "dt_update": at(10)}, minutes=40)
    older_by_occurred_at = ev(
        "pu-old-2", "profile_update", {"core_username": "old-2", "user_country": "DE"}, minutes=20
    )

    assert events_process(ingest(tenant_a, [older_by_dt_update, older_by_occurred_at])) == 2

    player.refresh_from_db()
    assert (player.core_username, player.user_country, player.dt_update) == (
        "newer",
        "MT",
        T0 + dt.timedelta(minutes=30),
    )


def test_profile_updates_of_one_batch_apply_in_the_order_they_happened(tenant_a):
    ids = ingest(
        tenant_a,
        [
            ev("pu-3", "profile_update", {"core_username": "third"}, minutes=3),
            ev("pu-1", "profile_update", {"core_username": "first", "user_first_name": "Ann"}, minutes=1),
            ev("pu-2", "profile_update", {"core_username": "second"}, minutes=2),
        ],
    )

    events_process(ids)

    player = Player.objects.get(pk=tenant_a.player.pk)
    assert (player.core_username, player.user_first_name, player.dt_update) == (
        "third",
        "Ann",
        T0 + dt.timedelta(minutes=3),
    )


def test_a_wallet_currency_change_is_refused_and_the_other_fields_apply(tenant_a):
    newcomer_ids = ingest(tenant_a, [ev("pu-n", "profile_update", {"core_wallet_currency": "usd"}, user="newcomer")])
    ids = ingest(tenant_a, [ev("pu-w", "profile_update", {"core_wallet_currency": "USD", "core_username": "kept"})])

    assert events_process(newcomer_ids + ids) == 2

    player = Player.objects.get(pk=tenant_a.player.pk)
    assert (player.core_wallet_currency, player.core_username) == ("EUR", "kept")
    assert Player.objects.get(user_ext_id="newcomer").core_wallet_currency == "USD"  # not set before: set now
    assert set(Event.objects.values_list("processing_error", flat=True)) == {""}


@pytest.mark.django_db(transaction=True)
def test_processing_a_profile_update_does_not_block_ingest_for_that_player(tenant_a, monkeypatch):
    """The profile handler locks the player without the key lock, so ingest's foreign-key check on the same player
    goes through while a worker is still inside its batch."""
    monkeypatch.setattr("crm.tasks._broker_down_until", float("inf"))  # breaker open: the shared broker stays clean
    ids = ingest(tenant_a, [ev("pu-lock", "profile_update", {"core_username": "locked"})])
    inside, release, outcome = threading.Event(), threading.Event(), {}

    @pipeline.handler("test-pause", order=15)  # after the profile handler has locked the player
    def pause(events):
        inside.set()
        release.wait(20)

    def work() -> None:
        try:
            outcome["processed"] = events_process(ids)
        finally:
            connection.close()

    worker = threading.Thread(target=work)
    try:
        worker.start()
        assert inside.wait(20), "the batch never reached the test handler"
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '5s'")  # fail instead of waiting for the batch to end
            result = events_ingest(label=tenant_a.label, items=[ev("dep-during", "deposit", {"deposit_amount": 5})],
                                   source="api")  # fmt: skip
        assert result.counts()["accepted"] == 1
    finally:
        release.set()
        worker.join(30)
        _unregister("test-pause")
    assert outcome == {"processed": 1}


# --- aggregates -------------------------------------------------------------------------------------------------


def test_aggregates_add_up_deposits_bets_wins_and_logins(tenant_a):
    game = {"game_id": "g-1", "game_name": "Book"}
    events = [
        ev("d-1", "deposit", {"deposit_amount": 50}, minutes=10),
        ev("d-2", "deposit", {"deposit_amount": 25.5, "deposit_method": "card"}, minutes=30),
        ev("d-3", "deposit", {"deposit_amount": 0.01}, minutes=5),
        ev("w-1", "withdrawal", {"withdrawal_amount": 20}, minutes=40),
        ev("b-1", "casino_bet", {"bet_amount": 2.5, **game}, minutes=11),
        ev("b-2", "casino_bet", {"bet_amount": 2.5, **game}, minutes=12),
        ev("b-3", "sport_bet_placed", {"bet_amount": 10}, minutes=13),
        ev("win-1", "casino_win", {"win_amount": 10, **game}, minutes=14),
        ev("win-2", "sport_bet_settled", {"bet_amount": 10, "result": "won", "win_amount": 15}, minutes=15),
        ev("win-3", "sport_bet_settled", {"bet_amount": 10, "result": "lost"}, minutes=16),
        ev("l-1", "login", {"entry_point": "lobby"}, minutes=1),
        ev("l-2", "login", {"entry_point": "mobile"}, minutes=50),
        ev("l-3", "login", {}, minutes=2),
        ev("a-1", "client_action", {"action": "opened_cashier"}, minutes=3),
        ev("other-d", "deposit", {"deposit_amount": 7}, minutes=8, user="other-player"),
    ]
    ids = ingest(tenant_a, events)

    # In two batches, the later events first: the totals must not depend on the order of processing.
    assert events_process(ids[7:]) + events_process(ids[:7]) == len(events)

    assert aggregate_of(tenant_a.player) == {
        "deposit_count": 3,
        "deposit_sum": Decimal("75.51"),
        "first_deposit_at": T0 + dt.timedelta(minutes=5),
        "last_deposit_at": T0 + dt.timedelta(minutes=30),
        "withdrawal_count": 1,
        "withdrawal_sum": Decimal("20"),
        "bet_count": 3,
        "bet_sum": Decimal("15"),
        "win_sum": Decimal("25"),
        "login_count": 3,
        "last_login_at": T0 + dt.timedelta(minutes=50),
        "last_entry_point": "mobile",
    }
    other = Player.objects.get(user_ext_id="other-player")
    assert aggregate_of(other)["deposit_count"] == 1
    assert aggregate_of(other)["deposit_sum"] == Decimal("7")
    assert aggregate_of(other)["login_count"] == 0


def test_the_last_entry_point_is_the_latest_logins_even_when_it_was_processed_first(tenant_a):
    later = ingest(tenant_a, [ev("l-late", "login", {"entry_point": "app"}, minutes=60)])
    earlier = ingest(tenant_a, [ev("l-early", "login", {"entry_point": "lobby"}, minutes=1)])

    events_process(later)
    events_process(earlier)

    aggregate = aggregate_of(tenant_a.player)
    assert (aggregate["login_count"], aggregate["last_entry_point"]) == (2, "app")
    assert aggregate["last_login_at"] == T0 + dt.timedelta(minutes=60)


def test_processing_the_same_ids_again_changes_nothing(tenant_a):
    ids = ingest(tenant_a, [ev("d-1", "deposit", {"deposit_amount": 40}), ev("l-1", "login", {"entry_point": "x"}),
                            ev("pu-1", "profile_update", {"core_username": "once"})])  # fmt: skip
    assert events_process(ids) == 3
    aggregate, processed_at = aggregate_of(tenant_a.player), dict(Event.objects.values_list("id", "processed_at"))

    assert events_process(ids) == 0
    assert events_process(list(reversed(ids)) * 2) == 0
    assert events_process_stale(older_than=dt.timedelta(seconds=0), limit=100) == 0

    assert aggregate_of(tenant_a.player) == aggregate
    assert dict(Event.objects.values_list("id", "processed_at")) == processed_at
    assert aggregate["deposit_count"] == 1


# --- poison events ------------------------------------------------------------------------------------------------


def _unregister(name: str) -> None:
    pipeline._REGISTRY[:] = [entry for entry in pipeline._REGISTRY if entry[1] != name]


@pytest.fixture
def poison_handler():
    """A handler that fails on deposits of 666, registered for one test."""

    @pipeline.handler("test-poison", order=30)
    def fail_on_666(events):
        for event in events:
            if event.payload.get("deposit_amount") == 666:
                raise RuntimeError(f"cannot handle event {event.id}")

    yield fail_on_666
    _unregister("test-poison")
    assert "test-poison" not in pipeline.registered()


def test_a_poison_event_is_set_aside_and_the_rest_of_its_batch_is_processed(tenant_a, poison_handler):
    amounts = [10, 20, 666, 30, 40]
    ids = ingest(tenant_a, [ev(f"d-{a}", "deposit", {"deposit_amount": a}, minutes=i) for i, a in enumerate(amounts)])
    poison_id = Event.objects.get(event_id="d-666").pk

    assert events_process(ids) == len(amounts)

    poison = Event.objects.get(pk=poison_id)
    assert poison.processed_at is not None  # set aside: the sweeper does not retry it forever
    assert poison.processing_error == f"RuntimeError: cannot handle event {poison_id}"
    others = Event.objects.exclude(pk=poison_id)
    assert set(others.values_list("processing_error", flat=True)) == {""}
    assert not others.filter(processed_at__isnull=True).exists()
    aggregate = aggregate_of(tenant_a.player)  # the failed attempt's effects rolled back: each counted once
    assert (aggregate["deposit_count"], aggregate["deposit_sum"]) == (4, Decimal("100"))
    assert events_process(ids) == 0


def test_the_sweeper_sets_a_poison_event_aside_too(tenant_a, poison_handler):
    an_hour_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    ingest(tenant_a, [ev("d-1", "deposit", {"deposit_amount": 666}), ev("d-2", "deposit", {"deposit_amount": 1})],
           received_at=an_hour_ago)  # fmt: skip

    assert sweep_events() == 2

    assert dict(Event.objects.values_list("event_id", "processing_error")) == {
        "d-1": f"RuntimeError: cannot handle event {Event.objects.get(event_id='d-1').pk}",
        "d-2": "",
    }
    assert aggregate_of(tenant_a.player)["deposit_count"] == 1


def test_a_handler_name_is_registered_once(poison_handler):
    with pytest.raises(ValueError, match="already registered"):
        pipeline.handler("test-poison")(lambda events: None)
    assert pipeline.registered().count("test-poison") == 1
    assert pipeline.registered()[:2] == ["profile", "aggregates"]


# --- the sweeper --------------------------------------------------------------------------------------------------


def test_the_sweeper_processes_events_whose_dispatch_was_lost(tenant_a):
    # Stored and committed, but the message to the worker never left (broker down) or was lost with its worker.
    a_minute_ago = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    count = 2 * BATCH_SIZE + 37
    lost = [ev(f"lost-{i}", "deposit", {"deposit_amount": 1}, user=f"p-{i % 40}") for i in range(count)]
    ingest(tenant_a, lost, received_at=a_minute_ago)
    fresh_ids = ingest(tenant_a, [ev("fresh-1", "deposit", {"deposit_amount": 1})])  # its dispatch may still come

    assert sweep_events() == count

    assert not Event.objects.filter(processed_at__isnull=True).exclude(pk__in=fresh_ids).exists()
    assert Event.objects.get(pk=fresh_ids[0]).processed_at is None
    assert sum(PlayerAggregate.objects.values_list("deposit_count", flat=True)) == count
    assert sweep_events() == 0


def test_the_sweeper_stops_at_its_time_budget(tenant_a):
    a_minute_ago = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    ingest(tenant_a, [ev(f"s-{i}", "login", {}) for i in range(BATCH_SIZE + 5)], received_at=a_minute_ago)

    assert sweep_events(budget_seconds=0) == 0  # no time: nothing claimed, nothing lost
    assert sweep_events() == BATCH_SIZE + 5


def test_processing_skips_players_of_no_concern_and_unknown_ids(tenant_a):
    bystander = PlayerFactory(brand=tenant_a.brand, label=tenant_a.label)
    ids = ingest(tenant_a, [ev("d-1", "deposit", {"deposit_amount": 5})])

    assert events_process([*ids, 10**12]) == 1

    assert not PlayerAggregate.objects.filter(player=bystander).exists()


def test_updates_at_the_same_instant_apply_in_the_order_they_were_sent(tenant_a):
    # Whole-second timestamps are common: the later of two updates in one batch wins, whatever their ids say.
    ids = ingest(
        tenant_a,
        [
            ev("pu-9", "profile_update", {"core_username": "sent-first"}, minutes=5),
            ev("pu-10", "profile_update", {"core_username": "sent-second"}, minutes=5),
            ev("login-b", "login", {"entry_point": "sent-first"}, minutes=6),
            ev("login-a", "login", {"entry_point": "sent-second"}, minutes=6),
        ],
    )

    assert ids == sorted(ids)
    assert list(Event.objects.filter(pk__in=ids).order_by("pk").values_list("event_id", flat=True)) == [
        "pu-9", "pu-10", "login-b", "login-a",
    ]  # fmt: skip
    events_process(ids)

    assert Player.objects.get(pk=tenant_a.player.pk).core_username == "sent-second"
    assert aggregate_of(tenant_a.player)["last_entry_point"] == "sent-second"


@pytest.mark.django_db
def test_profile_update_pii_is_encrypted_in_the_stored_payload_and_applied_in_clear(tenant_a):
    from django.db import connection

    from crm.models import Event, Player
    from crm.pipeline import events_process
    from crm.services.ingest import events_ingest

    item = {
        "event_id": "pu-pii",
        "type": "profile_update",
        "ext_brand_id": tenant_a.brand.ext_brand_id,
        "user_ext_id": "pii-player",
        "occurred_at": "2025-01-01T00:00:00Z",
        "payload": {"user_email": "Secret@Example.com", "user_phone": "+356 9988 7766", "core_username": "s"},
    }
    result = events_ingest(label=tenant_a.label, items=[item], source="api")
    with connection.cursor() as cursor:
        cursor.execute("SELECT payload::text, digest FROM crm_event WHERE id = %s", [result.new_ids[0]])
        stored, digest = cursor.fetchone()
    assert "secret@example.com" not in stored.lower()
    assert "99887766" not in stored
    assert '"core_username": "s"' in stored
    assert events_process(result.new_ids) == 1
    player = Player.objects.get(user_ext_id="pii-player")
    assert (player.user_email, player.user_phone) == ("secret@example.com", "+35699887766")
    # The same event sent again is still a duplicate: the digest is of the content, not of the ciphertext.
    assert events_ingest(label=tenant_a.label, items=[item], source="api").items[0].status == "duplicate"
    assert Event.objects.get(pk=result.new_ids[0]).digest == digest
