"""Credits in bulk (`CreditBatch`) against `wallet_adjust` one at a time: the same outcomes, refusals, ledger,
balances, levels, withheld credits and facts, in the same order."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from backoffice.errors import DomainValidationError
from gamification.models import Level, Wallet, WalletEntry
from gamification.services.rewards import Credit, CreditBatch, CreditOutcome
from gamification.services.wallet import MAX_BALANCE, ControlGroup, IdempotencyConflict, wallet_adjust
from tests.factories import PlayerFactory
from tests.gamification.ledger_world import ledger_world

pytestmark = pytest.mark.django_db


def _setup(tenant) -> dict:
    """Levels with a default, a store floor on one player, and players of every kind, the same in each label."""
    label = tenant.label
    levels = {name: Level.objects.create(label=label, name=name, required_points=points, is_default=points == 0)
              for name, points in (("Bronze", 0), ("Silver", 30), ("Gold", 60), ("Platinum", 1000))}  # fmt: skip
    players = {"main": tenant.player}
    for name, extra in (("other", {}), ("floored", {}), ("control", {"ach_gamification_in_control_group": True}),
                        ("gone", {"core_account_status": "SELF_EXCLUDED"}), ("rich", {})):  # fmt: skip
        players[name] = PlayerFactory(brand=tenant.brand, label=label, user_ext_id=name, **extra)
    Wallet.objects.create(player=players["floored"], label=label, level_floor=levels["Gold"], level=levels["Gold"])
    Wallet.objects.create(player=players["rich"], label=label, gems=MAX_BALANCE - 5)
    wallet_adjust(player=players["main"], currency="points", amount=10, source="manual", key="start")
    return players


def _plan(players) -> list[tuple[str, str, int, str]]:
    """(player, currency, amount, key): several level crossings for one player, a floor, every refusal."""
    return [
        ("main", "points", 15, "c1"),  # 25: Bronze stays
        ("main", "gems", 4, "c2"),
        ("other", "points", 70, "c3"),  # Bronze -> Gold at once
        ("main", "points", 10, "c4"),  # 35: Silver
        ("floored", "points", 40, "c5"),  # below the Gold floor: stays Gold
        ("control", "points", 5, "c6"),  # control group: refused
        ("gone", "points", 5, "c7"),  # not ACTIVE: withheld
        ("gone", "diamonds", 2, "c8"),
        ("main", "points", 30, "c9"),  # 65: Gold
        ("rich", "gems", 5, "c10"),  # up to the maximum exactly
        ("rich", "gems", 1, "c11"),  # above it: refused
        ("main", "diamonds", 1, "start"),  # a key used before, for another credit: conflict
        ("main", "points", 10, "start"),  # the same credit as before: a replay, nothing changes
        ("floored", "points", 1000, "c12"),  # past the floor: Platinum
    ]


REFUSALS = (ControlGroup, DomainValidationError, IdempotencyConflict)


def _one_by_one(player, currency, amount, key):
    try:
        result = wallet_adjust(player=player, currency=currency, amount=amount, source="rule", key=key, reason="R")
    except REFUSALS as exc:
        return type(exc).__name__, exc.errors
    return ("withheld", False) if result.withheld is not None else ("applied", result.created)


def _batch_add(batch, player, currency, amount, key):
    try:
        outcome = batch.add(Credit(player=player, currency=currency, amount=amount, source="rule", key=key, reason="R"))
    except REFUSALS as exc:
        return type(exc).__name__, exc.errors
    return outcome


def test_a_batch_gives_what_wallet_adjust_gives_one_at_a_time(tenant_a, tenant_b):
    one = _setup(tenant_a)
    bulk = _setup(tenant_b)
    expected = [_one_by_one(one[p], c, a, k) for p, c, a, k in _plan(one)]
    batch = CreditBatch(players=bulk.values())
    for p, c, a, k in _plan(bulk):
        _batch_add(batch, bulk[p], c, a, k)
    with pytest.raises(IdempotencyConflict), transaction.atomic():  # the reused key, raised when written
        batch.flush()
    assert not WalletEntry.objects.filter(label=tenant_b.label, source="rule").exists()
    batch = CreditBatch(players=bulk.values())  # again, leaving the conflicting credit out
    found = []
    with CaptureQueriesContext(connection) as queries:
        for p, c, a, k in _plan(bulk):
            conflict = (k, c) == ("start", "diamonds")
            found.append(("IdempotencyConflict", {}) if conflict else _batch_add(batch, bulk[p], c, a, k))
        batch.flush()
    assert [(o.status, o.created) if isinstance(o, CreditOutcome) else o for o in found] == expected
    assert ledger_world(tenant_b.label) == ledger_world(tenant_a.label)
    inserts = [q for q in queries.captured_queries if q["sql"].startswith("INSERT INTO gamification_walletentry")]
    assert len(inserts) == 1  # nine entries, one statement
    world = ledger_world(tenant_b.label)
    assert world["wallets"]["shared-player"][:6] == (65, 65, 65, 4, 0, "Gold")
    assert world["wallets"]["floored"][5] == "Platinum"
    assert [f[2] for f in world["facts"] if f[0] == "shared-player" and f[1] == "level_changed"] == [
        ("level", "shared-player", "Bronze", 0),  # the manual start
        ("level", "shared-player", "Silver", 4),
        ("level", "shared-player", "Gold", 6),
    ]
    assert world["withheld"] == [("gone", "diamonds", 2, "rule", "c8", "R", "SELF_EXCLUDED"),
                                 ("gone", "points", 5, "rule", "c7", "R", "SELF_EXCLUDED")]  # fmt: skip


def test_a_replayed_batch_changes_nothing(tenant_a):
    players = _setup(tenant_a)
    credits = [Credit(player=players[p], currency=c, amount=a, source="rule", key=k)
               for p, c, a, k in _plan(players) if k not in ("start", "c6", "c11")]  # fmt: skip
    batch = CreditBatch(players=players.values())
    for credit in credits:
        batch.add(credit)
    batch.flush()
    first = ledger_world(tenant_a.label)
    batch = CreditBatch(players=players.values())
    outcomes = [batch.add(credit) for credit in credits]
    batch.flush()
    assert ledger_world(tenant_a.label) == first
    assert [(o.status, o.created) for o in outcomes] == [
        ("withheld" if c.player.user_ext_id == "gone" else "applied", False) for c in credits
    ]


def test_a_debit_is_not_taken_in_a_batch(tenant_a):
    batch = CreditBatch(players=[tenant_a.player])
    with pytest.raises(DomainValidationError):
        batch.add(Credit(player=tenant_a.player, currency="points", amount=0, source="rule", key="k"))
    with pytest.raises(ValueError, match="credits only"):
        batch.add(Credit(player=tenant_a.player, currency="points", amount=-5, source="rule", key="k"))
