"""Garbage to every usage endpoint: the reference's envelope (INVALID_INPUT 400), naming the field; never a 500, and
nothing stored."""

from __future__ import annotations

import pytest

from crm.models import CustomerAccount, Event, UsageDevice, UsageRequest, UsageUser
from tests.integrations.smartkarrot.test_usage_endpoints import APP, USER, events_body, purchase, user_body

pytestmark = pytest.mark.django_db

HUGE = "x" * 100_000
RAW_BODIES = [b"", b"not json", b"{", b"[]", b"[1, 2]", b"null", b"42", b'"text"', b"true", b"NaN",
              b'{"appId": "\\ud800"}', b'{"a": ' * 300 + b"1" + b"}" * 300, b"\xff\xfe", b'{"appId": 1e999}']  # fmt: skip

VALID = {
    "customer": {"appId": APP, "accountId": "acc", "name": "N", "status": "Active"},
    "user": user_body(),
    "event": events_body(purchase()),
    "user/attribute": {"userId": USER, "platform": "Web", "appId": APP, "userAttributes": [
        {"name": "Region", "dataType": "String", "stringValue": "US", "loggedAtTime": "2018-12-14T07:46:31.565Z"}]},
    "device/attribute": {"appId": APP, "platform": "Web", "userId": USER, "deviceAttributes": {"Make": "Apple"}},
    "device/token": {"appId": APP, "platform": "Android", "userId": USER, "deviceToken": "tok"},
}  # fmt: skip
REQUIRED = {
    "customer": ["appId", "accountId", "name", "status"],
    "user": ["appId", "customerAccountId", "userId", "status", "loginMechanism", "platform"],
    "event": ["events", "userId", "appId", "customerAccountId", "platform"],
    "user/attribute": ["userAttributes", "userId", "appId", "platform"],
    "device/attribute": ["deviceAttributes", "userId", "appId", "platform"],
    "device/token": ["deviceToken", "userId", "appId", "platform"],
}
_CALLER = ["sessionId", "deviceId", "idempotencyId"]
OPTIONAL = {
    "customer": ["productIds", "base64EncodedLogoImage", "idempotencyId"],
    "user": [*_CALLER, "bundleId", "lastLoggedInUserId"],
    "event": [*_CALLER, "productId", "appVersion", "userSourceIP"],
    "user/attribute": [*_CALLER, "customerAccountId"],
    "device/attribute": _CALLER,
    "device/token": [*_CALLER, "appInDistribution"],
}
WRONG_TYPES = [1, 1.5, True, [], {}, "", HUGE, "a\x00b"]


def nothing_stored() -> None:
    assert not Event.objects.exists()
    assert not UsageUser.objects.exists()
    assert not UsageDevice.objects.exists()
    assert not CustomerAccount.objects.exists()
    assert not UsageRequest.objects.exists()


@pytest.mark.parametrize("endpoint", list(VALID))
def test_malformed_bodies(sk_client, tenant_a, endpoint):
    for raw in RAW_BODIES:
        response = sk_client.post(f"/v4/usageanalytics/{endpoint}", raw, content_type="application/json")
        assert response.status_code == 400, (raw[:40], response.content)
        assert response.json()["status"] == "INVALID_INPUT"
    nothing_stored()


@pytest.mark.parametrize("endpoint", list(VALID))
def test_each_missing_required_field_is_named(sk_client, tenant_a, endpoint):
    for name in REQUIRED[endpoint]:
        body = {k: v for k, v in VALID[endpoint].items() if k != name}
        response = sk_client.post(f"/v4/usageanalytics/{endpoint}", body, format="json")
        assert response.status_code == 400, name
        assert response.json()["status"] == "INVALID_INPUT"
        assert name in response.json()["errors"], (name, response.json())
    nothing_stored()


