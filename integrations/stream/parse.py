"""What a stream message may hold: one event object, a JSON array of events, or {"events": [...]}, as the REST API.

A body that breaks these rules can never be ingested, however often it is redelivered: `parse_body` names the
reason, and the consumer dead-letters the message with it.
"""

from __future__ import annotations

from typing import Any

import orjson

from crm.services.ingest import MAX_BATCH

TOO_LARGE, INVALID_UTF8, INVALID_JSON, WRONG_SHAPE, TOO_MANY_EVENTS = (
    "too_large",
    "invalid_utf8",
    "invalid_json",
    "wrong_shape",
    "too_many_events",
)


class Unparseable(Exception):
    """A body that can never be parsed: `reason` is a stable code, `detail` a sentence without the body's content."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def parse_body(body: bytes, *, max_bytes: int) -> list[Any]:
    """The events of a message body (each still to be validated by ingest), or `Unparseable`."""
    if len(body) > max_bytes:
        raise Unparseable(TOO_LARGE, f"The body has {len(body)} bytes; at most {max_bytes} are read.")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Unparseable(INVALID_UTF8, f"The body is not UTF-8 (byte {exc.start}).") from None
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        # orjson's message gives a position, never the document.
        raise Unparseable(INVALID_JSON, f"The body is not JSON: {exc}") from None
    if isinstance(data, list):
        items = data
    elif isinstance(data, dict) and set(data) == {"events"}:
        if not isinstance(data["events"], list):
            raise Unparseable(WRONG_SHAPE, '"events" must be a list of events.')
        items = data["events"]
    elif isinstance(data, dict):
        items = [data]
    else:
        raise Unparseable(WRONG_SHAPE, 'The body must be an event, a list of events or {"events": [...]}.')
    if len(items) > MAX_BATCH:
        raise Unparseable(TOO_MANY_EVENTS, f"At most {MAX_BATCH} events per message; got {len(items)}.")
    return items
