"""The explorer's filters: each one narrows through an index, or through the label's own rows."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils import timezone
from unfold.contrib.filters.admin import ChoicesDropdownFilter, DropdownFilter, RangeDateTimeFilter
from unfold.utils import parse_datetime_str

from crm.catalogue import CORE_TYPE_NAMES
from crm.models import EventType, PipelineFailure, Player
from crm.selectors import events_applied_condition, events_pending_ids, pipeline_groups


def label_event_types(request: HttpRequest, actor) -> list[str]:
    """Every type an event in view can have: the core types and the custom types of the labels in view.

    Custom types are never renamed or deleted (events refer to them by name), so this list covers every stored event.
    Read once per request: the type filter and the event-id search both need it.
    """
    cached = getattr(request, "_pitboss_event_types", None)
    if cached is None:
        custom = EventType.objects.for_actor(actor).values_list("name", flat=True).distinct().order_by("name")
        cached = [*sorted(CORE_TYPE_NAMES), *(name for name in custom if name not in CORE_TYPE_NAMES)]
        request._pitboss_event_types = cached
    return cached


class TypeFilter(DropdownFilter):
    title = "type"
    parameter_name = "type"

    def lookups(self, request, model_admin):
        return [(name, name) for name in label_event_types(request, model_admin.actor(request))]

    def queryset(self, request, queryset):
        return queryset.filter(type=self.value()) if self.value() else queryset


class StatusFilter(DropdownFilter):
    """Where events are in the pipeline: applied by every consumer group, pending or failed in any (or one) group.

    Pending events are found through the log index and failed ones through their own small table, so neither scans
    the label's events; "applied" checks each row of the page against the groups' positions.
    """

    title = "status"
    parameter_name = "status"

    def __init__(self, request, params, model, model_admin):
        self.label_ids = model_admin.actor(request).label_ids
        super().__init__(request, params, model, model_admin)

    def lookups(self, request, model_admin):
        choices = [("applied", "Applied"), ("pending", "Pending"), ("failed", "Failed")]
        for group in pipeline_groups():
            choices += [(f"pending:{group}", f"Pending in {group}"), (f"failed:{group}", f"Failed in {group}")]
        return choices

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        state, _, group = value.partition(":")
        if group and group not in pipeline_groups():
            return queryset.none()
        failures = PipelineFailure.objects.filter(resolved_at__isnull=True)
        if group:
            failures = failures.filter(group_name=group)
        if state == "failed":
            return queryset.filter(pk__in=failures.values("event_id"))
        if state == "pending":
            return queryset.filter(pk__in=events_pending_ids(label_ids=self.label_ids, group=group or None))
        if state == "applied":
            applied = events_applied_condition(group=group or None)
            return queryset.filter(applied).exclude(pk__in=failures.values("event_id"))
        return queryset.none()


class SourceFilter(ChoicesDropdownFilter):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.title = "source"


class PlayerFilter(DropdownFilter):
    """One player's events (the link from the player page). Shown only while it is in use: a dropdown of a million
    players would be useless, and the search box finds players by their id."""

    title = "player"
    parameter_name = "player_id"

    def lookups(self, request, model_admin):
        value = self.value()
        if not value or not value.isdigit():
            return []
        players = Player.objects.for_actor(model_admin.actor(request)).filter(pk=value).select_related("brand")
        return [(str(p.pk), f"{p.user_ext_id} · {p.brand.name}") for p in players]

    def has_output(self) -> bool:
        return bool(self.value())

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        return queryset.filter(player_id=int(value)) if value.isdigit() else queryset.none()


class AwareDateTimeRangeFilter(RangeDateTimeFilter):
    """unfold's date-time range, read in the admin's time zone; a date without a time means the whole day."""

    def __init__(self, field, request, params, model, model_admin, field_path):
        super().__init__(field, request, params, model, model_admin, field_path)
        self.title = f"{field_path.removesuffix('_at')} ({timezone.get_current_timezone_name()})"

    def queryset(self, request, queryset):
        bounds = {}
        for end, lookup, default_time in (("from", "gte", "00:00"), ("to", "lte", "23:59:59")):
            day = self.used_parameters.get(f"{self.parameter_name}_{end}_0")
            if not day:
                continue
            time = self.used_parameters.get(f"{self.parameter_name}_{end}_1") or default_time
            when = parse_datetime_str(f"{day} {time}")
            if when is None:
                return queryset.none()
            bounds[f"{self.parameter_name}__{lookup}"] = timezone.make_aware(when)
        return queryset.filter(**bounds)
