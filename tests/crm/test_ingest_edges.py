"""Event ingest at the edges of its input: one bad event never fails its batch (odd types, deep payloads, timestamps at
the end of the calendar, numbers and text JSON allows but storage does not), identifiers (control, invisible and bidi
characters refused, Unicode NFC), and players created only for accepted events."""

from __future__ import annotations

from urllib.parse import quote

import orjson
import pytest

from crm.catalogue import MAX_PAYLOAD_DEPTH, MAX_PAYLOAD_ENTRIES
from crm.models import Event, Player
from crm.services.ingest import events_ingest
from tests.crm.test_ingest import PAYLOADS, _concurrently, event, post, stored

pytestmark = pytest.mark.django_db


def _deep(levels: int) -> bytes:
    """A JSON object nested `levels` deep, as text: orjson.dumps itself refuses past 255 levels."""
    return b'{"a":' * levels + b"1" + b"}" * levels


def _with_payload(good: dict, bad: dict, payload_json: bytes) -> bytes:
    """A batch body of `good` then `bad` whose payload is `payload_json`, spliced in as raw text."""
    bad_json = orjson.dumps({**bad, "payload": "@@"}).replace(b'"@@"', payload_json)
    return b"[" + orjson.dumps(good) + b"," + bad_json + b"]"


# --- one bad event among good ones: per-item results, never a 500 ---------------------------------------------------

EDGE_OFFSET = "Out of range once converted to UTC (years 1 to 9999)."
BIDI = "Must not contain control, invisible or bidirectional formatting characters"


@pytest.mark.parametrize(
    ("bad", "errors"),
    [
        ({**event("b-1"), "type": {}}, {"type": ["Expected the name of an event type (a string), not an object."]}),
        ({**event("b-1"), "type": []}, {"type": ["Expected the name of an event type (a string), not a list."]}),
        (event("b-1", type_=1), {"type": ["Expected the name of an event type (a string), not 1."]}),
        (event("b-1", type_=None), {"type": ["This field is required."]}),
        (event("b-1", occurred_at="9999-12-31T23:59:59-01:00"), {"occurred_at": [EDGE_OFFSET]}),
        (event("b-1", occurred_at="0001-01-01T00:00:00+01:00"), {"occurred_at": [EDGE_OFFSET]}),
        (event("b-1", occurred_at=10**19), {"occurred_at": ["Epoch milliseconds out of range."]}),
        (event("b-1", occurred_at=1e308), {"occurred_at": ["Epoch milliseconds out of range."]}),
        (
            event("b-1", "profile_update", {"user_birthdate": "0001-01-01T00:00:00+01:00"}),
            {"payload.user_birthdate": [EDGE_OFFSET]},
        ),
        (event("b-1", payload={"deposit_amount": 1e308}), {"payload.deposit_amount": ["Must be between 0 and 1,000,000,000,000."]}),
        (event("b-1", payload={"deposit_amount": "NaN"}), {"payload.deposit_amount": ["Expected a number."]}),
        (
            event("b-1", "sport_bet_placed", {"bet_amount": 1, "odds": -1e308}),
            {"payload.odds": ["Must be between -1,000,000,000,000,000 and 1,000,000,000,000,000 (exclusive)."]},
        ),
        (
            event("b-1", payload={"deposit_amount": 1, **{f"k{i}": i for i in range(MAX_PAYLOAD_ENTRIES)}}),
            {"payload": [f"At most {MAX_PAYLOAD_ENTRIES} keys and list items in all."]},
        ),
        (
            event("b-1", "profile_update", {"custom": {"a": [[[[[[[[1]]]]]]]]}}),
            {"payload": [f"At most {MAX_PAYLOAD_DEPTH} levels of nesting."]},
        ),
        (event("b-1\t"), {"event_id": [f"{BIDI} (U+0009 at position 4)."]}),
        (event("b-1", user_ext_id="\u202egnp.exe"), {"user_ext_id": [f"{BIDI} (U+202E at position 1)."]}),
        (event("b-1", ext_brand_id="shared\u200b-brand"), {"ext_brand_id": [f"{BIDI} (U+200B at position 7)."]}),
        (event("b-1", user_ext_id=10**19), {"user_ext_id": ["An integer id must fit in 64 bits; send a longer one as a string."]}),
    ],
)  # fmt: skip
def test_a_bad_event_is_invalid_naming_its_field_and_the_good_one_is_stored(tenant_a, key_client, bad, errors):
    response = post(key_client, [event("good-1"), bad])

    assert response.status_code == 202
    result = response.json()["results"][1]
    assert (result["status"], result["errors"]) == ("invalid", errors)
    assert stored(tenant_a.label) == [("deposit", "good-1", PAYLOADS["deposit"])]


