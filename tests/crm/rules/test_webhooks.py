"""Webhook activities: an outbox row per effect, signed, retried on 5xx, failed on 4xx, claimed once."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from crm.automation.webhooks import webhook_deliver, webhooks_due
from crm.models.rules import RuleEffect, WebhookDelivery
from crm.pipeline import events_notify
from tests.crm.rules.helpers import deposit, feed, rule_make

pytestmark = pytest.mark.django_db
PORT = 18411


class Receiver:
    """A local HTTP endpoint that records requests and answers the next status of `statuses` (then 200)."""

    def __init__(self, statuses=()):
        self.statuses = list(statuses)
        self.requests: list[tuple[dict, bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made = []

    def make(statuses=()):
        made.append(Receiver(statuses))
        return made[-1]

    yield make
    for r in made:
        r.close()


WEBHOOK = {
    "type": "webhook",
    "url": f"http://127.0.0.1:{PORT}/hook",
    "body": {
        "player": "{{player.user_ext_id}}",
        "amount": "{{event.deposit_amount}}",
        "text": "Got {{event.deposit_amount}}!",
    },
}


def _due_now(delivery):
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() - dt.timedelta(seconds=1))


def test_the_body_is_rendered_signed_and_retried_after_a_5xx(tenant_a, receiver, django_capture_on_commit_callbacks):
    server = receiver([500])
    rule = rule_make(tenant_a.label, activities=[WEBHOOK])
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        feed(tenant_a.label, [deposit(150)])
    assert len([c for c in callbacks if c is not events_notify]) == 1  # sent after commit (beside ingest's wake-up)
    delivery = WebhookDelivery.objects.get()
    effect = RuleEffect.objects.get()
    assert effect.results == [{"activity": 0, "type": "webhook", "status": "applied", "delivery": delivery.pk}]
    assert json.loads(delivery.body) == {"player": "shared-player", "amount": 150, "text": "Got 150!"}
    assert webhook_deliver(delivery_id=delivery.pk) == "pending"  # 500: retried later
    delivery.refresh_from_db()
    assert (delivery.attempts, delivery.response_status, delivery.last_error) == (1, 500, "HTTP 500")
    assert delivery.next_attempt_at > timezone.now()
    assert webhook_deliver(delivery_id=delivery.pk) is None  # not due yet
    _due_now(delivery)
    assert webhooks_due() == [delivery.pk]
    assert webhook_deliver(delivery_id=delivery.pk) == "done"
    assert webhook_deliver(delivery_id=delivery.pk) is None  # delivered: never again
    assert len(server.requests) == 2
    headers, body = server.requests[1]
    expected = "sha256=" + hmac.new(rule.webhook_secret.encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-Pitboss-Signature"] == expected
    assert headers["X-Pitboss-Delivery"] == delivery.key == server.requests[0][0]["X-Pitboss-Delivery"]
    assert body == delivery.body.encode()


def test_a_4xx_fails_at_once_and_a_dead_endpoint_is_retried_then_failed(tenant_a, receiver):
    receiver([404])
    rule_make(tenant_a.label, activities=[WEBHOOK])
    feed(tenant_a.label, [deposit(150)])
    delivery = WebhookDelivery.objects.get()
    assert webhook_deliver(delivery_id=delivery.pk) == "failed"
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status="pending", attempts=0, url="http://127.0.0.1:18412/")
    statuses = []
    for _ in range(6):
        _due_now(delivery)
        statuses.append(webhook_deliver(delivery_id=delivery.pk))
    assert statuses == ["pending"] * 5 + ["failed"]
    delivery.refresh_from_db()
    assert delivery.attempts == 6
    assert delivery.last_error.startswith("ConnectError")


def test_a_replayed_event_writes_no_second_delivery(tenant_a):
    from crm.pipeline import events_apply

    rule_make(tenant_a.label, activities=[WEBHOOK])
    ids = feed(tenant_a.label, [deposit(150)])
    events_apply(ids, group_names=["automation"])
    assert WebhookDelivery.objects.count() == 1


def test_a_claimed_delivery_is_not_sent_by_a_second_worker(tenant_a):
    rule_make(tenant_a.label, activities=[WEBHOOK])
    feed(tenant_a.label, [deposit(150)])
    delivery = WebhookDelivery.objects.get()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status="in_flight", claimed_at=timezone.now())
    assert webhook_deliver(delivery_id=delivery.pk) is None
    assert webhooks_due() == []
    WebhookDelivery.objects.filter(pk=delivery.pk).update(claimed_at=timezone.now() - dt.timedelta(minutes=5))
    assert webhooks_due() == [delivery.pk]  # its worker died: the sweeper sends it again


def test_a_bad_webhook_is_refused_naming_the_field(tenant_a):
    from backoffice.errors import DomainValidationError

    with pytest.raises(DomainValidationError) as exc:
        rule_make(tenant_a.label, activities=[{"type": "webhook", "url": "ftp://x", "body": {}},
                                              {**WEBHOOK, "body": {"a": "{{player.user_email}}"}}])  # fmt: skip
    assert exc.value.errors["activities[0].url"] == ["An http(s) URL."]
    assert exc.value.errors["activities[1].body"][0].startswith("player.user_email is not a player field")
