"""What a stream message may hold, and what the consumer says about failures (no broker, no database)."""

from __future__ import annotations

import orjson
import pytest
from django.db import DataError, OperationalError

from integrations.stream.config import safe_broker_url
from integrations.stream.consumer import describe
from integrations.stream.parse import Unparseable, parse_body

LIMIT = 1024 * 1024
EVENT = {"event_id": "e1", "type": "login", "ext_brand_id": "b", "user_ext_id": "u", "occurred_at": 1}


@pytest.mark.parametrize(
    ("body", "items"),
    [
        (orjson.dumps(EVENT), [EVENT]),
        (orjson.dumps([EVENT, EVENT]), [EVENT, EVENT]),
        (orjson.dumps({"events": [EVENT]}), [EVENT]),
        (b"[]", []),
        # Not exactly {"events": ...}: a single event (ingest then names its unknown fields), as the REST API does.
        (orjson.dumps({"events": [EVENT], "extra": 1}), [{"events": [EVENT], "extra": 1}]),
        (b'[1, "two"]', [1, "two"]),  # items are ingest's to judge, one by one
    ],
)
def test_the_three_body_forms_of_the_rest_api(body, items):
    assert parse_body(body, max_bytes=LIMIT) == items


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"\xc3\x28", "invalid_utf8"),
        (b"", "invalid_json"),
        (b"{'single': 'quotes'}", "invalid_json"),
        (b"\xef\xbb\xbf[]", "invalid_json"),  # a BOM is not JSON
        (b"null", "wrong_shape"),
        (b'"a string"', "wrong_shape"),
        (b'{"events": {"event_id": "e1"}}', "wrong_shape"),
        (orjson.dumps([EVENT] * 1001), "too_many_events"),
        (b" " * (LIMIT + 1), "too_large"),
    ],
)
def test_what_can_never_be_parsed_is_named(body, reason):
    with pytest.raises(Unparseable) as caught:
        parse_body(body, max_bytes=LIMIT)
    assert caught.value.reason == reason
    assert caught.value.detail


def test_a_reason_never_quotes_the_body():
    secret = b'{"user_email": "someone@example.com", '
    with pytest.raises(Unparseable) as caught:
        parse_body(secret, max_bytes=LIMIT)
    assert "someone" not in str(caught.value)


def test_exactly_a_thousand_events_are_accepted():
    assert len(parse_body(orjson.dumps([EVENT] * 1000), max_bytes=LIMIT)) == 1000


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("amqp://user:pa55@rabbit.example:5672/casino", "amqp://rabbit.example:5672/casino"),
        ("amqps://user:pa55@rabbit.example/", "amqps://rabbit.example/"),
        ("amqp://user:pa55@[::1]:5672//", "amqp://[::1]:5672//"),
        ("amqp://user:pa55@host:notaport/", "(malformed URL)"),
    ],
)
def test_a_broker_url_is_shown_without_its_credentials(url, shown):
    assert safe_broker_url(url) == shown


def test_a_failure_is_described_without_the_databases_words_about_the_data():
    assert describe(DataError('invalid input syntax: "someone@example.com"')) == "DataError while storing events"
    assert describe(OperationalError("server closed the connection\nmore")) == (
        "OperationalError: server closed the connection"
    )
