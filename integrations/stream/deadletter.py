"""A source's dead-letter queue: where what can never be ingested goes, with the reason in its headers.

It is published to on a connection of its own, with publisher confirms: `publish` returns only once the broker has
taken the copy, so the consumer acknowledges the original after that and a crash in between loses nothing (the
original is redelivered and dead-lettered again). Its own connection also keeps the wait for a confirm from
dispatching the consumer's next deliveries in the middle of the current one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import orjson
import structlog
from amqp.exceptions import NotFound
from kombu import Connection, Producer, Queue
from kombu.message import Message

from crm.services.ingest import CONFLICT, ItemResult
from integrations.stream.config import SourceConfig

log = structlog.get_logger(__name__)

CONNECT_TIMEOUT = 10  # seconds
CONFIRM_TIMEOUT = 30  # seconds the broker may take to confirm a copy
INVALID_EVENTS = "invalid_events"
CONFLICT_MESSAGE = "An event with this type and event_id was stored before with other content."


class DeadLetterQueue:
    """Publishes dead letters of one source. Use as a context manager: it opens and closes its connection."""

    def __init__(self, config: SourceConfig) -> None:
        self.config = config
        self.connection: Connection | None = None
        self.producer: Producer | None = None

    def __enter__(self) -> DeadLetterQueue:
        self.connection = Connection(
            self.config.broker_url, connect_timeout=CONNECT_TIMEOUT, transport_options={"confirm_publish": True}
        )
        try:
            self.connection.connect()
            _ensure_queue(self.connection, self.config.dead_letter_queue)
            self.producer = Producer(self.connection.channel())
        except BaseException:
            self.connection.release()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        if self.connection is not None:
            self.connection.release()
        self.connection = self.producer = None

    def send_message(self, message: Message, body: bytes, *, reason: str, detail: str) -> None:
        """A copy of the whole message, body and headers as received, with why it was set aside."""
        headers = dict(message.headers or {})
        if "compression" in headers and not message.errors:
            del headers["compression"]  # kombu already decompressed the body we hold
        self._publish(
            body,
            content_type=message.content_type or "application/octet-stream",
            content_encoding=message.content_encoding,
            headers={**headers, **self._headers(message, reason, detail)},
            message=message,
        )
        log.warning("stream_dead_lettered", **self._log_fields(message), reason=reason)

    def send_items(self, message: Message, items: Sequence[Any], rejected: Sequence[ItemResult]) -> None:
        """The events of a message that ingest refused, in one JSON message: `events` as sent, with their `errors`."""
        body = orjson.dumps(
            {
                "events": [items[result.index] for result in rejected],
                "errors": [
                    {
                        "index": result.index,
                        "event_id": result.event_id,
                        "status": result.status,
                        "errors": result.errors or _conflict_errors(result),
                    }
                    for result in rejected
                ],
            }
        )
        detail = f"{len(rejected)} of {len(items)} events refused; see the body's errors."
        self._publish(
            body, content_type="application/json", content_encoding="utf-8",
            headers=self._headers(message, INVALID_EVENTS, detail), message=message,
        )  # fmt: skip
        log.warning("stream_events_dead_lettered", **self._log_fields(message), events=len(rejected))

    def _publish(self, body: bytes, *, content_type: str, content_encoding: str | None, headers: dict, message) -> None:
        if self.producer is None:
            raise RuntimeError("The dead-letter queue is not open.")
        properties = {"message_id": message.properties["message_id"]} if message.properties.get("message_id") else {}
        self.producer.publish(
            body,
            exchange="",
            routing_key=self.config.dead_letter_queue,
            mandatory=True,  # a missing queue raises instead of dropping the copy
            delivery_mode=2,
            content_type=content_type,
            content_encoding=content_encoding,
            headers=headers,
            confirm_timeout=CONFIRM_TIMEOUT,
            **properties,
        )

    def _headers(self, message: Message, reason: str, detail: str) -> dict[str, Any]:
        info = message.delivery_info or {}
        headers = {
            "x-pitboss-reason": reason,
            "x-pitboss-detail": detail[:1000],
            "x-pitboss-source": self.config.id,
            "x-pitboss-source-name": self.config.name,
            "x-pitboss-label": self.config.label_id,
            "x-pitboss-queue": self.config.queue,
            "x-pitboss-dead-lettered-at": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
            "x-original-exchange": info.get("exchange") or "",
            "x-original-routing-key": info.get("routing_key") or "",
        }
        if message.properties.get("message_id"):
            headers["x-original-message-id"] = str(message.properties["message_id"])
        return headers

    def _log_fields(self, message: Message) -> dict[str, Any]:
        return {"source_id": self.config.id, "message_id": message.properties.get("message_id")}


def _conflict_errors(result: ItemResult) -> dict[str, list[str]]:
    return {"event_id": [CONFLICT_MESSAGE]} if result.status == CONFLICT else {}


def _ensure_queue(connection: Connection, name: str) -> None:
    """Declare the dead-letter queue (durable) unless it exists: an existing one is used as it is."""
    channel = connection.channel()
    try:
        Queue(name, channel=channel).queue_declare(passive=True)
    except NotFound:  # the broker closed that channel
        channel = connection.channel()
        Queue(name, durable=True, auto_delete=False, channel=channel).declare()
        log.info("stream_dead_letter_queue_declared", queue=name)
    finally:
        channel.close()
