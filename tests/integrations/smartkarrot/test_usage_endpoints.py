"""The usage analytics endpoints end to end: the reference's sample requests, the event log, players, sessions."""

from __future__ import annotations

import pytest

from crm.models import CustomerAccount, Event, Player, UsageApp, UsageDevice, UsageSession, UsageUser

pytestmark = pytest.mark.django_db

APP = "4ed062f1-fc38-4f32-a714-b63dc5399626"
ACCOUNT = "de8327c8-ece7-427a-ba8f-e4c7809ea716"
USER = "8f2dfb97-fe4b-49b3-a5d5-a671335cde00"


def user_body(**over):
    body = {
        "appId": APP, "customerAccountId": ACCOUNT, "userId": USER, "status": "Active", "platform": "iOS",
        "deviceId": "53e11019", "loginMechanism": "AUTH", "bundleId": "com.smartkarrot.tasks", "sessionId": "s-1",
    }  # fmt: skip
    return {**body, **over}


def events_body(*events, **over):
    body = {"events": list(events), "userId": USER, "appId": APP, "sessionId": "s-1", "deviceId": "d-1",
            "platform": "Web", "customerAccountId": ACCOUNT, "productId": "p-1", "appVersion": "1.0"}  # fmt: skip
    return {**body, **over}


def purchase(when="2020-03-28T12:07:58.165Z"):
    return {"name": "Purchase Product", "loggedAtTime": when, "parameters": [
        {"attributeName": "Module", "dataType": "String", "stringValue": "Product"},
        {"attributeName": "List Price", "dataType": "String", "stringValue": "$ 45"},
        {"attributeName": "Quantity", "dataType": "Number", "numberValue": 2},
        {"attributeName": "Gift", "dataType": "Boolean", "booleanValue": True},
        {"attributeName": "Delivered", "dataType": "Date", "stringValue": "2020-03-29T10:00:00Z"},
    ]}  # fmt: skip


def test_user_then_event_lands_in_the_event_log_for_the_player(sk_client, tenant_a):
    response = sk_client.post("/v4/usageanalytics/user", user_body(), format="json")
    assert response.status_code == 200, response.content
    assert response.json() == {"status": "SUCCESS"}
    response = sk_client.post("/v4/usageanalytics/event/", events_body(purchase()), format="json")
    assert response.status_code == 200, response.content
    assert response.json() == {"status": "SUCCESS", "accepted": 1, "duplicate": 0, "held": 0}
    event = Event.objects.get(label=tenant_a.label, type="usage_event")
    assert event.player.user_ext_id == USER and event.player.brand == tenant_a.brand
    assert event.payload == {
        "name": "Purchase Product", "module": "Product", "session_id": "s-1", "device_id": "d-1", "platform": "web",
        "app_id": APP, "customer_account_id": ACCOUNT, "product_id": "p-1", "app_version": "1.0",
        "parameters": {"List Price": "$ 45", "Quantity": 2, "Gift": True, "Delivered": "2020-03-29T10:00:00.000Z"},
    }  # fmt: skip
    user = UsageUser.objects.get(label=tenant_a.label)
    assert user.player == event.player and user.customer_account.account_id == ACCOUNT
    assert UsageApp.objects.get(label=tenant_a.label).brand == tenant_a.brand
