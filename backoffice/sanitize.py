"""Refuse requests whose path, query string or headers PostgreSQL cannot hold, before any view reads them."""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from django.http import HttpResponse, JsonResponse
from django.views import defaults

from backoffice.api.exceptions import error_body

NUL_MESSAGE = "Must not contain NUL characters."
UTF8_MESSAGE = "Must be UTF-8 text, percent-encoded."


class MalformedRequestMiddleware:
    """400 for a NUL character in the path, a query parameter or a header, or a query parameter that is not UTF-8.

    PostgreSQL text cannot hold NUL, so such a value reaching a query raises DataError (a 500) in whichever view, filter
    or admin search receives it; one check here covers them all. Django decodes invalid UTF-8 into U+FFFD, which would
    silently search for something else than the caller sent. The API answers with the one error shape, naming each
    parameter (`path` for the path); the admin and other pages with the plain 400 page. A lone `%` not followed by two
    hex digits is kept as a literal, as browsers and Django do.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        errors = request_errors(request)
        if errors:
            return _bad_request(request, errors)
        return self.get_response(request)


def request_errors(request) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if "\x00" in request.path_info:
        errors["path"] = [NUL_MESSAGE]
    errors.update(_query_errors(request.META.get("QUERY_STRING", "")))
    for key, value in request.META.items():
        if key.startswith("HTTP_") and isinstance(value, str) and "\x00" in value:
            errors[key[5:].replace("_", "-").title()] = [NUL_MESSAGE]
    return errors


def _query_errors(query_string: str) -> dict[str, list[str]]:
    """Each parameter's name and value, decoded from its bytes as Django does (`&` separates, `+` is a space)."""
    if query_string.isascii() and "%" not in query_string and "\x00" not in query_string:
        return {}  # plain ASCII, nothing percent-encoded: valid UTF-8 without NUL (the common case, checked at once)
    try:
        raw = query_string.encode("iso-8859-1")  # WSGI carries the query's bytes as latin-1 text
    except UnicodeEncodeError:
        raw = query_string.encode("utf-8")
    errors: dict[str, list[str]] = {}
    for pair in raw.split(b"&"):
        name, _, value = (unquote_to_bytes(part.replace(b"+", b" ")) for part in pair.partition(b"="))
        shown = name.decode("utf-8", errors="replace").replace("\x00", "\\0")
        try:
            text = name.decode("utf-8") + value.decode("utf-8")
        except UnicodeDecodeError:
            errors[shown] = [UTF8_MESSAGE]
            continue
        if "\x00" in text:
            errors[shown] = [NUL_MESSAGE]
    return errors


def _bad_request(request, errors: dict[str, list[str]]) -> HttpResponse:
    if request.path_info.startswith("/convert/"):  # the conversion pixel's error (reference: 422, naming the error)
        from integrations.intelitics.pixel import error_body as pixel_error_body

        return JsonResponse(pixel_error_body(errors), status=422)
    if request.path_info.startswith("/api/"):
        body = error_body("malformed_request", f"Invalid value for: {', '.join(sorted(errors))}.", errors)
        return JsonResponse(body, status=400)
    from integrations.smartkarrot import envelope as sk  # the compatible family answers in its own envelope

    if request.path_info.startswith(sk.PATH_PREFIXES):
        body = sk.envelope(sk.Status.INVALID_INPUT, f"Invalid value for: {', '.join(sorted(errors))}.", errors)
        return JsonResponse(body, status=400)
    return defaults.bad_request(request, ValueError("malformed request"))
