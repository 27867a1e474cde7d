"""No player email or phone in any log line: query strings are redacted by the one formatter of every process (Django,
runserver, gunicorn, Celery), and nothing we log carries a value of the data. Proven on the redaction function, in
this process, and on real processes whose whole output is searched."""

from __future__ import annotations

import io
import logging
import re
import shutil
import socket
import sys
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import quote, quote_plus, urlencode

import orjson
import pytest
from django.conf import settings
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.db import connection

from backoffice.logging import redact_query, structured_formatter
from backoffice.models import Role
from backoffice.services.apikeys import api_key_create
from bench.procs import (
    LOOPBACK,
    CeleryWorker,
    PipelineWorker,
    Process,
    Redis,
    database_url,
    free_port,
    process_env,
    request,
    wait_until,
)
from crm.models import Event, Player
from crm.selectors import event_group_status
from tests.factories import BrandFactory, LabelFactory, StaffRoleFactory, UserFactory

# Mixed case, so that the normalised (lower-case) form is a different string to look for; the local part is unique.
EMAIL = "Pii-Canary-K7q2@Example.org"
PHONE = "+356 7941 2268"  # as a user types it; stored and matched as +35679412268
BAD_EMAIL = "Not-An-Email-Secret@x"
BAD_PHONE = "call-me-5550123"
STAFF_PASSWORD = "log-test-pw-2026!"


def _needles() -> list[str]:
    """Every form the values can take in a log line: as typed, normalised, digits only, URL-encoded."""
    forms = []
    for value in (EMAIL, PHONE, BAD_EMAIL, BAD_PHONE, EMAIL.lower(), PHONE.replace(" ", "")):
        forms += [value, quote(value), quote(value, safe=""), quote_plus(value), quote(quote(value, safe=""))]
    return sorted(
        {form.lower() for form in forms} | {"pii-canary-k7q2", "35679412268", "not-an-email-secret", "5550123"}
    )


def _hits(text: str) -> list[str]:
    lowered = text.lower()
    return [needle for needle in _needles() if needle in lowered]


# --- the redaction function -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "GET /api/v1/players?email=a%40b.co&phone=%2B35699887766&limit=2",
            "GET /api/v1/players?email=[redacted]&phone=[redacted]&limit=[redacted]",
        ),
        (
            '"GET /admin/crm/player/?q=a@b.co HTTP/1.1" 200 5120',
            '"GET /admin/crm/player/?q=[redacted] HTTP/1.1" 200 5120',
        ),
        ("GET /api/v1/players/shared-brand/u-1", "GET /api/v1/players/shared-brand/u-1"),
        # A name that could be the value itself (`?a@b.co`, `?+356…=1`) goes whole; a plain flag stays.
        ("GET /p?a%40b.co&debug&+35699887766=1", "GET /p?[redacted]&debug&[redacted]"),
        ("GET /p?q=a@b.co#x and GET /r?phone=1", "GET /p?q=[redacted] and GET /r?phone=[redacted]"),
        ("Is this a question?", "Is this a question?"),
    ],
)
def test_redact_query_keeps_the_path_and_the_names_and_drops_every_value(text, expected):
    assert redact_query(text) == expected


@pytest.mark.parametrize("fmt", ["logfmt", "json"])
def test_the_formatter_redacts_a_query_in_the_message_a_field_and_a_traceback(fmt):
    record = logging.LogRecord(
        "django.server", logging.INFO, __file__, 1, '"%s" %s', ("GET /p?q=a@b.co HTTP/1.1", 200), None
    )
    try:
        raise ValueError("while reading /api/v1/players?email=a%40b.co")
    except ValueError as exc:
        failed = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "failed at %s", ("/p?phone=%2B356",), (type(exc), exc, exc.__traceback__)
        )
    formatter = structured_formatter(fmt)

    lines = formatter.format(record) + formatter.format(failed)

    assert _hits(lines) == []
    assert "a%40b.co" not in lines
    assert "%2B356" not in lines
    assert "/p?q=[redacted] HTTP/1.1" in lines
    assert "/api/v1/players?email=[redacted]" in lines


