"""Reads of affiliate tracking: scoped lists and the report per affiliate or campaign.

The report has two views of a period [start, end) (UTC):
- activity: clicks made in the period, and conversions that occurred in it (installs, registrations, deposits,
  depositors = clicks with a deposit, deposit amounts per currency), with conversion rates;
- funnel: the clicks made in the period (a cohort) and how far each got, whenever it converted, with the skips:
  registrations without an install, deposits without a registration.
Each is one SQL statement grouped by the affiliate or the campaign, whatever the number of rows.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection
from django.db.models import QuerySet

from backoffice.scoping import Actor
from crm.models import Affiliate, Campaign, Click, Conversion, TrackingLink

GROUPS = ("affiliate", "campaign")


def affiliates_for_actor(*, actor: Actor) -> QuerySet[Affiliate]:
    return Affiliate.objects.for_actor(actor).select_related("label")


def campaigns_for_actor(*, actor: Actor) -> QuerySet[Campaign]:
    return Campaign.objects.for_actor(actor).select_related("label", "affiliate", "brand")


def links_for_actor(*, actor: Actor) -> QuerySet[TrackingLink]:
    return TrackingLink.objects.for_actor(actor).select_related("label", "campaign__affiliate")


def clicks_for_actor(*, actor: Actor) -> QuerySet[Click]:
    return Click.objects.filter(label_id__in=actor.label_ids).select_related("label", "campaign", "affiliate", "link")


def conversions_for_actor(*, actor: Actor) -> QuerySet[Conversion]:
    return Conversion.objects.filter(label_id__in=actor.label_ids).select_related(
        "label", "campaign", "affiliate", "player__brand"
    )


@dataclass
class ReportRow:
    key: int
    name: str
    affiliate: str
    clicks: int = 0
    installs: int = 0
    registrations: int = 0
    deposits: int = 0
    depositors: int = 0
    amounts: dict[str, Decimal] = field(default_factory=dict)  # currency -> sum of deposits
    cohort_clicks: int = 0
    cohort_installed: int = 0
    cohort_registered: int = 0
    cohort_deposited: int = 0
    registered_without_install: int = 0
    deposited_without_registration: int = 0

    @property
    def registration_rate(self) -> float | None:
        """Registrations per click, in the period."""
        return self.registrations / self.clicks if self.clicks else None

    @property
    def deposit_rate(self) -> float | None:
        """Depositors per registration, in the period (can pass 1 when deposits skip the registration pixel)."""
        return self.depositors / self.registrations if self.registrations else None

    @property
    def click_to_deposit_rate(self) -> float | None:
        return self.depositors / self.clicks if self.clicks else None


_NAMES = {
    "affiliate": "SELECT a.id, a.name || ' (' || a.code || ')', a.name || ' (' || a.code || ')'"
    " FROM crm_affiliate a WHERE a.label_id = ANY(%(labels)s)"
    " AND (%(affiliate)s::bigint IS NULL OR a.id = %(affiliate)s)",
    "campaign": "SELECT c.id, c.name, a.name || ' (' || a.code || ')' FROM crm_affiliate_campaign c"
    " JOIN crm_affiliate a ON a.id = c.affiliate_id WHERE c.label_id = ANY(%(labels)s)"
    " AND (%(affiliate)s::bigint IS NULL OR c.affiliate_id = %(affiliate)s)",
}

_CLICKS = """
SELECT {key}, count(*) FROM crm_affiliate_click
 WHERE label_id = ANY(%(labels)s) AND created_at >= %(start)s AND created_at < %(end)s
   AND (%(affiliate)s::bigint IS NULL OR affiliate_id = %(affiliate)s)
 GROUP BY 1
"""

_CONVERSIONS = """
SELECT {key}, type, count(*), count(DISTINCT click_id),
       CASE WHEN type = 'deposit' THEN
           (SELECT jsonb_object_agg(currency, total) FROM (
                SELECT currency, sum(amount)::text AS total FROM crm_affiliate_conversion a
                 WHERE a.{key} = c.{key} AND a.type = 'deposit' AND a.amount IS NOT NULL
                   AND a.label_id = ANY(%(labels)s) AND a.occurred_at >= %(start)s AND a.occurred_at < %(end)s
                 GROUP BY currency) sums)
       END
  FROM crm_affiliate_conversion c
 WHERE label_id = ANY(%(labels)s) AND occurred_at >= %(start)s AND occurred_at < %(end)s
   AND (%(affiliate)s::bigint IS NULL OR affiliate_id = %(affiliate)s)
 GROUP BY 1, 2
"""

_FUNNEL = """
WITH steps AS (
    SELECT cl.{key} AS key,
           bool_or(cv.type = 'install') AS installed,
           bool_or(cv.type = 'registration') AS registered,
           bool_or(cv.type = 'deposit') AS deposited
      FROM crm_affiliate_click cl
      LEFT JOIN crm_affiliate_conversion cv ON cv.click_id = cl.id
     WHERE cl.label_id = ANY(%(labels)s) AND cl.created_at >= %(start)s AND cl.created_at < %(end)s
       AND (%(affiliate)s::bigint IS NULL OR cl.affiliate_id = %(affiliate)s)
     GROUP BY cl.id, cl.{key}
)
SELECT key, count(*),
       count(*) FILTER (WHERE installed), count(*) FILTER (WHERE registered), count(*) FILTER (WHERE deposited),
       count(*) FILTER (WHERE registered AND NOT coalesce(installed, false)),
       count(*) FILTER (WHERE deposited AND NOT coalesce(registered, false))
  FROM steps GROUP BY key
"""

_DAILY = """
SELECT day::date,
       (SELECT count(*) FROM crm_affiliate_click cl WHERE cl.label_id = ANY(%(labels)s)
           AND cl.created_at >= day AND cl.created_at < day + interval '1 day'
           AND (%(affiliate)s::bigint IS NULL OR cl.affiliate_id = %(affiliate)s)),
       (SELECT count(*) FILTER (WHERE cv.type = 'registration') FROM crm_affiliate_conversion cv
         WHERE cv.label_id = ANY(%(labels)s) AND cv.occurred_at >= day AND cv.occurred_at < day + interval '1 day'
           AND (%(affiliate)s::bigint IS NULL OR cv.affiliate_id = %(affiliate)s)),
       (SELECT count(DISTINCT cv.click_id) FILTER (WHERE cv.type = 'deposit') FROM crm_affiliate_conversion cv
         WHERE cv.label_id = ANY(%(labels)s) AND cv.occurred_at >= day AND cv.occurred_at < day + interval '1 day'
           AND (%(affiliate)s::bigint IS NULL OR cv.affiliate_id = %(affiliate)s))
  FROM generate_series(%(start)s::timestamptz, %(end)s::timestamptz - interval '1 day', interval '1 day') AS day
 ORDER BY 1
"""


def affiliate_report(
    *, actor: Actor, start: dt.datetime, end: dt.datetime, group: str = "affiliate", affiliate_id: int | None = None
) -> list[ReportRow]:
    """One row per affiliate (or campaign) of the actor's labels, with its activity and funnel in the period."""
    if group not in GROUPS:
        raise ValueError(f"group must be one of {GROUPS}")
    key = f"{group}_id"
    params = {"labels": list(actor.label_ids), "start": start, "end": end, "affiliate": affiliate_id}
    with connection.cursor() as cursor:
        cursor.execute(_NAMES[group], params)
        rows = {k: ReportRow(key=k, name=name, affiliate=aff) for k, name, aff in cursor.fetchall()}
        cursor.execute(_CLICKS.format(key=key), params)
        for k, clicks in cursor.fetchall():
            rows[k].clicks = clicks
        cursor.execute(_CONVERSIONS.format(key=key), params)
        for k, kind, count, clicks, amounts in cursor.fetchall():
            _add_conversions(rows[k], kind, count, clicks, amounts)
        cursor.execute(_FUNNEL.format(key=key), params)
        for k, total, installed, registered, deposited, reg_skip, dep_skip in cursor.fetchall():
            row = rows[k]
            row.cohort_clicks, row.cohort_installed, row.cohort_registered = total, installed, registered
            row.cohort_deposited, row.registered_without_install = deposited, reg_skip
            row.deposited_without_registration = dep_skip
    return sorted(rows.values(), key=lambda r: (-r.clicks, -r.registrations, r.name.lower()))


def _add_conversions(row: ReportRow, kind: str, count: int, clicks: int, amounts: str | dict | None) -> None:
    if isinstance(amounts, str):  # Django's connection hands jsonb over as text
        amounts = json.loads(amounts)
    if kind == "install":
        row.installs = count
    elif kind == "registration":
        row.registrations = count
    else:
        row.deposits, row.depositors = count, clicks
        row.amounts = {currency or "—": Decimal(total) for currency, total in sorted((amounts or {}).items())}


def affiliate_report_daily(
    *, actor: Actor, start: dt.datetime, end: dt.datetime, affiliate_id: int | None = None
) -> list[tuple[dt.date, int, int, int]]:
    """(day, clicks, registrations, depositors) for each UTC day of the period."""
    params = {"labels": list(actor.label_ids), "start": start, "end": end, "affiliate": affiliate_id}
    with connection.cursor() as cursor:
        cursor.execute(_DAILY, params)
        return cursor.fetchall()


def report_totals(rows: list[ReportRow]) -> ReportRow:
    total = ReportRow(key=0, name="Total", affiliate="")
    for row in rows:
        for name in ("clicks", "installs", "registrations", "deposits", "depositors", "cohort_clicks",
                     "cohort_installed", "cohort_registered", "cohort_deposited", "registered_without_install",
                     "deposited_without_registration"):  # fmt: skip
            setattr(total, name, getattr(total, name) + getattr(row, name))
        for currency, amount in row.amounts.items():
            total.amounts[currency] = total.amounts.get(currency, Decimal(0)) + amount
    return total
