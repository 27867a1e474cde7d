"""Badges in the admin: configuration with stages inline; the awards are a read-only list on the badge's page."""

from __future__ import annotations

from django.contrib import admin
from django.db import models
from django.db.models import Count
from django.utils.html import format_html, format_html_join
from unfold.decorators import display
from unfold.widgets import UnfoldAdminExpandableTextareaWidget

from backoffice.admin.base import LabelScopedAdmin, LabelScopedTabularInline
from backoffice.admin.filters import ScopedRelatedFilter
from backoffice.models import Perm
from gamification.models import Badge, BadgeAward, BadgeStage

RECENT_AWARDS = 50


class BadgeStageInline(LabelScopedTabularInline):
    model = BadgeStage
    extra = 0
    fields = ("number", "name", "names", "image_url")
    formfield_overrides = {
        models.URLField: {"assume_scheme": "https"},
        models.JSONField: {"widget": UnfoldAdminExpandableTextareaWidget(attrs={"rows": 2})},
    }

    def has_delete_permission(self, request, obj=None) -> bool:
        # A stage players hold stays: their awards name it.
        if obj is not None and BadgeAward.objects.filter(badge_id=obj.pk).exists():
            return False
        return super().has_delete_permission(request, obj)


@admin.register(Badge)
class BadgeAdmin(LabelScopedAdmin):
    add_perm = change_perm = delete_perm = Perm.CONFIG_CHANGE
    inlines = (BadgeStageInline,)
    list_display = ("name", "visibility", "is_active", "stage_count", "award_count", "label")
    list_select_related = ("label",)
    list_filter = (("label", ScopedRelatedFilter), "is_active", "visibility")
    search_fields = ("name",)
    formfield_overrides = {
        models.URLField: {"assume_scheme": "https"},
        models.JSONField: {"widget": UnfoldAdminExpandableTextareaWidget(attrs={"rows": 2})},
    }
    fieldsets = (
        (
            None,
            {"fields": ("label", "name", "names", "descriptions", "image_url", "visibility", "position", "is_active")},
        ),
        ("Awards", {"fields": ("awards",)}),
    )
    readonly_fields = ("awards",)

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(n_stages=Count("stages", distinct=True), n_awards=Count("awards", distinct=True))
        )

    def has_delete_permission(self, request, obj=None) -> bool:
        # Awarded badges are history: switch them off instead (the awards protect them anyway).
        if obj is not None and BadgeAward.objects.filter(badge_id=obj.pk).exists():
            return False
        return super().has_delete_permission(request, obj)

    @display(description="Stages", ordering="n_stages")
    def stage_count(self, obj) -> int:
        return max(obj.n_stages, 1)

    @display(description="Awards", ordering="n_awards")
    def award_count(self, obj) -> int:
        return obj.n_awards

    @display(description="Latest awards")
    def awards(self, obj) -> str:
        if obj is None or obj.pk is None:
            return "-"
        recent = BadgeAward.objects.filter(badge_id=obj.pk).select_related("player", "created_by")[:RECENT_AWARDS]
        if not recent:
            return "Not awarded yet."
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (a.created_at.strftime("%Y-%m-%d %H:%M"), a.player.user_ext_id, a.stage, a.source, a.reason or "-",
                 a.created_by.username if a.created_by else "-")
                for a in recent
            ),
        )  # fmt: skip
        return format_html(
            '<table class="w-full text-sm"><thead><tr><th>When</th><th>Player</th><th>Stage</th><th>Source</th>'
            "<th>Reason</th><th>By</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )
