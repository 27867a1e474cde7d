"""Reads of CRM data, label-scoped."""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Aggregate, Count, F, FloatField, Min, Q, QuerySet
from django.db.models.functions import Trunc
from django.utils import timezone

from backoffice.errors import DomainValidationError, NotFound
from backoffice.models import Brand, Label
from backoffice.scoping import Actor
from crm.catalogue import LabelCatalogue
from crm.models import Event, EventType, Player


def _id_forms(value: str) -> list[str]:
    """The stored forms an external id sent as `value` may have: its NFC form (how ids are stored, see
    crm.validators.identifier), and itself for a row stored before ids were normalized."""
    return list(dict.fromkeys([unicodedata.normalize("NFC", value), value]))


def players_for_actor(*, actor: Actor) -> QuerySet[Player]:
    return Player.objects.for_actor(actor).select_related("brand", "label")


def brand_resolve(
    *, actor: Actor, ext_brand_id: str, label_key: str | None = None, field: str = "ext_brand_id"
) -> Brand:
    """The actor's brand with this `ext_brand_id`; `label_key` picks one when the actor's labels share the id."""
    brands = Brand.objects.for_actor(actor).select_related("label").filter(ext_brand_id=str(ext_brand_id))
    if label_key:
        brands = brands.filter(label__label_key=label_key)
    found = list(brands[:2])
    if not found:
        raise DomainValidationError({field: [f"Unknown brand {ext_brand_id!r}."]}, code="unknown_brand")
    if len(found) > 1:
        raise DomainValidationError(
            {"label_key": ["Required: this ext_brand_id exists in several of your labels."]},
            code="ambiguous_brand",
        )
    return found[0]


def player_get(*, actor: Actor, ext_brand_id: str, user_ext_id: str, label_key: str | None = None) -> Player:
    try:
        brand = brand_resolve(actor=actor, ext_brand_id=ext_brand_id, label_key=label_key)
    except DomainValidationError as exc:
        if exc.code == "unknown_brand":
            raise NotFound("No such player.") from exc
        raise
    found = list(players_for_actor(actor=actor).filter(brand=brand, user_ext_id__in=_id_forms(user_ext_id))[:2])
    if not found:
        raise NotFound("No such player.")
    return min(found, key=lambda player: player.user_ext_id != user_ext_id)  # the exact form wins a legacy tie


def control_group_player_ids(*, player_ids: Iterable[int]) -> set[int]:
    """Of `player_ids`, those in the gamification control group: they earn, progress and enter nothing.

    For the pipeline's handlers, whose player ids come from events already stamped with their label.
    """
    ids = list(set(player_ids))
    if not ids:
        return set()
    rows = Player.objects.filter(pk__in=ids, ach_gamification_in_control_group=True).values_list("pk", flat=True)
    return set(rows)


@dataclass(frozen=True, slots=True)
class GamificationPlayer:
    """What gamification needs to know of a player to score their events."""

    control_group: bool  # in the gamification control group: earns, progresses and enters nothing
    account_status: str  # only ACTIVE accounts take part, when the label's active_players_only is on
    wallet_currency: str  # the currency of their amounts (ISO 4217), or empty when unknown


def gamification_players(*, player_ids: Iterable[int]) -> dict[int, GamificationPlayer]:
    """Of `player_ids`, each player's control-group flag, account status and wallet currency, in one query (for the
    pipeline's handlers, whose player ids come from events already stamped with their label)."""
    ids = list(set(player_ids))
    if not ids:
        return {}
    rows = Player.objects.filter(pk__in=ids).values_list(
        "pk", "ach_gamification_in_control_group", "core_account_status", "core_wallet_currency"
    )
    return {pk: GamificationPlayer(control, status, currency) for pk, control, status, currency in rows}


def event_catalogue(*, label_id: int) -> LabelCatalogue:
    """The event types the label's events may have (core, system and its custom types), with their fields' kinds:
    what mission tasks and tournament scoring are checked against when saved."""
    active: dict[str, list[dict]] = {}
    inactive: set[str] = set()
    rows = EventType.objects.filter(label_id=label_id).values_list("name", "fields", "is_active")
    for name, fields, is_active in rows:
        if is_active:
            active[name] = fields if isinstance(fields, list) else []
        else:
            inactive.add(name)
    return LabelCatalogue(active=active, inactive=frozenset(inactive))


