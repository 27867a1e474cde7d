"""The event explorer: three personas, read-only events, filters and searches through indexes, an order an index
serves, a fixed number of queries per page, and retrying failed events (admins and integration engineers only).

Events are stored with the ingest service and processed by the pipeline, so what the admin shows is what production
would store. Labels A and B hold events with the same ids, players and brands, so a leak cannot hide.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from backoffice.models import Role
from crm import pipeline
from crm.models import Event, EventType
from crm.pipeline import events_process
from crm.services.events import events_retry
from crm.services.ingest import events_ingest
from tests.factories import PlayerFactory

pytestmark = pytest.mark.django_db

LIST = "admin:crm_event_changelist"
POISON = "Poisoned Reels"  # a game name the test handler refuses: the pipeline sets such events aside
ALL_ROLES = [Role.ADMIN, Role.MANAGER, Role.SUPPORT, Role.INTEGRATION_ENGINEER]
MAY_RETRY = {Role.ADMIN, Role.INTEGRATION_ENGINEER}


# --- helpers other event tests import -----------------------------------------------------------------------------
def event(event_id: str, type_: str = "deposit", payload: dict | None = None, **envelope) -> dict:
    """An event of the tenant's shared brand and player, an hour before it is received unless told otherwise."""
    payloads = {
        "deposit": {"deposit_amount": 50, "deposit_method": "PaySafe"},
        "casino_bet": {"bet_amount": 2.5, "game_id": "g-1", "game_name": "Book of Dead"},
        "login": {"entry_point": "lobby"},
    }
    body = {
        "event_id": event_id,
        "type": type_,
        "ext_brand_id": "shared-brand",
        "user_ext_id": "shared-player",
        "occurred_at": (timezone.now() - dt.timedelta(hours=1)).isoformat(),
        "payload": payloads.get(type_, {}) if payload is None else payload,
    }
    return {**body, **envelope}


def ingest(label, *items, received_at: dt.datetime | None = None, source: str = "api") -> list[int]:
    """Store `items` through the ingest service; every one must be accepted."""
    result = events_ingest(label=label, items=items, source=source, received_at=received_at)
    assert [item.status for item in result.items] == ["accepted"] * len(items), [i.errors for i in result.items]
    return result.new_ids


@pytest.fixture
def poison(monkeypatch):
    """A pipeline handler that fails on bets of the POISON game, as a handler bug would."""

    def refuse(events):
        for row in events:
            if row.payload.get("game_name") == POISON:
                raise RuntimeError(f"no scoring rule for {POISON!r}")

    monkeypatch.setattr(pipeline, "_REGISTRY", [*pipeline._REGISTRY, (1000, "test-poison", refuse)])
    return refuse


def failed_event(label, event_id: str = "bad-1", **envelope) -> Event:
    """A bet the pipeline set aside (needs the `poison` fixture)."""
    payload = {"bet_amount": 5, "game_id": "g-9", "game_name": POISON}
    ids = ingest(label, event(event_id, "casino_bet", payload, **envelope))
    events_process(ids)
    stored = Event.objects.get(pk=ids[0])
    assert stored.processing_error.startswith("RuntimeError: no scoring rule")
    return stored


# --- fixtures ------------------------------------------------------------------------------------------------------
@pytest.fixture
def events_ab(tenant_a, tenant_b, poison):
    """In each label: a processed deposit and bet, a pending login and a failed bet, with the same ids in both."""
    made = {}
    for tenant in (tenant_a, tenant_b):
        ids = ingest(tenant.label, event("d-1"), event("b-1", "casino_bet"), event("l-1", "login"))
        events_process(ids[:2])
        failed_event(tenant.label)
        made[tenant.label.pk] = dict(Event.objects.filter(label=tenant.label).values_list("event_id", "pk"))
    return made


def _listed(client, **params) -> list[str]:
    response = client.get(reverse(LIST), params)
    assert response.status_code == 200
    return [e.event_id for e in response.context["cl"].result_list]


def _url(page: str, pk: int) -> str:
    return reverse(f"admin:crm_event_{page}", args=[pk])


