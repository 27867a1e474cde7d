"""The OpenAPI schema is valid, complete, documented, and served with its interactive docs."""

from __future__ import annotations

import subprocess
import sys

import pytest


def test_schema_generates_without_warnings_and_validates(tmp_path):
    out = tmp_path / "schema.yaml"
    result = subprocess.run(
        [sys.executable, "manage.py", "spectacular", "--validate", "--fail-on-warn", "--file", str(out)],
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "DJANGO_SETTINGS_MODULE": "backoffice.settings.test"},
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert out.read_text().startswith("openapi: 3")


@pytest.mark.django_db
def test_every_request_field_and_parameter_is_described(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    undocumented = []
    for path, ops in schema["paths"].items():
        for method, op in ops.items():
            undocumented += [
                f"{method} {path} ?{p['name']}" for p in op.get("parameters", []) if not p.get("description")
            ]
    for name, component in schema["components"]["schemas"].items():
        if not name.endswith("Request"):
            continue
        for field, spec in component.get("properties", {}).items():
            if field not in {"user_first_name", "user_last_name", "core_user_gender"} and not spec.get("description"):
                undocumented.append(f"{name}.{field}")
    assert undocumented == []
    assert {"ApiKeyAuth", "BasicApiKeyAuth", "StaffSession"} <= set(schema["components"]["securitySchemes"])


@pytest.mark.django_db
def test_interactive_docs_are_served_without_a_cdn(client):
    page = client.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "swagger-ui" in html
    assert "cdn.jsdelivr" not in html
    assert "unpkg.com" not in html


def _schema(client) -> dict:
    return client.get("/api/schema/", HTTP_ACCEPT="application/json").json()


@pytest.mark.django_db
def test_every_operation_documents_the_answers_every_endpoint_can_give(client):
    """Authentication, content negotiation, the request sanitizer, throttling and the database pool answer before any
    view runs: every operation documents them, in the one error shape, so generated clients accept them."""
    schema = _schema(client)
    missing = []
    for path, ops in schema["paths"].items():
        for method, op in ops.items():
            if "SmartKarrot-compatible" in op.get("tags", []):  # their errors are the envelope: see below
                continue
            expected = {"400", "401", "403", "406", "429", "503"}
            expected |= {"404"} if "{" in path else set()
            expected |= {"413", "415"} if method in {"post", "put", "patch"} else set()
            for status in sorted(expected):
                response = op["responses"].get(status)
                ref = response and response["content"]["application/json"]["schema"]["$ref"]
                # The drop-in compatible endpoints answer every error in their reference's envelope.
                shape = "Envelope" if path.startswith(("/v4/", "/dashboards/v4/")) else "Error"
                if ref != f"#/components/schemas/{shape}":
                    missing.append(f"{method} {path} {status}")
                elif status in {"429", "503"} and not response["headers"]["Retry-After"]["required"]:
                    missing.append(f"{method} {path} {status} Retry-After")
    assert missing == []
    assert set(schema["components"]["schemas"]["Error"]["required"]) == {"code", "message", "errors"}


@pytest.mark.django_db
def test_compatible_financial_operations_document_their_errors_as_the_envelope(client):
    schema = _schema(client)
    operations = [(path, method, op) for path, ops in schema["paths"].items() if path.startswith("/dashboards/v4/")
                  for method, op in ops.items()]  # fmt: skip
    assert len(operations) == 6
    for path, method, op in operations:
        assert op["tags"] == ["SmartKarrot-compatible"]
        for status in ("200", "400", "401", "403", "413", "415", "429", "503"):
            ref = op["responses"][status]["content"]["application/json"]["schema"]["$ref"]
            assert ref == "#/components/schemas/Envelope", (path, method, status)


@pytest.mark.django_db
def test_output_fields_admit_the_values_responses_really_carry(client):
    """Found by schemathesis: blank model fields render "", a staff-less ledger entry has no creator, scores are
    numbers."""
    components = _schema(client)["components"]["schemas"]
    for component in ("Level", "StoreItem"):
        assert {"type": "string", "maxLength": 0} in components[component]["properties"]["image_url"]["oneOf"]
    cap_period = components["StoreItem"]["properties"]["cap_period"]["oneOf"]
    assert {"$ref": "#/components/schemas/BlankEnum"} in cap_period
    assert components["BlankEnum"]["enum"] == [""]
    assert components["WalletEntry"]["properties"]["created_by"]["nullable"] is True
    assert components["Standing"]["properties"]["score"]["type"] == "number"
    assert components["Participation"]["properties"]["score"]["type"] == "number"


@pytest.mark.django_db
def test_write_bodies_document_that_unknown_fields_are_refused(client):
    components = _schema(client)["components"]["schemas"]
    for name in ("WalletAdjustmentInputRequest", "StorePurchaseInputRequest", "BadgeAwardInputRequest"):
        assert components[name]["additionalProperties"] is False, name


# --- POST /api/v1/events: each event type's payload is its own schema ----------------------------------------------
def _resolved(schema, components):
    """The schema with every $ref replaced by its component (the event schemas have no cycles)."""
    if isinstance(schema, dict):
        if "$ref" in schema:
            return _resolved(components[schema["$ref"].rsplit("/", 1)[1]], components)
        return {key: _resolved(value, components) for key, value in schema.items()}
    if isinstance(schema, list):
        return [_resolved(item, components) for item in schema]
    return schema


def _event_item_schema(client) -> tuple[dict, dict]:
    components = _schema(client)["components"]["schemas"]
    return _resolved(components["EventBatchInRequest"]["properties"]["events"]["items"], components), components


def _valid_sample(doc):
    """A payload of the type's required fields, with values ingest accepts."""
    samples = {"string": "x", "integer": 3, "number": 1.5, "boolean": True, "timestamp": "2026-01-01T00:00:00Z"}
    return {f.name: (f.choices[0] if f.choices else samples[f.kind]) for f in doc.fields if f.required}


@pytest.mark.django_db
def test_each_event_type_has_its_own_payload_schema(client):
    from crm.catalogue import CORE_TYPES, SYSTEM_TYPES
    from crm.event_docs import partner_types

    components = _schema(client)["components"]["schemas"]
    refs = [item["$ref"].rsplit("/", 1)[1] for item in components["EventRequest"]["oneOf"]]
    partner = [name for name in CORE_TYPES if name not in SYSTEM_TYPES]
    assert refs == [
        *("".join(p.capitalize() for p in name.split("_")) + "EventRequest" for name in partner),
        "ProfileUpdateEventRequest",
        "CustomEventRequest",
    ]
    # partners see that casino_bet needs game_id and game_name
    casino_bet = components["CasinoBetPayloadRequest"]
    assert casino_bet["required"] == ["bet_amount", "game_id", "game_name"]
    assert casino_bet["properties"]["game_name"] == {
        "type": "string",
        "maxLength": 255,
        "description": 'Name of the game, e.g. "Golden Slot 2".',
    }
    assert casino_bet["properties"]["bet_amount"]["type"] == "number"
    assert casino_bet["additionalProperties"] is False
    assert components["CasinoBetEventRequest"]["properties"]["type"]["pattern"] == "^casino_bet$"
    assert "payload" in components["CasinoBetEventRequest"]["required"]
    assert "payload" not in components["LoginEventRequest"].get("required", [])  # login has no required field
    assert components["ResultEnum"]["enum"] == ["won", "lost", "void", "cashout", "half_won", "half_lost"]
    for doc in partner_types():
        if doc.name == "profile_update":
            continue
        payload = components[f"{''.join(p.capitalize() for p in doc.name.split('_'))}PayloadRequest"]
        assert list(payload["properties"]) == [f.name for f in doc.fields], doc.name
        assert payload.get("required", []) == sorted(f.name for f in doc.fields if f.required), doc.name
        assert all(p.get("description") for p in payload["properties"].values()), doc.name
    assert "payload" in components["ProfileUpdateEventRequest"]["properties"]


@pytest.mark.django_db
def test_the_event_schema_accepts_what_ingest_accepts_under_exactly_one_type(client):
    """A valid event of every built-in type, and of a custom type, matches exactly one schema of the union; the same
    event without a required field, or with a field its type does not have, matches none."""
    from jsonschema import Draft4Validator

    from crm.catalogue import CORE_TYPES, clean_event, custom_spec
    from crm.event_docs import partner_types

    item_schema, _ = _event_item_schema(client)
    validator = Draft4Validator(item_schema)
    now = __import__("datetime").datetime.now(__import__("datetime").UTC)
    custom = {"tournament_join": custom_spec([{"name": "tournament_id", "type": "integer", "required": True}])}
    samples = [(doc.name, _valid_sample(doc)) for doc in partner_types() if doc.name != "profile_update"]
    samples += [("profile_update", {"core_user_language": "EN"}), ("tournament_join", {"tournament_id": 4})]
    for type_name, payload in samples:
        event = {"event_id": "e1", "type": type_name, "ext_brand_id": "b", "user_ext_id": 7,
                 "occurred_at": "2026-01-01T10:00:00Z", "payload": payload}  # fmt: skip
        assert clean_event(event, custom, now)[1] == {}, type_name
        assert validator.is_valid(event), (type_name, [e.message for e in validator.iter_errors(event)])
        required = [f for f in CORE_TYPES.get(type_name, custom["tournament_join"]).required if f in payload]
        if type_name in CORE_TYPES and required:
            missing = {**event, "payload": {k: v for k, v in payload.items() if k != required[0]}}
            assert clean_event(missing, custom, now)[1] == {f"payload.{required[0]}": ["This field is required."]}
            assert not validator.is_valid(missing), type_name
            stray = {**event, "payload": {**payload, "no_such_field": 1}}
            assert not validator.is_valid(stray), type_name
    # a core type's name cannot pass as a custom type, with any payload
    assert not validator.is_valid({"event_id": "e", "type": "casino_bet", "ext_brand_id": "b", "user_ext_id": "u",
                                   "occurred_at": 0, "payload": {"anything": 1}})  # fmt: skip
