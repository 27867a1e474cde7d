"""Garbage to every compatible tickets endpoint: the reference's envelope (INVALID_INPUT 400, or ERROR with its
status), never a 500, and nothing written."""

from __future__ import annotations

import pytest

from crm.models import Ticket, TicketAgent, TicketComment, TicketContact, TicketHistory

pytestmark = pytest.mark.django_db
APP = "app-1"
HUGE = "x" * 100_000

ENDPOINTS = [
    ("post", "/v4/contacts"),
    ("post", "/v4/tickets/contacts"),
    ("post", "/v4/agents"),
    ("delete", "/v4/agents"),
    ("post", "/v4/tickets"),
    ("put", "/v4/tickets"),
    ("delete", "/v4/tickets"),
    ("post", "/v4/tickets/comment"),
    ("post", "/v4/tickets/comments"),
    ("put", "/v4/tickets/comments"),
]
# (content type, raw body) pairs no endpoint may accept.
RAW_BODIES = [
    ("application/json", b"{not json"),
    ("application/json", b"[1, 2, 3]"),
    ("application/json", b'"a string"'),
    ("application/json", b"null"),
    ("application/json", b"12"),
    ("application/json", b"\xff\xfe\x00garbage"),
    ("application/json", b'{"appId": "a\\u0000b", "contacts": "\\u0000"}'),
    ("application/json", b"{}"),
    ("text/plain", b"appId=1"),
    ("application/x-www-form-urlencoded", b"appId=1&contacts=2"),
]
# JSON objects with the right shape and the wrong contents.
BAD_OBJECTS = [
    {"appId": 12, "contacts": {"email": "x"}},
    {"appId": None, "agents": None, "ticketId": None, "description": None, "id": None},
    {"appId": ["a"], "contacts": [], "agents": [], "id": ["x"], "ticketId": {"a": 1}, "description": 5},
    {"appId": HUGE, "contacts": [HUGE], "agents": [None], "id": HUGE, "ticketId": HUGE, "description": HUGE * 3},
    {"appId": "a\x00b", "id": "\x00", "ticketId": "\x00", "description": "a\x00"},
    {"appId": APP, "id": "not-a-uuid", "ticketId": "not-a-uuid", "description": "hi", "version": "one", "type": [1]},
    {"appId": APP, "dueDate": "yesterday", "escalation": "maybe", "customFields": [1], "createdByType": "robot"},
    {"appId": APP, "customFields": {"k\x00": "v"}, "assignedTo": 5.5, "priority": {"a": 1}, "status": True},
    {"appId": APP, "dueDate": "2021-02-30", "version": 0, "extBrandId": "b"},
    {"appId": APP, "dueDate": "9" * 60, "version": 2**40, "customFields": {"big": HUGE}},
    {"appId": APP, "contacts": [{"email": "not-an-email", "firstName": ""}] * 1001, "dueDate": 1},
    {
        "appId": APP,
        "contacts": [1, "x", None, [], {"email": HUGE, "firstName": "a", "isChampion": "yes"}],
        "dueDate": 1,
    },
]


def _call(client, method, path, content_type, body):
    return getattr(client, method)(path, data=body, content_type=content_type)


def _assert_envelope(response):
    assert response.status_code < 500, response.content[:500]
    body = response.json()
    if response.status_code >= 400:
        assert body["status"] in ("INVALID_INPUT", "ERROR")
        assert isinstance(body["message"], str)
        if body["status"] == "INVALID_INPUT":
            assert response.status_code == 400
            assert body["errors"]
    return body


def _nothing_written():
    assert not Ticket.objects.exists()
    assert not TicketAgent.objects.exists()
    assert not TicketComment.objects.exists()
    assert not TicketHistory.objects.exists()


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_raw_garbage_is_refused_in_the_envelope(sk_client, method, path):
    for content_type, raw in RAW_BODIES:
        response = _call(sk_client, method, path, content_type, raw)
        body = _assert_envelope(response)
        # a body that is not JSON at all is refused by its type (415); a JSON body that is not a valid object, 400
        expected = 400 if content_type == "application/json" else 415
        assert response.status_code == expected, (content_type, raw, body)
    _nothing_written()
    assert not TicketContact.objects.exists()


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_wrong_values_are_refused_in_the_envelope(sk_client, method, path):
    import json

    for obj in BAD_OBJECTS:
        response = _call(sk_client, method, path, "application/json", json.dumps(obj))
        body = _assert_envelope(response)
        contacts = obj.get("contacts")
        app_ok = isinstance(obj.get("appId"), str) and len(obj["appId"]) < 128
        if path.endswith("contacts") and isinstance(contacts, list) and 0 < len(contacts) <= 1000 and app_ok:
            # A well-formed batch of bad rows: each row refused with its reasons, none saved.
            assert body["Saved Contact count"] == 0
            assert body["Unsaved Contact count"] == len(contacts)
            assert all(row["reasons"] for row in body["unsavedContacts"])
            continue
        # agents are deleted by the partner's id, which is free text: a well-formed unknown one is 404
        unknown_agent = (method, path) == ("delete", "/v4/agents") and obj.get("id") == "not-a-uuid"
        assert response.status_code == (404 if unknown_agent else 400), (obj, body)
    _nothing_written()
    assert not TicketContact.objects.exists()


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/v4/tickets/contacts?limit=-1", "limit"),
        ("/v4/tickets/contacts?limit=99999999999999999999", "limit"),
        ("/v4/tickets/contacts?nextPageToken=%00", "nextPageToken"),
        ("/v4/tickets/contacts?emailId=%00", "emailId"),
        ("/v4/tickets/contacts?salesforceId=" + "x" * 5000, "salesforceId"),
        ("/v4/tickets/contacts?nextPageToken=eyJ0IjogMSwgImkiOiAieCJ9", "nextPageToken"),
        ("/v4/tickets?appId=%00", "appId"),
        ("/v4/tickets?appId=a&status=%00", "status"),
        ("/v4/tickets/a%00b", "path"),
        ("/v4/tickets/comments", "ticketId"),
        ("/v4/tickets/comments?ticketId=%00", "ticketId"),
        ("/v4/tickets/comments?ticketId=nope", "ticketId"),
        ("/v4/agents?limit=abc", "limit"),
    ],
)
def test_garbage_queries_are_refused_in_the_envelope(sk_client, path, field):
    response = sk_client.get(path)
    body = _assert_envelope(response)
    assert (response.status_code, body["status"], list(body["errors"])) == (400, "INVALID_INPUT", [field])


def test_ticket_ids_that_are_not_uuids_are_404_on_paths(sk_client):
    for method in ("put", "delete"):
        response = getattr(sk_client, method)("/v4/tickets/not-a-ticket", {}, format="json")
        assert response.status_code == 404
        assert response.json() == {"status": "ERROR", "message": "No such ticket.", "code": "not_found"}


def test_wrong_method_is_405_in_the_envelope(sk_client):
    response = sk_client.post("/v4/tickets/7aa6b29b-709d-4d65-b1ea-acc8793c3e9a", {}, format="json")
    assert response.status_code == 405
    assert response.json()["status"] == "ERROR"
