"""`/healthz`: is the database reachable, is the broker reachable. 200 when both are, 503 otherwise."""

from __future__ import annotations

import time

from django.db import connection
from django.http import JsonResponse
from django.views.decorators.http import require_GET

from backoffice.celery import app as celery_app
from backoffice.middleware import RETRY_AFTER_SECONDS


def _check_database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:
        # The driver's error names the case: PoolTimeout (this process's connections are all busy) or
        # OperationalError (PostgreSQL refuses or is away); Django wraps both in its own OperationalError.
        return type(exc.__cause__ or exc).__name__
    return None


def _check_broker() -> str | None:
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:
        return type(exc).__name__
    return None


@require_GET
def healthz(request):
    checks = {}
    for name, check in (("database", _check_database), ("broker", _check_broker)):
        started = time.perf_counter()
        error = check()
        checks[name] = {"ok": error is None, "ms": round((time.perf_counter() - started) * 1000, 1)}
        if error:
            checks[name]["error"] = error
    ok = all(c["ok"] for c in checks.values())
    response = JsonResponse({"status": "ok" if ok else "unavailable", "checks": checks}, status=200 if ok else 503)
    if not ok:
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
