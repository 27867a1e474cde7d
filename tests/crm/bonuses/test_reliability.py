"""Bonuses with real processes: the sandbox operator served by gunicorn (it times out after applying 10% of the
bonuses and answers 500 to 5%), real Celery workers calling it, one of them SIGKILLed mid-call, and the sweeper run
as the beat runs it. Every bonus must be applied at the operator exactly once, none twice, and every unknown outcome
reconciled by a lookup under the same key. Also: 50 concurrent gives for one player against a cap of 30 give exactly
30. Every wait is bounded; nothing asserts time."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections import Counter
from decimal import Decimal

import pytest
from django.db import connection

from bench.procs import CeleryWorker, Gunicorn, database_url, process_env, wait_until
from crm.models import Bonus
from crm.services.bonus_delivery import bonus_deliver, bonuses_sweep
from crm.services.bonuses import BonusCapReached, bonus_give
from integrations.bonus_api.services import bonus_connection_sandbox_ensure
from integrations.models import BonusApiConnection, SandboxBonus, SandboxBonusSettings
from tests.crm.bonuses.conftest import template_make
from tests.factories import BrandFactory, LabelFactory, PlayerFactory

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]
PORT = int(os.environ.get("PITBOSS_TEST_BONUS_PORT", "18510"))  # this helper's port range: 18500-18599
READ_TIMEOUT = Decimal("1.0")
HANG = Decimal("2.5")  # past the read timeout: the call times out after the bonus was applied
STALE_SECONDS = 5


@pytest.fixture(scope="module")
def env(django_db_setup):
    queue = f"bonus-test-{uuid.uuid4().hex[:10]}"  # other runs share the broker: a queue of our own
    return process_env(
        database_url(connection.settings_dict),
        os.environ.get("CELERY_BROKER_URL", ""),
        "backoffice.settings.test",
        PITBOSS_BONUS_QUEUE=queue,
        PITBOSS_BONUS_RETRY_BASE_SECONDS="0.2",
        PITBOSS_BONUS_RETRY_MAX_SECONDS="1",
        PITBOSS_BONUS_STALE_SECONDS=str(STALE_SECONDS),
    )


@pytest.fixture(scope="module")
def web(env, tmp_path_factory):
    """Pitboss itself on loopback: it serves the sandbox operator and the redeem callback."""
    server = Gunicorn(env, tmp_path_factory.mktemp("web") / "gunicorn.log", workers=4, port=PORT)
    server.start(timeout=240)  # the workers import Django on a shared, busy machine
    yield server
    server.stop()


@pytest.fixture
def operator(web, env, settings):
    """A label whose Bonus API is the sandbox served by `web`, with a template of its catalogue. This process sends
    its wake-ups (the gives' after-commit dispatch, the sweeper's) to the test's own queue, as the workers read it."""
    settings.PITBOSS_BONUS_QUEUE = env["PITBOSS_BONUS_QUEUE"]
    settings.PITBOSS_BONUS_RETRY_BASE_SECONDS = 0.2
    settings.PITBOSS_BONUS_STALE_SECONDS = STALE_SECONDS
    label = LabelFactory()
    brand = BrandFactory(label=label, ext_brand_id="casino-1")
    bonus_connection_sandbox_ensure(
        label=label, base_url=f"http://127.0.0.1:{web.port}", read_timeout_seconds=READ_TIMEOUT
    )
    BonusApiConnection.objects.filter(label=label).update(connect_timeout_seconds=Decimal(1))
    return label, brand, template_make(label, code="10FREE_SPIN_IN_GOLDEN_SLOT", type="free_spins")


def _sandbox(label, **fields) -> None:
    SandboxBonusSettings.objects.filter(label=label).update(**fields)


def test_a_timeout_after_applying_is_unknown_then_found_by_lookup_never_issued_twice(operator):
    label, brand, template = operator
    _sandbox(label, timeout_rate=Decimal(1), hang_seconds=HANG)
    player = PlayerFactory(brand=brand, label=label)
    bonus = bonus_give(player=player, template=template, source="api", key="k")
    assert bonus_deliver(bonus_id=bonus.pk) == "unknown"
    bonus.refresh_from_db()
    assert (bonus.status, bonus.delivery_state) == ("new", "unknown")
    assert "ReadTimeout" in bonus.last_error
    assert SandboxBonus.objects.get().idempotency_key == bonus.idempotency_key  # applied all the same
    _sandbox(label, timeout_rate=Decimal(0))
    Bonus.objects.filter(pk=bonus.pk).update(next_attempt_at=bonus.created_at)  # due now
    assert bonus_deliver(bonus_id=bonus.pk) == "issued"
    applied = SandboxBonus.objects.get()
    assert applied.issue_calls == 1  # looked up, not sent again
    bonus.refresh_from_db()
    assert (bonus.status, bonus.operator_bonus_id, bonus.response_body["http_status"]) == (
        "issued",
        applied.operator_bonus_id,
        200,
    )


