"""`manage.py stream_consume [--source ID ...]`: consume the event streams until SIGTERM or SIGINT."""

from __future__ import annotations

import signal
import threading

import structlog
from django.core.management.base import BaseCommand, CommandError

from integrations.models import StreamSource
from integrations.stream.supervisor import RELOAD_SECONDS, Supervisor

log = structlog.get_logger(__name__)


class Command(BaseCommand):
    help = (
        "Consume the RabbitMQ queue of every active stream source (or of those named with --source) and ingest its "
        "events for the source's label. Sources added, changed or deactivated in the admin are picked up at the next "
        "reload. SIGTERM or SIGINT stops it after the message at hand."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--source",
            dest="source_ids",
            type=int,
            nargs="+",
            action="extend",
            metavar="ID",
            help="Consume only these stream sources (ids; repeatable). Default: every active source.",
        )
        parser.add_argument(
            "--reload-seconds",
            type=float,
            default=RELOAD_SECONDS,
            help=f"How often the list of sources is re-read (default {RELOAD_SECONDS:g}).",
        )

    def handle(self, *args, source_ids: list[int] | None, reload_seconds: float, **options) -> None:
        if reload_seconds <= 0:
            raise CommandError("--reload-seconds must be positive.")
        if source_ids:
            unknown = set(source_ids) - set(StreamSource.objects.filter(pk__in=source_ids).values_list("pk", flat=True))
            if unknown:
                raise CommandError(f"No stream source with id {', '.join(map(str, sorted(unknown)))}.")
        stop = threading.Event()

        def on_signal(signum, frame) -> None:
            log.info("stream_stopping", signal=signal.Signals(signum).name)
            stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        Supervisor(source_ids=source_ids, reload_seconds=reload_seconds).run(stop)
