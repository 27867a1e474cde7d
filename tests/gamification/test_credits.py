"""Staff credits under four eyes: caps per role and currency, requests above them, one approval applies once."""

from __future__ import annotations

import threading
import uuid

import pytest
from django.db import connection

from backoffice.errors import DomainError, DomainValidationError, NotFound
from backoffice.models import Role
from gamification.models import CreditLimit, CreditRequest, WalletEntry
from gamification.selectors import wallet_get
from gamification.services.credits import (
    credit_caps,
    credit_request_approve,
    credit_request_reject,
    manual_adjust,
)

pytestmark = pytest.mark.django_db


def _submit(player, staff, amount, currency="points", key=None):
    return manual_adjust(
        player=player, currency=currency, amount=amount, reason="Ticket 42", key=key or str(uuid.uuid4()), staff=staff
    )


@pytest.fixture
def support(tenant_a, staff_with_role):
    return staff_with_role(tenant_a.label, Role.SUPPORT, "support_a")


@pytest.fixture
def manager(tenant_a, staff_with_role):
    return staff_with_role(tenant_a.label, Role.MANAGER, "manager_a")


def test_the_defaults_apply_when_the_label_configured_no_caps(tenant_a, support):
    caps = credit_caps(label_id=tenant_a.label.pk, role=Role.SUPPORT, currency="points", user_id=support.pk)
    assert (caps.per_adjustment, caps.per_day, caps.used_today, caps.configured) == (1_000, 5_000, 0, False)
    assert credit_caps(label_id=tenant_a.label.pk, role=Role.ADMIN, currency="diamonds", user_id=None).per_day == 10_000


def test_a_credit_within_the_cap_is_applied_at_once(tenant_a, support):
    result = _submit(tenant_a.player, support, 1_000)
    assert result.request is None
    assert result.adjusted.created
    assert result.adjusted.entry.key.startswith("manual:")
    assert wallet_get(player=tenant_a.player).points == 1_000


def test_a_credit_above_the_cap_per_adjustment_waits_for_approval(tenant_a, support):
    result = _submit(tenant_a.player, support, 1_001)
    assert result.adjusted is None
    assert result.created
    request = result.request
    assert (request.status, request.amount, request.requested_by, request.reason) == (
        "pending",
        1_001,
        support,
        "Ticket 42",
    )
    assert request.exceeded == "Above the support cap of 1,000 points per adjustment."
    assert wallet_get(player=tenant_a.player).points == 0
    assert not WalletEntry.objects.exists()


def test_the_daily_cap_counts_the_staff_members_own_credits_of_the_day_per_currency(tenant_a, support, manager):
    CreditLimit.objects.create(label=tenant_a.label, role=Role.SUPPORT, currency="points", per_adjustment=60,
                               per_day=100)  # fmt: skip
    assert _submit(tenant_a.player, support, 60).adjusted
    assert _submit(tenant_a.player, support, 40).adjusted
    assert _submit(tenant_a.player, support, -30).adjusted  # a debit is never capped and frees nothing
    assert _submit(tenant_a.player, support, 5, currency="gems").adjusted  # another currency, another cap
    assert _submit(tenant_a.player, manager, 60).adjusted  # another staff member, their own day
    late = _submit(tenant_a.player, support, 1).request
    assert late.exceeded == "Above the support cap of 100 points a day (100 already credited today)."
    credit_request_approve(request_id=late.pk, label_id=tenant_a.label.pk, approver=manager)
    caps = credit_caps(label_id=tenant_a.label.pk, role=Role.SUPPORT, currency="points", user_id=support.pk)
    assert caps.used_today == 100  # the approved credit does not count: a second person saw it


def test_the_same_form_submitted_twice_asks_or_applies_once(tenant_a, support):
    key = str(uuid.uuid4())
    first, again = _submit(tenant_a.player, support, 5_000, key=key), _submit(tenant_a.player, support, 5_000, key=key)
    assert (first.created, again.created, again.request.pk) == (True, False, first.request.pk)
    small = str(uuid.uuid4())
    _submit(tenant_a.player, support, 1_000, key=small)
    replay = _submit(tenant_a.player, support, 1_000, key=small)
    assert (replay.created, replay.request) == (False, None)
    assert (CreditRequest.objects.count(), WalletEntry.objects.count()) == (1, 1)


def test_approval_applies_the_credit_once_and_records_who_and_when(tenant_a, support, manager):
    request = _submit(tenant_a.player, support, 5_000).request
    result = credit_request_approve(request_id=request.pk, label_id=tenant_a.label.pk, approver=manager)
    again = credit_request_approve(request_id=request.pk, label_id=tenant_a.label.pk, approver=tenant_a.admin)
    assert (result.decided, again.decided) == (True, False)
    request.refresh_from_db()
    assert (request.status, request.decided_by, request.decided_at is not None) == ("approved", manager, True)
    entry = WalletEntry.objects.get()
    assert request.entry == entry
    assert (entry.amount, entry.source, entry.created_by, entry.key, entry.reason) == (
        5_000,
        "manual",
        support,
        f"credit:{request.pk}",
        "Ticket 42",
    )
    assert wallet_get(player=tenant_a.player).points == 5_000
    assert credit_request_reject(request_id=request.pk, label_id=tenant_a.label.pk, approver=manager).decided is False


