"""No item crashes event validation or its batch: arbitrary JSON (and the Python values the stream consumer and the
replica sync can hand over) fed to `clean_event` and to `events_ingest` on the real database always gets one result per
item, with a known status, and field errors that can be answered as JSON."""

from __future__ import annotations

import datetime as dt

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm.catalogue import CORE_TYPE_NAMES, CORE_TYPES, clean_event, custom_spec
from crm.models import EventType
from crm.services.ingest import ACCEPTED, CONFLICT, DUPLICATE, INVALID, events_ingest
from crm.validators import PROFILE_FIELDS

pytestmark = pytest.mark.django_db

CUSTOM_FIELDS = [
    {"name": "tournament_id", "type": "integer", "required": True},
    {"name": "title", "type": "string"},
    {"name": "prize", "type": "number"},
    {"name": "is_vip", "type": "boolean"},
    {"name": "starts_at", "type": "timestamp"},
]
# Characters that broke or could break a batch: lone surrogates, NUL, controls, bidi and zero-width ones, a combining
# accent (NFC), a non-breaking space.
ODD_CHARACTERS = [
    "\ud800",
    "\udfff",
    "\x00",
    "\t",
    "\n",
    "\x85",
    "\u202e",
    "\u2066",
    "\u200b",
    "\ufeff",
    "\u0301",
    "\xa0",
]

texts = st.text(st.characters() | st.sampled_from(ODD_CHARACTERS), max_size=12)
# Ints past 64 bits, and past the 4,300 digits str() and repr() accept (built lazily: hypothesis reprs its strategies).
integers = (
    st.integers()
    | st.sampled_from([2**63 - 1, 2**63, -(2**63) - 1, 2**64, 10**400])
    | st.integers(4400, 5000).map(lambda digits: -(10**digits))
)
floats = st.floats() | st.sampled_from([1e308, -1e308, 5e-324, -0.0, float("nan"), float("inf")])
scalars = st.none() | st.booleans() | integers | floats | texts
keys = texts | st.integers(-3, 3)  # JSON keys are text; Python callers may pass others
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4),
    max_leaves=12,
)


def _nested(levels: int, leaf: object) -> object:
    value = leaf
    for level in range(levels):
        value = {"custom": value} if level % 2 else [value]
    return value


deep_values = st.builds(_nested, st.integers(1, 600), scalars)
field_names = sorted({*PROFILE_FIELDS, *(n for s in CORE_TYPES.values() for n in (*s.required, *s.optional))})
payloads = (
    st.dictionaries(
        st.sampled_from([*field_names, "tournament_id", "title"]) | keys, json_values | deep_values, max_size=6
    )
    | json_values
)
offsets = st.builds(
    dt.timezone,
    st.timedeltas(min_value=-dt.timedelta(hours=23, minutes=59), max_value=dt.timedelta(hours=23, minutes=59)),
)
timestamps = (
    st.datetimes(timezones=offsets | st.none()).map(dt.datetime.isoformat)
    | st.sampled_from(["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00", "2026-01-10T12:00:00Z", "yesterday"])
    | integers
    | floats
    | json_values
)
ids = st.sampled_from(["e-1", "e-2", "caf\u00e9", "cafe\u0301", "shared-player"]) | texts | integers | json_values
envelopes = st.fixed_dictionaries(
    {
        "event_id": ids,
        "type": st.sampled_from([*sorted(CORE_TYPE_NAMES), "tournament_opened", "jackpot"]) | json_values,
        "ext_brand_id": st.sampled_from(["shared-brand", "shared-brand", "nope"]) | ids,
        "user_ext_id": ids,
        "occurred_at": timestamps,
        "payload": payloads,
    },
    optional={"amount": json_values, "\ud800": json_values},
)
items = envelopes | json_values | deep_values  # fmt: skip

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _answerable(errors: dict) -> None:
    """Field names are text, each with at least one message, and the whole can be rendered as a JSON response."""
    assert errors
    assert all(isinstance(name, str) and messages for name, messages in errors.items())
    assert all(isinstance(message, str) for messages in errors.values() for message in messages)
    orjson.dumps(errors)


@FUZZ
@given(item=items)
def test_clean_event_answers_every_value_with_an_event_or_field_errors(item):
    specs = {"tournament_opened": custom_spec(CUSTOM_FIELDS)}

    event, errors = clean_event(item, specs, dt.datetime.now(dt.UTC))

    if event is None:
        _answerable(errors)
    else:
        assert errors == {}
        orjson.dumps([event.event_id, event.type, event.ext_brand_id, event.user_ext_id, event.payload])


@settings(FUZZ, max_examples=150)
@given(batch=st.lists(items, min_size=1, max_size=6), source=st.sampled_from(["api", "stream", "system"]))
def test_ingest_answers_every_item_of_any_batch(tenant_a, batch, source):
    EventType.objects.get_or_create(label=tenant_a.label, name="tournament_opened", defaults={"fields": CUSTOM_FIELDS})

    result = events_ingest(label=tenant_a.label, items=batch, source=source)

    assert [item.index for item in result.items] == list(range(len(batch)))
    for item in result.items:
        assert item.status in {ACCEPTED, DUPLICATE, CONFLICT, INVALID}
        if item.status == INVALID:
            _answerable(item.errors)
        orjson.dumps(item.as_dict())
    assert len(result.new_ids) == result.counts()[ACCEPTED]
