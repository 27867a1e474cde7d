"""One psycopg connection pool per process, and what "the database is unavailable" means for a request.

Django 5.2 keeps its pools in a class attribute, so every thread of a process (runserver's, gunicorn's gthread
workers') draws from one pool of at most `DATABASE_POOL_MAX_SIZE` connections. A forked child (a Celery prefork child,
a gunicorn worker of a preloaded app) inherits that object with its parent's sockets and no live threads: using or
closing it would speak on the parent's connections, so the child forgets it and opens its own on first use.
"""

from __future__ import annotations

import os

import psycopg
from psycopg_pool import PoolTimeout, TooManyRequests

# Kept referenced, never closed: their sockets are the parent's, and closing them would end the parent's sessions.
_inherited: list = []
# Connection exceptions (08), insufficient resources (53: "too many clients"), shutting down or starting up (57P0x).
_UNAVAILABLE_SQLSTATE_PREFIXES = ("08", "53", "57P01", "57P02", "57P03")


def pool_options(*, max_size: int, timeout: int) -> dict:
    """The `OPTIONS["pool"]` of a DATABASES entry: connections opened on demand up to `max_size`, closed after ten idle
    minutes; a caller waits at most `timeout` seconds for one (short of gunicorn's 30 s worker timeout, so the wait ends
    as a 503). No warm connection (min_size 0): the pool opens its minimum in the background, and a first request
    arriving meanwhile would open one more, so a single-threaded process would hold two."""
    return {"min_size": 0, "max_size": max_size, "timeout": timeout}


def forget_parent_connections() -> None:
    """In a freshly forked child: drop the pools and open connections inherited from the parent, without closing."""
    from django.db import connections
    from django.db.backends.postgresql.base import DatabaseWrapper

    _inherited.extend(DatabaseWrapper._connection_pools.values())
    DatabaseWrapper._connection_pools.clear()
    for wrapper in connections.all(initialized_only=True):
        if wrapper.connection is not None:
            _inherited.append(wrapper.connection)
            wrapper.connection = None


def register_fork_hook() -> None:
    os.register_at_fork(after_in_child=forget_parent_connections)


def is_unavailable(exc: BaseException) -> bool:
    """Whether a database error means "no connection to be had now" (retry later) rather than a bug."""
    cause = exc.__cause__ if exc.__cause__ is not None else exc
    if isinstance(cause, PoolTimeout | TooManyRequests):
        return True
    if not isinstance(cause, psycopg.OperationalError):
        return False
    sqlstate = cause.sqlstate
    # No SQLSTATE: the server was never reached or the socket broke (refused, reset, closed unexpectedly).
    return sqlstate is None or sqlstate.startswith(_UNAVAILABLE_SQLSTATE_PREFIXES)