# --- in this process: the Django stack through the project's formatter ---------------------------------------------


@pytest.fixture
def log_output():
    """Everything logged while the test runs, rendered by the project's formatter as the processes render it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(structured_formatter("logfmt"))
    root = logging.getLogger()
    root.addHandler(handler)
    yield stream
    root.removeHandler(handler)


@pytest.mark.django_db
def test_pii_never_reaches_the_logs(tenant_a, key_client, staff_client, log_output):
    created = key_client.post(
        "/api/v1/players",
        {"ext_brand_id": "shared-brand", "user_ext_id": "log", "user_email": EMAIL, "user_phone": PHONE},
        format="json",
    )
    refused = key_client.post(
        "/api/v1/players",
        {"ext_brand_id": "shared-brand", "user_ext_id": "log", "user_email": BAD_EMAIL},
        format="json",
    )
    found = key_client.get("/api/v1/players", {"email": EMAIL, "phone": PHONE, "limit": 2})
    admin = staff_client(tenant_a.admin)
    searched = admin.get("/admin/crm/player/", {"q": EMAIL})

    assert (created.status_code, refused.status_code, found.status_code, searched.status_code) == (201, 400, 200, 200)
    assert [p["user_ext_id"] for p in found.json()["results"]] == ["log"]
    output = log_output.getvalue()
    assert _hits(output) == []
    assert 'request="GET /api/v1/players?email=[redacted]&phone=[redacted]&limit=[redacted]"' in output
    assert 'request="GET /admin/crm/player/?q=[redacted]"' in output


# --- real processes: runserver, gunicorn with the production process model, a Celery worker -----------------------


class Browser:
    """A staff user's browser over plain HTTP: keeps cookies (secure ones too: production marks them so)."""

    def __init__(self, port: int) -> None:
        self.port, self.cookies = port, SimpleCookie()

    def send(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        import http.client

        conn = http.client.HTTPConnection(LOOPBACK, self.port, timeout=30)
        cookie = "; ".join(f"{name}={morsel.value}" for name, morsel in self.cookies.items())
        try:
            conn.request(method, path, body=body, headers={**(headers or {}), **({"Cookie": cookie} if cookie else {})})
            response = conn.getresponse()
            for header in response.msg.get_all("Set-Cookie") or []:
                self.cookies.load(header)
            return response.status, response.read().decode(errors="replace"), response.getheader("Location")
        finally:
            conn.close()

    def login(self, username: str, password: str) -> None:
        status, page, _ = self.send("GET", "/admin/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        form = urlencode({"csrfmiddlewaretoken": token, "username": username, "password": password, "next": "/admin/"})
        status, page, location = self.send(
            "POST", "/admin/login/", form.encode(), {"Content-Type": "application/x-www-form-urlencoded"}
        )
        assert (status, location) == (302, "/admin/"), page[-2000:]


def _api(port: int, key: str, method: str, path: str, body=None) -> tuple[int, dict]:
    headers = {"Authorization": f"Api-Key {key}", "Content-Type": "application/json"}
    status, answer = request(port, method, path, orjson.dumps(body) if body is not None else None, headers)
    return status, orjson.loads(answer)


def _drive_api(port: int, key: str, prefix: str) -> None:
    """A partner puts the email and the phone everywhere it can: queries, bodies, an event batch, refused values."""
    player = {"ext_brand_id": "casino-1", "user_ext_id": f"{prefix}-p", "user_email": EMAIL, "user_phone": PHONE}
    assert _api(port, key, "POST", "/api/v1/players", player)[0] == 201  # a new player
    status, body = _api(
        port, key, "POST", "/api/v1/players", {**player, "user_email": BAD_EMAIL, "user_phone": BAD_PHONE}
    )
    assert (status, sorted(body["errors"])) == (400, ["user_email", "user_phone"])
    assert _hits(orjson.dumps(body).decode()) == []  # the refusal does not echo the value either
    query = urlencode({"email": EMAIL, "phone": PHONE, "limit": 2})
    status, body = _api(port, key, "GET", f"/api/v1/players?{query}")
    assert (status, f"{prefix}-p" in [p["user_ext_id"] for p in body["results"]]) == (200, True)
    update = {"user_email": EMAIL.upper(), "user_phone": PHONE.replace(" ", "")}
    events = [
        {"event_id": f"{prefix}-e1", "type": "profile_update", "ext_brand_id": "casino-1", "user_ext_id": f"{prefix}-p",
         "occurred_at": "2026-01-02T03:04:05Z", "payload": update},
        {"event_id": f"{prefix}-e2", "type": "profile_update", "ext_brand_id": "casino-1", "user_ext_id": f"{prefix}-p",
         "occurred_at": "2026-01-02T03:04:06Z", "payload": {"user_email": BAD_EMAIL, "user_phone": BAD_PHONE}},
    ]  # fmt: skip
    status, body = _api(port, key, "POST", "/api/v1/events", {"events": events})
    assert status == 202, body
    assert [item["status"] for item in body["results"]] == ["accepted", "invalid"], body
    assert _hits(orjson.dumps(body).decode()) == []


def _drive_admin(port: int, username: str, prefix: str) -> None:
    """A staff user searches the players by email and phone, opens the player and exports the search."""
    browser = Browser(port)
    browser.login(username, STAFF_PASSWORD)
    player = Player.objects.get(user_ext_id=f"{prefix}-p")
    for term in (EMAIL, PHONE):
        status, page, _ = browser.send("GET", f"/admin/crm/player/?{urlencode({'q': term})}")
        assert (status, f"{prefix}-p" in page) == (200, True)
    preserved = urlencode({"_changelist_filters": urlencode({"q": EMAIL})})
    status, page, _ = browser.send("GET", f"/admin/crm/player/{player.pk}/change/?{preserved}")
    assert (status, EMAIL.lower() in page) == (200, True)  # shown to staff, as it should be; never logged
    status, csv, _ = browser.send("GET", f"/admin/crm/player/export-csv/?{urlencode({'q': PHONE})}")
    assert (status, f"{prefix}-p" in csv) == (200, True)


def _send_malformed(port: int) -> None:
    """A request line the server refuses: it logs the refusal, request line included (a query redacted there too)."""
    line = f"GET /api/v1/players?{urlencode({'email': EMAIL})} HTTP/1.1 trailing-junk\r\nHost: {LOOPBACK}\r\n\r\n"
    with socket.create_connection((LOOPBACK, port), timeout=10) as sock:
        sock.sendall(line.encode())
        assert b"400" in sock.recv(4096)  # gunicorn's status line; runserver's error page (no status line here)


@pytest.fixture
def partner(transactional_db):
    label = LabelFactory()
    BrandFactory(label=label, ext_brand_id="casino-1")
    _, raw = api_key_create(label=label, name="logs")
    staff = UserFactory(username="log_staff")
    # Hashed as the servers' settings hash (the test settings' MD5 hasher is not one they accept).
    hasher = PBKDF2PasswordHasher()
    staff.password = hasher.encode(STAFF_PASSWORD, hasher.salt())
    staff.save(update_fields=["password"])
    StaffRoleFactory(user=staff, label=label, role=Role.ADMIN)
    return raw, staff.username


def _web_env(var_dir: Path, settings_module: str, redis: Redis) -> dict[str, str]:
    """The environment of a real process: the test database, a private Redis (broker and cache), the suite's keys,
    DEBUG logs included."""
    return process_env(
        database_url(connection.settings_dict),
        redis.url,
        settings_module,
        CACHE_URL=redis.url.removesuffix("/0") + "/1",
        PITBOSS_VAR_DIR=str(var_dir),
        DJANGO_SECRET_KEY=settings.SECRET_KEY,
        FIELD_ENCRYPTION_KEYS=",".join(settings.FIELD_ENCRYPTION_KEYS),
        FIELD_LOOKUP_KEY=settings.FIELD_LOOKUP_KEY,
        DJANGO_SECURE_SSL_REDIRECT="false",
        DJANGO_ALLOWED_HOSTS=LOOPBACK,
        LOG_LEVEL="DEBUG",
    )


def _serve(command: list[str], env: dict[str, str], log: Path, port: int) -> Process:
    process = Process(command, log=log, env=env)
    process.start()

    def healthy() -> bool:
        if not process.alive:
            raise RuntimeError(f"{command[1:3]} exited:\n{process.output()}")
        try:
            return request(port, "GET", "/healthz", timeout=5)[0] == 200
        except OSError:
            return False

    wait_until(healthy, timeout=90, what=" ".join(command[:3]), interval=0.2)
    return process


def _profile_updates_applied() -> bool:
    ids = list(Event.objects.filter(event_id__in=["gu-e1", "rs-e1"]).values_list("pk", flat=True))
    statuses = event_group_status(event_ids=ids)
    return len(ids) == 2 and all(
        any(s.group == "crm" and s.state == "applied" for s in statuses.get(pk, [])) for pk in ids
    )


def _collectstatic(env: dict[str, str], log: Path) -> None:
    # Production serves hashed static files from a manifest: the admin's pages need it.
    static = Process([sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"], log=log, env=env)
    static.start()
    assert static.popen.wait(timeout=120) == 0, static.output()


@pytest.mark.stack
@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server (apt-get install redis-server)")
def test_no_process_logs_a_players_email_or_phone(partner, tmp_path):
    key, staff = partner
    redis = Redis(tmp_path)  # production needs a broker and a cache URL; this one is the test's alone
    production = _web_env(tmp_path / "var", "backoffice.settings.production", redis)
    local = _web_env(tmp_path / "var", "backoffice.settings.local", redis)
    gunicorn_port, runserver_port = free_port(), free_port()
    gunicorn = [sys.executable, "-m", "gunicorn", "-c", "python:backoffice.gunicorn_conf", "backoffice.wsgi"]
    gunicorn += ["--bind", f"{LOOPBACK}:{gunicorn_port}", "--workers", "2", "--access-logfile", "-"]
    runserver = [sys.executable, "manage.py", "runserver", "--noreload", f"{LOOPBACK}:{runserver_port}"]
    processes: list[Process] = [redis]
    try:
        redis.start()
        _collectstatic(production, tmp_path / "collectstatic.log")
        worker = CeleryWorker(production, tmp_path / "worker.log", queues="process,default", concurrency=1, name="logs")
        processes.append(worker)
        worker.start(timeout=90)
        processes.append(_serve(gunicorn, production, tmp_path / "gunicorn.log", gunicorn_port))
        processes.append(_serve(runserver, local, tmp_path / "runserver.log", runserver_port))
        for port, prefix in ((gunicorn_port, "gu"), (runserver_port, "rs")):
            _drive_api(port, key, prefix)
            _drive_admin(port, staff, prefix)
            _send_malformed(port)
        pipeline = PipelineWorker(production, tmp_path / "pipeline.log")
        processes.append(pipeline)
        pipeline.start(timeout=90)
        wait_until(_profile_updates_applied, timeout=90, what="the pipeline worker applying the profile updates")
    finally:
        for process in reversed(processes):
            process.stop()

    logs = {path.name: path.read_text(errors="replace") for path in tmp_path.glob("*.log")}
    assert {name: _hits(text) for name, text in logs.items()} == {name: [] for name in logs}
    # The lines are there, redacted: the search above found nothing because nothing was there, not because no line was.
    redacted = "GET /api/v1/players?email=[redacted]&phone=[redacted]&limit=[redacted]"
    assert f'request="{redacted}"' in logs["gunicorn.log"]
    assert f'event="{LOOPBACK} \\"GET /api/v1/players HTTP/1.1\\" 200 ' in logs["gunicorn.log"]  # the access line
    assert f'event="\\"{redacted} HTTP/1.1\\" 200' in logs["runserver.log"]
    assert 'event="\\"GET /admin/crm/player/?q=[redacted] HTTP/1.1\\" 200' in logs["runserver.log"]
    assert "event=pipeline_started" in logs["pipeline.log"]  # the process that applied the profile updates
