"""The pixel with real processes: gunicorn (2 workers) on loopback against the test database, a private Redis broker.

- the same call fired 10 times at once is one conversion (every answer 202);
- with the broker stopped, every pixel call is answered 202 and every one is stored: the pixel writes in the request,
  no broker is involved;
- garbage (a hand-written list) gets 422 (or 404/405) with a JSON body naming the error, never a 500.
"""

from __future__ import annotations

import shutil
import threading
import uuid
from urllib.parse import quote

import orjson
import pytest
from django.db import connection

from bench.procs import Gunicorn, Redis, database_url, process_env, request
from crm.models import Conversion
from tests.crm.affiliates.factories import click_on, funnel

pytestmark = [
    pytest.mark.stack,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server"),
]


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    redis = Redis(tmp_path_factory.mktemp("redis"))
    redis.start()
    yield redis
    redis.stop()


@pytest.fixture(scope="module")
def web(django_db_setup, tmp_path_factory, broker):
    logs = tmp_path_factory.mktemp("pixel-stack")
    env = process_env(database_url(connection.settings_dict), broker.url, "backoffice.settings.test")
    server = Gunicorn(env, logs / "gunicorn.log", workers=2)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def click(tenant_a):
    _, _, link = funnel(tenant_a)
    return click_on(link)


def fire_at_once(port: int, path: str, times: int) -> list[int]:
    barrier = threading.Barrier(times)
    statuses: list[int] = []

    def call() -> None:
        barrier.wait(timeout=30)
        statuses.append(request(port, "GET", path, timeout=30)[0])

    threads = [threading.Thread(target=call) for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return statuses


@pytest.mark.parametrize(
    "query",
    [
        "type=deposit&currency=usd&amount=40&player_id=1874552&transaction_id=123456789",
        "type=deposit&currency=eur&amount=15.5",  # no transaction_id: deduplicated by its values
        "type=registration&player_id=shared-player",
        "type=install",
    ],
)
def test_the_same_call_ten_times_at_once_is_one_conversion(web, click, query):
    statuses = fire_at_once(web.port, f"/convert/{click.id}?{query}", 10)
    assert statuses == [202] * 10
    assert Conversion.objects.filter(click=click).count() == 1


def test_every_accepted_pixel_is_stored_while_the_broker_is_down(web, broker, tenant_a):
    _, _, link = funnel(tenant_a)
    clicks = [click_on(link) for _ in range(50)]
    broker.stop()
    try:
        answers = []
        for click in clicks:
            for kind in ("registration", "deposit&currency=gbp&amount=20"):
                answers.append(request(web.port, "GET", f"/convert/{click.id}?type={kind}&player_id=p-{click.id}")[0])
    finally:
        broker.start()
    assert answers == [202] * 100
    assert Conversion.objects.filter(click__in=clicks).count() == 100


GARBAGE = [
    ("/convert/{click}?type=install%00", 422, "invalid_type"),
    ("/convert/{click}?type=%ff%fe", 422, "invalid_type"),
    ("/convert/{click}?player_id=" + "x" * 129 + "&type=registration", 422, "invalid_player_id"),
    ("/convert/{click}?type=deposit&currency=eur&amount=" + "9" * 3000, 422, "invalid_amount"),
    ("/convert/{click}?type=deposit&currency=eur&amount=1e999999999", 422, "invalid_amount"),
    ("/convert/{click}?type=deposit&currency=eur&amount=0x10", 422, "invalid_amount"),
    ("/convert/{click}?type=" + "d" * 3000, 422, "invalid_type"),
    ("/convert/{click}?type=install&time=" + quote("2024-02-30T00:00:00Z"), 422, "invalid_time"),
    ("/convert/{click}?type=install&time=9999999999", 422, "invalid_time"),
    ("/convert/{click}?type=install&test=maybe", 422, "invalid_test"),
    ("/convert/{click}?type=install&transaction_id=" + "t" * 200, 422, "invalid_transaction_id"),
    ("/convert/not-a-uuid?type=install", 422, "invalid_click_id"),
    ("/convert/%00?type=install", 422, None),
    ("/convert/" + "a" * 3000 + "?type=install", 422, "invalid_click_id"),
    ("/convert/{click}/extra?type=install", 404, "not_found"),
    ("/convert/{click}?type[]=install", 422, "invalid_type"),
    ("/convert/{click}?type=deposit&amount=%E2%82%AC10&currency=eur", 422, "invalid_amount"),
]


@pytest.mark.parametrize(("path", "status", "code"), GARBAGE)
def test_garbage_gets_a_json_error_naming_it_never_a_500(web, click, path, status, code):
    answer_status, body = request(web.port, "GET", path.replace("{click}", str(click.id)), timeout=30)
    assert answer_status == status, body[:300]
    parsed = orjson.loads(body)
    assert parsed["errors"] or parsed["code"] == "not_found"
    if code:
        assert parsed["code"] == code
    assert not Conversion.objects.exists()


def test_a_json_body_posted_is_ignored_and_a_missing_type_named(web, click):
    status, body = request(
        web.port,
        "POST",
        f"/convert/{click.id}",
        orjson.dumps({"type": "install"}),
        {"Content-Type": "application/json"},
    )
    assert (status, orjson.loads(body)["code"]) == (422, "invalid_type")
    status, _ = request(web.port, "DELETE", f"/convert/{uuid.uuid4()}")
    assert status == 405