# --- three personas ------------------------------------------------------------------------------------------------
def test_the_explorer_lists_only_the_viewers_label(events_ab, tenant_a, tenant_b, outsider, staff_client):
    for tenant, other in ((tenant_a, tenant_b), (tenant_b, tenant_a)):
        response = staff_client(tenant.admin).get(reverse(LIST))
        assert response.status_code == 200
        listed = {e.pk for e in response.context["cl"].result_list}
        assert listed == set(events_ab[tenant.label.pk].values())
        html = response.content.decode()
        for pk in events_ab[other.label.pk].values():
            assert _url("change", pk) not in html
    assert staff_client(outsider).get(reverse(LIST)).status_code == 403


def test_event_pages_answer_not_found_across_labels(events_ab, tenant_a, tenant_b, outsider, staff_client):
    own, foreign = events_ab[tenant_a.label.pk]["d-1"], events_ab[tenant_b.label.pk]["d-1"]
    client = staff_client(tenant_a.admin)
    for page in ("change", "history"):
        assert client.get(_url(page, own)).status_code == 200, page
        response = client.get(_url(page, foreign))
        assert response.status_code == 404, page
        assert tenant_b.label.name not in response.content.decode()
        assert staff_client(tenant_b.admin).get(_url(page, foreign)).status_code == 200, page
    assert staff_client(outsider).get(_url("change", own)).status_code == 403
    assert staff_client(outsider).get(_url("history", own)).status_code == 404  # Django looks the row up first


@pytest.mark.parametrize("role", ALL_ROLES)
def test_nobody_adds_changes_or_deletes_events(role, events_ab, tenant_a, staff_with_role, staff_client):
    client = staff_client(staff_with_role(tenant_a.label, role))
    pk = events_ab[tenant_a.label.pk]["d-1"]
    assert 'name="_save"' not in client.get(_url("change", pk)).content.decode()
    assert client.post(_url("change", pk), {"event_id": "changed", "type": "login"}).status_code == 403
    assert client.get(reverse("admin:crm_event_add")).status_code == 403
    assert client.post(_url("delete", pk), {"post": "yes"}).status_code == 403
    assert Event.objects.get(pk=pk).event_id == "d-1"


def test_the_event_page_shows_the_envelope_the_payload_and_the_status(events_ab, tenant_a, staff_client):
    client = staff_client(tenant_a.admin)
    html = client.get(_url("change", events_ab[tenant_a.label.pk]["b-1"])).content.decode()
    player_url = reverse("admin:crm_player_change", args=[tenant_a.player.pk])
    for expected in (
        "b-1",
        "casino_bet",
        f'href="{player_url}"',
        "shared-player",
        "REST API",
        "Processed",
        '<th scope="row">game_name</th><td>Book of Dead</td>',
        '<th scope="row">bet_amount</th><td>2.50 EUR</td>',
        '<th scope="row">game_id</th><td>g-1</td>',
    ):
        assert expected in html, expected
    assert "Processing error" not in html

    failed = client.get(_url("change", events_ab[tenant_a.label.pk]["bad-1"])).content.decode()
    assert "Processing error" in failed
    assert "RuntimeError: no scoring rule for &#x27;Poisoned Reels&#x27;" in failed
    assert "Failed" in failed
    pending = client.get(_url("change", events_ab[tenant_a.label.pk]["l-1"])).content.decode()
    assert "Pending" in pending
    assert "Waiting since" in pending


# --- filters and searches ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"type": "deposit"}, {"d-1"}),
        ({"type": "casino_bet"}, {"b-1", "bad-1"}),
        ({"type": "withdrawal"}, set()),
        ({"status": "processed"}, {"d-1", "b-1"}),
        ({"status": "pending"}, {"l-1"}),
        ({"status": "failed"}, {"bad-1"}),
        ({"source__exact": "api"}, {"d-1", "b-1", "l-1", "bad-1"}),
        ({"source__exact": "replica"}, set()),
        ({"q": "shared-player"}, {"d-1", "b-1", "l-1", "bad-1"}),  # a player's exact user_ext_id
        ({"q": " b-1 "}, {"b-1"}),  # an exact event id
        ({"q": "b-"}, set()),  # nothing partial
        ({"q": "shared"}, set()),
    ],
)
def test_filters_and_searches(params, expected, events_ab, tenant_a, staff_client):
    assert set(_listed(staff_client(tenant_a.admin), **params)) == expected


