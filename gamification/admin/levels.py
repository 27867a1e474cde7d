"""Levels in the admin: configuration, changed by roles that change gamification (admin, manager)."""

from __future__ import annotations

from django.contrib import admin
from django.db import models
from django.utils.html import format_html, format_html_join
from unfold.decorators import display
from unfold.widgets import UnfoldAdminExpandableTextareaWidget

from backoffice.admin.base import LabelScopedAdmin
from backoffice.admin.filters import ScopedRelatedFilter
from backoffice.models import Perm
from gamification.models import Level, Wallet


@admin.register(Level)
class LevelAdmin(LabelScopedAdmin):
    add_perm = change_perm = delete_perm = Perm.CONFIG_CHANGE
    list_display = ("name", "required_points", "is_default", "label")
    list_select_related = ("label",)
    list_filter = (("label", ScopedRelatedFilter),)
    formfield_overrides = {
        models.URLField: {"assume_scheme": "https"},
        models.JSONField: {"widget": UnfoldAdminExpandableTextareaWidget(attrs={"rows": 2})},
    }
    fields = ("label", "name", "required_points", "is_default", "names", "descriptions", "image_url", "custom")
    readonly_fields = ("ladder",)

    def get_fields(self, request, obj=None):
        return (*self.fields, "ladder") if obj else self.fields

    @display(description="Preview: the label's ladder")
    def ladder(self, obj) -> str:
        """Every level of the label with its points range and how many players are at it; this one in bold."""
        levels = list(Level.objects.for_label(obj.label_id).order_by("required_points"))
        counts = dict(
            Wallet.objects.filter(level__in=levels)
            .values("level")
            .annotate(n=models.Count("pk"))
            .values_list("level", "n")
        )
        rows = []
        for n, level in enumerate(levels):
            upper = f"to {levels[n + 1].required_points - 1:,}" if n + 1 < len(levels) else "and up"
            names = ", ".join(f"{code}: {text}" for code, text in sorted(level.names.items())) or "-"
            weight = (
                "font-semibold text-font-important-light dark:text-font-important-dark" if level.pk == obj.pk else ""
            )
            rows.append((weight, level.name, " (default)" if level.is_default else "", f"{level.required_points:,}",
                         upper, _players(counts.get(level.pk, 0)), names))  # fmt: skip
        body = format_html_join(
            "", '<tr class="{}"><td class="pr-4">{}{}</td><td class="pr-4">{} {}</td><td class="pr-4">{}</td>'
            "<td>{}</td></tr>", rows,
        )  # fmt: skip
        return format_html('<table class="text-sm" data-testid="level-ladder">{}</table>', body)


def _players(n: int) -> str:
    return f"{n:,} player" if n == 1 else f"{n:,} players"
