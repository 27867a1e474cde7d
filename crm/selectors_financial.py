"""Financial figures, computed in PostgreSQL from the orders (definitions: docs/financial.md).

- An Activated order's MRR is its amount divided by its term in whole months (at least 1): the calendar months from
  its effective date to the day after its end date, a remainder of 15 days or more counting as a month.
- A month's MRR is taken at its snapshot day: its last day, or `as_of` for the month in progress. An order counts when
  effective_date <= snapshot <= end_date.
- Per account, each month against the one before: new (nothing before, never had MRR), reactivation (nothing before,
  had MRR in an earlier month), expansion (more), contraction (less, not nothing), churned (nothing now). A logo is an
  account with MRR > 0; the logo churn rate is the logos lost over the logos at the start of the month.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection
from django.db.models import (
    DecimalField,
    ExpressionWrapper,
    F,
    Func,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, Round

from backoffice.scoping import Actor
from crm.models import AccountFinancialConfig, AppFinancialConfig, CustomerAccount, Order

# The term of the order aliased `o`, in whole months (never 0), and its MRR: the one definition, used by every query.
# crm_order_term_months(): the order's term in whole months, a function created by migration crm 0015_financial.
ORDER_MRR_SQL = "(o.amount / crm_order_term_months(o.effective_date, o.end_date))"

MONTHS_SQL = f"""
WITH orders AS (
    SELECT o.account_id, o.effective_date, o.end_date, {ORDER_MRR_SQL} AS mrr
    FROM crm_order o
    WHERE o.label_id = %(label_id)s AND o.status = 'Activated' AND o.effective_date <= %(as_of)s
      AND (%(app_id)s::text IS NULL OR o.app_id = %(app_id)s::text)
      AND (%(account)s::bigint IS NULL OR o.account_id = %(account)s::bigint)
),
months AS (
    SELECT m::date AS month, LEAST((m + interval '1 month - 1 day')::date, %(as_of)s::date) AS snap
    FROM generate_series(
        LEAST(date_trunc('month', %(start)s::date),
              COALESCE((SELECT date_trunc('month', min(effective_date)) FROM orders), %(start)s::date)),
        date_trunc('month', %(as_of)s::date), interval '1 month') AS m
),
account_mrr AS (
    SELECT m.month, o.account_id, SUM(o.mrr) AS mrr
    FROM months m JOIN orders o ON o.effective_date <= m.snap AND o.end_date >= m.snap
    GROUP BY m.month, o.account_id HAVING SUM(o.mrr) > 0
),
moves AS (
    SELECT COALESCE(c.month, (p.month + interval '1 month')::date) AS month,
           COALESCE(c.account_id, p.account_id) AS account_id,
           COALESCE(c.mrr, 0) AS cur, COALESCE(p.mrr, 0) AS prev
    FROM account_mrr c
    FULL JOIN account_mrr p ON p.account_id = c.account_id AND (p.month + interval '1 month')::date = c.month
),
classified AS (
    SELECT mv.*, (mv.prev = 0 AND EXISTS (
        SELECT 1 FROM account_mrr e WHERE e.account_id = mv.account_id AND e.month < mv.month)) AS came_back
    FROM moves mv
)
SELECT m.month,
    ROUND(COALESCE(SUM(c.cur), 0), 2),
    ROUND(COALESCE(SUM(c.cur) FILTER (WHERE c.prev = 0 AND NOT c.came_back), 0), 2),
    ROUND(COALESCE(SUM(c.cur) FILTER (WHERE c.prev = 0 AND c.came_back), 0), 2),
    ROUND(COALESCE(SUM(c.cur - c.prev) FILTER (WHERE c.prev > 0 AND c.cur > c.prev), 0), 2),
    ROUND(COALESCE(SUM(c.prev - c.cur) FILTER (WHERE c.cur > 0 AND c.cur < c.prev), 0), 2),
    ROUND(COALESCE(SUM(c.prev) FILTER (WHERE c.cur = 0), 0), 2),
    COUNT(c.account_id) FILTER (WHERE c.prev > 0),
    COUNT(c.account_id) FILTER (WHERE c.prev = 0),
    COUNT(c.account_id) FILTER (WHERE c.cur = 0),
    COUNT(c.account_id) FILTER (WHERE c.cur > 0)
