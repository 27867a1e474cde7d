"""The player API: isolation between labels, create-or-update of changed fields, and bad input that changes nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from rest_framework.test import APIClient

from backoffice.models import Role
from crm.models import Player
from tests.factories import PlayerFactory

pytestmark = pytest.mark.django_db

LIST = "/api/v1/players"


def detail(ext_brand_id: str = "shared-brand", user_ext_id: str = "shared-player") -> str:
    return f"/api/v1/players/{ext_brand_id}/{user_ext_id}"


def _snapshot() -> list[tuple]:
    return list(Player.objects.order_by("id").values_list())


# --- isolation: staff of A, staff of B, an outsider, and the keys of A and B --------------------------------


def test_each_key_lists_only_its_own_labels_players(tenant_a, tenant_b):
    for tenant, other in ((tenant_a, tenant_b), (tenant_b, tenant_a)):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {tenant.raw_key}")
        body = client.get(LIST).json()
        assert [p["label_key"] for p in body["results"]] == [tenant.label.label_key]
        # Both labels use the same external ids: the detail must be this label's player, never the other's.
        player = client.get(detail()).json()
        assert player["label_key"] == tenant.label.label_key
        assert player["core_username"] == tenant.player.core_username != other.player.core_username


def test_another_labels_ids_answer_404(tenant_a, tenant_b, key_client):
    PlayerFactory(brand=tenant_b.brand, label=tenant_b.label, user_ext_id="only-in-b")
    response = key_client.get(detail(user_ext_id="only-in-b"))
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "message": "No such player.", "errors": {}}
    assert key_client.patch(detail(user_ext_id="only-in-b"), {"core_username": "x"}, format="json").status_code == 404


def test_a_key_cannot_write_into_another_labels_brand(tenant_a, tenant_b, key_client):
    tenant_b.brand.ext_brand_id = "b-only-brand"
    tenant_b.brand.save()
    before = _snapshot()
    response = key_client.post(LIST, {"ext_brand_id": "b-only-brand", "user_ext_id": "new"}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"ext_brand_id": ["Unknown brand 'b-only-brand'."]}
    assert _snapshot() == before


def test_staff_sessions_see_their_label_and_outsiders_nothing(tenant_a, tenant_b, outsider):
    client = APIClient()
    client.force_login(tenant_a.admin)
    assert [p["label_key"] for p in client.get(LIST).json()["results"]] == [tenant_a.label.label_key]
    assert client.get(detail()).json()["label_key"] == tenant_a.label.label_key

    client.force_login(tenant_b.admin)
    assert client.get(detail()).json()["label_key"] == tenant_b.label.label_key

    client.force_login(outsider)
    assert client.get(LIST).status_code == 403
    assert client.get(detail()).status_code == 403
    assert client.post(LIST, {"ext_brand_id": "shared-brand", "user_ext_id": "z"}, format="json").status_code == 403


def test_staff_in_two_labels_must_name_the_label_when_brand_ids_collide(tenant_a, tenant_b, staff_with_role):
    user = staff_with_role(tenant_a.label, Role.ADMIN)
    user.label_roles.create(label=tenant_b.label, role=Role.ADMIN)
    client = APIClient()
    client.force_login(user)
    response = client.get(detail())
    assert response.status_code == 400
    assert "label_key" in response.json()["errors"]
    response = client.get(detail(), {"label_key": tenant_b.label.label_key})
    assert response.json()["label_key"] == tenant_b.label.label_key
    assert len(client.get(LIST).json()["results"]) == 2
    assert len(client.get(LIST, {"label_key": tenant_a.label.label_key}).json()["results"]) == 1


def test_support_staff_may_read_but_not_write_profiles(tenant_a, staff_with_role):
    client = APIClient(enforce_csrf_checks=False)
    client.force_login(staff_with_role(tenant_a.label, Role.SUPPORT))
    assert client.get(detail()).status_code == 200
    response = client.patch(detail(), {"core_username": "hacked"}, format="json")
    assert response.status_code == 403
    assert Player.objects.get(pk=tenant_a.player.pk).core_username == tenant_a.player.core_username


def test_staff_writes_need_the_csrf_token(tenant_a):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(tenant_a.admin)
    response = client.patch(detail(), {"core_username": "x"}, format="json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["message"]


# --- create or update ----------------------------------------------------------------------------------------


FULL_PROFILE = {
    "core_account_status": "active",
    "core_registration_date": "2024-03-01T10:00:00.123Z",
    "core_user_language": "en",
    "core_wallet_currency": "eur",
    "core_username": "lucky7",
    "user_birthdate": "1990-05-17",
    "user_country": "mt",
    "user_email": " Lucky@Example.COM ",
    "user_first_name": "Lucky",
    "user_last_name": "Seven",
    "user_phone": "+356 9912-3456",
    "core_affiliate_id": 4322,
    "core_affiliate_str": "john24",
    "core_is_email_disabled_by_platform": False,
    "core_is_sms_disabled_by_platform": True,
    "core_user_gender": "F",
    "core_kyc_status": "VERIFIED",
    "custom": {"vip_tier": "gold", "favourite_game_id": 42},
    "markers": ["vip", "high_roller", "vip"],
}


def test_create_with_the_full_profile_normalizes_every_field(tenant_a, key_client):
    response = key_client.post(
        LIST, {"ext_brand_id": "shared-brand", "user_ext_id": 1001, **FULL_PROFILE}, format="json"
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["created"] is True
    player = body["player"]
    assert player["user_ext_id"] == "1001"
    assert player["core_account_status"] == "ACTIVE"
    assert player["core_registration_date"] == "2024-03-01T10:00:00.123000Z"
    assert (player["core_user_language"], player["core_wallet_currency"], player["user_country"]) == ("EN", "EUR", "MT")
    assert player["user_birthdate"].startswith("1990-05-17T00:00:00")
    assert player["user_email"] == "lucky@example.com"
    assert player["user_phone"] == "+35699123456"
    assert player["markers"] == ["high_roller", "vip"]
    assert player["custom"] == {"vip_tier": "gold", "favourite_game_id": 42}
    assert key_client.get(LIST, {"email": "LUCKY@example.com"}).json()["results"][0]["user_ext_id"] == "1001"
    assert key_client.get(LIST, {"phone": "+35699123456"}).json()["results"][0]["user_ext_id"] == "1001"


def test_update_applies_only_changed_fields(tenant_a, key_client):
    key_client.post(LIST, {"ext_brand_id": "shared-brand", "user_ext_id": "u", **FULL_PROFILE}, format="json")
    response = key_client.post(
        LIST,
        {"ext_brand_id": "shared-brand", "user_ext_id": "u", "core_username": "lucky7", "user_country": "DE"},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["changed_fields"] == ["user_country"]
    player = Player.objects.get(user_ext_id="u")
    assert player.user_country == "DE"
    assert player.user_email == "lucky@example.com"  # absent fields are left alone

    again = key_client.patch(detail(user_ext_id="u"), {"user_country": "DE"}, format="json")
    assert again.status_code == 200
    assert again.json()["changed_fields"] == []


def test_an_update_older_than_the_stored_profile_is_ignored(tenant_a, key_client):
    newer = {"ext_brand_id": "shared-brand", "user_ext_id": "u", "dt_update": "2025-01-02T00:00:00Z"}
    key_client.post(LIST, {**newer, "core_username": "new"}, format="json")
    older = key_client.post(LIST, {**newer, "dt_update": "2025-01-01T00:00:00Z", "core_username": "old"}, format="json")
    assert older.status_code == 200
    assert older.json()["stale"] is True
    assert Player.objects.get(user_ext_id="u").core_username == "new"


def test_null_clears_an_optional_field(tenant_a, key_client):
    key_client.post(LIST, {"ext_brand_id": "shared-brand", "user_ext_id": "u", **FULL_PROFILE}, format="json")
    response = key_client.patch(detail(user_ext_id="u"), {"user_email": None, "core_affiliate_id": None}, format="json")
    assert sorted(response.json()["changed_fields"]) == ["core_affiliate_id", "user_email"]
    player = Player.objects.get(user_ext_id="u")
    assert (player.user_email, player.user_email_digest, player.core_affiliate_id) == (None, None, None)


# --- bad input: a 4xx naming the field, nothing changed --------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"core_account_status": "ZOMBIE"}, "core_account_status"),
        ({"core_user_gender": "X"}, "core_user_gender"),
        ({"core_user_language": "english"}, "core_user_language"),
        ({"core_user_language": "XX"}, "core_user_language"),
        ({"user_country": "UK"}, "user_country"),
        ({"core_wallet_currency": "EURO"}, "core_wallet_currency"),
        ({"core_registration_date": "yesterday"}, "core_registration_date"),
        ({"core_registration_date": "2024-13-45T00:00:00Z"}, "core_registration_date"),
        (
            {"core_registration_date": (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()},
            "core_registration_date",
        ),
        ({"user_birthdate": "2999-01-01"}, "user_birthdate"),
        ({"user_birthdate": True}, "user_birthdate"),
        ({"dt_update": [1, 2]}, "dt_update"),
        ({"user_email": "not-an-email"}, "user_email"),
        ({"user_phone": "call me"}, "user_phone"),
        ({"core_affiliate_id": "abc"}, "core_affiliate_id"),
        ({"core_affiliate_id": -1}, "core_affiliate_id"),
        ({"core_affiliate_id": 1.5}, "core_affiliate_id"),
        ({"core_is_sms_disabled_by_platform": "maybe"}, "core_is_sms_disabled_by_platform"),
        ({"core_username": "x" * 256}, "core_username"),
        ({"core_username": {"nested": 1}}, "core_username"),
        ({"core_username": "nul\x00byte"}, "core_username"),
        ({"custom": ["not", "a", "dict"]}, "custom"),
        ({"custom": {"bad key!": 1}}, "custom"),
        ({"custom": {"deep": {"nested": 1}}}, "custom"),
        ({"markers": "vip"}, "markers"),
        ({"markers": ["ok", 5]}, "markers"),
        ({"no_such_field": 1}, "no_such_field"),
    ],
)
def test_invalid_values_are_refused_with_the_field_named_and_nothing_changes(tenant_a, key_client, payload, field):
    before = _snapshot()
    for response in (
        key_client.post(LIST, {"ext_brand_id": "shared-brand", "user_ext_id": "new", **payload}, format="json"),
        key_client.patch(detail(), payload, format="json"),
    ):
        assert response.status_code == 400, response.json()
        body = response.json()
        assert body["code"] == "invalid"
        assert list(body["errors"]) == [field]
        assert field in body["message"]
    assert _snapshot() == before


def test_wallet_currency_cannot_change_once_set(tenant_a, key_client):
    before = _snapshot()
    response = key_client.patch(detail(), {"core_wallet_currency": "USD", "core_username": "changed"}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"core_wallet_currency": ["Cannot change once set."]}
    assert _snapshot() == before
    assert key_client.patch(detail(), {"core_wallet_currency": "eur"}, format="json").status_code == 200


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"{not json", "application/json", 400),
        (b"[1, 2, 3]", "application/json", 400),
        (b'"a string"', "application/json", 400),
        (b"\xff\xfe\xfa invalid utf-8", "application/json", 400),
        (
            b'{"ext_brand_id": "shared-brand", "user_ext_id": "u", "core_affiliate_id": Infinity}',
            "application/json",
            400,
        ),
        (b'{"ext_brand_id": "shared-brand", "user_ext_id": "u", "core_affiliate_id": NaN}', "application/json", 400),
        (b"user_ext_id=1", "application/x-www-form-urlencoded", 415),
        (b'{"user_ext_id": "u"}', "application/json", 400),
        (b'{"ext_brand_id": "shared-brand", "user_ext_id": {"a": 1}}', "application/json", 400),
        (b'{"ext_brand_id": "shared-brand", "user_ext_id": "' + b"x" * 200 + b'"}', "application/json", 400),
        (b'{"ext_brand_id": "no-such-brand", "user_ext_id": "u"}', "application/json", 400),
    ],
)
def test_garbage_bodies_get_a_clear_4xx_and_change_nothing(tenant_a, key_client, body, content_type, status):
    before = _snapshot()
    response = key_client.generic("POST", LIST, body, content_type=content_type)
    assert response.status_code == status
    assert set(response.json()) == {"code", "message", "errors"}
    assert _snapshot() == before


def test_a_huge_body_is_refused(tenant_a, key_client):
    payload = {"ext_brand_id": "shared-brand", "user_ext_id": "u", "custom": {f"k{i}": "v" * 900 for i in range(300)}}
    response = key_client.post(LIST, payload, format="json")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["custom"]


# --- filters and query counts ----------------------------------------------------------------------------------


def test_filters_combine(tenant_a, key_client):
    brand = tenant_a.brand
    PlayerFactory(brand=brand, label=tenant_a.label, user_ext_id="de1", user_country="DE", markers=["vip", "x"])
    PlayerFactory(brand=brand, label=tenant_a.label, user_ext_id="de2", user_country="DE", markers=["vip"])
    PlayerFactory(
        brand=brand, label=tenant_a.label, user_ext_id="fr1", user_country="FR", core_account_status="BLOCKED"
    )

    def ids(**params):
        response = key_client.get(LIST, params)
        assert response.status_code == 200, response.json()
        return sorted(p["user_ext_id"] for p in response.json()["results"])

    assert ids(user_country=["de", "FR"]) == ["de1", "de2", "fr1"]
    assert ids(marker=["vip", "x"]) == ["de1"]
    assert ids(marker="vip", user_country="DE") == ["de1", "de2"]
    assert ids(core_account_status="BLOCKED") == ["fr1"]
    assert ids(user_ext_id=["de1", "fr1", "nope"]) == ["de1", "fr1"]
    assert ids(q="de2") == ["de2"]
    response = key_client.get(LIST, {"core_account_status": "ZOMBIE"})
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["core_account_status"]
    assert key_client.get(LIST, {"registered_after": "not-a-date"}).status_code == 400


@pytest.mark.parametrize(
    "value",
    [
        "9999-12-31T23:59:59-01:00",  # past year 9999 in UTC
        "0001-01-01T00:00:00+01:00",  # before year 1 in UTC
    ],
)
@pytest.mark.parametrize("name", ["created_after", "registered_before", "updated_after"])
def test_time_filters_without_a_utc_value_are_a_400_naming_the_filter(key_client, name, value):
    response = key_client.get(LIST, {name: value})
    assert response.status_code == 400
    assert list(response.json()["errors"]) == [name]


def test_time_filters_compare_in_utc_whatever_the_offset(tenant_a, key_client):
    """PostgreSQL refuses offsets past 15:59 (a DataError, a 500, before): they are compared in UTC like any other."""
    at = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
    PlayerFactory(brand=tenant_a.brand, label=tenant_a.label, user_ext_id="noon", core_registration_date=at)
    found = key_client.get(LIST, {"registered_after": "2026-02-28T19:25:00-16:35"}).json()["results"]
    missed = key_client.get(LIST, {"registered_after": "2026-02-28T19:25:01-16:35"}).json()["results"]
    assert ([p["user_ext_id"] for p in found], missed) == (["noon"], [])


def test_list_is_paginated_by_cursor(tenant_a, key_client):
    for i in range(5):
        PlayerFactory(brand=tenant_a.brand, label=tenant_a.label, user_ext_id=f"p{i}")
    first = key_client.get(LIST, {"limit": 4}).json()
    assert len(first["results"]) == 4
    second = key_client.get(first["next"]).json()
    seen = [p["user_ext_id"] for p in first["results"] + second["results"]]
    assert len(seen) == len(set(seen)) == 6


def test_player_list_query_count_does_not_grow_with_rows(tenant_a, key_client, django_assert_num_queries):
    for i in range(30):
        PlayerFactory(brand=tenant_a.brand, label=tenant_a.label, user_ext_id=f"many{i}")
    key_client.get(LIST)  # the first use of a key also records last_used_at
    # key lookup, then one label-scoped page with brand and label joined
    with django_assert_num_queries(2):
        response = key_client.get(LIST)
    assert len(response.json()["results"]) == 31
