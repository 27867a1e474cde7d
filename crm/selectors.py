"""Reads of CRM data, label-scoped."""

from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection
from django.db.models import BooleanField, Count, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.db.models.functions import Trunc
from django.utils import timezone

from backoffice.db import array_literal
from backoffice.errors import DomainValidationError, NotFound
from backoffice.models import Brand, Label
from backoffice.scoping import Actor
from crm.catalogue import LabelCatalogue
from crm.models import PARTITIONS, Event, EventType, PipelineFailure, PipelineStat, Player
from crm.pipeline import LATENCY_BOUNDS_MS, groups


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


@dataclass(frozen=True, slots=True)
class GamificationPlayer:
    """What gamification needs to know of a player to score their events."""

    control_group: bool  # in the gamification control group: earns, progresses and enters nothing
    account_status: str  # only ACTIVE accounts take part, when the label's active_players_only is on
    wallet_currency: str  # the currency of their amounts (ISO 4217), or empty when unknown


def gamification_players(*, player_ids: Iterable[int]) -> dict[int, GamificationPlayer]:
    """Of `player_ids`, each player's control-group flag, account status and wallet currency, in one query (for the
    pipeline's handlers, whose player ids come from events already stamped with their label)."""
    ids = set(player_ids)
    if not ids:
        return {}
    with connection.cursor() as cursor:  # an array, not the ORM's IN list: a page's thousand ids cost ~6x less
        cursor.execute(
            "SELECT id, ach_gamification_in_control_group, core_account_status, core_wallet_currency"
            " FROM crm_player WHERE id = ANY(%s::bigint[])",
            [array_literal(ids)],
        )
        rows = cursor.fetchall()
    return {pk: GamificationPlayer(control, status, currency) for pk, control, status, currency in rows}


def events_by_source_id(
    *, label_ids: Iterable[int], type: str, event_ids: Iterable[str]
) -> dict[tuple[int, str], tuple[dt.datetime, dict]]:
    """(label id, source event id) -> the event's time and payload, for the events of one type with these source ids
    (one index read on the dedupe key; for handlers that need an earlier event they know by its key, e.g. the
    `balance_changed` fact of a credit a reversal takes back)."""
    wanted = set(event_ids)
    if not wanted:
        return {}
    rows = Event.objects.filter(label_id__in=set(label_ids), type=type, event_id__in=wanted).values_list(
        "label_id", "event_id", "occurred_at", "payload"
    )
    return {(label_id, event_id): (at, payload) for label_id, event_id, at, payload in rows}


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


# --- the pipeline as its consumer groups see it -------------------------------------------------------------------
# An event of partition p is applied by group g when its transaction is visible in the snapshot of the cursor's last
# tick, or, while the cursor is inside a window (next_tick set), when it is in that window and not after the cursor's
# keyset; else it is pending. Read through the log index `crm_event_log ((player_id % 16)::int2, txid, id)`, a
# cursor's pending events are exactly two index ranges: the transactions still running at its newest snapshot
# (`xip`), and what comes after its keyset (or after its snapshot's `xmax`) that its last tick does not see.
PENDING_CAP = 100_000  # the dashboard counts pending events up to this many per group, then says "100,000+"
_CAP_PER_PART = PENDING_CAP // PARTITIONS

