"""`/healthz`: 200 when the database and the broker answer and every pipeline group keeps up, 503 naming what does
not."""

from __future__ import annotations

import datetime as dt
import socket

import pytest
from django.utils import timezone

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


# --- the pipeline ---------------------------------------------------------------------------------------------------
# These tests run in one transaction that no tick sees: the events they store are pending in every group.
@pytest.fixture
def pending_since(tenant_a):
    """Store one event received `seconds` ago, and take a tick now (the ticker is alive)."""
    from crm.pipeline import tick
    from tests.crm.test_admin_events import event, ingest

    def store(seconds: int) -> None:
        ingest(tenant_a.label, event(f"e-{seconds}"), received_at=timezone.now() - dt.timedelta(seconds=seconds))
        tick(force=True)

    return store


@pytest.mark.django_db
def test_healthz_reports_each_groups_lag(client, pending_since, settings):
    settings.PITBOSS_PIPELINE_MAX_LAG_SECONDS = 300
    pending_since(120)

    response = client.get("/healthz")

    assert response.status_code == 200
    pipeline = response.json()["checks"]["pipeline"]
    assert pipeline["ok"] is True
    assert set(pipeline["lag_seconds"]) == {"crm", "gamification", "automation"}
    assert all(119 < lag < 125 for lag in pipeline["lag_seconds"].values())
    assert pipeline["tick_age_seconds"] < 5


@pytest.mark.django_db
def test_healthz_is_503_naming_the_group_that_lags_too_far(client, pending_since, settings):
    settings.PITBOSS_PIPELINE_MAX_LAG_SECONDS = 60
    pending_since(90)

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response["Retry-After"]
    pipeline = response.json()["checks"]["pipeline"]
    assert pipeline["ok"] is False
    assert "crm lags 90 s (max 60 s)" in pipeline["error"]
    assert "gamification lags 90 s (max 60 s)" in pipeline["error"]
    assert "automation lags 90 s (max 60 s)" in pipeline["error"]


@pytest.mark.django_db
def test_healthz_is_503_when_no_tick_is_taken_while_events_wait(client, pending_since, settings):
    pending_since(1)
    settings.PITBOSS_PIPELINE_IDLE_TICK_SECONDS = 0  # any tick is too old: nobody ticks

    response = client.get("/healthz")

    assert response.status_code == 503
    assert "while events are pending: no pipeline worker or sweeper" in response.json()["checks"]["pipeline"]["error"]


@pytest.mark.django_db
def test_healthz_ignores_an_old_tick_when_nothing_waits(client, settings):
    settings.PITBOSS_PIPELINE_IDLE_TICK_SECONDS = 0
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["checks"]["pipeline"]["lag_seconds"] == {"crm": 0.0, "gamification": 0.0, "automation": 0.0}


@pytest.mark.django_db
def test_healthz_costs_one_query_for_the_pipeline(client, pending_since, django_assert_num_queries):
    pending_since(1)
    with django_assert_num_queries(2):  # SELECT 1, then the groups' lag and the newest tick in one statement
        assert client.get("/healthz").status_code == 200


@pytest.mark.django_db
def test_a_load_balancer_asks_for_the_web_checks_only(client, pending_since, settings):
    settings.PITBOSS_PIPELINE_MAX_LAG_SECONDS = 60
    pending_since(90)  # the pipeline lags: monitoring's business, not a reason to stop serving requests

    assert client.get("/healthz").status_code == 503
    response = client.get("/healthz", {"check": "database,broker"})
    assert response.status_code == 200
    assert set(response.json()["checks"]) == {"database", "broker"}
    assert set(client.get("/healthz", {"check": "pipeline"}).json()["checks"]) == {"pipeline"}


@pytest.mark.django_db
def test_an_unknown_check_is_refused_naming_it(client):
    response = client.get("/healthz", {"check": "database,nope"})
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "check": ["Unknown check 'nope'; name one or more of database, broker, pipeline, separated by commas."]
    }
    assert client.get("/healthz", {"check": ","}).status_code == 400
