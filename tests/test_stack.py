"""End to end through a real `celery -A backoffice worker` process: the configured broker (the filesystem transport
under var/ when CELERY_BROKER_URL is unset, Redis in CI) and the test database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
from celery.backends.filesystem import FilesystemBackend
from celery.exceptions import TimeoutError as CeleryTimeoutError
from celery.result import AsyncResult
from django.db import connection
from kombu import Queue

from backoffice.celery import app as celery_app
from backoffice.env import BASE_DIR
from backoffice.runtime import GC_THRESHOLDS
from backoffice.tasks import ping
from tests.factories import LabelFactory

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]
TIMEOUT = 60  # seconds: a worker starts in a few; CI machines can be slow


@dataclass
class Worker:
    queue: str
    results: FilesystemBackend
    log: Path

    def output(self) -> str:
        return self.log.read_text()[-4000:]


def _test_database_url() -> str:
    """The test database as a DATABASE_URL, for a process that does not run pytest-django."""
    db = connection.settings_dict
    credentials = f"{quote(db['USER'] or '', safe='')}:{quote(db['PASSWORD'] or '', safe='')}"
    if (db["HOST"] or "").startswith("/"):  # the embedded server listens on a Unix socket only
        return f"postgres://{credentials}@/{db['NAME']}?{urlencode({'host': db['HOST']})}"
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgres://{credentials}@{db['HOST']}{port}/{db['NAME']}"


@pytest.fixture(scope="module")
def worker(tmp_path_factory, django_db_setup):
    """One worker for this module, on a queue of its own (other test runs may share the broker), results in files."""
    tmp_path = tmp_path_factory.mktemp("worker")
    queue, results_dir, log = f"stack-{uuid.uuid4().hex[:12]}", tmp_path / "results", tmp_path / "worker.log"
    results_dir.mkdir()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "backoffice.settings.test", "DATABASE_URL": _test_database_url()}
    command = [sys.executable, "-m", "celery", "-A", "backoffice", "--result-backend", f"file://{results_dir}"]
    command += ["worker", "-Q", queue, "--concurrency", "1", "-I", "tests.stack_tasks"]
    command += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
    with log.open("w") as out:
        process = subprocess.Popen(
            command, cwd=BASE_DIR, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    worker = Worker(queue, FilesystemBackend(app=celery_app, url=f"file://{results_dir}"), log)
    try:
        _wait_ready(process, worker)
        yield worker
    finally:
        _stop(process)
        with celery_app.connection_for_write() as conn:
            Queue(queue).bind(conn.default_channel).delete()


def _wait_ready(process: subprocess.Popen, worker: Worker) -> None:
    deadline = time.monotonic() + TIMEOUT
    while " ready." not in worker.log.read_text():
        if process.poll() is not None:
            pytest.fail(f"The worker exited with {process.returncode}:\n{worker.output()}")
        if time.monotonic() > deadline:
            pytest.fail(f"The worker was not ready within {TIMEOUT} s:\n{worker.output()}")
        time.sleep(0.2)


def _stop(process: subprocess.Popen) -> None:
    """Warm shutdown (finish the task at hand), then kill the whole group if it does not exit."""
    if process.poll() is None:
        process.terminate()  # the main process only: it stops its pool itself
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def test_a_real_worker_answers_ping_through_the_broker(worker):
    sent = ping.apply_async(queue=worker.queue)

    try:
        answer = AsyncResult(sent.id, backend=worker.results).get(timeout=TIMEOUT, interval=0.2)
    except CeleryTimeoutError:
        pytest.fail(f"No answer within {TIMEOUT} s:\n{worker.output()}")

    assert answer == "pong"


def test_a_real_worker_runs_with_the_settled_garbage_collector(worker):
    sent = celery_app.send_task("tests.gc_settings", queue=worker.queue)

    settings = AsyncResult(sent.id, backend=worker.results).get(timeout=TIMEOUT, interval=0.2)

    assert settings["thresholds"] == list(GC_THRESHOLDS)
    assert settings["frozen"] > 10_000  # Django, the apps and the tasks, loaded before the pool forked


def test_a_real_worker_writes_to_the_database(worker):
    label = LabelFactory(name="Before the task")

    celery_app.send_task("tests.label_rename", args=[label.pk, "Renamed by the worker"], queue=worker.queue)

    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        label.refresh_from_db()
        if label.name == "Renamed by the worker":
            break
        time.sleep(0.2)
    assert label.name == "Renamed by the worker", worker.output()
