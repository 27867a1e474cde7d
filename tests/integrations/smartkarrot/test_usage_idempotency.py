"""`idempotencyId`: a replay answers as the first call and changes nothing, even when the replays run concurrently."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from crm.models import Event, UsageDevice, UsageRequest
from tests.integrations.smartkarrot.conftest import basic
from tests.integrations.smartkarrot.test_usage_endpoints import APP, USER, events_body, purchase

pytestmark = pytest.mark.django_db


def test_a_replay_answers_as_the_first_call(sk_client, tenant_a):
    body = events_body(purchase(), idempotencyId="idem-1")
    first = sk_client.post("/v4/usageanalytics/event", body, format="json")
    replay = sk_client.post("/v4/usageanalytics/event/", body, format="json")
    assert first.json() == replay.json() == {"status": "SUCCESS", "accepted": 1, "duplicate": 0, "held": 0}
    assert Event.objects.filter(label=tenant_a.label).count() == 1


def test_the_same_key_for_another_body_is_a_409_error(sk_client, tenant_a):
    sk_client.post("/v4/usageanalytics/event", events_body(purchase(), idempotencyId="idem-2"), format="json")
    other = events_body(purchase("2020-03-28T12:09:00Z"), idempotencyId="idem-2")
    response = sk_client.post("/v4/usageanalytics/event", other, format="json")
    assert response.status_code == 409
    assert response.json()["status"] == "ERROR"
    assert Event.objects.filter(label=tenant_a.label).count() == 1


def test_keys_are_per_endpoint_and_per_label(sk_client, sk_client_b, tenant_a, tenant_b):
    # The reference's own samples use one idempotencyId for device/attribute and device/token.
    attrs = {"appId": APP, "platform": "Web", "deviceId": "d", "idempotencyId": "K", "userId": USER,
             "deviceAttributes": {"Make": "Apple"}}  # fmt: skip
    token = {"appId": APP, "platform": "Web", "deviceId": "d", "idempotencyId": "K", "userId": USER,
             "deviceToken": "tok-1234"}  # fmt: skip
    assert sk_client.post("/v4/usageanalytics/device/attribute", attrs, format="json").status_code == 200
    assert sk_client.post("/v4/usageanalytics/device/token", token, format="json").status_code == 200
    assert sk_client_b.post("/v4/usageanalytics/device/token", token, format="json").status_code == 200
    assert UsageDevice.objects.get(label=tenant_a.label).token_hint == "1234"
    assert UsageDevice.objects.get(label=tenant_b.label).token_hint == "1234"
    assert UsageRequest.objects.count() == 3


def test_an_invalid_call_does_not_use_up_its_key(sk_client, tenant_a):
    bad = events_body({"name": "x", "loggedAtTime": "yesterday"}, idempotencyId="idem-3")
    assert sk_client.post("/v4/usageanalytics/event", bad, format="json").status_code == 400
    good = events_body(purchase(), idempotencyId="idem-3")
    assert sk_client.post("/v4/usageanalytics/event", good, format="json").json()["accepted"] == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_replays_make_one_change_and_give_one_answer(tenant_a):
    from rest_framework.test import APIClient

    body = events_body(*(purchase(f"2020-03-28T12:{m:02d}:00Z") for m in range(20)), idempotencyId="idem-c")
    answers: list = []
    barrier = threading.Barrier(8)

    def call() -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=basic(tenant_a.raw_key))
        barrier.wait()
        try:
            response = client.post("/v4/usageanalytics/event", body, format="json")
            answers.append((response.status_code, response.json()))
        finally:
            connection.close()

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [(200, {"status": "SUCCESS", "accepted": 20, "duplicate": 0, "held": 0})] * 8
    assert Event.objects.filter(label=tenant_a.label, type="usage_event").count() == 20


@pytest.mark.django_db(transaction=True)
def test_concurrent_first_calls_of_one_new_user_lose_nothing(tenant_a):
    """Eight batches of a user nobody registered yet, at once: one app, one user, one player, every event stored."""
    from rest_framework.test import APIClient

    from crm.models import Player, UsageApp, UsageUser

    statuses: list[int] = []
    barrier = threading.Barrier(8)

    def call(n: int) -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=basic(tenant_a.raw_key))
        barrier.wait()
        try:
            body = events_body(*(purchase(f"2020-03-28T{n:02d}:{m:02d}:00Z") for m in range(10)), userId="racer")
            statuses.append(client.post("/v4/usageanalytics/event", body, format="json").status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=call, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 8
    assert UsageApp.objects.filter(label=tenant_a.label).count() == 1
    user = UsageUser.objects.get(label=tenant_a.label, user_id="racer")
    assert user.player == Player.objects.get(label=tenant_a.label, user_ext_id="racer")
    assert Event.objects.filter(player=user.player).count() == 80
