"""Project middleware (its order is in `MIDDLEWARE`, backoffice/settings/base.py)."""

from __future__ import annotations

import structlog
from django.db import OperationalError, connection
from django.http import HttpResponse, JsonResponse

from backoffice.api.exceptions import error_body
from backoffice.dbpool import is_unavailable

log = structlog.get_logger(__name__)
RETRY_AFTER_SECONDS = 5
UNAVAILABLE_MESSAGE = "The service is busy; retry in a few seconds."
UNAVAILABLE_PAGE = (
    "<!doctype html><html lang=en><meta charset=utf-8><title>Service unavailable</title>"
    "<h1>Service unavailable</h1><p>The service is busy. Please try again in a few seconds.</p></html>"
)

API_PREFIX = "/api/v1/"


class ApiNoStoreMiddleware:
    """`Cache-Control: no-store` on every API answer, errors included: answers carry players' data, which no browser
    or proxy on the way may keep."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.path.startswith(API_PREFIX):
            response["Cache-Control"] = "no-store"
        return response


class DatabaseUnavailableMiddleware:
    """503 with `Retry-After`, never a 500, when a request cannot get a database connection in time (the process's
    pool is exhausted, or PostgreSQL refuses or is away), logged once as a warning.

    The connection is taken here, before the session and authentication middleware read the database: an error raised
    inside a later middleware would reach this one already turned into a 500 (Django converts exceptions to responses
    at every layer). Once taken, the connection is this request's until it ends, so later queries do not wait on the
    pool again; a view that loses the database midway comes through `process_exception`. `/healthz` is left to report
    the database itself.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path != "/healthz":
            try:
                connection.ensure_connection()
            except OperationalError as exc:
                if not is_unavailable(exc):
                    raise
                return _unavailable(request, exc)
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, OperationalError) and is_unavailable(exception):
            return _unavailable(request, exception)
        return None


def _unavailable(request, exc: Exception) -> HttpResponse:
    cause = exc.__cause__ if exc.__cause__ is not None else exc
    log.warning("database_unavailable", path=request.path, error=type(cause).__name__)
    if request.path.startswith("/api/"):
        response = JsonResponse(error_body("unavailable", UNAVAILABLE_MESSAGE), status=503)
    else:
        response = HttpResponse(UNAVAILABLE_PAGE, status=503, content_type="text/html; charset=utf-8")
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    # Logged above as a warning; without this mark django.request would log the 503 again, as an error.
    response._has_been_logged = True
    return response
