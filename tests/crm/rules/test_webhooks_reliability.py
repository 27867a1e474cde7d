"""Rule webhooks with real processes: two Celery workers deliver to a local receiver (the operator's side) that answers
500 to every seventh call and holds the first calls long enough for one worker to be SIGKILLed mid-call; the sweeper
runs as the beat runs it. Every delivery must end delivered, every call carry a valid signature and the delivery's
own key, and a delivery be received twice only when its first call's worker died (the receiver dedupes by the key) or
its first call was answered 500. Every wait is bounded; nothing asserts time."""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
import time
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import connection

from bench.procs import CeleryWorker, database_url, process_env, wait_until
from crm.automation.tasks import rules_webhooks_sweep
from crm.models.rules import WebhookDelivery
from tests.crm.rules.helpers import deposit, feed, rule_make
from tests.factories import BrandFactory, LabelFactory

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]
PORT = int(os.environ.get("PITBOSS_TEST_WEBHOOK_PORT", "18412"))
CLAIM_SECONDS = 4  # a killed worker's delivery is sent again this long after its claim
HOLD_SECONDS = 3.0  # the first calls are held this long: the worker is killed while they wait
DELIVERIES = 30


class Receiver:
    """The operator's endpoint: records every call (key, signature, body, answer); holds the first `hold` calls (set
    it to 0 to hold no more), answers 500 to every seventh call and 200 to the others."""

    def __init__(self, hold: int):
        self.calls: list[tuple[str, str, bytes, int]] = []
        self.waiting: set[str] = set()
        self.lock = threading.Lock()
        self.hold = hold
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                key = self.headers["X-Pitboss-Delivery"]
                with receiver.lock:
                    number = len(receiver.calls) + len(receiver.waiting) + 1
                    held = number <= receiver.hold
                    if held:
                        receiver.waiting.add(key)
                if held:
                    time.sleep(HOLD_SECONDS)
                status = 500 if number % 7 == 0 else 200
                with receiver.lock:
                    receiver.waiting.discard(key)
                    receiver.calls.append((key, self.headers["X-Pitboss-Signature"], body, status))
                try:
                    self.send_response(status)
                    self.end_headers()
                except OSError:  # the caller died meanwhile
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def env(settings):
    queue = f"webhook-test-{uuid.uuid4().hex[:10]}"  # other runs share the broker: a queue of our own
    settings.PITBOSS_WEBHOOK_QUEUE = queue  # this process's dispatches (enqueue, sweeper) go there too
    settings.PITBOSS_WEBHOOK_CLAIM_SECONDS = CLAIM_SECONDS
    return process_env(
        database_url(connection.settings_dict),
        os.environ.get("CELERY_BROKER_URL", ""),
        "backoffice.settings.test",
        PITBOSS_WEBHOOK_QUEUE=queue,
        PITBOSS_WEBHOOK_CLAIM_SECONDS=str(CLAIM_SECONDS),
    )


@pytest.fixture
def receiver():
    made = Receiver(hold=4)
    yield made
    made.close()


def test_a_killed_worker_and_500s_lose_no_delivery_and_repeat_only_what_died_in_flight(env, receiver, tmp_path):
    label = LabelFactory()
    BrandFactory(label=label, ext_brand_id="shared-brand")
    url = f"http://127.0.0.1:{PORT}/hook"
    rule = rule_make(label, activities=[{"type": "webhook", "url": url, "body": {"n": "{{event.deposit_amount}}"}}])
    workers = [CeleryWorker(env, tmp_path / f"worker-{n}.log", queues=env["PITBOSS_WEBHOOK_QUEUE"], concurrency=2,
                            name=f"hook{n}") for n in range(2)]  # fmt: skip
    died_in_flight: set[str] = set()
    try:
        workers[0].start()
        workers[1].start()
        # One qualifying deposit per player: the rule fires once each, and each effect writes its delivery, sent to
        # the workers' queue when the page commits.
        feed(label, [deposit(100 + n, user=f"p{n}") for n in range(DELIVERIES)])
        keys = list(WebhookDelivery.objects.values_list("key", flat=True))
        assert len(keys) == DELIVERIES
        wait_until(lambda: len(receiver.waiting) >= 3, timeout=90, what="calls held by the receiver")
        workers[0].kill()  # SIGKILL: whatever it had in flight stays claimed, with no outcome
        with receiver.lock:
            receiver.hold = 0  # no call is held from now on: the live worker's held calls end within HOLD_SECONDS
        time.sleep(HOLD_SECONDS + 1.5)  # the live worker's held calls are answered and recorded meanwhile
        # What the dead worker left: claimed, with no outcome (nothing claims them again before the sweeper runs).
        # Two looks half a second apart: a live worker's claim of the moment is gone by the second.
        first = set(WebhookDelivery.objects.filter(status="in_flight").values_list("key", "claimed_at"))
        time.sleep(0.5)
        second = set(WebhookDelivery.objects.filter(status="in_flight").values_list("key", "claimed_at"))
        died_in_flight = {key for key, _ in first & second}
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline and WebhookDelivery.objects.exclude(status="done").exists():
            WebhookDelivery.objects.filter(status="pending").update(next_attempt_at=rule.created_at)  # no backoff
            rules_webhooks_sweep()  # the beat: due deliveries and those of dead workers are sent again
            time.sleep(1.0)
    finally:
        for worker in workers:
            worker.stop()
    left = list(WebhookDelivery.objects.exclude(status="done").values_list("key", "status", "attempts", "last_error"))
    assert left == [], workers[1].output()
    secret = rule.webhook_secret.encode()
    with receiver.lock:
        calls = list(receiver.calls)
    for key, signature, body, _ in calls:
        assert hmac.compare_digest(signature, "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()), key
    answered = Counter(key for key, _, _, status in calls if status == 200)
    assert set(answered) == set(keys)  # every delivery reached the receiver and was accepted
    failed_first = {key for key, _, _, status in calls if status == 500}
    twice = {key for key, count in answered.items() if count > 1}
    assert died_in_flight  # the worker died with calls in flight; they were sent again under the same key
    assert twice <= died_in_flight  # a delivery is accepted twice only when its first call's worker died
    assert {key for key, _, _, _ in calls} == set(keys)
    assert failed_first  # some calls were answered 500: retried and delivered like the rest
    attempts = dict(WebhookDelivery.objects.values_list("key", "attempts"))
    once = [
        (key, attempts[key], key in died_in_flight, [c[3] for c in calls if c[0] == key])
        for key in failed_first | died_in_flight
        if attempts[key] < 2
    ]
    assert once == []
