"""Event ingest, through `POST /api/v1/events` and `events_ingest`: one result per item, dedupe by (type, event_id),
conflicts kept out, field-level errors, limits, and isolation between labels."""

from __future__ import annotations

import datetime as dt
import threading

import orjson
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from backoffice.models import Brand, Label, Role
from backoffice.models.tenancy import MAX_ENTRY_POINTS
from crm.catalogue import MAX_PAYLOAD_BYTES
from crm.models import Event, EventType, Player
from crm.pipeline import events_notify
from crm.services.ingest import MAX_BATCH, events_ingest

pytestmark = pytest.mark.django_db

URL = "/api/v1/events"
WHEN = "2026-01-10T12:00:00.000Z"
PAYLOADS = {
    "deposit": {"deposit_amount": 50, "deposit_method": "PaySafe"},
    "withdrawal": {"withdrawal_amount": 20},
    "login": {"entry_point": "lobby"},
    "casino_bet": {"bet_amount": 2.5, "game_id": "g-1", "game_name": "Book of Dead"},
    "casino_win": {"win_amount": 10, "game_id": "g-1", "game_name": "Book of Dead"},
    "client_action": {"action": "opened_cashier"},
}


def event(event_id, type_="deposit", payload=None, **envelope) -> dict:
    """One event of label A's brand and player unless told otherwise."""
    body = {
        "event_id": event_id,
        "type": type_,
        "ext_brand_id": "shared-brand",
        "user_ext_id": "shared-player",
        "occurred_at": WHEN,
        "payload": PAYLOADS.get(type_, {}) if payload is None else payload,
    }
    return {**body, **envelope}


def post(client, body, **extra):
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    return client.post(URL, data=data, content_type="application/json", **extra)


def statuses(response) -> list[str]:
    return [item["status"] for item in response.json()["results"]]


def stored(label) -> list[tuple]:
    return list(Event.objects.filter(label=label).order_by("id").values_list("type", "event_id", "payload"))


# --- per-item results ---------------------------------------------------------------------------------------------


def test_each_item_of_a_batch_gets_its_own_status(tenant_a, key_client):
    assert post(key_client, [event("d-1"), event("d-2")]).status_code == 202

    response = post(
        key_client,
        {
            "events": [
                event("d-3"),  # new
                event("d-1"),  # sent before with the same content
                event("d-2", payload={"deposit_amount": 999}),  # sent before with other content
                event("d-4", payload={"deposit_amount": "fifty"}, occurred_at="yesterday"),
                event("d-5", type_="login"),
            ]
        },
    )

    assert response.status_code == 202
    body = response.json()
    assert statuses(response) == ["accepted", "duplicate", "conflict", "invalid", "accepted"]
    assert {k: body[k] for k in ("accepted", "duplicate", "conflict", "invalid")} == {
        "accepted": 2,
        "duplicate": 1,
        "conflict": 1,
        "invalid": 1,
    }
    assert [r["index"] for r in body["results"]] == [0, 1, 2, 3, 4]
    assert [r["event_id"] for r in body["results"]] == ["d-3", "d-1", "d-2", "d-4", "d-5"]
    assert set(body["results"][3]["errors"]) == {"payload.deposit_amount", "occurred_at"}
    assert "errors" not in body["results"][0]
    # The conflicting content is kept out: d-2 keeps what was stored first.
    assert Event.objects.get(label=tenant_a.label, event_id="d-2").payload["deposit_amount"] == 50
    assert sorted(e for _, e, _ in stored(tenant_a.label)) == ["d-1", "d-2", "d-3", "d-5"]


def test_the_same_id_twice_in_one_batch_is_stored_once(tenant_a, key_client):
    response = post(
        key_client,
        [
            event("x-1"),
            event("x-1"),
            event("x-2"),
            event("x-2", payload={"deposit_amount": 7}),
            event("x-1", type_="login"),  # the same id under another type is another event
        ],
    )

    assert statuses(response) == ["accepted", "duplicate", "accepted", "conflict", "accepted"]
    assert stored(tenant_a.label) == [
        ("deposit", "x-1", PAYLOADS["deposit"]),
        ("deposit", "x-2", PAYLOADS["deposit"]),
        ("login", "x-1", PAYLOADS["login"]),
    ]


