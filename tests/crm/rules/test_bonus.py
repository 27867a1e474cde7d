"""The give-bonus activity: through bonus_give, once per effect, refused past the label's cap, skipped for players not
ACTIVE."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection, transaction

from crm.automation.engine import Firing, effects_fire
from crm.automation.rules_cache import rule_compile
from crm.models import Bonus
from crm.models.rules import RuleEffect
from crm.pipeline import events_apply
from tests.crm.bonuses.conftest import template_make
from tests.crm.rules.helpers import deposit, feed, rule_make

AT = dt.datetime(2026, 1, 5, 12, tzinfo=dt.UTC)


@pytest.mark.django_db
def test_a_rule_gives_a_bonus_once_per_event(tenant_a, django_capture_on_commit_callbacks):
    template = template_make(tenant_a.label)
    rule_make(tenant_a.label, activities=[{"type": "bonus", "template": template.pk}])
    with django_capture_on_commit_callbacks(execute=False):
        ids = feed(tenant_a.label, [deposit(150)])
        events_apply(ids, group_names=["automation"])
    bonus = Bonus.objects.get()
    effect = RuleEffect.objects.get()
    assert (bonus.player, bonus.template, bonus.source, bonus.key) == (
        tenant_a.player, template, "rule", f"rule:{effect.pk}:0"
    )  # fmt: skip
    assert effect.results == [{"activity": 0, "type": "bonus", "status": "applied", "template": template.pk,
                               "bonus": bonus.pk}]  # fmt: skip


@pytest.mark.django_db
def test_a_bonus_template_of_another_label_is_refused_when_saved(tenant_a, tenant_b):
    from backoffice.errors import DomainValidationError

    other = template_make(tenant_b.label)
    with pytest.raises(DomainValidationError) as exc:
        rule_make(tenant_a.label, activities=[{"type": "bonus", "template": other.pk}])
    assert exc.value.errors == {"activities[0].template": ["No such bonus template."]}


@pytest.mark.django_db(transaction=True)
def test_50_concurrent_qualifying_events_against_a_cap_of_30_give_exactly_30_bonuses(tenant_a):
    tenant_a.label.bonus_daily_cap = 30
    tenant_a.label.save(update_fields=["bonus_daily_cap"])
    template = template_make(tenant_a.label)
    rule = rule_make(tenant_a.label, activities=[{"type": "bonus", "template": template.pk}])
    compiled = rule_compile(rule)
    barrier = threading.Barrier(50)
    errors = []

    def fire(i: int) -> None:
        try:
            barrier.wait()
            with transaction.atomic():
                firing = Firing(compiled, tenant_a.player.pk, AT, event_id=5000 + i, payload={"deposit_amount": 100})
                effects_fire([firing], label_settings={rule.label_id: (True, "UTC")})
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=fire, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert Bonus.objects.count() == 30
    assert RuleEffect.objects.filter(status="applied").count() == 30
    assert set(RuleEffect.objects.exclude(status="applied").values_list("status", "reason")) == {
        ("failed", "bonus_cap_reached")
    }
