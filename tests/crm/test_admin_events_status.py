"""Where events are in the pipeline, as the explorer shows it: applied, pending or failed per consumer group (with the
failure's handler, error, attempts and next retry), the status filter, and retrying failed events (admins and
integration engineers only, in their labels; another label's event is 404).

These tests commit (transactional database): the pipeline's ticks only see committed transactions, so the events are
applied by the real pipeline (`pipeline_drain`). Labels A and B hold events with the same ids, players and brands.
"""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from backoffice.models import Role
from crm import pipeline
from crm.models import Event, PipelineFailure, PlayerAggregate
from crm.pipeline import pipeline_drain
from crm.selectors import event_group_status
from crm.services.events import events_retry
from tests.crm.test_admin_events import ALL_ROLES, LIST, MAY_RETRY, _listed, _url, bad_bet, event, ingest

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def poison(monkeypatch):
    """A gamification handler that fails on bets of the poisoned game; the crm group applies them."""
    from tests.crm.test_admin_events import POISON

    state = {"broken": True}

    def refuse(events):
        for row in events:
            if state["broken"] and row.payload.get("game_name") == POISON:
                raise RuntimeError(f"no scoring rule for {POISON!r}")

    poisoned = [*pipeline._GROUPS["gamification"], pipeline._Registered(1000, "test-poison", refuse)]
    monkeypatch.setitem(pipeline._GROUPS, "gamification", poisoned)
    yield state
    with connection.cursor() as cursor:  # the pipeline's tables are not flushed between tests
        cursor.execute("DELETE FROM pipeline_failure")


@pytest.fixture
def events_ab(tenant_a, tenant_b, poison):
    """In each label: a deposit and a bet applied by every group, a poisoned bet (applied by crm, failed in
    gamification), and a login stored after the pipeline ran (pending everywhere); the same ids in both labels."""
    for tenant in (tenant_a, tenant_b):
        ingest(tenant.label, event("d-1"), event("b-1", "casino_bet"), bad_bet())
    pipeline_drain()
    made = {}
    for tenant in (tenant_a, tenant_b):
        ingest(tenant.label, event("l-1", "login"))
        made[tenant.label.pk] = dict(Event.objects.filter(label=tenant.label).values_list("event_id", "pk"))
    return made


def _states(pk: int) -> dict[str, str]:
    return {s.group: s.state for s in event_group_status(event_ids=[pk])[pk]}


def test_each_event_has_a_status_per_group(events_ab, tenant_a):
    ids = events_ab[tenant_a.label.pk]
    assert _states(ids["d-1"]) == {"crm": "applied", "gamification": "applied", "automation": "applied"}
    assert _states(ids["bad-1"]) == {"crm": "applied", "gamification": "failed", "automation": "applied"}
    assert _states(ids["l-1"]) == {"crm": "pending", "gamification": "pending", "automation": "pending"}
    [crm, gamification, _automation] = event_group_status(event_ids=[ids["bad-1"]])[ids["bad-1"]]
    assert (crm.handler, crm.error, crm.attempts) == ("", "", 0)
    assert (gamification.handler, gamification.attempts, gamification.parked) == ("test-poison", 1, False)
    assert gamification.error == "RuntimeError: no scoring rule for 'Poisoned Reels'"
    assert gamification.retry_after > timezone.now()
    assert event_group_status(event_ids=[]) == {}


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("applied", {"d-1", "b-1"}),
        ("applied:crm", {"d-1", "b-1", "bad-1"}),
        ("applied:gamification", {"d-1", "b-1"}),
        ("pending", {"l-1"}),
        ("pending:crm", {"l-1"}),
        ("failed", {"bad-1"}),
        ("failed:gamification", {"bad-1"}),
        ("failed:crm", set()),
        ("failed:nope", set()),
        ("nonsense", set()),
    ],
)
def test_the_status_filter(status, expected, events_ab, tenant_a, tenant_b, staff_client):
    assert set(_listed(staff_client(tenant_a.admin), status=status)) == expected
    tenant_a.admin.label_roles.create(label=tenant_b.label, role=Role.SUPPORT)  # both labels: each event twice
    listed = _listed(staff_client(tenant_a.admin), status=status)
    assert sorted(listed) == sorted([*expected, *expected])


def test_the_list_and_the_event_page_show_the_status_per_group(events_ab, tenant_a, staff_client):
    client = staff_client(tenant_a.admin)
    ids = events_ab[tenant_a.label.pk]
    listing = client.get(reverse(LIST)).content.decode()
    for expected in ("Applied", "Failed · gamification", "Pending"):
        assert expected in listing, expected
    assert "Failed · crm" not in listing
    assert "Pending · crm" not in listing  # l-1 is pending in every group: one badge says so

    failed = client.get(_url("change", ids["bad-1"])).content.decode()
    for expected in (
        '<th scope="row">crm</th><td>',
        '<th scope="row">gamification</th><td>',
        "test-poison · 1 attempt(s) · last ",
        "RuntimeError: no scoring rule for &#x27;Poisoned Reels&#x27;",
        "next retry 20",  # a time: retried automatically
    ):
        assert expected in failed, expected
    pending = client.get(_url("change", ids["l-1"])).content.decode()
    assert "Waiting since" in pending
    applied = client.get(_url("change", ids["d-1"])).content.decode()
    assert "Applied" in applied
    assert "Waiting since" not in applied