_CURSORS = """
SELECT c.group_name, c.part, l.created_at AS last_at, l.snap AS lsnap,
       CASE WHEN c.next_tick IS NULL THEN pg_snapshot_xmax(l.snap) ELSE c.after_txid END AS lo,
       CASE WHEN c.next_tick IS NULL THEN -1 ELSE c.after_id END AS lo_id,
       ARRAY(SELECT pg_snapshot_xip(coalesce(n.snap, l.snap))) AS xip
  FROM pipeline_cursor c JOIN pipeline_tick l ON l.id = c.last_tick LEFT JOIN pipeline_tick n ON n.id = c.next_tick
 WHERE c.group_name = ANY(%(groups)s)
"""
# The pending events of cursor `c` (columns {cols}), `{where}` narrowing them, at most `{limit}`.
_PENDING = """
(SELECT r.* FROM unnest(c.xip) AS x(txid) CROSS JOIN LATERAL (
    SELECT {cols} FROM crm_event e
     WHERE ((e.player_id %% 16)::int2) = c.part AND e.txid IS NOT NULL AND e.txid = x.txid {where}
     {order} LIMIT {limit}) r
  LIMIT {limit})
UNION ALL
(SELECT {cols} FROM crm_event e
  WHERE ((e.player_id %% 16)::int2) = c.part AND e.txid IS NOT NULL AND (e.txid, e.id) > (c.lo, c.lo_id)
    AND e.txid <> ALL(c.xip) AND NOT pg_visible_in_snapshot(e.txid, c.lsnap) {where}
  {order} LIMIT {limit})
"""
# Per event: applied by the group (the rule above), per row; for a page of events or a filter.
_APPLIED = """(e.txid IS NULL OR pg_visible_in_snapshot(e.txid, l.snap)
  OR coalesce(pg_visible_in_snapshot(e.txid, n.snap) AND (e.txid, e.id) <= (c.after_txid, c.after_id), false))"""
_STATUS = f"""
SELECT e.id, c.group_name, {_APPLIED}, f.handler, f.error, f.attempts, f.failed_at, f.retry_after, f.resolved_at
  FROM crm_event e
  JOIN pipeline_cursor c ON c.part = ((e.player_id %% 16)::int2) AND c.group_name = ANY(%s)
  JOIN pipeline_tick l ON l.id = c.last_tick
  LEFT JOIN pipeline_tick n ON n.id = c.next_tick
  LEFT JOIN pipeline_failure f ON f.event_id = e.id AND f.group_name = c.group_name
 WHERE e.id = ANY(%s)
"""  # noqa: S608 - module constants only
_PENDING_IDS = "SELECT p.id FROM ({cursors}) c CROSS JOIN LATERAL ({pending}) p"
_APPLIED_ROW = f"""NOT EXISTS (
SELECT 1 FROM crm_event e JOIN pipeline_cursor c ON c.part = ((e.player_id %% 16)::int2)
  JOIN pipeline_tick l ON l.id = c.last_tick LEFT JOIN pipeline_tick n ON n.id = c.next_tick
 WHERE e.id = "crm_event"."id" AND c.group_name = ANY(%s) AND NOT {_APPLIED})"""  # noqa: S608 - module constants only
_LAG = """
WITH c AS MATERIALIZED ({cursors}),
per_part AS (
    SELECT c.group_name, c.part, p.label_id, count(*) AS n, min(p.received_at) AS oldest,
           sum(count(*)) OVER (PARTITION BY c.group_name, c.part) > {cap} AS capped
      FROM c CROSS JOIN LATERAL ({pending}) p
     GROUP BY 1, 2, 3)
SELECT c.group_name, min(c.last_at), NULL::bigint, NULL::bigint, false, NULL::timestamptz FROM c GROUP BY 1
UNION ALL
SELECT group_name, NULL, label_id, sum(n), bool_or(capped), min(oldest) FROM per_part GROUP BY 1, 3
"""
_HEALTH = """
WITH c AS MATERIALIZED ({cursors})
SELECT c.group_name, min(p.received_at), (SELECT max(created_at) FROM pipeline_tick)
  FROM c LEFT JOIN LATERAL ({pending}) p ON true
 GROUP BY 1
"""


def pipeline_groups() -> list[str]:
    """The consumer groups the workers run (those with handlers), in their fixed order."""
    return groups()


