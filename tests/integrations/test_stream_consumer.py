"""The stream consumer against the machine's real RabbitMQ and the test database, in this process (threads).

Each test uses queues of its own (other runs may share the broker) and deletes them. The consumer threads use their
own database connections, so these tests commit (transactional database).
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson
import pytest
from amqp.exceptions import NotFound
from django.db import connection, transaction
from kombu import Connection, Producer, Queue

from backoffice.models import Label
from crm.models import Event, EventSource
from integrations.models import StreamSource
from integrations.stream.config import SourceConfig
from integrations.stream.consumer import Backoff, SourceConsumer
from integrations.stream.supervisor import Supervisor
from tests.factories import BrandFactory

pytestmark = pytest.mark.django_db(transaction=True)

AMQP_URL = os.environ.get("PITBOSS_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
# Seconds a wait may take before the test fails: generous, since it bounds eventual delivery, not speed (on a loaded
# 2-core host the 800 events after a cut once took more than 30 s to be stored).
TIMEOUT = 120


# --- the broker, as the operator's side sees it ---------------------------------------------------------------------
class Broker:
    """Publishes and reads queues of its own on the real broker; `close` deletes them."""

    def __init__(self) -> None:
        self.connection = Connection(AMQP_URL, transport_options={"confirm_publish": True}, connect_timeout=5)
        try:
            self.connection.connect()
        except Exception as exc:
            pytest.fail(f"RabbitMQ does not answer at {AMQP_URL} (set PITBOSS_TEST_AMQP_URL): {exc}")
        self.channel = self.connection.channel()
        self.producer = Producer(self.channel)
        self.names: list[str] = []

    def queue(self, kind: str, *, declare: bool = True) -> str:
        name = f"pitboss-test-{kind}-{uuid.uuid4().hex[:12]}"
        self.names.append(name)
        if declare:
            Queue(name, durable=True, channel=self.channel).declare()
        return name

    def publish(self, queue: str, body: Any, **properties) -> None:
        """`body`: bytes as they are, anything else as JSON."""
        raw = body if isinstance(body, bytes) else orjson.dumps(body)
        properties.setdefault("content_type", "application/json")
        properties.setdefault("content_encoding", "binary")
        self.producer.publish(raw, exchange="", routing_key=queue, delivery_mode=2, **properties)

    def count(self, queue: str) -> int:
        """Messages ready in `queue` (not those delivered and still unacknowledged); 0 if it does not exist yet."""
        with self.connection.channel() as channel:
            try:
                return Queue(queue, channel=channel).queue_declare(passive=True).message_count
            except NotFound:
                return 0

    def take_all(self, queue: str) -> list:
        """Every message ready in `queue`, acknowledged."""
        taken = []
        while (message := Queue(queue, channel=self.channel).get(no_ack=True)) is not None:
            taken.append(message)
        return taken

    def close(self) -> None:
        for name in self.names:
            try:
                self.connection.channel().queue_delete(name)
            except Exception:  # noqa: S112 - a queue a test never declared
                continue
        self.connection.release()


@pytest.fixture
def broker() -> Iterator[Broker]:
    broker = Broker()
    try:
        yield broker
    finally:
        broker.close()


@pytest.fixture
def make_source(broker) -> Callable[..., StreamSource]:
    """A stream source of `label` on fresh queues (the dead-letter queue is left for the consumer to declare)."""

    def make(label: Label, **fields) -> StreamSource:
        fields.setdefault("name", f"stream {uuid.uuid4().hex[:6]}")
        fields.setdefault("queue", broker.queue("events"))
        fields.setdefault("dead_letter_queue", broker.queue("dead", declare=False))
        fields.setdefault("prefetch", 10)
        fields.setdefault("broker_url", AMQP_URL)
        return StreamSource.objects.create(label=label, **fields)

    return make


class CuttingProxy:
    """A TCP proxy in front of RabbitMQ whose open connections can be cut at once, as a network failure would."""

    def __init__(self) -> None:
        target = urlsplit(AMQP_URL)
        self.target = (target.hostname or "127.0.0.1", target.port or 5672)
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = urlunsplit(target._replace(netloc=f"{target.username}:{target.password}@127.0.0.1:{self.port}"))
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def port(self) -> int:
        return self.server.getsockname()[1]

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return  # closed
            upstream = socket.create_connection(self.target)
            with self.lock:
                self.sockets += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        with self.lock:
            cut, self.sockets = self.sockets, []
        for sock in cut:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self) -> None:
        self.server.close()
        self.cut()


@pytest.fixture
def proxy() -> Iterator[CuttingProxy]:
    proxy = CuttingProxy()
    try:
        yield proxy
    finally:
        proxy.close()


class Running:
    """A supervisor in a thread of this process, as `manage.py stream_consume` runs it."""

    def __init__(self, source_ids: list[int] | None) -> None:
        self.stop_event = threading.Event()
        supervisor = Supervisor(source_ids=source_ids, reload_seconds=0.2, backoff=Backoff(initial=0.2, maximum=1.0))
        self.thread = threading.Thread(target=supervisor.run, args=(self.stop_event,), daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(TIMEOUT)
        assert not self.thread.is_alive(), "the consumer did not stop"


@pytest.fixture
def consume(transactional_db) -> Iterator[Callable[..., Running]]:
    """Start consuming `sources` (all active ones if none are named); stopped at the end of the test."""
    started: list[Running] = []

    def start(*sources: StreamSource) -> Running:
        running = Running([s.pk for s in sources] or None)
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


def wait_for(condition: Callable[[], Any], what: str, timeout: float = TIMEOUT) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.05)
    pytest.fail(f"Not within {timeout} s: {what}")


def event(event_id: str, *, brand: str = "shared-brand", user: str = "player-1", **payload) -> dict:
    return {
        "event_id": event_id,
        "type": "deposit",
        "ext_brand_id": brand,
        "user_ext_id": user,
        "occurred_at": "2026-06-01T10:00:00.000Z",
        "payload": {"deposit_amount": 10, **payload},
    }


def stored(label: Label) -> list[str]:
    return sorted(Event.objects.filter(label=label).values_list("event_id", flat=True))


# --- valid messages -----------------------------------------------------------------------------------------------
def test_every_body_form_is_stored_for_the_sources_label_and_acknowledged(
    tenant_a, tenant_b, broker, make_source, consume
):
    source = make_source(tenant_a.label)
    broker.publish(source.queue, event("single"), message_id="m-1")
    broker.publish(source.queue, [event("array-1"), event("array-2", user="player-2")])
    broker.publish(source.queue, {"events": [event("wrapped-1"), event("wrapped-2")]})
    broker.publish(source.queue, [])  # nothing to store; acknowledged all the same

    running = consume(source)
    wait_for(lambda: len(stored(tenant_a.label)) == 5, "five events stored")
    running.stop()

    assert stored(tenant_a.label) == ["array-1", "array-2", "single", "wrapped-1", "wrapped-2"]
    # Label B has a brand and a player with the same external ids: none of it went there.
    assert stored(tenant_b.label) == []
    events = Event.objects.filter(label=tenant_a.label).select_related("player")
    assert {(e.source, e.player.label_id, e.player.brand_id) for e in events} == {
        (EventSource.STREAM, tenant_a.label.pk, tenant_a.brand.pk)
    }
    assert broker.count(source.queue) == 0  # all four acknowledged, none waiting for a redelivery
    assert broker.count(source.dead_letter_queue) == 0  # declared by the consumer, and empty
    source.refresh_from_db()
    assert (source.messages_read, source.events_accepted, source.messages_dead_lettered) == (4, 5, 0)
    assert source.last_message_at is not None
    assert source.last_error == ""


def test_each_source_writes_only_into_its_own_label(tenant_a, tenant_b, broker, make_source, consume):
    source_a, source_b = make_source(tenant_a.label), make_source(tenant_b.label)
    broker.publish(source_a.queue, event("from-a"))
    broker.publish(source_b.queue, event("from-b"))
    BrandFactory(label=tenant_b.label, ext_brand_id="only-in-b")
    broker.publish(source_a.queue, event("b-brand-on-a-queue", brand="only-in-b"))

    running = consume()  # every active source
    wait_for(lambda: stored(tenant_a.label) == ["from-a"] and stored(tenant_b.label) == ["from-b"], "both stored")
    wait_for(lambda: broker.count(source_a.dead_letter_queue) == 1, "the foreign brand dead-lettered")
    running.stop()

    # A's queue cannot reach label B, even naming a brand that only B has.
    assert stored(tenant_b.label) == ["from-b"]
    [dead] = broker.take_all(source_a.dead_letter_queue)
    assert orjson.loads(dead.body)["errors"][0]["errors"] == {"ext_brand_id": ["Unknown brand 'only-in-b'."]}


# --- what can never be ingested -------------------------------------------------------------------------------------
UNPARSEABLE = {
    "invalid_utf8": b'{"event_id": "\xff\xfe"}',
    "invalid_json": b'{"event_id": "x", ',
    "wrong_shape": b"42",
    "too_many_events": orjson.dumps([event(f"e{i}") for i in range(1001)]),
}


def test_an_unparseable_message_goes_to_the_dead_letter_queue_with_the_reason(tenant_a, broker, make_source, consume):
    source = make_source(tenant_a.label)
    for reason, body in UNPARSEABLE.items():
        broker.publish(source.queue, body, message_id=f"msg-{reason}", headers={"x-operator": reason})
    broker.publish(source.queue, {"events": {"not": "a list"}}, message_id="msg-events-not-a-list")
    broker.publish(source.queue, event("after-the-bad-ones"), message_id="msg-good")

    running = consume(source)
    wait_for(lambda: stored(tenant_a.label) == ["after-the-bad-ones"], "the good message stored")
    wait_for(lambda: broker.count(source.dead_letter_queue) == 5, "five dead letters")
    running.stop()

    assert broker.count(source.queue) == 0  # the originals were acknowledged once their copies were safe
    dead = {m.properties["message_id"]: m for m in broker.take_all(source.dead_letter_queue)}
    assert set(dead) == {f"msg-{reason}" for reason in UNPARSEABLE} | {"msg-events-not-a-list"}
    for reason, body in UNPARSEABLE.items():
        message = dead[f"msg-{reason}"]
        assert message.body == body  # byte for byte
        assert message.headers["x-pitboss-reason"] == reason
        assert message.headers["x-pitboss-detail"]
        assert message.headers["x-pitboss-source"] == source.pk
        assert message.headers["x-pitboss-label"] == tenant_a.label.pk
        assert message.headers["x-original-message-id"] == f"msg-{reason}"
        assert message.headers["x-original-routing-key"] == source.queue
        assert message.headers["x-operator"] == reason  # the original headers travel along
        assert message.properties["delivery_mode"] == 2
    assert dead["msg-events-not-a-list"].headers["x-pitboss-reason"] == "wrong_shape"
    source.refresh_from_db()
    assert (source.messages_read, source.events_accepted, source.messages_dead_lettered) == (6, 1, 5)


def test_a_partly_invalid_message_stores_the_valid_events_and_dead_letters_the_rest(
    tenant_a, broker, make_source, consume
):
    source = make_source(tenant_a.label)
    broker.publish(source.queue, event("taken", deposit_amount=5))
    broker.publish(source.queue, [event("seen-before")])
    body = [
        event("good-1"),
        {**event("no-amount"), "payload": {}},
        event("taken", deposit_amount=999),  # the id was stored with other content
        "not an object",
        event("good-2"),
    ]
    broker.publish(source.queue, body, message_id="mixed")

    running = consume(source)
    wait_for(lambda: broker.count(source.dead_letter_queue) == 1, "one dead letter")
    running.stop()

    assert stored(tenant_a.label) == ["good-1", "good-2", "seen-before", "taken"]
    assert Event.objects.get(label=tenant_a.label, event_id="taken").payload == {"deposit_amount": 5}
    assert broker.count(source.queue) == 0
    [dead] = broker.take_all(source.dead_letter_queue)
    assert dead.headers["x-pitboss-reason"] == "invalid_events"
    assert dead.headers["x-original-message-id"] == "mixed"
    assert dead.content_type == "application/json"
    content = orjson.loads(dead.body)
    assert content["events"] == [body[1], body[2], body[3]]  # as they were sent
    assert [(e["index"], e["event_id"], e["status"]) for e in content["errors"]] == [
        (1, "no-amount", "invalid"),
        (2, "taken", "conflict"),
        (3, None, "invalid"),
    ]
    assert content["errors"][0]["errors"] == {"payload.deposit_amount": ["This field is required."]}
    assert content["errors"][2]["errors"] == {"non_field_errors": ["An event must be a JSON object."]}
    source.refresh_from_db()
    assert (source.messages_read, source.events_accepted, source.messages_dead_lettered) == (3, 4, 1)


# --- failures between receive and acknowledgement ------------------------------------------------------------------
def test_a_message_redelivered_after_its_commit_is_stored_once(tenant_a, broker, make_source, consume):
    """The consumer dies after ingest committed and before the ack reached the broker: the broker redelivers."""
    source = make_source(tenant_a.label)
    broker.publish(source.queue, [event("once-1"), event("once-2")], message_id="twice")

    # What the consumer does with a message, up to the ack; then its connection drops without one.
    consumer = SourceConsumer(SourceConfig.of(source), stop=threading.Event())
    consumer.label = tenant_a.label
    with Connection(AMQP_URL) as dying, consumer.dead_letters:
        message = Queue(source.queue, channel=dying.channel()).get(no_ack=False)
        outcome = consumer.process(message)
    assert (outcome.accepted, outcome.dead_lettered) == (2, 0)
    assert stored(tenant_a.label) == ["once-1", "once-2"]
    assert broker.count(source.queue) == 1  # never acknowledged: back on the queue

    running = consume(source)
    wait_for(lambda: broker.count(source.queue) == 0, "the redelivery consumed")
    wait_for(lambda: StreamSource.objects.get(pk=source.pk).messages_read == 1, "the redelivery counted")
    running.stop()

    assert stored(tenant_a.label) == ["once-1", "once-2"]
    assert broker.count(source.queue) == 0
    assert broker.count(source.dead_letter_queue) == 0  # a duplicate is not an error
    source.refresh_from_db()
    assert (source.messages_read, source.events_accepted) == (1, 0)


def _backend_waiting_for_a_lock() -> int | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # in a transaction the view is read once, else
        cursor.execute(
            """SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()
               AND wait_event_type = 'Lock' AND query LIKE %s""",
            ["%INSERT INTO crm_event%"],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def test_a_database_failure_before_commit_leaves_the_message_on_the_broker(tenant_a, broker, make_source, consume):
    source = make_source(tenant_a.label)
    running = consume(source)
    with transaction.atomic():
        with connection.cursor() as cursor:  # the consumer's INSERT will wait behind this lock...
            cursor.execute("LOCK TABLE crm_event IN EXCLUSIVE MODE")
        broker.publish(source.queue, [event("survivor-1"), event("survivor-2")])
        pid = wait_for(_backend_waiting_for_a_lock, "the consumer waiting to insert")
        with connection.cursor() as cursor:  # ...and its database connection dies there, before any commit
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    wait_for(lambda: stored(tenant_a.label) == ["survivor-1", "survivor-2"], "stored after the reconnection")
    running.stop()

    assert broker.count(source.queue) == 0
    assert broker.count(source.dead_letter_queue) == 0
    source.refresh_from_db()
    assert source.last_error.startswith("OperationalError")
    assert source.last_error_at is not None
    assert (source.messages_read, source.events_accepted) == (1, 2)


def test_a_broken_broker_connection_is_reopened_and_nothing_is_lost_or_doubled(
    tenant_a, broker, make_source, consume, proxy
):
    source = make_source(tenant_a.label, broker_url=proxy.url, prefetch=20)
    expected = sorted(f"cut-{i:03d}-{j}" for i in range(400) for j in range(2))
    for i in range(400):
        broker.publish(source.queue, [event(f"cut-{i:03d}-0"), event(f"cut-{i:03d}-1")])

    running = consume(source)
    wait_for(lambda: len(stored(tenant_a.label)) >= 100, "the first events stored")
    proxy.cut()  # both of the consumer's connections drop, with up to 20 messages unacknowledged
    stored_at_cut = len(stored(tenant_a.label))
    wait_for(lambda: stored(tenant_a.label) == expected, "every event stored after the reconnection")
    wait_for(lambda: broker.count(source.queue) == 0, "the queue drained")
    running.stop()

    assert stored_at_cut < len(expected)
    assert broker.count(source.queue) == 0
    assert broker.count(source.dead_letter_queue) == 0
    source.refresh_from_db()
    assert source.last_error  # the broken connection, as the consumer saw it
    assert source.last_error_at is not None
    assert source.events_accepted == len(expected)


@pytest.fixture
def poisoned_ingest(transactional_db) -> Iterator[None]:
    """The database refuses every event whose id starts with poison- (a trigger: as a bug or bad data would)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """CREATE FUNCTION test_stream_poison() RETURNS trigger LANGUAGE plpgsql AS $$
               BEGIN
                 IF NEW.event_id LIKE 'poison-%' THEN
                   RAISE EXCEPTION 'refused by the test' USING ERRCODE = 'invalid_parameter_value';
                 END IF;
                 RETURN NEW;
               END $$;
               CREATE TRIGGER test_stream_poison BEFORE INSERT ON crm_event
               FOR EACH ROW EXECUTE FUNCTION test_stream_poison();"""
        )
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(
                "DROP TRIGGER IF EXISTS test_stream_poison ON crm_event; DROP FUNCTION IF EXISTS test_stream_poison();"
            )


