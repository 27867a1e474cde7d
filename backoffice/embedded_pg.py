"""The embedded PostgreSQL used when DATABASE_URL is not set.

`pgserver` ships PostgreSQL binaries in its wheel. The server keeps its data under `var/pgdata` and is shared by every
process of the project (web, worker, beat, tests): the first one to need it starts it, later ones attach to it, and it
keeps running until `make stop` so that short-lived commands do not restart it each time.

PostgreSQL's defaults (128 MB of shared buffers, a checkpoint every 1 GB of WAL) are sized for a machine of twenty
years ago; the server runs with `SERVER_SETTINGS` instead, kept in `pitboss.conf` beside its `postgresql.conf`. A
server created now gets them at once; one created by an older checkout gets them at its next start (`make stop`).

The app connects as `APP_ROLE`, which owns its database (and may create the test databases) but is not a superuser:
the superuser `postgres` stays the operator's, with the server's reserved connections, however many the app opens. A
data directory from an older checkout, where `postgres` owned everything, is handed over to `APP_ROLE` once.
"""

from __future__ import annotations

import atexit
import fcntl
import json
import os
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from psycopg import sql

DB_NAME = "pitboss"
APP_ROLE = "pitboss"
SUPERUSER = "postgres"
# A development machine's share: the million-participant leaderboard of bench/gamification.py stays in the buffers.
SERVER_SETTINGS = {
    "shared_buffers": "1GB",
    "effective_cache_size": "4GB",
    "work_mem": "16MB",
    "maintenance_work_mem": "256MB",
    "max_wal_size": "4GB",
    "checkpoint_timeout": "15min",
    # make run holds some 30 (README: Sizing connections); the rest is for test runs sharing the server.
    "max_connections": "200",
}
_INCLUDE = "include_if_exists = 'pitboss.conf'"


def _import_pgserver():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns that XDG_RUNTIME_DIR is unset (normal on servers)
        import pgserver
    return pgserver


def database_settings(var_dir: Path, name: str = DB_NAME) -> dict:
    """Start (or attach to) the embedded server and return a Django DATABASES entry for database `name`."""
    pgserver = _import_pgserver()
    data_dir = var_dir / "pgdata"
    var_dir.mkdir(parents=True, exist_ok=True)
    # pgserver's own start-up is not safe against two processes starting it at the same instant (make run does).
    with open(var_dir / "pgserver.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _tidy_handles(data_dir)
        created = not (data_dir / "PG_VERSION").exists()
        if not created:
            _settings_write(data_dir)  # read at the next start (now, if the server is not running)
        server = pgserver.get_server(data_dir, cleanup_mode=None)
        if created:  # initdb and a first start with the defaults just happened; no other process is attached yet
            _settings_write(data_dir)
            pgserver.pg_ctl(["-w", "restart"], pgdata=data_dir, user=server.system_user)  # the same options
            from pgserver.utils import PostmasterInfo

            server._postmaster_info = PostmasterInfo.read_from_pgdata(data_dir)  # the new postmaster
        # Its exit hook only takes this pid off the list (cleanup_mode=None); a process killed while writing the list
        # (runserver's reloader SIGKILLs its child) left it empty, and the next process could not attach.
        atexit.unregister(server._cleanup)
        host = parse_qs(urlparse(server.get_uri()).query).get("host", [""])[0]
        _app_role_ensure(host, name)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": name,
        "USER": APP_ROLE,
        "PASSWORD": "",
        "HOST": host,
        "PORT": "",
    }


def _app_role_ensure(host: str, name: str) -> None:
    """`APP_ROLE` exists and owns database `name`; databases a superuser owns (an older checkout's: `pitboss`, test
    databases) are handed over with everything in them. Runs under the start-up lock."""
    with _superuser_connect(host, "postgres") as admin:
        if admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [APP_ROLE]).fetchone() is None:
            # CREATEDB: pytest creates and drops its test databases as the app's role.
            admin.execute(sql.SQL("CREATE ROLE {} LOGIN CREATEDB").format(sql.Identifier(APP_ROLE)))
        if admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            admin.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(APP_ROLE)))
        inherited = admin.execute(
            "SELECT datname FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba"
            " WHERE r.rolsuper AND NOT d.datistemplate AND d.datname <> 'postgres' ORDER BY datname"
        ).fetchall()
    for (database,) in inherited:
        _hand_over(host, database)


