"""The embedded PostgreSQL used when DATABASE_URL is not set.

`pgserver` ships PostgreSQL binaries in its wheel. The server keeps its data under `var/pgdata` and is shared by every
process of the project (web, worker, beat, tests): the first one to need it starts it, later ones attach to it, and it
keeps running until `make stop` so that short-lived commands do not restart it each time.
"""

from __future__ import annotations

import fcntl
from pathlib import Path
from urllib.parse import parse_qs, urlparse

DB_NAME = "pitboss"


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
        server = pgserver.get_server(data_dir, cleanup_mode=None)
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


def stop(var_dir: Path) -> None:
    """Stop the embedded server if it runs."""
    pgserver = _import_pgserver()
    data_dir = var_dir / "pgdata"
    if (data_dir / "postmaster.pid").exists():
        pgserver.get_server(data_dir, cleanup_mode="stop").cleanup()
