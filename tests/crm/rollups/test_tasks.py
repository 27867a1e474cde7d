"""A lost backfill task is queued again by the beat: stalled specs only (the task itself: test_backfill.py)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from crm.models import RollupSpec, RollupStatus
from crm.services.rollups import rollup_backfills_stalled, rollup_spec_ensure
from crm.tasks_rollups import rollup_backfill, rollup_backfills_resume

pytestmark = pytest.mark.django_db

COUNT = {"event_type": "deposit", "measure": "count", "window": {"last_days": 30}}


def test_a_stalled_backfill_is_queued_again_and_a_running_one_is_not(tenant_a, monkeypatch):
    stalled = rollup_spec_ensure(label_id=tenant_a.label.pk, behaviour=COUNT)
    running = rollup_spec_ensure(label_id=tenant_a.label.pk, behaviour={**COUNT, "event_type": "login"})
    ready = rollup_spec_ensure(label_id=tenant_a.label.pk, behaviour={**COUNT, "event_type": "withdrawal"})
    old = timezone.now() - dt.timedelta(minutes=10)
    RollupSpec.objects.filter(pk__in=[stalled.pk, running.pk, ready.pk]).update(created_at=old)
    RollupSpec.objects.filter(pk=running.pk).update(backfill_seen_at=timezone.now())
    RollupSpec.objects.filter(pk=ready.pk).update(status=RollupStatus.READY)
    queued: list[int] = []
    monkeypatch.setattr(rollup_backfill, "delay", queued.append)

    assert rollup_backfills_stalled() == [stalled.pk]
    assert rollup_backfills_resume() == 1
    assert queued == [stalled.pk]
