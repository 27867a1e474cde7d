"""The page django-axes answers with while a (username, address) pair is locked out of the admin."""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.http import HttpResponse
from django.shortcuts import render


def lockout_response(request, original_response, credentials) -> HttpResponse:
    """429 with the admin's look (unfold needs the admin site's context) and when to try again."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    context = {
        **admin.site.each_context(request),
        "title": "Too many failed logins",
        "message": "This account is locked out from your address.",
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "cooloff_minutes": minutes,
    }
    # Rendered here: axes returns it from its middleware, where a TemplateResponse would never be rendered.
    response = render(request, "admin/lockout.html", context, status=429)
    response["Retry-After"] = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    return response
