"""Per-field profile stamps: several sources of profile updates (one users view per table, the API) never undo each
other. A field changes only for an update stamped at or after the one that last set it, whichever arrives first."""

from __future__ import annotations

import datetime as dt

import pytest

from crm.models import Player
from crm.services.players import player_upsert
from tests.gamification.mission_helpers import event, feed

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 1, 10, 12, 0, tzinfo=dt.UTC)
LIST = "/api/v1/players"


def at(minutes: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def update(fields: dict, *, minutes: int, view: str = "a", user: str = "shared-player") -> dict:
    """A users view row as the replica sync ingests it: dt_update in the payload, and as the event's time."""
    stamp = at(minutes).isoformat()
    return event("profile_update", {**fields, "dt_update": stamp}, event_id=f"{view}-{user}-{minutes}", at=stamp,
                 user=user)  # fmt: skip


def stamps_of(player: Player) -> dict:
    return {k: v for k, v in player.profile_stamps.items() if k != "*"}


def test_an_older_update_from_another_view_sets_the_fields_no_later_update_set(tenant_a):
    player = tenant_a.player  # username nick.., country MT; no stamps yet, no dt_update
    feed(tenant_a.label, [update({"core_username": "from-a", "core_kyc_status": "VERIFIED"}, minutes=20)])
    # View B's row changed before A's, read after it: its phone is new; its username is older than A's.
    feed(tenant_a.label, [update({"user_phone": "+35699123456", "core_username": "from-b"}, minutes=10, view="b")])

    player.refresh_from_db()
    assert (player.core_username, player.core_kyc_status, player.user_phone) == ("from-a", "VERIFIED", "+35699123456")
    assert player.user_phone_digest is not None
    assert player.dt_update == at(20)
    assert stamps_of(player) == {
        "core_username": "2026-01-10T12:20:00.000000+00:00",
        "core_kyc_status": "2026-01-10T12:20:00.000000+00:00",
        "user_phone": "2026-01-10T12:10:00.000000+00:00",
    }


def test_the_outcome_does_not_depend_on_the_order_updates_arrive_in(tenant_a):
    Player.objects.create(label=tenant_a.label, brand=tenant_a.brand, user_ext_id="p2")
    a = {"core_username": "a", "user_country": "DE", "custom": {"vip": "gold"}}
    b = {"core_username": "b", "user_first_name": "Ann", "custom": {"vip": "silver", "kyc_level": 2}}
    feed(tenant_a.label, [update(a, minutes=20), update(b, minutes=10, view="b")])  # one batch, A first
    feed(tenant_a.label, [update(b, minutes=10, view="b", user="p2")])  # two batches, B first
    feed(tenant_a.label, [update(a, minutes=20, user="p2")])

    first, second = (Player.objects.get(label=tenant_a.label, user_ext_id=u) for u in ("shared-player", "p2"))
    for player in (first, second):
        assert (player.core_username, player.user_country, player.user_first_name) == ("a", "DE", "Ann")
        assert player.custom == {"vip": "gold", "kyc_level": 2}  # each custom property keeps its own stamp
        assert player.dt_update == at(20)
    assert stamps_of(first) == stamps_of(second)


def test_replaying_the_same_rows_changes_nothing(tenant_a):
    rows = {"core_username": "a", "user_country": "DE", "custom": {"vip": "gold"}}
    feed(tenant_a.label, [update(rows, minutes=20), update({"user_first_name": "Ann"}, minutes=10, view="b")])
    before = Player.objects.filter(pk=tenant_a.player.pk).values().get()

    # The same rows again as new events (a view renamed, a cursor reset), in the other order.
    feed(
        tenant_a.label, [update({"user_first_name": "Ann"}, minutes=10, view="b2"), update(rows, minutes=20, view="a2")]
    )

    assert Player.objects.filter(pk=tenant_a.player.pk).values().get() == before  # updated_at included: no write


def test_custom_properties_merge_one_by_one_and_null_removes_one(tenant_a):
    feed(tenant_a.label, [update({"custom": {"vip": "gold", "kyc_level": 1}}, minutes=10)])
    feed(tenant_a.label, [update({"custom": {"kyc_level": None, "segment": "x"}}, minutes=20, view="b")])
    feed(tenant_a.label, [update({"custom": {"segment": "older"}}, minutes=15, view="c")])

    player = Player.objects.get(pk=tenant_a.player.pk)
    assert player.custom == {"vip": "gold", "segment": "x"}
    assert player.profile_stamps["custom.kyc_level"] == "2026-01-10T12:20:00.000000+00:00"  # removal is stamped too


def test_a_profile_from_before_per_field_stamps_keeps_its_dt_update_as_the_floor(tenant_a):
    Player.objects.filter(pk=tenant_a.player.pk).update(dt_update=at(30), profile_stamps={})

    feed(tenant_a.label, [update({"user_country": "DE"}, minutes=20)])  # older than the whole stored profile
    feed(tenant_a.label, [update({"core_username": "newer"}, minutes=40, view="b")])
    feed(tenant_a.label, [update({"user_country": "FR"}, minutes=35, view="c")])

    player = Player.objects.get(pk=tenant_a.player.pk)
    assert (player.user_country, player.core_username, player.dt_update) == ("FR", "newer", at(40))
    assert player.profile_stamps["*"] == "2026-01-10T12:30:00.000000+00:00"


# --- the API is one more source ------------------------------------------------------------------------------------


def test_an_older_api_update_sets_only_the_fields_no_later_update_set(tenant_a, key_client):
    ids = {"ext_brand_id": "shared-brand", "user_ext_id": "shared-player"}
    key_client.post(LIST, {**ids, "dt_update": at(20).isoformat(), "core_username": "new"}, format="json")

    response = key_client.post(
        LIST,
        {**ids, "dt_update": at(10).isoformat(), "core_username": "old", "user_country": "DE",
         "custom": {"vip": "gold"}},
        format="json",
    )  # fmt: skip

    assert response.status_code == 200
    body = response.json()
    assert (body["stale"], body["stale_fields"], body["changed_fields"]) == (
        False,
        ["core_username"],
        ["user_country", "custom"],
    )
    player = Player.objects.get(pk=tenant_a.player.pk)
    assert (player.core_username, player.user_country, player.custom, player.dt_update) == (
        "new",
        "DE",
        {"vip": "gold"},
        at(20),
    )


def test_an_api_update_without_dt_update_is_stamped_when_it_arrives_and_wins_over_older_rows(tenant_a, key_client):
    response = key_client.patch(
        "/api/v1/players/shared-brand/shared-player", {"core_username": "typed-by-support"}, format="json"
    )
    assert response.status_code == 200
    # A users view row changed before the request, read after it: its username is older, its country is not set.
    feed(tenant_a.label, [update({"core_username": "from-view", "user_country": "SE"}, minutes=0)])

    player = Player.objects.get(pk=tenant_a.player.pk)
    assert (player.core_username, player.user_country) == ("typed-by-support", "SE")
    assert player.dt_update > at(0)


def test_an_event_newer_than_an_api_update_wins_and_the_api_reports_what_it_kept(tenant_a):
    feed(tenant_a.label, [update({"core_username": "from-view"}, minutes=30)])

    result = player_upsert(
        brand=tenant_a.brand,
        user_ext_id="shared-player",
        data={"dt_update": at(25).isoformat(), "core_username": "from-api"},
    )

    assert (result.stale, result.stale_fields, result.changed_fields) == (True, ["core_username"], [])
    assert Player.objects.get(pk=tenant_a.player.pk).core_username == "from-view"