def test_date_ranges_filter_occurred_and_received_times(tenant_a, staff_client):
    now = timezone.now()
    ingest(tenant_a.label, event("old", occurred_at="2026-01-10T12:00:00Z"), received_at=now - dt.timedelta(days=3))
    ingest(tenant_a.label, event("new", occurred_at=(now - dt.timedelta(minutes=5)).isoformat()), received_at=now)
    client = staff_client(tenant_a.admin)
    yesterday = (now - dt.timedelta(days=1)).strftime("%Y-%m-%d")
    assert _listed(client, received_at_from_0=yesterday) == ["new"]
    assert _listed(client, received_at_to_0=yesterday) == ["old"]  # a day without a time: the whole day
    assert _listed(client, occurred_at_from_0="2026-01-10", occurred_at_to_0="2026-01-10") == ["old"]
    assert _listed(client, occurred_at_from_0="2026-01-10", occurred_at_from_1="12:00:01") == ["new"]
    assert _listed(client, occurred_at_from_0="not a date") == []


def test_the_player_filter_shows_one_players_events(events_ab, tenant_a, tenant_b, staff_client):
    other = PlayerFactory(brand=tenant_a.brand, user_ext_id="other-player")
    ingest(tenant_a.label, event("o-1", user_ext_id="other-player"))
    client = staff_client(tenant_a.admin)
    assert _listed(client, player_id=other.pk) == ["o-1"]
    response = client.get(reverse(LIST), {"player_id": other.pk})
    assert "other-player · A casino" in response.content.decode()  # the filter names the player it applies
    assert _listed(client, player_id=tenant_b.player.pk) == []
    assert _listed(client, player_id="nope") == []


def test_the_type_filter_offers_core_types_and_the_labels_custom_types(tenant_a, tenant_b, staff_client):
    EventType.objects.create(label=tenant_a.label, name="tournament_joined", fields=[])
    EventType.objects.create(label=tenant_b.label, name="b_secret_type", fields=[])
    response = staff_client(tenant_a.admin).get(reverse(LIST))
    [type_filter] = [f for f in response.context["cl"].filter_specs if getattr(f, "parameter_name", None) == "type"]
    offered = [value for value, _ in type_filter.lookup_choices]
    assert {"deposit", "casino_bet", "login", "profile_update", "tournament_joined"} <= set(offered)
    assert "b_secret_type" not in offered


def test_a_custom_events_id_is_found_by_search(tenant_a, tenant_b, staff_client):
    for tenant in (tenant_a, tenant_b):
        EventType.objects.create(label=tenant.label, name="tournament_joined", fields=[])
        ingest(tenant.label, event("t-1", "tournament_joined", {}))
    listed = staff_client(tenant_a.admin).get(reverse(LIST), {"q": "t-1"}).context["cl"].result_list
    assert [(e.type, e.label_id) for e in listed] == [("tournament_joined", tenant_a.label.pk)]


# --- order and cost ------------------------------------------------------------------------------------------------
@pytest.fixture
def timeline(tenant_a):
    """Three deposits whose received order, occurred order and id order all differ."""
    now = timezone.now()
    for event_id, occurred_hours_ago, received_minutes_ago in (("x", 1, 10), ("y", 3, 5), ("z", 2, 20)):
        ingest(
            tenant_a.label,
            event(event_id, occurred_at=(now - dt.timedelta(hours=occurred_hours_ago)).isoformat()),
            received_at=now - dt.timedelta(minutes=received_minutes_ago),
        )


def test_the_default_order_is_newest_received_first(timeline, tenant_a, staff_client):
    assert _listed(staff_client(tenant_a.admin)) == ["y", "x", "z"]


@pytest.mark.parametrize("params", [{"type": "deposit"}, {"q": "shared-player"}])
def test_one_type_or_one_player_lists_newest_occurred_first(params, timeline, tenant_a, staff_client):
    assert _listed(staff_client(tenant_a.admin), **params) == ["x", "z", "y"]


def test_several_labels_in_view_list_newest_stored_first(timeline, tenant_a, tenant_b, staff_client):
    # No (label, ...) index orders rows across labels; the primary key does, and ids follow arrival.
    ingest(tenant_b.label, event("b-late"), received_at=timezone.now() - dt.timedelta(minutes=30))
    tenant_a.admin.label_roles.create(label=tenant_b.label, role=Role.SUPPORT)
    client = staff_client(tenant_a.admin)
    assert _listed(client) == ["b-late", "z", "y", "x"]
    assert _listed(client, label__id__exact=tenant_a.label.pk) == ["y", "x", "z"]


