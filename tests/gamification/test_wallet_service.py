"""The wallet ledger: idempotent keys, balances that equal their entries and never go below zero, under races too."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.db.models import Sum
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from backoffice.errors import DomainError, DomainValidationError
from gamification.models import Wallet, WalletEntry
from gamification.selectors import wallet_get
from gamification.services.wallet import MAX_BALANCE, wallet_adjust
from tests.factories import PlayerFactory

CURRENCIES = ("points", "gems", "diamonds")


def _adjust(player, currency="points", amount=10, key="k1", **kwargs):
    return wallet_adjust(player=player, currency=currency, amount=amount, source="api", key=key, **kwargs)


@pytest.mark.django_db
def test_a_points_credit_raises_spendable_earned_and_tournament_and_a_debit_only_spendable():
    player = PlayerFactory()
    _adjust(player, amount=100, key="c")
    result = _adjust(player, amount=-30, key="d")
    assert (result.wallet.points, result.wallet.points_earned, result.wallet.points_tournament) == (70, 100, 100)
    assert result.entry.amount == -30
    assert result.created


@pytest.mark.django_db
def test_a_credit_that_does_not_count_as_earned_raises_only_spendable():
    player = PlayerFactory()
    wallet = _adjust(player, amount=40, counts_as_earned=False).wallet
    assert (wallet.points, wallet.points_earned, wallet.points_tournament) == (40, 0, 0)


@pytest.mark.django_db
def test_a_replayed_key_returns_the_first_entry_and_changes_nothing():
    player = PlayerFactory()
    first = _adjust(player, currency="gems", amount=5, key="same")
    again = _adjust(player, currency="gems", amount=5, key="same")
    assert not again.created
    assert again.entry.pk == first.entry.pk
    assert wallet_get(player=player).gems == 5
    assert WalletEntry.objects.count() == 1


@pytest.mark.django_db
def test_a_key_reused_for_another_adjustment_is_a_conflict():
    player = PlayerFactory()
    _adjust(player, amount=5, key="same")
    with pytest.raises(DomainError) as exc:
        _adjust(player, amount=6, key="same")
    assert (exc.value.code, exc.value.status_code) == ("idempotency_conflict", 409)
    with pytest.raises(DomainError):
        _adjust(PlayerFactory(brand=player.brand), amount=5, key="same")  # same label, another player
    assert wallet_get(player=player).points == 5


@pytest.mark.django_db
def test_keys_are_unique_per_label_not_across_labels():
    a, b = PlayerFactory(), PlayerFactory()
    assert _adjust(a, key="k").created
    assert _adjust(b, key="k").created


@pytest.mark.django_db
def test_an_overdraft_is_refused_and_writes_nothing():
    player = PlayerFactory()
    _adjust(player, currency="diamonds", amount=3, key="c")
    with pytest.raises(DomainError) as exc:
        _adjust(player, currency="diamonds", amount=-4, key="d")
    assert (exc.value.code, exc.value.status_code) == ("insufficient_balance", 422)
    assert wallet_get(player=player).diamonds == 3
    assert not WalletEntry.objects.filter(key="d").exists()
    # The refused key was not consumed: it may be used once the balance allows.
    _adjust(player, currency="diamonds", amount=3, key="c2")
    assert _adjust(player, currency="diamonds", amount=-4, key="d").wallet.diamonds == 2


@pytest.mark.django_db
def test_a_debit_of_a_player_without_a_wallet_is_refused():
    player = PlayerFactory()
    with pytest.raises(DomainError, match="fewer gems"):
        _adjust(player, currency="gems", amount=-1)
    assert wallet_get(player=player).gems == 0
    assert not WalletEntry.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"currency": "coins"}, "currency"),
        ({"amount": 0}, "amount"),
        ({"amount": True}, "amount"),
        ({"amount": 2.5}, "amount"),
        ({"key": ""}, "idempotency_key"),
        ({"key": "x" * 256}, "idempotency_key"),
        ({"reason": "x" * 501}, "reason"),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(kwargs, field):
    player = PlayerFactory()
    with pytest.raises(DomainValidationError) as exc:
        _adjust(player, **kwargs)
    assert list(exc.value.errors) == [field]
    assert not WalletEntry.objects.exists()
    assert not Wallet.objects.exists()


def _sums(player) -> dict[str, int]:
    entries = WalletEntry.objects.filter(player=player)
    total = {c: entries.filter(currency=c).aggregate(s=Sum("amount"))["s"] or 0 for c in CURRENCIES}
    earned = entries.filter(currency="points", amount__gt=0, counts_as_earned=True).aggregate(s=Sum("amount"))["s"]
    return {**total, "points_earned": earned or 0, "points_tournament": earned or 0}


class WalletMachine(RuleBasedStateMachine):
    """Random credits, debits and replays: the balances always equal the ledger and never go below zero."""

    keys = Bundle("keys")

    @initialize()
    def player_create(self):
        self.player = PlayerFactory()
        self.counter = 0

    def _key(self) -> str:
        self.counter += 1
        return f"key-{self.counter}"

    @rule(target=keys, currency=st.sampled_from(CURRENCIES), amount=st.integers(1, 1000), earned=st.booleans())
    def credit(self, currency, amount, earned):
        key = self._key()
        _adjust(self.player, currency=currency, amount=amount, key=key, counts_as_earned=earned)
        return (key, currency, amount)

    @rule(target=keys, currency=st.sampled_from(CURRENCIES), amount=st.integers(1, 1000))
    def debit(self, currency, amount):
        key = self._key()
        before = getattr(wallet_get(player=self.player), currency)
        if amount > before:
            with pytest.raises(DomainError, match="fewer"):
                _adjust(self.player, currency=currency, amount=-amount, key=key)
            return (key, currency, 1)  # never written: replaying it later is a fresh, valid credit
        _adjust(self.player, currency=currency, amount=-amount, key=key)
        return (key, currency, -amount)

    @rule(key=keys)
    def replay(self, key):
        key, currency, amount = key
        entries = WalletEntry.objects.filter(player=self.player).count()
        result = _adjust(self.player, currency=currency, amount=amount, key=key)
        # A key that was written replays without a change; a refused debit's key became a credit of 1 (see debit).
        assert result.created == (WalletEntry.objects.filter(player=self.player).count() == entries + 1)

    @invariant()
    def balances_equal_the_ledger(self):
        if not hasattr(self, "player"):
            return
        wallet = wallet_get(player=self.player)
        sums = _sums(self.player)
        for column, total in sums.items():
            assert getattr(wallet, column) == total >= 0, column

    @invariant()
    def no_key_twice(self):
        if hasattr(self, "player"):
            keys = list(WalletEntry.objects.filter(player=self.player).values_list("key", flat=True))
            assert len(keys) == len(set(keys))


@pytest.mark.django_db
def test_random_credits_debits_and_replays_keep_balances_equal_to_the_ledger():
    # Every example makes a player in a new label, so examples sharing the test's transaction cannot see each other.
    run_state_machine_as_test(
        WalletMachine,
        settings=settings(
            max_examples=30, stateful_step_count=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
        ),
    )


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_debits_of_a_balance_of_ten_let_exactly_ten_through():
    player = PlayerFactory()
    _adjust(player, amount=10, key="fund")
    outcomes: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(50)

    def debit(n: int) -> None:
        try:
            barrier.wait()
            try:
                _adjust(player, amount=-1, key=f"debit-{n}")
                outcome = "ok"
            except DomainError as exc:
                outcome = exc.code
            with lock:
                outcomes.append(outcome)
        finally:
            connection.close()

    threads = [threading.Thread(target=debit, args=(n,)) for n in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["insufficient_balance"] * 40 + ["ok"] * 10
    wallet = wallet_get(player=player)
    assert (wallet.points, wallet.points_earned) == (0, 10)
    assert WalletEntry.objects.filter(player=player).count() == 11


@pytest.mark.django_db
def test_a_credit_past_the_largest_balance_is_refused_naming_the_amount_and_changes_nothing():
    player = PlayerFactory()
    largest = MAX_BALANCE
    _adjust(player, amount=largest, key="k1")
    with pytest.raises(DomainValidationError) as raised:
        _adjust(player, amount=largest, key="k2")  # the sum would overflow PostgreSQL's bigint: refused, not a 500
    assert list(raised.value.errors) == ["amount"]
    with pytest.raises(DomainValidationError):
        _adjust(player, amount=largest + 1, key="k3")  # larger than any balance may be
    assert WalletEntry.objects.filter(player=player).count() == 1
    assert wallet_get(player=player).points == largest
