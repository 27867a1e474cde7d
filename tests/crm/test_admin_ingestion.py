"""The ingestion dashboard: per label in view, events received and processed per minute over the last hour, the
backlog, the lag and the failures, from a fixed number of queries; each persona sees only its labels' numbers."""

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
from crm.models import Event
from crm.pipeline import events_process
from crm.selectors import ingestion_stats
from integrations.models import DataSource, StreamSource
from tests.crm.test_admin_events import event, failed_event, ingest, poison  # noqa: F401 - poison is a fixture
from tests.factories import LabelFactory, StaffRoleFactory

pytestmark = pytest.mark.django_db
URL = "admin:crm_event_ingestion"


def _minute(moment: dt.datetime) -> dt.datetime:
    return moment.replace(second=0, microsecond=0)


@pytest.fixture
def traffic(tenant_a, tenant_b, poison):  # noqa: F811 - the fixture of the same name
    """A: 3 events received 10 minutes ago (processed), 2 a minute ago from the replica (1 pending, 1 failed);
    B: 7 events received 10 minutes ago, all pending."""
    now = timezone.now()
    ten_ago, one_ago = now - dt.timedelta(minutes=10), now - dt.timedelta(minutes=1)
    occurred = (now - dt.timedelta(hours=1)).isoformat()
    events_process(
        ingest(tenant_a.label, *(event(f"a-{i}", occurred_at=occurred) for i in range(3)), received_at=ten_ago)
    )
    ingest(tenant_a.label, event("a-pending", "login", occurred_at=occurred), received_at=one_ago, source="replica")
    failed_event(tenant_a.label, "a-failed", occurred_at=occurred)
    Event.objects.filter(event_id="a-failed").update(received_at=one_ago, source="replica")
    ingest(tenant_b.label, *(event(f"b-{i}", occurred_at=occurred) for i in range(7)), received_at=ten_ago)
    return {"now": now, "ten_ago": ten_ago, "one_ago": one_ago}


def test_the_numbers_of_one_label(traffic, tenant_a):
    [stat] = ingestion_stats(actor_for_user(tenant_a.admin), now=timezone.now())
    assert stat.label == tenant_a.label
    assert len(stat.minutes) == 60
    assert stat.minutes[-1] == _minute(timezone.now())
    by_minute = dict(zip(stat.minutes, stat.received, strict=True))
    assert by_minute[_minute(traffic["ten_ago"])] == 3
    assert by_minute[_minute(traffic["one_ago"])] == 2
    assert sum(stat.received) == 5
    assert sum(stat.processed) == 3  # the failed one is not counted as processed
    assert stat.processed[-1] + stat.processed[-2] == 3  # processed just now (in this minute or the last)
    assert stat.backlog == 1
    assert abs((stat.oldest_waiting_at - traffic["one_ago"]).total_seconds()) < 1
    assert stat.failed == 1
    assert stat.sources == {"api": (3, 0), "replica": (2, 1)}
    assert stat.lag_p95_seconds is None  # nothing received in the last 5 minutes was processed


def test_the_lag_is_the_95th_percentile_of_recent_events(tenant_a):
    now = timezone.now()
    for seconds in (20, 40, 60, 80, 100, 120, 140, 160, 180, 200):
        events_process(ingest(tenant_a.label, event(f"e-{seconds}"), received_at=now - dt.timedelta(seconds=seconds)))
    ingest(tenant_a.label, event("old"), received_at=now - dt.timedelta(minutes=30))  # outside the 5 minutes
    [stat] = ingestion_stats(actor_for_user(tenant_a.admin))
    # processed a moment after `now`: the lags are the ages above, plus that moment
    assert 191 <= stat.lag_p95_seconds < 200
    assert stat.backlog == 1
    assert 29 * 60 < (timezone.now() - stat.oldest_waiting_at).total_seconds() < 31 * 60


def test_events_older_than_the_hour_are_left_out(tenant_a):
    ingest(tenant_a.label, event("old"), received_at=timezone.now() - dt.timedelta(minutes=61))
    [stat] = ingestion_stats(actor_for_user(tenant_a.admin))
    assert sum(stat.received) == 0
    assert stat.sources == {}
    assert stat.backlog == 1  # still waiting: the backlog has no window