def test_columns_do_not_sort(timeline, tenant_a, staff_client):
    client = staff_client(tenant_a.admin)
    for column in range(8):
        assert _listed(client, o=str(column)) == ["y", "x", "z"], column
        assert _listed(client, o=f"-{column}") == ["y", "x", "z"], column


@pytest.mark.parametrize(
    ("params", "queries"),
    [
        ({}, 6),
        ({"type": "deposit", "status": "processed", "source__exact": "api"}, 6),
        ({"q": "shared-player"}, 7),
        ({"q": "no-such-id"}, 7),
        ({"player_id": "PLAYER"}, 7),
    ],
)
def test_the_list_costs_the_same_queries_for_3_or_60_events(
    params, queries, tenant_a, staff_client, django_assert_num_queries
):
    # session, user, roles, the switcher's labels, the label's custom types, the page of events (with players and
    # brands joined); a search adds the player lookup, the player filter the player it names. Never a COUNT.
    params = {k: (tenant_a.player.pk if v == "PLAYER" else v) for k, v in params.items()}
    client = staff_client(tenant_a.admin)
    ids = ingest(tenant_a.label, *(event(f"e-{i}") for i in range(3)))
    events_process(ids)
    with django_assert_num_queries(queries) as captured:
        first = client.get(reverse(LIST), params)
    ingest(tenant_a.label, *(event(f"f-{i}", user_ext_id=f"p-{i % 7}") for i in range(60)))
    with django_assert_num_queries(queries):
        second = client.get(reverse(LIST), params)
    assert not [q["sql"] for q in captured.captured_queries if "COUNT(" in q["sql"].upper()]
    assert len(second.context["cl"].result_list) >= len(first.context["cl"].result_list)


def test_several_labels_add_only_the_label_filter_to_the_cost(
    events_ab, tenant_a, tenant_b, staff_client, django_assert_num_queries
):
    # the six of one label, and the labels the label filter offers
    tenant_a.admin.label_roles.create(label=tenant_b.label, role=Role.SUPPORT)
    client = staff_client(tenant_a.admin)
    with django_assert_num_queries(7) as captured:
        response = client.get(reverse(LIST))
    assert len(response.context["cl"].result_list) == 8
    assert not [q["sql"] for q in captured.captured_queries if "COUNT(" in q["sql"].upper()]


def test_the_event_page_costs_a_fixed_number_of_queries(events_ab, tenant_a, staff_client, django_assert_num_queries):
    # session, user, roles, the switcher's labels, the event with its player, brand and label (read once, though
    # the page, its Retry button and the permission check all need it)
    client = staff_client(tenant_a.admin)
    client.get(_url("change", events_ab[tenant_a.label.pk]["d-1"]))  # content types are cached after a first page
    with django_assert_num_queries(5):
        response = client.get(_url("change", events_ab[tenant_a.label.pk]["bad-1"]))
    assert reverse("admin:crm_event_retry", args=[events_ab[tenant_a.label.pk]["bad-1"]]) in response.content.decode()


# --- retry ---------------------------------------------------------------------------------------------------------
@pytest.fixture
def dispatched(monkeypatch):
    """Ids handed to the broker (the one thing that would leave the machine); run them with events_process."""
    sent: list[list[int]] = []
    monkeypatch.setattr("crm.tasks.dispatch_processing", lambda ids: sent.append(list(ids)))
    return sent


def _retry_selected(client, *pks):
    return client.post(reverse(LIST), {"action": "retry_selected", "_selected_action": [str(pk) for pk in pks]})


def _is_failed(pk: int) -> bool:
    return bool(Event.objects.get(pk=pk).processing_error)


@pytest.mark.parametrize("role", ALL_ROLES)
def test_only_admins_and_integration_engineers_retry(role, events_ab, tenant_a, staff_with_role, staff_client):
    client = staff_client(staff_with_role(tenant_a.label, role))
    allowed = role in MAY_RETRY
    bad = events_ab[tenant_a.label.pk]["bad-1"]
    action_form = client.get(reverse(LIST)).context["action_form"]  # None when the user has no action at all
    choices = [name for name, _ in action_form.fields["action"].choices] if action_form else []
    assert ("retry_selected" in choices) is allowed
    page = client.get(_url("change", bad)).content.decode()
    assert (reverse("admin:crm_event_retry", args=[bad]) in page) is allowed
    assert client.get(reverse("admin:crm_event_retry", args=[bad])).status_code == (200 if allowed else 403)
    _retry_selected(client, bad)
    assert _is_failed(bad) is not allowed


