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
    assert event.player.user_ext_id == USER
    assert event.player.brand == tenant_a.brand
    assert event.payload == {
        "name": "Purchase Product", "module": "Product", "session_id": "s-1", "device_id": "d-1", "platform": "web",
        "app_id": APP, "customer_account_id": ACCOUNT, "product_id": "p-1", "app_version": "1.0",
        "parameters": {"List Price": "$ 45", "Quantity": 2, "Gift": True, "Delivered": "2020-03-29T10:00:00.000Z"},
    }  # fmt: skip
    user = UsageUser.objects.get(label=tenant_a.label)
    assert user.player == event.player
    assert user.customer_account.account_id == ACCOUNT
    assert UsageApp.objects.get(label=tenant_a.label).brand == tenant_a.brand


@pytest.mark.parametrize(
    "path",
    ["customer", "customer/", "user", "user/", "event", "event/", "user/attribute", "user/attribute/",
     "device/attribute", "device/attribute/", "device/token", "device/token/"],
)  # fmt: skip
def test_every_path_answers_with_and_without_trailing_slash(sk_client, path):
    response = sk_client.post(f"/v4/usageanalytics/{path}", {}, format="json")
    assert response.status_code == 400
    assert response.json()["status"] == "INVALID_INPUT"


def test_customer_account_is_created_then_updated(sk_client, tenant_a):
    png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
    body = {"appId": APP, "accountId": ACCOUNT, "name": "SmartKarrot", "base64EncodedLogoImage": png,
            "productIds": ["91ed7505"], "status": "Active"}  # fmt: skip
    assert sk_client.post("/v4/usageanalytics/customer", body, format="json").json() == {"status": "SUCCESS"}
    body.update(name="SmartKarrot Inc", status="Inactive", productIds=["a", "b"])
    del body["base64EncodedLogoImage"]
    assert sk_client.post("/v4/usageanalytics/customer/", body, format="json").status_code == 200
    account = CustomerAccount.objects.get(label=tenant_a.label, account_id=ACCOUNT)
    assert (account.name, account.status, account.product_ids, account.app_id) == (
        "SmartKarrot Inc",
        "Inactive",
        ["a", "b"],
        APP,
    )
    assert account.logo_content_type == "image/png"
    assert bytes(account.logo).startswith(b"\x89PNG")


def test_customer_logo_that_is_not_an_image_is_refused(sk_client, tenant_a):
    body = {"appId": APP, "accountId": ACCOUNT, "name": "X", "status": "Active",
            "base64EncodedLogoImage": "bm90IGFuIGltYWdl"}  # fmt: skip
    response = sk_client.post("/v4/usageanalytics/customer", body, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"base64EncodedLogoImage": ["Expected a PNG, JPEG, GIF or WebP image."]}
    assert not CustomerAccount.objects.filter(label=tenant_a.label).exists()


def test_resent_events_are_acknowledged_as_duplicates(sk_client, tenant_a):
    body = events_body(purchase(), {"name": "Signed In", "loggedAtTime": "2020-03-28T12:08:00Z"})
    assert sk_client.post("/v4/usageanalytics/event", body, format="json").json()["accepted"] == 2
    again = sk_client.post("/v4/usageanalytics/event", body, format="json").json()
    assert again == {"status": "SUCCESS", "accepted": 0, "duplicate": 2, "held": 0}
    assert Event.objects.filter(label=tenant_a.label).count() == 2


def test_an_event_for_a_user_never_registered_creates_the_player(sk_client, tenant_a):
    response = sk_client.post("/v4/usageanalytics/event", events_body(purchase(), userId="new-user"), format="json")
    assert response.status_code == 200
    player = Player.objects.get(label=tenant_a.label, user_ext_id="new-user")
    assert UsageUser.objects.get(user_id="new-user").player == player
    assert Event.objects.get(player=player).type == "usage_event"


def session(name, when, **params):
    parameters = [{"attributeName": "sessionId", "dataType": "String", "stringValue": "j28d"}]
    for key, value in params.items():
        parameters.append({"attributeName": key, "dataType": "Date", "stringValue": value})
    return {"name": name, "loggedAtTime": when, "parameters": parameters}


