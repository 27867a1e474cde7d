"""Caps hold under concurrency: effects fired at once from many connections for one player respect the cap."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection, transaction

from crm.automation.engine import Firing, effects_fire
from crm.automation.rules_cache import rule_compile
from crm.models.rules import RuleEffect
from gamification.models import WalletEntry
from tests.crm.rules.helpers import rule_make

pytestmark = pytest.mark.django_db(transaction=True)
AT = dt.datetime(2026, 1, 5, 12, tzinfo=dt.UTC)


def _fire_at_once(rule, player, n: int) -> list:
    compiled = rule_compile(rule)
    barrier = threading.Barrier(n)
    outcomes, errors = [], []

    def fire(i: int) -> None:
        try:
            barrier.wait()
            with transaction.atomic():
                firing = Firing(compiled, player.pk, AT, event_id=10_000 + i, payload={"deposit_amount": 100})
                outcomes.extend(effects_fire([firing], label_settings={rule.label_id: (True, "UTC")}))
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=fire, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return outcomes


def test_a_cap_of_3_per_day_against_12_concurrent_firings(tenant_a):
    rule = rule_make(tenant_a.label, cap_count=3, cap_period="day")
    outcomes = _fire_at_once(rule, tenant_a.player, 12)
    assert sorted(o.status for o in outcomes) == ["applied"] * 3 + ["skipped"] * 9
    assert RuleEffect.objects.filter(status="applied").count() == 3
    assert RuleEffect.objects.filter(reason="capped").count() == 9
    assert WalletEntry.objects.count() == 3


def test_once_in_a_lifetime_against_8_concurrent_firings(tenant_a):
    rule = rule_make(tenant_a.label, once_in_lifetime=True)
    outcomes = _fire_at_once(rule, tenant_a.player, 8)
    assert sorted(o.status for o in outcomes) == ["applied"] + ["skipped"] * 7
    assert WalletEntry.objects.count() == 1


def test_the_same_event_fired_concurrently_applies_once(tenant_a):
    rule = rule_make(tenant_a.label)
    compiled = rule_compile(rule)
    barrier = threading.Barrier(6)
    results = []

    def fire() -> None:
        try:
            barrier.wait()
            with transaction.atomic():
                firing = Firing(compiled, tenant_a.player.pk, AT, event_id=777, payload={"deposit_amount": 100})
                results.extend(effects_fire([firing], label_settings={rule.label_id: (True, "UTC")}))
        finally:
            connection.close()

    threads = [threading.Thread(target=fire) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.status for r in results if r is not None] == ["applied"]
    assert results.count(None) == 5
    assert WalletEntry.objects.count() == 1