@pytest.mark.parametrize("endpoint", list(VALID))
def test_wrong_types_of_every_field_are_named(sk_client, tenant_a, endpoint):
    for name in REQUIRED[endpoint] + OPTIONAL[endpoint]:
        for value in WRONG_TYPES:
            if (value == "" and name in OPTIONAL[endpoint]) or (name, value) in (
                ("productIds", []),
                ("appInDistribution", True),
            ):
                continue  # a blank optional text is an absent one; no product ids is a valid list
            body = {**VALID[endpoint], name: value}
            response = sk_client.post(f"/v4/usageanalytics/{endpoint}", body, format="json")
            assert response.status_code == 400, (name, repr(value)[:30], response.content[:200])
            assert name in response.json()["errors"], (name, response.json())
    nothing_stored()


BAD_PARAMETERS = [
    ({"attributeName": "P", "dataType": "Number", "numberValue": "12"}, "events[0].parameters[0].numberValue"),
    ({"attributeName": "P", "dataType": "Number"}, "events[0].parameters[0].numberValue"),
    ({"attributeName": "P", "dataType": "Boolean", "booleanValue": "true"}, "events[0].parameters[0].booleanValue"),
    ({"attributeName": "P", "dataType": "Date", "stringValue": "tomorrow"}, "events[0].parameters[0].stringValue"),
    ({"attributeName": "P", "dataType": "String", "stringValue": 5}, "events[0].parameters[0].stringValue"),
    ({"attributeName": "P", "dataType": "Money", "stringValue": "5"}, "events[0].parameters[0].dataType"),
    ({"dataType": "String", "stringValue": "5"}, "events[0].parameters[0].attributeName"),
    ({"attributeName": 7, "dataType": "String", "stringValue": "5"}, "events[0].parameters[0].attributeName"),
    ("not an object", "events[0].parameters[0]"),
]


@pytest.mark.parametrize(("parameter", "field"), BAD_PARAMETERS)
def test_event_parameters_are_validated_by_their_declared_type(sk_client, tenant_a, parameter, field):
    event = {"name": "Signed In", "loggedAtTime": "2020-03-28T12:07:58.165Z", "parameters": [parameter]}
    response = sk_client.post("/v4/usageanalytics/event", events_body(event), format="json")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == [field]
    nothing_stored()


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"loggedAtTime": "2020-03-28T12:07:58Z"}, "events[0].name"),
        ({"name": "x"}, "events[0].loggedAtTime"),
        ({"name": "x", "loggedAtTime": 1585397278000}, "events[0].loggedAtTime"),
        ({"name": "x", "loggedAtTime": "2999-01-01T00:00:00Z"}, "events[0].loggedAtTime"),
        ({"name": "x", "loggedAtTime": "2020-03-28T12:07:58Z", "parameters": {"a": 1}}, "events[0].parameters"),
        ({"name": HUGE, "loggedAtTime": "2020-03-28T12:07:58Z"}, "events[0].name"),
        (["not", "an", "event"], "events[0]"),
    ],
)
def test_events_are_validated_naming_the_field(sk_client, tenant_a, event, field):
    response = sk_client.post("/v4/usageanalytics/event", events_body(event), format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"], response.json()
    nothing_stored()


def test_duplicate_parameter_names_and_too_many_events(sk_client, tenant_a):
    twice = {"attributeName": "A", "dataType": "String", "stringValue": "1"}
    event = {"name": "x", "loggedAtTime": "2020-03-28T12:07:58Z", "parameters": [twice, twice]}
    response = sk_client.post("/v4/usageanalytics/event", events_body(event), format="json")
    assert response.json()["errors"] == {"events[0].parameters[1].attributeName": ["'A' appears twice."]}
    many = events_body(*[purchase()] * 1001)
    response = sk_client.post("/v4/usageanalytics/event", many, format="json")
    assert response.json()["errors"] == {"events": ["At most 1000 events in one call."]}
    nothing_stored()


def test_unknown_keys_are_ignored(sk_client, tenant_a):
    body = {**VALID["event"], "userSourceIP": "142.250.182.36", "somethingNew": {"x": 1}}
    assert sk_client.post("/v4/usageanalytics/event", body, format="json").status_code == 200
