"""The sandbox operator's Bonus API: the contract of docs/bonus-api.md, as an operator would serve it, with
configurable latency and failures (SandboxBonusSettings, editable in the admin):

- `failure_rate`: that share of issue calls answers 500 and applies nothing;
- `timeout_rate`: that share applies the bonus, commits, then hangs `hang_seconds` before answering (the caller
  times out and must look the bonus up: "time out after applying");
- `latency_ms`: added to every answer.

Applied bonuses are rows of SandboxBonus, one per idempotency key (a key sent again returns the same bonus and
counts the call), so tests count exactly what the "operator" applied. `…/redeem` redeems one on demand and calls
Pitboss's redeem callback, as an operator does when the player uses the bonus.
"""

from __future__ import annotations

import hmac
import json
import random
import time
import uuid
from typing import Any

import structlog
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from integrations.http import HttpClient, HttpError
from integrations.models import SandboxBonus, SandboxBonusSettings, SandboxBonusStatus

log = structlog.get_logger(__name__)
REQUIRED = ("idempotency_key", "bonus_code", "ext_brand_id", "user_ext_id")
_random = random.SystemRandom()


def _error(status: int, code: str, message: str, errors: dict | None = None) -> JsonResponse:
    return JsonResponse({"code": code, "message": message, "errors": errors or {}}, status=status)


def _settings(request: HttpRequest, label_key: str) -> SandboxBonusSettings | JsonResponse:
    """The label's sandbox settings if the Bearer token is its secret; else the error to answer."""
    found = SandboxBonusSettings.objects.filter(label__label_key=label_key).first()
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header.startswith("Bearer ") else ""
    if found is None or not token or not hmac.compare_digest(token.encode(), found.secret.encode()):
        return _error(401, "authentication_failed", "Unknown label or wrong Bearer token.")
    if found.latency_ms:
        time.sleep(found.latency_ms / 1000)
    return found


@require_GET
def catalogue(request: HttpRequest, label_key: str) -> JsonResponse:
    found = _settings(request, label_key)
    if isinstance(found, JsonResponse):
        return found
    return JsonResponse({"bonuses": found.catalogue or []})


@csrf_exempt
@require_POST
def issue(request: HttpRequest, label_key: str) -> JsonResponse:
    found = _settings(request, label_key)
    if isinstance(found, JsonResponse):
        return found
    body = _json(request)
    errors = {
        name: ["Required (a string)."] for name in REQUIRED if not isinstance(body.get(name), str) or not body[name]
    }
    if errors:
        return _error(400, "invalid", f"Invalid value for: {', '.join(sorted(errors))}.", errors)
    if _random.random() < float(found.failure_rate):
        return _error(500, "server_error", "Sandbox: a configured failure (nothing was applied).")
    if body["bonus_code"] not in {item.get("code") for item in found.catalogue or [] if isinstance(item, dict)}:
        return _error(404, "unknown_bonus", f"No bonus {body['bonus_code']!r} in the catalogue.")
    row, created = _apply(found.label_id, body)
    if (row.bonus_code, row.user_ext_id, row.ext_brand_id) != (
        body["bonus_code"],
        body["user_ext_id"],
        body["ext_brand_id"],
    ):
        return _error(409, "idempotency_conflict", "This idempotency key was used for another bonus.")
    if _random.random() < float(found.timeout_rate):
        log.info("sandbox_bonus_hang", label_id=found.label_id, seconds=float(found.hang_seconds))
        time.sleep(float(found.hang_seconds))  # applied and committed: the caller gives up waiting
    return JsonResponse(_public(row), status=201 if created else 200)


def _apply(label_id: int, body: dict[str, Any]) -> tuple[SandboxBonus, bool]:
    """Apply once per key (autocommit: committed before any hang); a repeated key counts the call."""
    amount = body.get("amount")
    bonus_ref = body.get("bonus_id")
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO integrations_sandboxbonus (label_id, idempotency_key, operator_bonus_id, bonus_code,"
            " ext_brand_id, user_ext_id, pitboss_bonus_id, amount, status, issue_calls, created_at, updated_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 'issued', 1, now(), now())"
            " ON CONFLICT (label_id, idempotency_key) DO UPDATE"
            " SET issue_calls = integrations_sandboxbonus.issue_calls + 1, updated_at = now()"
            " RETURNING id, (xmax = 0)",
            [label_id, body["idempotency_key"][:128], f"sbx-{uuid.uuid4().hex[:16]}", body["bonus_code"][:128],
             body["ext_brand_id"][:64], body["user_ext_id"][:128], bonus_ref if isinstance(bonus_ref, int) else None,
             "" if amount is None else str(amount)[:32]],
        )  # fmt: skip
        row_id, created = cursor.fetchone()
    return SandboxBonus.objects.get(pk=row_id), bool(created)


@require_GET
def lookup(request: HttpRequest, label_key: str, idempotency_key: str) -> JsonResponse:
    found = _settings(request, label_key)
    if isinstance(found, JsonResponse):
        return found
    row = SandboxBonus.objects.filter(label_id=found.label_id, idempotency_key=idempotency_key).first()
    if row is None:
        return _error(404, "not_found", "No bonus was applied with this idempotency key.")
    return JsonResponse(_public(row))


@csrf_exempt
@require_POST
def redeem(request: HttpRequest, label_key: str, idempotency_key: str) -> JsonResponse:
    """Redeem (or fail to redeem) an applied bonus and tell Pitboss through its callback."""
    found = _settings(request, label_key)
    if isinstance(found, JsonResponse):
        return found
    status = _json(request).get("status", SandboxBonusStatus.REDEEMED)
    if status not in (SandboxBonusStatus.REDEEMED, SandboxBonusStatus.REDEEM_FAILED):
        return _error(400, "invalid", "Invalid value for: status.", {"status": ["One of redeemed, redeem_failed."]})
    row = SandboxBonus.objects.filter(label_id=found.label_id, idempotency_key=idempotency_key).first()
    if row is None:
        return _error(404, "not_found", "No bonus was applied with this idempotency key.")
    return JsonResponse(sandbox_bonus_redeem(bonus=row, status=status))


def sandbox_bonus_redeem(*, bonus: SandboxBonus, status: str) -> dict[str, Any]:
    """Mark the bonus redeemed (or failed) here, then call Pitboss's redeem callback; what the callback answered."""
    SandboxBonus.objects.filter(pk=bonus.pk).update(status=status)
    found = SandboxBonusSettings.objects.get(label_id=bonus.label_id)
    if not found.callback_url:
        return {"status": status, "callback": None}
    client = HttpClient(base_url=found.callback_url, headers={"Authorization": f"Bearer {found.secret}"})
    client.provider = "sandbox_callback"
    payload = {"idempotency_key": bonus.idempotency_key, "status": status, "operator_bonus_id": bonus.operator_bonus_id}
    try:
        answer = client.request("POST", "", route="redeem_callback", json=payload)
    except HttpError as exc:
        return {"status": status, "callback": {"http_status": exc.status, "error": exc.message, "body": exc.body}}
    return {"status": status, "callback": {"http_status": answer.status, "body": answer.body}}


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value)


def _public(row: SandboxBonus) -> dict[str, Any]:
    return {
        "operator_bonus_id": row.operator_bonus_id,
        "idempotency_key": row.idempotency_key,
        "bonus_code": row.bonus_code,
        "status": row.status,
    }


def _json(request: HttpRequest) -> dict[str, Any]:
    try:
        body = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        return {}
    return body if isinstance(body, dict) else {}
