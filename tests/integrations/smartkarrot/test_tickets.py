"""The SmartKarrot-compatible tickets endpoints: contacts, agents, tickets, comments, at every path form a client of
the reference may use (docs/tickets.md), scoped to the key's label."""

from __future__ import annotations

import re

import pytest

from crm.models import Ticket, TicketAgent, TicketContact, TicketHistory

pytestmark = pytest.mark.django_db
APP = "7aa6b29b-709d-4d65-b1ea-acc8793c3e9a"
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
TIME_RE = re.compile(r"^[A-Z][a-z]{2} \d{1,2}, \d{4} \d{1,2}:\d{2}:\d{2} (AM|PM)$")


def post(client, path, body, method="post"):
    return getattr(client, method)(path, body, format="json")


def make_agent(client, email="salman.k@example.com", customer_id="MK-agent003"):
    body = {"appId": APP, "agents": [{"firstName": "Salman", "email": email, "customerAgentId": customer_id}]}
    response = post(client, "/v4/agents", body)
    assert response.status_code == 200, response.json()
    return response.json()["savedAgents"][0]["agentId"]


def make_ticket(client, **fields):
    body = {"appId": APP, "ticketName": "Payment subdue", "priority": "High", "status": "Open", **fields}
    response = post(client, "/v4/tickets", body)
    assert response.status_code == 201, response.json()
    return response.json()


# --- contacts --------------------------------------------------------------------------------------------------------
REFERENCE_CONTACTS = {
    "appId": APP,
    "contacts": [
        {
            "email": "david.lyon@example.com",
            "firstName": "David",
            "lastName": "Lyon",
            "customerContactId": "EZ141",
            "role": "Lead Engineer",
            "countryCode": "+91",
            "phoneNumber": "6901313214",
            "uploadedImageUrl": "www.dummyurl.com/12-23.jpg",
        },
        {
            "firstName": "Andrew",
            "lastName": "Shaw",
            "customerContactId": "EZ143",
            "role": "Data Scientist",
            "countryCode": "+404",
            "phoneNumber": "345957392",
        },
    ],
}


@pytest.mark.parametrize("path", ["/v4/contacts", "/v4/contacts/", "/v4/tickets/contacts", "/v4/tickets/contacts/"])
def test_create_contacts_saves_the_valid_and_explains_the_rest(sk_client, tenant_a, path):
    response = post(sk_client, path, REFERENCE_CONTACTS)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "SUCCESS"
    assert body["Saved Contact count"] == 1
    assert body["Unsaved Contact count"] == 1
    (unsaved,) = body["unsavedContacts"]
    assert unsaved["customerContactId"] == "EZ143"
    assert unsaved["allValues"] == 1
    assert unsaved["status"] == "active"
    assert unsaved["reasons"] == {"email": ["This field is required."]}
    contact = TicketContact.objects.get(label=tenant_a.label)
    assert (contact.email, contact.first_name, contact.customer_contact_id) == (
        "david.lyon@example.com",
        "David",
        "EZ141",
    )
    assert body["savedContacts"][0]["contactId"] == str(contact.contact_id)


def test_contacts_upsert_by_email_updates_only_the_given_fields(sk_client, tenant_a):
    post(sk_client, "/v4/contacts", REFERENCE_CONTACTS)
    again = {"appId": APP, "contacts": [{"email": "DAVID.LYON@example.com", "firstName": "Dave", "accountId": "acc-1"}]}
    assert post(sk_client, "/v4/contacts", again).json()["Saved Contact count"] == 1
    contact = TicketContact.objects.get(label=tenant_a.label)
    assert (contact.first_name, contact.role, contact.account.account_id) == ("Dave", "Lead Engineer", "acc-1")


def test_get_contacts_pages_with_limit_and_next_page_token(sk_client):
    rows = [{"email": f"c{i}@example.com", "firstName": f"C{i}", "salesforceId": f"sf{i}"} for i in range(5)]
    post(sk_client, "/v4/contacts", {"appId": APP, "contacts": rows})
    seen, token, pages = [], None, 0
    while True:
        query = {"appId": APP, "limit": 2, **({"nextPageToken": token} if token else {})}
        body = sk_client.get("/v4/tickets/contacts", query).json()
        assert set(body) == {"status", "count", "contacts", "nextPageToken"}
        assert body["count"] == len(body["contacts"])
        seen += [c["email"] for c in body["contacts"]]
        token, pages = body["nextPageToken"], pages + 1
        if token is None:
            break
    assert sorted(seen) == [f"c{i}@example.com" for i in range(5)]
    assert pages == 3


