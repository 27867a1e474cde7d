"""The sandbox operator's replica database: the operator-side tables and the reference's views over them.

It is a database of its own on the same PostgreSQL server as Pitboss (`<pitboss database>_sandbox`, or
`PITBOSS_SANDBOX_REPLICA_URL`), so Pitboss reads it exactly as it reads an operator's replica: through a DSN, a
separate connection and READ ONLY transactions, views named as `reference/smartico-data-integration.txt` names them
(`user_profile`, `deposits`, `casino_bets`...). docs/sandbox.md says why a database rather than a schema.

`sandbox_replica_ensure` creates the database and its tables and views (safe to run again, and from two processes at
once); `sandbox_source_ensure` points a label's replica data source at it (the demo label's, in `manage.py demo`);
integrations/sandbox/generator.py writes the rows.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import psycopg
from django.conf import settings
from django.db import connection
from psycopg import errors, sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from backoffice.models import Label
from integrations.models import CursorKind, DataSource, SyncView, ViewKind
from integrations.replica.reader import error_text

SOURCE_NAME = "Sandbox operator replica"
POLL_INTERVAL_SECONDS = 5  # the smallest a data source allows: events show within seconds of being written
DATABASE_SUFFIX = "_sandbox"
ENSURE_LOCK = 0x53424F58  # "SBOX": serializes the DDL of two processes ensuring the replica at once
CONNECT_TIMEOUT = 5


class SandboxOff(RuntimeError):
    """The sandbox is off (`PITBOSS_SANDBOX`, always off with production settings)."""


class SandboxUnavailable(RuntimeError):
    """The sandbox replica database cannot be created or reached; the message says what to do (no password)."""


def sandbox_enabled() -> bool:
    """Whether the sandbox operator may run here: `PITBOSS_SANDBOX`, on in development and tests only."""
    return bool(getattr(settings, "PITBOSS_SANDBOX", False))


def sandbox_check() -> None:
    if not sandbox_enabled():
        raise SandboxOff("The sandbox operator is off (PITBOSS_SANDBOX); production settings never turn it on.")


# --- the operator's tables and the reference's views -------------------------------------------------------------
# The operator's own tables: how an operator's platform might keep its data, with its own column names. Balances are
# the operator's wallet, so a player bets only what they deposited and won.
TABLES = """
CREATE TABLE IF NOT EXISTS sandbox_brands (
    ext_brand_id text PRIMARY KEY,
    added_at timestamptz NOT NULL DEFAULT now()
);
CREATE SEQUENCE IF NOT EXISTS account_numbers START 500001;
CREATE TABLE IF NOT EXISTS accounts (
    id bigserial PRIMARY KEY,
    brand text NOT NULL REFERENCES sandbox_brands,
    login text NOT NULL DEFAULT nextval('account_numbers')::text,
    status text NOT NULL DEFAULT 'ACTIVE',
    registered_at timestamptz NOT NULL,
    language text NOT NULL,
    currency text NOT NULL,
    nickname text,
    birthdate timestamptz,
    country text,
    email text,
    first_name text,
    last_name text,
    phone text,
    affiliate_id bigint,
    affiliate_code text,
    email_opt_out boolean NOT NULL DEFAULT false,
    sms_opt_out boolean NOT NULL DEFAULT false,
    gender text,
    kyc text,
    balance numeric(18, 2) NOT NULL DEFAULT 0 CHECK (balance >= 0),
    changed_at timestamptz NOT NULL,
    UNIQUE (brand, login)
);
CREATE INDEX IF NOT EXISTS accounts_changed_at ON accounts (changed_at, brand, login);
CREATE TABLE IF NOT EXISTS payments (
    id bigserial PRIMARY KEY,
    tx text NOT NULL UNIQUE,
    kind text NOT NULL CHECK (kind IN ('deposit', 'withdrawal')),
    brand text NOT NULL,
    login text NOT NULL,
    requested_at timestamptz NOT NULL,
    finalized_at timestamptz NOT NULL,
    amount numeric(18, 2) NOT NULL CHECK (amount > 0),
    balance_after numeric(18, 2) NOT NULL,
    method text NOT NULL,
    voucher text
);
CREATE INDEX IF NOT EXISTS payments_finalized ON payments (kind, finalized_at, tx);
CREATE TABLE IF NOT EXISTS casino_tx (
    id bigserial PRIMARY KEY,
    tx text NOT NULL UNIQUE,
    round text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('bet', 'win')),
    brand text NOT NULL,
    login text NOT NULL,
    created_at timestamptz NOT NULL,
    amount numeric(18, 2) NOT NULL CHECK (amount >= 0),
    amount_bonus numeric(18, 2) NOT NULL DEFAULT 0,
    game_code text NOT NULL,
    game text NOT NULL,
    category text NOT NULL,
    category_code text NOT NULL,
    provider text NOT NULL,
    provider_code text NOT NULL
);
CREATE TABLE IF NOT EXISTS sport_tickets (
    id bigserial PRIMARY KEY,
    ticket text NOT NULL UNIQUE,
    brand text NOT NULL,
    login text NOT NULL,
    placed_at timestamptz NOT NULL,
    visible_at timestamptz NOT NULL,
    stake numeric(18, 2) NOT NULL CHECK (stake > 0),
    odds numeric(8, 2) NOT NULL,
    legs int NOT NULL,
    sport text NOT NULL,
    league text NOT NULL,
    fixture text NOT NULL,
    market text NOT NULL,
    live boolean NOT NULL,
    ticket_type text NOT NULL
);
CREATE INDEX IF NOT EXISTS sport_tickets_visible ON sport_tickets (visible_at, ticket);
CREATE TABLE IF NOT EXISTS sport_settlements (
    ticket text PRIMARY KEY REFERENCES sport_tickets (ticket),
    settled_at timestamptz NOT NULL,
    outcome text NOT NULL,
    payout numeric(18, 2) NOT NULL
);
CREATE INDEX IF NOT EXISTS sport_settlements_settled ON sport_settlements (settled_at, ticket);
"""

# The views as the reference names them and their columns. Transactional rows never change once visible: a
# settlement is a row of its own, not an update of the ticket.
VIEWS = {
    "user_profile": """