def test_rejection_credits_nothing_and_keeps_the_note(tenant_a, support, manager):
    request = _submit(tenant_a.player, support, 5_000).request
    result = credit_request_reject(request_id=request.pk, label_id=tenant_a.label.pk, approver=manager, note="No")
    assert result.decided
    assert (result.request.status, result.request.decided_by, result.request.decision_note) == (
        "rejected",
        manager,
        "No",
    )
    assert credit_request_approve(request_id=request.pk, label_id=tenant_a.label.pk, approver=manager).decided is False
    assert not WalletEntry.objects.exists()


@pytest.mark.parametrize("who", ["requester", "support", "integration", "other label"])
def test_only_a_second_staff_member_with_the_right_in_the_label_decides(
    who, tenant_a, tenant_b, staff_with_role, support
):
    request = _submit(tenant_a.player, tenant_a.admin, 200_000).request
    decider = {
        "requester": tenant_a.admin,
        "support": support,
        "integration": staff_with_role(tenant_a.label, Role.INTEGRATION_ENGINEER),
        "other label": tenant_b.admin,
    }[who]
    for decide in (credit_request_approve, credit_request_reject):
        with pytest.raises(DomainError) as exc:
            decide(request_id=request.pk, label_id=tenant_a.label.pk, approver=decider)
        assert exc.value.status_code == 422
    with pytest.raises(NotFound):  # label B's staff asking in their own label: no such request there
        credit_request_approve(request_id=request.pk, label_id=tenant_b.label.pk, approver=tenant_b.admin)
    request.refresh_from_db()
    assert request.status == "pending"
    assert not WalletEntry.objects.exists()


def test_bad_input_names_the_field_and_writes_nothing(tenant_a, support):
    for kwargs, field in (({"amount": 0}, "amount"), ({"currency": "coins"}, "currency")):
        with pytest.raises(DomainValidationError) as exc:
            manual_adjust(
                **{"player": tenant_a.player, "currency": "points", "amount": 5, "reason": "x", "key": "k"} | kwargs,
                staff=support,
            )
        assert list(exc.value.errors) == [field]
    with pytest.raises(DomainValidationError) as exc:
        manual_adjust(player=tenant_a.player, currency="points", amount=5, reason=" ", key="k", staff=support)
    assert list(exc.value.errors) == ["reason"]
    assert not WalletEntry.objects.exists()
    assert not CreditRequest.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_approvals_apply_the_credit_exactly_once(tenant_a, support, manager):
    request = _submit(tenant_a.player, support, 5_000).request
    barrier, results, errors = threading.Barrier(4), [], []

    def approve(user):
        try:
            barrier.wait()
            results.append(credit_request_approve(request_id=request.pk, label_id=tenant_a.label.pk, approver=user))
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    approvers = [manager, tenant_a.admin, manager, tenant_a.admin]
    threads = [threading.Thread(target=approve, args=(user,)) for user in approvers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(r.decided for r in results) == [False, False, False, True]
    assert WalletEntry.objects.filter(player=tenant_a.player).count() == 1
    assert wallet_get(player=tenant_a.player).points == 5_000


@pytest.mark.django_db(transaction=True)
def test_concurrent_credits_cannot_both_fit_in_what_is_left_of_the_day(tenant_a, support):
    CreditLimit.objects.create(label=tenant_a.label, role=Role.SUPPORT, currency="points", per_adjustment=100,
                               per_day=100)  # fmt: skip
    barrier, results = threading.Barrier(4), []

    def credit():
        try:
            barrier.wait()
            results.append(_submit(tenant_a.player, support, 60))
        finally:
            connection.close()

    threads = [threading.Thread(target=credit) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.adjusted is not None for r in results) == [False, False, False, True]
    assert wallet_get(player=tenant_a.player).points == 60
    assert CreditRequest.objects.count() == 3


ADJUST = "/api/v1/players/shared-brand/shared-player/wallet/adjustments"


def test_staff_calling_the_api_with_their_session_are_held_to_their_caps(tenant_a, tenant_b, support, key_client):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_login(support)
    body = {"currency": "points", "reason": "goodwill"}
    within = client.post(ADJUST, body | {"amount": 1_000, "idempotency_key": "s-1"}, format="json")
    assert within.status_code == 201
    above = client.post(ADJUST, body | {"amount": 1_001, "idempotency_key": "s-2"}, format="json")
    assert above.status_code == 422
    assert above.json()["code"] == "approval_required"
    assert "Above the support cap of 1,000 points per adjustment." in above.json()["message"]
    day = client.post(ADJUST, body | {"amount": 1_000, "idempotency_key": "s-3"}, format="json")
    assert day.status_code == 201  # 2,000 of the day's 5,000
    assert client.post(ADJUST, body | {"amount": 1_000, "idempotency_key": "s-1"}, format="json").status_code == 200
    assert wallet_get(player=tenant_a.player).points == 2_000
    # The operator's platform, with its API key, is not capped.
    assert (
        key_client.post(ADJUST, body | {"amount": 900_000, "idempotency_key": "k-1"}, format="json").status_code == 201
    )
    assert wallet_get(player=tenant_a.player).points == 902_000
    assert wallet_get(player=tenant_b.player).points == 0
