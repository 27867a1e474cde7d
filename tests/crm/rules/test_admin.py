"""Automation rules in the admin: build, activate, pause; stats, estimate, backtest; roles and label isolation."""

from __future__ import annotations

import pytest
from django.urls import reverse

from backoffice.models import Role
from crm.models.rules import BacktestRun, Rule, RuleStatus
from tests.crm.rules.helpers import deposit, feed, rule_make

pytestmark = pytest.mark.django_db

ADD = "admin:crm_rule_add"
LIST = "admin:crm_rule_changelist"


def _change(rule) -> str:
    return reverse("admin:crm_rule_change", args=[rule.pk])


def _url(rule, name, *args) -> str:
    return reverse(f"admin:crm_rule_{name}", args=[rule.pk, *args])


def _form(label, **overrides) -> dict:
    return {
        "label": label.pk, "name": "Big deposit", "description": "", "kind": "realtime", "trigger_type": "deposit",
        "conditions": '[{"field": "deposit_amount", "op": "gte", "value": 100}]', "schedule": "",
        "segment_conditions": "{}", "activities": '[{"type": "points", "amount": 50}]', "priority": "100",
        "cap_count": "", "cap_period": "",
    } | overrides  # fmt: skip


def test_a_manager_builds_a_rule_activates_it_and_it_fires(tenant_a, staff_with_role, staff_client):
    client = staff_client(staff_with_role(tenant_a.label, Role.MANAGER))
    assert client.get(reverse(ADD)).status_code == 200
    response = client.post(reverse(ADD), _form(tenant_a.label))
    assert response.status_code == 302, response.content.decode()[:3000]
    rule = Rule.objects.get(name="Big deposit")
    assert (rule.status, rule.activities) == ("draft", [{"type": "points", "amount": 50}])
    assert client.get(_url(rule, "activate")).status_code == 200  # the confirmation page
    assert client.post(_url(rule, "activate")).status_code == 302
    rule.refresh_from_db()
    assert rule.status == RuleStatus.ACTIVE
    feed(tenant_a.label, [deposit(150)])
    listing = client.get(reverse(LIST)).content.decode()
    assert "Big deposit" in listing
    assert "Active" in listing
    page = client.get(_change(rule)).content.decode()
    assert 'data-testid="rule-chart"' in page
    assert "Fired <strong>1</strong>" in page
    assert client.post(_url(rule, "pause")).status_code == 302
    rule.refresh_from_db()
    assert rule.status == RuleStatus.PAUSED