SELECT changed_at AS dt_update, brand AS ext_brand_id, login AS user_ext_id, status AS core_account_status,
       registered_at AS core_registration_date, language AS core_user_language, currency AS core_wallet_currency,
       nickname AS core_username, birthdate AS user_birthdate, country AS user_country, email AS user_email,
       first_name AS user_first_name, last_name AS user_last_name, phone AS user_phone,
       affiliate_id AS core_affiliate_id, affiliate_code AS core_affiliate_str,
       email_opt_out AS core_is_email_disabled_by_platform, sms_opt_out AS core_is_sms_disabled_by_platform,
       gender AS core_user_gender, kyc AS core_kyc_status
FROM accounts""",
    "deposits": """
SELECT finalized_at AS dt_finalized, brand AS ext_brand_id, login AS user_ext_id, tx AS transaction_id,
       requested_at AS transaction_date, amount AS deposit_amount, 0::numeric(18, 2) AS bonus_balance,
       balance_after AS real_balance, balance_after AS total_balance, voucher AS deposit_code,
       method AS deposit_method
FROM payments WHERE kind = 'deposit'""",
    "withdrawals": """
SELECT finalized_at AS dt_finalized, brand AS ext_brand_id, login AS user_ext_id, tx AS transaction_id,
       requested_at AS transaction_date, amount AS withdrawal_amount, method AS withdrawal_method
FROM payments WHERE kind = 'withdrawal'""",
    # Bets and wins in one view, told apart by transaction_type (the reference allows either layout). bet_id is the
    # round, shared by a bet and its win; transaction_id is the row's own id.
    "casino_bets": """
