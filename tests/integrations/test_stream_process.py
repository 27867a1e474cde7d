"""`python manage.py stream_consume` as a real process, on the machine's RabbitMQ and the test database.

The process gets the test database through DATABASE_URL (as the stack tests give it to a Celery worker) and an
in-memory Celery broker, so the processing it enqueues reaches nobody else's worker.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
import pytest
from django.core.management import CommandError, call_command
from kombu import Connection, Producer

from backoffice.env import BASE_DIR
from crm.models import Event
from integrations.models import StreamSource
from tests.integrations.test_stream_consumer import AMQP_URL, Broker, event, wait_for
from tests.test_stack import _test_database_url

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]
TIMEOUT = 60  # seconds
PII = "stream-pii-probe@example.com"


class Consumer:
    """One `manage.py stream_consume --source N` process, its output in a file."""

    def __init__(self, log: Path, source: StreamSource) -> None:
        self.log = log
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "backoffice.settings.test",
            "DATABASE_URL": _test_database_url(),
            "CELERY_BROKER_URL": "memory://",
            "LOG_LEVEL": "DEBUG",  # the most talkative it gets: still no body, no password
        }
        command = [sys.executable, "manage.py", "stream_consume", "--source", str(source.pk), "--reload-seconds", "1"]
        with log.open("w") as out:
            self.process = subprocess.Popen(
                command, cwd=BASE_DIR, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + TIMEOUT
        while "event=stream_consuming" not in self.output():
            if self.process.poll() is not None:
                pytest.fail(f"stream_consume exited with {self.process.returncode}:\n{self.output()}")
            if time.monotonic() > deadline:
                self.kill()
                pytest.fail(f"stream_consume did not consume within {TIMEOUT} s:\n{self.output()}")
            time.sleep(0.1)

    def output(self) -> str:
        return self.log.read_text()

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def terminate(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"stream_consume did not stop on SIGTERM:\n{self.output()[-4000:]}")


@pytest.fixture
def consumers(tmp_path):
    """Start consumer processes; any still running at the end is killed."""
    started: list[Consumer] = []

    def start(source: StreamSource) -> Consumer:
        consumer = Consumer(tmp_path / f"consumer-{len(started)}.log", source)
        started.append(consumer)
        return consumer

    yield start
    for consumer in started:
        consumer.kill()


class Publisher(threading.Thread):
    """The operator's platform: `count` messages of three events each, at a steady pace, on its own connection."""

    def __init__(self, queue: str, count: int, per_second: float) -> None:
        super().__init__(daemon=True)
        self.queue, self.count, self.pause = queue, count, 1 / per_second
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with Connection(AMQP_URL, transport_options={"confirm_publish": True}) as connection:
                producer = Producer(connection.channel())
                for i in range(self.count):
                    body = orjson.dumps([event(f"m{i:04d}-{j}", user=f"player-{i % 7}") for j in range(3)])
                    producer.publish(
                        body, routing_key=self.queue, message_id=f"m{i:04d}", delivery_mode=2,
                        content_type="application/json", content_encoding="binary",
                    )  # fmt: skip
                    time.sleep(self.pause)
        except BaseException as exc:
            self.error = exc


@pytest.fixture
def broker():
    broker = Broker()
    try:
        yield broker
    finally:
        broker.close()


def _source(label, broker: Broker, prefetch: int) -> StreamSource:
    return StreamSource.objects.create(
        label=label, name="platform stream", broker_url=AMQP_URL, prefetch=prefetch,
        queue=broker.queue("events"), dead_letter_queue=broker.queue("dead", declare=False),
    )  # fmt: skip


def _event_ids(label) -> list[str]:
    return list(Event.objects.filter(label=label).values_list("event_id", flat=True))


def test_a_consumer_killed_mid_stream_and_restarted_stores_every_event_exactly_once(
    tenant_a, tenant_b, broker, consumers
):
    source = _source(tenant_a.label, broker, prefetch=50)
    total = 600
    first = consumers(source)
    publisher = Publisher(source.queue, total, per_second=150)
    publisher.start()
    wait_for(lambda: len(_event_ids(tenant_a.label)) >= 150, "the first events stored", TIMEOUT)

    first.kill()  # SIGKILL: no goodbye, up to 50 messages delivered and not acknowledged
    stored_at_kill = len(_event_ids(tenant_a.label))
    assert publisher.is_alive(), "the stream must still be flowing when the consumer dies"
    second = consumers(source)
    broker.publish(source.queue, {**event("profile", user="player-0"), "type": "profile_update",
                                  "payload": {"user_email": PII}})  # fmt: skip
    publisher.join(TIMEOUT)
    assert publisher.error is None, publisher.error

    expected = sorted([f"m{i:04d}-{j}" for i in range(total) for j in range(3)] + ["profile"])
    wait_for(lambda: sorted(_event_ids(tenant_a.label)) == expected, "every event stored", TIMEOUT)
    assert second.terminate() == 0
    assert stored_at_kill < len(expected)

    ids = _event_ids(tenant_a.label)
    assert len(ids) == len(set(ids)) == len(expected)  # each once: nothing lost, nothing doubled
    assert _event_ids(tenant_b.label) == []
    assert broker.count(source.queue) == 0  # drained, every message acknowledged
    assert broker.count(source.dead_letter_queue) == 0  # redeliveries are duplicates, not errors
    logs = first.output() + second.output()
    assert "guest:guest" not in logs
    assert PII not in logs
    assert "event=stream_consuming" in second.output()


def test_sigterm_finishes_the_message_at_hand_and_acknowledges_nothing_uncommitted(tenant_a, broker, consumers):
    source = _source(tenant_a.label, broker, prefetch=50)
    total = 400
    consumer = consumers(source)
    publisher = Publisher(source.queue, total, per_second=200)
    publisher.start()
    wait_for(lambda: len(_event_ids(tenant_a.label)) >= 60, "the first events stored", TIMEOUT)

    assert consumer.terminate() == 0
    assert "event=stream_stopping" in consumer.output()
    assert "event=stream_supervisor_stopped" in consumer.output()
    publisher.join(TIMEOUT)
    assert publisher.error is None, publisher.error

    # Each message is either stored whole and acknowledged, or back on the queue untouched: never both, never half.
    ids = _event_ids(tenant_a.label)
    stored = {event_id.split("-")[0] for event_id in ids}
    assert len(ids) == 3 * len(stored)
    queued = [message.properties["message_id"] for message in broker.take_all(source.queue)]
    assert len(queued) == len(set(queued))
    assert stored.isdisjoint(queued)
    assert stored | set(queued) == {f"m{i:04d}" for i in range(total)}
    assert 0 < len(stored) < total


def test_the_command_refuses_an_unknown_source(db):
    with pytest.raises(CommandError, match="No stream source with id 987654"):
        call_command("stream_consume", "--source", "987654")