def test_a_repeat_in_one_batch_is_compared_with_what_is_stored(tenant_a, key_client):
    post(key_client, [event("s-1")])
    other = event("s-1", payload={"deposit_amount": 1})

    # Both copies of the other content conflict with the stored event; the stored content itself is a duplicate.
    response = post(key_client, [other, other, event("s-1")])

    assert statuses(response) == ["conflict", "conflict", "duplicate"]
    assert stored(tenant_a.label) == [("deposit", "s-1", PAYLOADS["deposit"])]


def test_a_batch_of_the_maximum_size_is_stored(tenant_a, key_client):
    batch = [event(f"b-{i}", user_ext_id=f"p-{i % 37}") for i in range(MAX_BATCH)]

    response = post(key_client, {"events": batch})

    assert response.status_code == 202
    assert response.json()["accepted"] == MAX_BATCH
    assert Event.objects.filter(label=tenant_a.label).count() == MAX_BATCH
    assert Player.objects.filter(label=tenant_a.label, user_ext_id__startswith="p-").count() == 37


def test_one_event_over_the_maximum_refuses_the_whole_batch(tenant_a, key_client):
    batch = [event(f"b-{i}") for i in range(MAX_BATCH + 1)]

    response = post(key_client, {"events": batch})

    assert response.status_code == 413
    assert response.json()["code"] == "too_many_events"
    assert str(MAX_BATCH + 1) in response.json()["message"]
    assert not Event.objects.exists()


def test_the_query_count_of_a_batch_does_not_grow_with_its_size(tenant_a, key_client):
    post(key_client, [event("warm-up")])  # the key's last use is recorded once a minute; keep it out of the count

    def queries(size: int, prefix: str) -> int:
        with CaptureQueriesContext(connection) as ctx:
            response = post(key_client, [event(f"{prefix}-{i}", user_ext_id=f"{prefix}-p{i}") for i in range(size)])
        assert response.json()["accepted"] == size
        return len(ctx.captured_queries)

    assert queries(5, "small") == queries(MAX_BATCH, "large")


# --- the single-event form ------------------------------------------------------------------------------------------


def test_the_single_form_answers_with_the_status_of_its_event(tenant_a, key_client):
    accepted = post(key_client, event("one-1"))
    assert accepted.status_code == 202
    assert accepted.json() == {"index": 0, "status": "accepted", "event_id": "one-1"}

    duplicate = post(key_client, event("one-1"))
    assert duplicate.status_code == 200
    assert duplicate.json()["status"] == "duplicate"

    conflict = post(key_client, event("one-1", payload={"deposit_amount": 51}))
    assert conflict.status_code == 409
    assert conflict.json()["status"] == "conflict"

    invalid = post(key_client, event("one-2", payload={"deposit_amount": -5}))
    assert invalid.status_code == 400
    assert invalid.json()["code"] == "invalid"
    assert list(invalid.json()["errors"]) == ["payload.deposit_amount"]

    assert stored(tenant_a.label) == [("deposit", "one-1", PAYLOADS["deposit"])]


# --- bad bodies ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b'{"events": [', "malformed_request"),
        (b"", "malformed_request"),
        (b'{"event_id": "\xff\xfe"}', "malformed_request"),  # not UTF-8
        (b'"just a string"', "malformed_request"),
        (b"42", "malformed_request"),
        (b'{"events": {"event_id": "x"}}', "malformed_request"),
        (b"[" * 5000 + b"]" * 5000, "malformed_request"),  # nested deeper than the parser allows
    ],
)
def test_a_body_that_is_not_an_event_list_answers_400(tenant_a, key_client, body, code):
    response = post(key_client, body)

    assert response.status_code == 400
    assert response.json()["code"] == code
    assert not Event.objects.exists()


def test_items_that_are_not_objects_are_invalid(tenant_a, key_client):
    response = post(key_client, [event("ok-1"), "text", 3, None, [event("nested")]])

    assert statuses(response) == ["accepted", "invalid", "invalid", "invalid", "invalid"]
    assert response.json()["results"][1]["errors"] == {"non_field_errors": ["An event must be a JSON object."]}