SELECT id, created_at AS dt, brand AS ext_brand_id, login AS user_ext_id, tx AS transaction_id, round AS bet_id,
       created_at AS bet_date, kind AS transaction_type,
       CASE kind WHEN 'bet' THEN amount END AS bet_amount,
       CASE kind WHEN 'bet' THEN amount - amount_bonus END AS bet_amount_real,
       CASE kind WHEN 'bet' THEN amount_bonus END AS bet_amount_bonus,
       CASE kind WHEN 'win' THEN amount END AS win_amount,
       CASE kind WHEN 'win' THEN amount - amount_bonus END AS win_amount_real,
       CASE kind WHEN 'win' THEN amount_bonus END AS win_amount_bonus,
       game AS game_name, game_code AS game_id, category AS game_category, category_code AS game_category_id,
       provider AS game_provider, provider_code AS game_provider_id
FROM casino_tx""",
    "sport_bets": """
SELECT visible_at AS dt_finalized, brand AS ext_brand_id, login AS user_ext_id, ticket AS bet_id,
       placed_at AS bet_date, stake AS bet_amount, odds, legs AS selections, sport, league, fixture AS event_name,
       market, live AS is_live, ticket_type AS bet_type
FROM sport_tickets""",
    "sport_bet_settlements": """
SELECT s.settled_at AS dt_finalized, t.brand AS ext_brand_id, t.login AS user_ext_id, t.ticket AS bet_id,
       s.settled_at AS bet_date, t.stake AS bet_amount, s.payout AS win_amount, s.outcome AS result, t.odds,
       t.legs AS selections, t.sport, t.league, t.fixture AS event_name, t.market, t.live AS is_live,
       t.ticket_type AS bet_type
