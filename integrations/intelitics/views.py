"""The conversion pixel `/convert/{click_id}` (reference/intelitics-smart-pixels.txt) and tracking links
`/track/{token}`.

Both are plain Django views, not DRF: they are the hottest paths of the product, called by browsers (iframe, image,
JavaScript) and by servers, without authentication (the click id is the credential). The pixel answers:
- 202 with an empty body: the conversion is stored, or was already (a duplicate), or the call was a test;
- 422 with `{"code": "invalid_<parameter>", "message", "errors": {parameter: [messages]}}`: nothing was stored;
- 404 with the same shape (`not_found`, naming click_id): no click has this id;
- 405 for any method but GET and POST (OPTIONS, the CORS preflight, is answered by the CORS middleware).
"""

from __future__ import annotations

import contextlib
from urllib.parse import parse_qsl

from django.conf import settings
from django.core.exceptions import TooManyFieldsSent
from django.http import Http404, HttpResponse, HttpResponseRedirect, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from backoffice.api.throttling import client_address
from crm.models import TrackingLink
from crm.services.affiliates import click_record, conversion_record, landing_url_for
from integrations.intelitics.pixel import error_body, parse_call

MAX_PARAMS, MAX_PARAM_NAME, MAX_PARAM_VALUE = 20, 64, 256


def _no_store(response: HttpResponse) -> HttpResponse:
    # Every call must reach the server: a cached pixel or redirect would lose a conversion or a click.
    response["Cache-Control"] = "no-store"
    return response


@csrf_exempt  # fired cross-site by browsers and by servers; the click id is the only credential
def convert(request, click_id: str) -> HttpResponse:
    if request.method not in ("GET", "POST"):
        response = JsonResponse({"code": "method_not_allowed", "message": "Use GET or POST.", "errors": {}}, status=405)
        response["Allow"] = "GET, POST"
        return response
    query = _query(request)
    if request.method == "POST":
        query += [(name, value) for name, values in request.POST.lists() for value in values]  # a form-encoded body
    meta = request.META
    call, errors = parse_call(
        click_id,
        query,
        ip=client_address(request) or None,
        user_agent=meta.get("HTTP_USER_AGENT", ""),
        referrer=meta.get("HTTP_REFERER", ""),
    )
    if errors:
        return _no_store(JsonResponse(error_body(errors), status=422))
    if not conversion_record(call=call).found:
        body = {"code": "not_found", "message": "No click with this id.", "errors": {"click_id": ["Unknown."]}}
        return _no_store(JsonResponse(body, status=404))
    return _no_store(HttpResponse(status=202))


def _query(request) -> list[tuple[str, str]]:
    """The query's (name, value) pairs in order, exactly what `request.GET` would hold (UTF-8, `+` a space, empty
    values kept, DATA_UPLOAD_MAX_NUMBER_FIELDS enforced), parsed without building a QueryDict: 11 µs less of the
    pixel's CPU per call (docs/affiliates.md, "Speed"). MalformedRequestMiddleware has already refused a query that
    is not UTF-8 or holds NUL."""
    query = request.META.get("QUERY_STRING", "")
    if not query.isascii():  # WSGI carries the query's bytes as latin-1 text; decoded as QueryDict does
        with contextlib.suppress(UnicodeError):
            raw = query.encode("iso-8859-1")
            try:
                query = raw.decode("utf-8")
            except UnicodeDecodeError:
                query = raw.decode("iso-8859-1")
    try:
        return parse_qsl(query, keep_blank_values=True, max_num_fields=settings.DATA_UPLOAD_MAX_NUMBER_FIELDS)
    except ValueError:  # as QueryDict: a 400
        raise TooManyFieldsSent(
            "The number of GET/POST parameters exceeded settings.DATA_UPLOAD_MAX_NUMBER_FIELDS."
        ) from None


def track(request, token: str) -> HttpResponse:
    """A tracking link: mint a click id and redirect (302) to the landing page with it appended. HEAD (link checkers,
    previews) redirects without minting a click."""
    if request.method not in ("GET", "HEAD"):
        return HttpResponse(status=405, headers={"Allow": "GET, HEAD"})
    link = TrackingLink.objects.select_related("campaign__affiliate").filter(token=token).first()
    if link is None:
        raise Http404("No tracking link with this token.")
    params = _params(request)
    if request.method == "HEAD":
        return _no_store(HttpResponseRedirect(landing_url_for(link=link, click_id=None, params=params)))
    _, url = click_record(
        link=link,
        params=params,
        ip=client_address(request) or None,
        user_agent=request.META.get("HTTP_USER_AGENT", ""),
        referrer=request.META.get("HTTP_REFERER", ""),
    )
    return _no_store(HttpResponseRedirect(url))


def _params(request) -> dict[str, str]:
    """The tracking URL's query (sub ids), bounded: a visitor never gets an error page, excess is dropped."""
    params: dict[str, str] = {}
    for name, value in request.GET.items():
        if len(params) >= MAX_PARAMS:
            break
        if 0 < len(name) <= MAX_PARAM_NAME:
            params[name] = value[:MAX_PARAM_VALUE]
    return params
