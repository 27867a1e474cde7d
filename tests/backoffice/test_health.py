"""`/healthz`: 200 when the database and the broker answer, 503 naming what does not."""

from __future__ import annotations

import socket

import pytest

from backoffice.celery import app as celery_app


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.django_db
def test_healthz_is_200_when_database_and_broker_answer(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["broker"]["ok"] is True


@pytest.mark.django_db
def test_healthz_is_503_naming_the_broker_when_it_does_not_answer(client, monkeypatch):
    closed = f"redis://127.0.0.1:{_closed_port()}/0"
    # Celery reads CELERY_BROKER_URL from the environment before its configuration, so both must point there.
    monkeypatch.setenv("CELERY_BROKER_URL", closed)
    monkeypatch.setitem(celery_app.conf, "broker_url", closed)

    response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["broker"]["ok"] is False
    assert body["checks"]["broker"]["error"]
    assert body["checks"]["database"]["ok"] is True


def test_healthz_answers_only_get(client):
    assert client.post("/healthz").status_code == 405
