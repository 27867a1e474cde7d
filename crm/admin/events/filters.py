"""The explorer's filters: each one narrows through an index, or through the label's own rows."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils import timezone
from unfold.contrib.filters.admin import ChoicesDropdownFilter, DropdownFilter, RangeDateTimeFilter
from unfold.utils import parse_datetime_str

from crm.catalogue import CORE_TYPE_NAMES
from crm.models import EventType, Player


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
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("processed", "Processed"), ("pending", "Pending"), ("failed", "Failed")]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "processed":
            return queryset.filter(processed_at__isnull=False, processing_error="")
        if value == "pending":
            return queryset.filter(processed_at__isnull=True)  # the partial index of unprocessed events
        if value == "failed":
            return queryset.exclude(processing_error="")
        return queryset


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