@dataclass(frozen=True, slots=True)
class GroupStatus:
    """Where one event is in one consumer group."""

    group: str
    state: str  # "applied", "pending" or "failed" (an open failure; parked when `retry_after` is None)
    handler: str = ""
    error: str = ""
    attempts: int = 0
    failed_at: dt.datetime | None = None
    retry_after: dt.datetime | None = None
    resolved_at: dt.datetime | None = None  # applied by a retry, after `attempts` failures

    @property
    def parked(self) -> bool:
        return self.state == "failed" and self.retry_after is None


def event_group_status(*, event_ids: Iterable[int]) -> dict[int, list[GroupStatus]]:
    """Each event's status in each consumer group (in group order), with its failure if it has one: one query for a
    page of events. Events of a group that has no position yet have no entry for it."""
    ids = sorted(set(event_ids))
    names = pipeline_groups()
    if not ids or not names:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            _STATUS,
            [names, ids],
        )
        rows = cursor.fetchall()
    found: dict[int, dict[str, GroupStatus]] = {}
    for event_id, group, applied, handler, error, attempts, failed_at, retry_after, resolved_at in rows:
        failing = handler is not None and resolved_at is None
        state = "failed" if failing else "applied" if applied else "pending"
        found.setdefault(event_id, {})[group] = GroupStatus(
            group, state, handler or "", error or "", attempts or 0, failed_at, retry_after, resolved_at
        )
    return {event_id: [by[g] for g in names if g in by] for event_id, by in found.items()}


def events_pending_ids(*, label_ids: Iterable[int], group: str | None = None) -> RawSQL:
    """The ids of the labels' events a group (or any group) has not applied yet, found through the log index, for
    `pk__in=`: at most PENDING_CAP per group, the first in log order."""
    names = [group] if group else pipeline_groups()
    pending = _PENDING.format(cols="e.id", where="AND e.label_id = ANY(%(labels)s)", order="", limit=_CAP_PER_PART)
    sql, params = _named_to_positional(
        _PENDING_IDS.format(cursors=_CURSORS, pending=pending), {"groups": names, "labels": list(label_ids)}
    )
    return RawSQL(sql, params)  # noqa: S611 - module constants; values are parameters


def events_applied_condition(*, group: str | None = None) -> RawSQL:
    """A filter on events (`Event.objects.filter(...)`): applied by the group (by every group), failures aside.
    Checked per row, for a list that reads a page of a label's events newest first."""
    names = [group] if group else pipeline_groups()
    return RawSQL(_APPLIED_ROW, [names], output_field=BooleanField())  # noqa: S611 - a module constant


def _named_to_positional(sql: str, params: dict) -> tuple[str, list]:
    """Django's RawSQL takes positional params; the pipeline's SQL reads better with names."""
    order: list = []

    def take(match) -> str:
        order.append(params[match.group(1)])
        return "%s"

    return re.sub(r"%\((\w+)\)s", take, sql), order


@dataclass(frozen=True)
class GroupLag:
    """One consumer group's progress over one label's events."""

    group: str
    position_at: dt.datetime | None  # the group has applied everything committed by then (its slowest partition)
    pending: int  # events of the label the group has not applied yet (at most PENDING_CAP)
    pending_capped: bool  # more than `pending`: the count stopped at the cap
    oldest_pending_at: dt.datetime | None  # when the oldest of them was received
    applied: list[int]  # applied per minute over the window (the label's), oldest first
    failed: list[int]  # failed per minute
    latency_ms: list[int]  # acceptance-to-applied histogram over LATENCY_WINDOW (crm.pipeline.LATENCY_BOUNDS_MS)
    failures_open: int  # failures retried automatically
    failures_parked: int  # failures waiting for staff

    def lag_seconds(self, now: dt.datetime) -> float:
        return max(0.0, (now - self.oldest_pending_at).total_seconds()) if self.oldest_pending_at else 0.0

    def applied_per_minute(self, minutes: int) -> float:
        """Average over the last complete `minutes` (the current one is still filling)."""
        window = self.applied[-1 - minutes : -1]
        return sum(window) / minutes if window else 0.0

    def p95_ms(self) -> float | None:
        """95% were applied within this many ms: the bound of the histogram's bucket that holds the 95th percentile
        (None: nothing applied; infinity: past the last bound)."""
        total = sum(self.latency_ms)
        if not total:
            return None
        seen = 0
        for index, count in enumerate(self.latency_ms):
            seen += count
            if seen >= 0.95 * total:
                return LATENCY_BOUNDS_MS[index] if index < len(LATENCY_BOUNDS_MS) else math.inf
        return math.inf


