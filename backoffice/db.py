"""Database errors that a retry can cure, for tasks, pipeline workers and consumers that retry with backoff;
statements run prepared on Django's connection; times loaded by psycopg's C loader."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import psycopg
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connections
from django.db.backends.postgresql.psycopg_any import BaseTzLoader
from django.db.backends.signals import connection_created
from django.db.backends.utils import CursorDebugWrapper
from django.dispatch import receiver
from psycopg.pq import Format

# The server went away, a connection broke, a statement was cancelled by a timeout: nothing was committed, so the same
# work can run again. Integrity and programming errors are not here: retrying them fails the same way.
TRANSIENT_DB_ERRORS: tuple[type[Exception], ...] = (OperationalError, InterfaceError)


def array_literal(values: Iterable[object]) -> str:
    """A PostgreSQL array literal of numbers (or ISO datetimes), to be cast in SQL (`= ANY(%s::bigint[])`).

    Django binds parameters on the client, and psycopg quotes a list element by element: for the thousand ids of a
    pipeline page that is several times the cost of joining them here. Numbers and ISO datetimes need no quoting
    inside the braces; anything else must not be passed."""
    return "{" + ",".join(map(str, values)) + "}"


def prepared_fetchall(sql: str, params: Any) -> list[tuple]:
    """Run a hot statement prepared on this connection (server-side parameters) and return its rows: PostgreSQL
    parses and plans it once per connection, then reuses the plan. For statements whose text is the same at every
    call and whose planning costs more than their run (the pixel's INSERT, segments' live checks).

    Django's own cursors bind client-side and cannot prepare; this one shares their connection and transaction, and
    keeps what Django's cursor wrapper guarantees: database errors raised as Django's, no statement inside a broken
    atomic block, the query log when queries are logged, and `connection.execute_wrapper` hooks. With neither a log
    nor a hook it skips the wrapper itself, which costs about 15 µs of CPU a call (its per-call error wrappers), a
    share of the pixel's whole request that shows in bench/pixel.py. Off with DATABASE_PREPARED_STATEMENTS=false (the
    connection's `prepare_threshold` is then None: psycopg prepares nothing and this runs as a plain server-binding
    statement)."""
    db = connections[DEFAULT_DB_ALIAS]  # `connection` looks the thread's connection up again at every attribute
    db.ensure_connection()
    if db.queries_logged or db.execute_wrappers:
        raw: Any = _PreparingCursor(db.connection)  # Django's wrappers take a DB-API cursor (stubs say otherwise)
        wrapped = _PreparedDebugWrapper(raw, db) if db.queries_logged else db.make_cursor(raw)
        with wrapped as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()
    db.validate_no_broken_transaction()
    with db.wrap_database_errors, _PreparingCursor(db.connection) as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


class _PreparedDebugWrapper(CursorDebugWrapper):
    """Django's query log for a prepared statement: psycopg keeps no text of a statement it runs by name (Django's
    `last_executed_query` would log None), so the log shows the statement with its parameters composed in."""

    def execute(self, sql, params=None):
        with self.debug_sql(self.db.ops.compose_sql(sql, params), use_last_executed_query=False):
            return super(CursorDebugWrapper, self).execute(sql, params)


class _PreparingCursor(psycopg.Cursor):
    """A server-binding cursor that prepares what it executes (Django calls `execute(sql, params)`)."""

    def execute(self, query, params=None, *, prepare=None, binary=None):
        return super().execute(query, params, prepare=True if prepare is None else prepare, binary=binary)


# psycopg's own timestamptz loader: its C implementation when psycopg's binary package is installed.
_TIMESTAMPTZ_OID = psycopg.adapters.types["timestamptz"].oid
_FAST_TIMESTAMPTZ: Any = psycopg.adapters.get_loader(_TIMESTAMPTZ_OID, Format.TEXT)


class _UtcTimestamptzLoader(BaseTzLoader):
    """Django's timestamptz loader for a connection in UTC, its parsing done by psycopg's C loader.

    Django loads every timestamptz through a Python subclass of psycopg's Python loader (to give the values its time
    zone): about 3.5 µs a value, where psycopg's C loader takes 0.4. The C class cannot be subclassed and carries no
    `timezone`, which Django's `create_cursor` reads; this subclass keeps Django's contract and hands the parsing
    over. In a session in UTC, where Django keeps its connections when USE_TZ is on, both give the same aware
    datetimes in `datetime.timezone.utc` (tests/backoffice/test_times_loader.py)."""

    timezone = dt.UTC

    def __init__(self, oid: int, context: Any = None) -> None:
        super().__init__(oid, context)
        self.load = _FAST_TIMESTAMPTZ(oid, context).load  # type: ignore[method-assign]


@receiver(connection_created, dispatch_uid="backoffice.db.times_loaded_in_c")
def times_loaded_in_c(sender, connection, **kwargs) -> None:
    """On every connection Django opens or takes from its pool, in UTC: timestamptz values go through the C loader."""
    if connection.vendor != "postgresql" or not settings.USE_TZ or connection.timezone_name != "UTC":
        return
    if _FAST_TIMESTAMPTZ.__module__.startswith("psycopg."):  # no C implementation installed: Django's loader stays
        return
    adapters = connection.connection.adapters
    if adapters.get_loader(_TIMESTAMPTZ_OID, Format.TEXT) is not _UtcTimestamptzLoader:
        adapters.register_loader("timestamptz", _UtcTimestamptzLoader)
