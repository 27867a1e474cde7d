"""Times are loaded by psycopg's C loader on Django's connections (backoffice.db.times_loaded_in_c), with exactly
what Django's own loader gives."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import DataError, connection
from django.db.backends.postgresql.psycopg_any import register_tzloader
from psycopg.pq import Format

from backoffice.db import _TIMESTAMPTZ_OID, _UtcTimestamptzLoader
from crm.models import Player

pytestmark = pytest.mark.django_db

# Around the calendar's ends, leap days, DST changes elsewhere, every precision of the fraction, offsets in the input.
TIMES = [
    "0001-01-01 00:00:00+00",
    "1969-12-31 23:59:59.999999+00",
    "1970-01-01 00:00:00+00",
    "2024-02-29 12:00:00.5+00",
    "2026-03-29 01:00:00+01",  # Europe/Malta's spring change
    "2026-10-25 02:30:00.123+02",
    "2026-12-05 21:12:38.000001+00",
    "2026-12-05 21:12:38.12345-05:30",
    "9999-12-31 23:59:59.999999+00",
]


def _load(sql: str, djangos: bool, params: list | None = None) -> list:
    with connection.cursor() as cursor:
        if djangos:
            register_tzloader(connection.timezone, cursor.cursor)  # what Django registers without this module
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()]


def test_django_connections_load_times_with_the_fast_loader():
    connection.ensure_connection()
    assert connection.timezone_name == "UTC"
    assert connection.connection.adapters.get_loader(_TIMESTAMPTZ_OID, Format.TEXT) is _UtcTimestamptzLoader


def test_the_values_are_djangos_to_the_microsecond():
    sql = "SELECT t::timestamptz FROM unnest(%s::text[]) AS t"
    fast, django = _load(sql, djangos=False, params=[TIMES]), _load(sql, djangos=True, params=[TIMES])
    assert fast == django
    assert [t.tzinfo for t in fast] == [dt.UTC] * len(TIMES)
    assert fast[7] == dt.datetime(2026, 12, 6, 2, 42, 38, 123450, tzinfo=dt.UTC)
    assert _load("SELECT NULL::timestamptz", djangos=False) == [None]


@pytest.mark.parametrize("value", ["infinity", "-infinity"])
def test_infinite_times_are_refused_as_django_refuses_them(value):
    for djangos in (False, True):
        with pytest.raises(DataError):
            _load(f"SELECT '{value}'::timestamptz", djangos=djangos)


def test_the_orm_reads_aware_utc_times(tenant_a):
    at = dt.datetime(2026, 5, 1, 12, 30, 0, 250, tzinfo=dt.UTC)
    Player.objects.filter(pk=tenant_a.player.pk).update(core_registration_date=at)
    loaded = Player.objects.values_list("core_registration_date", flat=True).get(pk=tenant_a.player.pk)
    assert loaded == at
    assert loaded.tzinfo is dt.UTC
