"""Segments in the admin: the list (kind, members, status, where used), the add/change page with the condition tree
(a JSON box named `conditions`, which the condition builder replaces), the live audience count, members with a CSV
export, CSV imports with a progress bar, and "used by". A segment in use cannot be deleted: the page names the users.

Admins and managers change segments (Perm.CONFIG_CHANGE); support and integration engineers read them.
"""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.forms.fields import InvalidJSONInput
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from unfold.contrib.filters.admin import ChoicesDropdownFilter
from unfold.decorators import display
from unfold.widgets import UnfoldAdminTextareaWidget

from backoffice.admin.base import LabelScopedAdmin
from backoffice.admin.filters import ScopedRelatedFilter
from backoffice.admin.helpers import badge
from backoffice.errors import DomainError, DomainValidationError
from backoffice.models import Perm
from crm.admin import segment_pages
from crm.conditions import TreeError, tree_describe
from crm.models import Segment, SegmentKind, SegmentStatus
from crm.segments_selectors import segments_for_actor
from crm.services.segments import (
    SegmentInUse,
    segment_conditions_check,
    segment_count,
    segment_delete,
    segment_save,
    segment_uses,
)

STATUS_VARIANTS = {SegmentStatus.ACTIVE: "success", SegmentStatus.PAUSED: "warning"}


class PrettyJSONField(forms.JSONField):
    """JSON shown indented, so a tree reads as a tree in the box."""

    def prepare_value(self, value):
        if isinstance(value, InvalidJSONInput):
            return value
        return json.dumps(value, ensure_ascii=False, indent=2, cls=self.encoder)


class SegmentForm(forms.ModelForm):
    """The segment's fields; `conditions` is a plain JSON box (the builder widget replaces it)."""

    conditions = PrettyJSONField(
        required=False,
        widget=UnfoldAdminTextareaWidget(attrs={"rows": 8, "class": "font-mono"}),
        help_text='The condition tree as JSON, e.g. {"all": [{"field": "core_account_status", "op": "eq", '
        '"value": "ACTIVE"}]}. Leave empty for an imported segment.',
    )

    class Meta:
        model = Segment
        fields = ("label", "name", "description", "kind", "status", "conditions")

    def clean(self):
        data = super().clean()
        label = data.get("label") or getattr(self.instance, "label", None)
        kind = data.get("kind") or self.instance.kind
        if label is None or kind != SegmentKind.CONDITIONS or "conditions" in self.errors:
            return data
        if data.get("conditions") is None:
            self.add_error("conditions", 'A conditions segment needs a condition tree ({"all": []} is everyone).')
            return data
        try:
            segment_conditions_check(label_id=label.pk, conditions=data["conditions"], segment_id=self.instance.pk)
        except DomainValidationError as exc:
            self.add_error("conditions", [f"{path}: {' '.join(msgs)}" for path, msgs in exc.errors.items()])
        return data


