"""The event explorer: stored events, read-only, over a table of hundreds of millions of rows.

Nothing here counts the table or sorts more than a page: the list never counts (the paginator only knows whether there
is a next page), and its order follows the filters so that an index always hands the rows over in order: newest
received first within one label, newest occurred first for one type or one player. Failed events can be retried by
those who run the label's data sources.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.utils import flatten_fieldsets
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from unfold.decorators import action, display
from unfold.paginator import InfinitePaginator

from backoffice.admin.base import LabelScopedAdmin, may_act_on
from backoffice.admin.filters import ScopedRelatedFilter
from backoffice.admin.helpers import badge, confirmed_action, object_url
from backoffice.models import Brand, Perm
from crm.admin.events.filters import (
    AwareDateTimeRangeFilter,
    PlayerFilter,
    SourceFilter,
    StatusFilter,
    TypeFilter,
    label_event_types,
)
from crm.admin.events.formatting import (
    event_summary,
    group_state,
    moment,
    nowrap,
    payload_value,
    status_badge,
    type_badge,
)
from crm.admin.events.history import retries_log
from crm.admin.ingestion import ingestion_view
from crm.models import Event, PipelineFailure, Player
from crm.selectors import GroupStatus, event_group_status
from crm.services.events import events_retry

RETRY_PERM = Perm.DATA_SOURCES
RETRY_LIMIT = 500  # events per retry: a page is 50; "select all" on a filtered list must not requeue millions


@admin.register(Event)
class EventAdmin(LabelScopedAdmin):
    # Events are facts: nobody adds, changes or deletes them here (add, change and delete permissions stay None).
    list_display = (
        "received",
        "occurred",
        "type_label",
        "event_link",
        "player_link",
        "summary",
        "source_name",
        "status",
    )
    list_display_links = None  # the event id is the link
    list_filter_submit = True
    list_per_page = 50
    search_fields = ("event_id",)  # shows the search box; get_search_results does the searching
    search_help_text = "Exact user_ext_id of a player, or exact event id"
    paginator = InfinitePaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    sortable_by = ()  # the order follows the filters (see get_ordering): sorting by a column would sort the table
    list_disable_select_all = True
    actions = ["retry_selected"]
    actions_detail = ["retry"]
    fieldsets = (
        ("Event", {"fields": (("event_id", "type_label"), ("player_link", "label"), ("source", "status"))}),
        ("Times", {"fields": (("occurred_time", "received_time"),)}),
        ("Pipeline", {"fields": ("pipeline_table",)}),
        ("Payload", {"fields": ("payload_table",)}),
        ("Integrity", {"fields": ("digest",)}),
    )

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("player__brand", "label")

    def get_changelist(self, request, **kwargs):
        base = super().get_changelist(request, **kwargs)

        class EventChangeList(base):
            def get_results(self, request):
                super().get_results(request)
                statuses = event_group_status(event_ids=[event.pk for event in self.result_list])
                for event in self.result_list:
                    event.pipeline_status = statuses.get(event.pk, [])

        return EventChangeList

    def get_readonly_fields(self, request, obj=None):
        return flatten_fieldsets(self.get_fieldsets(request, obj))

    def get_list_filter(self, request):
        filters = [
            TypeFilter,
            ("source", SourceFilter),
            StatusFilter,
            ("occurred_at", AwareDateTimeRangeFilter),
            ("received_at", AwareDateTimeRangeFilter),
            PlayerFilter,
        ]
        if len(self.actor(request).label_ids) > 1:
            filters.insert(0, ("label", ScopedRelatedFilter))
        return filters

    def get_list_display(self, request):
        if len(self.actor(request).label_ids) > 1:
            return (*self.list_display, "label_name")
        return self.list_display

    def get_ordering(self, request):
        """An order an index serves, for the filters in use; PostgreSQL never sorts more than the page.

        One player, or a search (a player or one event id): the player's timeline index. Several labels at once: the
        primary key, newest first (ids follow arrival), because no (label, ...) index orders rows across labels.
        One label: its received index, or with a type its (label, type, occurred) index.
        """
        params = request.GET
        if params.get("player_id") or params.get("q", "").strip():
            return ("-occurred_at",)
        if len(self.actor(request).label_ids) > 1 and not params.get("label__id__exact"):
            return ("-id",)
        if params.get("type"):
            return ("-occurred_at",)
        return ("-received_at",)

    def get_search_results(self, request, queryset, search_term):
        """A player's events by their exact user_ext_id, else the event with that exact id.

        Players are found through the (brand, user_ext_id) index; event ids through the (label, type, event_id)
        index, probed once per type known in view, so neither search scans events.
        """
        term = search_term.strip()
        if not term:
            return queryset, False
        actor = self.actor(request)
        brands = Brand.objects.for_actor(actor).values("pk")
        players = list(
            Player.objects.for_actor(actor).filter(brand__in=brands, user_ext_id=term).values_list("pk", flat=True)
        )
        if players:
            return queryset.filter(player_id__in=players), False
        return queryset.filter(event_id=term, type__in=label_event_types(request, actor)), False

    # --- columns -------------------------------------------------------------------------------------------------
    @display(description="Received")
    def received(self, obj) -> str:
        return nowrap(moment(obj.received_at))

    @display(description="Occurred")
    def occurred(self, obj) -> str:
        return nowrap(moment(obj.occurred_at))

    @display(description="Occurred")
    def occurred_time(self, obj) -> str:
        return moment(obj.occurred_at, precise=True)

    @display(description="Received")
    def received_time(self, obj) -> str:
        return moment(obj.received_at, precise=True)

    @display(description="Type")
    def type_label(self, obj) -> str:
        return type_badge(obj.type)

    @display(description="Event id")
    def event_link(self, obj) -> str:
        return format_html(
            '<a class="text-primary-600 dark:text-primary-500 whitespace-nowrap" href="{}">{}</a>',
            reverse("admin:crm_event_change", args=[obj.pk]),
            obj.event_id,
        )

    @display(description="Player")
    def player_link(self, obj) -> str:
        player = obj.player
        return format_html(
            '<a class="text-primary-600 dark:text-primary-500" href="{}" title="{}">{}</a>',
            reverse("admin:crm_player_change", args=[player.pk]),
            player.brand.name,
            player.user_ext_id,
        )

    @display(description="Details")
    def summary(self, obj) -> str:
        return event_summary(obj, obj.player.core_wallet_currency) or "-"

    @display(description="Source")
    def source_name(self, obj) -> str:
        return nowrap(obj.get_source_display())

    @display(description="Status")
    def status(self, obj) -> str:
        return status_badge(self._statuses(obj))

    @staticmethod
    def _statuses(obj) -> list[GroupStatus]:
        """The event's status in each consumer group: set for the list's page by its change list, read once here."""
        if not hasattr(obj, "pipeline_status"):
            obj.pipeline_status = event_group_status(event_ids=[obj.pk]).get(obj.pk, [])
        return obj.pipeline_status

    @display(description="Label")
    def label_name(self, obj) -> str:
        return obj.label.name

    @display(description="By consumer group")
    def pipeline_table(self, obj) -> str:
        rows = []
        for status in self._statuses(obj):
            text, variant = group_state(status)
            if status.state == "failed":
                retry = "parked: retried by staff only" if status.parked else moment(status.retry_after)
                detail = format_html(
                    "{} · {} attempt(s) · last {} · next retry {}"
                    '<pre style="white-space: pre-wrap; font-family: ui-monospace, monospace; margin: 0">{}</pre>',
                    status.handler,
                    status.attempts,
                    moment(status.failed_at),
                    retry,
                    status.error,
                )
            elif status.resolved_at:
                detail = f"Applied by a retry on {moment(status.resolved_at)}, after {status.attempts} failure(s)"
            elif status.state == "pending":
                detail = f"Waiting since {moment(obj.received_at)}"
            else:
                detail = ""
            rows.append((status.group, badge(text, variant), detail))
        if not rows:
            return "No consumer group has a position yet."
        body = format_html_join("", '<tr><th scope="row">{}</th><td>{}</td><td>{}</td></tr>', rows)
        return format_html(
            '<table class="pitboss-kv"><thead><tr><th>Group</th><th>Status</th><th>Details</th></tr></thead>'
            "<tbody>{}</tbody></table>",
            body,
        )

    @display(description="Payload")
    def payload_table(self, obj) -> str:
        payload = obj.payload or {}
        if not payload:
            return "No payload."
        currency = obj.player.core_wallet_currency
        rows = format_html_join(
            "",
            '<tr><th scope="row">{}</th><td>{}</td></tr>',
            ((name, payload_value(name, payload[name], currency)) for name in sorted(payload)),
        )
        return format_html(
            '<table class="pitboss-kv"><thead><tr><th>Field</th><th>Value</th></tr></thead><tbody>{}</tbody></table>',
            rows,
        )

    # --- retry ---------------------------------------------------------------------------------------------------
    def get_object(self, request, object_id, from_field=None):
        """Read once per request: the page, its Retry button and the action all ask for the event."""
        cache = request.__dict__.setdefault("_pitboss_events", {})
        key = (str(object_id), from_field)
        if key not in cache:
            cache[key] = super().get_object(request, object_id, from_field)
        return cache[key]

    def has_retry_permission(self, request, object_id=None) -> bool:
        return may_act_on(self, request, RETRY_PERM, object_id)  # another label's event: 404

    def _failed_in(self, event) -> list[str]:
        return [s.group for s in self._statuses(event) if s.state == "failed"]

    def get_actions_detail(self, request, object_id):
        event = self.get_object(request, object_id) if object_id else None
        if event is None or not self._failed_in(event):
            return []  # only an event a group failed on can be retried
        return super().get_actions_detail(request, object_id)

    @admin.action(description="Retry selected failed events", permissions=["retry"])
    def retry_selected(self, request, queryset) -> None:
        allowed = queryset.for_actor(self.actor(request), RETRY_PERM).filter(
            pk__in=PipelineFailure.objects.filter(resolved_at__isnull=True).values("event_id")
        )
        ids = list(allowed.order_by().values_list("pk", flat=True)[:RETRY_LIMIT])
        scheduled = events_retry(event_ids=ids)
        retries_log(request, scheduled)
        if scheduled:
            messages.success(
                request, f"Scheduled a retry of {len(scheduled)} failed event(s); the pipeline applies them in seconds."
            )
        else:
            messages.warning(request, "None of the selected events has failed; nothing was retried.")

    @action(description="Retry", url_path="retry", permissions=["retry"], icon="replay")
    def retry(self, request, object_id):
        event = self.get_object(request, object_id)
        groups = self._failed_in(event)
        if not groups:
            messages.info(request, "No consumer group has failed on this event; there is nothing to retry.")
            return HttpResponseRedirect(object_url(self, event))

        def perform() -> None:
            scheduled = events_retry(event_ids=[event.pk])
            retries_log(request, scheduled)
            if scheduled:
                messages.success(
                    request, f"{event}: a retry in {', '.join(groups)} is scheduled; it is applied in a moment."
                )
            else:
                messages.info(request, "This event was already applied by a retry.")

        return confirmed_action(
            self,
            request,
            event,
            title=f"Retry {event}",
            text=f"The handlers of {', '.join(groups)} run on the event again, once; the other groups are not "
            "touched. Fix what made it fail first (a custom type's fields, a handler), or it fails again.",
            button="Retry event",
            perform=perform,
        )

    # --- the ingestion dashboard ---------------------------------------------------------------------------------
    def get_urls(self):
        dashboard = path(
            "ingestion/",
            self.admin_site.admin_view(lambda request: ingestion_view(self, request)),
            name="crm_event_ingestion",
        )
        return [dashboard, *super().get_urls()]
