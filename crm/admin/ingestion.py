"""The ingestion dashboard: per label in view, events received per minute over the last hour and, per consumer group,
its position, its lag (pending events and the age of the oldest), its throughput, its p95 from acceptance to applied
and its failures, refreshed in place every few seconds.

Its numbers come from `crm.selectors.ingestion_stats` (six queries whatever the number of labels and groups).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from crm.admin.events.formatting import explorer_url
from crm.models import EventSource
from crm.pipeline import LATENCY_BOUNDS_MS
from crm.selectors import INGESTION_MINUTES, LATENCY_WINDOW, PENDING_CAP, GroupLag, LabelIngestion, ingestion_stats
from integrations.models import DataSource, StreamSource

REFRESH_SECONDS = 10
RATE_MINUTES = 5  # "per minute" figures average the last complete minutes, not the one still filling
THROUGHPUT_MINUTES = (15, 60)
SOURCE_NAMES = dict(EventSource.choices)
# One colour per consumer group on the chart (unfold's palette), the received line in the primary colour.
GROUP_COLOURS = {
    "crm": "var(--color-green-500)",
    "gamification": "var(--color-orange-500)",
    "automation": "var(--color-blue-500)",
    "delivery": "var(--color-base-500)",
}


def ingestion_view(model_admin, request):
    """The page; with ?fragment=1 only its panels, which the page fetches to refresh itself."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    now = timezone.now()
    stats = ingestion_stats(actor=model_admin.actor(request), now=now)
    context = {
        "labels": [_panel(label, now) for label in stats],
        "groups": [{"name": g.group, "colour": GROUP_COLOURS.get(g.group, "")} for g in stats[0].groups]
        if stats
        else [],
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
    complete = slice(-1 - RATE_MINUTES, -1)
    max_lag = settings.PITBOSS_PIPELINE_MAX_LAG_SECONDS
    kpis = [{"title": "Received / min", "value": _rate(stat.received[complete]), "hint": f"last {RATE_MINUTES} min"}]
    for lag in stat.groups:
        seconds = lag.lag_seconds(now)
        kpis.append(
            {
                "title": f"Lag, {lag.group}",
                "value": _duration(seconds) if lag.pending else "0 s",
                "hint": f"{_pending_text(lag)} pending",
                "url": explorer_url(label__id__exact=label_id, status=f"pending:{lag.group}"),
                "alert": seconds > max_lag,
            }
        )
    failures = stat.failures_open
    kpis.append(
        {
            "title": "Failures",
            "value": f"{failures:,}",
            "hint": "open, every group",
            "url": failures_url(label=label_id, status="open"),
            "alert": failures > 0,
        }
    )
    return {
        "id": label_id,
        "name": stat.label.name,
        "kpis": kpis,
        "chart": _chart(stat),
        "groups": _groups_table(stat, now),
        "sources": _sources_table(stat, stat.minutes[0]),
    }


def _pending_text(lag: GroupLag) -> str:
    return f"{PENDING_CAP:,}+" if lag.pending_capped else f"{lag.pending:,}"


def _groups_table(stat: LabelIngestion, now: dt.datetime) -> dict:
    """One row per consumer group: where it is, what it has left, how fast it goes, what failed."""
    rows = []
    for lag in stat.groups:
        failures_open = lag.failures_open
        p95 = lag.p95_ms()
        rows.append(
            [
                format_html("<strong>{}</strong>", lag.group),
                _position(lag, now),
                _link(explorer_url(label__id__exact=stat.label.pk, status=f"pending:{lag.group}"), _pending_text(lag)),
                _duration(lag.lag_seconds(now)) if lag.pending else "0 s",
                *(_rate_value(lag.applied_per_minute(m)) for m in THROUGHPUT_MINUTES),
                _latency(p95) if p95 is not None else "-",
                _link(failures_url(label=stat.label.pk, group=lag.group, status="open"), f"{failures_open:,}")
                if failures_open
                else "0",
                _link(failures_url(label=stat.label.pk, group=lag.group, status="parked"), f"{lag.failures_parked:,}")
                if lag.failures_parked
                else "0",
            ]
        )
    headers = [
        "Group",
        "Position",
        "Pending",
        "Lag",
        *(f"Applied / min, {m} min" for m in THROUGHPUT_MINUTES),
        f"p95, {LATENCY_WINDOW} min",
        "Failures retrying",
        "Parked",
    ]
    return {"headers": headers, "rows": rows}


def _position(lag: GroupLag, now: dt.datetime) -> str:
    """The tick the group has applied everything up to, and how long ago it was taken."""
    if lag.position_at is None:
        return "-"
    age = max(0.0, (now - lag.position_at).total_seconds())
    return f"{timezone.localtime(lag.position_at):%H:%M:%S} ({_duration(age)} ago)"


def failures_url(*, label: int | None = None, group: str | None = None, status: str | None = None) -> str:
    """The pipeline failures' list with these filters."""
    query = {
        key: value
        for key, value in (("label__id__exact", label), ("group", group), ("status", status))
        if value is not None
    }
    url = reverse("admin:crm_pipelinefailure_changelist")
    return f"{url}?{urlencode(query)}" if query else url


def _chart(stat: LabelIngestion) -> str:
    """Data of unfold's line chart (Chart.js, served by unfold): received, and applied by each group, per minute."""
    line = {"pointRadius": 0, "cubicInterpolationMode": "monotone", "fill": False}
    datasets = [
        {
            **line,
            "label": "Received",
            "data": stat.received,
            "borderColor": "var(--color-primary-600)",
            "backgroundColor": "var(--color-primary-600)",
            "borderWidth": 4,
            "order": 9,  # under the groups' lines: where they match, the group keeps up
        }
    ]
    for order, lag in enumerate(stat.groups, start=1):
        colour = GROUP_COLOURS.get(lag.group, "var(--color-base-500)")
        datasets.append(
            {
                **line,
                "label": f"Applied, {lag.group}",
                "data": lag.applied,
                "borderColor": colour,
                "backgroundColor": colour,
                "borderWidth": 1.5,
                "order": order,
            }
        )
    return json.dumps(
        {
            "labels": [timezone.localtime(minute).strftime("%H:%M") for minute in stat.minutes],
            "datasets": datasets,
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
    for source, events in stat.sources.items():
        filters = {"label__id__exact": stat.label.pk, "source__exact": source, "received_at_from": since}
        rows.append([SOURCE_NAMES.get(source, source), _link(explorer_url(**filters), f"{events:,}")])
    return {"headers": ["Source", "Events"], "rows": rows}


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
    return _rate_value(sum(per_minute) / len(per_minute))


def _rate_value(rate: float) -> str:
    return f"{rate:,.0f}" if rate >= 10 or rate == int(rate) else f"{rate:,.1f}"


def _latency(ms: float) -> str:
    """A p95 bucket bound: "≤ 300 ms", "≤ 1.50 s"; past the last bound, "> 5 min"."""
    if math.isinf(ms):
        return f"> {_duration(LATENCY_BOUNDS_MS[-1] / 1000)}"
    return f"≤ {ms:,.0f} ms" if ms < 1000 else f"≤ {_duration(ms / 1000)}"


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