def test_get_contacts_filters_by_email_and_salesforce_id(sk_client):
    rows = [{"email": f"c{i}@example.com", "firstName": f"C{i}", "salesforceId": f"sf{i}"} for i in range(3)]
    post(sk_client, "/v4/contacts", {"appId": APP, "contacts": rows})
    by_email = sk_client.get("/v4/tickets/contacts", {"appId": APP, "emailId": "C1@Example.com"}).json()
    assert [c["firstName"] for c in by_email["contacts"]] == ["C1"]
    by_sf = sk_client.get("/v4/tickets/contacts", {"appId": APP, "salesforceId": "sf2"}).json()
    assert [c["firstName"] for c in by_sf["contacts"]] == ["C2"]
    other_app = sk_client.get("/v4/tickets/contacts", {"appId": "other"}).json()
    assert other_app["count"] == 0


@pytest.mark.parametrize(
    ("query", "field"),
    [({"limit": 1001}, "limit"), ({"limit": "x"}, "limit"), ({"nextPageToken": "zz"}, "nextPageToken")],
)
def test_get_contacts_refuses_bad_paging(sk_client, query, field):
    response = sk_client.get("/v4/tickets/contacts", {"appId": APP, **query})
    assert response.status_code == 400
    assert response.json()["status"] == "INVALID_INPUT"
    assert list(response.json()["errors"]) == [field]


def test_contacts_are_scoped_to_the_keys_label(sk_client, sk_client_b):
    post(sk_client, "/v4/contacts", REFERENCE_CONTACTS)
    assert sk_client_b.get("/v4/tickets/contacts", {"appId": APP}).json()["count"] == 0
    assert sk_client.get("/v4/tickets/contacts", {"appId": APP}).json()["count"] == 1


# --- agents ----------------------------------------------------------------------------------------------------------
def test_save_agents_answers_the_reference_keys(sk_client, tenant_a):
    body = {
        "appId": APP,
        "agents": [
            {"firstName": "Salman", "lastName": "Katamond", "email": "salman.k@example.com", "customerAgentId": "MK-3"},
            {"firstName": "Mathew", "lastName": "Wade", "customerAgentId": "ZY-agent67"},
        ],
    }
    response = post(sk_client, "/v4/tickets/agents", body)
    assert response.status_code == 200
    data = response.json()
    assert data[" Saved Agents count: "] == 1
    assert data[" Unsaved Agents count: "] == 1
    assert data["unsavedAgents"][0]["customerAgentId"] == "ZY-agent67"
    assert data["unsavedAgents"][0]["reasons"] == {"email": ["This field is required."]}
    assert TicketAgent.objects.filter(label=tenant_a.label).count() == 1


@pytest.mark.parametrize("form", ["query", "path", "body", "customer_id"])
def test_delete_agent_in_every_form_unassigns_their_tickets(sk_client, form):
    agent_id = make_agent(sk_client)
    ticket = make_ticket(sk_client, assignedTo=agent_id)
    if form == "query":
        response = sk_client.delete(f"/v4/agents?id={agent_id}")
    elif form == "path":
        response = sk_client.delete(f"/v4/agents/{agent_id}")
    elif form == "body":
        response = sk_client.delete("/v4/agents", {"id": agent_id}, format="json")
    else:
        response = sk_client.delete("/v4/agents?id=MK-agent003")
    assert response.status_code == 200
    assert response.json() == {"status": "SUCCESS", "message": "Agent deleted"}
    assert not TicketAgent.objects.exists()
    row = Ticket.objects.get(ticket_id=ticket["ticketId"])
    assert (row.assignee, row.version) == (None, 2)
    assert row.history.last().changes["assignee"][1] is None


def test_delete_agent_of_another_label_is_404(sk_client, sk_client_b):
    agent_id = make_agent(sk_client)
    response = sk_client_b.delete(f"/v4/agents?id={agent_id}")
    assert response.status_code == 404
    assert response.json()["status"] == "ERROR"
    assert TicketAgent.objects.count() == 1


# --- tickets ---------------------------------------------------------------------------------------------------------
def test_create_ticket_answers_the_reference_object(sk_client, tenant_a):
    agent_id = make_agent(sk_client)
    body = {
        "appId": APP,
        "visibleId": "TicketMx-EOD41",
        "accountId": "b6a96d3d-1253-4fee-ba0d-80dddf01c09b",
        "ticketName": "Payment subdue",
        "createdBy": "e895da5d-90fd-438e-b9d6-a51e8d335752",
        "createdByType": "contact",
        "assignedTo": agent_id,
        "dueDate": "2021-01-12",
        "escalation": "escalated",
        "priority": "High",
        "status": "Open",
        "type": "Payment iussue",
        "customFields": {"expiry": "none", "csm": "Unassigned"},
        "unknownKey": "ignored",
    }
    response = post(sk_client, "/v4/tickets", body)
    assert response.status_code == 201
    data = response.json()
    assert UUID_RE.match(data["ticketId"])
    assert TIME_RE.match(data["createTime"])
    assert TIME_RE.match(data["updateTime"])
    expected = {k: body[k] for k in body if k not in ("appId", "dueDate", "unknownKey")}
    assert {k: data[k] for k in expected} == expected
    assert (data["appId"], data["dueDate"], data["version"], data["allValues"]) == (APP, "2021-01-12T00:00:00Z", 1, 1)
    ticket = Ticket.objects.get(label=tenant_a.label)
    assert ticket.account.account_id == "b6a96d3d-1253-4fee-ba0d-80dddf01c09b"
    assert ticket.escalated_at is not None
    assert ticket.history.get().action == "created"


