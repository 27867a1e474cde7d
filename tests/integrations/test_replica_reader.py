"""The replica reader against real PostgreSQL databases, and the fixtures the replica tests share.

`replica`: a throwaway database on the test server holding views named and shaped as the reference describes
(user_profile, deposits, casino_bets). `cutting_proxy`: a TCP proxy in front of that server that drops the
connection in the middle of a result. `password_server`: a PostgreSQL cluster of its own that checks passwords
(the shared test servers trust every local login).
"""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import psycopg
import pytest
from django.db import connection
from psycopg import sql
from psycopg.conninfo import make_conninfo

from integrations.replica.reader import ReplicaError, dsn_display, dsn_params, error_text, replica_connect

pytestmark = pytest.mark.django_db

SCHEMA = """
CREATE TABLE accounts (
    id bigserial PRIMARY KEY, brand text NOT NULL, login text NOT NULL, status text NOT NULL DEFAULT 'ACTIVE',
    registered_at timestamptz NOT NULL DEFAULT '2024-01-02T03:04:05Z', lang text DEFAULT 'EN',
    currency text DEFAULT 'EUR', nickname text, birthdate timestamptz, country text, email text, first_name text,
    last_name text, phone text, affiliate_id bigint, affiliate_str text, no_email boolean NOT NULL DEFAULT false,
    no_sms boolean NOT NULL DEFAULT false, gender text, kyc text, changed_at timestamptz NOT NULL,
    UNIQUE (brand, login)
);
CREATE INDEX ON accounts (changed_at);
CREATE VIEW user_profile AS SELECT
    changed_at AS dt_update, brand AS ext_brand_id, login AS user_ext_id, status AS core_account_status,
    registered_at AS core_registration_date, lang AS core_user_language, currency AS core_wallet_currency,
    nickname AS core_username, birthdate AS user_birthdate, country AS user_country, email AS user_email,
    first_name AS user_first_name, last_name AS user_last_name, phone AS user_phone,
    affiliate_id AS core_affiliate_id, affiliate_str AS core_affiliate_str,
    no_email AS core_is_email_disabled_by_platform, no_sms AS core_is_sms_disabled_by_platform,
    gender AS core_user_gender, kyc AS core_kyc_status
FROM accounts;

CREATE TABLE payments (
    id bigserial PRIMARY KEY, brand text NOT NULL, login text NOT NULL, tx text NOT NULL UNIQUE,
    created_at timestamp NOT NULL, finalized_at timestamp NOT NULL, amount numeric(18, 2) NOT NULL,
    bonus_balance numeric(18, 2), real_balance numeric(18, 2), total_balance numeric(18, 2), code text, method text
);
CREATE INDEX ON payments (finalized_at, tx);
CREATE VIEW deposits AS SELECT
    finalized_at AS dt_finalized, brand AS ext_brand_id, login AS user_ext_id, tx AS transaction_id,
    created_at AS transaction_date, amount AS deposit_amount, bonus_balance, real_balance, total_balance,
    code AS deposit_code, method AS deposit_method
FROM payments;

CREATE TABLE casino_tx (
    id bigserial PRIMARY KEY, brand_id int NOT NULL, player_id bigint NOT NULL, kind text NOT NULL,
    round text NOT NULL, created_at timestamptz NOT NULL, visible_at timestamptz NOT NULL DEFAULT now(),
    bet numeric(18, 2), win numeric(18, 2), bet_real numeric(18, 2), bet_bonus numeric(18, 2),
    game text NOT NULL, game_code text NOT NULL, category text, provider text
);
CREATE VIEW casino_bets AS SELECT
    id, visible_at AS dt, brand_id AS ext_brand_id, player_id AS user_ext_id, round AS bet_id,
    created_at AS bet_date, bet AS bet_amount, win AS win_amount, game AS game_name, game_code AS game_id,
    bet_real AS bet_amount_real, bet_bonus AS bet_amount_bonus, category AS game_category,
    provider AS game_provider, kind AS transaction_type
FROM casino_tx;
"""


@dataclass
class ReplicaDb:
    """A database of the operator's: `sql()` changes it (autocommit), `dsn` is what Pitboss is configured with."""

    name: str
    params: dict
    conn: psycopg.Connection

    @property
    def dsn(self) -> str:
        return make_conninfo("", **self.params)

    def sql(self, query: str, params=None) -> list[tuple]:
        cursor = self.conn.execute(query, params)
        return cursor.fetchall() if cursor.description else []


def server_params() -> dict:
    """How to reach the PostgreSQL server the tests run on (its Unix socket or TCP address)."""
    db = connection.settings_dict
    params = {"host": db["HOST"] or "localhost", "user": db["USER"] or "postgres"}
    if db["PORT"]:
        params["port"] = str(db["PORT"])
    if db["PASSWORD"]:
        params["password"] = db["PASSWORD"]
    return params


