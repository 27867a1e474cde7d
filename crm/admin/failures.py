"""Pipeline failures: the events a consumer group's handlers failed on, per (group, event).

The group went on past each of them; the pipeline retries them with backoff, then parks them until staff retry them
here (after fixing what made them fail). A failure is resolved by the retry that applies the event, once. Read-only:
the only thing staff do here is schedule a retry (`crm.services.events.events_retry`), where they may run the label's
data sources.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html
from unfold.contrib.filters.admin import DropdownFilter
from unfold.decorators import action, display

from backoffice.admin.base import LabelScopedAdmin, may_act_on
from backoffice.admin.filters import ScopedRelatedFilter
from backoffice.admin.helpers import badge, confirmed_action, object_url
from backoffice.models import Perm
from crm.admin.events.formatting import moment, nowrap, type_badge
from crm.admin.events.history import retries_log
from crm.models import PipelineFailure
from crm.pipeline import KNOWN_GROUPS
from crm.services.events import events_retry

RETRY_PERM = Perm.DATA_SOURCES  # as in the event explorer
RETRY_LIMIT = 500
ERROR_PREVIEW = 140


class GroupFilter(DropdownFilter):
    title = "group"
    parameter_name = "group"

    def lookups(self, request, model_admin):
        return [(group, group) for group in KNOWN_GROUPS]

    def queryset(self, request, queryset):
        return queryset.filter(group_name=self.value()) if self.value() else queryset


class FailureStatusFilter(DropdownFilter):
    """Open failures are retried automatically; parked ones wait for staff; resolved ones were applied by a retry."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("open", "Open (retrying or parked)"), ("retrying", "Retrying"), ("parked", "Parked"),
                ("resolved", "Resolved")]  # fmt: skip

    def queryset(self, request, queryset):
        value = self.value()
        if value == "open":
            return queryset.filter(resolved_at__isnull=True)
        if value == "retrying":
            return queryset.filter(resolved_at__isnull=True, retry_after__isnull=False)
        if value == "parked":
            return queryset.filter(resolved_at__isnull=True, retry_after__isnull=True)
        if value == "resolved":
            return queryset.filter(resolved_at__isnull=False)
        return queryset


