"""Support tickets in the admin: the queues by status and assignee, overdue highlighting, assignment and escalation
through the form and bulk actions (each change in the history, a stale form refused), the comment thread, the
player page's tickets, agents, contacts and SLA policies; admin, manager and support of label A, staff of label B
(404 on A's tickets) and an outsider (403)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from backoffice.models import Role
from crm.models import Ticket, TicketAgent, TicketSlaPolicy
from crm.services.tickets import Who, agents_upsert, contacts_upsert, ticket_create

pytestmark = pytest.mark.django_db


def _url(name: str, *args) -> str:
    return reverse(f"admin:{name}", args=args)


@pytest.fixture
def support(tenant_a, staff_with_role):
    return staff_with_role(tenant_a.label, Role.SUPPORT, "support_a")


@pytest.fixture
def manager(tenant_a, staff_with_role):
    return staff_with_role(tenant_a.label, Role.MANAGER, "manager_a")


@pytest.fixture
def agent(tenant_a, support):
    (row,) = agents_upsert(label_id=tenant_a.label.pk, rows=[{"email": "sam@example.com", "first_name": "Sam"}])
    TicketAgent.objects.filter(pk=row.pk).update(staff_user=support)
    return TicketAgent.objects.get(pk=row.pk)


def make(tenant, **data) -> Ticket:
    return ticket_create(label_id=tenant.label.pk, data={"app_id": "app", **data}, who=Who("api key test"))


@pytest.fixture
def late(tenant_a):
    return make(tenant_a, ticket_name="Withdrawal stuck", due_date=timezone.now() - timedelta(hours=2), priority="High")


def _form(ticket: Ticket, **changes) -> dict:
    data = {
        "ticket_name": ticket.ticket_name,
        "status": ticket.status,
        "priority": ticket.priority,
        "type": ticket.type,
        "assignee": ticket.assignee_id or "",
        "due_date_0": "",
        "due_date_1": "",
        "escalation": ticket.escalation,
        "player": ticket.player_id or "",
        "custom_fields": "{}",
        "version_seen": ticket.version,
    }
    if ticket.due_date:
        local = timezone.localtime(ticket.due_date)
        data["due_date_0"], data["due_date_1"] = local.strftime("%Y-%m-%d"), local.strftime("%H:%M:%S")
    return {**data, **changes}


@pytest.mark.parametrize("persona", ["admin", "manager", "support"])
def test_label_a_staff_see_the_queues_with_overdue_highlighted(tenant_a, persona, manager, support, late, staff_client):
    make(tenant_a, ticket_name="Fine", due_date=timezone.now() + timedelta(days=2))
    make(tenant_a, ticket_name="Done", status="resolved", due_date=timezone.now() - timedelta(days=2))
    user = {"admin": tenant_a.admin, "manager": manager, "support": support}[persona]
    client = staff_client(user)
    page = client.get(_url("crm_ticket_changelist")).content.decode()
    assert 'data-testid="ticket-queues"' in page
    assert page.count('data-testid="overdue"') == 1
    assert "Withdrawal stuck" in page
    overdue = client.get(_url("crm_ticket_changelist") + "?queue=overdue").content.decode()
    assert "Withdrawal stuck" in overdue
    assert "Fine" not in overdue
    assert "Done" not in overdue
    closed = client.get(_url("crm_ticket_changelist") + "?queue=closed").content.decode()
    assert "Done" in closed
    assert "Withdrawal stuck" not in closed
    detail = client.get(_url("crm_ticket_change", late.pk)).content.decode()
    assert 'data-testid="ticket-overdue"' in detail
    assert 'data-testid="ticket-history"' in detail


def test_label_b_staff_get_404_and_the_outsider_403(tenant_a, tenant_b, outsider, late, staff_client):
    b = staff_client(tenant_b.admin)
    assert "Withdrawal stuck" not in b.get(_url("crm_ticket_changelist")).content.decode()
    assert b.get(_url("crm_ticket_change", late.pk)).status_code == 404
    assert b.post(_url("crm_ticket_comment", late.pk), {"description": "hi"}).status_code == 404
    assert b.post(_url("crm_ticket_change", late.pk), _form(late, status="closed")).status_code == 404
    out = staff_client(outsider)
    assert out.get(_url("crm_ticket_changelist")).status_code == 403
    assert out.get(_url("crm_ticket_change", late.pk)).status_code == 403
    late.refresh_from_db()
    assert (late.status, late.version, late.comments.count()) == ("Open", 1, 0)


def test_support_assigns_escalates_and_closes_through_the_form(tenant_a, support, agent, late, staff_client):
    client = staff_client(support)
    response = client.post(
        _url("crm_ticket_change", late.pk), _form(late, assignee=agent.pk, escalation="escalated", status="Closed")
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    late.refresh_from_db()
    assert (late.assignee, late.escalation, late.status, late.is_closed, late.version) == (
        agent, "escalated", "Closed", True, 2,
    )  # fmt: skip
    change = late.history.last()
    assert (change.actor, change.staff_user) == ("staff support_a", support)
    assert set(change.changes) == {"assignee", "escalation", "status"}


def test_a_stale_form_is_refused_and_changes_nothing(tenant_a, support, late, staff_client):
    client = staff_client(support)
    stale = _form(late, status="Pending")
    late_api = {"priority": "Low"}
    from crm.services.tickets import ticket_update

    ticket_update(label_id=tenant_a.label.pk, ticket_id=late.ticket_id, data=late_api, who=Who("api key x"))
    response = client.post(_url("crm_ticket_change", late.pk), stale)
    assert response.status_code == 200
    assert "Someone changed this ticket since you opened it" in response.content.decode()
    late.refresh_from_db()
    assert (late.status, late.priority, late.version) == ("Open", "Low", 2)


def test_an_assignee_of_another_label_is_refused(tenant_a, tenant_b, support, late, staff_client):
    (other,) = agents_upsert(label_id=tenant_b.label.pk, rows=[{"email": "b@example.com", "first_name": "B"}])
    response = staff_client(support).post(_url("crm_ticket_change", late.pk), _form(late, assignee=other.pk))
    assert response.status_code == 200
    late.refresh_from_db()
    assert late.assignee is None


def test_comment_thread(tenant_a, support, late, staff_client):
    client = staff_client(support)
    response = client.post(_url("crm_ticket_comment", late.pk), {"description": "Called the player back."})
    assert response.status_code == 302
    page = client.get(_url("crm_ticket_change", late.pk)).content.decode()
    assert "Called the player back." in page
    assert "support_a" in page
    assert [h.action for h in late.history.all()] == ["created", "commented"]


def test_bulk_escalate_and_assign_to_me(tenant_a, tenant_b, support, agent, late, staff_client):
    other = make(tenant_a, ticket_name="Other")
    client = staff_client(support)
    changelist = _url("crm_ticket_changelist")
    ids = [late.pk, other.pk]
    client.post(changelist, {"action": "escalate", "_selected_action": ids})
    client.post(changelist, {"action": "assign_to_me", "_selected_action": ids})
    for ticket in (late, other):
        ticket.refresh_from_db()
        assert (ticket.escalation, ticket.assignee, ticket.version) == ("escalated", agent, 3)
    mine = client.get(changelist + "?queue=mine").content.decode()
    assert "Withdrawal stuck" in mine


def test_staff_opens_a_ticket_for_a_player_with_the_sla_due_date(tenant_a, support, staff_client):
    TicketSlaPolicy.objects.create(label=tenant_a.label, priority="urgent", resolve_within_hours=2)
    client = staff_client(support)
    response = client.post(
        _url("crm_ticket_add"),
        {"label": tenant_a.label.pk, "app_id": "", "visible_id": "T-1", "ticket_name": "Chargeback", "status": "Open",
         "priority": "Urgent", "type": "", "assignee": "", "due_date_0": "", "due_date_1": "",
         "escalation": "notEscalated", "player": tenant_a.player.pk, "version_seen": ""},
    )  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:3000]
    ticket = Ticket.objects.get()
    assert (ticket.player, ticket.visible_id, ticket.history.get().actor) == (tenant_a.player, "T-1", "staff support_a")
    assert round((ticket.due_date - ticket.created_at).total_seconds() / 3600) == 2
    page = client.get(_url("crm_player_change", tenant_a.player.pk)).content.decode()
    assert 'data-testid="player-tickets"' in page
    assert "Chargeback" in page


def test_player_of_another_label_cannot_be_linked(tenant_a, tenant_b, support, staff_client):
    response = staff_client(support).post(
        _url("crm_ticket_add"),
        {"label": tenant_a.label.pk, "ticket_name": "x", "status": "Open", "escalation": "notEscalated",
         "player": tenant_b.player.pk, "due_date_0": "", "due_date_1": ""},
    )  # fmt: skip
    assert response.status_code == 200
    assert not Ticket.objects.exists()


def test_agents_contacts_and_sla_pages(tenant_a, tenant_b, manager, support, agent, staff_client):
    contacts_upsert(label_id=tenant_a.label.pk, rows=[{"email": "anne@example.com", "first_name": "Anne"}])
    contacts_upsert(label_id=tenant_b.label.pk, rows=[{"email": "bob@example.com", "first_name": "Bob"}])
    page = staff_client(support).get(_url("crm_ticketcontact_changelist") + "?q=ANNE@example.com").content.decode()
    assert "Anne" in page
    assert "Bob" not in page
    assert staff_client(support).get(_url("crm_ticketslapolicy_add")).status_code == 403
    assert staff_client(manager).get(_url("crm_ticketslapolicy_add")).status_code == 200
    assert staff_client(tenant_b.admin).get(_url("crm_ticketagent_change", agent.pk)).status_code == 404
    agents = staff_client(manager).get(_url("crm_ticketagent_changelist")).content.decode()
    assert "Sam" in agents


def test_a_manager_links_an_agent_to_a_staff_user_of_its_label(
    tenant_a, tenant_b, manager, support, agent, outsider, staff_client
):
    """The agent's page opens for its label's manager, offers that label's staff only, and saves the link; staff of
    label B get 404 and an outsider 403 (the 500 this replaces: the choices were filtered on a relation that does
    not exist)."""
    other = tenant_b.admin  # staff of another label: never a choice
    client = staff_client(manager)
    url = _url("crm_ticketagent_change", agent.pk)
    page = client.get(url)
    assert page.status_code == 200
    assert _staff_choices(page.content.decode()) == {"", str(tenant_a.admin.pk), str(manager.pk), str(support.pk)}
    response = client.post(url, {"staff_user": other.pk})
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert TicketAgent.objects.get(pk=agent.pk).staff_user == support
    assert client.post(url, {"staff_user": manager.pk}).status_code == 302
    assert TicketAgent.objects.get(pk=agent.pk).staff_user == manager
    assert staff_client(other).get(url).status_code == 404
    assert staff_client(outsider).get(url).status_code == 403
    assert staff_client(support).get(url).status_code == 200  # support views the agent, read-only


def test_staff_of_two_labels_are_offered_the_agents_label_only(tenant_a, tenant_b, support, agent, staff_with_role,
                                                                 staff_client):  # fmt: skip
    both = staff_with_role(tenant_a.label, Role.MANAGER, "both")
    staff_with_role(tenant_b.label, Role.ADMIN, user=both)
    page = staff_client(both).get(_url("crm_ticketagent_change", agent.pk)).content.decode()
    # not label B's admin
    assert _staff_choices(page) == {"", str(tenant_a.admin.pk), str(support.pk), str(both.pk)}


def _staff_choices(page: str) -> set[str]:
    """The values the agent form's staff user select offers."""
    select = re.search(r'<select name="staff_user".*?</select>', page, re.S)
    assert select is not None, "no staff user select on the page"
    return set(re.findall(r'<option value="([^"]*)"', select.group(0)))