def test_bad_conditions_activities_and_schedule_are_named(tenant_a, staff_client):
    client = staff_client(tenant_a.admin)
    response = client.post(
        reverse(ADD),
        _form(
            tenant_a.label,
            conditions='[{"field": "deposit_amout", "op": "gte", "value": 100}]',
            activities='[{"type": "points", "amount": -5}]',
        ),
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "deposit events have no field &quot;deposit_amout&quot;; did you mean &quot;deposit_amount&quot;?" in page
    assert "Activity 1, amount: A whole number from 1 to 1,000,000,000." in page
    response = client.post(
        reverse(ADD), _form(tenant_a.label, kind="scheduled", trigger_type="", schedule="61 * * * *")
    )
    assert "minute: &#x27;61&#x27; is outside 0-59." in response.content.decode()
    assert not Rule.objects.exists()


def test_a_scheduled_rule_shows_its_next_runs_in_the_label_time_zone(tenant_a, staff_client):
    tenant_a.label.time_zone = "Europe/Malta"
    tenant_a.label.save(update_fields=["time_zone"])
    rule = rule_make(tenant_a.label, kind="scheduled", schedule="30 9 * * 1", status=RuleStatus.DRAFT)
    page = staff_client(tenant_a.admin).get(_change(rule)).content.decode()
    assert "Mon " in page
    assert "09:30 (Europe/Malta)" in page


def test_estimate_counts_the_audience_and_the_matching_share(tenant_a, staff_client):
    rule = rule_make(tenant_a.label, status=RuleStatus.DRAFT)
    feed(tenant_a.label, [deposit(150, at=_recent()), deposit(50, at=_recent()), deposit(120, at=_recent())])
    response = staff_client(tenant_a.admin).get(_url(rule, "estimate"))
    assert response.json() == {"players": 1, "events_7d": 3, "matching_7d": 2, "share": 2 / 3}


def _recent() -> str:
    from django.utils import timezone

    return (timezone.now() - __import__("datetime").timedelta(hours=1)).isoformat()


def test_support_reads_but_cannot_change_activate_or_backtest(tenant_a, staff_with_role, staff_client):
    rule = rule_make(tenant_a.label, status=RuleStatus.DRAFT)
    client = staff_client(staff_with_role(tenant_a.label, Role.SUPPORT))
    page = client.get(_change(rule))
    assert page.status_code == 200
    assert 'data-testid="backtest-form"' not in page.content.decode()
    assert client.post(_change(rule), _form(tenant_a.label, name="Changed")).status_code == 403
    assert client.post(_url(rule, "activate")).status_code == 403
    assert client.post(_url(rule, "backtest"), {"days": "7"}).status_code == 403
    assert client.get(reverse(ADD)).status_code == 403
    rule.refresh_from_db()
    assert (rule.name, rule.status, BacktestRun.objects.count()) == (rule.name, RuleStatus.DRAFT, 0)
    assert rule.name != "Changed"


@pytest.mark.parametrize("role", [Role.SUPPORT, Role.INTEGRATION_ENGINEER])
def test_read_only_roles_see_the_list(tenant_a, staff_with_role, staff_client, role):
    rule_make(tenant_a.label, name="Visible rule")
    response = staff_client(staff_with_role(tenant_a.label, role)).get(reverse(LIST))
    assert response.status_code == 200
    assert "Visible rule" in response.content.decode()


def test_another_label_and_an_outsider_get_404_and_403(tenant_a, tenant_b, outsider, staff_client):
    rule = rule_make(tenant_a.label, name="A only")
    other = staff_client(tenant_b.admin)
    assert "A only" not in other.get(reverse(LIST)).content.decode()
    for url in (_change(rule), _url(rule, "estimate"), _url(rule, "activate"), _url(rule, "pause")):
        assert other.get(url).status_code == 404, url
    assert other.post(_url(rule, "backtest"), {"days": "7"}).status_code == 404
    backtest = BacktestRun.objects.create(label=tenant_a.label, rule=rule, days=3)
    assert other.get(_url(rule, "backtest_status", backtest.pk)).status_code == 404
    stranger = staff_client(outsider)
    assert stranger.get(reverse(LIST)).status_code == 403
    assert stranger.get(_change(rule)).status_code == 404  # the action buttons look the row up first, as missions'
    assert stranger.get(_url(rule, "estimate")).status_code == 403
    assert stranger.post(_url(rule, "backtest"), {"days": "7"}).status_code == 403
    assert staff_client(None).get(_url(rule, "estimate")).status_code == 302  # to the login page


def test_the_backtest_button_queues_one_and_the_status_answers(
    tenant_a, staff_client, django_capture_on_commit_callbacks
):
    rule = rule_make(tenant_a.label, status=RuleStatus.DRAFT)
    client = staff_client(tenant_a.admin)
    with django_capture_on_commit_callbacks(execute=False):
        assert client.post(_url(rule, "backtest"), {"days": "5"}).status_code == 302
    backtest = BacktestRun.objects.get()
    assert (backtest.rule, backtest.days, backtest.status) == (rule, 5, "pending")
    status = client.get(_url(rule, "backtest_status", backtest.pk)).json()
    assert status == {"status": "pending", "progress": 0, "error": "", "result": None}
    assert 'data-status="pending"' in client.get(_change(rule)).content.decode()
    client.post(_url(rule, "backtest"), {"days": "500"})
    assert BacktestRun.objects.count() == 1