def test_a_payload_over_32_kib_is_invalid_and_the_rest_is_stored(tenant_a, key_client):
    huge = event("big-1", "client_action", {"action": "x" * 100, "padding": "y" * MAX_PAYLOAD_BYTES})
    just_too_big = event("big-2", "client_action", {"action": "x" * (MAX_PAYLOAD_BYTES)})

    response = post(key_client, [huge, just_too_big, event("small-1")])

    assert statuses(response) == ["invalid", "invalid", "accepted"]
    assert response.json()["results"][0]["errors"] == {"payload": ["At most 32 KiB."]}
    assert [e for _, e, _ in stored(tenant_a.label)] == ["small-1"]


def test_future_timestamps_are_invalid(tenant_a, key_client):
    now = dt.datetime.now(dt.UTC)
    in_an_hour = (now + dt.timedelta(hours=1)).isoformat()
    in_ten_minutes_ms = int((now + dt.timedelta(minutes=10)).timestamp() * 1000)
    a_second_ago = (now - dt.timedelta(seconds=1)).isoformat()

    response = post(
        key_client,
        [
            event("f-1", occurred_at=in_an_hour),
            event("f-2", occurred_at=in_ten_minutes_ms),
            event("f-3", occurred_at="1999-12-31T23:59:59Z"),
            event("f-4", occurred_at=a_second_ago),
        ],
    )

    assert statuses(response) == ["invalid", "invalid", "invalid", "accepted"]
    results = response.json()["results"]
    assert results[0]["errors"] == {"occurred_at": ["Must not be in the future."]}
    assert results[1]["errors"] == {"occurred_at": ["Must not be in the future."]}
    assert results[2]["errors"] == {"occurred_at": ["Must be after 2000."]}


@pytest.mark.parametrize(
    ("item", "fields"),
    [
        (event({"id": 1}), {"event_id"}),
        (event(True), {"event_id"}),
        (event(""), {"event_id"}),
        (event("x" * 129), {"event_id"}),
        (event("w-1", user_ext_id=None), {"user_ext_id"}),
        (event("w-1", ext_brand_id=["shared-brand"]), {"ext_brand_id"}),
        (event("w-1", occurred_at=None), {"occurred_at"}),
        (event("w-1", occurred_at=True), {"occurred_at"}),
        (event("w-1", occurred_at="10/01/2026"), {"occurred_at"}),
        (event("w-1", type_=7), {"type"}),
        (event("w-1", type_="jackpot"), {"type"}),
        (event("w-1", payload=["deposit_amount", 5]), {"payload"}),
        (event("w-1", payload={"deposit_amount": "50"}), {"payload.deposit_amount"}),
        (event("w-1", payload={"deposit_amount": True}), {"payload.deposit_amount"}),
        (event("w-1", payload={"deposit_amount": -1}), {"payload.deposit_amount"}),
        (event("w-1", payload={"deposit_amount": 10**13}), {"payload.deposit_amount"}),
        (event("w-1", payload={}), {"payload.deposit_amount"}),
        (event("w-1", payload={"deposit_amount": 5, "iban": "MT00"}), {"payload.iban"}),
        (event("w-1", "casino_bet", {"bet_amount": 1, "game_id": {"x": 1}, "game_name": "n"}), {"payload.game_id"}),
        (event("w-1", "client_action", {"action": "a\x00b"}), {"payload.action"}),
        (event("w-1", "sport_bet_settled", {"bet_amount": 1, "result": "maybe"}), {"payload.result"}),
        (event("w-1", "profile_update", {}), {"payload"}),
        (
            event("w-1", "profile_update", {"user_country": "XX", "password": "x"}),
            {"payload.user_country", "payload.password"},
        ),
        ({**event("w-1"), "amount": 50}, {"amount"}),
    ],
)
def test_wrong_types_are_invalid_with_the_field_named(tenant_a, key_client, item, fields):
    response = post(key_client, [item])

    assert response.status_code == 202
    [result] = response.json()["results"]
    assert result["status"] == "invalid"
    assert set(result["errors"]) == fields
    assert not Event.objects.exists()


