"""Ordinary garbage in paths, query strings, headers, cursors and bodies: a 400 naming what is wrong, never a 500."""

from __future__ import annotations

import base64
import datetime as dt
from decimal import Decimal
from urllib.parse import quote

import pytest
from django.contrib import admin
from django.urls import URLPattern, URLResolver, reverse
from django.utils import timezone
from rest_framework import serializers

import backoffice.api.urls
from backoffice.api.serializers import StrictSerializer
from backoffice.models import ExchangeRate
from crm.models import Conversion, Player
from crm.services.bonuses import bonus_give
from crm.services.financial import order_upsert
from crm.services.segments import segment_save
from crm.services.tickets import Who, ticket_create
from gamification.models import (
    Badge,
    BadgeAward,
    Mission,
    MissionTask,
    PlayerMission,
    StorePurchase,
    Tournament,
    TournamentInstance,
    TournamentParticipant,
    Wallet,
    WalletEntry,
)
from tests.crm.affiliates.factories import click_on, funnel
from tests.crm.bonuses.conftest import template_make
from tests.crm.rules.helpers import rule_make
from tests.crm.usage_helpers import usage_world
from tests.gamification.store_helpers import fund, item_make

PLAYER = "/api/v1/players/shared-brand/shared-player"
NUL = ["Must not contain NUL characters."]
NOT_UTF8 = ["Must be UTF-8 text, percent-encoded."]
BIG = str(2**70)
ADMIN_400 = b"<h1>Bad Request (400)</h1>"


@pytest.fixture
def ids(tenant_a):
    """Rows of label A for every id in an API path."""
    label, now = tenant_a.label, timezone.now()
    mission = Mission.objects.create(label=label, name="M", status="active", requires_opt_in=True)
    MissionTask.objects.create(mission=mission, name="t", event_type="login", target=1)
    tournament = Tournament.objects.create(
        label=label, name="T", status="active", starts_at=now, duration=dt.timedelta(days=1), event_type="login",
        registration_type="opt_in",
    )  # fmt: skip
    instance = TournamentInstance.objects.create(
        label=label, tournament=tournament, status="registration", registration_opens_at=now,
        starts_at=now + dt.timedelta(hours=1), ends_at=now + dt.timedelta(days=1),
    )  # fmt: skip
    return {
        "ext_brand_id": "shared-brand",
        "user_ext_id": "shared-player",
        "mission_id": mission.pk,
        "badge_id": Badge.objects.create(label=label, name="B").pk,
        "instance_id": instance.pk,
        "item_id": item_make(label).pk,
        "rate_id": ExchangeRate.objects.create(
            label=label, currency="SEK", rate=Decimal("0.0875"), valid_from=dt.date(2026, 1, 1)
        ).pk,
        "bonus_id": bonus_give(
            player=tenant_a.player, template=template_make(label), source="api", key="garbage-ids"
        ).pk,
        "rule_id": rule_make(label).pk,
        "segment_id": segment_save(label=label, name="S").pk,
        "ticket_id": ticket_create(label_id=label.pk, data={"app_id": "a"}, who=Who("garbage")).ticket_id,
        "label_key": label.label_key,
        **_customer_success_ids(tenant_a),
    }


def _customer_success_ids(tenant) -> dict:
    """Label A's rows of issue 12's read API: affiliate tracking, customer accounts and usage users, orders."""
    label, now = tenant.label, timezone.now()
    affiliate, campaign, link = funnel(tenant)
    click = click_on(link)
    conversion = Conversion.objects.create(
        label_id=label.pk, click=click, campaign_id=campaign.pk, affiliate_id=affiliate.pk, type="install",
        occurred_at=now, received_at=now,
    )  # fmt: skip
    account, user = usage_world(tenant)
    order = order_upsert(
        label_id=label.pk, order_id="o-1", account_id=account.account_id, app_id="app-1", org_product_id="p-1",
        status="Activated", amount=Decimal("1200.00"), effective_date=dt.date(2026, 1, 1),
        end_date=dt.date(2026, 12, 31),
    )  # fmt: skip
    return {
        "affiliate_id": affiliate.pk,
        "campaign_id": campaign.pk,
        "link_id": link.pk,
        "click_id": click.pk,
        "conversion_id": conversion.pk,
        "account_id": account.account_id,
        "usage_user_id": user.pk,
        "order_pk": order.pk,
    }


