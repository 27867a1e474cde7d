"""A source's counters and last error, kept in memory by its consumer and written in one cheap UPDATE a second.

The counters are for people watching the admin, not a ledger: a consumer killed between two writes loses at most
a second of counts, never an event.
"""

from __future__ import annotations

import datetime as dt
import time

import structlog
from django.db import DatabaseError
from django.db.models import F, Value
from django.db.models.functions import Greatest

from integrations.models import StreamSource

log = structlog.get_logger(__name__)

FLUSH_SECONDS = 1.0


class StatusBuffer:
    """Pending counts of one source since the last write."""

    def __init__(self, source_id: int, *, every: float = FLUSH_SECONDS) -> None:
        self.source_id = source_id
        self.every = every
        self._flushed = time.monotonic()
        self._reset()

    def _reset(self) -> None:
        self.messages_read = self.events_accepted = self.dead_lettered = 0
        self.last_message_at: dt.datetime | None = None
        self.last_error: tuple[str, dt.datetime] | None = None

    # Each count is taken when its fact is settled: events once committed, a dead letter once confirmed, a message
    # once acknowledged. A message redelivered after a crash between commit and ack is read twice, its events once.
    def events_stored(self, count: int) -> None:
        self.events_accepted += count

    def dead_lettered_one(self) -> None:
        self.dead_lettered += 1

    def message_read(self, *, at: dt.datetime) -> None:
        self.messages_read += 1
        self.last_message_at = at

    def error(self, text: str, *, at: dt.datetime) -> None:
        self.last_error = (text, at)

    def due(self) -> bool:
        return time.monotonic() - self._flushed >= self.every

    def flush(self) -> None:
        """Write what is pending. If the database is away it stays pending for the next try."""
        self._flushed = time.monotonic()
        changes: dict = {}
        if self.messages_read or self.events_accepted or self.dead_lettered:
            changes["messages_read"] = F("messages_read") + self.messages_read
            changes["events_accepted"] = F("events_accepted") + self.events_accepted
            changes["messages_dead_lettered"] = F("messages_dead_lettered") + self.dead_lettered
        if self.last_message_at is not None:
            # Several consumers may share a source: the latest time wins (GREATEST ignores NULL).
            changes["last_message_at"] = Greatest("last_message_at", Value(self.last_message_at))
        if self.last_error is not None:
            changes["last_error"], changes["last_error_at"] = self.last_error
        if not changes:
            return
        try:
            StreamSource.objects.filter(pk=self.source_id).update(**changes)
        except DatabaseError as exc:
            log.warning("stream_status_not_written", source_id=self.source_id, error=type(exc).__name__)
            return
        self._reset()
