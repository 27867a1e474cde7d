"""Rate limits with real processes: gunicorn with the production settings (Redis as the shared cache, a private
redis-server), a flood of ~2,000 wrong API keys from one address while a valid partner calls from another, and 20 wrong
admin passwords. Loopback only, bounded in count and time; latencies are printed (run with -s), never asserted."""

from __future__ import annotations

import http.client
import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.conf import settings
from django.db import connection

from backoffice.services.apikeys import api_key_create
from bench.procs import BASE_DIR, LOOPBACK, Gunicorn, Redis, database_url, parent_pid, process_env
from tests.factories import BrandFactory, LabelFactory, StaffRoleFactory, UserFactory

pytestmark = [
    pytest.mark.stack,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        shutil.which("redis-server") is None, reason="needs redis-server (apt-get install redis-server)"
    ),
]
FLOOD_REQUESTS = 2000
FLOOD_THREADS = 4
FAILED_AUTH_LIMIT = 30  # per minute: the default PITBOSS_RATE_FAILED_AUTH
# The flood and the partner are two client addresses on loopback (Linux routes all of 127.0.0.0/8 to lo).
FLOOD_ADDRESS, PARTNER_ADDRESS = "127.0.0.2", "127.0.0.3"
PASSWORD = "flood-test-passphrase-9"


@pytest.fixture(scope="module")
def redis(tmp_path_factory):
    server = Redis(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def web(django_db_setup, tmp_path_factory, redis):
    """gunicorn as deployed: production settings (HTTP only on loopback), its config module, Redis for the limits."""
    var_dir = tmp_path_factory.mktemp("var")
    env = process_env(
        database_url(connection.settings_dict),
        redis.url,
        "backoffice.settings.production",
        CACHE_URL=redis.url.removesuffix("/0") + "/1",
        DJANGO_SECURE_SSL_REDIRECT="false",
        DJANGO_SECRET_KEY=settings.SECRET_KEY,
        FIELD_ENCRYPTION_KEYS=",".join(settings.FIELD_ENCRYPTION_KEYS),
        FIELD_LOOKUP_KEY=settings.FIELD_LOOKUP_KEY,
        PITBOSS_VAR_DIR=str(var_dir),
    )
    # Production serves static files from the collected manifest; the admin's pages need it.
    collect = [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"]
    subprocess.run(collect, cwd=BASE_DIR, env=env, check=True, capture_output=True, timeout=300)
    server = Gunicorn(env, var_dir / "gunicorn.log", workers=2)  # with backoffice.gunicorn_conf, as the Procfile
    server.start()
    yield server
    server.stop()


def call(port: int, source: str, path: str, headers: dict | None = None, method: str = "GET", body: str | None = None):
    """One request from `source` (a loopback address): (status, headers, body, seconds)."""
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=30, source_address=(source, 0))
    started = time.perf_counter()
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read(), time.perf_counter() - started
    finally:
        conn.close()


def partner_calls(port: int, raw_key: str, until: threading.Event | None = None, count: int = 40) -> list[tuple]:
    """A valid partner's sequential calls: `count` of them, or as many as fit until `until` is set."""
    results = []
    while (until is not None and not until.is_set()) or (until is None and len(results) < count):
        status, _, _, seconds = call(port, PARTNER_ADDRESS, "/api/v1/brands", {"Authorization": f"Api-Key {raw_key}"})
        results.append((status, seconds))
    return results


def flood(port: int, prefix: str) -> list[tuple[int, str | None]]:
    headers = {"Authorization": f"Api-Key pb_{prefix}_{'x' * 43}"}

    def one(_):
        status, response_headers, _, _ = call(port, FLOOD_ADDRESS, "/api/v1/brands", headers)
        return status, response_headers.get("Retry-After")

    with ThreadPoolExecutor(FLOOD_THREADS) as pool:
        return list(pool.map(one, range(FLOOD_REQUESTS)))


def test_workers_keep_their_heartbeat_file_in_memory(web):
    """backoffice/gunicorn_conf.py puts each worker's heartbeat file (created, then unlinked, kept open) on /dev/shm."""
    master = web.popen.pid
    workers = [int(entry) for entry in os.listdir("/proc") if entry.isdigit() and parent_pid(int(entry)) == master]
    assert len(workers) == 2
    for pid in workers:
        targets = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
        heartbeats = [target for target in targets if "wgunicorn-" in target]
        assert len(heartbeats) == 1, targets
        assert heartbeats[0].startswith("/dev/shm/wgunicorn-"), heartbeats


def test_a_flood_of_wrong_keys_gets_429_and_a_valid_partner_only_2xx(web):
    label = LabelFactory()
    BrandFactory(label=label)
    key, raw = api_key_create(label=label, name="flood test")
    quiet = partner_calls(web.port, raw)

    done = threading.Event()
    with ThreadPoolExecutor(1) as pool:
        during = pool.submit(partner_calls, web.port, raw, done)
        started = time.monotonic()
        answers = flood(web.port, key.prefix)
        flood_seconds = time.monotonic() - started
        done.set()
        busy = during.result()

    statuses = [status for status, _ in answers]
    refused = [retry_after for status, retry_after in answers if status == 429]
    # The flood lasts under a minute: at most two windows of the limit, plus what concurrent threads let through
    # between one's check and its count.
    assert set(statuses) == {401, 429}
    assert statuses.count(401) <= 2 * (FAILED_AUTH_LIMIT + FLOOD_THREADS)
    assert all(re.fullmatch(r"[1-9][0-9]?", retry_after or "") for retry_after in refused)
    assert {status for status, _ in quiet + busy} == {200}
    print(
        f"\nflood: {len(answers)} wrong keys in {flood_seconds:.1f} s, {statuses.count(401)} x 401, "
        f"{statuses.count(429)} x 429; valid partner median latency: "
        f"{statistics.median(s for _, s in quiet) * 1000:.1f} ms quiet ({len(quiet)} calls), "
        f"{statistics.median(s for _, s in busy) * 1000:.1f} ms during the flood ({len(busy)} calls)"
    )


def _login(port: int, username: str, password: str) -> int:
    """The admin login form as a browser posts it (CSRF cookie and token); the answer's status."""
    status, headers, body, _ = call(port, FLOOD_ADDRESS, "/admin/login/")
    assert status == 200, body[:500]
    cookie = re.search(r"csrftoken=([^;]+)", headers["Set-Cookie"]).group(1)
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', body).group(1).decode()
    form = f"csrfmiddlewaretoken={token}&username={username}&password={password}"
    post_headers = {"Cookie": f"csrftoken={cookie}", "Content-Type": "application/x-www-form-urlencoded"}
    return call(port, FLOOD_ADDRESS, "/admin/login/", post_headers, method="POST", body=form)[0]


def test_twenty_wrong_admin_passwords_are_locked_out(web):
    user = UserFactory(username="flood-admin")
    user.set_password(PASSWORD)
    user.save()
    StaffRoleFactory(user=user, label=LabelFactory())

    statuses = [_login(web.port, "flood-admin", "not-the-password") for _ in range(20)]

    assert statuses == [200] * 4 + [429] * 16
    assert _login(web.port, "flood-admin", PASSWORD) == 429
