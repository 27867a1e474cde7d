"""Exchange rates in the admin: per label, three personas, the form's refusals, the CSV import, the warning about
wallet currencies without a rate, and the label's base currency that cannot change under existing rates."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from backoffice.models import ExchangeRate, Role
from tests.factories import PlayerFactory

pytestmark = pytest.mark.django_db
D = dt.date
JAN1 = D(2026, 1, 1)
LIST = "admin:backoffice_exchangerate_changelist"
ADD = "admin:backoffice_exchangerate_add"


def _rate(tenant, currency="SEK", rate="0.0875", valid_from=JAN1) -> ExchangeRate:
    return ExchangeRate.objects.create(label=tenant.label, currency=currency, rate=Decimal(rate), valid_from=valid_from)


def _change(obj) -> str:
    return reverse("admin:backoffice_exchangerate_change", args=[obj.pk])


def _add(client, label, **fields):
    data = {"label": label.pk, "currency": "SEK", "rate": "0.0875", "valid_from": "2026-03-01", **fields}
    return client.post(reverse(ADD), data)


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


# --- access ---------------------------------------------------------------------------------------------------
def test_each_label_sees_only_its_rates_and_an_outsider_none(tenant_a, tenant_b, outsider, staff_client):
    rate_a, rate_b = _rate(tenant_a), _rate(tenant_b, rate="0.5")
    html = staff_client(tenant_a.admin).get(reverse(LIST)).content.decode()
    assert _change(rate_a) in html
    assert _change(rate_b) not in html
    assert "1 SEK = 0.0875 EUR" in html
    assert staff_client(outsider).get(reverse(LIST)).status_code == 403


@pytest.mark.parametrize("page", ["change", "history", "delete"])
def test_another_labels_rate_is_exactly_404(page, tenant_a, tenant_b, outsider, staff_client):
    rate_a, rate_b = _rate(tenant_a), _rate(tenant_b)
    url = reverse(f"admin:backoffice_exchangerate_{page}", args=[rate_b.pk])
    assert staff_client(tenant_a.admin).get(url).status_code == 404
    own = reverse(f"admin:backoffice_exchangerate_{page}", args=[rate_a.pk])
    assert staff_client(tenant_a.admin).get(own).status_code == 200
    assert staff_client(outsider).get(own).status_code == (404 if page == "history" else 403)


def test_posting_to_another_labels_rate_changes_nothing(tenant_a, tenant_b, staff_client):
    rate_b = _rate(tenant_b)
    client = staff_client(tenant_a.admin)
    assert client.post(_change(rate_b), {"rate": "9", "valid_from": "2026-01-01"}).status_code == 404
    assert (
        client.post(reverse("admin:backoffice_exchangerate_delete", args=[rate_b.pk]), {"post": "yes"}).status_code
        == 404
    )
    rate_b.refresh_from_db()
    assert rate_b.rate == Decimal("0.0875")


@pytest.mark.parametrize(
    ("role", "may_write"),
    [(Role.ADMIN, True), (Role.MANAGER, True), (Role.INTEGRATION_ENGINEER, True), (Role.SUPPORT, False)],
)
def test_who_may_enter_rates(role, may_write, tenant_a, staff_with_role, staff_client):
    client = staff_client(staff_with_role(tenant_a.label, role))
    assert client.get(reverse(LIST)).status_code == 200
    assert client.get(reverse(ADD)).status_code == (200 if may_write else 403)
    response = _add(client, tenant_a.label)
    assert response.status_code == (302 if may_write else 403)
    assert ExchangeRate.objects.filter(label=tenant_a.label).count() == (1 if may_write else 0)


def test_the_label_choice_offers_only_the_viewers_labels(tenant_a, tenant_b, staff_client):
    response = _add(staff_client(tenant_a.admin), tenant_b.label)
    assert response.status_code == 200
    assert "label" in response.context["adminform"].form.errors
    assert not ExchangeRate.objects.exists()


# --- the form -----------------------------------------------------------------------------------------------------
def test_a_rate_is_entered_with_its_author(tenant_a, staff_client):
    response = _add(staff_client(tenant_a.admin), tenant_a.label, rate="0.000057213918")
    assert response.status_code == 302
    rate = ExchangeRate.objects.get()
    assert (rate.currency, rate.rate, rate.valid_from, rate.created_by) == (
        "SEK",
        Decimal("0.000057213918"),
        D(2026, 3, 1),
        tenant_a.admin,
    )


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"currency": "EUR"}, "currency", "EUR is the label's base currency: its amounts are used as they are and need no rate."),
        ({"currency": "se"}, "currency", "An ISO 4217 code in capitals, e.g. SEK."),
        ({"rate": "0"}, "rate", "Must be greater than 0."),
        ({"rate": "-1"}, "rate", "Must be greater than 0."),
        ({"rate": "0.0000000000001"}, "rate", "Ensure that there are no more than 12 decimal places."),
        ({"rate": "abc"}, "rate", "Enter a number."),
        ({"valid_from": "2026-02-30"}, "valid_from", "Enter a valid date."),
    ],
)  # fmt: skip
def test_bad_input_is_refused_naming_the_field(fields, field, message, tenant_a, staff_client):
    response = _add(staff_client(tenant_a.admin), tenant_a.label, **fields)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors[field] == [message]
    assert not ExchangeRate.objects.exists()


def test_trailing_zeros_are_no_precision(tenant_a, staff_client):
    response = _add(staff_client(tenant_a.admin), tenant_a.label, rate="0.087123456789000")
    assert response.status_code == 302
    assert ExchangeRate.objects.get().rate == Decimal("0.087123456789")


def test_a_second_rate_of_the_same_currency_and_day_is_refused_naming_the_first(tenant_a, staff_client):
    _rate(tenant_a, valid_from=D(2026, 3, 1))
    response = _add(staff_client(tenant_a.admin), tenant_a.label, rate="0.09")
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["valid_from"] == [
        "SEK already has a rate from 2026-03-01 (1 SEK = 0.0875 EUR): change that one."
    ]
    assert ExchangeRate.objects.get().rate == Decimal("0.0875")


def test_a_rate_is_corrected_but_keeps_its_label_and_currency(tenant_a, staff_client):
    rate = _rate(tenant_a)
    client = staff_client(tenant_a.admin)
    response = client.post(_change(rate), {"rate": "0.09", "valid_from": "2026-01-02", "currency": "NOK"})
    assert response.status_code == 302
    rate.refresh_from_db()
    assert (rate.currency, rate.rate, rate.valid_from) == ("SEK", Decimal("0.09"), D(2026, 1, 2))


def test_moving_a_rate_onto_the_day_of_another_is_refused(tenant_a, staff_client):
    _rate(tenant_a, valid_from=D(2026, 3, 1))
    rate = _rate(tenant_a, valid_from=D(2026, 1, 1))
    response = staff_client(tenant_a.admin).post(_change(rate), {"rate": "0.1", "valid_from": "2026-03-01"})
    assert response.status_code == 200
    assert (
        response.context["adminform"].form.errors["valid_from"][0].startswith("SEK already has a rate from 2026-03-01")
    )
    rate.refresh_from_db()
    assert rate.valid_from == D(2026, 1, 1)


# --- the list -----------------------------------------------------------------------------------------------------
def test_filters_by_currency_and_by_the_day_a_rate_is_in_force(tenant_a, staff_client):
    jan, mar = _rate(tenant_a, valid_from=D(2026, 1, 1)), _rate(tenant_a, rate="0.09", valid_from=D(2026, 3, 1))
    nok = _rate(tenant_a, currency="NOK", rate="0.085", valid_from=D(2026, 2, 1))
    client = staff_client(tenant_a.admin)

    def shown(query: str) -> set[int]:
        response = client.get(reverse(LIST) + query)
        assert response.status_code == 200
        return {obj.pk for obj in response.context["cl"].result_list}

    assert shown("?currency=NOK") == {nok.pk}
    assert shown("?valid_on=2026-02-15") == {jan.pk, nok.pk}
    assert shown("?valid_on=2026-03-01") == {mar.pk, nok.pk}
    assert shown("?valid_on=2025-12-31") == set()
    assert shown("?valid_from_from=2026-02-01&valid_from_to=2026-12-31") == {mar.pk, nok.pk}
    assert shown("?valid_on=garbage") == set()  # a date nobody can read matches nothing; the list still answers


def test_the_list_says_until_when_a_rate_applies(tenant_a, staff_client):
    _rate(tenant_a, valid_from=D(2026, 1, 1))
    _rate(tenant_a, rate="0.09", valid_from=D(2026, 3, 1))
    html = staff_client(tenant_a.admin).get(reverse(LIST)).content.decode()
    assert "2026-02-28" in html
    assert "until a newer rate" in html


def test_the_list_warns_about_wallet_currencies_without_a_rate(tenant_a, tenant_b, staff_client):
    cache.clear()
    brand = tenant_a.brand
    for i in range(2):
        PlayerFactory(brand=brand, label=tenant_a.label, user_ext_id=f"se{i}", core_wallet_currency="SEK")
    PlayerFactory(brand=brand, label=tenant_a.label, user_ext_id="no1", core_wallet_currency="NOK")
    PlayerFactory(brand=brand, label=tenant_a.label, user_ext_id="eu1", core_wallet_currency="EUR")
    PlayerFactory(brand=tenant_b.brand, label=tenant_b.label, user_ext_id="dk1", core_wallet_currency="DKK")
    _rate(tenant_a, currency="NOK", valid_from=D(2020, 1, 1))
    tenant_a.player.core_wallet_currency = "EUR"
    tenant_a.player.save()
    client = staff_client(tenant_a.admin)
    response = client.get(reverse(LIST))
    warnings = [m for m in _messages(response) if "no rate" in m]
    assert warnings == [
        "Label A: no rate into EUR for SEK (2 players). Their bets, wins and deposits count for nothing in missions "
        "and tournaments that sum or compare money until a rate is entered."
    ]
    # Entering the rate lifts the warning at once (the cached count is forgotten), deleting it brings it back.
    assert _add(client, tenant_a.label, valid_from="2020-01-01").status_code == 302
    assert not [m for m in _messages(client.get(reverse(LIST))) if "no rate" in m]
    sek = ExchangeRate.objects.get(currency="SEK")
    client.post(reverse("admin:backoffice_exchangerate_delete", args=[sek.pk]), {"post": "yes"})
    assert [m for m in _messages(client.get(reverse(LIST))) if "no rate" in m] == warnings


# --- CSV import ---------------------------------------------------------------------------------------------------
IMPORT = "admin:backoffice_exchangerate_import_csv"


def _import(client, label, text: str):
    upload = SimpleUploadedFile("rates.csv", text.encode(), content_type="text/csv")
    return client.post(reverse(IMPORT), {"label": label.pk, "file": upload})


def test_a_csv_creates_and_corrects_rates(tenant_a, staff_client):
    _rate(tenant_a, valid_from=D(2026, 1, 1))
    _rate(tenant_a, currency="NOK", rate="0.085", valid_from=D(2026, 1, 1))
    text = "valid_from;currency;rate\n2026-01-01;SEK;0.0870\n2026-02-01;SEK;0.09\n2026-01-01;NOK;0.085\n\n"
    response = _import(staff_client(tenant_a.admin), tenant_a.label, text)
    assert response.status_code == 302
    assert _messages(response) == ["Label A: 1 rate(s) created, 1 corrected, 1 unchanged."]
    rows = ExchangeRate.objects.filter(label=tenant_a.label).values_list("currency", "valid_from", "rate")
    assert sorted(rows) == [
        ("NOK", D(2026, 1, 1), Decimal("0.085")),
        ("SEK", D(2026, 1, 1), Decimal("0.087")),
        ("SEK", D(2026, 2, 1), Decimal("0.09")),
    ]


def test_a_csv_with_a_bad_line_imports_nothing_and_names_every_bad_line(tenant_a, staff_client):
    text = "currency,rate,valid_from\nSEK,0.09,2026-02-01\nEUR,1,2026-02-01\nNOK,-1,2026-02-01\nDKK,0.13,01/02/2026\n"
    response = _import(staff_client(tenant_a.admin), tenant_a.label, text)
    assert response.status_code == 200
    assert response.context["form"].errors["file"] == [
        "line 3, currency: EUR is the label's base currency: its amounts are used as they are and need no rate.",
        "line 4, rate: Must be greater than 0.",
        "line 5, valid_from: a date as YYYY-MM-DD.",
    ]
    assert not ExchangeRate.objects.exists()


def test_a_csv_without_the_columns_is_refused(tenant_a, staff_client):
    response = _import(staff_client(tenant_a.admin), tenant_a.label, "code,value\nSEK,1\n")
    assert response.context["form"].errors["file"] == [
        "The header must name the columns currency, rate, valid_from; missing: currency, rate, valid_from."
    ]


def test_import_into_another_label_or_without_the_right_is_refused(tenant_a, tenant_b, staff_with_role, staff_client):
    text = "currency,rate,valid_from\nSEK,0.09,2026-02-01\n"
    response = _import(staff_client(tenant_a.admin), tenant_b.label, text)
    assert response.status_code == 200
    assert "label" in response.context["form"].errors
    support = staff_client(staff_with_role(tenant_a.label, Role.SUPPORT))
    assert _import(support, tenant_a.label, text).status_code == 403
    assert not ExchangeRate.objects.exists()


# --- the label's base currency --------------------------------------------------------------------------------
def _label_form(label, **changes) -> dict:
    data = {
        "name": label.name,
        "time_zone": label.time_zone,
        "allowed_entry_points": "",
        "control_group_pct": "0",
        "base_currency": label.base_currency,
        "active_players_only": "on" if label.active_players_only else "",
        "bonus_daily_cap": str(label.bonus_daily_cap),
        **changes,
    }
    return {k: v for k, v in data.items() if v != ""}


def test_a_label_admin_sets_the_base_currency_and_the_active_players_setting(tenant_a, staff_client):
    url = reverse("admin:backoffice_label_change", args=[tenant_a.label.pk])
    client = staff_client(tenant_a.admin)
    assert "Money and eligibility" in client.get(url).content.decode()
    response = client.post(url, _label_form(tenant_a.label, base_currency="GBP", active_players_only=""))
    assert response.status_code == 302
    tenant_a.label.refresh_from_db()
    assert (tenant_a.label.base_currency, tenant_a.label.active_players_only) == ("GBP", False)


def test_the_base_currency_cannot_change_while_rates_exist(tenant_a, staff_client):
    _rate(tenant_a)
    _rate(tenant_a, currency="NOK")
    url = reverse("admin:backoffice_label_change", args=[tenant_a.label.pk])
    response = staff_client(tenant_a.admin).post(url, _label_form(tenant_a.label, base_currency="GBP"))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["base_currency"] == [
        "Label A has 2 exchange rate(s) expressed in EUR. Delete them before changing the base currency to GBP, "
        "then enter rates in GBP: a rate in EUR read as GBP would convert every amount wrongly."
    ]
    tenant_a.label.refresh_from_db()
    assert tenant_a.label.base_currency == "EUR"


def test_a_manager_cannot_change_label_settings(tenant_a, staff_with_role, staff_client):
    client = staff_client(staff_with_role(tenant_a.label, Role.MANAGER))
    url = reverse("admin:backoffice_label_change", args=[tenant_a.label.pk])
    client.post(url, _label_form(tenant_a.label, base_currency="GBP"))
    tenant_a.label.refresh_from_db()
    assert tenant_a.label.base_currency == "EUR"


def test_the_list_offers_the_import_and_its_page_renders(tenant_a, staff_with_role, staff_client):
    client = staff_client(tenant_a.admin)
    assert reverse(IMPORT) in client.get(reverse(LIST)).content.decode()
    page = client.get(reverse(IMPORT))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'enctype="multipart/form-data"' in html
    assert "currency, rate, valid_from" in html
    support = staff_client(staff_with_role(tenant_a.label, Role.SUPPORT))
    assert reverse(IMPORT) not in support.get(reverse(LIST)).content.decode()
    assert support.get(reverse(IMPORT)).status_code == 403
