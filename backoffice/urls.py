from csp.constants import SELF, UNSAFE_INLINE
from csp.decorators import csp_update
from django.conf import settings
from django.contrib import admin
from django.http import JsonResponse
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from backoffice.api.exceptions import error_body
from backoffice.health import healthz
from crm.admin.builder.catalogue import builder_catalogue
from integrations.intelitics import urls as intelitics_urls
from integrations.smartkarrot import envelope as smartkarrot_envelope

# Redoc's page starts it with an inline script, runs a worker from a blob and loads Google's fonts.
_REDOC_CSP = csp_update(
    {
        "script-src": [UNSAFE_INLINE, "blob:"],
        "worker-src": [SELF, "blob:"],
        "style-src": ["https://fonts.googleapis.com"],
        "font-src": ["https://fonts.gstatic.com"],
    }
)

urlpatterns = [
    # Intelitics's tracking links and pixel first: the product's hottest paths (/convert/{click_id}, /track/{token})
    # resolve without walking the patterns below. Their patterns are spliced in, not included: an include is a nested
    # resolver, a second match and a second ResolverMatch on every pixel call.
    *intelitics_urls.urlpatterns,
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("healthz", healthz, name="healthz"),
    # The condition builder's catalogue (crm/admin/builder): an admin page's JSON, behind the admin's login.
    path("admin/crm/builder/catalogue/", admin.site.admin_view(builder_catalogue), name="crm_builder_catalogue"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("backoffice.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's start script as a file, so the page needs no inline script (CSP).
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path("api/redoc/", _REDOC_CSP(SpectacularRedocView.as_view(url_name="schema")), name="api-redoc"),
    # Drop-in compatible endpoints at the reference's own paths: SmartKarrot (/v4/…, /dashboards/v4/financial/…).
    path("", include("integrations.smartkarrot.urls")),
]
if settings.PITBOSS_SANDBOX:  # the built-in sandbox operator: demo and tests only, off in production settings
    urlpatterns.append(path("sandbox/", include("integrations.sandbox.urls")))


def _api_or_html(json_status: int, code: str, message: str, html_handler):
    def handler(request, *args, **kwargs):
        if request.path.startswith(("/api/", "/convert/")):  # the conversion pixel answers in the API's shape
            return JsonResponse(error_body(code, message), status=json_status)
        if request.path.startswith(smartkarrot_envelope.PATH_PREFIXES):
            return JsonResponse(
                smartkarrot_envelope.envelope(smartkarrot_envelope.Status.ERROR, message), status=json_status
            )
        return html_handler(request, *args, **kwargs)

    return handler


from django.views import defaults  # noqa: E402

from backoffice.admin import errors as admin_errors  # noqa: E402

handler400 = _api_or_html(400, "malformed_request", "Malformed request.", defaults.bad_request)
handler403 = _api_or_html(403, "permission_denied", "Permission denied.", admin_errors.permission_denied)
handler404 = _api_or_html(404, "not_found", "Not found.", admin_errors.page_not_found)
handler500 = _api_or_html(500, "server_error", "Internal error; it was logged.", defaults.server_error)