@contextmanager
def replica_database() -> Iterator[ReplicaDb]:
    """A throwaway database beside the test database, with the reference's views; dropped afterwards."""
    params = server_params()
    name = f"replica_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(make_conninfo("", dbname="postgres", **params), autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    conn = psycopg.connect(make_conninfo("", dbname=name, **params), autocommit=True)
    try:
        conn.execute(SCHEMA)
        yield ReplicaDb(name=name, params={**params, "dbname": name}, conn=conn)
    finally:
        conn.close()
        with psycopg.connect(make_conninfo("", dbname="postgres", **params), autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def replica():
    with replica_database() as database:
        yield database


class CuttingProxy:
    """127.0.0.1:port -> the test server. Once armed with `cut(rows, skip)`, it lets `skip` results reach `rows`
    data rows, then closes both sides in the middle of the next one: a replica dropping the connection mid-page."""

    def __init__(self, params: dict) -> None:
        host, port = params["host"], int(params.get("port") or 5432)
        self._target = (
            (socket.AF_UNIX, f"{host}/.s.PGSQL.{port}") if host.startswith("/") else (socket.AF_INET, (host, port))
        )
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._arm: tuple[int, int] | None = None
        self.cuts = 0
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self, rows: int, skip: int = 0) -> None:
        with self._lock:
            self._arm = (rows, skip)

    def disarm(self) -> None:
        with self._lock:
            self._arm = None

    def close(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.socket(self._target[0], socket.SOCK_STREAM)
            server.connect(self._target[1])
            threading.Thread(target=self._pump_up, args=(client, server), daemon=True).start()
            threading.Thread(target=self._pump_down, args=(server, client), daemon=True).start()

    @staticmethod
    def _pump_up(client: socket.socket, server: socket.socket) -> None:
        try:
            while data := client.recv(65536):
                server.sendall(data)
        except OSError:
            pass
        _close(client, server)

    def _pump_down(self, server: socket.socket, client: socket.socket) -> None:
        """Server to client, one protocol message at a time (type byte, 4-byte length), counting data rows."""
        buffer, rows = b"", 0
        try:
            while data := server.recv(65536):
                buffer += data
                while len(buffer) >= 5 and len(buffer) >= 1 + int.from_bytes(buffer[1:5], "big"):
                    size = 1 + int.from_bytes(buffer[1:5], "big")
                    message, buffer = buffer[:size], buffer[size:]
                    rows = 0 if message[:1] == b"T" else rows + (message[:1] == b"D")
                    if message[:1] == b"D" and self._should_cut(rows):
                        client.sendall(message[: size // 2])  # half a row, then nothing
                        raise ConnectionAbortedError
                    client.sendall(message)
        except OSError:
            pass
        _close(client, server)

    def _should_cut(self, rows: int) -> bool:
        with self._lock:
            if self._arm is None or rows != self._arm[0]:
                return False
            limit, skip = self._arm
            if skip:
                self._arm = (limit, skip - 1)
                return False
            self._arm = None
            self.cuts += 1
            return True


def _close(*sockets: socket.socket) -> None:
    for sock in sockets:
        with suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()


@contextmanager
def cutting_proxy_to(replica: ReplicaDb) -> Iterator[CuttingProxy]:
    proxy = CuttingProxy(replica.params)
    try:
        yield proxy
    finally:
        proxy.close()


@pytest.fixture
def cutting_proxy(replica):
    with cutting_proxy_to(replica) as proxy:
        yield proxy


def proxied_dsn(replica: ReplicaDb, proxy: CuttingProxy) -> str:
    params = {**replica.params, "host": "127.0.0.1", "port": str(proxy.port), "sslmode": "disable"}
    return make_conninfo("", **params, gssencmode="disable")


@dataclass
class PasswordServer:
    socket_dir: str
    user: str = "reader"
    password: str = "right-secret"


@contextmanager
def password_cluster() -> Iterator[PasswordServer]:
    """A PostgreSQL cluster of its own (pgserver's binaries) where `reader` must give its password."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver
    root = Path(tempfile.mkdtemp(prefix="pitboss-replica-auth-"))
    try:
        with pgserver.get_server(root / "pgdata", cleanup_mode="delete") as server:
            server.psql("CREATE ROLE reader LOGIN PASSWORD 'right-secret';")
            hba = root / "pgdata" / "pg_hba.conf"
            hba.write_text("local all reader scram-sha-256\n" + hba.read_text())
            server.psql("SELECT pg_reload_conf();")
            yield PasswordServer(socket_dir=parse_qs(urlparse(server.get_uri()).query)["host"][0])
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def password_server():
    with password_cluster() as server:
        yield server


# --- the reader's own tests ---------------------------------------------------------------------------------------


def test_it_reads_a_views_columns_and_rows_in_a_read_only_transaction(replica):
    replica.sql("INSERT INTO payments (brand, login, tx, created_at, finalized_at, amount) VALUES "
                "('b', 'u', 't1', '2025-01-01', '2025-01-01', 10.5)")  # fmt: skip

    with replica_connect(replica.dsn) as reader:
        columns = reader.columns("deposits")
        rows = reader.fetch(sql.SQL("SELECT transaction_id, deposit_amount FROM deposits"), [])
        with pytest.raises(ReplicaError, match="read-only transaction"):
            reader.fetch(sql.SQL("DELETE FROM payments RETURNING id"), [])

    assert list(columns)[:6] == [
        "dt_finalized", "ext_brand_id", "user_ext_id", "transaction_id", "transaction_date", "deposit_amount",
    ]  # fmt: skip
    assert rows == [("t1", pytest.approx(10.5))]
    assert replica.sql("SELECT count(*) FROM payments") == [(1,)]


def test_a_view_name_is_an_identifier_never_sql(replica):
    with replica_connect(replica.dsn) as reader, pytest.raises(ReplicaError, match="does not exist"):
        reader.columns("deposits; DROP TABLE payments")
    assert replica.sql("SELECT count(*) FROM payments") == [(0,)]


def test_a_statement_over_the_timeout_is_cancelled(replica):
    with replica_connect(replica.dsn, statement_timeout_ms=200) as reader:
        with pytest.raises(ReplicaError, match="statement timeout"):
            reader.fetch(sql.SQL("SELECT pg_sleep(2)"), [])
        assert reader.fetch(sql.SQL("SELECT 1"), []) == [(1,)]  # the connection is still usable


def test_a_wrong_password_is_a_clear_error_without_the_password(password_server):
    dsn = f"postgresql://reader:not-the-secret-42@/postgres?host={password_server.socket_dir}"

    with pytest.raises(ReplicaError) as raised, replica_connect(dsn):
        pass

    assert 'password authentication failed for user "reader"' in str(raised.value)
    assert "not-the-secret-42" not in str(raised.value)
    right = f"postgresql://reader:right-secret@/postgres?host={password_server.socket_dir}"
    with replica_connect(right) as reader:
        assert reader.fetch(sql.SQL("SELECT current_user"), []) == [("reader",)]


def test_a_closed_port_fails_fast_with_a_clear_error():
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]  # free once closed
    with (
        pytest.raises(ReplicaError, match="Connection refused"),
        replica_connect(f"postgresql://u:p@127.0.0.1:{port}/db", connect_timeout=2),
    ):
        pass


@pytest.mark.parametrize(
    ("dsn", "message"),
    [
        ("not a dsn at all s3cret", "Not a valid DSN"),
        ("postgresql://u:s3cret@h/db?passfile=/root/.pgpass", "not allowed: passfile"),
        ("host=h dbname=db user=u password=s3cret service=prod", "not allowed: service"),
        ("host=h password=s3cret", "must name the database and the user"),
    ],
)
def test_dsns_that_could_borrow_the_workers_credentials_or_make_no_sense_are_refused(dsn, message):
    with pytest.raises(ReplicaError, match=message) as raised:
        dsn_params(dsn)
    assert "s3cret" not in str(raised.value)


def test_the_dsn_is_shown_without_its_password():
    assert (
        dsn_display("postgresql://reader:s3cret@db.example:5433/casino")
        == "postgresql://reader:•••@db.example:5433/casino"
    )
    assert "s3cret" not in error_text(Exception("FATAL: bad password s3cret"), "postgresql://reader:s3cret@h/db")


def test_the_cutting_proxy_drops_the_connection_in_the_middle_of_a_result(replica, cutting_proxy):
    replica.sql("INSERT INTO payments (brand, login, tx, created_at, finalized_at, amount) "
                "SELECT 'b', 'u', 't' || i, now(), now(), i FROM generate_series(1, 30) i")  # fmt: skip
    cutting_proxy.cut(rows=10)

    with (
        replica_connect(proxied_dsn(replica, cutting_proxy)) as reader,
        pytest.raises(ReplicaError, match=r"server closed the connection|consuming input failed|EOF"),
    ):
        reader.fetch(sql.SQL("SELECT * FROM deposits"), [])

    assert cutting_proxy.cuts == 1
    with replica_connect(proxied_dsn(replica, cutting_proxy)) as reader:
        assert len(reader.fetch(sql.SQL("SELECT * FROM deposits"), [])) == 30
