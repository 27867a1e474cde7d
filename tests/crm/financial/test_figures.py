"""The dashboards' figures, computed in SQL, against the hand-computed months of helpers.book()."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from backoffice.scoping import actor_for_label
from crm.models import CustomerAccount
from crm.selectors_financial import (
    account_financial_summary,
    app_financial_summary,
    app_ids,
    financial_months,
    month_start,
    orders_for_actor,
)
from tests.crm.financial.helpers import AS_OF, book, order

pytestmark = pytest.mark.django_db
D = Decimal
COLUMNS = ("mrr", "new", "reactivation", "expansion", "contraction", "churned")
LOGOS = ("logos_start", "logos_new", "logos_churned", "logos_end")


def _table(months, columns=COLUMNS):
    return [(m.month.isoformat()[:7], *(getattr(m, c) for c in columns)) for m in months]


def test_app_months_match_the_hand_computed_figures(tenant_a, tenant_b):
    book(tenant_a.label)
    order(tenant_b.label, "acme-1", "acme", 999_999, "2024-01-01", "2024-12-31")  # another label, same ids
    months = financial_months(label_id=tenant_a.label.pk, start=dt.date(2024, 1, 1), as_of=AS_OF, app_id="app-1")
    assert _table(months) == [
        #          mrr   new  react  exp  contr  churned
        ("2024-01", D(600), D(600), D(0), D(0), D(0), D(0)),
        ("2024-02", D(600), D(0), D(0), D(0), D(0), D(0)),
        ("2024-03", D(700), D(0), D(0), D(100), D(0), D(0)),
        ("2024-04", D(400), D(0), D(0), D(0), D(100), D(200)),
        ("2024-05", D(600), D(200), D(0), D(0), D(0), D(0)),
        ("2024-06", D(700), D(0), D(100), D(0), D(0), D(0)),
    ]
    assert _table(months, LOGOS) == [
        ("2024-01", 0, 3, 0, 3),
        ("2024-02", 3, 0, 0, 3),
        ("2024-03", 3, 0, 0, 3),
        ("2024-04", 3, 0, 1, 2),
        ("2024-05", 2, 1, 0, 3),
        ("2024-06", 3, 1, 0, 4),
    ]
    previous = D(0)
    for month in months:  # the movements explain every change of MRR
        assert month.mrr == previous + month.net_new
        previous = month.mrr


def test_logo_churn_is_held_against_the_apps_tolerance(tenant_a):
    book(tenant_a.label)
    summary = app_financial_summary(label_id=tenant_a.label.pk, app_id="app-1", as_of=AS_OF, months=6)
    rates = [(m.month.month, m.logo_churn_rate, m.over_tolerance) for m in summary.months]
    assert rates == [(1, None, False), (2, D(0), False), (3, D(0), False), (4, D("0.3333"), True),
                     (5, D(0), False), (6, D(0), False)]  # fmt: skip
    assert (summary.tolerance, summary.mrr, summary.arr) == (D("0.0500"), D(700), D(8400))
    assert (summary.arr_target, summary.attainment, summary.gap) == (D(5000), D("1.6800"), D(-3400))


def test_the_whole_label_adds_the_other_apps(tenant_a):
    book(tenant_a.label)
    summary = app_financial_summary(label_id=tenant_a.label.pk, app_id=None, as_of=AS_OF, months=6)
    assert [m.mrr for m in summary.months] == [D(600), D(700), D(800), D(500), D(700), D(800)]
    assert summary.months[1].new == D(100)
    assert summary.tolerance is None
    assert app_ids(label_id=tenant_a.label.pk) == ["app-1", "app-2"]


def test_an_account_against_its_arr_target(tenant_a):
    book(tenant_a.label)
    acme = CustomerAccount.objects.get(label=tenant_a.label, account_id="acme")
    summary = account_financial_summary(account=acme, as_of=AS_OF, months=6)
    assert _table(summary.months) == [
        ("2024-01", D(100), D(100), D(0), D(0), D(0), D(0)),
        ("2024-02", D(100), D(0), D(0), D(0), D(0), D(0)),
        ("2024-03", D(200), D(0), D(0), D(100), D(0), D(0)),
        ("2024-04", D(200), D(0), D(0), D(0), D(0), D(0)),
        ("2024-05", D(200), D(0), D(0), D(0), D(0), D(0)),
        ("2024-06", D(200), D(0), D(0), D(0), D(0), D(0)),
    ]
    assert (summary.arr, summary.arr_target, summary.attainment, summary.gap) == (D(2400), D(3000), D("0.8000"), D(600))
    assert summary.account_start_date == dt.date(2023, 11, 1)
    corp = CustomerAccount.objects.get(label=tenant_a.label, account_id="corp")
    corp_months = account_financial_summary(account=corp, as_of=AS_OF, months=6).months
    assert [(m.mrr, m.churned, m.reactivation, m.logos_churned) for m in corp_months][3:] == [
        (D(0), D(200), D(0), 1), (D(0), D(0), D(0), 0), (D(100), D(0), D(100), 0)]  # fmt: skip
    assert account_financial_summary(account=corp, as_of=AS_OF).arr_target is None


def test_the_window_before_the_first_order_is_zero_and_later_as_of_moves_june(tenant_a):
    book(tenant_a.label)
    months = financial_months(label_id=tenant_a.label.pk, start=dt.date(2023, 11, 1), as_of=dt.date(2024, 1, 31),
                              app_id="app-1")  # fmt: skip
    assert [(m.month, m.mrr, m.new) for m in months] == [
        (dt.date(2023, 11, 1), D(0), D(0)), (dt.date(2023, 12, 1), D(0), D(0)), (dt.date(2024, 1, 1), D(600), D(600))]  # fmt: skip
    # June at its last day: the order starting on the 20th counts (99,999 over 12 months).
    june = financial_months(label_id=tenant_a.label.pk, start=dt.date(2024, 6, 1), as_of=dt.date(2024, 6, 30))
    assert june[0].mrr == D(800) + D("8333.25")


def test_an_orders_term_and_mrr(tenant_a):
    """The reference's examples are a year; calendar months round to the nearest whole month, at least one."""
    cases = [
        ("ref-sample", 8400, "2020-01-01", "2020-12-31", 12, D("700.00")),
        ("ref-curl", 21325, "2019-05-12", "2020-05-12", 12, D("1777.08")),
        ("quarter", 900, "2021-01-15", "2021-04-14", 3, D("300.00")),
        ("feb", 280, "2021-02-01", "2021-02-28", 1, D("280.00")),
        ("one-day", 50, "2021-02-01", "2021-02-01", 1, D("50.00")),
        ("month-and-half", 300, "2021-01-01", "2021-02-15", 2, D("150.00")),
        ("month-and-14-days", 300, "2021-01-01", "2021-02-14", 1, D("300.00")),
    ]
    for order_id, amount, start, end, _, _ in cases:
        order(tenant_a.label, order_id, "acc", amount, start, end)
    got = {o.order_id: (o.term_months, o.mrr) for o in orders_for_actor(actor=actor_for_label(tenant_a.label.pk))}
    assert got == {order_id: (term, mrr) for order_id, _, _, _, term, mrr in cases}


def test_month_start():
    assert month_start(dt.date(2024, 3, 15), back=2) == dt.date(2024, 1, 1)
    assert month_start(dt.date(2024, 1, 31), back=13) == dt.date(2022, 12, 1)