@pytest.mark.parametrize("levels", [MAX_PAYLOAD_DEPTH + 1, 300, 1000])
def test_a_payload_nested_past_the_limit_is_invalid_and_the_good_event_stored(tenant_a, key_client, levels):
    response = post(key_client, _with_payload(event("good-1"), event("deep-1"), _deep(levels)))

    assert response.status_code == 202
    assert response.json()["results"][1]["errors"] == {"payload": [f"At most {MAX_PAYLOAD_DEPTH} levels of nesting."]}
    assert [e for _, e, _ in stored(tenant_a.label)] == ["good-1"]


def test_integers_past_64_bits_in_a_body_are_invalid_numbers(tenant_a, key_client):
    # orjson reads an integer past 64 bits as a float: out of range for an amount, not an integer for a custom field.
    body = _with_payload(event("good-1"), event("big-1"), b'{"deposit_amount": 184467440737095516150}')

    response = post(key_client, body)

    assert response.json()["results"][1]["errors"] == {
        "payload.deposit_amount": ["Must be between 0 and 1,000,000,000,000."]
    }
    assert [e for _, e, _ in stored(tenant_a.label)] == ["good-1"]


def test_a_lone_surrogate_in_a_body_refuses_the_body_as_malformed(tenant_a, key_client):
    """Valid JSON text, but not Unicode: orjson refuses it, so the body is malformed (400), as a body not in UTF-8."""
    response = post(key_client, b'[{"event_id": "\\ud800"}]')

    assert response.status_code == 400
    assert response.json()["code"] == "malformed_request"


class _Float(float):
    """A float subclass (numpy.float64 is one): finite, but orjson refuses to write it."""


# --- what only Python callers (the stream consumer, the replica sync) can hand to the service -----------------------