FROM months m LEFT JOIN classified c ON c.month = m.month
WHERE m.month >= date_trunc('month', %(start)s::date)
GROUP BY m.month
ORDER BY m.month
"""  # noqa: S608 - constants only; every value is a parameter


@dataclass(frozen=True)
class FinancialMonth:
    """One month of figures. Amounts in the label's base currency; `logo_churn_rate` is None with no logos at start."""

    month: dt.date
    mrr: Decimal
    new: Decimal
    reactivation: Decimal
    expansion: Decimal
    contraction: Decimal
    churned: Decimal
    logos_start: int
    logos_new: int
    logos_churned: int
    logos_end: int
    tolerance: Decimal | None = None

    @property
    def arr(self) -> Decimal:
        return self.mrr * 12

    @property
    def net_new(self) -> Decimal:
        return self.new + self.reactivation + self.expansion - self.contraction - self.churned

    @property
    def logo_churn_rate(self) -> Decimal | None:
        if not self.logos_start:
            return None
        return (Decimal(self.logos_churned) / self.logos_start).quantize(Decimal("0.0001"))

    @property
    def over_tolerance(self) -> bool:
        rate = self.logo_churn_rate
        return self.tolerance is not None and rate is not None and rate > self.tolerance


def month_start(day: dt.date, *, back: int = 0) -> dt.date:
    """The first day of `day`'s month, `back` months earlier."""
    index = day.year * 12 + day.month - 1 - back
    return dt.date(index // 12, index % 12 + 1, 1)


def financial_months(
    *,
    label_id: int,
    start: dt.date,
    as_of: dt.date,
    app_id: str | None = None,
    account_pk: int | None = None,
    tolerance: Decimal | None = None,
) -> list[FinancialMonth]:
    """The figures of every month from `start`'s to `as_of`'s, for the label, one app, or one customer account."""
    params = {"label_id": label_id, "start": start, "as_of": as_of, "app_id": app_id, "account": account_pk}
    with connection.cursor() as cursor:
        cursor.execute(MONTHS_SQL, params)
        rows = cursor.fetchall()
    return [FinancialMonth(*row, tolerance=tolerance) for row in rows]


@dataclass(frozen=True)
class FinancialSummary:
    """A dashboard's headline and months: the figures as of `as_of`, against the ARR target when there is one."""

    as_of: dt.date
    months: list[FinancialMonth]
    arr_target: Decimal | None
    tolerance: Decimal | None
    account_start_date: dt.date | None = None

    @property
    def current(self) -> FinancialMonth | None:
        return self.months[-1] if self.months else None

    @property
    def mrr(self) -> Decimal:
        return self.current.mrr if self.current else Decimal(0)

    @property
    def arr(self) -> Decimal:
        return self.mrr * 12

    @property
    def attainment(self) -> Decimal | None:
        """ARR over the target, as a fraction (None without a target)."""
        if not self.arr_target:
            return None
        return (self.arr / self.arr_target).quantize(Decimal("0.0001"))

    @property
    def gap(self) -> Decimal | None:
        return None if self.arr_target is None else self.arr_target - self.arr


def account_financial_summary(*, account: CustomerAccount, as_of: dt.date, months: int = 12) -> FinancialSummary:
    """One customer account's figures over the last `months` months, against its ARR target."""
    config = AccountFinancialConfig.objects.filter(account=account).first()
    tolerance = app_tolerance(label_id=account.label_id, app_id=config.app_id if config else account.app_id)
    return FinancialSummary(
        as_of=as_of,
        months=financial_months(
            label_id=account.label_id,
            start=month_start(as_of, back=months - 1),
            as_of=as_of,
            account_pk=account.pk,
            tolerance=tolerance,
        ),
        arr_target=config.arr_target if config else None,
        tolerance=tolerance,
        account_start_date=config.account_start_date if config else None,
    )


def app_financial_summary(*, label_id: int, app_id: str | None, as_of: dt.date, months: int = 12) -> FinancialSummary:
    """One app's figures (every app of the label with None), against the sum of its accounts' ARR targets."""
    tolerance = app_tolerance(label_id=label_id, app_id=app_id) if app_id is not None else None
    targets = AccountFinancialConfig.objects.filter(label_id=label_id)
    if app_id is not None:
        targets = targets.filter(app_id=app_id)
    total = sum((t for t in targets.values_list("arr_target", flat=True)), Decimal(0)) if targets.exists() else None
    return FinancialSummary(
        as_of=as_of,
        months=financial_months(
            label_id=label_id,
            start=month_start(as_of, back=months - 1),
            as_of=as_of,
            app_id=app_id,
            tolerance=tolerance,
        ),
        arr_target=total,
        tolerance=tolerance,
    )


def app_tolerance(*, label_id: int, app_id: str | None) -> Decimal | None:
    if not app_id:
        return None
    return (
        AppFinancialConfig.objects.filter(label_id=label_id, app_id=app_id)
        .values_list("logo_churn_tolerance", flat=True)
        .first()
    )


def app_ids(*, label_id: int) -> list[str]:
    """The apps the label's financial data names: in its orders or in an app configuration."""
    ordered = set(Order.objects.filter(label_id=label_id).values_list("app_id", flat=True).distinct())
    configured = set(AppFinancialConfig.objects.filter(label_id=label_id).values_list("app_id", flat=True))
    return sorted(ordered | configured)


class TermMonths(Func):
    """The order's term in whole months (the SQL function crm_order_term_months)."""

    function = "crm_order_term_months"
    output_field = IntegerField()

    def __init__(self, prefix: str = "", **extra):
        super().__init__(F(f"{prefix}effective_date"), F(f"{prefix}end_date"), **extra)


def order_mrr(prefix: str = "", *, exact: bool = False):
    """The order's MRR, to the cent unless `exact` (whatever its status: the figures count only Activated orders)."""
    mrr = ExpressionWrapper(F(f"{prefix}amount") / TermMonths(prefix), output_field=DecimalField())
    return mrr if exact else Round(mrr, 2, output_field=DecimalField(max_digits=18, decimal_places=2))


def orders_for_actor(*, actor: Actor) -> QuerySet[Order]:
    """The actor's orders with their account, each annotated with `term_months` and `mrr` (SQL, as the figures)."""
    return with_mrr(Order.objects.for_actor(actor).select_related("account", "label"))


def with_mrr(orders: QuerySet[Order]) -> QuerySet[Order]:
    return orders.annotate(term_months=TermMonths(), mrr=order_mrr())


def account_mrr_on(*, day: dt.date) -> Subquery:
    """For a customer-account queryset: the account's MRR on `day` (a Subquery, 0 when it has none)."""
    active = Order.objects.filter(account=OuterRef("pk")).filter(active_on(day=day))
    total = active.values("account").annotate(total=Round(Sum(order_mrr(exact=True)), 2)).values("total")[:1]
    return Coalesce(Subquery(total, output_field=DecimalField()), Value(Decimal(0)), output_field=DecimalField())


def order_for_actor(*, actor: Actor, pk: int) -> Order:
    from backoffice.errors import NotFound

    order = orders_for_actor(actor=actor).filter(pk=pk).first()
    if order is None:
        raise NotFound("No order with this id in your label.")
    return order


def active_on(*, day: dt.date) -> Q:
    """Orders counting in the figures on `day`."""
    return Q(status="Activated", effective_date__lte=day, end_date__gte=day)
