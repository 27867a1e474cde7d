"""The smart pixel `/convert/{click_id}` exactly as reference/intelitics-smart-pixels.txt: types, parameters, 202 with
an empty body, 422 naming the error, test mode, `time`; dedupe; attribution to players."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from crm.models import Conversion, Player
from crm.services.affiliates import conversions_link_players
from tests.crm.affiliates.factories import click_on, funnel
from tests.factories import PlayerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def click(tenant_a):
    _, _, link = funnel(tenant_a)
    return click_on(link)


@pytest.fixture
def pixel():
    return Client()


def fire(pixel, click_id, method="get", slash=False, **params):
    return getattr(pixel, method)(f"/convert/{click_id}{'/' if slash else ''}", params)


def test_the_reference_example_answers_202_with_an_empty_body_and_stores_the_deposit(pixel, click, tenant_a):
    url = f"/convert/{click.id}?type=deposit&currency=usd&amount=40&player_id=1874552&transaction_id=123456789"
    response = pixel.get(url, HTTP_USER_AGENT="Mozilla/5.0 test", HTTP_REFERER="https://casino.example/cashier")

    assert response.status_code == 202
    assert response.content == b""
    assert response["Cache-Control"] == "no-store"
    conversion = Conversion.objects.get()
    assert (conversion.label_id, conversion.click_id, conversion.type) == (tenant_a.label.pk, click.id, "deposit")
    assert (conversion.currency, conversion.amount) == ("USD", Decimal("40.00"))
    assert (conversion.player_ext_id, conversion.transaction_id) == ("1874552", "123456789")
    assert (conversion.ip, conversion.user_agent) == ("127.0.0.1", "Mozilla/5.0 test")
    assert conversion.referrer == "https://casino.example/cashier"
    assert (conversion.campaign_id, conversion.affiliate_id) == (click.campaign_id, click.affiliate_id)


@pytest.mark.parametrize("kind", ["install", "registration", "deposit", "INSTALL"])
def test_each_type_is_accepted_with_or_without_a_trailing_slash(pixel, click, kind):
    assert fire(pixel, click.id, slash=kind == "registration", type=kind).status_code == 202
    assert list(Conversion.objects.values_list("type", flat=True)) == [kind.lower()]


def test_post_is_accepted_like_get(pixel, click):
    response = pixel.post(f"/convert/{click.id}?type=registration", {"player_id": "p-1"})
    assert response.status_code == 202
    assert list(Conversion.objects.values_list("type", "player_ext_id")) == [("registration", "p-1")]


def test_other_methods_answer_405_and_store_nothing(pixel, click):
    response = pixel.put(f"/convert/{click.id}?type=install")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
    assert response["Allow"] == "GET, POST"
    assert not Conversion.objects.exists()


def test_the_cors_preflight_is_open(pixel, click):
    response = pixel.options(
        f"/convert/{click.id}", HTTP_ORIGIN="https://casino.example", HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET"
    )
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "*"


def test_test_mode_processes_the_call_without_storing(pixel, click):
    assert fire(pixel, click.id, type="deposit", currency="eur", amount="10", test="true").status_code == 202
    assert not Conversion.objects.exists()
    assert fire(pixel, uuid.uuid4(), type="install", test="true").status_code == 404
    invalid = fire(pixel, click.id, type="deposit", currency="xxx", test="true")
    assert (invalid.status_code, invalid.json()["code"]) == (422, "invalid_currency")


def test_invalid_type_is_422_naming_type(pixel, click):
    response = fire(pixel, click.id, type="purchase")
    assert response.status_code == 422
    assert response.json() == {
        "code": "invalid_type",
        "message": "Invalid type: must be one of install, registration, deposit, not 'purchase'.",
        "errors": {"type": ["Must be one of install, registration, deposit, not 'purchase'."]},
    }
    assert not Conversion.objects.exists()


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("forty", "Must be a number (e.g. 40 or 40.50), not 'forty'."),
        ("-5", "Must not be negative."),
        ("NaN", "Must be a finite number."),
        ("Infinity", "Must be a finite number."),
        ("1e400", "Must be at most 999999999999.99."),
        ("10.005", "At most 2 decimals."),
    ],
)
def test_invalid_amount_is_422_naming_amount(pixel, click, amount, message):
    response = fire(pixel, click.id, type="deposit", currency="eur", amount=amount)
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_amount"
    assert response.json()["errors"] == {"amount": [message]}
    assert not Conversion.objects.exists()


def test_invalid_currency_is_422_naming_currency(pixel, click):
    response = fire(pixel, click.id, type="deposit", currency="sek", amount="10")
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_currency"
    assert response.json()["errors"] == {"currency": ["Must be one of eur, usd, gbp, not 'sek'."]}


def test_currency_is_case_insensitive_and_required_with_an_amount(pixel, click):
    assert fire(pixel, click.id, type="deposit", currency="GBP", amount="12.5").status_code == 202
    assert Conversion.objects.get().currency == "GBP"
    response = fire(pixel, click.id, type="deposit", amount="12.5", transaction_id="t2")
    assert response.json()["errors"] == {"currency": ["Required with amount: eur, usd or gbp."]}


def test_amount_and_currency_are_for_deposits_only(pixel, click):
    response = fire(pixel, click.id, type="registration", amount="10", currency="eur")
    assert response.status_code == 422
    assert response.json()["errors"] == {
        "currency": ["Only for deposit conversions (type=deposit)."],
        "amount": ["Only for deposit conversions (type=deposit)."],
    }
    # Empty macros of a templated URL are absent, not errors.
    assert fire(pixel, click.id, type="registration", amount="", currency="").status_code == 202


def test_required_parameters(pixel, click):
    missing = fire(pixel, click.id)
    assert (missing.status_code, missing.json()["errors"]) == (
        422,
        {"type": ["Required: one of install, registration, deposit."]},
    )
    not_uuid = fire(pixel, "12345", type="install")
    assert not_uuid.json() == {
        "code": "invalid_click_id",
        "message": "Invalid click_id: must be a UUID, not '12345'.",
        "errors": {"click_id": ["Must be a UUID, not '12345'."]},
    }
    empty = Client().get("/convert/?type=install")
    assert (empty.status_code, empty.json()["code"]) == (422, "invalid_click_id")


def test_an_unknown_click_is_404_naming_click_id(pixel, db):
    response = fire(pixel, uuid.uuid4(), type="install")
    assert response.status_code == 404
    assert response.json() == {
        "code": "not_found",
        "message": "No click with this id.",
        "errors": {"click_id": ["Unknown."]},
    }


def test_time_sets_when_the_conversion_occurred(pixel, click):
    assert fire(pixel, click.id, type="registration", time="2024-05-01T12:30:00+02:00").status_code == 202
    assert Conversion.objects.get().occurred_at == dt.datetime(2024, 5, 1, 10, 30, tzinfo=dt.UTC)
    # An unescaped '+' arrives as a space; a time without offset is UTC.
    pixel.get(f"/convert/{click.id}?type=install&time=2024-05-01T12:30:00 02:00")
    assert Conversion.objects.get(type="install").occurred_at == dt.datetime(2024, 5, 1, 10, 30, tzinfo=dt.UTC)
    fire(pixel, click.id, type="deposit", time="2024-05-02T08:00:00")
    assert Conversion.objects.get(type="deposit").occurred_at == dt.datetime(2024, 5, 2, 8, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize("value", ["yesterday", "2024-13-01T00:00:00Z", "2024-05-01T25:00:00Z"])
def test_a_malformed_time_is_422(pixel, click, value):
    response = fire(pixel, click.id, type="install", time=value)
    assert (response.status_code, response.json()["code"]) == (422, "invalid_time")


def test_a_future_time_is_422(pixel, click):
    future = (timezone.now() + dt.timedelta(hours=1)).isoformat()
    response = fire(pixel, click.id, type="install", time=future)
    assert response.json()["errors"] == {"time": ["Must not be in the future: the time the conversion occurred."]}


def test_without_time_the_conversion_occurs_when_received(pixel, click):
    fire(pixel, click.id, type="install")
    conversion = Conversion.objects.get()
    assert conversion.occurred_at == conversion.received_at


def test_a_parameter_given_twice_is_422_and_unknown_parameters_are_ignored(pixel, click):
    response = pixel.get(f"/convert/{click.id}?type=install&type=deposit")
    assert response.json()["errors"] == {"type": ["Given more than once."]}
    assert pixel.get(f"/convert/{click.id}?type=install&_=1717000000&sub1=x").status_code == 202


def test_a_parameter_in_both_the_query_and_the_body_is_given_twice(pixel, click):
    response = pixel.post(f"/convert/{click.id}?type=install", {"type": "deposit", "currency": "eur"})
    assert response.status_code == 422
    assert response.json()["errors"] == {"type": ["Given more than once."]}
    assert not Conversion.objects.exists()


def test_more_parameters_than_django_takes_is_400_and_stores_nothing(pixel, click, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 3
    assert pixel.get(f"/convert/{click.id}?type=install&a=1&b=2&c=3").status_code == 400
    assert not Conversion.objects.exists()
    assert pixel.get(f"/convert/{click.id}?type=install&a=1&b=2").status_code == 202
    assert Conversion.objects.count() == 1


def test_non_ascii_values_are_read_as_utf_8(pixel, click):
    """Percent-encoded (as browsers send) and raw (as some servers do): the same transaction id either way."""
    encoded = pixel.get(f"/convert/{click.id}?type=deposit&currency=eur&amount=1&transaction_id=d%C3%A9p%C3%B4t-1")
    assert encoded.status_code == 202
    raw = "type=deposit&currency=eur&amount=1&transaction_id=dépôt-1".encode().decode("iso-8859-1")
    assert pixel.get(f"/convert/{click.id}", QUERY_STRING=raw).status_code == 202
    assert list(Conversion.objects.values_list("transaction_id", flat=True)) == ["dépôt-1"]


# --- dedupe --------------------------------------------------------------------------------------------------------


def test_an_install_and_a_registration_count_once_per_click_the_first_wins(pixel, click):
    for player in ("p-1", "p-2"):
        assert fire(pixel, click.id, type="registration", player_id=player).status_code == 202
    fire(pixel, click.id, type="install")
    fire(pixel, click.id, type="install")
    assert sorted(Conversion.objects.values_list("type", "player_ext_id")) == [("install", ""), ("registration", "p-1")]


def test_deposits_are_deduplicated_by_transaction_id_across_clicks(pixel, click, tenant_a):
    other = click_on(click.link)
    fire(pixel, click.id, type="deposit", currency="eur", amount="10", transaction_id="tx-1")
    fire(pixel, click.id, type="deposit", currency="eur", amount="10", transaction_id="tx-1")
    fire(pixel, other.id, type="deposit", currency="eur", amount="10", transaction_id="tx-1")
    fire(pixel, click.id, type="deposit", currency="eur", amount="10", transaction_id="tx-2")
    assert sorted(Conversion.objects.values_list("click_id", "transaction_id")) == sorted(
        [(click.id, "tx-1"), (click.id, "tx-2")]
    )


def test_deposits_without_transaction_id_are_deduplicated_by_their_values(pixel, click):
    for amount in ("10", "10", "25"):
        fire(pixel, click.id, type="deposit", currency="eur", amount=amount, player_id="p-1")
    assert sorted(Conversion.objects.values_list("amount", flat=True)) == [Decimal("10.00"), Decimal("25.00")]


def test_a_deposit_before_any_registration_is_recorded(pixel, click):
    assert fire(pixel, click.id, type="deposit", currency="eur", amount="50").status_code == 202
    assert list(Conversion.objects.values_list("type", flat=True)) == ["deposit"]


# --- attribution ---------------------------------------------------------------------------------------------------


def test_a_registration_links_the_player_of_the_campaigns_brand_and_attributes_it(pixel, click, tenant_a, tenant_b):
    # Label B has a player with the same ids: only label A's (the campaign's brand) is touched.
    fire(pixel, click.id, type="registration", player_id="shared-player")
    assert Conversion.objects.get().player_id == tenant_a.player.pk
    tenant_a.player.refresh_from_db()
    tenant_b.player.refresh_from_db()
    assert (tenant_a.player.core_affiliate_id, tenant_a.player.core_affiliate_str) == (1042, "")
    assert (tenant_b.player.core_affiliate_id, tenant_b.player.core_affiliate_str) == (None, "")


def test_a_text_code_goes_to_core_affiliate_str(pixel, tenant_a):
    _, _, link = funnel(tenant_a, code="partner-network-x")
    click = click_on(link)
    fire(pixel, click.id, type="deposit", player_id="shared-player")
    tenant_a.player.refresh_from_db()
    assert (tenant_a.player.core_affiliate_id, tenant_a.player.core_affiliate_str) == (None, "partner-network-x")


def test_the_operators_own_affiliate_is_never_overwritten(pixel, click, tenant_a):
    Player.objects.filter(pk=tenant_a.player.pk).update(core_affiliate_str="operator-set")
    fire(pixel, click.id, type="registration", player_id="shared-player")
    tenant_a.player.refresh_from_db()
    assert (tenant_a.player.core_affiliate_id, tenant_a.player.core_affiliate_str) == (None, "operator-set")
    assert Conversion.objects.get().player_id == tenant_a.player.pk


def test_an_install_and_a_test_call_attribute_nobody(pixel, click, tenant_a):
    fire(pixel, click.id, type="install", player_id="shared-player")
    fire(pixel, click.id, type="registration", player_id="shared-player", test="true")
    tenant_a.player.refresh_from_db()
    assert tenant_a.player.core_affiliate_id is None


def test_a_player_unknown_at_the_pixel_is_linked_and_attributed_when_it_arrives(pixel, click, tenant_a):
    fire(pixel, click.id, type="registration", player_id="late-player")
    assert Conversion.objects.get().player_id is None
    late = PlayerFactory(brand=tenant_a.brand, label=tenant_a.label, user_ext_id="late-player")

    assert conversions_link_players(label_id=tenant_a.label.pk) == (1, 1)
    assert Conversion.objects.get().player_id == late.pk
    late.refresh_from_db()
    assert late.core_affiliate_id == 1042
    assert conversions_link_players() == (0, 0)


def test_the_beat_task_links_late_players(pixel, click, tenant_a):
    from crm.tasks_affiliates import affiliate_conversions_link

    fire(pixel, click.id, type="deposit", player_id="later", currency="eur", amount="5")
    PlayerFactory(brand=tenant_a.brand, label=tenant_a.label, user_ext_id="later")
    assert affiliate_conversions_link.apply().get() == 1
    assert Conversion.objects.get().player.user_ext_id == "later"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("durable", [True, False])
def test_the_commit_mode_applies_to_the_pixels_statement_only(pixel, tenant_a, settings, durable):
    """In autocommit (as served), the setting set by the pixel's statement ends with it: the connection, which other
    requests share through the pool, stays durable."""
    from django.db import connection

    settings.PITBOSS_PIXEL_SYNCHRONOUS_COMMIT = durable
    click = click_on(funnel(tenant_a)[2])
    assert fire(pixel, click.id, type="install").status_code == 202
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"
    assert Conversion.objects.filter(click=click).count() == 1


def test_the_pixels_statement_is_prepared_once_per_connection(pixel, click):
    """Django leaves psycopg's preparing off (`prepare_threshold` None, which makes `prepare=True` a no-op); the
    setting DATABASE_PREPARED_STATEMENTS turns it on, so pixels after the first skip parsing and planning."""
    from django.db import connection

    for n in range(3):
        assert (
            fire(pixel, click.id, type="deposit", currency="eur", amount="5", transaction_id=f"t{n}").status_code == 202
        )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements"
            " WHERE NOT from_sql AND statement LIKE '%%INSERT INTO crm_affiliate_conversion%%'"
        )
        assert cursor.fetchone()[0] == 1
    assert Conversion.objects.count() == 3