def test_an_unknown_or_inactive_brand_is_invalid(tenant_a, key_client):
    Brand.objects.create(label=tenant_a.label, ext_brand_id="closed-brand", name="Closed", is_active=False)

    response = post(key_client, [event("u-1", ext_brand_id="no-such-brand"), event("u-2", ext_brand_id="closed-brand")])

    assert statuses(response) == ["invalid", "invalid"]
    assert response.json()["results"][0]["errors"] == {"ext_brand_id": ["Unknown brand 'no-such-brand'."]}
    assert not Event.objects.exists()


def test_an_unknown_player_is_created_once_for_all_its_events(tenant_a, key_client):
    players_before = Player.objects.count()

    response = post(
        key_client,
        [event("n-1", user_ext_id="newcomer"), event("n-2", type_="login", user_ext_id="newcomer"),
         event("n-3", user_ext_id=4711)],
    )  # fmt: skip

    assert statuses(response) == ["accepted"] * 3
    assert Player.objects.count() == players_before + 2
    newcomer = Player.objects.get(label=tenant_a.label, brand=tenant_a.brand, user_ext_id="newcomer")
    assert sorted(newcomer.events.values_list("event_id", flat=True)) == ["n-1", "n-2"]
    assert Player.objects.get(brand=tenant_a.brand, user_ext_id="4711").events.get().event_id == "n-3"


# --- login entry points --------------------------------------------------------------------------------------------


def test_a_labels_entry_points_grow_to_50_and_a_51st_is_invalid(tenant_a, key_client):
    def login(event_id: str, entry_point: str) -> dict:
        return event(event_id, "login", {"entry_point": entry_point})

    first = post(key_client, [login(f"l-{i}", f"entry-{i:02}") for i in range(30)] + [login("l-again", "entry-00")])
    assert statuses(first) == ["accepted"] * 31
    second = post(key_client, [login(f"l-{i}", f"entry-{i:02}") for i in range(30, MAX_ENTRY_POINTS)])
    assert statuses(second) == ["accepted"] * (MAX_ENTRY_POINTS - 30)
    tenant_a.label.refresh_from_db()
    assert sorted(tenant_a.label.allowed_entry_points) == [f"entry-{i:02}" for i in range(MAX_ENTRY_POINTS)]

    third = post(key_client, [login("l-51", "entry-new"), login("l-known", "entry-07"), event("l-none", "login", {})])

    assert statuses(third) == ["invalid", "accepted", "accepted"]
    assert third.json()["results"][0]["errors"] == {
        "payload.entry_point": ["This label already has 50 entry points; this is a new one."]
    }
    tenant_a.label.refresh_from_db()
    assert len(tenant_a.label.allowed_entry_points) == MAX_ENTRY_POINTS
    assert not Event.objects.filter(event_id="l-51").exists()


def test_one_batch_fills_the_last_free_entry_points_and_refuses_the_rest(tenant_a, key_client):
    Label.objects.filter(pk=tenant_a.label.pk).update(allowed_entry_points=[f"old-{i}" for i in range(48)])

    response = post(key_client, [event(f"e-{c}", "login", {"entry_point": f"new-{c}"}) for c in "abc"])

    assert statuses(response) == ["accepted", "accepted", "invalid"]
    assert len(Label.objects.get(pk=tenant_a.label.pk).allowed_entry_points) == MAX_ENTRY_POINTS


def test_entry_points_are_counted_per_label(tenant_a, tenant_b, key_client):
    Label.objects.filter(pk=tenant_b.label.pk).update(allowed_entry_points=[f"b-{i}" for i in range(50)])

    response = post(key_client, [event("ep-1", "login", {"entry_point": "mobile"})])

    assert statuses(response) == ["accepted"]
    assert Label.objects.get(pk=tenant_a.label.pk).allowed_entry_points == ["mobile"]


# --- custom event types --------------------------------------------------------------------------------------------


@pytest.fixture
def tournament_type(tenant_a):
    return EventType.objects.create(
        label=tenant_a.label,
        name="tournament_opened",
        fields=[
            {"name": "tournament_id", "type": "integer", "required": True},
            {"name": "title", "type": "string"},
            {"name": "prize", "type": "number"},
            {"name": "is_vip", "type": "boolean"},
            {"name": "starts_at", "type": "timestamp"},
        ],
    )


