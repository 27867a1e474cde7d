"""Sidebar permission callbacks (named in the UNFOLD settings): an item shows when its admin would let the user in."""

from __future__ import annotations

from django.apps import apps
from django.contrib import admin


def _can_view(request, model_label: str) -> bool:
    model_admin = admin.site.get_model_admin(apps.get_model(model_label))
    return model_admin.has_module_permission(request) and model_admin.has_view_permission(request)


def players(request) -> bool:
    return _can_view(request, "crm.Player")


def labels(request) -> bool:
    return _can_view(request, "backoffice.Label")


def brands(request) -> bool:
    return _can_view(request, "backoffice.Brand")


def staff_roles(request) -> bool:
    return _can_view(request, "backoffice.StaffRole")


def api_keys(request) -> bool:
    return _can_view(request, "backoffice.ApiKey")


def superuser(request) -> bool:
    return request.user.is_active and request.user.is_staff and request.user.is_superuser