# --- ingestion statistics ------------------------------------------------------------------------------------------
# Every query below reads at most the last hour of events of the labels in view, through the (label, received_at)
# index, or the backlog through the partial index of unprocessed events: the cost follows the traffic of the window,
# never the size of the table.
INGESTION_MINUTES = 60
LAG_WINDOW = dt.timedelta(minutes=5)


class _P95Seconds(Aggregate):
    """The 95th percentile, in seconds, of an interval expression."""

    function = "percentile_cont"
    template = "%(function)s(0.95) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM %(expressions)s))"
    output_field = FloatField()


@dataclass(frozen=True)
class LabelIngestion:
    """One label's ingestion over the last hour, minute by minute, and its backlog now."""

    label: Label
    minutes: list[dt.datetime]  # the start of each minute, oldest first; the last one is the current minute
    received: list[int]  # events received per minute
    processed: list[int]  # of the events received in the window, those processed per minute (failures excluded)
    backlog: int  # events waiting for the handlers
    oldest_waiting_at: dt.datetime | None  # when the oldest waiting event was received
    lag_p95_seconds: float | None  # received -> processed, events received in the last LAG_WINDOW
    failed: int  # events received in the window that a handler set aside
    sources: dict[str, tuple[int, int]]  # source -> (events, failed), received in the window


def ingestion_stats(actor: Actor, *, now: dt.datetime | None = None) -> list[LabelIngestion]:
    """Ingestion of each label in the actor's view, by label name: six grouped queries whatever the number of labels."""
    now = now or timezone.now()
    current = now.replace(second=0, microsecond=0)
    minutes = [current - dt.timedelta(minutes=INGESTION_MINUTES - 1 - i) for i in range(INGESTION_MINUTES)]
    since = minutes[0]
    labels = list(Label.objects.for_actor(actor).order_by("name"))
    ids = [label.pk for label in labels]
    if not ids:
        return []
    window = Event.objects.filter(label_id__in=ids, received_at__gte=since)
    received = _per_minute(window, "received_at")
    processed = _per_minute(window.filter(processed_at__gte=since, processing_error=""), "processed_at")
    sources = _by_source(window)
    backlog = {
        row["label_id"]: (row["n"], row["oldest"])
        for row in Event.objects.filter(label_id__in=ids, processed_at__isnull=True)
        .values("label_id")
        .annotate(n=Count("id"), oldest=Min("received_at"))
        .order_by()
    }
    lag = dict(
        Event.objects.filter(label_id__in=ids, received_at__gte=now - LAG_WINDOW, processed_at__isnull=False)
        .filter(processing_error="")
        .values("label_id")
        .annotate(p95=_P95Seconds(F("processed_at") - F("received_at")))
        .order_by()
        .values_list("label_id", "p95")
    )
    return [
        LabelIngestion(
            label=label,
            minutes=minutes,
            received=[received.get((label.pk, m), 0) for m in minutes],
            processed=[processed.get((label.pk, m), 0) for m in minutes],
            backlog=backlog.get(label.pk, (0, None))[0],
            oldest_waiting_at=backlog.get(label.pk, (0, None))[1],
            lag_p95_seconds=lag.get(label.pk),
            failed=sum(failed for _, failed in sources.get(label.pk, {}).values()),
            sources=sources.get(label.pk, {}),
        )
        for label in labels
    ]


def _per_minute(events, column: str) -> dict[tuple[int, dt.datetime], int]:
    rows = (
        events.annotate(minute=Trunc(column, "minute", tzinfo=dt.UTC))
        .values("label_id", "minute")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {(row["label_id"], row["minute"]): row["n"] for row in rows}


def _by_source(events) -> dict[int, dict[str, tuple[int, int]]]:
    rows = (
        events.values("label_id", "source")
        .annotate(n=Count("id"), failed=Count("id", filter=~Q(processing_error="")))
        .order_by("label_id", "-n", "source")
    )
    sources: dict[int, dict[str, tuple[int, int]]] = {}
    for row in rows:
        sources.setdefault(row["label_id"], {})[row["source"]] = (row["n"], row["failed"])
    return sources
