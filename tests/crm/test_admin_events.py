"""The event explorer: three personas, read-only events, filters and searches through indexes, an order an index
serves, a fixed number of queries per page.

Events are stored with the ingest service, so what the admin shows is what production would store. Labels A and B
hold events with the same ids, players and brands, so a leak cannot hide. These tests run in one transaction, which no
pipeline tick can see: their events are pending in every group. Applied and failed events, and retrying them, need
the real pipeline over committed events: tests/crm/test_admin_events_status.py.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from backoffice.models import Role
from crm import pipeline
from crm.models import Event, EventType
from crm.pipeline import events_apply
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
    """A handler of the gamification group that fails on bets of the POISON game, as a handler bug would."""

    def refuse(events):
        for row in events:
            if row.payload.get("game_name") == POISON:
                raise RuntimeError(f"no scoring rule for {POISON!r}")

    poisoned = [*pipeline._GROUPS["gamification"], pipeline._Registered(1000, "test-poison", refuse)]
    monkeypatch.setitem(pipeline._GROUPS, "gamification", poisoned)
    return refuse


def bad_bet(event_id: str = "bad-1", **envelope) -> dict:
    """A bet the `poison` handler refuses."""
    return event(event_id, "casino_bet", {"bet_amount": 5, "game_id": "g-9", "game_name": POISON}, **envelope)


# --- fixtures ------------------------------------------------------------------------------------------------------
@pytest.fixture
def events_ab(tenant_a, tenant_b):
    """In each label: a deposit, a bet and a login (their handlers run: the player's aggregates count them) and a
    bet of the poisoned game, with the same ids in both."""
    made = {}
    for tenant in (tenant_a, tenant_b):
        ids = ingest(tenant.label, event("d-1"), event("b-1", "casino_bet"), event("l-1", "login"), bad_bet())
        events_apply(ids[:2])
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
        "Pending",
        "By consumer group",
        '<th scope="row">crm</th>',
        '<th scope="row">gamification</th>',
        "Waiting since",
        '<th scope="row">game_name</th><td>Book of Dead</td>',
        '<th scope="row">bet_amount</th><td>2.50 EUR</td>',
        '<th scope="row">game_id</th><td>g-1</td>',
    ):
        assert expected in html, expected


# --- filters and searches ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"type": "deposit"}, {"d-1"}),
        ({"type": "casino_bet"}, {"b-1", "bad-1"}),
        ({"type": "withdrawal"}, set()),
        ({"status": "pending"}, {"d-1", "b-1", "l-1", "bad-1"}),  # nothing committed: no group applied them
        ({"status": "pending:gamification"}, {"d-1", "b-1", "l-1", "bad-1"}),
        ({"status": "applied"}, set()),
        ({"status": "failed"}, set()),
        ({"status": "failed:nope"}, set()),
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
        ({}, 8),
        ({"type": "deposit", "status": "applied", "source__exact": "api"}, 7),  # an empty page: no status to read
        ({"status": "pending"}, 8),
        ({"status": "failed:crm"}, 7),
        ({"q": "shared-player"}, 9),
        ({"q": "no-such-id"}, 8),
        ({"player_id": "PLAYER"}, 9),
    ],
)
def test_the_list_costs_the_same_queries_for_3_or_60_events(
    params, queries, tenant_a, staff_client, django_assert_num_queries
):
    # session, user, roles, the switcher's labels, the sidebar's credit approvals, the label's custom types, the page
    # of events (with players and brands joined), their status in each group; a search adds the player lookup, the
    # player filter the player it names. Never a COUNT of events.
    params = {k: (tenant_a.player.pk if v == "PLAYER" else v) for k, v in params.items()}
    client = staff_client(tenant_a.admin)
    ingest(tenant_a.label, *(event(f"e-{i}") for i in range(3)))
    with django_assert_num_queries(queries) as captured:
        first = client.get(reverse(LIST), params)
    ingest(tenant_a.label, *(event(f"f-{i}", user_ext_id=f"p-{i % 7}") for i in range(60)))
    with django_assert_num_queries(queries):
        second = client.get(reverse(LIST), params)
    assert not [q["sql"] for q in captured.captured_queries if "COUNT(" in q["sql"].upper() and "crm_event" in q["sql"]]
    assert len(second.context["cl"].result_list) >= len(first.context["cl"].result_list)


def test_several_labels_add_only_the_label_filter_to_the_cost(
    events_ab, tenant_a, tenant_b, staff_client, django_assert_num_queries
):
    # the eight of one label, and the labels the label filter offers
    tenant_a.admin.label_roles.create(label=tenant_b.label, role=Role.SUPPORT)
    client = staff_client(tenant_a.admin)
    with django_assert_num_queries(9) as captured:
        response = client.get(reverse(LIST))
    assert len(response.context["cl"].result_list) == 8
    assert not [q["sql"] for q in captured.captured_queries if "COUNT(" in q["sql"].upper() and "crm_event" in q["sql"]]
