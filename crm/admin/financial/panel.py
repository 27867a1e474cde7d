"""The figures of one summary as the admin shows them: headline cards, the charts' data (Chart.js, as unfold ships
it) and the months' table; shared by the financial dashboard and an account's page."""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal

from django.http import HttpResponse
from django.utils import timezone
from django.utils.html import format_html

from crm.exports import csv_line
from crm.selectors_financial import FinancialSummary

MONTH_CHOICES = (6, 12, 24, 36)
COLOURS = {
    "mrr": "var(--color-primary-600)",
    "new": "var(--color-green-500)",
    "reactivation": "var(--color-blue-500)",
    "expansion": "var(--color-green-300)",
    "contraction": "var(--color-orange-500)",
    "churned": "var(--color-red-500)",
    "target": "var(--color-base-400)",
}
STACKED = json.dumps(
    {
        "animation": False,
        "responsive": True,
        "maintainAspectRatio": False,
        "plugins": {"legend": {"display": True}, "tooltip": {"enabled": True}},
        "scales": {"x": {"stacked": True, "grid": {"display": False}}, "y": {"stacked": True}},
    }
)
LINES = json.dumps(
    {
        "animation": False,
        "responsive": True,
        "maintainAspectRatio": False,
        "plugins": {"legend": {"display": True}, "tooltip": {"enabled": True}},
        "scales": {"y": {"beginAtZero": True}, "x": {"grid": {"display": False}}},
    }
)


def money(value: Decimal | None, currency: str = "") -> str:
    if value is None:
        return "—"
    return f"{value:,.2f}{' ' + currency if currency else ''}"


def percent(value: Decimal | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"


# --- the dashboard panel, shared by the dashboard page and an account's page -------------------------------------
def dashboard_context(summary: FinancialSummary, *, currency: str, logos: bool) -> dict:
    """Headline cards, the charts' data and the months' table of one summary."""
    months = summary.months
    labels = [m.month.strftime("%b %Y") for m in months]
    movements = {
        "labels": labels,
        "datasets": [
            {"type": "line", "label": "MRR", "data": [float(m.mrr) for m in months], "borderColor": COLOURS["mrr"],
             "backgroundColor": COLOURS["mrr"], "pointRadius": 2, "stack": "mrr"},
            *({"label": name.capitalize(), "data": [float(sign * getattr(m, name)) for m in months],
               "backgroundColor": COLOURS[name], "stack": "moves"}
              for name, sign in (("new", 1), ("reactivation", 1), ("expansion", 1), ("contraction", -1),
                                 ("churned", -1))),
        ],
    }  # fmt: skip
    arr = {
        "labels": labels,
        "datasets": [
            {"label": "ARR", "data": [float(m.arr) for m in months], "borderColor": COLOURS["mrr"],
             "backgroundColor": COLOURS["mrr"], "pointRadius": 2, "fill": False},
        ],
    }  # fmt: skip
    if summary.arr_target is not None:
        arr["datasets"].append(
            {"label": "ARR target", "data": [float(summary.arr_target)] * len(months), "borderColor": COLOURS["target"],
             "backgroundColor": COLOURS["target"], "borderDash": [6, 4], "pointRadius": 0, "fill": False}
        )  # fmt: skip
    churn = {
        "labels": labels,
        "datasets": [
            {"label": "Logo churn %", "data": [float((m.logo_churn_rate or 0) * 100) for m in months],
             "backgroundColor": [COLOURS["churned"] if m.over_tolerance else COLOURS["contraction"] for m in months]},
        ],
    }  # fmt: skip
    if summary.tolerance is not None:
        churn["datasets"].append(
            {"type": "line", "label": "Tolerance %", "data": [float(summary.tolerance * 100)] * len(months),
             "borderColor": COLOURS["target"], "borderDash": [6, 4], "pointRadius": 0}
        )  # fmt: skip
    current = summary.current
    kpis = [
        {"title": "MRR", "value": money(summary.mrr, currency), "hint": f"as of {summary.as_of:%d %b %Y}"},
        {"title": "ARR", "value": money(summary.arr, currency), "hint": "MRR x 12"},
        {"title": "ARR target", "value": money(summary.arr_target, currency),
         "hint": f"{percent(summary.attainment)} reached" if summary.arr_target else "no target set"},
        {"title": "Net new MRR", "value": money(current.net_new if current else None, currency),
         "hint": "this month"},
    ]  # fmt: skip
    if logos:
        rate = current.logo_churn_rate if current else None
        kpis.append({"title": "Customers", "value": current.logos_end if current else 0,
                     "hint": f"logo churn {percent(rate)} this month"})  # fmt: skip
        kpis.append({"title": "Logo churn tolerance", "value": percent(summary.tolerance),
                     "hint": f"{sum(m.over_tolerance for m in months)} month(s) above it"})  # fmt: skip
    return {
        "kpis": kpis,
        "movements": json.dumps(movements),
        "arr": json.dumps(arr),
        "churn": json.dumps(churn),
        "stacked_options": STACKED,
        "line_options": LINES,
        "logos": logos,
        "table": months_table(summary, currency),
    }


def months_table(summary: FinancialSummary, currency: str) -> dict:
    headers = ["Month", "MRR", "ARR", "New", "Reactivation", "Expansion", "Contraction", "Churned", "Net new",
               "Customers", "Churned logos", "Logo churn"]  # fmt: skip
    rows = []
    for m in reversed(summary.months):
        churn = percent(m.logo_churn_rate)
        if m.over_tolerance:
            churn = format_html('<span class="text-red-600 font-semibold" data-over-tolerance>{} ▲</span>', churn)
        rows.append([m.month.strftime("%b %Y"), money(m.mrr), money(m.arr), money(m.new), money(m.reactivation),
                     money(m.expansion), money(m.contraction), money(m.churned), money(m.net_new), m.logos_end,
                     m.logos_churned, churn])  # fmt: skip
    return {"headers": headers, "rows": rows}


def as_of_and_months(request) -> tuple[dt.date, int]:
    try:
        as_of = dt.date.fromisoformat(request.GET.get("as_of", ""))
    except ValueError:
        as_of = timezone.localdate()
    if not dt.date(1900, 1, 1) <= as_of <= dt.date(9998, 12, 31):  # room for the months before and after
        as_of = timezone.localdate()
    try:
        months = int(request.GET.get("months", 12))
    except ValueError:
        months = 12
    return as_of, months if months in MONTH_CHOICES else 12


CSV_COLUMNS = [
    *("month", "mrr", "arr", "new", "reactivation", "expansion", "contraction", "churned", "net_new"),
    *("logos_start", "logos_new", "logos_churned", "logos_end", "logo_churn_rate", "over_tolerance"),
]


def months_csv(summary: FinancialSummary, *, filename: str) -> HttpResponse:
    """The months of a summary as a CSV download (numbers as numbers; text cells escaped against formulas)."""
    lines = [csv_line(CSV_COLUMNS)]
    for m in summary.months:
        values = [getattr(m, c) for c in CSV_COLUMNS]
        values[0] = m.month.isoformat()
        lines.append(csv_line(values))
    response = HttpResponse("".join(lines), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def csv_filename(*parts: str) -> str:
    """A safe file name from ids a partner chose."""
    return "-".join(re.sub(r"[^A-Za-z0-9._-]+", "_", p)[:60] for p in parts if p) + ".csv"
