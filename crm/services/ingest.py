"""Event ingest: validate, dedupe, store and mark for processing, in one transaction per batch.

The same function serves the REST API, the replica sync and the stream consumer. It never raises for a bad item:
each item gets a result (accepted, duplicate, conflict or invalid), so one bad event never rejects the batch.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import structlog
from django.db import connection, transaction
from django.db.models.constants import OnConflict

from backoffice.crypto import keyed_digest, seal
from backoffice.identifiers import InvalidIdentifier, external_id
from backoffice.models import Brand, Label
from backoffice.models.tenancy import MAX_ENTRY_POINTS
from crm.catalogue import (
    CORE_TYPES,
    PII_FIELDS,
    PROFILE_UPDATE,
    SYSTEM_TYPES,
    CleanEvent,
    EventSpec,
    clean_event,
    custom_spec,
)
from crm.models import EventSource, EventType, Player
from crm.services.players import control_group_draw
from crm.validators import INT64, MAX_ID_LENGTH, SURROGATE_RE, shown

log = structlog.get_logger(__name__)

MAX_BATCH = 1000
# Sources whose events Pitboss writes itself: they may carry the catalogue's system types (facts, the pixel's
# conversions), which partners' sources may not send.
OWN_SOURCES = (EventSource.SYSTEM, EventSource.PIXEL)
ACCEPTED, DUPLICATE, CONFLICT, INVALID = "accepted", "duplicate", "conflict", "invalid"


@dataclass
class ItemResult:
    index: int
    status: str
    event_id: str | None = None
    id: int | None = None  # Pitboss's id of the stored event
    errors: dict[str, list[str]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"index": self.index, "status": self.status, "event_id": self.event_id}
        if self.errors:
            body["errors"] = self.errors
        return body


@dataclass
class IngestResult:
    items: list[ItemResult]
    new_ids: list[int]

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys((ACCEPTED, DUPLICATE, CONFLICT, INVALID), 0)
        for item in self.items:
            counts[item.status] += 1
        return counts


def _digest(event: CleanEvent) -> str:
    body = orjson.dumps(
        [event.type, event.ext_brand_id, event.user_ext_id, event.occurred_at, event.payload],
        option=orjson.OPT_SORT_KEYS,
    )
    return keyed_digest(body)


def _custom_specs(label: Label) -> dict[str, EventSpec]:
    types = EventType.objects.filter(label=label, is_active=True).values_list("name", "fields")
    return {name: custom_spec(fields) for name, fields in types}


def events_ingest(
    *, label: Label, items: Sequence[Any], source: str, received_at: dt.datetime | None = None
) -> IngestResult:
    """Store the valid, new events of `items` for `label`; report on every item.

    The unknown player of an accepted event is created (its profile arrives later); a conflict or a duplicate creates
    none. Nothing is enqueued: the pipeline's consumer groups read the log itself (`crm.pipeline`), so an event is
    applied once its transaction commits, whatever the broker does.
    """
    now = received_at or dt.datetime.now(dt.UTC)
    specs = _custom_specs(label)
    brands = {
        unicodedata.normalize("NFC", ext_id): pk  # compared as event ids are (identifier())
        for ext_id, pk in Brand.objects.filter(label=label, is_active=True).values_list("ext_brand_id", "id")
    }
    results: list[ItemResult] = []
    valid: list[tuple[int, CleanEvent, str]] = []
    for index, raw in enumerate(items):
        event, errors = clean_event(raw, specs, now)
        if source not in OWN_SOURCES and _system_type(raw):
            event, errors = None, {"type": [f"{raw['type']!r} is a fact Pitboss emits itself; it cannot be sent."]}
        elif event is not None and event.ext_brand_id not in brands:
            errors = {"ext_brand_id": [f"Unknown brand {shown(event.ext_brand_id)}."]}
            event = None
        if event is None:
            results.append(ItemResult(index, INVALID, _sent_id(raw), errors=errors))
            continue
        results.append(ItemResult(index, ACCEPTED, event.event_id))
        valid.append((index, event, _digest(event)))
    if not valid:
        return IngestResult(results, [])
    with transaction.atomic():
        _entry_points_check(label, valid, results)
        valid = [v for v in valid if results[v[0]].status == ACCEPTED]
        players, created = _players_resolve(label, brands, [event for _, event, _ in valid])
        new_ids = _store(label, brands, valid, players, results, source, now)
        _players_unused_delete(created, brands, valid, players, results)
        if new_ids:  # the pipeline's workers wake on it instead of at their next poll
            from crm.pipeline import events_notify

            transaction.on_commit(events_notify, robust=True)
    return IngestResult(results, new_ids)


def _system_type(raw: Any) -> bool:
    # Only a string is looked up: `{} in SYSTEM_TYPES` raises TypeError (unhashable), and would fail the whole batch.
    return isinstance(raw, dict) and isinstance(raw.get("type"), str) and raw["type"] in SYSTEM_TYPES


def _sent_id(raw: Any) -> str | None:
    """The event id of an invalid item as the result echoes it, when it can be echoed (text or a 64-bit integer)."""
    sent = raw.get("event_id") if isinstance(raw, dict) else None
    if isinstance(sent, str) and len(sent) <= 4 * MAX_ID_LENGTH and not SURROGATE_RE.search(sent):
        return sent
    if isinstance(sent, int) and not isinstance(sent, bool) and sent in INT64:
        return str(sent)
    return None


def _entry_points_check(label: Label, valid: list, results: list[ItemResult]) -> None:
    """Login entry points: any name, but at most 50 different ones per label (the label's list grows to 50)."""
    seen = {e.payload["entry_point"] for _, e, _ in valid if e.type == "login" and e.payload.get("entry_point")}
    new = sorted(seen - set(label.allowed_entry_points))
    if not new:
        return
    with connection.cursor() as cursor:
        # Row lock on the label: two batches adding entry points at once must not pass 50 together.
        cursor.execute("SELECT allowed_entry_points FROM backoffice_label WHERE id = %s FOR UPDATE", [label.pk])
        current = list(cursor.fetchone()[0])
        room = MAX_ENTRY_POINTS - len(current)
        added = [ep for ep in new if ep not in current][: max(room, 0)]
        if added:
            cursor.execute(
                "UPDATE backoffice_label SET allowed_entry_points = %s, updated_at = now() WHERE id = %s",
                [current + added, label.pk],
            )
    label.allowed_entry_points = current + added
    allowed = set(label.allowed_entry_points)
    for index, event, _ in valid:
        if event.type == "login" and event.payload.get("entry_point") and event.payload["entry_point"] not in allowed:
            results[index].status = INVALID
            results[index].errors = {
                "payload.entry_point": [f"This label already has {MAX_ENTRY_POINTS} entry points; this is a new one."]
            }


def _players_resolve(
    label: Label, brands: dict[str, int], events: list[CleanEvent]
) -> tuple[dict[tuple[int, str], int], set[int]]:
    """(brand id, user_ext_id) -> player id for every event, creating the players not seen before; and the ids of
    the players this batch created."""
    wanted = {(brands[e.ext_brand_id], e.user_ext_id) for e in events}
    if not wanted:  # every valid event was refused by a label limit (a 51st entry point)
        return {}, set()
    found = _players_find(wanted)
    missing = wanted - found.keys()
    if not missing:
        return found, set()
    created = _players_create(label, sorted(missing))
    found.update(_players_find(missing))  # a concurrent batch may have created some: found now, not created here
    return found, created


def _players_create(label: Label, pairs: list[tuple[int, str]]) -> set[int]:
    """Insert the players of `pairs` (sorted: concurrent batches lock them in one order); return the ids inserted.

    INSERT … ON CONFLICT DO NOTHING RETURNING names only the rows this statement inserted, which tells this batch's
    players from a concurrent batch's. bulk_create(ignore_conflicts=True) returns no ids, so this calls the insert
    query it is built on.
    """
    players = [
        Player(
            label_id=label.pk,
            brand_id=b,
            user_ext_id=u,
            ach_gamification_in_control_group=control_group_draw(label=label),
        )
        for b, u in pairs
    ]
    meta = Player._meta
    fields = [f for f in meta.concrete_fields if not f.generated and f is not meta.pk]
    # bulk_create's own INSERT ... ON CONFLICT DO NOTHING RETURNING id: bulk_create returns no ids for the rows it
    # skipped nor tells which were new. Private Django API, undeclared in django-stubs.
    rows = Player.objects._insert(  # type: ignore[attr-defined]
        players, fields, returning_fields=[meta.pk], on_conflict=OnConflict.IGNORE
    )
    # One player: Django fetches one row, None when a concurrent batch inserted it first (the conflict skipped it).
    return {row[0] for row in rows if row is not None}


def _players_unused_delete(created: set[int], brands, valid, players, results: list[ItemResult]) -> None:
    """Undo the creation of players none of whose events was accepted (all conflicts or duplicates): a player is
    created only for an accepted event. In the batch's transaction, so no other batch ever saw them."""
    if not created:
        return
    used = {players[(brands[e.ext_brand_id], e.user_ext_id)] for i, e, _ in valid if results[i].status == ACCEPTED}
    unused = sorted(created - used)
    if unused:
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {Player._meta.db_table} WHERE id = ANY(%s)", [unused])  # noqa: S608


def _players_find(pairs: set[tuple[int, str]]) -> dict[tuple[int, str], int]:
    brand_ids, user_ids = zip(*pairs, strict=True)
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT p.brand_id, p.user_ext_id, p.id FROM crm_player p
               JOIN unnest(%s::bigint[], %s::text[]) AS w(brand_id, user_ext_id)
                 ON p.brand_id = w.brand_id AND p.user_ext_id = w.user_ext_id""",
            [list(brand_ids), list(user_ids)],
        )
        return {(b, u): pid for b, u, pid in cursor.fetchall()}


# The id column's identity sequence by name: pg_get_serial_sequence() here would run once per id (5x slower).
_NEW_IDS = "SELECT nextval('crm_event_id_seq') AS id FROM generate_series(1, %s) ORDER BY id"
# The rows travel as one JSON array literal, each row [type, event_id, id, player_id, occurred_at, digest, payload]:
# with client-side binding psycopg quotes every element of a text[] or timestamptz[] in Python (a regular expression
# per quote), which cost about as much as validating the events; one literal is escaped in C, and the payloads, already
# serialized, are spliced in as they are. Rows are inserted in the order of the array.
_INSERT = """
INSERT INTO crm_event (id, label_id, player_id, event_id, type, occurred_at, received_at, source, payload, digest)
SELECT (r->>2)::bigint, %s, (r->>3)::bigint, r->>1, r->>0, (r->>4)::timestamptz, %s, %s, r->6, r->>5
FROM jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS w(r, n)
ORDER BY w.n
ON CONFLICT (label_id, type, event_id) DO NOTHING
RETURNING id, type, event_id
"""


def _rows_json(ordered: list[tuple]) -> str:
    """The rows (type, event_id, id, player_id, occurred_at, payload as JSON text, digest) as one JSON array."""
    parts = []
    for type_name, event_id, pk, player_id, occurred_at, payload, digest in ordered:
        head = orjson.dumps([type_name, event_id, pk, player_id, occurred_at.isoformat(), digest])
        parts.append(head[:-1].decode() + "," + payload + "]")
    return "[" + ",".join(parts) + "]"


def _store(label, brands, valid, players, results, source, now) -> list[int]:
    """Insert the new events; classify the rest as duplicates (same content) or conflicts (same id, other content)."""
    first: dict[tuple[str, str], tuple[int, str]] = {}
    repeats: list[tuple[int, tuple[str, str], str]] = []
    rows = []
    for index, event, digest in valid:
        key = (event.type, event.event_id)
        if key in first:  # the same id twice in one batch: classified below, against what ends up stored
            repeats.append((index, key, digest))
            continue
        first[key] = (index, digest)
        player_id = players[(brands[event.ext_brand_id], event.user_ext_id)]
        rows.append((event.type, event.event_id, player_id, event.occurred_at, _stored_payload(event), digest))
    if not rows:
        return []
    with connection.cursor() as cursor:
        inserted = _rows_insert(cursor, label.pk, rows, source, now)
        existing = [key for key in first if key not in inserted]
        stored = _stored_digests(cursor, label.pk, existing) if existing else {}
    for key, (index, digest) in first.items():
        if key in inserted:
            results[index].id = inserted[key]
            stored[key] = digest
        else:
            results[index].status = DUPLICATE if stored.get(key) == digest else CONFLICT
    for index, key, digest in repeats:
        results[index].status = DUPLICATE if stored.get(key) == digest else CONFLICT
    conflicts = sum(r.status == CONFLICT for r in results)
    if conflicts:
        log.warning("ingest_conflicts", label_id=label.pk, source=source, conflicts=conflicts)
    return sorted(inserted.values())


def _rows_insert(cursor, label_id: int, rows: list[tuple], source: str, now: dt.datetime) -> dict[tuple[str, str], int]:
    """Insert the rows (type, event_id, player_id, occurred_at, payload as JSON text, digest), distinct by (type,
    event_id), skipping those stored already; (type, event_id) -> id of each inserted."""
    # Ids in the order of the batch (processing breaks ties of occurred_at by id), rows inserted in the order of
    # their key: two batches inserting the same keys in other orders would deadlock on the unique index.
    cursor.execute(_NEW_IDS, [len(rows)])
    ordered = sorted((*row[:2], pk, *row[2:]) for row, (pk,) in zip(rows, cursor.fetchall(), strict=True))
    cursor.execute(_INSERT, [label_id, now, source, _rows_json(ordered)])
    return {(t, e): pk for pk, t, e in cursor.fetchall()}


@dataclass(frozen=True, slots=True)
class SystemEvent:
    """A fact Pitboss emits about one of its players (`system_events_store`)."""

    player_id: int
    ext_brand_id: str  # the player's brand and id: the same digest as the fact would get through `events_ingest`
    user_ext_id: str
    type: str  # a system type of the catalogue
    event_id: str  # derived from the change it reports: emitting it again stores nothing
    payload: dict[str, Any]


def system_events_store(*, label_id: int, events: Sequence[SystemEvent]) -> list[int]:
    """Put the app's own facts about known players into the event log (source "system"), in the caller's
    transaction, and return the ids of those stored now (a fact stored already, same type and id, is skipped).

    The emitter built them from its own rows, so there is no envelope to check and no player to resolve, as there
    is for what partners send (`events_ingest`); each payload is still cleaned by its type's spec. An invalid fact
    is a bug in the emitter: ValueError naming the type and the fields, and nothing is stored.
    """
    if not events:
        return []
    now = dt.datetime.now(dt.UTC)
    at = now.replace(microsecond=now.microsecond // 1000 * 1000)  # millisecond precision, as ingest stores times
    rows, keys = [], set()
    for fact in events:
        spec = CORE_TYPES.get(fact.type) if fact.type in SYSTEM_TYPES else None
        if spec is None:
            raise ValueError(f"{fact.type!r} is not a system event type.")
        payload, errors = spec.clean(fact.payload)
        if errors:
            raise ValueError(f"Invalid {fact.type} fact {fact.event_id!r}: {errors}")
        try:
            event_id = external_id(fact.event_id)
        except InvalidIdentifier as exc:
            raise ValueError(f"Invalid {fact.type} fact id {fact.event_id!r}: {exc}") from None
        if (fact.type, event_id) in keys:
            continue
        keys.add((fact.type, event_id))
        clean = CleanEvent(event_id, fact.type, fact.ext_brand_id, fact.user_ext_id, at, payload)
        rows.append((fact.type, event_id, fact.player_id, at, orjson.dumps(payload).decode(), _digest(clean)))
    with connection.cursor() as cursor:
        inserted = _rows_insert(cursor, label_id, rows, EventSource.SYSTEM, now)
    if inserted:  # the pipeline's workers wake on it instead of at their next poll
        from crm.pipeline import events_notify

        transaction.on_commit(events_notify, robust=True)
    return sorted(inserted.values())


def _stored_payload(event: CleanEvent) -> str:
    """The payload as stored: PII (a profile update's email and phone) encrypted, like the player's own columns."""
    payload = event.payload
    if event.type == PROFILE_UPDATE and any(payload.get(f) for f in PII_FIELDS):
        payload = {k: seal(v) if k in PII_FIELDS and v else v for k, v in payload.items()}
    return orjson.dumps(payload).decode()


def _stored_digests(cursor, label_id: int, keys: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
    types, ids = zip(*keys, strict=True)
    cursor.execute(
        """SELECT e.type, e.event_id, e.digest FROM crm_event e
           JOIN unnest(%s::text[], %s::text[]) AS k(type, event_id) ON e.type = k.type AND e.event_id = k.event_id
           WHERE e.label_id = %s""",
        [list(types), list(ids), label_id],
    )
    return {(t, e): d for t, e, d in cursor.fetchall()}
