"""A book of orders whose monthly figures are worked out by hand in test_figures.py."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from crm.services.financial import account_financial_upsert, app_financial_upsert, order_upsert

AS_OF = dt.date(2024, 6, 15)


def order(label, order_id: str, account: str, amount, start: str, end: str, *, app: str = "app-1", status="Activated"):
    return order_upsert(
        label_id=label.pk, order_id=order_id, account_id=account, app_id=app, org_product_id="prod",
        status=status, amount=Decimal(str(amount)), effective_date=dt.date.fromisoformat(start),
        end_date=dt.date.fromisoformat(end),
    )  # fmt: skip


def book(label) -> None:
    """Accounts of app-1 (MRR by month-end snapshot; June is taken on AS_OF, the 15th):

    acme   1200 over 12 months (100) all 2024, plus 600 over Mar-Aug (100): 100, 100, 200, 200, 200, 200
    bolt   900 over Jan-Mar (300), then 2400 over Apr 2024-Mar 2025 (200):  300, 300, 300, 200, 200, 200
    corp   600 from Jan 15 to Apr 14 (3 months, 200); back in June with 500 over Jun-Oct (100): 200, 200, 200, 0, 0, 100
    fern   2400 from May 10 2024 to May 9 2025 (12 months, 200):          0, 0, 0, 0, 200, 200
    a Draft of 1,000,000 (counts nowhere), an order starting after AS_OF (not yet), and one of app-2 (100 from Feb).
    """
    order(label, "acme-1", "acme", 1200, "2024-01-01", "2024-12-31")
    order(label, "acme-2", "acme", 600, "2024-03-01", "2024-08-31")
    order(label, "bolt-1", "bolt", 900, "2024-01-01", "2024-03-31")
    order(label, "bolt-2", "bolt", 2400, "2024-04-01", "2025-03-31")
    order(label, "corp-1", "corp", 600, "2024-01-15", "2024-04-14")
    order(label, "corp-2", "corp", 500, "2024-06-01", "2024-10-31")
    order(label, "fern-1", "fern", 2400, "2024-05-10", "2025-05-09")
    order(label, "draft-1", "dune", 1_000_000, "2024-01-01", "2024-12-31", status="Draft")
    order(label, "late-1", "acme", 99_999, "2024-06-20", "2025-06-19")
    order(label, "eve-1", "eve", 1200, "2024-02-01", "2025-01-31", app="app-2")
    app_financial_upsert(label_id=label.pk, app_id="app-1", logo_churn_tolerance=Decimal("0.05"))
    account_financial_upsert(label_id=label.pk, account_id="acme", app_id="app-1",
                             account_start_date=dt.date(2023, 11, 1), arr_target=Decimal(3000))  # fmt: skip
    account_financial_upsert(label_id=label.pk, account_id="bolt", app_id="app-1",
                             account_start_date=dt.date(2024, 1, 1), arr_target=Decimal(2000))  # fmt: skip