FROM sport_settlements s JOIN sport_tickets t USING (ticket)""",
}


@dataclass(frozen=True)
class ViewSpec:
    """How Pitboss reads one sandbox view: the settings of its `SyncView`."""

    name: str
    kind: str
    event_type: str
    cursor_column: str
    cursor_kind: str = CursorKind.TIMESTAMP
    type_column: str = ""
    type_map: dict = field(default_factory=dict)


VIEW_SPECS = (
    ViewSpec("user_profile", ViewKind.USERS, "profile_update", "dt_update"),
    ViewSpec("deposits", ViewKind.TRANSACTIONS, "deposit", "dt_finalized"),
    ViewSpec("withdrawals", ViewKind.TRANSACTIONS, "withdrawal", "dt_finalized"),
    # By its increasing id, as the reference allows: the generator writes under one lock, so ids commit in order.
    ViewSpec(
        "casino_bets",
        ViewKind.TRANSACTIONS,
        "casino_bet",
        "id",
        CursorKind.ID,
        type_column="transaction_type",
        type_map={"bet": "casino_bet", "win": "casino_win"},
    ),
    ViewSpec("sport_bets", ViewKind.TRANSACTIONS, "sport_bet_placed", "dt_finalized"),
    ViewSpec("sport_bet_settlements", ViewKind.TRANSACTIONS, "sport_bet_settled", "dt_finalized"),
)


# --- the database ------------------------------------------------------------------------------------------------
def sandbox_replica_dsn() -> str:
    """The sandbox replica's DSN: `PITBOSS_SANDBOX_REPLICA_URL`, else Pitboss's own server and login with the
    database `<pitboss database>_sandbox` (in tests: beside the test database)."""
    configured = getattr(settings, "PITBOSS_SANDBOX_REPLICA_URL", "")
    if configured:
        return configured
    db = connection.settings_dict
    params = {"dbname": f"{db['NAME']}{DATABASE_SUFFIX}", "user": db["USER"] or "postgres"}
    if db["HOST"]:
        params["host"] = db["HOST"]
    if db["PORT"]:
        params["port"] = str(db["PORT"])
    if db["PASSWORD"]:
        params["password"] = db["PASSWORD"]
    return make_conninfo("", **params)


def sandbox_connect(dsn: str, *, autocommit: bool = False) -> psycopg.Connection:
    """A read-write connection to the sandbox replica (the operator's side writes; Pitboss's reader never does)."""
    return psycopg.connect(dsn, autocommit=autocommit, connect_timeout=CONNECT_TIMEOUT)


def sandbox_replica_ensure(*, dsn: str | None = None) -> str:
    """Create the sandbox replica database, its tables and views, where missing; return its DSN.

    Safe to run again and from several processes at once: the database is created if absent (a concurrent creation
    is fine), and the DDL runs under a transaction-level advisory lock. Views are re-created, so a changed
    definition takes effect; tables and their rows are kept.
    """
    sandbox_check()
    dsn = dsn or sandbox_replica_dsn()
    try:
        _database_create(dsn)
        with sandbox_connect(dsn) as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", [ENSURE_LOCK])
            conn.execute(TABLES)
            for name in VIEWS:
                conn.execute(sql.SQL("DROP VIEW IF EXISTS {}").format(sql.Identifier(name)))
            for name, query in VIEWS.items():
                conn.execute(sql.SQL("CREATE VIEW {} AS ").format(sql.Identifier(name)) + sql.SQL(query))  # type: ignore[arg-type]
    except psycopg.Error as exc:
        raise SandboxUnavailable(
            f"The sandbox replica database {dsn_database(dsn)} could not be set up ({error_text(exc, dsn)}). Create "
            "it (or grant the login CREATEDB) and set PITBOSS_SANDBOX_REPLICA_URL, or turn PITBOSS_SANDBOX off."
        ) from exc
    return dsn


def _database_create(dsn: str) -> None:
    params = conninfo_to_dict(dsn)
    name = str(params["dbname"])
    try:
        with sandbox_connect(dsn):
            return
    except psycopg.OperationalError as exc:
        if f'"{name}" does not exist' not in str(exc):
            raise
    admin = make_conninfo(dsn, dbname="postgres")
    # Another process created it meanwhile: DuplicateDatabase, or UniqueViolation when both wrote the catalogue at once.
    created_meanwhile = contextlib.suppress(errors.DuplicateDatabase, errors.UniqueViolation)
    with sandbox_connect(admin, autocommit=True) as conn, created_meanwhile:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def sandbox_replica_drop(*, dsn: str) -> None:
    """Drop the sandbox replica database (tests; `make clean` deletes the embedded server's data instead)."""
    name = str(conninfo_to_dict(dsn)["dbname"])
    with sandbox_connect(make_conninfo(dsn, dbname="postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def sandbox_brands_add(*, dsn: str, ext_brand_ids: list[str]) -> None:
    """The brands the operator's players register on (the generator picks among them)."""
    with sandbox_connect(dsn) as conn, conn.transaction():
        for ext_brand_id in ext_brand_ids:
            conn.execute("INSERT INTO sandbox_brands (ext_brand_id) VALUES (%s) ON CONFLICT DO NOTHING", [ext_brand_id])


# --- Pitboss's side: a label's data source reading the sandbox -----------------------------------------------------
def sandbox_source_ensure(*, label: Label, dsn: str, poll_interval_seconds: int = POLL_INTERVAL_SECONDS) -> DataSource:
    """The label's "Sandbox operator replica" data source with one synced view per sandbox view, created where
    missing. The DSN is set again (the embedded server's socket may have moved); the views' cursors are kept, so
    running it again reads nothing twice."""
    sandbox_check()
    source, _ = DataSource.objects.update_or_create(
        label=label,
        name=SOURCE_NAME,
        defaults={"dsn": dsn, "is_active": True, "poll_interval_seconds": poll_interval_seconds},
    )
    for spec in VIEW_SPECS:
        view = SyncView.objects.filter(source=source, name=spec.name, event_type=spec.event_type).first()
        if view is None:
            view = SyncView(
                source=source, name=spec.name, kind=spec.kind, event_type=spec.event_type,
                cursor_column=spec.cursor_column, cursor_kind=spec.cursor_kind, type_column=spec.type_column,
                type_map=spec.type_map,
            )  # fmt: skip
            view.full_clean()
            view.save()
    return source


def dsn_database(dsn: str) -> str:
    """The database a DSN (URL or key=value) names, for messages."""
    return str(conninfo_to_dict(dsn).get("dbname", ""))