@admin.register(PipelineFailure)
class PipelineFailureAdmin(LabelScopedAdmin):
    # Written only by the pipeline: nobody adds, changes or deletes failures here.
    list_display = (
        "failed",
        "group",
        "event_link",
        "event_type",
        "player_link",
        "handler",
        "error_preview",
        "attempts",
        "next_retry",
        "state",
    )
    list_display_links = None  # the event id links to the failure; the event has its own link on the failure page
    list_filter_submit = True
    list_per_page = 50
    search_fields = ("=event__event_id",)
    search_help_text = "Exact event id"
    show_facets = admin.ShowFacets.NEVER
    show_full_result_count = False  # one count of a small table, not two
    sortable_by = ()
    ordering = ("-failed_at", "-id")
    actions = ["retry_selected"]
    actions_detail = ["retry"]
    fieldsets = (
        (
            "Failure",
            {
                "fields": (
                    ("group", "state"),
                    ("event_link", "event_type"),
                    ("player_link", "label"),
                    "handler",
                    "error_text",
                )
            },
        ),
        ("Retries", {"fields": (("attempts", "failed_time"), ("next_retry", "resolved_time"))}),
    )

    def get_queryset(self, request):
        # The failures table has no label-scoped manager of its own (the pipeline writes it with SQL): scope it here.
        rows = super(LabelScopedAdmin, self).get_queryset(request)
        rows = rows.filter(label_id__in=self.actor(request).label_ids)
        return rows.select_related("event__player", "label")

    def get_readonly_fields(self, request, obj=None):
        return [
            "group",
            "player_link",
            "state",
            "event_link",
            "event_type",
            "label",
            "handler",
            "error_text",
            "attempts",
            "failed_time",
            "next_retry",
            "resolved_time",
        ]

    def get_list_filter(self, request):
        filters = [GroupFilter, FailureStatusFilter]
        if len(self.actor(request).label_ids) > 1:
            filters.insert(0, ("label", ScopedRelatedFilter))
        return filters

    def get_list_display(self, request):
        if len(self.actor(request).label_ids) > 1:
            return (*self.list_display, "label_name")
        return self.list_display

    # --- columns -------------------------------------------------------------------------------------------------
    @display(description="Failed at")
    def failed(self, obj) -> str:
        return format_html(
            '<a class="text-primary-600 dark:text-primary-500 whitespace-nowrap" href="{}">{}</a>',
            reverse("admin:crm_pipelinefailure_change", args=[obj.pk]),
            moment(obj.failed_at),
        )

    @display(description="Last failure")
    def failed_time(self, obj) -> str:
        return moment(obj.failed_at, precise=True)

    @display(description="Resolved")
    def resolved_time(self, obj) -> str:
        return moment(obj.resolved_at, precise=True) if obj.resolved_at else "-"

    @display(description="Group")
    def group(self, obj) -> str:
        return obj.group_name

    @display(description="Player")
    def player_link(self, obj) -> str:
        player = obj.event.player
        return format_html(
            '<a class="text-primary-600 dark:text-primary-500" href="{}">{}</a>',
            reverse("admin:crm_player_change", args=[player.pk]),
            player.user_ext_id,
        )

    @display(description="Event")
    def event_link(self, obj) -> str:
        return format_html(
            '<a class="text-primary-600 dark:text-primary-500 whitespace-nowrap" href="{}">{}</a>',
            reverse("admin:crm_event_change", args=[obj.event_id]),
            obj.event.event_id,
        )

    @display(description="Type")
    def event_type(self, obj) -> str:
        return type_badge(obj.event.type)

    @display(description="Error")
    def error_preview(self, obj) -> str:
        first = obj.error.splitlines()[0] if obj.error else ""
        short = first if len(first) <= ERROR_PREVIEW else f"{first[: ERROR_PREVIEW - 1]}…"
        return format_html('<span title="{}">{}</span>', obj.error, short)

    @display(description="Error")
    def error_text(self, obj) -> str:
        return format_html(
            '<pre style="white-space: pre-wrap; font-family: ui-monospace, monospace; margin: 0">{}</pre>', obj.error
        )

    @display(description="Next retry")
    def next_retry(self, obj) -> str:
        if obj.resolved_at:
            return "-"
        if obj.retry_after is None:
            return "Parked: staff retry it"
        return nowrap(moment(obj.retry_after))

    @display(description="Status")
    def state(self, obj) -> str:
        if obj.resolved_at:
            return badge("Resolved", "success")
        if obj.retry_after is None:
            return badge("Parked", "danger")
        return badge("Retrying", "warning")

    @display(description="Label")
    def label_name(self, obj) -> str:
        return obj.label.name

    # --- retry now -----------------------------------------------------------------------------------------------
    def get_object(self, request, object_id, from_field=None):
        """Read once per request: the page, its Retry button and the permission check all ask for the failure."""
        cache = request.__dict__.setdefault("_pitboss_failures", {})
        key = (str(object_id), from_field)
        if key not in cache:
            cache[key] = super().get_object(request, object_id, from_field)
        return cache[key]

    def has_retry_permission(self, request, object_id=None) -> bool:
        return may_act_on(self, request, RETRY_PERM, object_id)  # another label's failure: 404

    def get_actions_detail(self, request, object_id):
        failure = self.get_object(request, object_id) if object_id else None
        if failure is None or failure.resolved_at is not None:
            return []  # a resolved failure was applied: retrying it would apply it twice
        return super().get_actions_detail(request, object_id)

    @admin.action(description="Retry now", permissions=["retry"])
    def retry_selected(self, request, queryset) -> None:
        allowed = queryset.filter(label_id__in=self.actor(request).labels_with(RETRY_PERM), resolved_at__isnull=True)
        by_group: dict[str, list[int]] = {}
        for group, event_id in allowed.order_by().values_list("group_name", "event_id")[:RETRY_LIMIT]:
            by_group.setdefault(group, []).append(event_id)
        scheduled = []
        for group, event_ids in sorted(by_group.items()):
            scheduled += events_retry(event_ids=event_ids, group=group)
        retries_log(request, scheduled)
        if scheduled:
            messages.success(
                request, f"Scheduled a retry of {len(scheduled)} failure(s); the pipeline applies them in seconds."
            )
        else:
            messages.warning(request, "None of the selected failures is open; nothing was retried.")

    @action(description="Retry now", url_path="retry", permissions=["retry"], icon="replay")
    def retry(self, request, object_id):
        failure = self.get_object(request, object_id)
        if failure.resolved_at is not None:
            messages.info(request, "This failure is resolved: a retry applied the event. There is nothing to retry.")
            return self._back(failure)

        def perform() -> None:
            scheduled = events_retry(event_ids=[failure.event_id], group=failure.group_name)
            retries_log(request, scheduled)
            if scheduled:
                messages.success(request, f"A retry of {failure} is scheduled; it is applied in a moment.")
            else:
                messages.info(request, "This failure was resolved meanwhile.")

        return confirmed_action(
            self,
            request,
            failure,
            title=f"Retry {failure}",
            text=f"The handlers of the {failure.group_name} group run on the event again, once; the other groups are "
            "not touched. Fix what made it fail first (a custom type's fields, a handler), or it fails again.",
            button="Retry now",
            perform=perform,
        )

    def _back(self, failure):
        return HttpResponseRedirect(object_url(self, failure))
