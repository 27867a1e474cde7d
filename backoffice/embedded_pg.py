"""The embedded PostgreSQL used when DATABASE_URL is not set.

`pgserver` ships PostgreSQL binaries in its wheel. The server keeps its data under `var/pgdata` and is shared by every
process of the project (web, worker, beat, tests): the first one to need it starts it, later ones attach to it, and it
keeps running until `make stop` so that short-lived commands do not restart it each time.

PostgreSQL's defaults (128 MB of shared buffers, a checkpoint every 1 GB of WAL) are sized for a machine of twenty
years ago; the server runs with `SERVER_SETTINGS` instead, kept in `pitboss.conf` beside its `postgresql.conf`. A
server created now gets them at once; one created by an older checkout gets them at its next start (`make stop`).
"""

from __future__ import annotations

import atexit
import fcntl
import json
import os
from pathlib import Path
from urllib.parse import parse_qs, urlparse

DB_NAME = "pitboss"
# A development machine's share: the million-participant leaderboard of bench/gamification.py stays in the buffers.
SERVER_SETTINGS = {
    "shared_buffers": "1GB",
    "effective_cache_size": "4GB",
    "work_mem": "16MB",
    "maintenance_work_mem": "256MB",
    "max_wal_size": "4GB",
    "checkpoint_timeout": "15min",
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
        exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}';")  # noqa: S608 - our constant
        if "(1 row)" not in exists:
            server.psql(f'CREATE DATABASE "{name}";')
    uri = urlparse(server.get_uri())
    host = parse_qs(uri.query).get("host", [""])[0]
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": name,
        "USER": uri.username or "postgres",
        "PASSWORD": "",
        "HOST": host,
        "PORT": "",
    }


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
