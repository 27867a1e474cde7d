"""The processing pipeline: micro-batches of event ids through a registry of handlers.

A batch is claimed by setting `processed_at` on its events that are still unprocessed (rows locked by another worker
are skipped), and every handler writes its effects in that same transaction. So an event is processed exactly once:
a second claim finds it processed, and a worker that dies mid-batch rolls back its claim and its effects together.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import structlog
from django.db import InterfaceError, OperationalError, connection, transaction

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class EventRow:
    id: int
    label_id: int
    player_id: int
    type: str
    occurred_at: dt.datetime
    received_at: dt.datetime
    payload: dict[str, Any]


Handler = Callable[[list[EventRow]], None]
_REGISTRY: list[tuple[int, str, Handler]] = []


def handler(name: str, *, order: int = 100) -> Callable[[Handler], Handler]:
    """Register `events -> effects` under `name`; lower `order` runs first (profile before aggregates...)."""

    def register(func: Handler) -> Handler:
        if any(existing == name for _, existing, _ in _REGISTRY):
            raise ValueError(f"A pipeline handler named {name!r} is already registered.")
        _REGISTRY.append((order, name, func))
        _REGISTRY.sort(key=lambda entry: (entry[0], entry[1]))
        return func

    return register


def registered() -> list[str]:
    return [name for _, name, _ in _REGISTRY]


_CLAIM = """
UPDATE crm_event AS e SET processed_at = clock_timestamp(), processing_error = ''
FROM (SELECT id FROM crm_event WHERE {where} AND processed_at IS NULL ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED) AS c
WHERE e.id = c.id
RETURNING e.id, e.label_id, e.player_id, e.type, e.occurred_at, e.received_at, e.payload
"""
TRANSIENT = (OperationalError, InterfaceError)


def _claim(cursor, where: str, params: list, limit: int) -> list[EventRow]:
    cursor.execute(_CLAIM.format(where=where), [*params, limit])
    # Django's backend hands jsonb to raw cursors as text (JSONField parses it); parse it the fast way here.
    rows = [EventRow(*row[:6], orjson.loads(row[6])) for row in cursor.fetchall()]
    rows.sort(key=lambda r: (r.occurred_at, r.id))
    return rows


def _run_handlers(events: list[EventRow]) -> None:
    for _, _, func in _REGISTRY:
        func(events)


def events_process(event_ids: Sequence[int]) -> int:
    """Process those of `event_ids` that are still unprocessed; return how many this call processed."""
    return _process("id = ANY(%s)", [list(event_ids)], len(event_ids))


def events_process_stale(*, older_than: dt.timedelta, limit: int) -> int:
    """Process up to `limit` events left unprocessed for longer than `older_than` (lost messages, killed workers)."""
    return _process("received_at < now() - %s", [older_than], limit)


def _process(where: str, params: list, limit: int) -> int:
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            events = _claim(cursor, where, params, limit)
            if events:
                _run_handlers(events)
            return len(events)
    except TRANSIENT:
        raise  # the database is away: the task retries, the events stay unprocessed
    except Exception as exc:  # a handler bug (or bad data) must not block the other events of its batch
        log.warning("pipeline_batch_failed", error=type(exc).__name__)
    return _process_one_by_one(where, params, limit)


def _process_one_by_one(where: str, params: list, limit: int) -> int:
    """After a failed batch: each event alone, so one poison event is set aside and the others go through."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id FROM crm_event WHERE {where} AND processed_at IS NULL ORDER BY id LIMIT %s",  # noqa: S608
            [*params, limit],
        )
        ids = [row[0] for row in cursor.fetchall()]
    done = 0
    for event_id in ids:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                events = _claim(cursor, "id = %s", [event_id], 1)
                _run_handlers(events)
                done += len(events)
        except TRANSIENT:
            raise
        except Exception as exc:  # recorded on the event, shown in the admin, retryable
            _set_aside(event_id, exc)
            done += 1
    return done


def _set_aside(event_id: int, exc: Exception) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            # Only if no other worker processed it meanwhile (its claim was rolled back with the failed attempt).
            "UPDATE crm_event SET processed_at = clock_timestamp(), processing_error = %s"
            " WHERE id = %s AND processed_at IS NULL",
            [f"{type(exc).__name__}: {exc}"[:2000], event_id],
        )
    log.error("pipeline_event_failed", event_pk=event_id, error=type(exc).__name__)
