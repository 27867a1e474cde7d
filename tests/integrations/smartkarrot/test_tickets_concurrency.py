"""Concurrent writes of the same contact, agent and ticket through the compatible endpoints, on real PostgreSQL from
real threads: nothing is lost, nothing fails, and a stale version is answered 409."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection

from crm.models import Ticket, TicketAgent, TicketContact
from tests.integrations.smartkarrot.conftest import basic

pytestmark = pytest.mark.django_db(transaction=True)
THREADS = 6


def _run(tenant, calls):
    """Runs each `call(client)` in its own thread, all released at once; returns the responses in call order."""
    from rest_framework.test import APIClient

    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(n, call):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=basic(tenant.raw_key))
        try:
            barrier.wait()
            results[n] = call(client)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(n, call)) for n, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_concurrent_upserts_of_the_same_contacts_keep_one_row_each(tenant_a):
    def call(n):
        rows = [{"email": f"Same{i}@example.com", "firstName": f"Writer{n}", "role": f"r{n}"} for i in range(20)]
        rows.reverse() if n % 2 else None  # opposite orders: the service must not deadlock
        return lambda client: client.post("/v4/contacts", {"appId": "a", "contacts": rows}, format="json")

    responses = _run(tenant_a, [call(n) for n in range(THREADS)])
    assert [r.status_code for r in responses] == [200] * THREADS
    assert all(r.json()["Saved Contact count"] == 20 for r in responses)
    contacts = list(TicketContact.objects.filter(label=tenant_a.label))
    assert len(contacts) == 20
    # Each contact holds one writer's whole row, never a mix.
    assert all(c.role == f"r{c.first_name.removeprefix('Writer')}" for c in contacts)


def test_concurrent_agent_upserts_keep_one_agent(tenant_a):
    body = {"appId": "a", "agents": [{"email": "agent@example.com", "firstName": "A"}]}
    responses = _run(tenant_a, [lambda c: c.post("/v4/agents", body, format="json")] * THREADS)
    assert [r.status_code for r in responses] == [200] * THREADS
    assert TicketAgent.objects.filter(label=tenant_a.label).count() == 1


def test_concurrent_updates_with_the_same_version_one_wins_the_rest_409(sk_client, tenant_a):
    ticket_id = sk_client.post("/v4/tickets", {"appId": "a", "status": "Open"}, format="json").json()["ticketId"]

    def call(n):
        body = {"id": ticket_id, "priority": f"P{n}", "version": 1}
        return lambda client: client.put("/v4/tickets", body, format="json")

    responses = _run(tenant_a, [call(n) for n in range(THREADS)])
    codes = Counter(r.status_code for r in responses)
    assert codes == {200: 1, 409: THREADS - 1}
    (winner,) = [r.json() for r in responses if r.status_code == 200]
    assert all(r.json()["code"] == "version_conflict" for r in responses if r.status_code == 409)
    ticket = Ticket.objects.get(ticket_id=ticket_id)
    assert (ticket.priority, ticket.version) == (winner["priority"], 2)
    assert ticket.history.count() == 2


def test_concurrent_updates_without_version_all_apply_in_turn(sk_client, tenant_a):
    ticket_id = sk_client.post("/v4/tickets", {"appId": "a"}, format="json").json()["ticketId"]

    def call(n):
        body = {"id": ticket_id, "customFields": {"writer": n}}
        return lambda client: client.put("/v4/tickets", body, format="json")

    responses = _run(tenant_a, [call(n) for n in range(THREADS)])
    assert [r.status_code for r in responses] == [200] * THREADS
    assert sorted(r.json()["version"] for r in responses) == list(range(2, THREADS + 2))
    ticket = Ticket.objects.get(ticket_id=ticket_id)
    assert ticket.version == THREADS + 1
    assert ticket.history.count() == THREADS + 1


def test_concurrent_comments_are_all_kept(sk_client, tenant_a):
    ticket_id = sk_client.post("/v4/tickets", {"appId": "a"}, format="json").json()["ticketId"]

    def call(n):
        body = {"ticketId": ticket_id, "description": f"comment {n}"}
        return lambda client: client.post("/v4/tickets/comments", body, format="json")

    responses = _run(tenant_a, [call(n) for n in range(THREADS)])
    assert [r.status_code for r in responses] == [201] * THREADS
    listed = sk_client.get("/v4/tickets/comments", {"ticketId": ticket_id}).json()
    assert sorted(c["description"] for c in listed["comments"]) == [f"comment {n}" for n in range(THREADS)]