def test_a_custom_type_validates_its_registered_fields(tenant_a, key_client, tournament_type):
    def custom(event_id: str, payload: dict) -> dict:
        return event(event_id, "tournament_opened", payload)

    response = post(
        key_client,
        [
            custom("t-1", {"tournament_id": 7, "title": "Spring", "prize": 99.5, "is_vip": "true",
                           "starts_at": "2026-02-01T10:00:00Z"}),
            custom("t-2", {"title": "no id"}),
            custom("t-3", {"tournament_id": "seven", "prize": "lots", "is_vip": "perhaps", "starts_at": "soon"}),
            custom("t-4", {"tournament_id": 8, "colour": "red"}),
            custom("t-5", {"tournament_id": 1.5}),
        ],
    )  # fmt: skip

    assert statuses(response) == ["accepted", "invalid", "invalid", "invalid", "invalid"]
    errors = [r.get("errors", {}) for r in response.json()["results"]]
    assert set(errors[1]) == {"payload.tournament_id"}
    assert set(errors[2]) == {"payload.tournament_id", "payload.prize", "payload.is_vip", "payload.starts_at"}
    assert set(errors[3]) == {"payload.colour"}
    assert set(errors[4]) == {"payload.tournament_id"}
    assert Event.objects.get(event_id="t-1").payload == {
        "tournament_id": 7, "title": "Spring", "prize": 99.5, "is_vip": True, "starts_at": "2026-02-01T10:00:00.000+00:00",
    }  # fmt: skip


def test_an_inactive_or_foreign_custom_type_is_unknown(tenant_a, tenant_b, key_client, tournament_type):
    EventType.objects.create(label=tenant_b.label, name="b_only_type", fields=[])
    tournament_type.is_active = False
    tournament_type.save()

    response = post(
        key_client,
        [event("c-1", "tournament_opened", {"tournament_id": 1}), event("c-2", "b_only_type", {})],
    )

    assert statuses(response) == ["invalid", "invalid"]
    assert response.json()["results"][1]["errors"] == {"type": ["Unknown event type 'b_only_type'."]}


# --- who may send -------------------------------------------------------------------------------------------------


def test_a_key_stores_only_into_its_own_label(tenant_a, tenant_b):
    Brand.objects.create(label=tenant_a.label, ext_brand_id="a-only-brand", name="A only")
    client_b = APIClient()
    client_b.credentials(HTTP_AUTHORIZATION=f"Api-Key {tenant_b.raw_key}")

    response = post(client_b, [event("iso-1"), event("iso-2", ext_brand_id="a-only-brand")])

    # "shared-brand" is also a brand of B's: the event goes to B's player, never to A's.
    assert statuses(response) == ["accepted", "invalid"]
    assert response.json()["results"][1]["errors"] == {"ext_brand_id": ["Unknown brand 'a-only-brand'."]}
    assert stored(tenant_a.label) == []
    assert Event.objects.get(event_id="iso-1").player_id == tenant_b.player.pk


def test_the_same_id_in_two_labels_is_two_events(tenant_a, tenant_b, key_client):
    client_b = APIClient()
    client_b.credentials(HTTP_AUTHORIZATION=f"Api-Key {tenant_b.raw_key}")

    assert statuses(post(key_client, [event("same-1")])) == ["accepted"]
    assert statuses(post(client_b, [event("same-1", payload={"deposit_amount": 1})])) == ["accepted"]

    assert Event.objects.filter(event_id="same-1").count() == 2


def test_staff_need_player_write_in_exactly_one_label(tenant_a, tenant_b, outsider, staff_with_role):
    def as_staff(user):
        client = APIClient()
        client.force_login(user)
        return post(client, [event(f"staff-{user.pk}")])

    assert as_staff(staff_with_role(tenant_a.label, Role.MANAGER)).status_code == 403
    assert as_staff(staff_with_role(tenant_a.label, Role.SUPPORT)).status_code == 403
    assert as_staff(outsider).status_code == 403
    two_labels = staff_with_role(tenant_a.label, Role.ADMIN)
    two_labels.label_roles.create(label=tenant_b.label, role=Role.ADMIN)
    assert as_staff(two_labels).status_code == 403
    assert not Event.objects.exists()

    engineer = staff_with_role(tenant_a.label, Role.INTEGRATION_ENGINEER)
    response = as_staff(engineer)
    assert response.status_code == 202
    assert Event.objects.get().label_id == tenant_a.label.pk


