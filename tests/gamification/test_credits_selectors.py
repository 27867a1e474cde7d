"""Reads about reversals and pending credits, for the tournament handler and the dashboard."""

from __future__ import annotations

import uuid

import pytest

from backoffice.models import Role
from gamification.selectors.credits import ReversedCredit, credit_requests_pending_count, reversed_credits
from gamification.services.credits import manual_adjust
from gamification.services.wallet import wallet_adjust, wallet_entry_reverse

pytestmark = pytest.mark.django_db


def test_a_reversal_names_the_credit_it_took_back(tenant_a):
    credit = wallet_adjust(player=tenant_a.player, currency="points", amount=30, source="mission", key="m1").entry
    other = wallet_adjust(player=tenant_a.player, currency="gems", amount=3, source="api", key="a1").entry
    reversal = wallet_entry_reverse(entry=credit, reason="paid twice").entry
    found = reversed_credits(reversal_ids=[reversal.pk, other.pk, reversal.pk])
    assert found == {
        reversal.pk: ReversedCredit(reversal.pk, credit.pk, "mission", "points", 30, credit.created_at),
    }
    assert reversed_credits(reversal_ids=[]) == {}


def test_pending_credits_are_counted_per_label(tenant_a, tenant_b, staff_with_role):
    support = staff_with_role(tenant_a.label, Role.SUPPORT)
    for _ in range(2):
        manual_adjust(player=tenant_a.player, currency="points", amount=5_000, reason="x", key=str(uuid.uuid4()),
                      staff=support)  # fmt: skip
    assert credit_requests_pending_count(label_ids=[tenant_a.label.pk]) == 2
    assert credit_requests_pending_count(label_ids=[tenant_b.label.pk]) == 0
    assert credit_requests_pending_count(label_ids=[tenant_a.label.pk, tenant_b.label.pk]) == 2
