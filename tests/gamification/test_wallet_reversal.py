"""Reversing a credit takes back what it raised: spendable, ever-earned and tournament points, and the level."""

from __future__ import annotations

import pytest

from backoffice.errors import DomainError, DomainValidationError
from crm.models import Event
from gamification.models import Level, Wallet, WalletEntry
from gamification.selectors import wallet_get
from gamification.services.wallet import wallet_adjust, wallet_entry_reverse

pytestmark = pytest.mark.django_db


@pytest.fixture
def levels(tenant_a):
    label = tenant_a.label
    return {
        "bronze": Level.objects.create(label=label, name="Bronze", required_points=0, is_default=True),
        "silver": Level.objects.create(label=label, name="Silver", required_points=100),
        "gold": Level.objects.create(label=label, name="Gold", required_points=500),
    }


def _credit(player, amount, key, **kwargs):
    kwargs.setdefault("source", "manual")
    return wallet_adjust(player=player, currency="points", amount=amount, key=key, reason="test", **kwargs).entry


def _balances(player) -> tuple[int, int, int]:
    wallet = wallet_get(player=player)
    return wallet.points, wallet.points_earned, wallet.points_tournament


def test_a_reversal_takes_back_spendable_earned_and_tournament_points_and_drops_the_level(
    tenant_a, levels, django_capture_on_commit_callbacks
):
    player = tenant_a.player
    _credit(player, 80, "m1", source="mission")
    credit = _credit(player, 450, "big")
    assert wallet_get(player=player).level == levels["gold"]
    with django_capture_on_commit_callbacks(execute=True):
        result = wallet_entry_reverse(entry=credit, reason="Typed one zero too many", created_by=tenant_a.admin)
    assert result.created
    assert _balances(player) == (80, 80, 80)
    assert wallet_get(player=player).level == levels["bronze"]
    reversal = result.entry
    assert (reversal.amount, reversal.source, reversal.reverses_id, reversal.counts_as_earned) == (
        -450,
        "reversal",
        credit.pk,
        True,
    )
    assert (reversal.key, reversal.reason, reversal.created_by) == (
        f"reversal:{credit.pk}",
        "Typed one zero too many",
        tenant_a.admin,
    )
    facts = Event.objects.filter(label=tenant_a.label, source="system").order_by("id")
    balance = [f.payload for f in facts if f.type == "balance_changed"][-1]
    assert balance == {"currency": "points", "amount": -450, "balance": 80, "source": "reversal",
                       "entry_id": reversal.pk}  # fmt: skip
    level = [f.payload for f in facts if f.type == "level_changed"][-1]
    assert level == {"level_id": levels["bronze"].pk, "level_name": "Bronze",
                     "previous_level_id": levels["gold"].pk, "previous_level_name": "Gold"}  # fmt: skip


def test_a_reversal_happens_once(tenant_a):
    credit = _credit(tenant_a.player, 50, "c1")
    first = wallet_entry_reverse(entry=credit, reason="dup")
    again = wallet_entry_reverse(entry=credit, reason="dup again")
    assert (first.created, again.created, again.entry.pk) == (True, False, first.entry.pk)
    assert _balances(tenant_a.player) == (0, 0, 0)
    assert WalletEntry.objects.count() == 2


def test_a_level_bought_in_the_store_is_kept_when_a_credit_is_reversed(tenant_a, levels):
    player = tenant_a.player
    credit = _credit(player, 600, "c1")
    Wallet.objects.filter(player_id=player.pk).update(level_floor=levels["silver"])
    wallet_entry_reverse(entry=credit, reason="fraud")
    wallet = wallet_get(player=player)
    assert (wallet.points_earned, wallet.level) == (0, levels["silver"])


def test_a_credit_not_counted_as_earned_reverses_spendable_only(tenant_a, levels):
    player = tenant_a.player
    _credit(player, 200, "earned")
    refund = _credit(player, 30, "refund", source="tournament", counts_as_earned=False)
    wallet_entry_reverse(entry=refund, reason="double refund")
    assert _balances(player) == (200, 200, 200)
    assert wallet_get(player=player).level == levels["silver"]


def test_gems_are_reversed_too(tenant_a):
    gems = wallet_adjust(player=tenant_a.player, currency="gems", amount=9, source="manual", key="g", reason="x")
    wallet_entry_reverse(entry=gems.entry, reason="wrong player")
    assert wallet_get(player=tenant_a.player).gems == 0


@pytest.mark.parametrize("case", ["debit", "reversal", "spent", "no reason"])
def test_what_cannot_be_reversed_is_refused_and_changes_nothing(tenant_a, case):
    player = tenant_a.player
    credit = _credit(player, 100, "c1")
    if case == "debit":
        target = wallet_adjust(player=player, currency="points", amount=-10, source="manual", key="d", reason="x")
        target, message = target.entry, "Only a credit can be reversed"
    elif case == "reversal":
        target, message = wallet_entry_reverse(entry=credit, reason="once").entry, "Only a credit can be reversed"
    elif case == "spent":
        wallet_adjust(player=player, currency="points", amount=-60, source="store", key="s")
        target, message = credit, "The player has 40 points left, fewer than the 100 to take back."
    else:
        target, message = credit, "reason"
    before, entries = _balances(player), WalletEntry.objects.count()
    with pytest.raises(DomainError) as exc:
        wallet_entry_reverse(entry=target, reason="" if case == "no reason" else "why")
    if case == "no reason":
        assert isinstance(exc.value, DomainValidationError)
        assert list(exc.value.errors) == ["reason"]
    else:
        assert message in exc.value.message
        assert exc.value.status_code == 422
    assert (_balances(player), WalletEntry.objects.count()) == (before, entries)
