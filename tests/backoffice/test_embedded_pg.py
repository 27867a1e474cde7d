"""The embedded PostgreSQL: processes attach to one server, which runs with our settings, and `make stop`
(embedded_pg.stop) really stops it."""

from __future__ import annotations

import json
import subprocess
import sys

import psycopg
import pytest

from backoffice.embedded_pg import SERVER_SETTINGS, database_settings, stop
from backoffice.env import BASE_DIR

pytestmark = pytest.mark.stack

ATTACH_AND_DIE = (
    "import os, signal, sys; from pathlib import Path; from backoffice.embedded_pg import database_settings; "
    "database_settings(Path(sys.argv[1])); os.kill(os.getpid(), signal.SIGKILL)"
)

# Attach with SERVER_SETTINGS changed by the arguments (name=value), print the server's shared_buffers.
ATTACH_AND_SHOW = (
    "import sys; from pathlib import Path; import psycopg; import backoffice.embedded_pg as e; "
    "e.SERVER_SETTINGS.update(a.split('=', 1) for a in sys.argv[2:]); s = e.database_settings(Path(sys.argv[1])); "
    "c = psycopg.connect(host=s['HOST'], dbname=s['NAME'], user=s['USER']); "
    "print(c.execute(\"SELECT current_setting('shared_buffers')\").fetchone()[0])"
)


def _shared_buffers(var_dir, *changes: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", ATTACH_AND_SHOW, str(var_dir), *changes],
        cwd=BASE_DIR, timeout=120, check=True, capture_output=True, text=True,
    )  # fmt: skip
    return done.stdout.strip()


def _select_one(settings: dict) -> int:
    with psycopg.connect(host=settings["HOST"], dbname=settings["NAME"], user=settings["USER"]) as conn:
        return conn.execute("SELECT 1").fetchone()[0]


def test_stop_stops_the_server_even_after_a_process_was_killed_and_left_its_list_broken(tmp_path):
    var_dir = tmp_path / "var"
    handles = var_dir / "pgdata" / ".handle_pids.json"
    try:
        # A process that attaches and dies by a signal, as runserver's child does under honcho: no exit hook runs.
        subprocess.run([sys.executable, "-c", ATTACH_AND_DIE, str(var_dir)], cwd=BASE_DIR, timeout=120, check=False)
        assert json.loads(handles.read_text()), "the killed process is still on pgserver's list"
        handles.write_text("")  # what a process killed while writing the list leaves behind

        settings = database_settings(var_dir, name="probe")

        assert _select_one(settings) == 1
        assert stop(var_dir) is True
        assert not (var_dir / "pgdata" / "postmaster.pid").exists()
        with pytest.raises(psycopg.OperationalError):
            _select_one(settings)
        assert stop(var_dir) is False
    finally:
        stop(var_dir)


def test_the_server_runs_with_our_settings_from_its_first_start_and_takes_changed_ones_at_its_next(tmp_path):
    var_dir = tmp_path / "var"
    try:
        assert _shared_buffers(var_dir) == SERVER_SETTINGS["shared_buffers"]  # a new server: restarted once at once
        assert _shared_buffers(var_dir, "shared_buffers=256MB") == SERVER_SETTINGS["shared_buffers"]  # running: kept
        assert stop(var_dir) is True
        assert _shared_buffers(var_dir, "shared_buffers=256MB") == "256MB"  # a later checkout's settings, next start
    finally:
        stop(var_dir)