@admin.register(Segment)
class SegmentAdmin(LabelScopedAdmin):
    add_perm = change_perm = delete_perm = Perm.CONFIG_CHANGE
    form = SegmentForm
    list_display = ("name", "kind", "members", "status_badge", "used_by_summary", "label", "updated_at")
    list_filter = (("label", ScopedRelatedFilter), ("kind", ChoicesDropdownFilter), ("status", ChoicesDropdownFilter))
    list_select_related = ("label",)
    search_fields = ("name",)
    readonly_fields = ("audience", "in_words", "used_by", "list_panel", "created_by", "updated_by", "refreshed_at")

    def get_fieldsets(self, request, obj=None):
        main = ["label", "name", "description", "kind", "status"]
        if obj is None or obj.kind == SegmentKind.CONDITIONS:
            main.append("conditions")
        sets = [(None, {"fields": main})]
        if obj is not None:
            now = ["audience", "in_words"] if obj.kind == SegmentKind.CONDITIONS else ["audience", "list_panel"]
            sets.append(("Now", {"fields": now}))
            sets.append(("Used by", {"fields": ["used_by"]}))
            sets.append(("History", {"fields": ["created_by", "updated_by", "refreshed_at"]}))
        return sets

    def get_readonly_fields(self, request, obj=None):
        fixed = list(self.readonly_fields)
        return [*fixed, "kind", "label"] if obj is not None else fixed

    def get_queryset(self, request):
        return segments_for_actor(actor=self.actor(request))

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        initial.setdefault("conditions", Segment._meta.get_field("conditions").get_default())
        return initial

    # --- writes through the service -------------------------------------------------------------------------------
    def save_model(self, request, obj, form, change) -> None:
        data = form.cleaned_data
        saved = segment_save(
            label=obj.label,
            name=data["name"],
            kind=obj.kind,
            conditions=data.get("conditions"),
            description=data.get("description", ""),
            status=data["status"],
            segment=obj if change else None,
            user=request.user,
        )
        obj.pk = saved.pk

    def delete_model(self, request, obj) -> None:
        if not self.has_delete_permission(request, obj):
            raise PermissionDenied
        segment_delete(segment=obj)

    def delete_queryset(self, request, queryset) -> None:
        for obj in queryset:
            self.delete_model(request, obj)

    def protected_summary(self, objs) -> list[str]:
        refusals = []
        for obj in objs:
            uses = segment_uses(segment=obj)
            if uses:
                refusals.append(SegmentInUse(uses).message.replace("This segment", f"“{obj}”"))
        return refusals

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except DomainError as exc:  # used meanwhile (between the confirmation page and the POST)
            messages.error(request, exc.message)
            from django.http import HttpResponseRedirect

            return HttpResponseRedirect(reverse("admin:crm_segment_change", args=[object_id]))

    # --- list columns ---------------------------------------------------------------------------------------------
    @display(description="Tracked members", ordering="tracked_count")
    def members(self, obj) -> str:
        url = reverse("admin:crm_segment_members", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, f"{obj.tracked_count or 0:,}")

    @display(description="Status", ordering="status")
    def status_badge(self, obj) -> str:
        return badge(obj.get_status_display(), STATUS_VARIANTS.get(obj.status, ""))

    @display(description="Used by")
    def used_by_summary(self, obj) -> str:
        uses = segment_uses(segment=obj)
        return ", ".join(f"{kind} “{thing}”" for kind, thing in uses[:3]) + (" …" if len(uses) > 3 else "") or "-"

    # --- change page panels ---------------------------------------------------------------------------------------
    @display(description="Audience now")
    def audience(self, obj) -> str:
        try:
            count = segment_count(segment=obj)
        except TreeError as exc:
            return "Cannot count: " + "; ".join(f"{p}: {' '.join(m)}" for p, m in exc.errors.items())
        members_url = reverse("admin:crm_segment_members", args=[obj.pk])
        return format_html(
            '<strong data-testid="segment-count">{}</strong> players now · '
            '<a class="text-primary-600" href="{}">members</a> · <a class="text-primary-600" href="{}">export CSV</a>',
            f"{count:,}",
            members_url,
            reverse("admin:crm_segment_members_export", args=[obj.pk]),
        )

    @display(description="In plain words")
    def in_words(self, obj) -> str:
        try:
            return tree_describe(obj.conditions, label_id=obj.label_id)
        except TreeError:
            return "-"

    @display(description="Used by")
    def used_by(self, obj) -> str:
        uses = segment_uses(segment=obj)
        if not uses:
            return "Nothing uses this segment."
        return format_html(
            '<ul class="list-disc ml-5" data-testid="segment-used-by">{}</ul>',
            format_html_join("", "<li>{}: {}</li>", ((kind, _linked(thing)) for kind, thing in uses)),
        )

    @display(description="List")
    def list_panel(self, obj) -> str:
        return segment_pages.list_panel(obj)

    # --- extra pages ----------------------------------------------------------------------------------------------
    def get_urls(self):
        view = self.admin_site.admin_view
        pages = [
            path("audience/", view(lambda r: segment_pages.audience_view(self, r)), name="crm_segment_audience"),
            path(
                "<int:segment_id>/members/",
                view(lambda r, segment_id: segment_pages.members_view(self, r, segment_id)),
                name="crm_segment_members",
            ),
            path(
                "<int:segment_id>/members/export/",
                view(lambda r, segment_id: segment_pages.members_export(self, r, segment_id)),
                name="crm_segment_members_export",
            ),
            path(
                "<int:segment_id>/import/",
                view(lambda r, segment_id: segment_pages.import_view(self, r, segment_id)),
                name="crm_segment_import",
            ),
            path(
                "<int:segment_id>/imports/<int:import_id>/progress/",
                view(lambda r, segment_id, import_id: segment_pages.import_progress(self, r, segment_id, import_id)),
                name="crm_segment_import_progress",
            ),
            path(
                "<int:segment_id>/imports/<int:import_id>/unmatched.csv",
                view(lambda r, segment_id, import_id: segment_pages.import_unmatched(self, r, segment_id, import_id)),
                name="crm_segment_import_unmatched",
            ),
        ]
        return [*pages, *super().get_urls()]


def _linked(thing) -> str:
    meta = getattr(thing, "_meta", None)
    if meta is None:
        return str(thing)
    try:
        url = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[thing.pk])
    except Exception:  # a user without an admin page is named, not linked
        return str(thing)
    return format_html('<a href="{}">{}</a>', url, thing)
