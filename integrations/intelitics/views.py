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
    query = list(request.GET.lists())
    if request.method == "POST":
        query += list(request.POST.lists())  # a form-encoded body, as some servers send it
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
