"""Pipeline failures in the admin: the events a consumer group failed on, per label (label A / label B / outsider),
filtered by group, status and label, read-only, and retried now by those who run the label's data sources.

These tests commit (transactional database): failures are recorded by the real pipeline over committed events.
"""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from backoffice.models import Role
from crm.models import PipelineFailure
from crm.pipeline import pipeline_drain
from tests.crm.test_admin_events import ALL_ROLES, MAY_RETRY, bad_bet, event, ingest
from tests.crm.test_admin_events_status import poison  # noqa: F401 - a fixture

pytestmark = pytest.mark.django_db(transaction=True)
LIST = "admin:crm_pipelinefailure_changelist"


@pytest.fixture
def failures_ab(tenant_a, tenant_b, poison):  # noqa: F811
    """Per label: bad-1 retrying, bad-2 parked, bad-3 resolved (all in the gamification group)."""
    for tenant in (tenant_a, tenant_b):
        ingest(tenant.label, event("ok-1"), bad_bet("bad-1"), bad_bet("bad-2"), bad_bet("bad-3"))
    pipeline_drain()
    PipelineFailure.objects.filter(event__event_id="bad-2").update(retry_after=None, attempts=6)
    PipelineFailure.objects.filter(event__event_id="bad-3").update(resolved_at=timezone.now())
    return {
        tenant.label.pk: dict(PipelineFailure.objects.filter(label=tenant.label).values_list("event__event_id", "pk"))
        for tenant in (tenant_a, tenant_b)
    }


def _listed(client, **params) -> list[str]:
    response = client.get(reverse(LIST), params)
    assert response.status_code == 200
    return sorted(f.event.event_id for f in response.context["cl"].result_list)


def _change(pk: int) -> str:
    return reverse("admin:crm_pipelinefailure_change", args=[pk])


def _retry(pk: int) -> str:
    return reverse("admin:crm_pipelinefailure_retry", args=[pk])


def test_each_persona_sees_its_labels_failures_only(failures_ab, tenant_a, tenant_b, outsider, staff_client):
    for tenant, other in ((tenant_a, tenant_b), (tenant_b, tenant_a)):
        client = staff_client(tenant.admin)
        assert _listed(client) == ["bad-1", "bad-2", "bad-3"]
        html = client.get(reverse(LIST)).content.decode()
        for pk in failures_ab[other.label.pk].values():
            assert _change(pk) not in html
        own, foreign = failures_ab[tenant.label.pk]["bad-1"], failures_ab[other.label.pk]["bad-1"]
        assert client.get(_change(own)).status_code == 200
        assert client.get(_change(foreign)).status_code == 404
    assert staff_client(outsider).get(reverse(LIST)).status_code == 403
    assert staff_client(outsider).get(_change(failures_ab[tenant_a.label.pk]["bad-1"])).status_code == 403


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status": "open"}, ["bad-1", "bad-2"]),
        ({"status": "retrying"}, ["bad-1"]),
        ({"status": "parked"}, ["bad-2"]),
        ({"status": "resolved"}, ["bad-3"]),
        ({"group": "gamification"}, ["bad-1", "bad-2", "bad-3"]),
        ({"group": "crm"}, []),
        ({"q": " bad-2 "}, ["bad-2"]),  # an exact event id
        ({"q": "bad"}, []),
    ],
)
def test_filters(params, expected, failures_ab, tenant_a, staff_client):
    assert _listed(staff_client(tenant_a.admin), **params) == expected


def test_the_label_filter_narrows_several_labels(failures_ab, tenant_a, tenant_b, staff_client):
    tenant_a.admin.label_roles.create(label=tenant_b.label, role=Role.SUPPORT)
    client = staff_client(tenant_a.admin)
    assert len(_listed(client)) == 6
    assert _listed(client, label__id__exact=tenant_b.label.pk) == ["bad-1", "bad-2", "bad-3"]
    assert "Label B" in client.get(reverse(LIST)).content.decode()


