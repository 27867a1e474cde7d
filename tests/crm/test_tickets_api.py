"""Pitboss's own ticket API: queues, optimistic concurrency, comments, history, and label scoping for partner keys,
staff of label A, staff of label B and an outsider."""

from __future__ import annotations

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from backoffice.models import Role
from crm.models import Ticket
from crm.services.tickets import Who, agents_upsert, ticket_create

pytestmark = pytest.mark.django_db


def staff_api(user):
    client = APIClient()
    client.force_login(user)
    return client


@pytest.fixture
def ticket_a(tenant_a):
    return ticket_create(
        label_id=tenant_a.label.pk,
        data={"app_id": "app", "ticket_name": "Cannot withdraw", "priority": "High"},
        who=Who("test"),
    )


def test_create_read_patch_with_version(key_client, tenant_a):
    (agent,) = agents_upsert(label_id=tenant_a.label.pk, rows=[{"email": "ag@example.com", "first_name": "Ag"}])
    response = key_client.post(
        "/api/v1/tickets",
        {
            "ticket_name": "Bonus missing",
            "status": "Open",
            "assignee": str(agent.agent_id),
            "ext_brand_id": "shared-brand",
            "user_ext_id": "shared-player",
            "due_date": "2020-01-01T00:00:00Z",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    data = response.json()
    assert (data["version"], data["assignee"]["name"], data["user_ext_id"], data["overdue"]) == (
        1,
        "Ag",
        "shared-player",
        True,
    )
    url = f"/api/v1/tickets/{data['ticket_id']}"
    assert key_client.patch(url, {"status": "resolved", "version": 1}, format="json").json()["is_closed"] is True
    stale = key_client.patch(url, {"status": "Open", "version": 1}, format="json")
    assert stale.status_code == 409
    assert stale.json()["code"] == "version_conflict"
    history = key_client.get(f"{url}/history").json()
    assert [h["action"] for h in history] == ["created", "updated"]
    assert history[1]["changes"] == {"status": ["Open", "resolved"]}
    assert history[1]["actor"] == "api key A key"


def test_unknown_fields_are_refused(key_client):
    response = key_client.post("/api/v1/tickets", {"ticket_name": "x", "colour": "red"}, format="json")
    assert response.status_code == 400
    assert not Ticket.objects.exists()


def test_queues(key_client, tenant_a):
    make = lambda **d: ticket_create(label_id=tenant_a.label.pk, data={"app_id": "a", **d}, who=Who("t"))  # noqa: E731
    past = timezone.now() - timezone.timedelta(days=1)
    overdue = make(ticket_name="late", due_date=past)
    escalated = make(ticket_name="hot", escalation="escalated")
    closed = make(ticket_name="done", status="Closed", due_date=past)

    def names(queue):
        return sorted(t["ticket_name"] for t in key_client.get("/api/v1/tickets", {"queue": queue}).json()["results"])

    assert names("overdue") == [overdue.ticket_name]
    assert names("escalated") == [escalated.ticket_name]
    assert names("closed") == [closed.ticket_name]
    assert names("open") == ["hot", "late"]
    assert names("unassigned") == ["hot", "late"]


def test_comments_by_staff_name_the_staff_user(staff_with_role, tenant_a, ticket_a):
    support = staff_with_role(tenant_a.label, Role.SUPPORT, "sup_a")
    client = staff_api(support)
    url = f"/api/v1/tickets/{ticket_a.ticket_id}/comments"
    response = client.post(url, {"description": "Looking into it"}, format="json")
    assert response.status_code == 201
    assert client.get(url).json()[0]["author"] == "sup_a"
    assert ticket_a.history.last().actor == "staff sup_a"


def test_scoping_label_b_and_outsider(staff_with_role, tenant_a, tenant_b, outsider, ticket_a):
    url = f"/api/v1/tickets/{ticket_a.ticket_id}"
    admin_b = staff_api(tenant_b.admin)
    assert admin_b.get(url).status_code == 404
    assert admin_b.patch(url, {"status": "x"}, format="json").status_code == 404
    assert admin_b.delete(url).status_code == 404
    assert admin_b.get(f"{url}/comments").status_code == 404
    assert admin_b.get("/api/v1/tickets").json()["results"] == []
    assert staff_api(outsider).get("/api/v1/tickets").status_code == 403
    assert staff_api(tenant_a.admin).get(url).status_code == 200
    assert Ticket.objects.get(pk=ticket_a.pk).version == 1


def test_delete_hides_the_ticket_but_keeps_its_history(key_client, ticket_a):
    url = f"/api/v1/tickets/{ticket_a.ticket_id}"
    assert key_client.delete(url).status_code == 204
    assert key_client.get(url).status_code == 404
    assert [h.action for h in ticket_a.history.all()] == ["created", "deleted"]