def test_a_connection_refused_is_retried_as_pending(operator):
    label, brand, template = operator
    BonusApiConnection.objects.filter(label=label).update(base_url="http://127.0.0.1:18599/nothing-listens")
    bonus = bonus_give(player=PlayerFactory(brand=brand, label=label), template=template, source="api", key="k")
    assert bonus_deliver(bonus_id=bonus.pk) == "retry"
    bonus.refresh_from_db()
    assert (bonus.delivery_state, bonus.last_error) == ("pending", "Could not connect (ConnectError).")


def _in_flight() -> set[int]:
    return set(Bonus.objects.filter(delivery_state="in_flight").values_list("pk", flat=True))


def test_timeouts_500s_and_a_killed_worker_apply_every_bonus_exactly_once(operator, env, tmp_path):
    label, brand, template = operator
    _sandbox(label, timeout_rate=Decimal("0.10"), failure_rate=Decimal("0.05"), hang_seconds=HANG)
    players = [PlayerFactory(brand=brand, label=label, user_ext_id=f"p-{n}") for n in range(40)]
    bonuses = [
        bonus_give(player=player, template=template, source="rule", key=f"rule:1:{player.pk}:{n}")
        for n in range(3)
        for player in players
    ]
    workers = [CeleryWorker(env, tmp_path / f"worker-{n}.log", queues=env["PITBOSS_BONUS_QUEUE"], concurrency=3,
                            name=f"bonus{n}") for n in range(2)]  # fmt: skip
    killed_in_flight: set[int] = set()
    try:
        for worker in workers:
            worker.start()
        wait_until(lambda: len(_in_flight()) >= 2 and Bonus.objects.filter(status="issued").count() >= 10,
                   timeout=90, what="calls in flight after some bonuses were issued")  # fmt: skip
        killed_in_flight = _in_flight()
        workers[0].kill()  # SIGKILL: its calls in flight are left claimed, with no outcome
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and Bonus.objects.exclude(status="issued").exists():
            bonuses_sweep()  # the beat: stale claims become unknown (looked up), lost wake-ups are re-sent
            time.sleep(1.0)
    finally:
        for worker in workers:
            worker.stop()
    left = list(Bonus.objects.exclude(status="issued").values_list("pk", "status", "delivery_state", "last_error"))
    assert left == [], workers[1].output()
    applied = list(SandboxBonus.objects.filter(label=label).values_list("pitboss_bonus_id", "idempotency_key",
                                                                          "operator_bonus_id"))  # fmt: skip
    ours = {b.pk: (b.idempotency_key, b.operator_bonus_id) for b in Bonus.objects.filter(label=label)}
    assert len(applied) == len(bonuses) == 120
    assert Counter(bonus_id for bonus_id, _, _ in applied) == dict.fromkeys(ours, 1)  # each once, none twice
    assert {bonus_id: (key, operator_id) for bonus_id, key, operator_id in applied} == ours
    reconciled = Bonus.objects.filter(label=label, attempts__gt=1, response_body__http_status=200).count()
    assert reconciled >= 1  # unknowns found by lookup (timeouts, the killed worker's calls)
    assert killed_in_flight  # the worker died with calls in flight; they ended issued once like the rest
    assert not Bonus.objects.filter(delivery_state__in=["pending", "in_flight", "unknown"]).exists()


def test_fifty_concurrent_gives_for_one_player_against_a_cap_of_30_give_exactly_30(db):
    label = LabelFactory(bonus_daily_cap=30)
    brand = BrandFactory(label=label)
    player = PlayerFactory(brand=brand, label=label)
    template = template_make(label)
    barrier, outcomes, lock = threading.Barrier(50), Counter(), threading.Lock()

    def give(n: int) -> None:
        try:
            barrier.wait(timeout=60)
            bonus_give(player=player, template=template, source="rule", key=f"rule:7:event-{n}")
            outcome = "given"
        except BonusCapReached:
            outcome = "capped"
        finally:
            connection.close()
        with lock:
            outcomes[outcome] += 1

    threads = [threading.Thread(target=give, args=(n,)) for n in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert outcomes == {"given": 30, "capped": 20}
    assert Bonus.objects.filter(player=player).count() == 30
