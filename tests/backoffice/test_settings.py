"""Settings: production passes `check --deploy` with no warning; the env helper fails loudly, naming the variable."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from backoffice.dev_secrets import dev_secrets
from backoffice.env import BASE_DIR, env

# What a real deployment sets (.env.example documents each); nothing is reached: `check` opens no connection.
PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "backoffice.settings.production",
    "DJANGO_SECRET_KEY": "k3V9q-x2hT0pZrLw8mN4cY7uB1eD6fG5jA0sQ3vR9tW2yXoPiKlMnBvCxZaSdFgH",
    "DJANGO_ALLOWED_HOSTS": "backoffice.example.com",
    "DJANGO_CSRF_TRUSTED_ORIGINS": "https://backoffice.example.com",
    "DATABASE_URL": "postgres://pitboss:s3cret@db.internal.example.com:5432/pitboss",
    "CELERY_BROKER_URL": "redis://redis.internal.example.com:6379/0",
    "CACHE_URL": "redis://redis.internal.example.com:6379/1",
    "FIELD_ENCRYPTION_KEYS": f"{Fernet.generate_key().decode()},{Fernet.generate_key().decode()}",
    "FIELD_LOOKUP_KEY": "9f1c2d7e4b8a6f3e0d5c1b9a8e7f6d5c4b3a2f1e",
    "LOG_FORMAT": "json",
}


def _manage(*args: str, env_vars: dict[str, str]) -> subprocess.CompletedProcess:
    # A clean environment: nothing from the developer's shell or CI may make the check pass or fail.
    clean = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), **env_vars}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=BASE_DIR, env=clean, capture_output=True, text=True, timeout=120
    )


def test_production_settings_pass_check_deploy_with_no_warning():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env_vars=PRODUCTION_ENV)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


@pytest.mark.parametrize(
    "name",
    [
        "DJANGO_SECRET_KEY",
        "FIELD_ENCRYPTION_KEYS",
        "FIELD_LOOKUP_KEY",
        "DATABASE_URL",
        "CELERY_BROKER_URL",
        "CACHE_URL",
    ],
)
def test_production_settings_refuse_to_start_without_a_secret_or_a_server(name):
    result = _manage("check", env_vars={k: v for k, v in PRODUCTION_ENV.items() if k != name})

    assert result.returncode != 0
    assert f"Environment variable {name} is required but not set" in result.stderr


def test_production_settings_refuse_a_malformed_value():
    result = _manage("check", env_vars={**PRODUCTION_ENV, "DJANGO_SECURE_HSTS_SECONDS": "one year"})

    assert result.returncode != 0
    assert "DJANGO_SECURE_HSTS_SECONDS='one year' is not a valid int" in result.stderr


def test_a_required_value_that_is_missing_or_empty_names_the_variable(monkeypatch):
    monkeypatch.delenv("PITBOSS_TEST_REQUIRED", raising=False)
    with pytest.raises(ImproperlyConfigured, match="PITBOSS_TEST_REQUIRED is required but not set"):
        env.str("PITBOSS_TEST_REQUIRED")

    monkeypatch.setenv("PITBOSS_TEST_REQUIRED", "")
    with pytest.raises(ImproperlyConfigured, match="PITBOSS_TEST_REQUIRED is required but not set"):
        env.str("PITBOSS_TEST_REQUIRED")


@pytest.mark.parametrize(
    ("reader", "raw", "message"),
    [
        ("int", "12 workers", "PITBOSS_TEST_VALUE='12 workers' is not a valid int"),
        ("bool", "maybe", "PITBOSS_TEST_VALUE='maybe' is not a boolean"),
        ("db", "mysql://root@localhost/pitboss", "PITBOSS_TEST_VALUE must be a PostgreSQL URL"),
    ],
)
def test_a_malformed_value_names_the_variable(monkeypatch, reader, raw, message):
    monkeypatch.setenv("PITBOSS_TEST_VALUE", raw)

    with pytest.raises(ImproperlyConfigured, match=message):
        getattr(env, reader)("PITBOSS_TEST_VALUE")


def test_well_formed_values_are_parsed_and_defaults_apply_only_when_unset(monkeypatch):
    monkeypatch.setenv("PITBOSS_TEST_INT", "42")
    monkeypatch.setenv("PITBOSS_TEST_BOOL", "off")
    monkeypatch.setenv("PITBOSS_TEST_LIST", "a.example.com,b.example.com")
    monkeypatch.setenv("PITBOSS_TEST_DB", "postgres://u:p@db.example.com:6543/pitboss")
    monkeypatch.delenv("PITBOSS_TEST_UNSET", raising=False)

    assert env.int("PITBOSS_TEST_INT", default=1) == 42
    assert env.bool("PITBOSS_TEST_BOOL", default=True) is False
    assert env.list("PITBOSS_TEST_LIST") == ["a.example.com", "b.example.com"]
    database = env.db("PITBOSS_TEST_DB")
    assert (database["HOST"], database["PORT"], database["NAME"]) == ("db.example.com", 6543, "pitboss")
    assert env.int("PITBOSS_TEST_UNSET", default=7) == 7


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_production_redirects_plain_http_to_https_except_the_health_check():
    # Nothing listens on these: /healthz answers 503, which is what a load balancer must see (not a redirect).
    port = _closed_port()
    servers = {"DATABASE_URL": f"postgres://u:p@127.0.0.1:{port}/x", "CELERY_BROKER_URL": f"redis://127.0.0.1:{port}/0"}
    script = (
        "from django.test import Client; c = Client(SERVER_NAME='backoffice.example.com'); "
        "print(c.get('/healthz').status_code, c.get('/admin/login/').status_code, c.get('/admin/login/').url)"
    )

    result = _manage("shell", "-v", "0", "-c", script, env_vars={**PRODUCTION_ENV, **servers})

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["503", "301", "https://backoffice.example.com/admin/login/"]


def test_env_example_documents_every_variable_the_settings_read():
    sources = "".join(path.read_text() for path in (BASE_DIR / "backoffice" / "settings").glob("*.py"))
    read = set(re.findall(r'env\.(?:str|bool|int|list|db|cache|rate)\(\s*"([A-Z0-9_]+)"', sources))
    documented = set(re.findall(r"^# ([A-Z0-9_]+)=", (BASE_DIR / ".env.example").read_text(), re.MULTILINE))

    assert "DJANGO_SECRET_KEY" in read
    assert read - documented == set(), "add these to .env.example"


# --- development secrets: generated once per checkout, never committed ---------------------------------------------
LOCAL_SCRIPT = (
    "from django.conf import settings; "
    "print(settings.SECRET_KEY, settings.FIELD_ENCRYPTION_KEYS[0], settings.FIELD_LOOKUP_KEY)"
)


def _local_env(var_dir, **extra: str) -> dict[str, str]:
    # Servers that are never reached (`shell -c` opens no connection): local settings must not start the embedded one.
    return {
        "DJANGO_SETTINGS_MODULE": "backoffice.settings.local",
        "PITBOSS_VAR_DIR": str(var_dir),
        "DATABASE_URL": "postgres://u:p@127.0.0.1:1/never",
        "CELERY_BROKER_URL": "redis://127.0.0.1:1/0",
        **extra,
    }


def _local_shell(env_vars: dict[str, str]) -> subprocess.Popen:
    clean = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), **env_vars}
    command = [sys.executable, "manage.py", "shell", "-v", "0", "-c", LOCAL_SCRIPT]
    return subprocess.Popen(command, cwd=BASE_DIR, env=clean, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_development_secrets_are_generated_once_per_checkout_and_readable_only_by_its_owner(tmp_path):
    # Three processes at once, as `make run` starts web, worker and beat: they must all get the same secrets.
    processes = [_local_shell(_local_env(tmp_path)) for _ in range(3)]
    outputs = [process.communicate(timeout=120) for process in processes]

    assert [process.returncode for process in processes] == [0, 0, 0], outputs
    secret_key, fernet_key, lookup_key = outputs[0][0].split()
    assert {stdout for stdout, _ in outputs} == {f"{secret_key} {fernet_key} {lookup_key}\n"}
    path = tmp_path / "dev-secrets.env"
    assert path.stat().st_mode & 0o777 == 0o600
    assert f"FIELD_ENCRYPTION_KEYS={fernet_key}\n" in path.read_text()
    assert Fernet(fernet_key.encode()).decrypt(Fernet(fernet_key.encode()).encrypt(b"x")) == b"x"
    assert list(tmp_path.glob(".dev-secrets.env.*")) == []  # no private copy left behind


def test_another_checkout_gets_other_development_secrets(tmp_path):
    first, second = (_local_shell(_local_env(tmp_path / name)) for name in ("one", "two"))

    first_keys, second_keys = first.communicate(timeout=120)[0].split(), second.communicate(timeout=120)[0].split()

    assert len(first_keys) == len(second_keys) == 3
    assert set(first_keys) & set(second_keys) == set()


def test_a_development_secret_set_in_the_environment_wins_over_the_generated_file(tmp_path):
    key = Fernet.generate_key().decode()

    stdout, stderr = _local_shell(_local_env(tmp_path, FIELD_ENCRYPTION_KEYS=key)).communicate(timeout=120)

    secret_key, fernet_key, lookup_key = stdout.split() or [stderr, "", ""]
    assert fernet_key == key
    generated = (tmp_path / "dev-secrets.env").read_text()
    assert f"FIELD_ENCRYPTION_KEYS={key}" not in generated
    assert f"DJANGO_SECRET_KEY={secret_key}\n" in generated
    assert f"FIELD_LOOKUP_KEY={lookup_key}\n" in generated


def test_no_development_secret_is_written_when_the_environment_sets_all_three(tmp_path):
    given = {
        "DJANGO_SECRET_KEY": "s" * 50,
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "FIELD_LOOKUP_KEY": "l",
    }

    stdout, stderr = _local_shell(_local_env(tmp_path, **given)).communicate(timeout=120)

    assert stdout.split() == list(given.values()), stderr
    assert not (tmp_path / "dev-secrets.env").exists()


def test_new_development_secrets_beside_an_older_database_say_how_to_start_afresh(tmp_path, capsys):
    (tmp_path / "pgdata").mkdir()  # made by a checkout that still had fixed keys

    first = dev_secrets(tmp_path)
    warning = capsys.readouterr().err
    again = dev_secrets(tmp_path)

    assert "its players' email and phone no longer decrypt" in warning
    assert "`make stop && rm -rf var`" in warning
    assert again == first
    assert capsys.readouterr().err == ""  # said once, when the secrets are made