# --- three personas ------------------------------------------------------------------------------------------------
def _panels(response) -> dict[str, dict]:
    assert response.status_code == 200
    return {panel["name"]: panel for panel in response.context["labels"]}


def _kpis(panel) -> dict[str, str]:
    return {kpi["title"]: kpi["value"] for kpi in panel["kpis"]}


def test_each_persona_sees_only_its_labels_numbers(traffic, tenant_a, tenant_b, outsider, staff_client):
    a = _panels(staff_client(tenant_a.admin).get(reverse(URL)))
    assert list(a) == [tenant_a.label.name]
    assert _kpis(a[tenant_a.label.name])["Backlog"] == "1"
    assert _kpis(a[tenant_a.label.name])["Failed"] == "1"
    assert sum(json.loads(a[tenant_a.label.name]["chart"])["datasets"][0]["data"]) == 5
    b_response = staff_client(tenant_b.admin).get(reverse(URL))
    b = _panels(b_response)
    assert list(b) == [tenant_b.label.name]
    assert _kpis(b[tenant_b.label.name])["Backlog"] == "7"
    assert tenant_a.label.name not in b_response.content.decode()
    assert staff_client(outsider).get(reverse(URL)).status_code == 403
    assert staff_client(outsider).get(reverse(URL), {"fragment": "1"}).status_code == 403


@pytest.mark.parametrize("role", [Role.ADMIN, Role.MANAGER, Role.SUPPORT, Role.INTEGRATION_ENGINEER])
def test_every_role_sees_the_dashboard(role, traffic, tenant_a, staff_with_role, staff_client):
    panels = _panels(staff_client(staff_with_role(tenant_a.label, role)).get(reverse(URL)))
    assert _kpis(panels[tenant_a.label.name])["Backlog"] == "1"


def test_several_labels_get_a_panel_each_and_the_switcher_narrows_them(traffic, tenant_a, tenant_b, staff_client):
    tenant_a.admin.label_roles.create(label=tenant_b.label, role=Role.SUPPORT)
    client = staff_client(tenant_a.admin)
    panels = _panels(client.get(reverse(URL)))
    assert {name: _kpis(p)["Backlog"] for name, p in panels.items()} == {"Label A": "1", "Label B": "7"}
    session = client.session
    session[SESSION_LABEL_KEY] = tenant_b.label.pk
    session.save()
    assert list(_panels(client.get(reverse(URL)))) == ["Label B"]


def test_the_page_draws_a_chart_and_links_to_the_explorer(traffic, tenant_a, staff_client):
    response = staff_client(tenant_a.admin).get(reverse(URL))
    html = response.content.decode()
    assert 'class="chart"' in html
    assert 'data-type="line"' in html
    assert "cdn" not in html.lower()  # Chart.js comes with unfold's static files
    explorer = reverse("admin:crm_event_changelist")
    failed = _panels(response)[tenant_a.label.name]["kpis"][-1]["url"]
    assert failed.startswith(f"{explorer}?label__id__exact={tenant_a.label.pk}&status=failed&received_at_from_0=")
    listed = staff_client(tenant_a.admin).get(failed).context["cl"].result_list
    assert [e.event_id for e in listed] == ["a-failed"]
    assert f"{explorer}?label__id__exact={tenant_a.label.pk}&amp;status=pending" in html


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
    # session, user, roles, the switcher's labels; labels, received and processed per minute, sources, backlog, lag
    client = staff_client(tenant_a.admin)
    with django_assert_num_queries(10):
        client.get(reverse(URL))
    now = timezone.now()
    for minutes in range(0, 60, 7):
        ingest(tenant_a.label, event(f"e-{minutes}"), received_at=now - dt.timedelta(minutes=minutes))
    for i in range(3):
        StaffRoleFactory(user=tenant_a.admin, label=LabelFactory(name=f"Extra {i}"), role=Role.SUPPORT)
    with django_assert_num_queries(10):
        response = client.get(reverse(URL))
    assert len(response.context["labels"]) == 4
    # the refresh skips the page around the panels: the roles, then the same six
    with django_assert_num_queries(9):
        client.get(reverse(URL), {"fragment": "1"})
