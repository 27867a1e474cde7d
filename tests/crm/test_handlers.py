"""The crm group's handlers: the profile projection and the per-player aggregates, run over stored events in this
process (`events_apply`). The pipeline that feeds them is tested in tests/crm/test_pipeline.py."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.models import Event, Player, PlayerAggregate
from crm.pipeline import events_apply
from crm.services.ingest import events_ingest

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
        assert events_apply(ids) == 1

    player.refresh_from_db()
    assert (player.core_username, player.user_country, player.core_kyc_status) == ("renamed", "MT", "VERIFIED")
    assert player.dt_update == T0 + dt.timedelta(minutes=5)  # no dt_update sent: the event's time stands in
    [update] = [q["sql"] for q in ctx.captured_queries if q["sql"].startswith('UPDATE "crm_player"')]
    assert update.split(" WHERE ")[0].count('" = ') == 4
    for column in ("core_username", "dt_update", "profile_stamps", "updated_at"):
        assert f'"{column}" =' in update


def test_an_older_profile_update_never_undoes_a_newer_field_and_sets_the_others(tenant_a):
    player = tenant_a.player
    newer = ev("pu-new", "profile_update", {"core_username": "newer", "dt_update": at(30)}, minutes=30)
    events_apply(ingest(tenant_a, [newer]))
    # Sent later, changed earlier: its dt_update, or its occurred_at when it has none, is older than the username's.
    # The username stays; the country, which no later update set, is taken (per-field stamps, crm.services.players).
    older_by_dt_update = ev("pu-old-1", "profile_update", {"core_username": "old-1", "dt_update": at(10)}, minutes=40)
    older_by_occurred_at = ev(
        "pu-old-2", "profile_update", {"core_username": "old-2", "user_country": "DE"}, minutes=20
    )

    assert events_apply(ingest(tenant_a, [older_by_dt_update, older_by_occurred_at])) == 2

    player.refresh_from_db()
    assert (player.core_username, player.user_country, player.dt_update) == (
        "newer",
        "DE",
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

    events_apply(ids)

    player = Player.objects.get(pk=tenant_a.player.pk)
    assert (player.core_username, player.user_first_name, player.dt_update) == (
        "third",
        "Ann",
        T0 + dt.timedelta(minutes=3),
    )


def test_a_wallet_currency_change_is_refused_and_the_other_fields_apply(tenant_a):
    newcomer_ids = ingest(tenant_a, [ev("pu-n", "profile_update", {"core_wallet_currency": "usd"}, user="newcomer")])
    ids = ingest(tenant_a, [ev("pu-w", "profile_update", {"core_wallet_currency": "USD", "core_username": "kept"})])

    assert events_apply(newcomer_ids + ids) == 2

    player = Player.objects.get(pk=tenant_a.player.pk)
    assert (player.core_wallet_currency, player.core_username) == ("EUR", "kept")
    assert Player.objects.get(user_ext_id="newcomer").core_wallet_currency == "USD"  # not set before: set now


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
    assert events_apply(ids[7:]) + events_apply(ids[:7]) == len(events)

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

    events_apply(later)
    events_apply(earlier)

    aggregate = aggregate_of(tenant_a.player)
    assert (aggregate["login_count"], aggregate["last_entry_point"]) == (2, "app")
    assert aggregate["last_login_at"] == T0 + dt.timedelta(minutes=60)


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
    events_apply(ids)

    assert Player.objects.get(pk=tenant_a.player.pk).core_username == "sent-second"
    assert aggregate_of(tenant_a.player)["last_entry_point"] == "sent-second"


@pytest.mark.django_db
def test_profile_update_pii_is_encrypted_in_the_stored_payload_and_applied_in_clear(tenant_a):
    from django.db import connection

    from crm.models import Event, Player
    from crm.pipeline import events_apply
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
    assert events_apply(result.new_ids) == 1
    player = Player.objects.get(user_ext_id="pii-player")
    assert (player.user_email, player.user_phone) == ("secret@example.com", "+35699887766")
    # The same event sent again is still a duplicate: the digest is of the content, not of the ciphertext.
    assert events_ingest(label=tenant_a.label, items=[item], source="api").items[0].status == "duplicate"
    assert Event.objects.get(pk=result.new_ids[0]).digest == digest