@pytest.mark.parametrize("role", sorted(MAY_RETRY))
def test_retrying_from_the_event_page_requeues_it(role, events_ab, tenant_a, staff_with_role, staff_client, dispatched):
    client = staff_client(staff_with_role(tenant_a.label, role))
    bad = events_ab[tenant_a.label.pk]["bad-1"]
    response = client.post(reverse("admin:crm_event_retry", args=[bad]))
    assert response.status_code == 302
    stored = Event.objects.get(pk=bad)
    assert (stored.processed_at, stored.processing_error) == (None, "")  # back in the backlog
    assert "back in the backlog" in " ".join(str(m) for m in get_messages(response.wsgi_request))
    assert "Retried." in client.get(_url("history", bad)).content.decode()


def test_a_retried_event_is_dispatched_after_commit_and_processed(
    events_ab, tenant_a, monkeypatch, dispatched, django_capture_on_commit_callbacks
):
    bad = events_ab[tenant_a.label.pk]["bad-1"]
    monkeypatch.setattr(pipeline, "_REGISTRY", [e for e in pipeline._REGISTRY if e[1] != "test-poison"])  # fixed
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert events_retry(event_ids=[bad, events_ab[tenant_a.label.pk]["d-1"]]) == [bad]
    assert dispatched == []  # nothing leaves before the commit
    for callback in callbacks:
        callback()
    assert dispatched == [[bad]]
    assert events_process(dispatched[0]) == 1
    stored = Event.objects.get(pk=bad)
    assert stored.processed_at is not None
    assert stored.processing_error == ""
    assert tenant_a.player.aggregate.bet_count == 2  # b-1 and now bad-1


def test_retry_leaves_processed_and_pending_events_alone(events_ab, tenant_a, staff_client):
    before = {e.pk: (e.processed_at, e.processing_error) for e in Event.objects.filter(label=tenant_a.label)}
    ok = [events_ab[tenant_a.label.pk][i] for i in ("d-1", "b-1", "l-1")]
    assert events_retry(event_ids=ok) == []
    response = _retry_selected(staff_client(tenant_a.admin), *ok)
    assert "nothing was re-queued" in " ".join(str(m) for m in get_messages(response.wsgi_request))
    after = {e.pk: (e.processed_at, e.processing_error) for e in Event.objects.filter(label=tenant_a.label)}
    assert after == before


def test_the_retry_button_shows_only_on_failed_events(events_ab, tenant_a, staff_client):
    client = staff_client(tenant_a.admin)
    processed = events_ab[tenant_a.label.pk]["d-1"]
    assert (
        reverse("admin:crm_event_retry", args=[processed]) not in client.get(_url("change", processed)).content.decode()
    )
    response = client.post(reverse("admin:crm_event_retry", args=[processed]))
    assert response.status_code == 302
    assert Event.objects.get(pk=processed).processing_error == ""
    assert "has not failed" in " ".join(str(m) for m in get_messages(response.wsgi_request))


def test_no_one_retries_another_labels_events(events_ab, tenant_a, tenant_b, outsider, staff_client):
    foreign = events_ab[tenant_b.label.pk]["bad-1"]
    for client in (staff_client(tenant_a.admin), staff_client(outsider)):
        assert client.get(reverse("admin:crm_event_retry", args=[foreign])).status_code == 403
        assert client.post(reverse("admin:crm_event_retry", args=[foreign])).status_code == 403
        _retry_selected(client, foreign)
    assert _is_failed(foreign)
    # A user with roles in both labels retries only where the role allows it.
    tenant_a.admin.label_roles.create(label=tenant_b.label, role=Role.SUPPORT)
    _retry_selected(staff_client(tenant_a.admin), foreign, events_ab[tenant_a.label.pk]["bad-1"])
    assert _is_failed(foreign)
    assert not _is_failed(events_ab[tenant_a.label.pk]["bad-1"])
