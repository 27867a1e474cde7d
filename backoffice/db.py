"""Database errors that a retry can cure, for tasks, pipeline workers and consumers that retry with backoff; and
statements run prepared on Django's connection."""

from __future__ import annotations

from typing import Any

import psycopg
from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connections
from django.db.backends.utils import CursorDebugWrapper

# The server went away, a connection broke, a statement was cancelled by a timeout: nothing was committed, so the same
# work can run again. Integrity and programming errors are not here: retrying them fails the same way.
TRANSIENT_DB_ERRORS: tuple[type[Exception], ...] = (OperationalError, InterfaceError)


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
