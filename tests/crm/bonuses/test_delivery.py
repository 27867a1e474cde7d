"""Delivery against the sandbox operator (in process): claim, call, record; retries, permanent refusals, lookups of
unknown outcomes with the same key, the sweeper, re-send, redeem callbacks, expiry and the catalogue sync."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from crm.models import Bonus, BonusTemplate
from crm.services.bonus_delivery import backoff_seconds, bonus_deliver, bonuses_sweep
from crm.services.bonuses import (
    NotResendable,
    RedeemRefused,
    bonus_give,
    bonus_redeem_record,
    bonus_resend,
    bonus_templates_sync,
    bonuses_expire,
)
from integrations.bonus_api.services import bonus_connection_sandbox_ensure
from integrations.http import PermanentError
from integrations.models import BonusApiConnection, SandboxBonus, SandboxBonusSettings
from integrations.sandbox.bonus_api import sandbox_bonus_redeem
from tests.crm.bonuses.conftest import template_make

pytestmark = pytest.mark.django_db


def _give(tenant, template, key="k") -> Bonus:
    return bonus_give(player=tenant.player, template=template, source="staff", key=key)


def _state(bonus) -> tuple[str, str, int]:
    bonus.refresh_from_db()
    return bonus.status, bonus.delivery_state, bonus.attempts


def test_a_bonus_is_issued_once_at_the_operator_with_its_key(tenant_a, template, sandbox):
    bonus = _give(tenant_a, template)
    assert bonus_deliver(bonus_id=bonus.pk) == "issued"
    assert _state(bonus) == ("issued", "done", 1)
    applied = SandboxBonus.objects.get()
    assert (applied.idempotency_key, applied.bonus_code, applied.user_ext_id) == (
        bonus.idempotency_key, "CASH_5_EUR", "shared-player",
    )  # fmt: skip
    assert (applied.pitboss_bonus_id, applied.amount, applied.issue_calls) == (bonus.pk, "5.00", 1)
    assert bonus.operator_bonus_id == applied.operator_bonus_id
    assert bonus.response_body["http_status"] == 201
    assert bonus.issued_at is not None
    assert bonus_deliver(bonus_id=bonus.pk) is None  # done: nothing to claim
    assert SandboxBonus.objects.get().issue_calls == 1


def test_a_bonus_not_due_yet_is_not_claimed(tenant_a, template, sandbox):
    bonus = _give(tenant_a, template)
    Bonus.objects.filter(pk=bonus.pk).update(next_attempt_at=timezone.now() + dt.timedelta(minutes=1))
    assert bonus_deliver(bonus_id=bonus.pk) is None
    assert _state(bonus) == ("new", "pending", 0)


def test_a_500_is_retried_with_the_same_key_until_it_is_applied(tenant_a, template, sandbox):
    sandbox.failure_rate = Decimal(1)
    sandbox.save()
    bonus = _give(tenant_a, template)
    assert bonus_deliver(bonus_id=bonus.pk) == "retry"
    assert _state(bonus) == ("new", "pending", 1)
    assert bonus.response_body["http_status"] == 500
    assert "HTTP 500" in bonus.last_error
    assert not SandboxBonus.objects.exists()
    sandbox.failure_rate = Decimal(0)
    sandbox.save()
    assert bonus_deliver(bonus_id=bonus.pk) == "issued"
    assert _state(bonus) == ("issued", "done", 2)
    assert SandboxBonus.objects.get().idempotency_key == bonus.idempotency_key


def test_transient_failures_past_the_retry_window_fail_the_issue(tenant_a, template, sandbox):
    sandbox.failure_rate = Decimal(1)
    sandbox.save()
    bonus = _give(tenant_a, template)
    Bonus.objects.filter(pk=bonus.pk).update(deliver_until=timezone.now() - dt.timedelta(seconds=1))
    assert bonus_deliver(bonus_id=bonus.pk) == "issue_failed"
    assert _state(bonus) == ("issue_failed", "failed", 1)


def test_an_unknown_bonus_code_is_a_permanent_failure(tenant_a, sandbox):
    bonus = _give(tenant_a, template_make(tenant_a.label, code="NOT_IN_THE_CATALOGUE"))
    assert bonus_deliver(bonus_id=bonus.pk) == "issue_failed"
    assert _state(bonus) == ("issue_failed", "failed", 1)
    assert bonus.response_body["http_status"] == 404
    assert "unknown_bonus" in str(bonus.response_body["body"])


def test_a_wrong_secret_is_a_permanent_failure(tenant_a, template, sandbox):
    conn = BonusApiConnection.objects.get(label=tenant_a.label)
    conn.secret = "not-the-secret"
    conn.save()
    bonus = _give(tenant_a, template)
    assert bonus_deliver(bonus_id=bonus.pk) == "issue_failed"
    bonus.refresh_from_db()
    assert bonus.response_body["http_status"] == 401
    assert not SandboxBonus.objects.exists()


def test_without_a_connection_the_bonus_waits_then_fails(tenant_a, template, in_process, settings):
    settings.PITBOSS_BONUS_RETRY_BASE_SECONDS = 0
    bonus = _give(tenant_a, template)
    assert bonus_deliver(bonus_id=bonus.pk) == "retry"
    assert "No active Bonus API connection" in Bonus.objects.get(pk=bonus.pk).last_error
    Bonus.objects.filter(pk=bonus.pk).update(deliver_until=timezone.now())
    assert bonus_deliver(bonus_id=bonus.pk) == "issue_failed"


def test_an_unknown_outcome_is_looked_up_with_the_same_key_and_never_sent_again_if_applied(tenant_a, template, sandbox):
    """The operator applied it but Pitboss never heard (a timeout): the lookup finds it, no second issue call."""
    bonus = _give(tenant_a, template)
    assert bonus_deliver(bonus_id=bonus.pk) == "issued"
    Bonus.objects.filter(pk=bonus.pk).update(status="new", delivery_state="unknown", operator_bonus_id="")
    assert bonus_deliver(bonus_id=bonus.pk) == "issued"
    assert _state(bonus) == ("issued", "done", 2)
    assert bonus.response_body["http_status"] == 200  # the lookup's answer
    assert SandboxBonus.objects.get().issue_calls == 1


def test_an_unknown_outcome_not_applied_is_issued_with_the_same_key(tenant_a, template, sandbox):
    bonus = _give(tenant_a, template)
    Bonus.objects.filter(pk=bonus.pk).update(delivery_state="unknown")
    assert bonus_deliver(bonus_id=bonus.pk) == "issued"
    assert SandboxBonus.objects.get().idempotency_key == bonus.idempotency_key


def test_an_unknown_outcome_not_applied_after_the_window_fails_without_issuing(tenant_a, template, sandbox):
    bonus = _give(tenant_a, template)
    Bonus.objects.filter(pk=bonus.pk).update(delivery_state="unknown", deliver_until=timezone.now())
    assert bonus_deliver(bonus_id=bonus.pk) == "issue_failed"
    assert not SandboxBonus.objects.exists()


def test_the_sweeper_turns_a_lost_claim_into_a_lookup(tenant_a, template, sandbox, settings):
    """A worker died mid-call (in flight for longer than the stale time): the next delivery looks the key up."""
    bonus = _give(tenant_a, template)
    assert bonus_deliver(bonus_id=bonus.pk) == "issued"
    long_ago = timezone.now() - dt.timedelta(seconds=settings.PITBOSS_BONUS_STALE_SECONDS + 1)
    Bonus.objects.filter(pk=bonus.pk).update(status="new", delivery_state="in_flight", claimed_at=long_ago)
    fresh = _give(tenant_a, template, key="fresh")
    Bonus.objects.filter(pk=fresh.pk).update(delivery_state="in_flight", claimed_at=timezone.now())
    result = bonuses_sweep()
    assert result.stale == 1
    assert _state(bonus)[:2] == ("new", "unknown")
    assert _state(fresh)[:2] == ("new", "in_flight")
    assert bonus_deliver(bonus_id=bonus.pk) == "issued"
    assert SandboxBonus.objects.get().issue_calls == 1


def test_an_outcome_is_not_recorded_over_a_newer_claim(tenant_a, template, sandbox):
    from crm.services import bonus_delivery

    bonus = _give(tenant_a, template)
    claim = bonus_delivery._claim(bonus.pk)
    Bonus.objects.filter(pk=bonus.pk).update(attempts=claim.attempt + 1)  # another worker claimed it since
    assert bonus_delivery._record(bonus, claim, status="issued", delivery_state="done") is False
    assert _state(bonus)[:2] == ("new", "in_flight")


def test_backoff_grows_and_is_capped(settings):
    settings.PITBOSS_BONUS_RETRY_BASE_SECONDS = 5
    settings.PITBOSS_BONUS_RETRY_MAX_SECONDS = 600
    assert 4 <= backoff_seconds(attempt=1) <= 6
    assert 32 <= backoff_seconds(attempt=4) <= 48
    assert 480 <= backoff_seconds(attempt=30) <= 720


def test_resend_uses_the_same_key_and_looks_up_first(tenant_a, template, sandbox):
    bonus = _give(tenant_a, template)
    Bonus.objects.filter(pk=bonus.pk).update(status="issue_failed", delivery_state="failed")
    key = bonus.idempotency_key
    bonus = bonus_resend(bonus=Bonus.objects.get(pk=bonus.pk))
    assert (bonus.status, bonus.delivery_state, bonus.idempotency_key) == ("new", "unknown", key)
    assert bonus_deliver(bonus_id=bonus.pk) == "issued"
    assert SandboxBonus.objects.get().idempotency_key == key
    with pytest.raises(NotResendable):
        bonus_resend(bonus=Bonus.objects.get(pk=bonus.pk))


def test_the_operator_redeems_through_the_callback(tenant_a, template, sandbox):
    bonus = _give(tenant_a, template)
    bonus_deliver(bonus_id=bonus.pk)
    answer = sandbox_bonus_redeem(bonus=SandboxBonus.objects.get(), status="redeemed")
    assert answer["callback"]["http_status"] == 200
    assert answer["callback"]["body"] == {"bonus_id": bonus.pk, "status": "redeemed", "changed": True}
    assert _state(bonus)[0] == "redeemed"
    assert bonus.redeemed_at is not None
    again = sandbox_bonus_redeem(bonus=SandboxBonus.objects.get(), status="redeemed")
    assert again["callback"]["body"]["changed"] is False


def test_a_failed_redemption_can_still_be_redeemed_later(tenant_a, template, sandbox):
    bonus = _give(tenant_a, template)
    bonus_deliver(bonus_id=bonus.pk)
    bonus_redeem_record(label_id=tenant_a.label.pk, idempotency_key=bonus.idempotency_key, status="redeem_failed",
                        error="Wagering not met")  # fmt: skip
    assert _state(bonus)[0] == "redeem_failed"
    assert bonus.last_error == "Wagering not met"
    bonus_redeem_record(label_id=tenant_a.label.pk, idempotency_key=bonus.idempotency_key, status="redeemed")
    assert _state(bonus)[0] == "redeemed"
    with pytest.raises(RedeemRefused):
        bonus_redeem_record(label_id=tenant_a.label.pk, idempotency_key=bonus.idempotency_key, status="redeem_failed")


def test_a_redeem_for_a_bonus_whose_issue_timed_out_reconciles_it(tenant_a, template, sandbox):
    bonus = _give(tenant_a, template)
    Bonus.objects.filter(pk=bonus.pk).update(delivery_state="unknown")
    bonus_redeem_record(
        label_id=tenant_a.label.pk, idempotency_key=bonus.idempotency_key, status="redeemed", operator_bonus_id="op-9"
    )
    assert _state(bonus) == ("redeemed", "done", 0)
    assert bonus.operator_bonus_id == "op-9"
    assert bonus_deliver(bonus_id=bonus.pk) is None


def test_expired_and_failed_bonuses_cannot_be_redeemed(tenant_a, template, sandbox):
    bonus = _give(tenant_a, template)
    for status in ("expired", "issue_failed"):
        Bonus.objects.filter(pk=bonus.pk).update(status=status)
        with pytest.raises(RedeemRefused):
            bonus_redeem_record(label_id=tenant_a.label.pk, idempotency_key=bonus.idempotency_key, status="redeemed")


def test_issued_bonuses_past_their_expiry_expire(tenant_a, template, sandbox):
    issued, redeemed, fresh = (_give(tenant_a, template, key=k) for k in ("a", "b", "c"))
    for bonus in (issued, redeemed, fresh):
        bonus_deliver(bonus_id=bonus.pk)
    Bonus.objects.filter(pk=redeemed.pk).update(status="redeemed")
    past = timezone.now() - dt.timedelta(seconds=1)
    Bonus.objects.filter(pk__in=[issued.pk, redeemed.pk]).update(expires_at=past)
    assert bonuses_expire() == 1
    assert [_state(b)[0] for b in (issued, redeemed, fresh)] == ["expired", "redeemed", "issued"]


def test_the_catalogue_sync_creates_updates_and_deactivates_synced_templates(tenant_a, sandbox):
    manual = template_make(tenant_a.label, code="MANUAL_ONLY")
    gone = template_make(tenant_a.label, code="GONE", source="synced")
    kept = template_make(tenant_a.label, code="CASH_5_EUR", public_name="Five euros", amount=Decimal("1"))
    result = bonus_templates_sync(label=tenant_a.label)
    assert (result.created, result.updated, result.deactivated) == (3, 1, 1)
    templates = {t.operator_code: t for t in BonusTemplate.objects.filter(label=tenant_a.label)}
    spins = templates["10FREE_SPIN_IN_GOLDEN_SLOT"]
    assert (spins.type, spins.amount, spins.source, spins.expiry_days) == ("free_spins", Decimal(10), "synced", 365)
    assert templates["WELCOME_COUPON"].expiry_days == 30
    assert templates["WELCOME_COUPON"].amount is None
    kept.refresh_from_db()
    assert (kept.public_name, kept.amount, kept.source, kept.name) == ("Five euros", Decimal(5), "synced", "5 EUR cash")
    gone.refresh_from_db()
    manual.refresh_from_db()
    assert (gone.is_active, manual.is_active, manual.source) == (False, True, "manual")
    assert BonusApiConnection.objects.get(label=tenant_a.label).catalogue_synced_at is not None


@pytest.fixture
def private_queue(settings):
    """Dispatches go to a queue of this test's own on the real broker; it is read back, then deleted."""
    from backoffice.celery import app

    settings.PITBOSS_BONUS_QUEUE = f"bonus-test-{timezone.now().timestamp():.0f}-{id(settings)}"
    with app.connection_for_write() as conn:
        channel = conn.default_channel
        yield lambda: channel.queue_declare(settings.PITBOSS_BONUS_QUEUE, passive=True).message_count
        channel.queue_delete(settings.PITBOSS_BONUS_QUEUE)