@pytest.mark.parametrize(
    ("bad", "errors"),
    [
        (event("\ud800"), {"event_id": [f"{BIDI} (U+D800 at position 1)."]}),
        (event("b-1", payload={"deposit_amount": 10**30}), {"payload.deposit_amount": ["Integers must fit in 64 bits."]}),
        (event("b-1", payload={"deposit_amount": float("nan")}), {"payload.deposit_amount": ["Numbers must be finite."]}),
        (event("b-1", payload={"deposit_amount": float("-inf")}), {"payload.deposit_amount": ["Numbers must be finite."]}),
        (event("b-1", payload={"deposit_amount": 5, 7: "x"}), {"payload": ["Field names must be strings without lone surrogates."]}),
        (event("b-1", payload={"deposit_amount": 5, "\ud800": 1}), {"payload": ["Field names must be strings without lone surrogates."]}),
        (event("b-1", "client_action", {"action": "a\ud800"}), {"payload.action": ["Must not contain lone surrogates (\\ud800 to \\udfff)."]}),
        (event("b-1", "client_action", {"action": "a\x00"}), {"payload.action": ["Must not contain NUL characters."]}),
        (event("b-1", "profile_update", {"custom": {"a": 10**19}}), {"payload.custom": ["Integers must fit in 64 bits."]}),
        (event("b-1", "profile_update", {"custom": {"a": "\x00"}}), {"payload.custom": ["a: Must not contain NUL characters."]}),
        (event("b-1", "profile_update", {"core_affiliate_id": "sNaN"}), {"payload.core_affiliate_id": ["Expected a non-negative integer."]}),
        (event("b-1", "profile_update", {"user_first_name": 10**5000}), {"payload.user_first_name": ["Integers must fit in 64 bits."]}),
        (event("b-1", "profile_update", {"markers": [10**5000]}), {"payload.markers": ["Integers must fit in 64 bits."]}),
        (event("b-1", payload={"deposit_amount": {1, 2}}), {"payload.deposit_amount": ["Expected JSON values only."]}),
        (event("b-1", payload={"deposit_amount": _Float(5.0)}), {"payload": ["Expected JSON values only."]}),
        ({**event("b-1"), 3: "x", "\ud800": 1}, {"3": ["Unknown field; the type's fields go under 'payload'."],
                                                  "'\\ud800'": ["Unknown field; the type's fields go under 'payload'."]}),
        ({**event("b-1"), "x" * 200: 1}, {f"'{'x' * 40}'...": ["Unknown field; the type's fields go under 'payload'."]}),
    ],
)  # fmt: skip
def test_values_json_cannot_store_are_invalid_in_the_service(tenant_a, bad, errors):
    result = events_ingest(label=tenant_a.label, items=[event("good-1"), bad], source="stream")

    assert [item.status for item in result.items] == ["accepted", "invalid"]
    assert result.items[1].errors == errors
    orjson.dumps(result.items[1].as_dict())  # the result itself can be answered or logged
    assert [e for _, e, _ in stored(tenant_a.label)] == ["good-1"]


def test_an_event_id_that_cannot_be_echoed_is_answered_as_null(tenant_a):
    result = events_ingest(
        label=tenant_a.label, items=[event({"id": 1}), event(10**30), event("a\ud800")], source="api"
    )

    assert [item.event_id for item in result.items] == [None, None, None]
    assert [set(item.errors) for item in result.items] == [{"event_id"}] * 3


# --- identifiers ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "char",
    ["\t", "\n", "\r", "\x1b", "\x7f", "\x85", "\x9f", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff",
     "\u200e", "\u200f", "\u061c", "\u202a", "\u202d", "\u202e", "\u2066", "\u2069"],
)  # fmt: skip
@pytest.mark.parametrize("name", ["event_id", "ext_brand_id", "user_ext_id"])
def test_ids_with_control_invisible_or_bidi_characters_are_invalid(tenant_a, key_client, name, char):
    clean = {"event_id": "id-1", "ext_brand_id": "shared-brand", "user_ext_id": "shared-player"}
    item = event(**{**clean, name: clean[name][:2] + char + clean[name][2:]})
    players = Player.objects.count()

    response = post(key_client, [item])

    [result] = response.json()["results"]
    assert result["errors"] == {name: [f"{BIDI} (U+{ord(char):04X} at position 3)."]}
    assert not Event.objects.exists()
    assert Player.objects.count() == players


def test_ids_are_compared_in_unicode_nfc(tenant_a, key_client):
    composed, decomposed = "caf\u00e9", "cafe\u0301"

    first = post(key_client, [event(f"{composed}-1", user_ext_id=composed)])
    again = post(key_client, [event(f"{decomposed}-1", user_ext_id=decomposed)])
    other = post(key_client, [event(f"{decomposed}-2", user_ext_id=decomposed)])

    assert first.json()["results"][0] == {"index": 0, "status": "accepted", "event_id": f"{composed}-1"}
    assert again.json()["results"][0] == {"index": 0, "status": "duplicate", "event_id": f"{composed}-1"}
    assert other.json()["results"][0]["status"] == "accepted"
    player = Player.objects.get(label=tenant_a.label, user_ext_id=composed)
    assert sorted(player.events.values_list("event_id", flat=True)) == [f"{composed}-1", f"{composed}-2"]
    assert not Player.objects.filter(user_ext_id=decomposed).exists()


