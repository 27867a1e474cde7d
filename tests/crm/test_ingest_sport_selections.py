"""Sport selection events (one leg of a sport bet): accepted with the catalogue's fields, refused naming the field,
described in the OpenAPI schema, and never counted as bets."""

from __future__ import annotations

import orjson
import pytest

from crm.models import Event, PlayerAggregate
from tests.gamification.mission_helpers import event as make_event
from tests.gamification.mission_helpers import feed

pytestmark = pytest.mark.django_db

URL = "/api/v1/events"
LEG = {
    "bet_id": "b-77",
    "selection_id": "b-77-2",
    "selection_name": "Over 2.5",
    "odds": 1.85,
    "sport": "football",
    "league": "Serie A",
    "event_name": "Inter - Milan",
    "market": "Total goals",
    "is_live": True,
}


def post(client, items):
    return client.post(URL, data=orjson.dumps(items), content_type="application/json")


def item(event_id, type_, payload):
    body = make_event(type_, payload, event_id=event_id, at="2026-01-10T12:00:00.000Z")
    return body


def test_a_placed_and_a_settled_selection_are_accepted_with_their_fields(tenant_a, key_client):
    response = post(
        key_client,
        [
            item("b-77-2", "sport_selection_placed", LEG),
            item("b-77-2", "sport_selection_settled", {**LEG, "result": "WON", "is_live": "false"}),
            item("b-78-1", "sport_selection_settled", {"bet_id": "b-78", "result": "half_lost"}),
        ],
    )

    assert response.status_code == 202
    assert [r["status"] for r in response.json()["results"]] == ["accepted", "accepted", "accepted"]
    stored = dict(
        Event.objects.filter(label=tenant_a.label, event_id="b-77-2").values_list("type", "payload").order_by("type")
    )
    assert stored == {
        "sport_selection_placed": LEG,
        "sport_selection_settled": {**LEG, "result": "won", "is_live": False},
    }
    assert Event.objects.get(event_id="b-78-1").payload == {"bet_id": "b-78", "result": "half_lost"}


@pytest.mark.parametrize(
    ("type_", "payload", "errors"),
    [
        ("sport_selection_placed", {"odds": 2}, {"payload.bet_id": ["This field is required."]}),
        ("sport_selection_placed", {"bet_id": None}, {"payload.bet_id": ["This field is required."]}),
        ("sport_selection_settled", {"bet_id": "b-1"}, {"payload.result": ["This field is required."]}),
        ("sport_selection_settled", {"result": "won"}, {"payload.bet_id": ["This field is required."]}),
        (
            "sport_selection_settled",
            {"bet_id": "b-1", "result": "maybe"},
            {"payload.result": ["'maybe' is not one of: won, lost, void, cashout, half_won, half_lost."]},
        ),
        ("sport_selection_placed", {"bet_id": "b-1", "odds": "2.1"}, {"payload.odds": ["Expected a number."]}),
        # A selection carries no stake (the bet's sport_bet_placed does): a stake here is refused, not ignored.
        (
            "sport_selection_placed",
            {"bet_id": "b-1", "bet_amount": 5},
            {"payload.bet_amount": ["Unknown field for this event type."]},
        ),
    ],
)
def test_a_selection_missing_or_with_a_wrong_field_is_invalid_naming_it(tenant_a, key_client, type_, payload, errors):
    response = post(key_client, [item("s-1", type_, payload)])

    assert response.status_code == 202
    [result] = response.json()["results"]
    assert (result["status"], result["errors"]) == ("invalid", errors)
    assert not Event.objects.exists()


def test_selections_are_not_counted_as_bets(tenant_a):
    feed(
        tenant_a.label,
        [
            item("b-9", "sport_bet_placed", {"bet_amount": 10, "bet_id": "b-9", "selections": 2}),
            item("b-9-1", "sport_selection_placed", {"bet_id": "b-9", "odds": 1.5}),
            item("b-9-2", "sport_selection_placed", {"bet_id": "b-9", "odds": 2.0}),
            item("b-9-1", "sport_selection_settled", {"bet_id": "b-9", "result": "won"}),
        ],
    )

    aggregate = PlayerAggregate.objects.get(label=tenant_a.label)
    assert (aggregate.bet_count, aggregate.bet_sum, aggregate.win_sum) == (1, 10, 0)


def test_the_openapi_schema_has_one_event_schema_per_selection_type(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()

    components = schema["components"]["schemas"]
    placed = components["SportSelectionPlacedEventRequest"]["properties"]["type"]
    assert placed["pattern"] == "^sport_selection_placed$"
    assert components["SportSelectionPlacedPayloadRequest"]["required"] == ["bet_id"]
    assert components["SportSelectionSettledPayloadRequest"]["required"] == ["bet_id", "result"]