def _hand_over(host: str, database: str) -> None:
    """Give `APP_ROLE` a superuser's database and what is in it, in one transaction; the database's owner changes
    last, so an interrupted hand-over is taken up again at the next start."""
    with _superuser_connect(host, database) as conn, conn.transaction():
        conn.execute(sql.SQL(_HAND_OVER_SQL).format(role=sql.Identifier(APP_ROLE)))
        conn.execute(
            sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(database), sql.Identifier(APP_ROLE))
        )


def _superuser_connect(host: str, database: str):
    import psycopg

    return psycopg.connect(host=host, dbname=database, user=SUPERUSER, autocommit=True, connect_timeout=10)


# Schemas, tables (with their indexes and their columns' sequences), views, other sequences, routines and types that
# the superuser owns outside the system schemas and extensions. REASSIGN OWNED cannot do it: the bootstrap
# superuser's system objects cannot change hands.
_HAND_OVER_SQL = r"""
DO $$
DECLARE
    me oid := (SELECT oid FROM pg_roles WHERE rolname = current_user);
    item record;
BEGIN
    FOR item IN SELECT nspname FROM pg_namespace
        WHERE nspowner = me AND nspname NOT LIKE 'pg\_%' AND nspname <> 'information_schema'
    LOOP
        EXECUTE format('ALTER SCHEMA %I OWNER TO {role}', item.nspname);
    END LOOP;
    FOR item IN SELECT c.oid::regclass AS object, CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
            WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END AS kind
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relowner = me AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
          AND n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema'
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                          AND (d.deptype = 'e' OR (c.relkind = 'S' AND d.deptype IN ('a', 'i'))))
    LOOP
        EXECUTE format('ALTER %s %s OWNER TO {role}', item.kind, item.object);
    END LOOP;
    FOR item IN SELECT p.oid::regprocedure AS object FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE p.proowner = me AND n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema'
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
    LOOP
        EXECUTE format('ALTER ROUTINE %s OWNER TO {role}', item.object);
    END LOOP;
    FOR item IN SELECT t.oid::regtype AS object, CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END AS kind
        FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE t.typowner = me AND t.typtype IN ('e', 'r', 'd') AND n.nspname NOT LIKE 'pg\_%'
          AND n.nspname <> 'information_schema'
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = t.oid AND d.deptype = 'e')
    LOOP
        EXECUTE format('ALTER %s %s OWNER TO {role}', item.kind, item.object);
    END LOOP;
END
$$
"""


def _settings_write(data_dir: Path) -> None:
    """`SERVER_SETTINGS` in `pitboss.conf`, which `postgresql.conf` includes (written only when they changed)."""
    conf = data_dir / "pitboss.conf"
    text = "# Written by backoffice/embedded_pg.py from SERVER_SETTINGS; edits here are replaced.\n" + "".join(
        f"{name} = '{value}'\n" for name, value in SERVER_SETTINGS.items()
    )
    if not conf.exists() or conf.read_text() != text:
        conf.write_text(text)
    main = data_dir / "postgresql.conf"
    if _INCLUDE not in main.read_text():
        with main.open("a") as handle:
            handle.write(f"\n{_INCLUDE}\n")


def _tidy_handles(data_dir: Path) -> None:
    """Keep pgserver's list of attached pids readable and short: only processes still alive (it is only bookkeeping
    here: the server never stops with the last of them, `make stop` stops it)."""
    handles = data_dir / ".handle_pids.json"
    try:
        pids = json.loads(handles.read_text())
    except FileNotFoundError:
        return
    except ValueError:
        pids = []
    handles.write_text(json.dumps([pid for pid in pids if isinstance(pid, int) and _alive(pid)]))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, and another user's
        pass
    return True


def stop(var_dir: Path) -> bool:
    """Stop the embedded server if it runs; return whether it was running.

    It stops whoever still holds a handle: pgserver's own cleanup stops the server only when the caller is the last
    process on its list of handles, and a process killed by a signal (runserver under honcho) never leaves that list.
    """
    pgserver = _import_pgserver()
    from pgserver.utils import PostmasterInfo

    data_dir = var_dir / "pgdata"
    info = PostmasterInfo.read_from_pgdata(data_dir) if data_dir.is_dir() else None
    if info is None or not info.is_running():
        return False
    # As root, pgserver runs the server as its own system user; pg_ctl must run as that user too.
    user = "pgserver" if os.geteuid() == 0 else None
    pgserver.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=data_dir, user=user)
    (data_dir / ".handle_pids.json").write_text("[]")
    return True
