"""Partner API of rules (read): list and detail, filters, stats, and isolation across labels and personas."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from crm.models.rules import RuleStatus
from tests.crm.rules.helpers import deposit, feed, rule_make

pytestmark = pytest.mark.django_db
LIST = "/api/v1/rules"


def test_a_key_lists_and_reads_its_labels_rules_with_their_stats(tenant_a, tenant_b, key_client):
    rule = rule_make(tenant_a.label, name="Big deposits", cap_count=2, cap_period="day")
    draft = rule_make(tenant_a.label, name="Draft", status=RuleStatus.DRAFT)
    rule_make(tenant_b.label, name="Of B")
    feed(tenant_a.label, [deposit(150), deposit(150), deposit(150)])
    body = key_client.get(LIST).json()
    assert [r["name"] for r in body["results"]] == ["Draft", "Big deposits"]
    detail = key_client.get(f"{LIST}/{rule.pk}").json()
    assert detail["stats"]["fired"] == 3
    assert {k: v for k, v in detail["stats"].items() if k != "last_fired_at"} == {
        "fired": 3, "applied": 2, "skipped": 1, "failed": 0
    }  # fmt: skip
    assert detail["stats"]["last_fired_at"] is not None
    assert (detail["status"], detail["kind"], detail["trigger_type"], detail["cap_count"]) == (
        "active", "realtime", "deposit", 2
    )  # fmt: skip
    assert detail["activities"] == [{"type": "points", "amount": 50}]
    assert "webhook_secret" not in detail
    assert [r["id"] for r in key_client.get(LIST, {"status": "draft"}).json()["results"]] == [draft.pk]
    response = key_client.get(LIST, {"status": "paused!"})
    assert response.status_code == 400
    assert response.json()["errors"] == {"status": ["One of: draft, active, paused, archived."]}


def test_another_labels_rule_is_404_and_outsiders_get_nothing(tenant_a, tenant_b, outsider):
    rule_b = rule_make(tenant_b.label, name="Of B")
    key_a = APIClient()
    key_a.credentials(HTTP_AUTHORIZATION=f"Api-Key {tenant_a.raw_key}")
    response = key_a.get(f"{LIST}/{rule_b.pk}")
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "message": "No such rule.", "errors": {}}
    assert key_a.get(LIST).json()["results"] == []
    staff = APIClient()
    staff.force_login(tenant_b.admin)
    assert staff.get(f"{LIST}/{rule_b.pk}").json()["name"] == "Of B"
    staff.force_login(tenant_a.admin)
    assert staff.get(f"{LIST}/{rule_b.pk}").status_code == 404
    staff.force_login(outsider)
    assert staff.get(LIST).status_code == 403
    assert staff.get(f"{LIST}/{rule_b.pk}").status_code == 403
    assert APIClient().get(LIST).status_code == 401
