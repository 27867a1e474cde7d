"""No connection exhaustion (issue 9, item 6), with real processes on loopback: 100 concurrent clients for 30 s against
the development server (runserver with the local settings, as `make run` starts it) and against the production process
model (gunicorn with the production settings), on a mix of API lists and details, admin pages and /healthz.

Every answer is 2xx, or 429/503 with Retry-After; never a connection error, a reset or a 500. The app's connections
to its database, sampled from pg_stat_activity throughout, never exceed what the pools allow, and afterwards /healthz
is 200 and a request succeeds. The numbers are printed (run with -s), never asserted beyond those bounds."""

from __future__ import annotations

import http.client
import shutil
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from django.test import Client

from bench.procs import LOOPBACK, Process, Redis, database_url, free_port, process_env, wait_until
from tests.factories import PlayerFactory

pytestmark = [
    pytest.mark.stack,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        shutil.which("redis-server") is None, reason="needs redis-server (apt-get install redis-server)"
    ),
]
CLIENTS = 100
SECONDS = 30
RUNSERVER_POOL = 8  # DATABASE_POOL_MAX_SIZE's default: make run sets none
# Four threads per worker against pools of three: requests also wait inside the pool, not only in gunicorn's backlog.
GUNICORN_WORKERS, GUNICORN_THREADS, GUNICORN_POOL = 2, 4, 3


@dataclass
class Tally:
    """What the clients saw, shared by their threads under one lock."""

    statuses: Counter = field(default_factory=Counter)
    wrong: list = field(default_factory=list)  # (path, status or error) of every answer outside the rules
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, path: str, status: int | None, retry_after: str | None, error: str | None = None) -> None:
        allowed = status is not None and (200 <= status < 300 or (status in (429, 503) and retry_after))
        with self.lock:
            self.statuses[status or error] += 1
            if not allowed:
                self.wrong.append((path, status or error))


@pytest.fixture
def site(tenant_a):
    """Label A with 50 players, its partner key and a logged-in admin's session cookie."""
    PlayerFactory.create_batch(50, brand=tenant_a.brand, label=tenant_a.label)
    staff = Client()
    staff.force_login(tenant_a.admin)
    api = {"Authorization": f"Api-Key {tenant_a.raw_key}"}
    admin = {"Cookie": f"{settings.SESSION_COOKIE_NAME}={staff.cookies[settings.SESSION_COOKIE_NAME].value}"}
    detail = f"/api/v1/players/{tenant_a.brand.ext_brand_id}/{tenant_a.player.user_ext_id}"
    return [
        ("/api/v1/players", api),
        (detail, api),
        ("/api/v1/brands", api),
        ("/api/v1/players?limit=5", api),
        ("/admin/", admin),
        ("/admin/crm/player/", admin),
        ("/healthz", {}),
    ]


@pytest.mark.parametrize("server", ["runserver", "gunicorn"])
def test_100_clients_for_30_seconds_get_answers_and_never_exhaust_the_connections(server, site, tmp_path):
    redis = Redis(tmp_path)  # broker (for /healthz) and rate-limit cache, this test's alone
    port = free_port()
    command, env, bound = _server(server, port, tmp_path, redis)
    processes = [redis]
    try:
        redis.start()
        if server == "gunicorn":
            _run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"], env, tmp_path / "static.log")
        web = Process(command, log=tmp_path / f"{server}.log", env=env)
        processes.append(web)
        web.start()
        wait_until(lambda: _healthy(web, port), timeout=90, what=server, interval=0.2)
        connection.close()  # from here on, every connection to the test database is the server's

        tally, peak = _load(port, site)

        assert tally.wrong == [], f"{len(tally.wrong)} answers outside the rules, e.g. {tally.wrong[:5]}"
        assert peak <= bound, f"{peak} connections to the database; the pools allow {bound}"
        assert _get(port, "/healthz", {})[0] == 200
        assert _get(port, *site[0])[0] == 200
        print(f"\n{server}: {sum(tally.statuses.values())} requests, statuses {dict(tally.statuses)}, "
              f"at most {peak} connections (bound {bound})")  # fmt: skip
    finally:
        for process in reversed(processes):
            process.stop()


