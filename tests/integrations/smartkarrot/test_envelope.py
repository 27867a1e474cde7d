"""The family's common ground: unknown paths answer in the envelope, CORS is open on the compatible paths only."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_unknown_compatible_path_is_an_envelope_404(sk_client):
    response = sk_client.get("/v4/usageanalytics/no-such-endpoint")
    assert response.status_code == 404
    assert response.json() == {"status": "ERROR", "message": "Not found."}


def test_unknown_financial_path_is_an_envelope_404(sk_client):
    response = sk_client.get("/dashboards/v4/financial/no-such-endpoint")
    assert response.status_code == 404
    assert response.json() == {"status": "ERROR", "message": "Not found."}


def test_cors_preflight_is_answered_on_compatible_paths(client):
    response = client.options(
        "/v4/usageanalytics/event",
        HTTP_ORIGIN="https://app.example.com",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, content-type",
    )
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "*"
    assert "authorization" in response["Access-Control-Allow-Headers"]
    assert "Access-Control-Allow-Credentials" not in response


def test_cors_stays_closed_on_pitboss_api(client):
    response = client.options(
        "/api/v1/events",
        HTTP_ORIGIN="https://app.example.com",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
    )
    assert "Access-Control-Allow-Origin" not in response
