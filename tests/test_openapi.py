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
            expected = {"400", "401", "403", "406", "429", "503"}
            expected |= {"404"} if "{" in path else set()
            expected |= {"413", "415"} if method in {"post", "put", "patch"} else set()
            for status in sorted(expected):
                response = op["responses"].get(status)
                ref = response and response["content"]["application/json"]["schema"]["$ref"]
                if ref != "#/components/schemas/Error":
                    missing.append(f"{method} {path} {status}")
                elif status in {"429", "503"} and not response["headers"]["Retry-After"]["required"]:
                    missing.append(f"{method} {path} {status} Retry-After")
    assert missing == []
    assert set(schema["components"]["schemas"]["Error"]["required"]) == {"code", "message", "errors"}


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