def test_no_key_or_a_wrong_key_answers_401(tenant_a, api_client):
    assert post(api_client, [event("k-1")]).status_code == 401
    api_client.credentials(HTTP_AUTHORIZATION="Api-Key pb_00000000_not-a-key")
    response = post(api_client, [event("k-1")])
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"
    assert not Event.objects.exists()


# --- the service --------------------------------------------------------------------------------------------------


def test_ingest_stores_new_events_in_the_log_and_enqueues_nothing(tenant_a, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        first = events_ingest(label=tenant_a.label, items=[event("o-1"), event("o-2")], source="api")
    again = events_ingest(label=tenant_a.label, items=[event("o-1"), event("o-2")], source="api")

    # The consumer groups read the log: no message to send, none to lose; only a best-effort wake-up of the workers.
    assert callbacks == [events_notify]
    assert first.new_ids == sorted(Event.objects.values_list("id", flat=True))
    assert first.counts() == {"accepted": 2, "duplicate": 0, "conflict": 0, "invalid": 0}
    assert again.new_ids == []
    assert again.counts()["duplicate"] == 2
    with connection.cursor() as cursor:  # stamped by the database with the inserting transaction: the groups' key
        cursor.execute("SELECT count(*) FROM crm_event WHERE txid = pg_current_xact_id()")
        assert cursor.fetchone()[0] == 2


def test_ingest_keeps_millisecond_precision_and_utc(tenant_a):
    result = events_ingest(
        label=tenant_a.label,
        items=[event("t-1", occurred_at="2026-01-10T14:00:00.123456+02:00"), event("t-2", occurred_at=1768046400123)],
        source="api",
    )

    assert result.counts()["accepted"] == 2
    occurred = dict(Event.objects.values_list("event_id", "occurred_at"))
    assert occurred["t-1"] == dt.datetime(2026, 1, 10, 12, 0, 0, 123000, tzinfo=dt.UTC)
    assert occurred["t-2"] == dt.datetime(2026, 1, 10, 12, 0, 0, 123000, tzinfo=dt.UTC)


def test_a_batch_whose_only_events_are_refused_entry_points_stores_nothing(tenant_a, key_client):
    Label.objects.filter(pk=tenant_a.label.pk).update(allowed_entry_points=[f"old-{i}" for i in range(50)])

    single = post(key_client, event("full-1", "login", {"entry_point": "one-too-many"}))
    batch = post(key_client, [event("full-2", "login", {"entry_point": "one-too-many"}), event("bad", payload={})])

    assert single.status_code == 400
    assert single.json()["errors"] == {
        "payload.entry_point": ["This label already has 50 entry points; this is a new one."]
    }
    assert statuses(batch) == ["invalid", "invalid"]
    assert not Event.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_with_the_same_ids_in_other_orders_both_succeed(tenant_a):
    """Two partners sending overlapping batches at once, in other orders: each id is stored once, no request fails
    (inserting the same keys in opposite orders deadlocks in PostgreSQL unless ingest orders its rows)."""
    rounds, size = 8, MAX_BATCH
    for round_ in range(rounds):
        batch = [event(f"race-{round_}-{i:04}") for i in range(size)]  # a known player: nothing else serializes them
        outcomes = _concurrently(tenant_a.label, [batch, batch[::-1]])
        assert all(isinstance(o, dict) for o in outcomes), f"round {round_}: {outcomes}"
        assert sum(o["accepted"] for o in outcomes) == size
        assert sum(o["duplicate"] for o in outcomes) == size
    assert Event.objects.count() == rounds * size


def _concurrently(label, batches: list[list[dict]]) -> list:
    """Ingest each batch in its own thread (its own connection), started together; the counts or the exception."""
    barrier = threading.Barrier(len(batches), timeout=30)
    outcomes: list = [None] * len(batches)

    def send(slot: int) -> None:
        try:
            barrier.wait()
            outcomes[slot] = events_ingest(label=label, items=batches[slot], source="api").counts()
        except Exception as exc:  # returned to the test, which names the failed request
            outcomes[slot] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(slot,)) for slot in range(len(batches))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes
