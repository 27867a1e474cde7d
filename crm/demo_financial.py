"""Demo financial data (`manage.py demo`): two apps, forty customer accounts with two years of yearly and quarterly
orders (new customers, upgrades, downgrades, churn and returns), the apps' logo churn tolerance and ARR targets.
Idempotent: every row is upserted by its id."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

from django.utils import timezone

from backoffice.models import Label
from crm.selectors_financial import month_start
from crm.services.accounts import customer_account_upsert
from crm.services.financial import account_financial_upsert, app_financial_upsert, order_upsert

APPS = {"casino-suite": Decimal("0.05"), "sportsbook-pro": Decimal("0.08")}
NAMES = ("Aurora", "Bellagio", "Copper", "Delta", "Emerald", "Falcon", "Golden", "Harbor", "Iris", "Jade")
KINDS = ("Gaming", "Bet", "Play", "Slots")


def _add_months(day: dt.date, months: int) -> dt.date:
    return month_start(day, back=-months)


def financial_demo(label: Label) -> dict[str, int]:
    rng = random.Random(f"financial-{label.pk}")  # the same book on every run
    today = timezone.localdate()
    first = month_start(today, back=23)
    orders = 0
    for app, tolerance in APPS.items():
        app_financial_upsert(label_id=label.pk, app_id=app, logo_churn_tolerance=tolerance)
    for n in range(40):
        app = "casino-suite" if n % 3 else "sportsbook-pro"
        account_id = f"demo-acct-{n:03d}"
        customer_account_upsert(label_id=label.pk, account_id=account_id, app_id=app,
                                name=f"{NAMES[n % 10]} {KINDS[n % 4]} {n // 10 + 1}")  # fmt: skip
        start = _add_months(first, rng.randrange(0, 20))
        monthly = Decimal(rng.choice((500, 800, 1200, 2000, 3500, 5000)))
        term = rng.choice((12, 12, 12, 3))
        cursor, k = start, 0
        while cursor <= today:
            end = _add_months(cursor, term) - dt.timedelta(days=1)
            order_upsert(label_id=label.pk, order_id=f"{account_id}-{k}", account_id=account_id, app_id=app,
                         org_product_id="pitboss-crm", status="Activated", amount=monthly * term,
                         effective_date=cursor, end_date=end)  # fmt: skip
            orders += 1
            k += 1
            roll = rng.random()
            if roll < 0.15:  # churns; a few come back later
                cursor = _add_months(end + dt.timedelta(days=1), rng.choice((3, 6, 40)))
            else:
                cursor = end + dt.timedelta(days=1)
                monthly = (monthly * Decimal(rng.choice(("0.8", "1", "1", "1.25", "1.5")))).quantize(Decimal(1))
        if n % 2 == 0:
            account_financial_upsert(label_id=label.pk, account_id=account_id, app_id=app, account_start_date=start,
                                     arr_target=(monthly * 12 * Decimal("1.2")).quantize(Decimal(1000)))  # fmt: skip
    order_upsert(label_id=label.pk, order_id="demo-draft-1", account_id="demo-acct-001", app_id="casino-suite",
                 org_product_id="pitboss-crm", status="Draft", amount=Decimal(60000), effective_date=today,
                 end_date=_add_months(today, 12) - dt.timedelta(days=1))  # fmt: skip
    return {"accounts": 40, "orders": orders + 1}