def _server(server: str, port: int, tmp_path: Path, redis: Redis) -> tuple[list[str], dict[str, str], int]:
    """The command, its environment and the most connections its pools may hold."""
    env = process_env(
        database_url(connection.settings_dict),
        redis.url,
        f"backoffice.settings.{'local' if server == 'runserver' else 'production'}",
        CACHE_URL=redis.url.removesuffix("/0") + "/1",
        PITBOSS_VAR_DIR=str(tmp_path / "var"),
        DJANGO_SECRET_KEY=settings.SECRET_KEY,  # the session cookie made here is valid there
        FIELD_ENCRYPTION_KEYS=",".join(settings.FIELD_ENCRYPTION_KEYS),
        FIELD_LOOKUP_KEY=settings.FIELD_LOOKUP_KEY,
        DJANGO_SECURE_SSL_REDIRECT="false",
        DJANGO_ALLOWED_HOSTS=LOOPBACK,
        LOG_LEVEL="WARNING",
        # The rate limits have their own flood test; here every request must reach the database.
        PITBOSS_RATE_PER_KEY="1000000/minute",
        PITBOSS_RATE_PER_ADDRESS="1000000/minute",
    )
    env.pop("DATABASE_POOL_MAX_SIZE", None)
    env.pop("DATABASE_POOL_TIMEOUT", None)
    if server == "runserver":
        # --noreload: other edits to this checkout would restart it midway; requests are served the same way.
        return [sys.executable, "manage.py", "runserver", "--noreload", f"{LOOPBACK}:{port}"], env, RUNSERVER_POOL
    env["DATABASE_POOL_MAX_SIZE"] = str(GUNICORN_POOL)
    command = [sys.executable, "-m", "gunicorn", "-c", "python:backoffice.gunicorn_conf", "backoffice.wsgi"]  # Procfile
    command += ["--bind", f"{LOOPBACK}:{port}"]
    command += ["--workers", str(GUNICORN_WORKERS), "--threads", str(GUNICORN_THREADS), "--timeout", "60"]
    return command, env, GUNICORN_WORKERS * min(GUNICORN_THREADS, GUNICORN_POOL)


def _load(port: int, paths: list) -> tuple[Tally, int]:
    """CLIENTS threads, each going round the paths for SECONDS; pg_stat_activity sampled meanwhile. (tally, peak)"""
    tally, stop = Tally(), threading.Event()
    peaks: list[int] = []
    sampler = threading.Thread(target=_sample_connections, args=(stop, peaks))
    sampler.start()
    deadline = time.monotonic() + SECONDS
    clients = [threading.Thread(target=_client, args=(port, paths[i % len(paths) :] + paths[: i % len(paths)],
                                                        deadline, tally)) for i in range(CLIENTS)]  # fmt: skip
    for client in clients:
        client.start()
    for client in clients:
        client.join(SECONDS + 120)
    stop.set()
    sampler.join(10)
    return tally, max(peaks)


def _client(port: int, paths: list, deadline: float, tally: Tally) -> None:
    while time.monotonic() < deadline:
        for path, headers in paths:
            try:
                status, retry_after = _get(port, path, headers)
            except OSError as exc:  # refused, reset, timed out
                tally.add(path, None, None, error=type(exc).__name__)
            else:
                tally.add(path, status, retry_after)


def _sample_connections(stop: threading.Event, peaks: list[int]) -> None:
    """The app's connections to the test database, every 0.1 s, from a connection to another database."""
    db = connection.settings_dict
    params = {"host": db["HOST"], "port": db["PORT"] or None, "user": db["USER"], "password": db["PASSWORD"] or None}
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
        while not stop.is_set():
            count = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [db["NAME"]]).fetchone()
            peaks.append(count[0])
            time.sleep(0.1)


def _get(port: int, path: str, headers: dict) -> tuple[int, str | None]:
    """(status, Retry-After) of one GET on a new connection."""
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=60)
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status, response.getheader("Retry-After")
    finally:
        conn.close()


def _healthy(process: Process, port: int) -> bool:
    if not process.alive:
        raise RuntimeError(f"{process.command[:3]} exited:\n{process.output()}")
    try:
        return _get(port, "/healthz", {})[0] == 200
    except OSError:
        return False


def _run(command: list[str], env: dict[str, str], log: Path) -> None:
    process = Process(command, log=log, env=env)
    process.start()
    assert process.popen.wait(timeout=120) == 0, process.output()
