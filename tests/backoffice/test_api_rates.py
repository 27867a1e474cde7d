"""The exchange-rate endpoints: list with filters, enter (repeat-safe), correct, delete; tenant isolation with a key
of label A and of label B, staff roles, and garbage that gets a 400 naming the field."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from backoffice.models import ExchangeRate, Role

pytestmark = pytest.mark.django_db
D = dt.date
JAN1 = D(2026, 1, 1)
LIST = "/api/v1/exchange-rates"


def _url(rate) -> str:
    return f"{LIST}/{rate.pk}"


def _rate(tenant, currency="SEK", rate="0.0875", valid_from=JAN1) -> ExchangeRate:
    return ExchangeRate.objects.create(label=tenant.label, currency=currency, rate=Decimal(rate), valid_from=valid_from)


def _client(tenant) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {tenant.raw_key}")
    return client


def _staff(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


# --- reading --------------------------------------------------------------------------------------------------
def test_the_list_shows_the_keys_label_only(tenant_a, tenant_b, django_assert_num_queries):
    mine = _rate(tenant_a)
    _rate(tenant_b, rate="0.5")
    client = _client(tenant_a)
    client.get(LIST)  # warm the key's last-used stamp: its write is not the list's cost
    with django_assert_num_queries(2):  # the key, the page
        response = client.get(LIST)
    assert response.status_code == 200
    assert response.json()["results"] == [
        {
            "id": mine.pk,
            "label_key": tenant_a.label.label_key,
            "currency": "SEK",
            "base_currency": "EUR",
            "rate": "0.0875",
            "valid_from": "2026-01-01",
            "created_at": mine.created_at.isoformat().replace("+00:00", "Z"),
            "updated_at": mine.updated_at.isoformat().replace("+00:00", "Z"),
        }
    ]


def test_filters_by_currency_and_by_the_day_a_rate_is_in_force(tenant_a):
    jan, mar = _rate(tenant_a), _rate(tenant_a, rate="0.09", valid_from=D(2026, 3, 1))
    nok = _rate(tenant_a, currency="NOK", rate="0.085", valid_from=D(2026, 2, 1))
    client = _client(tenant_a)

    def ids(query: str) -> set[int]:
        response = client.get(f"{LIST}?{query}")
        assert response.status_code == 200, response.json()
        return {row["id"] for row in response.json()["results"]}

    assert ids("currency=SEK") == {jan.pk, mar.pk}
    assert ids("currency=SEK&currency=NOK") == {jan.pk, mar.pk, nok.pk}
    assert ids("valid_on=2026-02-15") == {jan.pk, nok.pk}
    assert ids("valid_on=2026-03-01&currency=SEK") == {mar.pk}
    assert ids("valid_on=2025-12-31") == set()
    assert ids("valid_from_after=2026-02-01&valid_from_before=2026-03-01") == {nok.pk}
    assert ids("q=nok") == {nok.pk}


def test_a_rate_of_another_label_is_exactly_404_for_every_method(tenant_a, tenant_b):
    theirs = _rate(tenant_b)
    client = _client(tenant_a)
    for response in (
        client.get(_url(theirs)),
        client.patch(_url(theirs), {"rate": "1"}, format="json"),
        client.delete(_url(theirs)),
    ):
        assert response.status_code == 404
        assert response.json() == {
            "code": "not_found",
            "message": "No exchange rate with this id in your label.",
            "errors": {},
        }
    theirs.refresh_from_db()
    assert theirs.rate == Decimal("0.0875")
    assert _client(tenant_b).get(_url(theirs)).status_code == 200


def test_an_outsider_and_an_anonymous_caller_get_nothing(tenant_a, outsider):
    rate = _rate(tenant_a)
    assert _staff(outsider).get(LIST).status_code == 403
    assert _staff(outsider).get(_url(rate)).status_code == 403
    assert APIClient().get(LIST).status_code == 401


# --- writing ------------------------------------------------------------------------------------------------------
def test_a_key_enters_a_rate_and_a_resent_one_changes_nothing(tenant_a):
    client = _client(tenant_a)
    body = {"currency": "SEK", "rate": "0.087500", "valid_from": "2026-03-01"}
    first = client.post(LIST, body, format="json")
    assert first.status_code == 201
    assert first.json()["rate"] == "0.0875"
    rate = ExchangeRate.objects.get()
    assert (rate.label, rate.api_key, rate.created_by) == (tenant_a.label, tenant_a.api_key, None)
    again = client.post(LIST, {**body, "rate": 0.0875}, format="json")  # a JSON number: the same rate
    assert again.status_code == 200
    assert again.json() == first.json()
    assert ExchangeRate.objects.count() == 1


def test_trailing_zeros_are_no_precision_but_a_13th_decimal_is_refused(tenant_a):
    client = _client(tenant_a)
    response = client.post(LIST, {**BASE, "rate": "0.087123456789000"}, format="json")
    assert response.status_code == 201
    assert response.json()["rate"] == "0.087123456789"
    response = client.post(LIST, {**BASE, "currency": "NOK", "rate": "0.0871234567891"}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"rate": ["Ensure that there are no more than 12 decimal places."]}


def test_a_different_rate_for_the_same_day_is_refused_naming_the_first(tenant_a):
    rate = _rate(tenant_a, valid_from=D(2026, 3, 1))
    response = _client(tenant_a).post(
        LIST, {"currency": "SEK", "rate": "0.09", "valid_from": "2026-03-01"}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {
        "code": "duplicate",
        "message": "Invalid value for: valid_from.",
        "errors": {"valid_from": [f"SEK already has a rate from 2026-03-01 (id {rate.pk}): change that one."]},
    }


def test_a_rate_used_for_past_days_is_corrected(tenant_a):
    rate = _rate(tenant_a)
    response = _client(tenant_a).patch(_url(rate), {"rate": "0.088"}, format="json")
    assert response.status_code == 200
    assert response.json()["rate"] == "0.088"
    rate.refresh_from_db()
    assert (rate.rate, rate.valid_from, rate.api_key) == (Decimal("0.088"), JAN1, tenant_a.api_key)
    response = _client(tenant_a).patch(_url(rate), {"valid_from": "2025-12-01"}, format="json")
    assert response.json()["valid_from"] == "2025-12-01"


def test_moving_a_rate_onto_another_ones_day_is_refused(tenant_a):
    other = _rate(tenant_a, valid_from=D(2026, 3, 1))
    rate = _rate(tenant_a)
    response = _client(tenant_a).patch(_url(rate), {"valid_from": "2026-03-01"}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "valid_from": [f"SEK already has a rate from 2026-03-01 (id {other.pk}): change that one."]
    }
    rate.refresh_from_db()
    assert rate.valid_from == JAN1


def test_a_rate_is_deleted(tenant_a):
    rate = _rate(tenant_a)
    response = _client(tenant_a).delete(_url(rate))
    assert response.status_code == 204
    assert not ExchangeRate.objects.exists()


@pytest.mark.parametrize(
    ("role", "may_write"),
    [(Role.ADMIN, True), (Role.MANAGER, True), (Role.INTEGRATION_ENGINEER, True), (Role.SUPPORT, False)],
)
def test_staff_roles(role, may_write, tenant_a, staff_with_role):
    rate = _rate(tenant_a)
    client = _staff(staff_with_role(tenant_a.label, role))
    assert client.get(_url(rate)).status_code == 200
    created = client.post(LIST, {"currency": "NOK", "rate": "0.085", "valid_from": "2026-01-01"}, format="json")
    patched = client.patch(_url(rate), {"rate": "0.5"}, format="json")
    deleted = client.delete(_url(rate))
    expected = (201, 200, 204) if may_write else (403, 403, 403)
    assert (created.status_code, patched.status_code, deleted.status_code) == expected
    assert ExchangeRate.objects.filter(currency="NOK").exists() is may_write


def test_staff_with_several_labels_name_the_label(tenant_a, tenant_b):
    tenant_a.admin.label_roles.create(label=tenant_b.label, role=Role.MANAGER)
    client = _staff(tenant_a.admin)
    body = {"currency": "NOK", "rate": "0.085", "valid_from": "2026-01-01"}
    response = client.post(LIST, body, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"label_key": ["Required: you have several labels."]}
    response = client.post(LIST, {**body, "label_key": tenant_b.label.label_key}, format="json")
    assert response.status_code == 201
    assert ExchangeRate.objects.get().label == tenant_b.label


def test_a_key_cannot_name_another_label(tenant_a, tenant_b):
    body = {"currency": "NOK", "rate": "0.085", "valid_from": "2026-01-01", "label_key": tenant_b.label.label_key}
    response = _client(tenant_a).post(LIST, body, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"label_key": ["None of your labels where you may enter rates."]}
    assert not ExchangeRate.objects.exists()


# --- garbage ------------------------------------------------------------------------------------------------------
BASE = {"currency": "SEK", "rate": "0.0875", "valid_from": "2026-03-01"}


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"currency": "EUR"}, "currency", "EUR is the label's base currency: its amounts are used as they are and need no rate."),
        ({"currency": "sek"}, "currency", "An ISO 4217 code in capitals, e.g. SEK."),
        ({"currency": "SEKK"}, "currency", "Ensure this field has no more than 3 characters."),
        ({"rate": "0"}, "rate", "Must be greater than 0."),
        ({"rate": -2}, "rate", "Must be greater than 0."),
        ({"rate": "NaN"}, "rate", "A valid number is required."),
        ({"rate": "0.0000000000001"}, "rate", "Ensure that there are no more than 12 decimal places."),
        ({"rate": "12345678901234567"}, "rate", "Ensure that there are no more than 16 digits before the decimal point."),
        ({"valid_from": "2026-02-30"}, "valid_from", "Date has wrong format. Use one of these formats instead: YYYY-MM-DD."),
        ({"rate": None}, "rate", "This field may not be null."),
        ({"reate": "1"}, "reate", "Unknown field."),
    ],
)  # fmt: skip
def test_bad_input_is_400_naming_the_field_and_writes_nothing(changes, field, message, tenant_a):
    response = _client(tenant_a).post(LIST, {**BASE, **changes}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][field] == [message]
    assert not ExchangeRate.objects.exists()


@pytest.mark.parametrize(
    ("query", "field"),
    [("valid_on=yesterday", "valid_on"), ("valid_from_after=2026-13-01", "valid_from_after"), ("cursor=zz", "cursor")],
)
def test_bad_filters_are_400_naming_the_parameter(query, field, tenant_a):
    response = _client(tenant_a).get(f"{LIST}?{query}")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == [field]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    body=st.one_of(
        json_values,
        st.fixed_dictionaries({"currency": json_values, "rate": json_values, "valid_from": json_values}),
    )
)
def test_any_json_body_gets_an_answer_and_never_a_server_error(body, tenant_a):
    rate = ExchangeRate.objects.filter(label=tenant_a.label).first() or _rate(tenant_a)
    client = _client(tenant_a)
    # Only a body of the rate's own fields can be valid (a generated one rarely is); anything else is exactly 400.
    shaped = isinstance(body, dict) and set(body) == {"currency", "rate", "valid_from"}
    allowed = {
        "post": {201, 200, 400} if shaped else {400},  # 201 new, 200 the same rate sent again
        "patch": {200, 400} if shaped or not body else {400},  # an empty PATCH ({}, "", null...) changes nothing
    }
    for method, response in (("post", client.post(LIST, body, format="json")),
                             ("patch", client.patch(_url(rate), body, format="json"))):  # fmt: skip
        assert response.status_code in allowed[method], (method, response.content)
        if response.status_code == 400:
            assert response.json()["errors"]
