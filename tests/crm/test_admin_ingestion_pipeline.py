"""The ingestion dashboard over what the pipeline really did: throughput, p95 from acceptance to applied, failures
open and parked per group, a group held behind while another keeps up. These tests commit (transactional database):
the pipeline's ticks only see committed transactions."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from backoffice.scoping import actor_for_user
from crm.models import PipelineFailure
from crm.pipeline import pipeline_drain
from crm.selectors import ingestion_stats
from tests.crm.test_admin_events import bad_bet, event, ingest
from tests.crm.test_admin_events_status import poison  # noqa: F401 - a fixture

pytestmark = pytest.mark.django_db(transaction=True)
URL = "admin:crm_event_ingestion"


def test_applied_failed_and_pending_per_group(tenant_a, tenant_b, poison, staff_client):  # noqa: F811
    ingest(tenant_a.label, *(event(f"a-{i}", user_ext_id=f"p-{i}") for i in range(6)), bad_bet(), bad_bet("bad-2"))
    ingest(tenant_b.label, event("b-1"))
    pipeline_drain()
    PipelineFailure.objects.filter(event__event_id="bad-2").update(retry_after=None)  # parked after its retries
    ingest(tenant_a.label, event("late"))  # after the pipeline ran: pending in both groups

    now = timezone.now()
    [stat] = ingestion_stats(actor=actor_for_user(tenant_a.admin), now=now)
    crm, gamification, automation = stat.groups
    assert (sum(crm.applied), sum(crm.failed)) == (8, 0)
    assert (sum(gamification.applied), sum(gamification.failed)) == (6, 2)
    assert (crm.failures_open, crm.failures_parked) == (0, 0)
    assert (gamification.failures_open, gamification.failures_parked) == (1, 1)
    assert stat.failures_open == 2
    assert (crm.pending, gamification.pending, automation.pending) == (1, 1, 1)
    assert (sum(automation.applied), sum(automation.failed)) == (8, 0)  # no rule, no failure: each event applied
    assert sum(crm.latency_ms) == 8  # each applied event in the histogram, failures included
    assert crm.p95_ms() is not None
    assert crm.p95_ms() <= 30000
    assert crm.position_at <= now

    response = staff_client(tenant_a.admin).get(reverse(URL))
    [panel] = response.context["labels"]
    kpis = {kpi["title"]: kpi for kpi in panel["kpis"]}
    assert (kpis["Failures"]["value"], kpis["Failures"]["alert"]) == ("2", True)
    assert kpis["Lag, crm"]["hint"] == "1 pending"
    rows = {row[0]: row for row in panel["groups"]["rows"]}
    gam = rows["<strong>gamification</strong>"]
    failures = reverse("admin:crm_pipelinefailure_changelist")
    assert f"{failures}?label__id__exact={tenant_a.label.pk}&amp;group=gamification&amp;status=open" in gam[7]
    assert f"{failures}?label__id__exact={tenant_a.label.pk}&amp;group=gamification&amp;status=parked" in gam[8]
    assert rows["<strong>crm</strong>"][7:] == ["0", "0"]
    assert gam[6].startswith("≤ ")  # the p95's bucket