@dataclass(frozen=True)
class LabelIngestion:
    """One label's ingestion over the last hour, minute by minute, and each consumer group's progress on it."""

    label: Label
    minutes: list[dt.datetime]  # the start of each minute, oldest first; the last one is the current minute
    received: list[int]  # events received per minute
    groups: list[GroupLag]
    sources: dict[str, int]  # source -> events received in the window

    @property
    def failures_open(self) -> int:
        return sum(g.failures_open + g.failures_parked for g in self.groups)


INGESTION_MINUTES = 60
LATENCY_WINDOW = 15  # minutes of the p95


def ingestion_stats(*, actor: Actor, now: dt.datetime | None = None) -> list[LabelIngestion]:
    """Ingestion of each label in the actor's view, by label name: six queries whatever the number of labels and
    groups (labels, received per minute, sources, each group's position and pending events, its per-minute stats,
    its open failures). The events read are the last hour's through the (label, received_at) index and the pending
    ones through the log index, at most PENDING_CAP per group: the cost follows the traffic, never the table."""
    now = now or timezone.now()
    current = now.replace(second=0, microsecond=0)
    minutes = [current - dt.timedelta(minutes=INGESTION_MINUTES - 1 - i) for i in range(INGESTION_MINUTES)]
    since = minutes[0]
    labels = list(Label.objects.for_actor(actor).order_by("name"))
    ids = [label.pk for label in labels]
    if not ids:
        return []
    names = pipeline_groups()
    window = Event.objects.filter(label_id__in=ids, received_at__gte=since)
    received = _per_minute(window, "received_at")
    sources = _by_source(window)
    positions, pending = _pending_by_label(names, ids)
    stats = _stats(names, ids, since, current)
    failures = _failures(names, ids)
    index = {minute: i for i, minute in enumerate(minutes)}
    result = []
    for label in labels:
        lags = []
        for name in names:
            applied, failed = [0] * len(minutes), [0] * len(minutes)
            latency: list[int] = []
            for minute, n_applied, n_failed, buckets in stats.get((name, label.pk), []):
                applied[index[minute]] += n_applied
                failed[index[minute]] += n_failed
                if minute >= current - dt.timedelta(minutes=LATENCY_WINDOW):
                    latency = [a + b for a, b in zip(latency, buckets, strict=True)] if latency else list(buckets)
            count, capped, oldest = pending.get((name, label.pk), (0, False, None))
            open_, parked = failures.get((name, label.pk), (0, 0))
            lags.append(
                GroupLag(name, positions.get(name), count, capped, oldest, applied, failed, latency, open_, parked)
            )
        result.append(
            LabelIngestion(
                label=label,
                minutes=minutes,
                received=[received.get((label.pk, m), 0) for m in minutes],
                groups=lags,
                sources=sources.get(label.pk, {}),
            )
        )
    return result


def _pending_by_label(
    names: list[str], label_ids: list[int]
) -> tuple[dict[str, dt.datetime], dict[tuple[str, int], tuple[int, bool, dt.datetime | None]]]:
    """Per group its position (its slowest partition's last tick); per (group, label) the pending events (count, hit
    the cap, oldest received_at)."""
    if not names:
        return {}, {}
    pending = _PENDING.format(
        cols="e.label_id, e.received_at", where="AND e.label_id = ANY(%(labels)s)", order="", limit=_CAP_PER_PART + 1
    )
    sql = _LAG.format(cursors=_CURSORS, cap=_CAP_PER_PART, pending=pending)
    positions: dict[str, dt.datetime] = {}
    counts: dict[tuple[str, int], tuple[int, bool, dt.datetime | None]] = {}
    with connection.cursor() as cursor:
        _execute_without_jit(cursor, sql, {"groups": names, "labels": label_ids})
        for group, position, label_id, n, capped, oldest in cursor.fetchall():
            if label_id is None:
                positions[group] = position
            else:
                counts[(group, label_id)] = (min(int(n), PENDING_CAP), capped or int(n) > PENDING_CAP, oldest)
    return positions, counts


