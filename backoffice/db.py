"""Database errors that a retry can cure, for tasks, pipeline workers and consumers that retry with backoff."""

from __future__ import annotations

from django.db import InterfaceError, OperationalError

# The server went away, a connection broke, a statement was cancelled by a timeout: nothing was committed, so the same
# work can run again. Integrity and programming errors are not here: retrying them fails the same way.
TRANSIENT_DB_ERRORS: tuple[type[Exception], ...] = (OperationalError, InterfaceError)
