"""Garbage sent to every gamification write endpoint: a 4xx that names what is wrong, never a 500, nothing written."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gamification.models import (
    Badge,
    BadgeAward,
    Mission,
    MissionTask,
    PlayerMission,
    StorePurchase,
    Tournament,
    TournamentInstance,
    TournamentParticipant,
    WalletEntry,
)
from tests.gamification.store_helpers import item_make

PLAYER = "/api/v1/players/shared-brand/shared-player"

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=300),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=20), inner, max_size=4),
    max_leaves=12,
)


@pytest.fixture
def targets(tenant_a):
    label = tenant_a.label
    mission = Mission.objects.create(label=label, name="M", status="active", requires_opt_in=True)
    MissionTask.objects.create(mission=mission, name="t", event_type="login", target=1)
    badge = Badge.objects.create(label=label, name="B")
    now = timezone.now()
    tournament = Tournament.objects.create(
        label=label, name="T", status="active", starts_at=now, duration=dt.timedelta(days=1), event_type="login",
        registration_type="buy_in", buy_in_amount=10, buy_in_currency="points",
    )  # fmt: skip
    instance = TournamentInstance.objects.create(
        label=label, tournament=tournament, status="registration", registration_opens_at=now,
        starts_at=now + dt.timedelta(hours=1), ends_at=now + dt.timedelta(days=1),
    )  # fmt: skip
    item = item_make(label)
    return {
        "adjust": f"{PLAYER}/wallet/adjustments",
        "purchase": f"{PLAYER}/store/purchases",
        "award": f"{PLAYER}/badges/{badge.pk}/awards",
        "opt_in": f"{PLAYER}/missions/{mission.pk}/opt-in",
        "claim": f"{PLAYER}/missions/{mission.pk}/claim",
        "register": f"{PLAYER}/tournaments/{instance.pk}/registrations",
        "item": item,
    }


def _nothing_written() -> None:
    for model in (WalletEntry, StorePurchase, BadgeAward, TournamentParticipant):
        assert not model.objects.exists(), model.__name__
    assert not PlayerMission.objects.filter(opted_in_at__isnull=False).exists()


@pytest.mark.parametrize(
    ("endpoint", "body", "field"),
    [
        ("adjust", {"currency": "gold", "amount": 5, "idempotency_key": "k"}, "currency"),
        ("adjust", {"currency": "points", "amount": "five", "idempotency_key": "k"}, "amount"),
        ("adjust", {"currency": "points", "amount": 0, "idempotency_key": "k"}, "amount"),
        ("adjust", {"currency": "points", "amount": "5", "idempotency_key": "k"}, "amount"),  # a number in a string
        ("adjust", {"currency": "points", "amount": 5.0, "idempotency_key": "k"}, "amount"),
        ("adjust", {"currency": "points", "amount": True, "idempotency_key": "k"}, "amount"),
        ("adjust", {"currency": "points", "amount": 2**70, "idempotency_key": "k"}, "amount"),
        ("adjust", {"currency": "points", "amount": -5, "idempotency_key": "k"}, None),  # 422: nothing to debit
        ("adjust", {"currency": "points", "amount": 5}, "idempotency_key"),
        ("adjust", {"currency": "points", "amount": 5, "idempotency_key": "k" * 5000}, "idempotency_key"),
        ("purchase", {"item_id": "one", "idempotency_key": "k"}, "item_id"),
        ("purchase", {"item_id": None, "idempotency_key": "k"}, "item_id"),
        ("purchase", {"item_id": "1", "idempotency_key": "k"}, "item_id"),
        ("award", {"stage": 0, "idempotency_key": "k"}, "stage"),
        ("award", {"stage": "x", "idempotency_key": "k"}, "stage"),
        ("award", {"stage": "1", "idempotency_key": "k"}, "stage"),
        ("award", {"reason": "r" * 5000, "idempotency_key": "k"}, "reason"),
        ("claim", {}, None),  # 422: not completed
        ("register", {}, None),  # 422: the buy-in is not covered
    ],
)
def test_bad_input_is_named_and_changes_nothing(targets, key_client, endpoint, body, field):
    response = key_client.post(targets[endpoint], body, format="json")
    assert 400 <= response.status_code < 500, response.content
    error = response.json()
    assert set(error) >= {"code", "message"}
    if field:
        assert field in error.get("errors", {}), error
    _nothing_written()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(endpoint=st.sampled_from(["adjust", "purchase", "award", "opt_in", "claim", "register"]), body=json_values)
def test_random_json_never_breaks_a_write_endpoint(targets, key_client, endpoint, body):
    response = key_client.post(targets[endpoint], body, format="json")
    assert response.status_code < 500, response.content
    if response.status_code >= 400:
        assert "code" in response.json()


@pytest.mark.parametrize("endpoint", ["adjust", "purchase", "award"])  # registration and opt-in read no body
def test_a_body_that_is_not_json_is_a_400(targets, key_client, endpoint):
    response = key_client.post(targets[endpoint], "{not json", content_type="application/json")
    assert response.status_code == 400
    _nothing_written()
