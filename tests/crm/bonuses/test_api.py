"""The bonus API: give (idempotent, refusal codes, field errors), list with filters, status; the redeem callback;
the three personas (label A's key and staff, label B's, an outsider)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from backoffice.models import Role
from crm.models import Bonus
from crm.services.bonus_delivery import bonus_deliver
from crm.services.bonuses import bonus_give
from integrations.models import SandboxBonus
from tests.crm.bonuses.conftest import template_make

pytestmark = pytest.mark.django_db
URL = "/api/v1/bonuses"


def _body(template=None, **fields) -> dict:
    body = {"ext_brand_id": "shared-brand", "user_ext_id": "shared-player", "idempotency_key": "give-1"}
    if template is not None:
        body["template_id"] = template.pk
    return {**body, **fields}


def _client(key) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


def test_a_partner_gives_a_bonus_once_per_key(tenant_a, template, key_client):
    response = key_client.post(URL, _body(template, reason="Birthday"), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["created"] is True
    bonus = body["bonus"]
    assert (bonus["status"], bonus["delivery_state"], bonus["source"], bonus["key"]) == ("new", "pending", "api",
                                                                                         "api:give-1")  # fmt: skip
    assert (bonus["ext_brand_id"], bonus["user_ext_id"], bonus["reason"]) == (
        "shared-brand",
        "shared-player",
        "Birthday",
    )
    assert bonus["template"] == {"id": template.pk, "operator_code": "CASH_5_EUR", "name": template.name,
                                 "public_name": template.name, "type": "cash"}  # fmt: skip
    again = key_client.post(URL, _body(template, reason="Birthday"), format="json")
    assert (again.status_code, again.json()["created"], again.json()["bonus"]["id"]) == (200, False, bonus["id"])
    assert Bonus.objects.count() == 1


def test_the_key_may_come_in_the_header_and_the_template_by_operator_code(tenant_a, template, key_client):
    body = _body(operator_code="CASH_5_EUR")
    del body["idempotency_key"]
    response = key_client.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="hdr-1")
    assert response.status_code == 201
    assert Bonus.objects.get().key == "api:hdr-1"


def test_a_key_reused_for_another_template_is_409(tenant_a, template, key_client):
    key_client.post(URL, _body(template), format="json")
    other = template_make(tenant_a.label, code="OTHER")
    response = key_client.post(URL, _body(other), format="json")
    assert (response.status_code, response.json()["code"]) == (409, "idempotency_conflict")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"template_id": None}, "template_id"),  # neither template_id nor operator_code
        ({"operator_code": "CASH_5_EUR"}, "template_id"),  # both
        ({"user_ext_id": None}, "user_ext_id"),
        ({"amount": "-1"}, "amount"),
        ({"amount": "1.234"}, "amount"),
        ({"reason": "r" * 501}, "reason"),
        ({"idempotency_key": None}, "idempotency_key"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_input_names_the_field_and_gives_nothing(tenant_a, template, key_client, change, field):
    body = _body(template)
    for name, value in change.items():
        if value is None:
            body.pop(name, None)
        else:
            body[name] = value
    response = key_client.post(URL, body, format="json")
    assert response.status_code == 400, response.json()
    assert field in response.json()["errors"]
    assert not Bonus.objects.exists()


def test_an_unknown_template_or_player_is_404_naming_it(tenant_a, tenant_b, key_client):
    foreign = template_make(tenant_b.label)
    response = key_client.post(URL, _body(foreign), format="json")
    assert (response.status_code, response.json()["errors"]) == (404, {"template_id": ["Not found."]})
    response = key_client.post(URL, _body(operator_code="NOPE"), format="json")
    assert (response.status_code, response.json()["errors"]) == (404, {"operator_code": ["Not found."]})
    template = template_make(tenant_a.label)
    response = key_client.post(URL, _body(template, user_ext_id="nobody"), format="json")
    assert response.status_code == 404
    assert not Bonus.objects.exists()


def test_refusals_answer_422_with_their_code(tenant_a, template, key_client):
    tenant_a.label.bonus_daily_cap = 1
    tenant_a.label.save()
    assert key_client.post(URL, _body(template), format="json").status_code == 201
    capped = key_client.post(URL, _body(template, idempotency_key="give-2"), format="json")
    assert (capped.status_code, capped.json()["code"]) == (422, "bonus_cap_reached")
    tenant_a.player.core_account_status = "SELF_EXCLUDED"
    tenant_a.player.save()
    refused = key_client.post(URL, _body(template, idempotency_key="give-3"), format="json")
    assert (refused.status_code, refused.json()["code"]) == (422, "account_not_active")
    assert "SELF_EXCLUDED" in refused.json()["message"]
    template.is_active = False
    template.save()
    tenant_a.player.core_account_status = "ACTIVE"
    tenant_a.player.save()
    inactive = key_client.post(URL, _body(template, idempotency_key="give-4"), format="json")
    assert (inactive.status_code, inactive.json()["code"]) == (422, "template_inactive")
    assert Bonus.objects.count() == 1


def test_staff_give_with_their_session_as_staff(tenant_a, template, staff_with_role):
    support = staff_with_role(tenant_a.label, Role.SUPPORT)
    client = APIClient()
    client.force_login(support)
    response = client.post(URL, _body(template), format="json")
    assert response.status_code == 201
    bonus = Bonus.objects.get()
    assert (bonus.source, bonus.created_by_id) == ("staff", support.pk)


def test_the_list_filters_and_is_scoped_to_the_label(tenant_a, tenant_b, template, key_client):
    other = template_make(tenant_a.label, code="OTHER")
    a1 = bonus_give(player=tenant_a.player, template=template, source="api", key="a1")
    a2 = bonus_give(player=tenant_a.player, template=other, source="rule", key="a2")
    Bonus.objects.filter(pk=a2.pk).update(status="issued")
    bonus_give(player=tenant_b.player, template=template_make(tenant_b.label), source="api", key="b1")
    assert [b["id"] for b in key_client.get(URL).json()["results"]] == [a2.pk, a1.pk]
    assert [b["id"] for b in key_client.get(URL, {"status": "issued"}).json()["results"]] == [a2.pk]
    assert [b["id"] for b in key_client.get(URL, {"source": "api"}).json()["results"]] == [a1.pk]
    assert [b["id"] for b in key_client.get(URL, {"template_id": template.pk}).json()["results"]] == [a1.pk]
    assert [b["id"] for b in key_client.get(URL, {"operator_code": "OTHER"}).json()["results"]] == [a2.pk]
    assert [b["id"] for b in key_client.get(URL, {"q": "a1"}).json()["results"]] == [a1.pk]
    assert key_client.get(URL, {"status": "nope"}).json()["errors"].keys() == {"status"}


def test_the_list_costs_a_fixed_number_of_queries(tenant_a, template, key_client, django_assert_num_queries):
    for n in range(5):
        bonus_give(player=tenant_a.player, template=template, source="api", key=f"k{n}")
    key_client.get(URL)
    with django_assert_num_queries(2):  # the key, the page (players, brands, templates joined)
        assert len(key_client.get(URL).json()["results"]) == 5


def test_a_bonus_status_is_404_from_another_label(tenant_a, tenant_b, template, key_client):
    bonus = bonus_give(player=tenant_a.player, template=template, source="api", key="a1")
    response = key_client.get(f"{URL}/{bonus.pk}")
    assert (response.status_code, response.json()["id"], response.json()["status"]) == (200, bonus.pk, "new")
    other = _client(tenant_b.raw_key)
    assert other.get(f"{URL}/{bonus.pk}").status_code == 404
    assert other.get(URL).json()["results"] == []
    assert _client(tenant_a.raw_key).get(f"{URL}/999999").status_code == 404


def test_label_b_cannot_give_to_label_a(tenant_a, tenant_b, template):
    response = _client(tenant_b.raw_key).post(URL, _body(template), format="json")
    assert response.status_code == 404  # label B's player answers, not A's template
    assert not Bonus.objects.exists()


def test_an_outsider_and_anonymous_callers_get_nothing(tenant_a, template, outsider):
    bonus = bonus_give(player=tenant_a.player, template=template, source="api", key="a1")
    client = APIClient()
    assert client.get(URL).status_code == 401
    assert client.post(URL, _body(template), format="json").status_code == 401
    client.force_login(outsider)
    assert client.get(URL).status_code == 403
    assert client.get(f"{URL}/{bonus.pk}").status_code == 403
    assert client.post(URL, _body(template), format="json").status_code == 403
    assert Bonus.objects.count() == 1


# --- the redeem callback ---------------------------------------------------------------------------------------------
def _callback(label, secret, body):
    client = APIClient()
    return client.post(f"/api/v1/bonus-api/{label.label_key}/redeem", body, format="json",
                       HTTP_AUTHORIZATION=f"Bearer {secret}")  # fmt: skip


def test_the_redeem_callback_needs_the_labels_secret(tenant_a, tenant_b, template, sandbox):
    bonus = bonus_give(player=tenant_a.player, template=template, source="api", key="a1")
    bonus_deliver(bonus_id=bonus.pk)
    body = {"idempotency_key": bonus.idempotency_key, "status": "redeemed"}
    assert _callback(tenant_a.label, "wrong", body).status_code == 401
    assert _callback(tenant_b.label, sandbox.secret, body).status_code == 401  # B has no connection
    response = APIClient().post(f"/api/v1/bonus-api/{tenant_a.label.label_key}/redeem", body, format="json",
                                HTTP_AUTHORIZATION=f"Api-Key {tenant_a.raw_key}")  # fmt: skip
    assert (response.status_code, response.json()["code"]) == (401, "authentication_failed")
    assert Bonus.objects.get().status == "issued"
    ok = _callback(tenant_a.label, sandbox.secret, body)
    assert ok.status_code == 200
    assert ok.json() == {"bonus_id": bonus.pk, "status": "redeemed", "changed": True}


def test_the_redeem_callback_names_bad_fields_and_unknown_keys(tenant_a, template, sandbox):
    bonus = bonus_give(player=tenant_a.player, template=template, source="api", key="a1")
    bonus_deliver(bonus_id=bonus.pk)
    bad = _callback(tenant_a.label, sandbox.secret, {"idempotency_key": bonus.idempotency_key, "status": "used"})
    assert (bad.status_code, list(bad.json()["errors"])) == (400, ["status"])
    unknown = _callback(tenant_a.label, sandbox.secret, {"idempotency_key": "pb-nope", "status": "redeemed"})
    assert unknown.status_code == 404
    Bonus.objects.filter(pk=bonus.pk).update(status="expired")
    late = _callback(tenant_a.label, sandbox.secret, {"idempotency_key": bonus.idempotency_key, "status": "redeemed"})
    assert (late.status_code, late.json()["code"]) == (409, "not_redeemable")


def test_the_sandbox_redeem_endpoint_calls_back(tenant_a, template, sandbox):
    bonus = bonus_give(player=tenant_a.player, template=template, source="api", key="a1")
    bonus_deliver(bonus_id=bonus.pk)
    url = f"/sandbox/bonus-api/{tenant_a.label.label_key}/bonuses/{bonus.idempotency_key}/redeem"
    response = APIClient().post(url, {"status": "redeem_failed"}, format="json",
                                HTTP_AUTHORIZATION=f"Bearer {sandbox.secret}")  # fmt: skip
    assert response.status_code == 200
    assert response.json()["callback"]["http_status"] == 200
    assert Bonus.objects.get().status == "redeem_failed"
    assert SandboxBonus.objects.get().status == "redeem_failed"