def test_a_parked_failure_says_so(events_ab, tenant_a, staff_client):
    bad = events_ab[tenant_a.label.pk]["bad-1"]
    PipelineFailure.objects.filter(event_id=bad).update(retry_after=None, attempts=6)
    html = staff_client(tenant_a.admin).get(_url("change", bad)).content.decode()
    assert "Parked · gamification" in html
    assert "next retry parked: retried by staff only" in html
    assert "6 attempt(s)" in html


def test_the_event_page_costs_a_fixed_number_of_queries(events_ab, tenant_a, staff_client, django_assert_num_queries):
    # session, user, roles, the switcher's labels, the sidebar's credit approvals, the event with its player, brand
    # and label, its status per group (each read once, though the page, its Retry button and the permission check
    # all need them)
    client = staff_client(tenant_a.admin)
    bad = events_ab[tenant_a.label.pk]["bad-1"]
    client.get(_url("change", events_ab[tenant_a.label.pk]["d-1"]))  # content types are cached after a first page
    with django_assert_num_queries(7):
        response = client.get(_url("change", bad))
    assert reverse("admin:crm_event_retry", args=[bad]) in response.content.decode()


# --- retry ---------------------------------------------------------------------------------------------------------
def _retry_selected(client, *pks):
    return client.post(reverse(LIST), {"action": "retry_selected", "_selected_action": [str(pk) for pk in pks]})


def _scheduled(pk: int) -> bool:
    """The failure is due for a retry now (staff asked), not at its backoff."""
    failure = PipelineFailure.objects.get(event_id=pk)
    return failure.retry_after is not None and failure.retry_after <= timezone.now()


def _messages(response) -> str:
    return " ".join(str(m) for m in get_messages(response.wsgi_request))


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
    assert _scheduled(bad) is allowed


def test_a_retry_from_the_event_page_is_applied_once_after_the_fix(events_ab, tenant_a, poison, staff_client):
    client = staff_client(tenant_a.admin)
    bad = events_ab[tenant_a.label.pk]["bad-1"]
    poison["broken"] = False  # the fix is deployed
    response = client.post(reverse("admin:crm_event_retry", args=[bad]))
    assert response.status_code == 302
    assert "a retry in gamification is scheduled" in _messages(response)
    assert _scheduled(bad)
    assert "Retried." in client.get(_url("history", bad)).content.decode()

    pipeline_drain()

    assert _states(bad) == {"crm": "applied", "gamification": "applied", "automation": "applied"}
    failure = PipelineFailure.objects.get(event_id=bad)
    assert (failure.resolved_at is not None, failure.attempts) == (True, 1)
    html = client.get(_url("change", bad)).content.decode()
    assert "Applied by a retry on" in html
    assert reverse("admin:crm_event_retry", args=[bad]) not in html  # nothing left to retry
    assert PlayerAggregate.objects.get(player=tenant_a.player).bet_count == 2  # crm applied it once, at first


def test_retry_leaves_applied_and_pending_events_alone(events_ab, tenant_a, staff_client):
    ok = [events_ab[tenant_a.label.pk][i] for i in ("d-1", "b-1", "l-1")]
    assert events_retry(event_ids=ok) == []
    response = _retry_selected(staff_client(tenant_a.admin), *ok)
    assert "nothing was retried" in _messages(response)
    assert PipelineFailure.objects.filter(event_id__in=ok).count() == 0


def test_the_retry_button_shows_only_on_failed_events(events_ab, tenant_a, staff_client):
    client = staff_client(tenant_a.admin)
    applied = events_ab[tenant_a.label.pk]["d-1"]
    assert reverse("admin:crm_event_retry", args=[applied]) not in client.get(_url("change", applied)).content.decode()
    response = client.post(reverse("admin:crm_event_retry", args=[applied]))
    assert response.status_code == 302
    assert "there is nothing to retry" in _messages(response)


def test_no_one_retries_another_labels_events(events_ab, tenant_a, tenant_b, outsider, staff_client):
    foreign = events_ab[tenant_b.label.pk]["bad-1"]
    a_client = staff_client(tenant_a.admin)
    assert a_client.get(reverse("admin:crm_event_retry", args=[foreign])).status_code == 404
    assert a_client.post(reverse("admin:crm_event_retry", args=[foreign])).status_code == 404
    for client in (staff_client(outsider), a_client):
        if client is not a_client:
            assert client.post(reverse("admin:crm_event_retry", args=[foreign])).status_code == 403
        _retry_selected(client, foreign)
    assert not _scheduled(foreign)
    # A user with roles in both labels retries only where the role allows it.
    tenant_a.admin.label_roles.create(label=tenant_b.label, role=Role.SUPPORT)
    _retry_selected(staff_client(tenant_a.admin), foreign, events_ab[tenant_a.label.pk]["bad-1"])
    assert not _scheduled(foreign)
    assert _scheduled(events_ab[tenant_a.label.pk]["bad-1"])
