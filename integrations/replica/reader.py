"""The replica client: psycopg 3 straight to the operator's DSN. It reads and does nothing else.

Every query runs in a short READ ONLY transaction with a statement timeout; names reach SQL only as
`sql.Identifier`. Any failure of the replica (refused login, dropped connection, missing view, timeout) comes out
as `ReplicaError` with a short message that never holds the DSN's password.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

CONNECT_TIMEOUT_SECONDS = 5
STATEMENT_TIMEOUT_MS = 30_000
APPLICATION_NAME = "pitboss-replica-sync"
# Only what says where and how to connect. Anything that reads files or settings of the worker's own machine
# (passfile, service, sslkey, options...) is refused: a DSN must not borrow the worker's credentials.
ALLOWED_PARAMS = frozenset(
    {
        "host", "hostaddr", "port", "dbname", "user", "password", "sslmode", "sslrootcert", "channel_binding",
        "gssencmode", "target_session_attrs", "connect_timeout", "keepalives", "keepalives_idle",
        "keepalives_interval", "keepalives_count", "tcp_user_timeout",
    }
)  # fmt: skip
NO_PASSFILE = "/nonexistent/pitboss-replica-has-no-passfile"  # libpq skips a missing file silently
MAX_ERROR_LENGTH = 300
TIMESTAMP_TYPES = {1114: "timestamp", 1184: "timestamptz"}
INTEGER_TYPES = {20: "bigint", 21: "smallint", 23: "integer", 1700: "numeric"}


class ReplicaError(Exception):
    """The replica could not be read. The message is short, safe to show in the admin and to log."""


def dsn_params(dsn: str) -> dict[str, str]:
    """The DSN's connection parameters; ReplicaError when it cannot be parsed or names a parameter not allowed."""
    try:
        params = conninfo_to_dict(dsn.strip())
    except psycopg.Error:
        # psycopg's message quotes the DSN, and with it maybe the password
        raise ReplicaError(
            "Not a valid DSN: postgresql://user:password@host:5432/dbname, or key=value pairs."
        ) from None
    refused = sorted(set(params) - ALLOWED_PARAMS)
    if refused:
        raise ReplicaError(f"DSN parameters not allowed: {', '.join(refused)}.")
    if not params.get("dbname") or not params.get("user"):
        raise ReplicaError("The DSN must name the database and the user.")
    return {k: str(v) for k, v in params.items()}


def dsn_display(dsn: str) -> str:
    """The DSN without its password, e.g. for the admin's change form."""
    try:
        params = dsn_params(dsn)
    except ReplicaError:
        return "(not a valid DSN)"
    password = ":•••" if params.get("password") else ""
    host = params.get("host", "")
    where = f"{host}:{params['port']}" if params.get("port") and not host.startswith("/") else host
    return f"postgresql://{quote(params['user'])}{password}@{where}/{quote(params['dbname'])}"


def error_text(exc: BaseException, dsn: str = "") -> str:
    """One short line about `exc`, with the DSN's password (if it appears at all) blotted out."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = re.sub(r"\s+", " ", lines[0] if lines else type(exc).__name__)
    try:
        password = conninfo_to_dict(dsn).get("password") if dsn else None
    except psycopg.Error:
        password = None
    if password:
        text = text.replace(str(password), "•••")
    return text[:MAX_ERROR_LENGTH]


def relation(name: str) -> sql.Identifier:
    """A view name, optionally schema-qualified (schema.view), as a quoted SQL identifier."""
    return sql.Identifier(*name.split(".", 1))


class Replica:
    """An open connection to the replica. Each read is its own READ ONLY transaction."""

    def __init__(self, conn: psycopg.Connection, dsn: str, statement_timeout_ms: int) -> None:
        self._conn = conn
        self._dsn = dsn
        self._timeout = f"{int(statement_timeout_ms)}ms"

    @property
    def server_version(self) -> str:
        version = self._conn.info.server_version
        return f"{version // 10000}.{version % 10000}"

    def columns(self, name: str) -> dict[str, int]:
        """The columns of view `name` and their type oids, read without reading a row."""
        query = sql.SQL("SELECT * FROM {} LIMIT 0").format(relation(name))
        with self._errors(), self._conn.transaction():
            self._set_timeout()
            cursor = self._conn.execute(query)
            return {column.name: column.type_code for column in cursor.description or []}

    def fetch(self, query: sql.Composable, params: Sequence[Any]) -> list[tuple]:
        with self._errors(), self._conn.transaction():
            self._set_timeout()
            return self._conn.execute(query, params).fetchall()

    def _set_timeout(self) -> None:
        self._conn.execute("SELECT set_config('statement_timeout', %s, true)", [self._timeout])

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except psycopg.Error as exc:
            raise ReplicaError(error_text(exc, self._dsn)) from exc


@contextmanager
def replica_connect(
    dsn: str, *, connect_timeout: int = CONNECT_TIMEOUT_SECONDS, statement_timeout_ms: int = STATEMENT_TIMEOUT_MS
) -> Iterator[Replica]:
    """Connect to the replica at `dsn` (read-only, with timeouts); ReplicaError if that fails."""
    params = dsn_params(dsn)
    params.update(
        connect_timeout=str(connect_timeout),
        application_name=APPLICATION_NAME,
        passfile=NO_PASSFILE,
        keepalives=params.get("keepalives", "1"),
        keepalives_idle=params.get("keepalives_idle", "30"),
        tcp_user_timeout=params.get("tcp_user_timeout", str(statement_timeout_ms + 10_000)),
    )
    try:
        conn = psycopg.connect(make_conninfo("", **params), autocommit=False)
    except psycopg.Error as exc:
        raise ReplicaError(error_text(exc, dsn)) from exc
    try:
        conn.read_only = True  # every transaction is BEGIN READ ONLY
        yield Replica(conn, dsn, statement_timeout_ms)
    finally:
        conn.close()
