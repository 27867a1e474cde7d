"""`/healthz`: is the database reachable, is the broker reachable, does every pipeline group keep up. 200 when all
do, 503 otherwise, naming what does not.

The pipeline check is one cheap query (`crm.selectors.pipeline_health`: two index probes per partition and group): a
group fails when its oldest pending event waits longer than PITBOSS_PIPELINE_MAX_LAG_SECONDS, and the pipeline fails
when events are pending and no tick was taken for TICK_STALE_FACTOR times PITBOSS_PIPELINE_IDLE_TICK_SECONDS (no worker
and no sweeper is running: nothing would ever be applied).
"""

from __future__ import annotations

import time

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from backoffice.celery import app as celery_app
from backoffice.middleware import RETRY_AFTER_SECONDS
from crm.selectors import pipeline_health

TICK_STALE_FACTOR = 6  # the sweeper ticks every 10 s, workers every 100 ms: 6 idle periods is a dead ticker


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


def pipeline_check() -> dict:
    """Each group's lag (seconds since its oldest pending event was received, 0 when none), and what is wrong."""
    groups, newest_tick = pipeline_health()
    now = timezone.now()
    max_lag = settings.PITBOSS_PIPELINE_MAX_LAG_SECONDS
    lags = {g.group: round((now - g.oldest_pending_at).total_seconds(), 1) if g.oldest_pending_at else 0.0
            for g in groups}  # fmt: skip
    errors = [f"{group} lags {lag:,.0f} s (max {max_lag:,} s)" for group, lag in lags.items() if lag > max_lag]
    tick_age = (now - newest_tick).total_seconds() if newest_tick else None
    stale = TICK_STALE_FACTOR * settings.PITBOSS_PIPELINE_IDLE_TICK_SECONDS
    pending = any(g.oldest_pending_at for g in groups)
    if pending and (tick_age is None or tick_age > stale):
        errors.append(
            f"no tick for {tick_age or 0:,.0f} s while events are pending: no pipeline worker or sweeper runs"
        )
    result: dict = {
        "ok": not errors,
        "lag_seconds": lags,
        "tick_age_seconds": None if tick_age is None else round(tick_age, 1),
    }
    if errors:
        result["error"] = "; ".join(errors)
    return result


CHECKS = ("database", "broker", "pipeline")


@require_GET
def healthz(request):
    """Every check by default; `?check=database,broker` runs only those (a load balancer's probe: a lagging pipeline
    group must not take the web servers out of rotation, it is monitoring's to page about)."""
    asked = [name.strip() for name in request.GET.get("check", ",".join(CHECKS)).split(",") if name.strip()]
    unknown = [name for name in asked if name not in CHECKS]
    if unknown or not asked:
        problem = f"Unknown check {unknown[0]!r}" if unknown else "No check named"
        message = f"{problem}; name one or more of {', '.join(CHECKS)}, separated by commas."
        return JsonResponse({"code": "invalid", "message": message, "errors": {"check": [message]}}, status=400)
    checks = {}
    for name, check in (("database", _check_database), ("broker", _check_broker)):
        if name not in asked:
            continue
        started = time.perf_counter()
        error = check()
        checks[name] = {"ok": error is None, "ms": round((time.perf_counter() - started) * 1000, 1)}
        if error:
            checks[name]["error"] = error
    if "pipeline" in asked and checks.get("database", {"ok": True})["ok"]:
        started = time.perf_counter()
        try:
            checks["pipeline"] = pipeline_check()
        except Exception as exc:  # the check must answer, whatever the database does
            checks["pipeline"] = {"ok": False, "error": type(exc.__cause__ or exc).__name__}
        checks["pipeline"]["ms"] = round((time.perf_counter() - started) * 1000, 1)
    ok = all(c["ok"] for c in checks.values())
    response = JsonResponse({"status": "ok" if ok else "unavailable", "checks": checks}, status=200 if ok else 503)
    if not ok:
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
