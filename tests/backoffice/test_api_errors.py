"""Answers the OpenAPI schema documents on every operation, checked where they arise: 413, 415 and 406."""

from __future__ import annotations

import pytest

from crm.models import Player

PLAYER = "/api/v1/players/shared-brand/shared-player"
WRITES = [
    ("post", "/api/v1/players"),
    ("patch", PLAYER),
    ("post", f"{PLAYER}/wallet/adjustments"),
    ("post", f"{PLAYER}/store/purchases"),
    ("post", f"{PLAYER}/badges/1/awards"),
    ("post", "/api/v1/events"),
]


@pytest.mark.parametrize(("method", "url"), WRITES)
def test_a_body_over_the_size_limit_is_a_413_in_the_error_shape(key_client, settings, method, url):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1_000
    body = '{"user_ext_id": "big", "reason": "' + "x" * 2_000 + '"}'
    response = getattr(key_client, method)(url, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert response.status_code == 413
    assert response.json() == {"code": "too_large", "message": "The body is too large.", "errors": {}}
    assert not Player.objects.filter(user_ext_id="big").exists()


def test_a_body_that_is_not_json_is_a_415(key_client):
    response = key_client.post(f"{PLAYER}/wallet/adjustments", "currency=points", content_type="text/plain")
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"


def test_asking_for_something_other_than_json_is_a_406(key_client):
    response = key_client.get("/api/v1/brands", HTTP_ACCEPT="application/xml")
    assert response.status_code == 406
    assert response.json()["code"] == "not_acceptable"
