"""Live membership (one statement, no rebuild), the tracked membership kept by the crm group's handler and by the
refresh, and their segment_entered / segment_left events: each change stored exactly once."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction

from backoffice.errors import DomainValidationError
from crm.models import Event, Player, Segment, SegmentMember
from crm.pipeline import events_apply, registered
from crm.services.segments import (
    segment_contains,
    segment_count,
    segment_member_ids,
    segment_query,
    segment_refresh,
    segment_save,
)
from tests.crm.segments.conftest import country, ev, ingest
from tests.factories import PlayerFactory

pytestmark = pytest.mark.django_db


def segment_events(segment) -> list[tuple[str, int, dict]]:
    rows = Event.objects.filter(type__in=["segment_entered", "segment_left"], payload__segment_id=segment.pk)
    return [(e.type, e.player_id, e.payload) for e in rows.order_by("id")]


def members(segment) -> set[int]:
    return set(SegmentMember.objects.filter(segment=segment).values_list("player_id", flat=True))


def test_a_new_conditions_segment_starts_with_active_accounts_only_and_it_can_be_removed(tenant_a):
    segment = segment_save(label=tenant_a.label, name="Everyone active")
    assert segment.conditions == {"all": [{"field": "core_account_status", "op": "eq", "value": "ACTIVE"}]}
    blocked = PlayerFactory(brand=tenant_a.brand, core_account_status="BLOCKED")
    assert segment_member_ids(segment=segment, player_ids=[tenant_a.player.pk, blocked.pk]) == {tenant_a.player.pk}
    segment = segment_save(label=tenant_a.label, name="Everyone", conditions={"all": []}, segment=segment)
    assert segment_member_ids(segment=segment, player_ids=[tenant_a.player.pk, blocked.pk]) == {
        tenant_a.player.pk,
        blocked.pk,
    }


def test_an_invalid_tree_is_refused_naming_its_path_and_nothing_is_saved(tenant_a):
    tree = {"all": [country("MT"), {"field": "no_such_field", "op": "eq", "value": 1}]}
    with pytest.raises(DomainValidationError) as caught:
        segment_save(label=tenant_a.label, name="Broken", conditions=tree)
    assert any(path.startswith("conditions.all[1]") for path in caught.value.errors), caught.value.errors
    assert not Segment.objects.filter(name="Broken").exists()


def test_name_is_required_and_unique_per_label(tenant_a, tenant_b, make_segment):
    make_segment(tenant_a, name="Malta")
    with pytest.raises(DomainValidationError) as caught:
        make_segment(tenant_a, name=" Malta ")
    assert caught.value.errors == {"name": ["A segment of this label already has this name."]}
    make_segment(tenant_b, name="Malta")  # another label may use it
    with pytest.raises(DomainValidationError) as caught:
        make_segment(tenant_a, name="  ")
    assert caught.value.errors == {"name": ["This field is required."]}


def test_live_membership_count_and_query_need_no_rebuild(tenant_a, make_segment):
    segment = make_segment(tenant_a)  # user_country MT
    germans = [PlayerFactory(brand=tenant_a.brand, user_country="DE") for _ in range(3)]
    maltese = [tenant_a.player, *(PlayerFactory(brand=tenant_a.brand) for _ in range(2))]
    assert segment_count(segment=segment) == 3
    assert segment_member_ids(segment=segment, player_ids=[p.pk for p in germans + maltese]) == {p.pk for p in maltese}
    assert segment_contains(segment=segment, player_id=maltese[1].pk)
    assert not segment_contains(segment=segment, player_id=germans[0].pk)
    Player.objects.filter(pk=germans[0].pk).update(user_country="MT")  # no event, no refresh: still answered live
    assert segment_contains(segment=segment, player_id=germans[0].pk)
    assert segment_count(segment=segment) == 4
    sql, params = segment_query(segment=segment)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        assert {r[0] for r in cursor.fetchall()} == {germans[0].pk, *(p.pk for p in maltese)}


def test_the_segments_handler_runs_last_in_the_crm_group():
    names = registered("crm")
    assert names[-1] == "segments"
    assert names.index("profile") < names.index("aggregates") < names.index("segments")


def test_entering_and_leaving_are_events_stored_once_even_when_the_events_are_applied_again(tenant_a, make_segment):
    segment = make_segment(tenant_a, conditions={"all": [country("DE")]})
    player = tenant_a.player  # MT: not in
    first = ingest(tenant_a, [ev("pu-1", "profile_update", {"user_country": "DE"})])
    events_apply(first)
    assert members(segment) == {player.pk}
    payload = {"segment_id": segment.pk, "segment_name": segment.name}
    assert segment_events(segment) == [("segment_entered", player.pk, payload)]
    entered = Event.objects.get(type="segment_entered")
    assert (entered.source, entered.label_id) == ("system", tenant_a.label.pk)

    events_apply(first)  # the same events again: nothing changes, nothing is stored twice
    assert segment_events(segment) == [("segment_entered", player.pk, payload)]

    second = ingest(tenant_a, [ev("pu-2", "profile_update", {"user_country": "FR"})])
    events_apply(second)
    events_apply(second)
    assert members(segment) == set()
    assert segment_events(segment) == [("segment_entered", player.pk, payload), ("segment_left", player.pk, payload)]


def test_a_rolled_back_batch_stores_neither_the_change_nor_its_event(tenant_a, make_segment):
    segment = make_segment(tenant_a, conditions={"all": [country("DE")]})
    ids = ingest(tenant_a, [ev("pu-1", "profile_update", {"user_country": "DE"})])

    class Killed(Exception):
        pass

    def killed_before_commit() -> None:
        with transaction.atomic():
            events_apply(ids)
            assert members(segment) == {tenant_a.player.pk}
            raise Killed

    with pytest.raises(Killed):  # a worker killed after the handlers, before the commit
        killed_before_commit()
    assert (members(segment), segment_events(segment)) == (set(), [])
    events_apply(ids)  # the page is read again by another worker
    assert members(segment) == {tenant_a.player.pk}
    assert [t for t, _, _ in segment_events(segment)] == ["segment_entered"]


def test_the_event_source_id_is_derived_from_its_cause_so_a_replay_never_doubles_it(tenant_a, make_segment):
    segment = make_segment(tenant_a, conditions={"all": [country("DE")]})
    ids = ingest(tenant_a, [ev("pu-1", "profile_update", {"user_country": "DE"})])
    events_apply(ids)
    SegmentMember.objects.filter(segment=segment).delete()  # as if the tracked change were lost but the event kept
    events_apply(ids)
    assert members(segment) == {tenant_a.player.pk}
    assert [t for t, _, _ in segment_events(segment)] == ["segment_entered"]
    assert Event.objects.get(type="segment_entered").event_id == f"{segment.pk}:{tenant_a.player.pk}:in:e{ids[0]}"


def test_only_the_batchs_players_are_evaluated_and_other_labels_are_untouched(tenant_a, tenant_b, make_segment):
    segment_a = make_segment(tenant_a, conditions={"all": [country("MT")]})
    segment_b = make_segment(tenant_b, conditions={"all": [country("MT")]})
    bystander = PlayerFactory(brand=tenant_a.brand)  # MT, but has no event in the batch
    ids = ingest(tenant_a, [ev("login-1", "login", {})])
    events_apply(ids)
    assert members(segment_a) == {tenant_a.player.pk}
    assert bystander.pk not in members(segment_a)
    assert members(segment_b) == set()


def test_paused_and_imported_segments_are_not_tracked_by_the_handler(tenant_a, make_segment):
    paused = make_segment(tenant_a, name="Paused", status="paused")
    imported = make_segment(tenant_a, name="List", kind="imported")
    events_apply(ingest(tenant_a, [ev("login-1", "login", {})]))
    assert members(paused) == members(imported) == set()


def test_segment_events_alone_do_not_trigger_a_new_evaluation(tenant_a, make_segment):
    segment = make_segment(tenant_a, conditions={"all": [country("DE")]})
    events_apply(ingest(tenant_a, [ev("pu-1", "profile_update", {"user_country": "DE"})]))
    Player.objects.filter(pk=tenant_a.player.pk).update(user_country="MT")  # changed with no event
    events_apply(list(Event.objects.filter(type="segment_entered").values_list("id", flat=True)))
    assert members(segment) == {tenant_a.player.pk}  # the fact changed no state: not re-evaluated


def test_the_refresh_catches_changes_no_event_brought_and_emits_them_once(tenant_a, make_segment):
    segment = make_segment(tenant_a)  # MT
    others = [PlayerFactory(brand=tenant_a.brand, user_country="DE") for _ in range(2)]
    assert segment_refresh(segment=segment) == (1, 0)
    assert members(segment) == {tenant_a.player.pk}
    Player.objects.filter(pk=others[0].pk).update(user_country="MT")
    Player.objects.filter(pk=tenant_a.player.pk).update(user_country="DE")
    assert segment_refresh(segment=segment) == (1, 1)
    assert segment_refresh(segment=segment) == (0, 0)
    assert members(segment) == {others[0].pk}
    assert [(t, p) for t, p, _ in segment_events(segment)] == [
        ("segment_entered", tenant_a.player.pk),
        ("segment_entered", others[0].pk),
        ("segment_left", tenant_a.player.pk),
    ]
    segment.refresh_from_db()
    assert segment.refreshed_at is not None


def test_a_paused_segment_is_not_refreshed(tenant_a, make_segment):
    segment = make_segment(tenant_a, status="paused")
    assert segment_refresh(segment=segment) == (0, 0)
    assert members(segment) == set()


def test_a_behaviour_segment_is_entered_as_the_deposits_are_applied(tenant_a, make_segment):
    two_deposits = {
        "behaviour": {"event_type": "deposit", "where": [], "measure": "count", "window": {"last_days": 7}},
        "op": "gte",
        "value": 2,
    }
    segment = make_segment(tenant_a, name="Two deposits this week", conditions={"all": [two_deposits]})
    assert segment_count(segment=segment) == 0  # compiling it sets up its roll-up
    deposit = {"deposit_amount": 10}
    today = dt.datetime.now(dt.UTC).isoformat()  # inside the window, whatever day the test runs
    first = ingest(tenant_a, [{**ev("d-1", "deposit", deposit), "occurred_at": today}])
    events_apply(first)
    assert members(segment) == set()
    second = ingest(tenant_a, [{**ev("d-2", "deposit", deposit), "occurred_at": today}])
    events_apply(second)
    assert members(segment) == {tenant_a.player.pk}
    assert [t for t, _, _ in segment_events(segment)] == ["segment_entered"]


def test_the_handler_costs_one_statement_per_segment_whatever_the_batch_size(tenant_a, make_segment, monkeypatch):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from crm.handlers_segments import track_segments
    from crm.pipeline import EventRow

    segments = [make_segment(tenant_a, name=c, conditions={"all": [country(c)]}) for c in ("MT", "DE")]
    players = [PlayerFactory(brand=tenant_a.brand, user_country="DE") for _ in range(20)]
    ids = ingest(tenant_a, [ev(f"l-{p.pk}-{n}", "login", {}, user=p.user_ext_id) for p in players for n in range(3)])
    rows = [
        EventRow(e.id, e.label_id, e.player_id, e.type, e.occurred_at, e.received_at, e.payload)
        for e in Event.objects.filter(pk__in=ids)
    ]
    monkeypatch.setattr("crm.services.segments.COMPILE_TTL", 3600)  # compiled once (the label's time zone...)
    track_segments(rows[:1])
    with CaptureQueriesContext(connection) as ctx:
        track_segments(rows)
    # the label's segments, the locks, then one statement per segment for the 20 players' 60 events
    assert len(ctx.captured_queries) == 2 + len(segments)
    assert members(segments[1]) == {p.pk for p in players}
    assert members(segments[0]) == set()


def test_saving_a_segment_refreshes_it_after_the_commit(tenant_a, monkeypatch, django_capture_on_commit_callbacks):
    from crm.tasks_segments import segment_refresh_task

    monkeypatch.setattr(segment_refresh_task, "delay", lambda segment_id: segment_refresh_task(segment_id))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        segment = segment_save(label=tenant_a.label, name="Malta", conditions={"all": [country("MT")]})
        assert members(segment) == set()  # nothing before the commit
    assert len(callbacks) == 1
    assert members(segment) == {tenant_a.player.pk}
    assert [t for t, _, _ in segment_events(segment)] == ["segment_entered"]


def test_the_live_check_is_a_statement_prepared_once_per_connection(tenant_a):
    """Planning a tree costs more than running it for one player: the check is prepared on the connection (Django
    leaves psycopg's preparing off unless DATABASE_PREPARED_STATEMENTS, on by default, turns it on)."""
    from django.db import connection

    segment = segment_save(label=tenant_a.label, name="Active", conditions={"all": [country("MT")]})
    for _ in range(3):
        segment_contains(segment=segment, player_id=tenant_a.player.pk)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE NOT from_sql")
        assert cursor.fetchone()[0] == 1
