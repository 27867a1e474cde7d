"""`manage.py pipeline_work [--group G ...]`: consume the event log's groups until SIGTERM or SIGINT."""

from __future__ import annotations

import contextlib
import signal
import threading

import structlog
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections, connection

from backoffice.db import TRANSIENT_DB_ERRORS
from crm.pipeline import Wakeup, Worker, cursors_ensure, groups

log = structlog.get_logger(__name__)
IDLE_SLEEP_SECONDS = 0.05


class Command(BaseCommand):
    help = (
        "Apply the event log to the pipeline's consumer groups: one thread per group (all groups with handlers, or "
        "those named with --group). Start as many as you like, on as many machines: the workers of a group share its "
        "16 partitions through leases, and a dead worker's partitions are taken over after "
        "PITBOSS_PIPELINE_LEASE_SECONDS. SIGTERM or SIGINT stops it after the page at hand."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--group",
            dest="group_names",
            nargs="+",
            action="extend",
            metavar="GROUP",
            help="Consume only these groups (repeatable). Default: every group that has handlers.",
        )

    def handle(self, *args, group_names: list[str] | None, **options) -> None:
        known = groups()
        names = group_names or known
        unknown = sorted(set(names) - set(known))
        if unknown:
            raise CommandError(f"Unknown group {', '.join(unknown)}; groups with handlers: {', '.join(known)}.")
        cursors_ensure(names)
        connection.close()  # each thread opens its own
        stop = threading.Event()

        def on_signal(signum, frame) -> None:
            log.info("pipeline_stopping", signal=signal.Signals(signum).name)
            stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        threads = [threading.Thread(target=consume, args=(name, stop), name=f"pipeline-{name}") for name in names]
        for thread in threads:
            thread.start()
        log.info("pipeline_started", groups=names)
        while any(t.is_alive() for t in threads):
            for thread in threads:
                thread.join(timeout=0.5)
        if not stop.is_set():
            raise CommandError("A pipeline thread died; see the log.")


def consume(group: str, stop: threading.Event) -> None:
    """Rounds of `Worker.run_once` until `stop`; when there was nothing to do, wait for ingest's notification (LISTEN)
    or a short poll interval, whichever comes first. A lost database is waited out; the leases of this worker expire
    meanwhile and others may take its partitions over."""
    worker = Worker(group)
    wakeup = Wakeup()
    try:
        while not stop.is_set():
            try:
                if worker.run_once():
                    continue
                if worker.woken:  # notified, but the tick was refused: again in half a tick period
                    stop.wait(settings.PITBOSS_PIPELINE_TICK_MS / 2000)
                elif wakeup.wait(IDLE_SLEEP_SECONDS):  # ingest notifies after commit: no poll interval to wait
                    worker.wake()
            except TRANSIENT_DB_ERRORS as exc:
                log.warning(
                    "pipeline_database_unavailable", group=group, error=type(exc).__name__, detail=str(exc)[:300]
                )
                close_old_connections()
                connection.close()
                worker.held = []
                stop.wait(min(5.0, settings.PITBOSS_PIPELINE_LEASE_SECONDS / 3))
        with contextlib.suppress(*TRANSIENT_DB_ERRORS):  # the leases expire by themselves
            worker.stop()
    finally:
        wakeup.close()
        connection.close()
        log.info("pipeline_stopped", group=group, owner=worker.owner)
