"""The ingestion dashboard: per label in view, events received per minute over the last hour and, per consumer group,
its position, pending events, lag, throughput, p95 and failures, from a fixed number of queries; each persona sees
only its labels' numbers.

These tests run in one transaction, which no pipeline tick sees: their events are pending in every group. What the
groups applied and failed (throughput, p95, failures) comes from the real pipeline over committed events, in
tests/crm/test_admin_ingestion_pipeline.py.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone

from backoffice.admin import navigation
from backoffice.models import Role
from backoffice.scoping import SESSION_LABEL_KEY, actor_for_user
from crm.selectors import ingestion_stats
from integrations.models import DataSource, StreamSource
from tests.crm.test_admin_events import event, ingest
from tests.factories import LabelFactory, StaffRoleFactory

pytestmark = pytest.mark.django_db
URL = "admin:crm_event_ingestion"


def _minute(moment: dt.datetime) -> dt.datetime:
    return moment.replace(second=0, microsecond=0)


@pytest.fixture
def traffic(tenant_a, tenant_b):
    """A: 3 events received 10 minutes ago, 2 a minute ago from the replica; B: 7 events received 10 minutes ago.
    None applied yet (this transaction has not committed)."""
    now = timezone.now()
    ten_ago, one_ago = now - dt.timedelta(minutes=10), now - dt.timedelta(minutes=1)
    occurred = (now - dt.timedelta(hours=1)).isoformat()
    ingest(tenant_a.label, *(event(f"a-{i}", occurred_at=occurred) for i in range(3)), received_at=ten_ago)
    ingest(tenant_a.label, event("a-login", "login", occurred_at=occurred), event("a-2nd", occurred_at=occurred),
           received_at=one_ago, source="replica")  # fmt: skip
    ingest(tenant_b.label, *(event(f"b-{i}", occurred_at=occurred) for i in range(7)), received_at=ten_ago)
    return {"now": now, "ten_ago": ten_ago, "one_ago": one_ago}


def test_the_numbers_of_one_label(traffic, tenant_a):
    now = timezone.now()
    [stat] = ingestion_stats(actor=actor_for_user(tenant_a.admin), now=now)
    assert stat.label == tenant_a.label
    assert len(stat.minutes) == 60
    assert stat.minutes[-1] == _minute(now)
    by_minute = dict(zip(stat.minutes, stat.received, strict=True))
    assert by_minute[_minute(traffic["ten_ago"])] == 3
    assert by_minute[_minute(traffic["one_ago"])] == 2
    assert sum(stat.received) == 5
    assert stat.sources == {"api": 3, "replica": 2}
    assert [g.group for g in stat.groups] == ["crm", "gamification", "automation"]
    for lag in stat.groups:
        assert (lag.pending, lag.pending_capped) == (5, False)
        assert abs((lag.oldest_pending_at - traffic["ten_ago"]).total_seconds()) < 1
        assert 599 < lag.lag_seconds(now) < 601
        assert lag.position_at is not None
        assert lag.position_at <= now
        assert (sum(lag.applied), sum(lag.failed), lag.p95_ms()) == (0, 0, None)
        assert (lag.failures_open, lag.failures_parked) == (0, 0)


def test_events_older_than_the_hour_are_left_out_of_the_chart_not_of_the_lag(tenant_a):
    ingest(tenant_a.label, event("old"), received_at=timezone.now() - dt.timedelta(minutes=61))
    [stat] = ingestion_stats(actor=actor_for_user(tenant_a.admin))
    assert sum(stat.received) == 0
    assert stat.sources == {}
    assert [g.pending for g in stat.groups] == [1, 1, 1]  # still pending: the lag has no window


def test_the_pending_count_stops_at_the_cap(tenant_a, monkeypatch):
    from crm import selectors

    monkeypatch.setattr(selectors, "_CAP_PER_PART", 2)  # 16 partitions x 2: the count says "more than" past 32
    monkeypatch.setattr(selectors, "PENDING_CAP", 32)
    ingest(tenant_a.label, *(event(f"e-{i}", user_ext_id="one-player") for i in range(5)))
    [stat] = ingestion_stats(actor=actor_for_user(tenant_a.admin))
    assert [(g.pending, g.pending_capped) for g in stat.groups] == [
        (3, True),
        (3, True),
        (3, True),
    ]  # one partition's 2 + 1


# --- three personas ------------------------------------------------------------------------------------------------
def _panels(response) -> dict[str, dict]:
    assert response.status_code == 200
    return {panel["name"]: panel for panel in response.context["labels"]}


def _kpis(panel) -> dict[str, str]:
    return {kpi["title"]: kpi["value"] for kpi in panel["kpis"]}


def _hints(panel) -> dict[str, str]:
    return {kpi["title"]: kpi["hint"] for kpi in panel["kpis"]}


def test_each_persona_sees_only_its_labels_numbers(traffic, tenant_a, tenant_b, outsider, staff_client):
    a = _panels(staff_client(tenant_a.admin).get(reverse(URL)))
    assert list(a) == [tenant_a.label.name]
    assert _hints(a[tenant_a.label.name])["Lag, crm"] == "5 pending"
    assert _kpis(a[tenant_a.label.name])["Lag, gamification"] == "10 min 0 s"
    assert _kpis(a[tenant_a.label.name])["Failures"] == "0"
    assert sum(json.loads(a[tenant_a.label.name]["chart"])["datasets"][0]["data"]) == 5
    groups = a[tenant_a.label.name]["groups"]
    assert groups["headers"][:4] == ["Group", "Position", "Pending", "Lag"]
    assert [row[0] for row in groups["rows"]] == [
        "<strong>crm</strong>",
        "<strong>gamification</strong>",
        "<strong>automation</strong>",
    ]
    b_response = staff_client(tenant_b.admin).get(reverse(URL))
    b = _panels(b_response)
    assert list(b) == [tenant_b.label.name]
    assert _hints(b[tenant_b.label.name])["Lag, crm"] == "7 pending"
    assert tenant_a.label.name not in b_response.content.decode()
    assert staff_client(outsider).get(reverse(URL)).status_code == 403
    assert staff_client(outsider).get(reverse(URL), {"fragment": "1"}).status_code == 403


@pytest.mark.parametrize("role", [Role.ADMIN, Role.MANAGER, Role.SUPPORT, Role.INTEGRATION_ENGINEER])
def test_every_role_sees_the_dashboard(role, traffic, tenant_a, staff_with_role, staff_client):
    panels = _panels(staff_client(staff_with_role(tenant_a.label, role)).get(reverse(URL)))
    assert _hints(panels[tenant_a.label.name])["Lag, crm"] == "5 pending"


def test_several_labels_get_a_panel_each_and_the_switcher_narrows_them(traffic, tenant_a, tenant_b, staff_client):
    tenant_a.admin.label_roles.create(label=tenant_b.label, role=Role.SUPPORT)
    client = staff_client(tenant_a.admin)
    panels = _panels(client.get(reverse(URL)))
    assert {name: _hints(p)["Lag, crm"] for name, p in panels.items()} == {
        "Label A": "5 pending",
        "Label B": "7 pending",
    }
    session = client.session
    session[SESSION_LABEL_KEY] = tenant_b.label.pk
    session.save()
    assert list(_panels(client.get(reverse(URL)))) == ["Label B"]


def test_the_page_draws_a_chart_and_links_to_the_explorer(traffic, tenant_a, staff_client):
    client = staff_client(tenant_a.admin)
    response = client.get(reverse(URL))
    html = response.content.decode()
    assert 'class="chart"' in html
    assert 'data-type="line"' in html
    assert "cdn" not in html.lower()  # Chart.js comes with unfold's static files
    chart = json.loads(_panels(response)[tenant_a.label.name]["chart"])
    assert [d["label"] for d in chart["datasets"]] == [
        "Received",
        "Applied, crm",
        "Applied, gamification",
        "Applied, automation",
    ]
    explorer = reverse("admin:crm_event_changelist")
    pending = _panels(response)[tenant_a.label.name]["kpis"][2]["url"]
    assert pending == f"{explorer}?label__id__exact={tenant_a.label.pk}&status=pending%3Agamification"
    listed = client.get(pending).context["cl"].result_list
    assert sorted(e.event_id for e in listed) == ["a-0", "a-1", "a-2", "a-2nd", "a-login"]
    failures = reverse("admin:crm_pipelinefailure_changelist")
    assert f"{failures}?label__id__exact={tenant_a.label.pk}&amp;status=open" in html


def test_the_fragment_holds_the_panels_only(traffic, tenant_a, staff_client):
    html = staff_client(tenant_a.admin).get(reverse(URL), {"fragment": "1"}).content.decode()
    assert 'data-refresh="kpis-' in html
    assert 'data-chart="' in html
    assert "<html" not in html


def test_the_sidebar_links_to_the_dashboard(tenant_a, outsider, staff_client):
    assert reverse(URL) in staff_client(tenant_a.admin).get(reverse("admin:index")).content.decode()
    assert reverse(URL) not in staff_client(outsider).get(reverse("admin:index")).content.decode()


def test_the_sidebar_lights_the_dashboard_not_the_explorer_on_the_dashboard(rf):
    dashboard, explorer = reverse(URL), reverse("admin:crm_event_changelist")
    assert navigation.events_active(rf.get(explorer))
    assert navigation.events_active(rf.get(reverse("admin:crm_event_change", args=[1])))
    assert not navigation.events_active(rf.get(dashboard))


@pytest.mark.parametrize("model", [DataSource, StreamSource])
def test_data_source_links_follow_the_integrations_admin(model, tenant_a, staff_with_role, staff_client, monkeypatch):
    opts = model._meta
    for role in (Role.SUPPORT, Role.INTEGRATION_ENGINEER):
        user = staff_with_role(tenant_a.label, role)
        client = staff_client(user)
        url = None
        if admin.site.is_registered(model):
            url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
            shown = client.get(url).status_code == 200
            assert (url in client.get(reverse(URL)).content.decode()) is shown, role
    if admin.site.is_registered(model):
        monkeypatch.delitem(admin.site._registry, model)  # as before the integrations app registered it
    html = staff_client(tenant_a.admin).get(reverse(URL)).content.decode()
    assert f"/admin/{opts.app_label}/{opts.model_name}/" not in html


def test_the_dashboard_costs_the_same_queries_whatever_the_traffic(tenant_a, staff_client, django_assert_num_queries):
    # session, user, roles, the switcher's labels, the sidebar's credit approvals; labels, received per minute,
    # sources, the groups' positions and pending events, their per-minute stats, their open failures
    client = staff_client(tenant_a.admin)
    with django_assert_num_queries(11):
        client.get(reverse(URL))
    now = timezone.now()
    for minutes in range(0, 60, 7):
        ingest(tenant_a.label, event(f"e-{minutes}"), received_at=now - dt.timedelta(minutes=minutes))
    for i in range(3):
        StaffRoleFactory(user=tenant_a.admin, label=LabelFactory(name=f"Extra {i}"), role=Role.SUPPORT)
    with django_assert_num_queries(11):
        response = client.get(reverse(URL))
    assert len(response.context["labels"]) == 4
    # the refresh skips the page around the panels: session, user, roles, then the same six
    with django_assert_num_queries(9):
        client.get(reverse(URL), {"fragment": "1"})