def _routes(patterns, prefix=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _routes(entry.url_patterns, prefix)
        elif isinstance(entry, URLPattern):
            yield entry.name, list(entry.pattern.converters)


def api_urls(ids) -> list[str]:
    """Every route of the partner API, with label A's ids in its path."""
    routes = _routes(backoffice.api.urls.urlpatterns)
    return [reverse(f"api:{name}", kwargs={k: ids[k] for k in params}) for name, params in routes]


def _error(response) -> dict:
    assert response["Content-Type"] == "application/json", response.content
    return response.json()


# --- NUL characters and undecodable query strings --------------------------------------------------------------------
@pytest.mark.parametrize("param", ["email", "phone", "q", "user_ext_id", "label_key", "ext_brand_id", "marker"])
def test_nul_in_a_query_parameter_of_any_api_route_is_a_400_naming_it(tenant_a, ids, staff_client, param):
    client = staff_client(tenant_a.admin)
    urls = api_urls(ids)
    assert len(urls) >= 19  # every route is walked, including routes added later
    for url in urls:
        response = client.get(f"{url}?{param}=a%00b")
        assert response.status_code == 400, url
        assert _error(response) == {
            "code": "malformed_request",
            "message": f"Invalid value for: {param}.",
            "errors": {param: NUL},
        }, url


def test_nul_in_a_path_parameter_is_a_400_naming_the_path(tenant_a, ids, key_client):
    for segment in ("ext_brand_id", "user_ext_id"):
        for url in (u for u in api_urls(ids | {segment: "a\x00b"}) if "%00" in u):
            response = key_client.get(url)
            assert response.status_code == 400, url
            assert _error(response)["errors"] == {"path": NUL}, url


def test_non_utf8_in_a_query_parameter_is_a_400_naming_it(tenant_a, key_client):
    response = key_client.get("/api/v1/players?q=%ff%fe&email=a%40b.mt")
    assert response.status_code == 400
    assert _error(response)["errors"] == {"q": NOT_UTF8}


def test_a_nul_header_is_a_400_and_changes_nothing(tenant_a, key_client):
    body = {"currency": "points", "amount": 5}
    response = key_client.post(f"{PLAYER}/wallet/adjustments", body, format="json", HTTP_IDEMPOTENCY_KEY="k\x00")
    assert response.status_code == 400
    assert _error(response)["errors"] == {"Idempotency-Key": NUL}
    assert not WalletEntry.objects.exists()


def test_a_literal_percent_sign_is_searched_as_such(tenant_a, key_client):
    Player.objects.filter(pk=tenant_a.player.pk).update(core_username="%zz-fan")
    response = key_client.get("/api/v1/players?q=%zz")
    assert response.status_code == 200
    assert [p["user_ext_id"] for p in response.json()["results"]] == ["shared-player"]


def _admin_changelists(client) -> list[str]:
    urls = [reverse(f"admin:{m._meta.app_label}_{m._meta.model_name}_changelist") for m in admin.site._registry]
    return [url for url in urls if client.get(url).status_code == 200]


def test_nul_anywhere_in_an_admin_url_is_the_400_page(tenant_a, staff_client):
    client = staff_client(tenant_a.admin)
    changelists = _admin_changelists(client)
    assert "/admin/crm/player/" in changelists
    assert len(changelists) >= 10
    for url in changelists:
        for query in ("q=a%00b", "status=%00", "currency=%00", "label__id__exact=1%00"):
            response = client.get(f"{url}?{query}")
            assert (response.status_code, ADMIN_400 in response.content) == (400, True), f"{url}?{query}"
        assert client.get(f"{url}%00/change/").status_code == 400


# --- other garbage: each answer is the one a user expects, never a 500 ----------------------------------------------
@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("created_after=x", "created_after"),
        ("registered_before=2026-13-45", "registered_before"),
        ("updated_after=%27%3B--", "updated_after"),
        ("core_account_status=ZOMBIE", "core_account_status"),
        ("core_user_gender=" + BIG, "core_user_gender"),
    ],
)
def test_bad_filter_values_are_a_400_naming_the_filter(tenant_a, key_client, query, field):
    response = key_client.get(f"/api/v1/players?{query}")
    assert response.status_code == 400
    assert list(_error(response)["errors"]) == [field]


