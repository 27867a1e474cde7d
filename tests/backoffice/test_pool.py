"""The connection pool of a process: a request that gets no connection answers 503 with Retry-After (API: the error
shape; admin: a short page), logged once; a forked child opens its own connections; the settings size it from the
environment. The test settings run without a pool (backoffice/settings/test.py), so these tests build small ones."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading

import pytest
from django.db import connection, connections

from tests.backoffice.test_settings import PRODUCTION_ENV, _manage

transactional = pytest.mark.django_db(transaction=True)  # requests here run outside a test transaction
SHOW_DATABASE = (
    "import json; from django.conf import settings; d = settings.DATABASES['default']; "
    "print(json.dumps({'pool': d['OPTIONS'].get('pool'), 'conn_max_age': d['CONN_MAX_AGE']}))"
)


@pytest.fixture
def tiny_pool():
    """This process's connections come from a pool of one, handed out for at most half a second of waiting."""
    options = connection.settings_dict["OPTIONS"]
    connection.close()  # the plain connection the fixtures used
    options["pool"] = {"min_size": 1, "max_size": 1, "timeout": 0.5}
    try:
        yield
    finally:
        connection.close()
        connection.close_pool()
        del options["pool"]


@contextlib.contextmanager
def the_only_connection_held():
    """Another thread holds the pool's one connection until the block ends."""
    connection.close()  # what this thread used (fixtures' writes) goes back to the pool first
    held, release = threading.Event(), threading.Event()

    def hold():
        try:
            connections["default"].ensure_connection()
            held.set()
            release.wait(30)
        finally:
            connections["default"].close()  # back to the pool

    thread = threading.Thread(target=hold)
    thread.start()
    assert held.wait(10)
    try:
        yield
    finally:
        release.set()
        thread.join(10)


def _warnings(caplog) -> list:
    return [r for r in caplog.records if r.name == "backoffice.middleware" and r.levelname == "WARNING"]


@transactional
def test_an_api_request_that_gets_no_connection_answers_503_in_the_error_shape(tiny_pool, tenant_a, client, caplog):
    headers = {"Authorization": f"Api-Key {tenant_a.raw_key}"}

    with the_only_connection_held():
        response = client.get("/api/v1/players", headers=headers)

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json() == {
        "code": "unavailable",
        "message": "The service is busy; retry in a few seconds.",
        "errors": {},
    }
    assert len(_warnings(caplog)) == 1
    assert not [r for r in caplog.records if r.levelname == "ERROR"]  # not a second time as a server error
    assert client.get("/api/v1/players", headers=headers).status_code == 200  # the connection is back


@transactional
def test_an_admin_page_that_gets_no_connection_answers_a_503_page(tiny_pool, tenant_a, client, caplog):
    client.force_login(tenant_a.admin)

    with the_only_connection_held():
        response = client.get("/admin/")

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert b"<h1>Service unavailable</h1>" in response.content
    assert len(_warnings(caplog)) == 1
    assert client.get("/admin/").status_code == 200


@transactional
def test_healthz_names_the_busy_pool_and_says_when_to_retry(tiny_pool, client):
    with the_only_connection_held():
        response = client.get("/healthz")

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    database = response.json()["checks"]["database"]
    assert (database["ok"], database["error"]) == (False, "PoolTimeout")
    assert client.get("/healthz").status_code == 200


@transactional
def test_a_request_answers_503_when_postgresql_refuses_connections(tenant_a, client, caplog):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    settings = connection.settings_dict
    saved = settings["HOST"], settings["PORT"]
    connection.close()
    settings["HOST"], settings["PORT"] = "127.0.0.1", str(closed_port)
    try:
        response = client.get("/api/v1/players", headers={"Authorization": f"Api-Key {tenant_a.raw_key}"})
    finally:
        connection.close()
        settings["HOST"], settings["PORT"] = saved

    assert response.status_code == 503
    assert response.json()["code"] == "unavailable"
    assert len(_warnings(caplog)) == 1


@transactional
def test_a_forked_child_opens_its_own_connection_and_leaves_the_parents_alone(tiny_pool):
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        parent_backend = cursor.fetchone()[0]
    read_end, write_end = os.pipe()

    child = os.fork()
    if child == 0:  # the child: report the backend it talks to, then leave without running any cleanup
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                os.write(write_end, json.dumps(cursor.fetchone()[0]).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    child_backend = json.loads(os.read(read_end, 100))
    os.waitpid(child, 0)
    os.close(read_end)

    assert child_backend != parent_backend
    with connection.cursor() as cursor:  # the parent's connection still speaks, to the same backend
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone()[0] == parent_backend


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({}, {"pool": {"min_size": 0, "max_size": 8, "timeout": 10}, "conn_max_age": 0}),
        (
            {"DATABASE_POOL_MAX_SIZE": "3", "DATABASE_POOL_TIMEOUT": "4"},
            {"pool": {"min_size": 0, "max_size": 3, "timeout": 4}, "conn_max_age": 0},
        ),
        ({"DATABASE_POOL_MAX_SIZE": "0", "DATABASE_CONN_MAX_AGE": "30"}, {"pool": None, "conn_max_age": 30}),
    ],
)
def test_each_process_sizes_its_pool_from_the_environment(variables, expected):
    result = _manage("shell", "-c", SHOW_DATABASE, env_vars={**PRODUCTION_ENV, **variables})

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == expected


def test_a_persistent_connection_beside_the_pool_is_refused_naming_both_variables():
    result = _manage("check", env_vars={**PRODUCTION_ENV, "DATABASE_CONN_MAX_AGE": "60"})

    assert result.returncode != 0
    assert "DATABASE_CONN_MAX_AGE applies only without the pool (DATABASE_POOL_MAX_SIZE=0)." in result.stderr