def test_a_message_that_ingest_keeps_failing_on_is_set_aside_and_the_queue_moves_on(
    tenant_a, broker, make_source, poisoned_ingest, consume
):
    source = make_source(tenant_a.label)
    broker.publish(source.queue, [event("poison-1"), event("innocent-bystander")], message_id="poison")
    broker.publish(source.queue, event("next-in-line"), message_id="next")

    running = consume(source)
    wait_for(lambda: stored(tenant_a.label) == ["next-in-line"], "the next message stored")
    wait_for(lambda: broker.count(source.dead_letter_queue) == 1, "the poison set aside")
    running.stop()

    [dead] = broker.take_all(source.dead_letter_queue)
    assert dead.headers["x-pitboss-reason"] == "ingest_failed"
    assert dead.headers["x-pitboss-detail"] == "Storing the events failed 3 times: DataError."
    assert orjson.loads(dead.body) == [event("poison-1"), event("innocent-bystander")]
    assert broker.count(source.queue) == 0
    source.refresh_from_db()
    assert source.last_error == "DataError while storing events"  # never the database's words about the data


# --- the list of sources ----------------------------------------------------------------------------------------------
def test_sources_are_picked_up_changed_and_dropped_without_a_restart(tenant_a, broker, make_source, consume):
    running = consume()  # every active source: none yet
    source = make_source(tenant_a.label)
    broker.publish(source.queue, event("new-source"))
    wait_for(lambda: stored(tenant_a.label) == ["new-source"], "a source added while running consumed")

    StreamSource.objects.filter(pk=source.pk).update(is_active=False)
    time.sleep(0.6)  # past a reload: the consumer is gone
    broker.publish(source.queue, event("while-inactive"))
    time.sleep(1.0)
    assert stored(tenant_a.label) == ["new-source"]
    assert broker.count(source.queue) == 1

    moved = broker.queue("moved")
    StreamSource.objects.filter(pk=source.pk).update(is_active=True, queue=moved)
    broker.publish(moved, event("on-the-new-queue"))
    wait_for(lambda: "on-the-new-queue" in stored(tenant_a.label), "the changed queue consumed")
    assert broker.count(source.queue) == 1  # the old queue is no longer read

    Label.objects.filter(pk=tenant_a.label.pk).update(is_active=False)
    time.sleep(0.6)
    broker.publish(moved, event("label-inactive"))
    time.sleep(1.0)
    running.stop()
    assert "label-inactive" not in stored(tenant_a.label)
    assert broker.count(moved) == 1


def test_a_missing_queue_is_reported_on_the_source(tenant_a, broker, make_source, consume):
    source = make_source(tenant_a.label, queue=broker.queue("never-declared", declare=False))
    running = consume(source)
    wait_for(lambda: StreamSource.objects.get(pk=source.pk).last_error, "the error recorded")
    running.stop()
    source.refresh_from_db()
    assert source.last_error.startswith("NotFound")
    assert source.queue in source.last_error
    assert "guest" not in source.last_error


def test_a_refused_login_is_reported_without_the_password(tenant_a, broker, make_source, consume):
    parts = urlsplit(AMQP_URL)
    wrong = urlunsplit(parts._replace(netloc=f"{parts.username}:Wr0ng-pa55word@{parts.hostname}:{parts.port or 5672}"))
    source = make_source(tenant_a.label, broker_url=wrong)
    running = consume(source)
    wait_for(lambda: StreamSource.objects.get(pk=source.pk).last_error, "the error recorded")
    running.stop()
    source.refresh_from_db()
    assert source.last_error.startswith("AccessRefused")
    assert "Wr0ng-pa55word" not in source.last_error
