"""The ingestion dashboard: per label in view, events received and processed per minute over the last hour, the
backlog, the lag and the failures, refreshed in place every few seconds.

Its numbers come from `crm.selectors.ingestion_stats` (six grouped queries over the last hour and the backlog).
"""

from __future__ import annotations

import datetime as dt
import json

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from crm.admin.events.formatting import explorer_url
from crm.models import EventSource
from crm.selectors import INGESTION_MINUTES, LAG_WINDOW, LabelIngestion, ingestion_stats
from integrations.models import DataSource, StreamSource

REFRESH_SECONDS = 10
RATE_MINUTES = 5  # "per minute" figures average the last complete minutes, not the one still filling
SOURCE_NAMES = dict(EventSource.choices)


def ingestion_view(model_admin, request):
    """The page; with ?fragment=1 only its panels, which the page fetches to refresh itself."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    now = timezone.now()
    stats = ingestion_stats(model_admin.actor(request), now=now)
    context = {
        "labels": [_panel(label, now) for label in stats],
        "updated_at": now,
        "refresh_seconds": REFRESH_SECONDS,
        "window_minutes": INGESTION_MINUTES,
        "chart_options": CHART_OPTIONS,
    }
    if request.GET.get("fragment"):
        context["fragment"] = True
        return TemplateResponse(request, "admin/crm/event/ingestion_panels.html", context)
    context.update(
        model_admin.admin_site.each_context(request),
        title="Ingestion",
        subtitle=None,
        data_sources=_data_source_links(request),
    )
    return TemplateResponse(request, "admin/crm/event/ingestion.html", context)


def _panel(stat: LabelIngestion, now: dt.datetime) -> dict:
    label_id = stat.label.pk
    since = stat.minutes[0]
    complete = slice(-1 - RATE_MINUTES, -1)
    return {
        "id": label_id,
        "name": stat.label.name,
        "kpis": [
            {"title": "Received / min", "value": _rate(stat.received[complete]), "hint": f"last {RATE_MINUTES} min"},
            {"title": "Processed / min", "value": _rate(stat.processed[complete]), "hint": f"last {RATE_MINUTES} min"},
            {
                "title": "Backlog",
                "value": f"{stat.backlog:,}",
                "hint": "waiting for the handlers",
                "url": explorer_url(label__id__exact=label_id, status="pending"),
            },
            {
                "title": "Oldest waiting",
                "value": _duration((now - stat.oldest_waiting_at).total_seconds()) if stat.oldest_waiting_at else "-",
                "hint": "since it was received",
            },
            {
                "title": "Lag, p95",
                "value": _duration(stat.lag_p95_seconds) if stat.lag_p95_seconds is not None else "-",
                "hint": f"received to processed, last {int(LAG_WINDOW.total_seconds() // 60)} min",
            },
            {
                "title": "Failed",
                "value": f"{stat.failed:,}",
                "hint": f"last {INGESTION_MINUTES} min",
                "url": explorer_url(label__id__exact=label_id, status="failed", received_at_from=since),
                "alert": stat.failed > 0,
            },
        ],
        "chart": _chart(stat),
        "sources": _sources_table(stat, since),
    }


def _chart(stat: LabelIngestion) -> str:
    """Data of unfold's line chart (Chart.js, served by unfold): received and processed per minute."""
    line = {"pointRadius": 0, "cubicInterpolationMode": "monotone", "fill": False}
    return json.dumps(
        {
            "labels": [timezone.localtime(minute).strftime("%H:%M") for minute in stat.minutes],
            "datasets": [
                {
                    **line,
                    "label": "Received",
                    "data": stat.received,
                    "borderColor": "var(--color-primary-600)",
                    "backgroundColor": "var(--color-primary-600)",
                    "borderWidth": 4,
                    "order": 2,  # under the processed line: where they match, processing keeps up
                },
                {
                    **line,
                    "label": "Processed",
                    "data": stat.processed,
                    "borderColor": "var(--color-green-500)",
                    "backgroundColor": "var(--color-green-500)",
                    "borderWidth": 1.5,
                    "order": 1,
                },
            ],
        }
    )


# unfold's default chart options hide the y axis and let it start above zero; a rate needs its zero.
CHART_OPTIONS = json.dumps(
    {
        "animation": False,
        "responsive": True,
        "maintainAspectRatio": False,
        "interaction": {"mode": "index", "intersect": False},
        "plugins": {"legend": {"display": False}, "tooltip": {"enabled": True}},
        "scales": {
            "x": {"grid": {"display": False}, "ticks": {"color": "#9ca3af", "maxTicksLimit": 12, "maxRotation": 0}},
            "y": {
                "beginAtZero": True,
                "border": {"display": False},
                "grid": {"color": "rgba(156, 163, 175, 0.2)"},
                "ticks": {"color": "#9ca3af", "precision": 0, "maxTicksLimit": 6},
            },
        },
    }
)


def _sources_table(stat: LabelIngestion, since: dt.datetime) -> dict:
    rows = []
    for source, (events, failed) in stat.sources.items():
        filters = {"label__id__exact": stat.label.pk, "source__exact": source, "received_at_from": since}
        rows.append(
            [
                SOURCE_NAMES.get(source, source),
                _link(explorer_url(**filters), f"{events:,}"),
                _link(explorer_url(status="failed", **filters), f"{failed:,}") if failed else "0",
            ]
        )
    return {"headers": ["Source", "Events", "Failed"], "rows": rows}


def _data_source_links(request) -> list[dict]:
    """Links to the data-source admins, for those who may open them (when the integrations app registers them)."""
    links = []
    for model, title in ((DataSource, "Replica data sources"), (StreamSource, "Stream sources")):
        if not admin.site.is_registered(model):
            continue
        model_admin = admin.site.get_model_admin(model)
        if model_admin.has_module_permission(request) and model_admin.has_view_permission(request):
            opts = model._meta
            links.append({"title": title, "url": reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")})
    return links


def _link(url: str, text: str) -> str:
    return format_html('<a class="text-primary-600 dark:text-primary-500 font-medium" href="{}">{}</a>', url, text)


def _rate(per_minute: list[int]) -> str:
    rate = sum(per_minute) / len(per_minute)
    return f"{rate:,.0f}" if rate >= 10 or rate == int(rate) else f"{rate:,.1f}"


def _duration(seconds: float) -> str:
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, seconds = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"
