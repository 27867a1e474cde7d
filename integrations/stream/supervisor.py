"""The `stream_consume` process: one consumer thread per active stream source, the list re-read periodically.

A source added or re-activated in the admin starts being consumed at the next reload; one deactivated, deleted, or
whose label was deactivated, stops; one whose broker URL, queues or prefetch changed is reconnected. Each thread has
its own broker connections and its own database connection, and consumes for its source's label only.
"""

from __future__ import annotations

import threading
from collections.abc import Collection
from dataclasses import dataclass

import structlog
from django import db
from django.db import DatabaseError

from integrations.models import StreamSource
from integrations.stream.config import SourceConfig
from integrations.stream.consumer import DEFAULT_BACKOFF, Backoff, SourceConsumer

log = structlog.get_logger(__name__)

RELOAD_SECONDS = 30.0
JOIN_SECONDS = 60.0  # how long a reload waits for a stopping consumer to finish its message


@dataclass
class _Running:
    config: SourceConfig
    stop: threading.Event
    thread: threading.Thread


class Supervisor:
    """Runs a consumer per active source (all of them, or those of `source_ids`) until `stop` is set."""

    def __init__(
        self,
        *,
        source_ids: Collection[int] | None = None,
        reload_seconds: float = RELOAD_SECONDS,
        backoff: Backoff = DEFAULT_BACKOFF,
    ) -> None:
        self.source_ids = set(source_ids) if source_ids else None
        self.reload_seconds = reload_seconds
        self.backoff = backoff
        self.running: dict[int, _Running] = {}

    def run(self, stop: threading.Event) -> None:
        log.info("stream_supervisor_started", sources=sorted(self.source_ids) if self.source_ids else "all")
        try:
            while not stop.is_set():
                self.reload()
                stop.wait(self.reload_seconds)
        finally:
            self._stop(list(self.running), wait=None)
            db.connection.close()
            log.info("stream_supervisor_stopped")

    def reload(self) -> None:
        """Start, stop and reconnect consumers to match the sources in the database."""
        try:
            wanted = self._wanted()
        except DatabaseError as exc:  # keep what runs; try again at the next reload
            log.warning("stream_sources_not_read", error=type(exc).__name__)
            return
        gone = [sid for sid, run in self.running.items() if wanted.get(sid) != run.config or not run.thread.is_alive()]
        self._stop(gone, wait=JOIN_SECONDS)
        for config in wanted.values():
            if config.id not in self.running:
                self._start(config)

    def _wanted(self) -> dict[int, SourceConfig]:
        db.close_old_connections()
        sources = StreamSource.objects.filter(is_active=True, label__is_active=True).order_by("pk")
        if self.source_ids is not None:
            sources = sources.filter(pk__in=self.source_ids)
        return {source.pk: SourceConfig.of(source) for source in sources}

    def _start(self, config: SourceConfig) -> None:
        stop = threading.Event()
        consumer = SourceConsumer(config, stop=stop, backoff=self.backoff)
        thread = threading.Thread(target=consumer.run, name=f"stream-source-{config.id}", daemon=True)
        self.running[config.id] = _Running(config, stop, thread)
        thread.start()

    def _stop(self, source_ids: list[int], *, wait: float | None) -> None:
        """Ask those consumers to stop (each finishes the message at hand), then wait for them."""
        stopping = [self.running.pop(sid) for sid in source_ids]
        for run in stopping:
            run.stop.set()
        for run in stopping:
            run.thread.join(wait)
            if run.thread.is_alive():
                log.warning("stream_consumer_slow_to_stop", source_id=run.config.id)
