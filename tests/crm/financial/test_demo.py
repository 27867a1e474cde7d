"""The demo's financial book: idempotent, and its dashboard has figures to show."""

from __future__ import annotations

import pytest
from django.utils import timezone

from crm.demo_financial import financial_demo
from crm.models import AccountFinancialConfig, AppFinancialConfig, CustomerAccount, Order
from crm.selectors_financial import app_financial_summary

pytestmark = pytest.mark.django_db


def test_the_demo_book_is_idempotent_and_has_figures(tenant_a):
    first = financial_demo(tenant_a.label)
    counts = (Order.objects.count(), CustomerAccount.objects.count(), AccountFinancialConfig.objects.count())
    assert financial_demo(tenant_a.label) == first
    assert (Order.objects.count(), CustomerAccount.objects.count(), AccountFinancialConfig.objects.count()) == counts
    assert counts[1:] == (40, 20)
    assert AppFinancialConfig.objects.count() == 2
    summary = app_financial_summary(label_id=tenant_a.label.pk, app_id="casino-suite", as_of=timezone.localdate())
    assert summary.mrr > 0
    assert sum(m.new for m in summary.months) > 0
    assert sum(m.churned for m in summary.months) > 0
