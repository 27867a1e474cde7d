"""Through the real pipeline (committed pages, positions, failures and retries): each segment change is stored once,
whatever fails or is read again."""

from __future__ import annotations

import pytest
from django.db import OperationalError, connection

from crm import pipeline
from crm.models import Event, PipelineFailure, SegmentMember
from crm.pipeline import failures_schedule, pipeline_drain
from crm.services.segments import segment_save
from tests.crm.segments.conftest import country, ev, ingest

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _pipeline_tables():
    yield
    with connection.cursor() as cursor:  # the pipeline's tables are not flushed between tests
        cursor.execute("DELETE FROM pipeline_failure")
        cursor.execute("DELETE FROM pipeline_worker")


def _unregister(name: str) -> None:
    for regs in pipeline._GROUPS.values():
        regs[:] = [r for r in regs if r.name != name]


def entered(segment) -> list[int]:
    rows = Event.objects.filter(type="segment_entered", payload__segment_id=segment.pk)
    return list(rows.values_list("player_id", flat=True))


def test_a_page_that_breaks_is_read_again_and_stores_the_change_once(tenant_a):
    segment = segment_save(label=tenant_a.label, name="Germans", conditions={"all": [country("DE")]})
    pipeline_drain()
    calls = []

    @pipeline.handler("test-connection-lost", group="crm", order=99)  # after the segments handler
    def lose_connection_once(events) -> None:
        calls.append(len(events))
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")

    try:
        ingest(tenant_a, [ev("pu-1", "profile_update", {"user_country": "DE"})])
        with pytest.raises(OperationalError):
            pipeline_drain(group_names=["crm"])
        assert (entered(segment), SegmentMember.objects.count()) == ([], 0)  # rolled back with the position
        pipeline_drain(group_names=["crm"])
    finally:
        _unregister("test-connection-lost")
    assert entered(segment) == [tenant_a.player.pk]
    pipeline_drain()  # the fact itself goes through every group: nothing more is stored
    assert entered(segment) == [tenant_a.player.pk]


def test_an_event_that_fails_is_retried_and_its_change_stored_once(tenant_a):
    segment = segment_save(label=tenant_a.label, name="Germans", conditions={"all": [country("DE")]})
    pipeline_drain()
    broken = [True]

    @pipeline.handler("test-broken", group="crm", order=99)
    def fail_while_broken(events) -> None:
        if broken[0]:
            raise RuntimeError("handler bug")

    try:
        ingest(tenant_a, [ev("pu-1", "profile_update", {"user_country": "DE"})])
        pipeline_drain(group_names=["crm"])  # the page, then the event alone, fail: recorded, the group moves on
        failure = PipelineFailure.objects.get(group_name="crm")
        assert (entered(segment), SegmentMember.objects.count()) == ([], 0)
        broken[0] = False
        failures_schedule([failure.pk])
        pipeline_drain(group_names=["crm"])
        pipeline_drain(group_names=["crm"])
    finally:
        _unregister("test-broken")
    failure.refresh_from_db()
    assert failure.resolved_at is not None
    assert entered(segment) == [tenant_a.player.pk]
    assert list(SegmentMember.objects.values_list("player_id", flat=True)) == [tenant_a.player.pk]