@pytest.mark.parametrize("value", ["x" * 20_000, BIG, "-1", "%zz", "' OR 1=1 --"])
def test_odd_but_valid_text_filters_find_nothing(tenant_a, key_client, value):
    for param in ("q", "email", "phone", "user_ext_id", "ext_brand_id", "marker", "label_key"):
        response = key_client.get(f"/api/v1/players?{param}={quote(value)}")
        assert (response.status_code, response.json()["results"]) == (200, []), param


def test_huge_or_wrong_numbers_in_tournament_queries_are_a_400_naming_them(tenant_a, ids, key_client):
    board = f"/api/v1/tournaments/{ids['instance_id']}/leaderboard"
    for value in (BIG, "abc", "-1"):
        response = key_client.get(f"{board}?limit={value}")
        assert response.status_code == 400
        assert list(_error(response)["errors"]) == ["limit"]
    assert list(_error(key_client.get("/api/v1/tournaments?status=" + BIG))["errors"]) == ["status"]


def test_ids_past_the_integer_range_name_no_row(tenant_a, ids, key_client):
    for name in ("mission_id", "badge_id", "instance_id"):
        for url in api_urls(ids | {name: 2**70}):
            if BIG in url:
                if url.endswith("/awards"):
                    response = key_client.post(url, {"idempotency_key": "k"}, format="json")
                elif url.endswith(("/opt-in", "/claim", "/registrations")):
                    response = key_client.post(url)
                else:
                    response = key_client.get(url)
                assert (response.status_code, _error(response)["code"]) == (404, "not_found"), url


@pytest.mark.parametrize(
    "query", ["brand__id__exact=abc", f"brand__id__exact={BIG}", f"label__id__exact={BIG}", "core_account_status=x"]
)
def test_bad_admin_filters_get_djangos_invalid_filter_handling(tenant_a, staff_client, query):
    """A filter value that cannot match answers the list (with no player of it), never a 500."""
    client = staff_client(tenant_a.admin)
    response = client.get(f"/admin/crm/player/?{query}")
    assert response.status_code == 200
    assert response.context["cl"].model._meta.model_name == "player"


@pytest.mark.parametrize(
    "query", ["q=" + "x" * 5000, "q=%zz", f"q={BIG}", "occurred_at_from=x", f"player_id={BIG}", "player_id=abc"]
)
def test_odd_admin_searches_and_filters_answer_the_list(tenant_a, staff_client, query):
    client = staff_client(tenant_a.admin)
    for url in ("/admin/crm/event/", "/admin/crm/player/", "/admin/gamification/walletentry/"):
        response = client.get(f"{url}?{query}", follow=True)
        assert response.status_code == 200, url


def test_admin_change_urls_with_garbage_ids_are_not_found(tenant_a, staff_client):
    client = staff_client(tenant_a.admin)
    for garbage in ("abc", BIG, "-1", quote("x" * 3000)):
        assert client.get(f"/admin/crm/player/{garbage}/change/").status_code == 404, garbage


def test_too_many_query_parameters_are_a_400_in_the_error_shape(tenant_a, key_client):
    response = key_client.get("/api/v1/players?" + "&".join(f"user_ext_id={n}" for n in range(1001)))
    assert response.status_code == 400
    assert _error(response)["code"] == "malformed_request"


# --- cursors ---------------------------------------------------------------------------------------------------------
def _cursor(raw: str) -> str:
    return quote(base64.b64encode(raw.encode()).decode())


@pytest.mark.parametrize(
    "cursor",
    [
        "not-base64!",
        quote("é"),
        _cursor("p=abc"),
        _cursor(f"p={BIG}"),
        _cursor("p=1.5"),
        _cursor("p=1%00"),
        _cursor("o=-1&p=5"),
        _cursor("r=x&p=5"),
    ],
)
def test_a_crafted_cursor_is_a_400_naming_it(tenant_a, key_client, cursor):
    for url in ("/api/v1/players", f"{PLAYER}/wallet/entries"):
        response = key_client.get(f"{url}?cursor={cursor}")
        assert response.status_code == 400, url
        assert _error(response) == {
            "code": "invalid",
            "message": "Invalid value for: cursor.",
            "errors": {"cursor": ["Invalid cursor."]},
        }