def _execute_without_jit(cursor, sql: str, params: dict) -> None:
    """Run a query of the log without PostgreSQL's JIT compiler, in one round trip.

    The per-partition LIMITs make the planner's estimates large (a cap of 100,000 rows), past `jit_above_cost`, while
    the query reads a few index ranges: compiling it costs 100 times the query. `SET LOCAL` lasts for the statement's
    implicit transaction (or the caller's transaction); Django's client-side binding sends both in one message.
    """
    cursor.execute("SET LOCAL jit = off; " + sql, params)
    cursor.nextset()


def _stats(names, label_ids, since, current) -> dict[tuple[str, int], list]:
    rows = PipelineStat.objects.filter(
        group_name__in=names, label_id__in=label_ids, minute__gte=since, minute__lte=current
    ).values_list("group_name", "label_id", "minute", "applied", "failed", "latency_ms")
    found: dict[tuple[str, int], list] = {}
    for group, label_id, minute, applied, failed, latency in rows.order_by():
        found.setdefault((group, label_id), []).append((minute.astimezone(dt.UTC), applied, failed, latency))
    return found


def _failures(names, label_ids) -> dict[tuple[str, int], tuple[int, int]]:
    """Per (group, label): open failures still retried automatically, and parked ones (through the open index)."""
    rows = (
        PipelineFailure.objects.filter(label_id__in=label_ids, group_name__in=names, resolved_at__isnull=True)
        .values("group_name", "label_id")
        .annotate(open=Count("id", filter=Q(retry_after__isnull=False)), parked=Count("id", filter=Q(retry_after=None)))
        .order_by()
    )
    return {(r["group_name"], r["label_id"]): (r["open"], r["parked"]) for r in rows}


def _per_minute(events, column: str) -> dict[tuple[int, dt.datetime], int]:
    rows = (
        events.annotate(minute=Trunc(column, "minute", tzinfo=dt.UTC))
        .values("label_id", "minute")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {(row["label_id"], row["minute"]): row["n"] for row in rows}


def _by_source(events) -> dict[int, dict[str, int]]:
    rows = events.values("label_id", "source").annotate(n=Count("id")).order_by("label_id", "-n", "source")
    sources: dict[int, dict[str, int]] = {}
    for row in rows:
        sources.setdefault(row["label_id"], {})[row["source"]] = row["n"]
    return sources


@dataclass(frozen=True)
class GroupHealth:
    group: str
    oldest_pending_at: dt.datetime | None  # when the oldest event the group has not applied was received


def pipeline_health() -> tuple[list[GroupHealth], dt.datetime | None]:
    """Each group's oldest pending event (every label) and the newest tick's time, in one cheap query for /healthz:
    per partition two index probes (the first pending event of each of its two ranges, in log order)."""
    names = pipeline_groups()
    if not names:
        return [], None
    pending = _PENDING.format(cols="e.received_at", where="", order="ORDER BY e.txid, e.id", limit=1)
    sql = _HEALTH.format(cursors=_CURSORS, pending=pending)
    with connection.cursor() as cursor:
        _execute_without_jit(cursor, sql, {"groups": names})
        rows = {group: (oldest, newest) for group, oldest, newest in cursor.fetchall()}
    newest_tick = max((newest for _, newest in rows.values() if newest), default=None)
    return [GroupHealth(name, rows[name][0]) for name in names if name in rows], newest_tick
