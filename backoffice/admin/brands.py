"""Brands: the sites of a label. Their keys identify them to operators' systems, so those never change."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count

from backoffice.admin.base import LabelScopedAdmin
from backoffice.admin.filters import ScopedRelatedFilter
from backoffice.models import Brand, Perm


@admin.register(Brand)
class BrandAdmin(LabelScopedAdmin):
    add_perm = change_perm = delete_perm = Perm.LABEL_MANAGE
    list_display = ("name", "ext_brand_id", "label", "brand_key", "is_active", "created_at")
    list_filter = (("label", ScopedRelatedFilter), "is_active")
    list_select_related = ("label",)
    search_fields = ("name", "ext_brand_id")

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": ["label", "name", "ext_brand_id", "is_active"]})]
        return [
            (None, {"fields": ["label", "name", "ext_brand_id", "brand_key", "is_active"]}),
            ("Timestamps", {"fields": ["created_at", "updated_at"]}),
        ]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        # Players and operators' data refer to a brand by its label, ext_brand_id and brand_key.
        return ["label", "ext_brand_id", "brand_key", "created_at", "updated_at"]

    def protected_summary(self, objs) -> list[str]:
        with_players = (
            Brand.objects.filter(pk__in=[obj.pk for obj in objs])
            .annotate(n=Count("players"))
            .filter(n__gt=0)
            .values_list("name", "n")
        )
        return [f"{name}: {n} player(s); deactivate the brand instead" for name, n in with_players]
