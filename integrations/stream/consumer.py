"""One stream source's consumer: its queue's messages become events of its label, acknowledged after commit.

For each message, in this order: parse the body; ingest its events for the source's label (committed in ingest's
own transaction); dead-letter what can never be ingested, with publisher confirms; then acknowledge. A crash at any
point before the ack leaves the message on the broker, which redelivers it: events already committed come back as
duplicates of themselves, which ingest stores no second time.

When the database is away, or the dead-letter queue, the message is put back on the queue, the connection is closed
(every prefetched message goes back too) and the consumer reconnects after a backoff. A message on which ingest fails
for another reason (a bug, a value the database refuses) gets the same treatment twice, then is dead-lettered.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import traceback
from dataclasses import dataclass

import structlog
from amqp.exceptions import AMQPError
from django import db
from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone
from kombu import Connection, Consumer, Queue
from kombu.exceptions import OperationalError as BrokerError
from kombu.message import Message

from backoffice.db import TRANSIENT_DB_ERRORS
from backoffice.models import Label
from crm.models import EventSource
from crm.services.ingest import ACCEPTED, CONFLICT, DUPLICATE, INVALID, events_ingest
from integrations.stream.config import SourceConfig
from integrations.stream.deadletter import DeadLetterQueue
from integrations.stream.parse import Unparseable, parse_body
from integrations.stream.status import StatusBuffer

log = structlog.get_logger(__name__)

CONNECT_TIMEOUT = 10  # seconds
HEARTBEAT = 60  # seconds; the broker drops a consumer silent for two of them
POLL = 1.0  # seconds a consumer waits for a message before it looks at its stop flag
INGEST_ATTEMPTS = 3  # a message on which ingest fails this often (not for the database being away) is set aside
INGEST_FAILED, UNDECODABLE = "ingest_failed", "undecodable"


@dataclass(frozen=True)
class Backoff:
    """Seconds between reconnections: doubling from `initial` up to `maximum`, back to `initial` after progress."""

    initial: float = 1.0
    maximum: float = 30.0


@dataclass
class Outcome:
    """What one message did, for the log line about it."""

    events: int = 0
    accepted: int = 0
    duplicate: int = 0
    dead_lettered: int = 0


DEFAULT_BACKOFF = Backoff()


class Retry(Exception):
    """The message cannot be handled now: put it back on the queue and reconnect later."""


class SourceConsumer:
    """Consumes one source until `stop` is set, reconnecting with backoff after broker or database trouble."""

    def __init__(self, config: SourceConfig, *, stop: threading.Event, backoff: Backoff = DEFAULT_BACKOFF) -> None:
        self.config = config
        self.stop = stop
        self.backoff = backoff
        self.status = StatusBuffer(config.id)
        self.dead_letters = DeadLetterQueue(config)
        self.label: Label | None = None
        self._retry: Exception | None = None  # set while a message waits for a reconnection
        self._progress = False
        self._failures: dict[str, int] = {}  # body digest -> failed ingest attempts

    # --- the loop ------------------------------------------------------------------------------------------------
    def run(self) -> None:
        """Consume until stopped. Never raises: every failure is logged, recorded on the source, and waited out."""
        delay = self.backoff.initial
        log.info("stream_consumer_started", source_id=self.config.id, broker=self.config.broker)
        try:
            while not self.stop.is_set():
                failure = self._session()
                if failure is None:
                    break
                self._record_failure(failure)
                delay = self.backoff.initial if self._progress else min(delay * 2, self.backoff.maximum)
                self.stop.wait(delay)
        finally:
            self.status.flush()
            db.connection.close()  # this thread's connection; nothing else would close it
            log.info("stream_consumer_stopped", source_id=self.config.id)

    def _session(self) -> Exception | None:
        """One connection's life: None when stopped, else why it ended."""
        self._retry, self._progress = None, False
        try:
            self.label = Label.objects.get(pk=self.config.label_id)
            with self._connection() as connection, self.dead_letters:
                channel = connection.channel()
                queue = Queue(self.config.queue, channel=channel, no_declare=True)
                queue.queue_declare(passive=True)  # a missing queue is an error to show, not one to create
                consumer = Consumer(channel, queues=[queue], on_message=self._on_message, no_ack=False)
                consumer.qos(prefetch_count=self.config.prefetch)
                consumer.consume()
                log.info("stream_consuming", source_id=self.config.id, queue=self.config.queue)
                while not self.stop.is_set() and self._retry is None:
                    self._drain(connection)
                    if self.status.due():
                        self.status.flush()
                # Leaving closes the connection without an ack: the broker requeues what it had sent us.
        except Exception as exc:  # broker, network or database trouble, or a bug: reconnect after a backoff
            return exc
        finally:
            db.close_old_connections()
        return self._retry

    def _connection(self) -> Connection:
        connection = Connection(self.config.broker_url, heartbeat=HEARTBEAT, connect_timeout=CONNECT_TIMEOUT)
        try:
            connection.connect()
        except BaseException:
            connection.release()
            raise
        return connection

    @staticmethod
    def _drain(connection: Connection) -> None:
        with contextlib.suppress(TimeoutError):  # no message within POLL
            connection.drain_events(timeout=POLL)
        connection.heartbeat_check()

    # --- one message ---------------------------------------------------------------------------------------------
    def _on_message(self, message: Message) -> None:
        if self.stop.is_set() or self._retry is not None:
            message.requeue()  # a delivery that arrived while stopping or backing off: not handled now
            return
        try:
            outcome = self.process(message)
        except Retry as exc:
            message.requeue()
            self._retry = exc
            return
        message.ack()
        self._progress = True
        self.status.message_read(at=timezone.now())
        log.debug(
            "stream_message",
            source_id=self.config.id,
            message_id=message.properties.get("message_id"),
            events=outcome.events,
            accepted=outcome.accepted,
            duplicate=outcome.duplicate,
            dead_lettered=outcome.dead_lettered,
        )

    def process(self, message: Message) -> Outcome:
        """Ingest one message's events and dead-letter what can never be ingested; the caller acknowledges.

        Raises `Retry` when the message must stay on the broker (the database or the dead-letter queue is away).
        """
        body = _raw_body(message)
        try:
            if message.errors:  # kombu could not decompress it (a `compression` header)
                raise Unparseable(UNDECODABLE, "The body could not be decompressed.")
            items = parse_body(body, max_bytes=settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
        except Unparseable as exc:
            self._dead_letter(message, body, exc.reason, exc.detail)
            return Outcome(dead_lettered=1)
        result = self._ingest(message, body, items)
        if result is None:
            return Outcome(dead_lettered=1)
        counts = result.counts()
        self.status.events_stored(counts[ACCEPTED])
        refused = [item for item in result.items if item.status in (INVALID, CONFLICT)]
        if refused:
            try:
                self.dead_letters.send_items(message, items, refused)
            except Exception as exc:
                raise Retry(exc) from exc  # committed already: the redelivery finds duplicates, refuses the rest again
            self.status.dead_lettered_one()
        self._failures.pop(_digest(body), None)
        return Outcome(len(items), counts[ACCEPTED], counts[DUPLICATE], int(bool(refused)))

    def _ingest(self, message: Message, body: bytes, items: list):
        """The ingest result, or None when the message was set aside after failing too often."""
        db.close_old_connections()
        try:
            return events_ingest(label=self.label, items=items, source=EventSource.STREAM)
        except TRANSIENT_DB_ERRORS as exc:  # the database is away: nothing was committed
            db.connection.close()
            raise Retry(exc) from exc
        except Exception as exc:
            key = _digest(body)
            attempts = self._failures.get(key, 0) + 1
            log.error("stream_ingest_failed", source_id=self.config.id, attempt=attempts, error=type(exc).__name__)
            if attempts < INGEST_ATTEMPTS:
                if len(self._failures) > 1000:  # a bound on memory; forgetting only means more attempts
                    self._failures.clear()
                self._failures[key] = attempts
                raise Retry(exc) from exc
            self._failures.pop(key, None)
            detail = f"Storing the events failed {attempts} times: {type(exc).__name__}."
            self._dead_letter(message, body, INGEST_FAILED, detail)
            return None

    def _dead_letter(self, message: Message, body: bytes, reason: str, detail: str) -> None:
        try:
            self.dead_letters.send_message(message, body, reason=reason, detail=detail)
        except Exception as exc:
            raise Retry(exc) from exc
        self.status.dead_lettered_one()

    def _record_failure(self, exc: Exception) -> None:
        cause = exc.__cause__ if isinstance(exc, Retry) and exc.__cause__ is not None else exc
        text = describe(cause)
        if _expected(cause):
            log.warning("stream_consumer_error", source_id=self.config.id, error=text)
        else:  # where it happened, not the traceback: an exception's message may quote the data
            log.error("stream_consumer_error", source_id=self.config.id, error=text, at=_where(cause))
        self.status.error(text, at=timezone.now())
        self.status.flush()


def describe(exc: BaseException) -> str:
    """A short account of a failure for the admin and the logs: never a value from the data, never a password."""
    if isinstance(exc, DatabaseError) and not isinstance(exc, TRANSIENT_DB_ERRORS):
        return f"{type(exc).__name__} while storing events"  # its message may quote a value of the message
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:500] if text else type(exc).__name__


def _expected(exc: BaseException) -> bool:
    """Broker and network trouble, the database being away: logged without a traceback."""
    return isinstance(exc, (OSError, AMQPError, BrokerError, *TRANSIENT_DB_ERRORS))


def _where(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    return f"{frames[-1].filename}:{frames[-1].lineno}" if frames else ""


def _raw_body(message: Message) -> bytes:
    # py-amqp decodes a body whose content_encoding names a codec; encoding it back gives the bytes that were sent.
    body = message.body
    if isinstance(body, str):
        return body.encode(message.content_encoding or "utf-8")
    return bytes(body or b"")


def _digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()
