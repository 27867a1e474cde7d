"""`manage.py sandbox_generate`: the sandbox operator's live traffic (`make run` starts it as the `sandbox` process).

Every few seconds it writes new players, profile changes, deposits, bets, wins and withdrawals into the sandbox
replica, which the demo label's replica data source polls. It survives a database that goes away (it logs and tries
again at the next tick) and stops between ticks on SIGTERM or Ctrl-C.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time

import structlog
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from integrations.sandbox.generator import Generator
from integrations.sandbox.replica import SandboxUnavailable, dsn_database, sandbox_enabled, sandbox_replica_ensure

log = structlog.get_logger(__name__)
OFF = "The sandbox operator is off (PITBOSS_SANDBOX)."


class Command(BaseCommand):
    help = "Write the sandbox operator's live players, deposits and bets into its replica every few seconds."

    def add_arguments(self, parser):
        parser.add_argument(
            "--rate", type=float, default=None,
            help="Actions (registrations, deposits, casino rounds...) per minute on average; PITBOSS_SANDBOX_RATE.",
        )  # fmt: skip
        parser.add_argument("--interval", type=float, default=3.0, help="Seconds between ticks (default 3).")
        parser.add_argument("--seed", type=int, default=None, help="Seed the generator: the same rows every run.")
        parser.add_argument("--ticks", type=int, default=0, help="Stop after this many ticks (0: run until stopped).")
        parser.add_argument(
            "--idle-if-off", action="store_true",
            help="With the sandbox off, wait quietly instead of failing (make run's process manager stops every "
            "process when one exits).",
        )  # fmt: skip

    def handle(self, *args, rate, interval, seed, ticks, idle_if_off, **options):
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        if not sandbox_enabled():
            if not idle_if_off:
                raise CommandError(f"{OFF} Production settings never turn it on.")
            self.stdout.write(f"{OFF} Nothing to generate.")
            stop.wait()
            return
        if interval <= 0 or (rate is not None and rate < 0):
            raise CommandError("--interval must be positive and --rate zero or more.")
        rate = settings.PITBOSS_SANDBOX_RATE if rate is None else rate
        try:
            dsn = sandbox_replica_ensure()
        except SandboxUnavailable as exc:
            raise CommandError(str(exc)) from exc
        generator = Generator(dsn=dsn, rate_per_minute=rate, seed=seed)
        self.stdout.write(f"Sandbox operator: writing about {rate:g} actions a minute into {dsn_database(dsn)}.")
        done = 0
        while not stop.is_set() and (ticks == 0 or done < ticks):
            started = time.monotonic()
            self._tick(generator, interval)
            done += 1
            if ticks == 0 or done < ticks:
                stop.wait(max(0.0, interval - (time.monotonic() - started)))

    def _tick(self, generator: Generator, interval: float) -> None:
        try:
            written = generator.tick(seconds=interval)
        except Exception as exc:  # the database restarting, the replica dropped: the next tick tries again
            log.warning("sandbox_tick_failed", error=type(exc).__name__, detail=str(exc).splitlines()[0][:200])
            with contextlib.suppress(Exception):  # logged above; the next tick tries again
                sandbox_replica_ensure(dsn=generator.dsn)
            return
        if written:
            log.info("sandbox_tick", **dict(sorted(written.items())))