def test_the_list_and_the_page_say_what_failed_and_what_happens_next(failures_ab, tenant_a, staff_client):
    client = staff_client(tenant_a.admin)
    html = client.get(reverse(LIST)).content.decode()
    for expected in ("gamification", "test-poison", "RuntimeError: no scoring rule", "Parked: staff retry it",
                     "Retrying", "Parked", "Resolved", reverse("admin:crm_event_changelist")):  # fmt: skip
        assert expected in html, expected
    page = client.get(_change(failures_ab[tenant_a.label.pk]["bad-2"])).content.decode()
    assert "RuntimeError: no scoring rule for &#x27;Poisoned Reels&#x27;" in page
    assert ">6<" in page  # attempts
    assert 'name="_save"' not in page
    assert client.post(_change(failures_ab[tenant_a.label.pk]["bad-2"]), {"error": "x"}).status_code == 403
    assert client.get(reverse("admin:crm_pipelinefailure_add")).status_code == 403


def _scheduled(pk: int) -> bool:
    failure = PipelineFailure.objects.get(pk=pk)
    return failure.retry_after is not None and failure.retry_after <= timezone.now()


@pytest.mark.parametrize("role", ALL_ROLES)
def test_only_admins_and_integration_engineers_retry(role, failures_ab, tenant_a, staff_with_role, staff_client):
    client = staff_client(staff_with_role(tenant_a.label, role))
    allowed = role in MAY_RETRY
    parked = failures_ab[tenant_a.label.pk]["bad-2"]
    assert (_retry(parked) in client.get(_change(parked)).content.decode()) is allowed
    assert client.get(_retry(parked)).status_code == (200 if allowed else 403)
    client.post(reverse(LIST), {"action": "retry_selected", "_selected_action": [str(parked)]})
    assert _scheduled(parked) is allowed


def test_retry_now_applies_a_parked_failure_once_after_the_fix(failures_ab, tenant_a, poison, staff_client):  # noqa: F811
    client = staff_client(tenant_a.admin)
    ids = failures_ab[tenant_a.label.pk]
    poison["broken"] = False
    response = client.post(
        reverse(LIST), {"action": "retry_selected", "_selected_action": [str(pk) for pk in ids.values()]}
    )
    assert "Scheduled a retry of 2 failure(s)" in " ".join(str(m) for m in get_messages(response.wsgi_request))
    pipeline_drain()
    assert _listed(client, status="resolved") == ["bad-1", "bad-2", "bad-3"]
    assert _retry(ids["bad-2"]) not in client.get(_change(ids["bad-2"])).content.decode()  # resolved: nothing to retry
    response = client.post(_retry(ids["bad-2"]))
    assert "This failure is resolved" in " ".join(str(m) for m in get_messages(response.wsgi_request))


def test_no_one_retries_another_labels_failures(failures_ab, tenant_a, tenant_b, outsider, staff_client):
    foreign = failures_ab[tenant_b.label.pk]["bad-2"]
    a_client = staff_client(tenant_a.admin)
    assert a_client.get(_retry(foreign)).status_code == 404
    assert a_client.post(_retry(foreign)).status_code == 404
    assert staff_client(outsider).post(_retry(foreign)).status_code == 403
    for client in (a_client, staff_client(outsider)):
        client.post(reverse(LIST), {"action": "retry_selected", "_selected_action": [str(foreign)]})
    assert not _scheduled(foreign)
    tenant_a.admin.label_roles.create(label=tenant_b.label, role=Role.SUPPORT)  # may see B, not retry there
    a_client.post(reverse(LIST), {"action": "retry_selected", "_selected_action": [str(foreign)]})
    assert not _scheduled(foreign)


def test_the_sidebar_links_to_the_failures_next_to_the_dashboard(tenant_a, outsider, staff_client):
    html = staff_client(tenant_a.admin).get(reverse("admin:index")).content.decode()
    assert reverse(LIST) in html
    assert html.index(reverse("admin:crm_event_ingestion")) < html.index(reverse(LIST))
    assert reverse(LIST) not in staff_client(outsider).get(reverse("admin:index")).content.decode()


def test_the_list_costs_the_same_queries_for_3_or_13_failures(
    failures_ab, tenant_a, staff_client, django_assert_num_queries
):
    # session, user, roles, the switcher's labels, the sidebar's credit approvals, the count and the page (with each
    # failure's event, player and label joined)
    client = staff_client(tenant_a.admin)
    client.get(reverse(LIST))
    with django_assert_num_queries(7):
        assert len(client.get(reverse(LIST)).context["cl"].result_list) == 3
    ingest(tenant_a.label, *(bad_bet(f"more-{i}", user_ext_id=f"p-{i}") for i in range(10)))
    pipeline_drain()
    with django_assert_num_queries(7):
        assert len(client.get(reverse(LIST)).context["cl"].result_list) == 13
