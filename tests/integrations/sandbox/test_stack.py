"""`make run` in small: the `sandbox` process (`manage.py sandbox_generate`) writes, a real Celery worker runs the
replica poll that beat would send, and the sandbox's players, deposits and bets arrive in the event log within a
minute. The worker has a broker of this test's own (tests/integrations/test_replica_worker.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from backoffice.env import BASE_DIR
from crm.models import Event, EventSource
from integrations.sandbox.replica import sandbox_source_ensure
from tests.factories import BrandFactory, LabelFactory
from tests.integrations.test_replica_worker import broker  # noqa: F401 - a fixture
from tests.test_stack import _test_database_url

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]
MINUTE = 60
POLL_EVERY = 5  # seconds, as the demo's data source is polled


@pytest.fixture
def generator_process(sandbox, tmp_path):
    env = {
        **os.environ, "DJANGO_SETTINGS_MODULE": "backoffice.settings.test", "DATABASE_URL": _test_database_url(),
        "PITBOSS_SANDBOX_REPLICA_URL": sandbox.dsn,
    }  # fmt: skip
    log = tmp_path / "generator.log"
    command = [sys.executable, "manage.py", "sandbox_generate", "--interval", "1", "--rate", "300"]
    with log.open("w") as out:
        process = subprocess.Popen(
            command, cwd=BASE_DIR, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    process.log = log
    yield process
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def test_the_sandbox_traffic_arrives_in_the_event_log_within_a_minute(sandbox, broker, generator_process):  # noqa: F811
    label = LabelFactory(name="Sandbox casino")
    BrandFactory(label=label, ext_brand_id="sbx-casino")
    BrandFactory(label=label, ext_brand_id="sbx-sports")
    sandbox_source_ensure(label=label, dsn=sandbox.dsn)
    worker = broker.start_worker("poller")
    wanted = {"profile_update", "deposit", "casino_bet"}

    deadline = time.monotonic() + MINUTE
    arrived: set[str] = set()
    while not wanted <= arrived:
        if time.monotonic() > deadline:
            pytest.fail(
                f"Only {sorted(arrived)} arrived within a minute.\nworker:\n{worker.output()}\n"
                f"sandbox:\n{generator_process.log.read_text()[-3000:]}"
            )
        broker.send("integrations.sync_poll")  # what beat sends every 10 s
        time.sleep(POLL_EVERY)
        arrived = set(Event.objects.filter(label=label, source=EventSource.REPLICA).values_list("type", flat=True))

    generator_process.send_signal(signal.SIGTERM)  # honcho's stop: the generator ends between ticks
    assert generator_process.wait(timeout=30) == 0
    assert "Sandbox operator: writing about 300 actions a minute" in generator_process.log.read_text()
    brands = set(Event.objects.filter(label=label).values_list("player__brand__ext_brand_id", flat=True))
    assert brands == {"sbx-casino", "sbx-sports"}
