"""The replica sync through a real `celery -A backoffice worker`, on a broker of this test's own.

The worker gets the filesystem transport in a temporary folder (never the shared broker: its "process" and "sync"
queues are real ones here, and nobody else's worker must see these messages), and the test database.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection
from kombu import Connection

from backoffice.celery import app as celery_app
from backoffice.env import BASE_DIR
from crm.models import Event, PlayerAggregate
from crm.pipeline import pipeline_drain
from integrations.models import DataSource, SyncView, ViewKind
from integrations.replica.services import LOCK_NAMESPACE
from tests.factories import BrandFactory, LabelFactory
from tests.integrations.test_replica_reader import replica_database
from tests.test_stack import _test_database_url

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def replica():
    with replica_database() as database:
        yield database


TIMEOUT = 60


@dataclass
class Worker:
    process: subprocess.Popen
    log: Path

    def output(self) -> str:
        return self.log.read_text()[-4000:]


@dataclass
class Broker:
    folder: Path

    def options(self) -> dict:
        queue = str(self.folder / "broker" / "queue")
        return {
            "data_folder_in": queue, "data_folder_out": queue, "store_processed": False,
            "control_folder": str(self.folder / "broker" / "control"),
        }  # fmt: skip

    def send(self, task: str, *args) -> None:
        with Connection("filesystem://localhost//", transport_options=self.options()) as conn:
            celery_app.send_task(task, args=list(args), connection=conn)  # routed as in production: queue "sync"

    def start_worker(self, name: str) -> Worker:
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "backoffice.settings.test", "DATABASE_URL": _test_database_url()}
        env.pop("CELERY_BROKER_URL", None)  # the filesystem transport under PITBOSS_VAR_DIR: this test's own
        env["PITBOSS_VAR_DIR"] = str(self.folder)
        log = self.folder / f"{name}.log"
        command = [sys.executable, "-m", "celery", "-A", "backoffice", "worker", "-Q", "sync,process", "-c", "1"]
        command += ["--without-gossip", "--without-mingle", "--without-heartbeat", "-n", f"{name}@%h"]
        with log.open("w") as out:
            process = subprocess.Popen(
                command, cwd=BASE_DIR, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        worker = Worker(process, log)
        deadline = time.monotonic() + TIMEOUT
        while " ready." not in log.read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                _kill(worker)
                pytest.fail(f"The worker did not start:\n{worker.output()}")
            time.sleep(0.2)
        return worker


def _kill(worker: Worker) -> None:
    if worker.process.poll() is None:
        os.killpg(worker.process.pid, signal.SIGKILL)
        worker.process.wait(timeout=10)


def _stop(worker: Worker) -> None:
    if worker.process.poll() is None:
        worker.process.terminate()
        try:
            worker.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            _kill(worker)


@pytest.fixture
def broker(tmp_path):
    (tmp_path / "broker" / "queue").mkdir(parents=True)
    (tmp_path / "broker" / "control").mkdir(parents=True)
    workers: list[Worker] = []
    broker = Broker(tmp_path)
    start = broker.start_worker
    broker.start_worker = lambda name: workers.append(start(name)) or workers[-1]
    yield broker
    for worker in workers:
        _stop(worker)


def wait_for(condition, worker: Worker, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {TIMEOUT} s.\n{worker.output()}")
        time.sleep(0.1)


def _setup(replica, rows: int, *, view_name: str = "deposits", page_size: int = 100) -> SyncView:
    label = LabelFactory(name="Worker casino")
    BrandFactory(label=label, ext_brand_id="casino-1")
    replica.sql(
        """INSERT INTO payments (brand, login, tx, created_at, finalized_at, amount)
           SELECT 'casino-1', 'p' || (i %% 7), 'tx-' || i, timestamp '2025-03-01 10:00' + i * interval '1 ms',
                  timestamp '2025-03-01 10:00' + (i / 3) * interval '1 ms', 1.25
           FROM generate_series(1, %s::int) AS i""",
        [rows],
    )
    source = DataSource.objects.create(label=label, name="Replica", dsn=replica.dsn)
    return SyncView.objects.create(
        source=source, name=view_name, kind=ViewKind.TRANSACTIONS, event_type="deposit",
        cursor_column="dt_finalized", page_size=page_size,
    )  # fmt: skip


def _done(view: SyncView) -> bool:
    view.refresh_from_db()
    return view.last_success_at is not None


def test_a_real_worker_reads_the_view_and_processes_its_events(broker, replica):
    view = _setup(replica, 450)
    worker = broker.start_worker("replica-sync")

    broker.send("integrations.sync_view", view.pk)

    wait_for(lambda: _done(view), worker, "the view read")
    assert (view.rows_read, view.last_error) == (450, "")
    assert Event.objects.filter(label=view.source.label).count() == 450
    # The pipeline's consumer groups apply them (drained here, as the sweeper would: this worker runs no consumer).
    wait_for(lambda: _drain(view.source.label) == 450, worker, "the events applied")
    totals = PlayerAggregate.objects.filter(label=view.source.label).values_list("deposit_count", "deposit_sum")
    assert (sum(c for c, _ in totals), sum(s for _, s in totals)) == (450, Decimal("562.50"))


def test_a_worker_killed_in_the_middle_of_a_backlog_loses_and_doubles_nothing(broker, replica):
    # Each row of this view costs the replica 2 ms, so the worker is surely killed half way through.
    replica.sql(
        """CREATE FUNCTION slowly(amount numeric) RETURNS numeric LANGUAGE plpgsql STABLE AS
           $$ BEGIN PERFORM pg_sleep(0.002); RETURN amount; END $$;
           CREATE VIEW deposits_slow AS SELECT dt_finalized, ext_brand_id, user_ext_id, transaction_id,
               transaction_date, slowly(deposit_amount) AS deposit_amount FROM deposits"""
    )
    total = 3000
    view = _setup(replica, total, view_name="deposits_slow", page_size=50)
    first = broker.start_worker("doomed")
    broker.send("integrations.sync_view", view.pk)

    wait_for(lambda: SyncView.objects.get(pk=view.pk).rows_read >= 500, first, "a part of the backlog read")
    _kill(first)  # SIGKILL to the whole worker: no clean-up of any kind

    view.refresh_from_db()
    assert 500 <= view.rows_read < total, "the worker was killed half way through"
    assert Event.objects.filter(label=view.source.label).count() == view.rows_read  # page and cursor together
    wait_for(lambda: not _lock_held(view.pk), first, "the dead worker's session gone")
    second = broker.start_worker("survivor")
    broker.send("integrations.sync_view", view.pk)  # what the next poll would do

    wait_for(lambda: _done(view) and view.rows_read == total, second, "the rest of the backlog read")
    events = Event.objects.filter(label=view.source.label)
    assert events.count() == total
    assert events.values("event_id").distinct().count() == total
    # Each event applied once by the consumer groups (drained here, as the sweeper would).
    wait_for(lambda: _drain(view.source.label) == total, second, "the events applied")


def _drain(label) -> int:
    """What the sweeper does, at once: apply what is committed; then the deposits the label's aggregates count."""
    pipeline_drain()
    return sum(PlayerAggregate.objects.filter(label=label).values_list("deposit_count", flat=True))


def _lock_held(view_id: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = %s AND objid = %s AND objsubid = 2",
            [LOCK_NAMESPACE, view_id],
        )
        return cursor.fetchone()[0] > 0