def test_the_players_api_applies_the_same_id_rules(tenant_a, key_client):
    post(key_client, [event("nfc-1", user_ext_id="jos\u00e9")])

    same = key_client.post(
        "/api/v1/players",
        {"ext_brand_id": "shared-brand", "user_ext_id": "jose\u0301", "core_username": "J"},
        format="json",
    )
    bidi = key_client.post(
        "/api/v1/players", {"ext_brand_id": "shared-brand", "user_ext_id": "x\u202ey"}, format="json"
    )
    hidden = key_client.post(
        "/api/v1/players", {"ext_brand_id": "shared\u200b-brand", "user_ext_id": "z"}, format="json"
    )

    assert same.status_code == 200  # the player ingest created, not a second one
    assert same.json()["player"]["user_ext_id"] == "jos\u00e9"
    assert Player.objects.get(label=tenant_a.label, user_ext_id="jos\u00e9").core_username == "J"
    assert bidi.status_code == 400
    assert bidi.json()["errors"] == {"user_ext_id": [f"{BIDI} (U+202E at position 2)."]}
    assert hidden.status_code == 400
    assert hidden.json()["errors"] == {"ext_brand_id": [f"{BIDI} (U+200B at position 7)."]}
    assert not Player.objects.filter(user_ext_id__in=["x\u202ey", "z"]).exists()


def test_a_player_path_in_another_unicode_form_names_the_same_player(tenant_a, key_client):
    post(key_client, [event("nfc-2", user_ext_id="ren\u00e9e")])
    path = "/api/v1/players/shared-brand/" + quote("rene\u0301e")

    got = key_client.get(path)
    patched = key_client.patch(path, {"core_username": "R"}, format="json")

    assert got.status_code == 200
    assert got.json()["user_ext_id"] == "ren\u00e9e"
    assert patched.status_code == 200
    assert list(
        Player.objects.filter(label=tenant_a.label, user_ext_id__startswith="ren").values_list(
            "user_ext_id", "core_username"
        )
    ) == [("ren\u00e9e", "R")]