def test_the_sweeper_resends_wake_ups_lost_past_the_grace_and_nothing_else(tenant_a, template, private_queue):
    now = timezone.now()
    lost, fresh, later, done = (_give(tenant_a, template, key=k) for k in ("lost", "fresh", "later", "done"))
    Bonus.objects.filter(pk=lost.pk).update(next_attempt_at=now - dt.timedelta(minutes=1))
    Bonus.objects.filter(pk=later.pk).update(next_attempt_at=now + dt.timedelta(minutes=1))
    Bonus.objects.filter(pk=done.pk).update(next_attempt_at=now - dt.timedelta(minutes=1), delivery_state="done")
    result = bonuses_sweep(now=now)
    assert (result.stale, result.dispatched) == (0, 1)
    assert private_queue() == 1
    assert _state(fresh)[1] == "pending"  # due just now: its own message is on the way


def test_the_sandbox_can_seed_the_templates_without_a_server(tenant_a):
    bonus_connection_sandbox_ensure(label=tenant_a.label, base_url="http://127.0.0.1:8000", templates=True)
    codes = set(
        BonusTemplate.objects.filter(label=tenant_a.label, source="synced").values_list("operator_code", flat=True)
    )
    assert codes == {"10FREE_SPIN_IN_GOLDEN_SLOT", "CASH_5_EUR", "DEPOSIT_MATCH_100", "WELCOME_COUPON"}
    conn = BonusApiConnection.objects.get(label=tenant_a.label)
    assert conn.base_url == f"http://127.0.0.1:8000/sandbox/bonus-api/{tenant_a.label.label_key}"
    sandbox = SandboxBonusSettings.objects.get(label=tenant_a.label)
    assert sandbox.secret == conn.secret
    assert sandbox.callback_url == f"http://127.0.0.1:8000/api/v1/bonus-api/{tenant_a.label.label_key}/redeem"


def test_a_malformed_catalogue_is_refused_and_shown_on_the_connection(tenant_a, sandbox):
    sandbox.catalogue = [{"code": "NO_NAME"}]
    sandbox.save()
    template_make(tenant_a.label)
    with pytest.raises(PermanentError, match='needs "code" and "name"'):
        bonus_templates_sync(label=tenant_a.label)
    assert BonusTemplate.objects.filter(label=tenant_a.label).count() == 1
    assert 'needs "code" and "name"' in BonusApiConnection.objects.get(label=tenant_a.label).catalogue_error