def test_session_start_and_end_make_a_session_with_its_duration(sk_client, tenant_a):
    start = session("app_session_start", "2019-03-28T12:07:58.165Z", startTime="2019-03-28T12:07:58.165Z")
    end = session("app_session_end", "2019-03-28T12:17:58.165Z", endTime="2019-03-28T12:17:58.665Z")
    assert sk_client.post("/v4/usageanalytics/event", events_body(start), format="json").status_code == 200
    assert sk_client.post("/v4/usageanalytics/event", events_body(end), format="json").status_code == 200
    stored = UsageSession.objects.get(session_id="j28d")
    assert stored.duration_seconds == 600.5
    ended = Event.objects.get(type="app_session_end")
    assert ended.payload["duration_seconds"] == 600.5
    assert ended.payload["session_id"] == "j28d"
    assert Event.objects.get(type="app_session_start").payload["start_time"] == "2019-03-28T12:07:58.165+00:00"


def test_session_start_without_start_time_is_refused_naming_it(sk_client, tenant_a):
    start = session("app_session_start", "2019-03-28T12:07:58.165Z")
    response = sk_client.post("/v4/usageanalytics/event", events_body(start), format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "events[0].parameters": ["app_session_start needs the parameter startTime (Date or String)."]
    }
    assert not Event.objects.filter(label=tenant_a.label).exists()
    assert not UsageUser.objects.exists()


def test_page_load_event_is_typed(sk_client, tenant_a):
    page = {"name": "page_load_event", "loggedAtTime": "2019-03-28T12:07:58.165Z", "parameters": [
        {"attributeName": "requestCount", "dataType": "Number", "numberValue": 54},
        {"attributeName": "loadTime", "dataType": "Number", "numberValue": 32.3},
        {"attributeName": "pageUrl", "dataType": "String", "stringValue": "https://devstage.example/#/demo"},
    ]}  # fmt: skip
    assert sk_client.post("/v4/usageanalytics/event", events_body(page), format="json").status_code == 200
    payload = Event.objects.get(type="page_load_event").payload
    assert (payload["request_count"], payload["load_time"], payload["page_url"]) == (
        54,
        32.3,
        "https://devstage.example/#/demo",
    )


def test_guest_events_are_held_then_moved_to_the_player_who_logs_in(sk_client, tenant_a):
    guest = "guest-uuid-1"
    assert sk_client.post("/v4/usageanalytics/user", user_body(userId=guest, loginMechanism="GUEST"),
                          format="json").status_code == 200  # fmt: skip
    response = sk_client.post("/v4/usageanalytics/event", events_body(purchase(), userId=guest), format="json")
    assert response.json() == {"status": "SUCCESS", "accepted": 0, "duplicate": 0, "held": 1}
    assert not Event.objects.filter(label=tenant_a.label).exists()
    assert not Player.objects.filter(user_ext_id=guest).exists()
    body = user_body(userId="player-7", lastLoggedInUserId=guest)
    assert sk_client.post("/v4/usageanalytics/user", body, format="json").status_code == 200
    moved = Event.objects.get(label=tenant_a.label)
    assert moved.player.user_ext_id == "player-7"
    assert moved.payload["name"] == "Purchase Product"
    # later events sent under the guest's id go to the player too
    later = sk_client.post("/v4/usageanalytics/event", events_body(purchase("2020-03-28T13:00:00Z"), userId=guest),
                           format="json")  # fmt: skip
    assert later.json()["accepted"] == 1
    assert Event.objects.filter(player__user_ext_id="player-7").count() == 2
    assert UsageUser.objects.get(user_id=guest).merged_into.user_id == "player-7"