def test_a_well_formed_cursor_still_pages(tenant_a, key_client):
    response = key_client.get(f"/api/v1/players?cursor={_cursor(f'p={tenant_a.player.pk + 1}')}")
    assert response.status_code == 200
    assert [p["user_ext_id"] for p in response.json()["results"]] == ["shared-player"]


# --- unknown body fields ---------------------------------------------------------------------------------------------
def _state() -> dict:
    """Everything a write endpoint could change."""
    return {
        "players": list(Player.objects.values_list("user_ext_id", "core_username", "markers").order_by("pk")),
        "wallets": list(Wallet.objects.values_list("points", "gems", "diamonds").order_by("pk")),
        "entries": WalletEntry.objects.count(),
        "purchases": StorePurchase.objects.count(),
        "awards": BadgeAward.objects.count(),
        "runs": PlayerMission.objects.count(),
        "participants": TournamentParticipant.objects.count(),
    }


@pytest.mark.parametrize(
    ("method", "path", "body", "unknown"),
    [
        ("post", "/api/v1/players", {"ext_brand_id": "shared-brand", "user_ext_id": "new", "nickname": "x"},
         "nickname"),
        ("patch", PLAYER, {"core_username": "changed", "usrname": "x"}, "usrname"),
        ("post", f"{PLAYER}/wallet/adjustments", {"currency": "points", "amount": 5, "idempotency_key": "k",
                                                   "reasn": "x"}, "reasn"),
        ("post", f"{PLAYER}/store/purchases", {"item_id": "{item_id}", "idempotency_key": "k", "quantity": 2},
         "quantity"),
        ("post", f"{PLAYER}/badges/{{badge_id}}/awards", {"idempotency_key": "k", "stag": 1}, "stag"),
        ("post", f"{PLAYER}/missions/{{mission_id}}/opt-in", {"force": True}, "force"),
        ("post", f"{PLAYER}/missions/{{mission_id}}/claim", {"run": 1}, "run"),
        ("post", f"{PLAYER}/tournaments/{{instance_id}}/registrations", {"pay": "points"}, "pay"),
    ],
)  # fmt: skip
def test_an_unknown_body_field_is_refused_by_name_and_changes_nothing(tenant_a, ids, key_client, method, path, body,
                                                                       unknown):  # fmt: skip
    fund(tenant_a.player, 100)
    body = {k: ids["item_id"] if v == "{item_id}" else v for k, v in body.items()}
    before = _state()
    response = getattr(key_client, method)(path.format(**ids), body, format="json")
    assert response.status_code == 400, response.content
    assert unknown in _error(response)["errors"]
    assert _state() == before


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [("missions/{mission_id}/opt-in", None, 200), ("missions/{mission_id}/opt-in", {}, 200),
     ("tournaments/{instance_id}/registrations", None, 201)],
)  # fmt: skip
def test_actions_without_input_still_take_an_empty_body(tenant_a, ids, key_client, path, body, status):
    url = f"{PLAYER}/{path.format(**ids)}"
    response = key_client.post(url, body, format="json") if body is not None else key_client.post(url)
    assert response.status_code == status, response.content


def test_an_action_without_input_refuses_a_body_that_is_not_an_object(tenant_a, ids, key_client):
    response = key_client.post(f"{PLAYER}/missions/{ids['mission_id']}/opt-in", [1], format="json")
    assert response.status_code == 400
    assert list(_error(response)["errors"]) == ["non_field_errors"]
    assert not PlayerMission.objects.exists()


def test_an_unknown_field_is_named_beside_the_other_errors():
    class Item(StrictSerializer):
        sku = serializers.CharField()

    class Order(StrictSerializer):
        item = Item()
        note = serializers.CharField(required=False)

    order = Order(data={"item": {"sku": "a", "colour": "red"}, "nte": "x"})
    assert not order.is_valid()
    assert order.errors == {"item": {"colour": ["Unknown field."]}, "nte": ["Unknown field."]}
    order = Order(data={"item": {}, "nte": "x"})
    assert not order.is_valid()
    assert order.errors == {"item": {"sku": ["This field is required."]}, "nte": ["Unknown field."]}
