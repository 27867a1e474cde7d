"""Levels in the admin: configuration, changed by roles that change gamification (admin, manager)."""

from __future__ import annotations

from django.contrib import admin
from django.db import models

from backoffice.admin.base import LabelScopedAdmin
from backoffice.admin.filters import ScopedRelatedFilter
from backoffice.models import Perm
from gamification.models import Level


@admin.register(Level)
class LevelAdmin(LabelScopedAdmin):
    add_perm = change_perm = delete_perm = Perm.CONFIG_CHANGE
    list_display = ("name", "required_points", "is_default", "label")
    list_select_related = ("label",)
    list_filter = (("label", ScopedRelatedFilter),)
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    fields = ("label", "name", "required_points", "is_default", "names", "descriptions", "image_url", "custom")