@pytest.mark.parametrize("birthdate", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"])
def test_a_birthdate_at_the_end_of_the_calendar_is_a_field_error(tenant_a, key_client, birthdate):
    body = {"ext_brand_id": "shared-brand", "user_ext_id": "edge", "user_birthdate": birthdate}

    response = key_client.post("/api/v1/players", body, format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == {"user_birthdate": [EDGE_OFFSET]}
    assert not Player.objects.filter(user_ext_id="edge").exists()


# --- players are created only for accepted events -------------------------------------------------------------


def test_a_refused_event_creates_no_player_and_an_accepted_one_does(tenant_a, key_client):
    post(key_client, [event("c-1"), event("c-2")])

    response = post(
        key_client,
        [
            event("c-1", user_ext_id="stranger-1"),  # a conflict: c-1 was stored for shared-player
            event("c-2", user_ext_id="stranger-2"),
            event("c-2", user_ext_id="stranger-2"),  # its repeat in the batch: a conflict too
            event("c-3", user_ext_id="newcomer"),
            event("c-1", user_ext_id="newcomer", payload={"deposit_amount": 3}),  # newcomer keeps c-3
        ],
    )

    assert [r["status"] for r in response.json()["results"]] == ["conflict"] * 3 + ["accepted", "conflict"]
    assert not Player.objects.filter(user_ext_id__startswith="stranger").exists()
    assert Player.objects.get(label=tenant_a.label, user_ext_id="newcomer").events.get().event_id == "c-3"


def test_a_duplicate_creates_no_player(tenant_a, key_client):
    post(key_client, [event("d-1", user_ext_id="first-seen")])
    # The event now belongs to another player and its own player is gone (merged, erased): the user is unknown again.
    Event.objects.filter(event_id="d-1").update(player=tenant_a.player)
    Player.objects.filter(user_ext_id="first-seen").delete()

    response = post(key_client, [event("d-1", user_ext_id="first-seen")])

    assert response.json()["results"][0]["status"] == "duplicate"
    assert not Player.objects.filter(user_ext_id="first-seen").exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_create_players_only_for_accepted_events(tenant_a):
    """Two batches at once, each with a conflict for an unknown player and the same new events of other unknown
    players: the conflicting player never exists, each new player exists once and holds its event."""
    events_ingest(label=tenant_a.label, items=[event("race-c")], source="api")
    for round_ in range(5):
        batch = [event("race-c", user_ext_id=f"stranger-{round_}")]
        batch += [event(f"race-{round_}-{i}", user_ext_id=f"new-{round_}-{i}") for i in range(20)]
        outcomes = _concurrently(tenant_a.label, [batch, batch[::-1]])
        assert all(isinstance(o, dict) for o in outcomes), outcomes
        assert [o["conflict"] for o in outcomes] == [1, 1]
        assert sum(o["accepted"] for o in outcomes) == 20
        assert not Player.objects.filter(user_ext_id=f"stranger-{round_}").exists()
        created = Player.objects.filter(user_ext_id__startswith=f"new-{round_}-")
        assert sorted(created.values_list("events__event_id", flat=True)) == sorted(
            f"race-{round_}-{i}" for i in range(20)
        )


@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_of_one_new_player_each_create_it_once(tenant_a):
    """Two sources (say, a replica's deposits view and its users view) send the first events of the same new player
    at once: both are accepted and the player exists once. A one-row insert that a concurrent batch beat is not an
    error (it once raised TypeError: the insert returned no row)."""
    for round_ in range(10):
        batches = [[event(f"solo-{round_}-{side}", user_ext_id=f"solo-{round_}")] for side in ("a", "b")]
        outcomes = _concurrently(tenant_a.label, batches)
        assert outcomes == [{"accepted": 1, "duplicate": 0, "conflict": 0, "invalid": 0}] * 2, outcomes
        player = Player.objects.get(label=tenant_a.label, user_ext_id=f"solo-{round_}")
        assert sorted(player.events.values_list("event_id", flat=True)) == [f"solo-{round_}-a", f"solo-{round_}-b"]


# --- the rows as ingest sends them to PostgreSQL: one JSON array literal ------------------------------------------


def test_ids_text_and_times_are_stored_exactly_as_validated(tenant_a):
    """Quotes, backslashes, braces, commas and non-ASCII text in ids and payloads, and times with an offset, reach
    crm_event as clean_event left them, in the batch's order of ids."""
    odd = ["q\"uo'te", "back\\slash", "{br,ace}", "NULL", "é 漢字 😀"]
    items = [
        event(f"id-{text}", "client_action", {"action": f"{text}\u2028{text}"},
              occurred_at=f"2026-03-0{n + 1}T10:00:00.123456+02:00")
        for n, text in enumerate(odd)
    ]  # fmt: skip
    result = events_ingest(label=tenant_a.label, items=items, source="stream")

    assert [item.status for item in result.items] == ["accepted"] * len(odd)
    rows = list(
        Event.objects.filter(label=tenant_a.label).order_by("id").values_list("event_id", "payload", "occurred_at")
    )
    assert [(e, p) for e, p, _ in rows] == [(f"id-{text}", {"action": f"{text}\u2028{text}"}) for text in odd]
    assert [o.isoformat() for _, _, o in rows] == [f"2026-03-0{n + 1}T08:00:00.123000+00:00" for n in range(len(odd))]
    assert [item.id for item in result.items] == sorted(item.id for item in result.items)