def test_create_ticket_by_customer_agent_id_and_linked_to_a_player(sk_client, tenant_a):
    make_agent(sk_client)
    data = make_ticket(sk_client, assignedTo="MK-agent003", extBrandId="shared-brand", userExtId="shared-player")
    ticket = Ticket.objects.get(ticket_id=data["ticketId"])
    assert ticket.player == tenant_a.player
    assert ticket.assignee.customer_agent_id == "MK-agent003"
    assert (data["extBrandId"], data["userExtId"]) == ("shared-brand", "shared-player")


def test_create_ticket_refuses_an_unknown_agent_and_player(sk_client):
    response = post(sk_client, "/v4/tickets", {"appId": APP, "assignedTo": "nobody"})
    assert response.status_code == 400
    assert response.json()["errors"] == {"assignedTo": ["No agent with this id (agentId or customerAgentId)."]}
    response = post(sk_client, "/v4/tickets", {"appId": APP, "extBrandId": "shared-brand", "userExtId": "nope"})
    assert response.json()["errors"] == {"userExtId": ["No such player in your label."]}
    assert not Ticket.objects.exists()


def test_create_ticket_without_due_date_takes_the_sla_policy(sk_client, tenant_a):
    from crm.models import TicketSlaPolicy

    TicketSlaPolicy.objects.create(label=tenant_a.label, priority="high", resolve_within_hours=4)
    ticket = Ticket.objects.get(ticket_id=make_ticket(sk_client, priority="HIGH")["ticketId"])
    assert round((ticket.due_date - ticket.created_at).total_seconds() / 3600) == 4


@pytest.mark.parametrize(
    "path_form", ["path", "query", "glued", "slash"], ids=["tickets/{appId}", "tickets?appId", "tickets{appId}", "/"]
)
def test_fetch_tickets_in_every_form(sk_client, sk_client_b, path_form):
    first = make_ticket(sk_client)
    make_ticket(sk_client_b)  # same app id, other label
    post(sk_client, "/v4/tickets", {"appId": "another-app"})
    url = {
        "path": f"/v4/tickets/{APP}",
        "query": f"/v4/tickets?appId={APP}",
        "glued": f"/v4/tickets{APP}",
        "slash": f"/v4/tickets/{APP}/",
    }[path_form]
    body = sk_client.get(url).json()
    assert body["status"] == "SUCCESS"
    assert body["count"] == 1
    assert [t["ticketId"] for t in body["tickets"]] == [first["ticketId"]]
    assert body["nextPageToken"] is None


def test_fetch_tickets_without_app_id_is_invalid(sk_client):
    response = sk_client.get("/v4/tickets")
    assert response.status_code == 400
    assert response.json()["errors"] == {"appId": ["This field is required."]}


@pytest.mark.parametrize("form", ["body_id", "body_ticket_id", "path"])
def test_update_ticket_in_every_form(sk_client, form):
    ticket = make_ticket(sk_client)
    change = {"status": "closed", "escalation": "escalated", "customFields": {"key1": "value1"}, "visbleId": "typo"}
    if form == "path":
        response = post(sk_client, f"/v4/tickets/{ticket['ticketId']}", change, method="put")
    else:
        key = "id" if form == "body_id" else "ticketId"
        response = post(sk_client, "/v4/tickets", {key: ticket["ticketId"], **change}, method="put")
    assert response.status_code == 200, response.json()
    data = response.json()
    assert (data["status"], data["escalation"], data["customFields"], data["version"]) == (
        "closed",
        "escalated",
        {"key1": "value1"},
        2,
    )
    assert data["visibleId"] == ""
    assert data["ticketName"] == "Payment subdue"
    row = Ticket.objects.get(ticket_id=ticket["ticketId"])
    assert row.is_closed
    assert row.closed_at is not None
    assert row.history.last().changes["status"] == ["Open", "closed"]


def test_update_with_a_stale_version_is_409_and_changes_nothing(sk_client):
    ticket = make_ticket(sk_client)
    body = {"id": ticket["ticketId"], "priority": "Low", "version": 1}
    assert post(sk_client, "/v4/tickets", body, method="put").json()["version"] == 2
    stale = post(sk_client, "/v4/tickets", {**body, "priority": "Urgent"}, method="put")
    assert stale.status_code == 409
    assert stale.json()["status"] == "ERROR"
    assert stale.json()["code"] == "version_conflict"
    row = Ticket.objects.get(ticket_id=ticket["ticketId"])
    assert (row.priority, row.version) == ("Low", 2)


def test_update_that_changes_nothing_keeps_the_version(sk_client):
    ticket = make_ticket(sk_client)
    response = post(sk_client, "/v4/tickets", {"id": ticket["ticketId"], "status": "Open"}, method="put")
    assert response.json()["version"] == 1
    assert TicketHistory.objects.count() == 1


def test_update_clears_a_field_sent_as_null(sk_client):
    agent_id = make_agent(sk_client)
    ticket = make_ticket(sk_client, assignedTo=agent_id, dueDate="2030-01-01T10:00:00Z")
    data = post(
        sk_client, "/v4/tickets", {"id": ticket["ticketId"], "assignedTo": None, "dueDate": None}, method="put"
    ).json()
    assert (data["assignedTo"], data["dueDate"]) == (None, None)


@pytest.mark.parametrize("form", ["path", "query", "body", "glued"])
def test_delete_ticket_in_every_form(sk_client, form):
    ticket_id = make_ticket(sk_client)["ticketId"]
    if form == "path":
        response = sk_client.delete(f"/v4/tickets/{ticket_id}")
    elif form == "query":
        response = sk_client.delete(f"/v4/tickets?id={ticket_id}")
    elif form == "body":
        response = sk_client.delete("/v4/tickets", {"id": ticket_id}, format="json")
    else:
        response = sk_client.delete(f"/v4/tickets{ticket_id}")
    assert response.status_code == 200
    assert response.json() == {"status": "SUCCESS", "message": "Ticket deleted"}
    assert sk_client.get(f"/v4/tickets/{APP}").json()["count"] == 0
    row = Ticket.objects.get(ticket_id=ticket_id)
    assert row.deleted_at is not None
    assert [h.action for h in row.history.all()] == ["created", "deleted"]
    assert sk_client.delete(f"/v4/tickets/{ticket_id}").status_code == 404


def test_another_labels_ticket_is_404_everywhere(sk_client, sk_client_b):
    ticket_id = make_ticket(sk_client)["ticketId"]
    assert sk_client_b.put("/v4/tickets", {"id": ticket_id, "status": "x"}, format="json").status_code == 404
    assert sk_client_b.delete(f"/v4/tickets/{ticket_id}").status_code == 404
    assert sk_client_b.get("/v4/tickets/comments", {"ticketId": ticket_id}).status_code == 404
    comment = {"ticketId": ticket_id, "description": "hi"}
    assert post(sk_client_b, "/v4/tickets/comment", comment).status_code == 404
    assert Ticket.objects.get(ticket_id=ticket_id).version == 1


def test_no_key_is_401_in_the_envelope(client):
    response = client.get(f"/v4/tickets/{APP}")
    assert response.status_code == 401
    assert response.json()["status"] == "ERROR"
    assert response["WWW-Authenticate"].startswith("Basic")


# --- comments --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/v4/tickets/comment", "/v4/tickets/comments", "/v4/tickets/comments/"])
def test_comment_create_list_edit_on_both_paths(sk_client, path):
    ticket_id = make_ticket(sk_client)["ticketId"]
    body = {
        "ticketId": ticket_id,
        "description": "version 3.0 to be released for the beta clients",
        "createdByType": "agent",
        "createdBy": "50a0347b-9f19-4283-a247-18450b87220a",
    }
    created = post(sk_client, path, body)
    assert created.status_code == 201
    comment = created.json()
    assert UUID_RE.match(comment["CommentId"])
    assert {k: comment[k] for k in ("ticketId", "description", "createdBy", "createdByType", "version")} == {
        **{k: body[k] for k in ("ticketId", "description", "createdBy", "createdByType")},
        "version": 1,
    }
    listed = sk_client.get(path, {"appId": APP, "ticketId": ticket_id}).json()
    assert listed["count"] == 1
    assert listed["comments"][0]["createdById"] == body["createdBy"]
    edit = {"id": comment["CommentId"], "description": "The progress on usage analytics is steady."}
    edited = post(sk_client, path, edit, method="put").json()
    assert (edited["description"], edited["version"], edited["CommentId"]) == (edit["description"], 2, edit["id"])
    stale = post(sk_client, path, {**edit, "description": "again", "version": 1}, method="put")
    assert stale.status_code == 409
    actions = [h.action for h in Ticket.objects.get(ticket_id=ticket_id).history.all()]
    assert actions == ["created", "commented", "comment_edited"]


def test_comment_needs_ticket_and_description(sk_client):
    response = post(sk_client, "/v4/tickets/comments", {"createdByType": "robot"})
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"ticketId", "description", "createdByType"}