def test_user_attributes_are_kept_and_reach_the_player_profile_as_custom_properties(sk_client, tenant_a):
    body = {"userId": USER, "platform": "Web", "appId": APP, "userAttributes": [
        {"name": "Subscribed To Email", "dataType": "Boolean", "booleanValue": True,
         "loggedAtTime": "2018-12-14T07:46:31.565Z"},
        {"name": "Region", "dataType": "String", "stringValue": "US", "loggedAtTime": "2018-12-14T07:46:31.565Z"},
        {"name": "Age", "dataType": "Number", "numberValue": 25, "loggedAtTime": "2018-12-14T07:46:31.565Z"},
    ]}  # fmt: skip
    assert sk_client.post("/v4/usageanalytics/user/attribute", body, format="json").status_code == 200
    older = {**body, "userAttributes": [{"name": "Region", "dataType": "String", "stringValue": "FR",
                                         "loggedAtTime": "2018-01-01T00:00:00Z"}]}  # fmt: skip
    assert sk_client.post("/v4/usageanalytics/user/attribute", older, format="json").status_code == 200
    user = UsageUser.objects.get(user_id=USER)
    assert user.attributes["Region"] == {
        "dataType": "String",
        "value": "US",
        "loggedAtTime": "2018-12-14T07:46:31.565Z",
    }
    update = Event.objects.get(type="profile_update")
    assert update.payload["custom"] == {"usage_subscribed_to_email": True, "usage_region": "US", "usage_age": 25}


def test_device_attributes_and_token(sk_client, tenant_a):
    body = {"appId": APP, "platform": "Web", "deviceId": "dev-1", "idempotencyId": "9890BDAA",
            "userId": USER, "deviceAttributes": {"App Bundle Identifier": "org.app.demo", "Make": "Apple"}}  # fmt: skip
    assert sk_client.post("/v4/usageanalytics/device/attribute", body, format="json").status_code == 200
    token = {"appId": APP, "platform": "iOS", "deviceId": "dev-1", "idempotencyId": "9890BDAA", "userId": USER,
             "deviceToken": "740f4707 bebcf74f 61bb78ad", "appInDistribution": True}  # fmt: skip
    assert sk_client.post("/v4/usageanalytics/device/token", token, format="json").status_code == 200
    device = UsageDevice.objects.get(device_id="dev-1")
    assert device.attributes == {"App Bundle Identifier": "org.app.demo", "Make": "Apple"}
    assert device.token_masked == "••••78ad"
    assert "61bb78ad" not in device.token
    assert device.app_in_distribution is True


def test_ios_token_needs_app_in_distribution(sk_client, tenant_a):
    token = {"appId": APP, "platform": "iOS", "userId": USER, "deviceToken": "abc"}
    response = sk_client.post("/v4/usageanalytics/device/token", token, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"appInDistribution": ["This field is required."]}


def test_unknown_app_with_several_brands_is_refused_naming_app_id(sk_client, tenant_a):
    from tests.factories import BrandFactory

    BrandFactory(label=tenant_a.label, ext_brand_id="second")
    response = sk_client.post("/v4/usageanalytics/event", events_body(purchase()), format="json")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["appId"]
    UsageApp.objects.create(label=tenant_a.label, app_id=APP, brand=tenant_a.brand)
    assert sk_client.post("/v4/usageanalytics/event", events_body(purchase()), format="json").status_code == 200


def test_labels_are_isolated(sk_client, sk_client_b, tenant_a, tenant_b):
    sk_client.post("/v4/usageanalytics/event", events_body(purchase()), format="json")
    sk_client_b.post("/v4/usageanalytics/event", events_body(purchase()), format="json")
    assert Event.objects.filter(label=tenant_a.label).count() == 1
    assert Event.objects.filter(label=tenant_b.label).count() == 1
    assert UsageUser.objects.get(label=tenant_b.label).player.brand == tenant_b.brand


def test_no_key_is_401_in_the_envelope(api_client, tenant_a):
    response = api_client.post("/v4/usageanalytics/event", events_body(purchase()), format="json")
    assert response.status_code == 401
    assert response.json()["status"] == "ERROR"


def test_a_guest_id_registered_again_as_authenticated_gets_its_held_events(sk_client, tenant_a):
    guest = user_body(userId="g-2", loginMechanism="GUEST")
    assert sk_client.post("/v4/usageanalytics/user", guest, format="json").status_code == 200
    assert sk_client.post("/v4/usageanalytics/event", events_body(purchase(), userId="g-2"),
                          format="json").json()["held"] == 1  # fmt: skip
    assert sk_client.post("/v4/usageanalytics/user", {**guest, "loginMechanism": "AUTH"},
                          format="json").status_code == 200  # fmt: skip
    event = Event.objects.get(label=tenant_a.label)
    assert event.player.user_ext_id == "g-2"
    assert not UsageUser.objects.get(user_id="g-2").held_events.exists()
