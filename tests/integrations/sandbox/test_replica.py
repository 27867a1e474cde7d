"""The sandbox replica database: the reference's views, created idempotently, and a label's data source reading them.

The settings are what Pitboss's own replica check (the admin's Test connection) accepts, and the sandbox is off, in
every entry point, with production settings.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
import uuid

import psycopg
import pytest
from django.core.management import CommandError, call_command
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from backoffice.env import BASE_DIR
from backoffice.models import Label
from integrations.models import CursorKind, DataSource, SyncView, ViewKind
from integrations.replica.reader import replica_connect
from integrations.replica.services import data_source_check
from integrations.sandbox.generator import Generator
from integrations.sandbox.replica import (
    SOURCE_NAME,
    SandboxOff,
    SandboxUnavailable,
    sandbox_replica_drop,
    sandbox_replica_dsn,
    sandbox_replica_ensure,
    sandbox_source_ensure,
)
from tests.factories import BrandFactory, LabelFactory
from tests.integrations.sandbox.conftest import sandbox_database
from tests.integrations.test_replica_reader import server_params

pytestmark = pytest.mark.django_db

# The reference's columns (smartico-data-integration.txt), view by view, in the order the views give them.
REFERENCE_COLUMNS = {
    "user_profile": [
        "dt_update", "ext_brand_id", "user_ext_id", "core_account_status", "core_registration_date",
        "core_user_language", "core_wallet_currency", "core_username", "user_birthdate", "user_country", "user_email",
        "user_first_name", "user_last_name", "user_phone", "core_affiliate_id", "core_affiliate_str",
        "core_is_email_disabled_by_platform", "core_is_sms_disabled_by_platform", "core_user_gender",
        "core_kyc_status",
    ],
    "deposits": [
        "dt_finalized", "ext_brand_id", "user_ext_id", "transaction_id", "transaction_date", "deposit_amount",
        "bonus_balance", "real_balance", "total_balance", "deposit_code", "deposit_method",
    ],
    "withdrawals": [
        "dt_finalized", "ext_brand_id", "user_ext_id", "transaction_id", "transaction_date", "withdrawal_amount",
        "withdrawal_method",
    ],
    "casino_bets": [
        "id", "dt", "ext_brand_id", "user_ext_id", "transaction_id", "bet_id", "bet_date", "transaction_type",
        "bet_amount", "bet_amount_real", "bet_amount_bonus", "win_amount", "win_amount_real", "win_amount_bonus",
        "game_name", "game_id", "game_category", "game_category_id", "game_provider", "game_provider_id",
    ],
    "sport_bets": [
        "dt_finalized", "ext_brand_id", "user_ext_id", "bet_id", "bet_date", "bet_amount", "odds", "selections",
        "sport", "league", "event_name", "market", "is_live", "bet_type",
    ],
    "sport_bet_settlements": [
        "dt_finalized", "ext_brand_id", "user_ext_id", "bet_id", "bet_date", "bet_amount", "win_amount", "result",
        "odds", "selections", "sport", "league", "event_name", "market", "is_live", "bet_type",
    ],
}  # fmt: skip


def _columns(dsn: str) -> dict[str, list[str]]:
    with replica_connect(dsn) as replica:
        return {view: list(replica.columns(view)) for view in REFERENCE_COLUMNS}


def test_ensure_creates_the_database_with_the_reference_views(sandbox):
    assert _columns(sandbox.dsn) == REFERENCE_COLUMNS
    assert sandbox.sql("SELECT ext_brand_id FROM sandbox_brands ORDER BY 1") == [("sbx-casino",), ("sbx-sports",)]


def test_ensure_again_keeps_the_rows_and_recreates_nothing_twice(sandbox):
    Generator(dsn=sandbox.dsn, rate_per_minute=600, seed=3).tick(seconds=6)
    before = {view: sandbox.count(view) for view in REFERENCE_COLUMNS}
    assert before["user_profile"] >= 12
    assert before["casino_bets"] > 0

    assert sandbox_replica_ensure(dsn=sandbox.dsn) == sandbox.dsn

    assert {view: sandbox.count(view) for view in REFERENCE_COLUMNS} == before
    assert _columns(sandbox.dsn) == REFERENCE_COLUMNS


def test_two_processes_ensuring_a_new_replica_at_once_both_succeed(db):
    database = sandbox_database(brands=None)
    sandbox_replica_drop(dsn=database.dsn)
    outcomes: list = []

    def ensure() -> None:
        try:
            outcomes.append(sandbox_replica_ensure(dsn=database.dsn))
        except Exception as exc:  # shown by the assertion
            outcomes.append(exc)

    threads = [threading.Thread(target=ensure) for _ in range(3)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert outcomes == [database.dsn] * 3
        assert _columns(database.dsn) == REFERENCE_COLUMNS
    finally:
        sandbox_replica_drop(dsn=database.dsn)


def test_the_default_replica_is_a_database_beside_pitboss_own(settings):
    settings.PITBOSS_SANDBOX_REPLICA_URL = ""
    from django.db import connection

    params = conninfo_to_dict(sandbox_replica_dsn())
    assert params["dbname"] == f"{connection.settings_dict['NAME']}_sandbox"
    settings.PITBOSS_SANDBOX_REPLICA_URL = "postgresql://op@replica.example:5433/operator"
    assert sandbox_replica_dsn() == "postgresql://op@replica.example:5433/operator"


# --- a label's data source ---------------------------------------------------------------------------------------
@pytest.fixture
def label(db):
    label = LabelFactory(name="Sandbox casino")
    BrandFactory(label=label, ext_brand_id="sbx-casino")
    BrandFactory(label=label, ext_brand_id="sbx-sports")
    return label


def test_source_ensure_configures_one_view_per_sandbox_view_and_the_replica_check_passes(label, sandbox):
    source = sandbox_source_ensure(label=label, dsn=sandbox.dsn)

    assert (source.name, source.dsn, source.poll_interval_seconds, source.is_active) == (
        SOURCE_NAME, sandbox.dsn, 5, True,
    )  # fmt: skip
    views = {
        v.name: (v.kind, v.event_type, v.cursor_column, v.cursor_kind, v.type_column, v.type_map)
        for v in SyncView.objects.filter(source=source)
    }
    assert views == {
        "user_profile": (ViewKind.USERS, "profile_update", "dt_update", CursorKind.TIMESTAMP, "", {}),
        "deposits": (ViewKind.TRANSACTIONS, "deposit", "dt_finalized", CursorKind.TIMESTAMP, "", {}),
        "withdrawals": (ViewKind.TRANSACTIONS, "withdrawal", "dt_finalized", CursorKind.TIMESTAMP, "", {}),
        "casino_bets": (
            ViewKind.TRANSACTIONS, "casino_bet", "id", CursorKind.ID, "transaction_type",
            {"bet": "casino_bet", "win": "casino_win"},
        ),
        "sport_bets": (ViewKind.TRANSACTIONS, "sport_bet_placed", "dt_finalized", CursorKind.TIMESTAMP, "", {}),
        "sport_bet_settlements": (
            ViewKind.TRANSACTIONS, "sport_bet_settled", "dt_finalized", CursorKind.TIMESTAMP, "", {},
        ),
    }  # fmt: skip
    check = data_source_check(source=source)
    assert check.ok, check.lines
    assert len(check.lines) == 1 + len(views)


def test_source_ensure_again_moves_the_dsn_and_keeps_the_cursors(label, sandbox):
    source = sandbox_source_ensure(label=label, dsn="host=/old/socket dbname=gone user=pitboss")
    SyncView.objects.filter(source=source, name="deposits").update(cursor_value="2026-01-01T00:00:00+00:00")

    again = sandbox_source_ensure(label=label, dsn=sandbox.dsn)

    assert again.pk == source.pk
    assert DataSource.objects.filter(label=label).count() == 1
    assert again.dsn == sandbox.dsn
    assert SyncView.objects.filter(source=source).count() == 6
    assert SyncView.objects.get(source=source, name="deposits").cursor_value == "2026-01-01T00:00:00+00:00"


# --- off -----------------------------------------------------------------------------------------------------------
def test_with_the_sandbox_off_nothing_is_created_nor_wired(settings, label, sandbox):
    settings.PITBOSS_SANDBOX = False

    with pytest.raises(SandboxOff):
        sandbox_replica_ensure(dsn=sandbox.dsn)
    with pytest.raises(SandboxOff):
        sandbox_source_ensure(label=label, dsn=sandbox.dsn)
    with pytest.raises(SandboxOff):
        Generator(dsn=sandbox.dsn)
    assert not DataSource.objects.exists()


def test_production_settings_turn_the_sandbox_off_whatever_the_environment_says():
    env = {
        **os.environ, "DJANGO_SETTINGS_MODULE": "backoffice.settings.production", "PITBOSS_SANDBOX": "true",
        "DJANGO_SECRET_KEY": "x" * 50, "FIELD_ENCRYPTION_KEYS": "dGVzdC1vbmx5LWZlcm5ldC1rZXktMDEyMzQ1Njc4OWE=",
        "FIELD_LOOKUP_KEY": "k", "DATABASE_URL": "postgres://nobody@127.0.0.1:9/none",
        "CELERY_BROKER_URL": "redis://127.0.0.1:9/0", "CACHE_URL": "locmemcache://",
    }  # fmt: skip
    command = [sys.executable, "manage.py", "sandbox_generate", "--ticks", "1"]
    result = subprocess.run(command, cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120)

    assert result.returncode == 1
    assert "The sandbox operator is off (PITBOSS_SANDBOX). Production settings never turn it on." in result.stderr


def test_the_generator_command_runs_ticks_into_the_replica(sandbox, settings, capsys):
    settings.PITBOSS_SANDBOX_REPLICA_URL = sandbox.dsn
    call_command("sandbox_generate", "--ticks", "2", "--interval", "0.1", "--rate", "6000", "--seed", "5")

    assert sandbox.count("user_profile") >= 12
    assert sandbox.count("casino_bets") > 0
    assert f"writing about 6000 actions a minute into {sandbox.dsn.split('dbname=')[1].split()[0]}" in (
        capsys.readouterr().out
    )


def test_the_generator_command_refuses_when_the_sandbox_is_off(settings):
    settings.PITBOSS_SANDBOX = False
    with pytest.raises(CommandError, match="Production settings never turn it on"):
        call_command("sandbox_generate", "--ticks", "1")


def test_a_dropped_replica_is_recreated_by_the_next_ensure(db):
    database = sandbox_database()
    sandbox_replica_drop(dsn=database.dsn)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(database.dsn).close()
    try:
        sandbox_replica_ensure(dsn=database.dsn)
        assert _columns(database.dsn) == REFERENCE_COLUMNS
    finally:
        sandbox_replica_drop(dsn=database.dsn)


def test_a_login_that_may_not_create_databases_gets_a_message_saying_what_to_do(db, settings):
    role = f"nocreate_{uuid.uuid4().hex[:8]}"
    params = server_params()
    admin = make_conninfo("", **params, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN NOCREATEDB").format(sql.Identifier(role)))
    dsn = make_conninfo("", **{**params, "user": role, "password": ""}, dbname=f"sandbox_{uuid.uuid4().hex[:12]}")
    settings.PITBOSS_SANDBOX_REPLICA_URL = dsn
    settings.SETTINGS_MODULE = "backoffice.settings.test"  # last: each override's holder starts without it
    try:
        with pytest.raises(SandboxUnavailable) as raised:
            sandbox_replica_ensure(dsn=dsn)
        name = conninfo_to_dict(dsn)["dbname"]
        assert str(raised.value) == (
            f"The sandbox replica database {name} could not be set up (permission denied to create database). "
            "Create it (or grant the login CREATEDB) and set PITBOSS_SANDBOX_REPLICA_URL, or turn PITBOSS_SANDBOX off."
        )
        with pytest.raises(CommandError, match="could not be set up"):
            call_command("sandbox_generate", "--ticks", "1", stdout=io.StringIO())
        with pytest.raises(CommandError, match="could not be set up"):
            call_command("demo", stdout=io.StringIO())
        assert not Label.objects.exists()  # the demo's transaction rolled back: nothing half-made
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
