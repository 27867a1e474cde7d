"""The admin index (UNFOLD DASHBOARD_CALLBACK): what a CRM manager looks at first, from real queries.

Four grouped queries, whatever the number of players: labels, brands with their player counts, staff and keys.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from backoffice.models import ApiKey, Brand, Label, Role, StaffRole
from backoffice.scoping import Actor, actor_for_request

NEW_PLAYERS_WINDOW = dt.timedelta(days=7)


def _link(url: str, text) -> str:
    return format_html('<a class="text-primary-600 dark:text-primary-500 font-medium" href="{}">{}</a>', url, text)


def _count(n: int) -> str:
    return f"{n:,}"


def _per_label(queryset) -> dict[int, int]:
    return dict(queryset.values("label_id").annotate(n=Count("id")).values_list("label_id", "n"))


def _brands(actor: Actor, since: dt.datetime) -> list[Brand]:
    return list(
        Brand.objects.for_actor(actor)
        .select_related("label")
        .annotate(
            player_count=Count("players"),
            new_player_count=Count("players", filter=Q(players__core_registration_date__gte=since)),
        )
        .order_by("label__name", "name")
    )


def dashboard_data(actor: Actor) -> dict:
    since = timezone.now() - NEW_PLAYERS_WINDOW
    labels = list(Label.objects.for_actor(actor).order_by("name"))
    brands = _brands(actor, since)
    staff = _per_label(StaffRole.objects.for_actor(actor))
    keys = _per_label(ApiKey.objects.for_actor(actor).filter(revoked_at__isnull=True))
    players = {label.pk: 0 for label in labels}
    for brand in brands:
        players[brand.label_id] += brand.player_count
    players_url = reverse("admin:crm_player_changelist")
    label_rows = [
        [
            _link(reverse("admin:backoffice_label_change", args=[label.pk]), label.name),
            Role(actor.role_in(label.pk)).label,
            _count(sum(1 for b in brands if b.label_id == label.pk)),
            _link(f"{players_url}?label__id__exact={label.pk}", _count(players[label.pk])),
            _count(staff.get(label.pk, 0)),
            _count(keys.get(label.pk, 0)),
        ]
        for label in labels
    ]
    brand_rows = [
        [
            _link(reverse("admin:backoffice_brand_change", args=[brand.pk]), brand.name),
            brand.ext_brand_id,
            brand.label.name,
            _link(f"{players_url}?brand__id__exact={brand.pk}", _count(brand.player_count)),
            _count(brand.new_player_count),
        ]
        for brand in brands
    ]
    return {
        "kpis": [
            {"title": "Players", "value": _count(sum(players.values())), "url": players_url},
            {"title": "New players, last 7 days", "value": _count(sum(b.new_player_count for b in brands))},
            {"title": "Brands", "value": _count(len(brands)), "url": reverse("admin:backoffice_brand_changelist")},
            {"title": "Staff roles", "value": _count(sum(staff.values()))},
            {"title": "Active API keys", "value": _count(sum(keys.values()))},
        ],
        "labels_table": {
            "headers": ["Label", "Your role", "Brands", "Players", "Staff", "Active API keys"],
            "rows": label_rows,
        },
        "brands_table": {
            "headers": ["Brand", "External id", "Label", "Players", "New, 7 days"],
            "rows": brand_rows,
        },
    }


def dashboard_callback(request, context: dict) -> dict:
    actor = actor_for_request(request)
    context["pitboss_has_labels"] = bool(actor.label_ids)
    if actor.label_ids:
        context["dashboard"] = dashboard_data(actor)
    return context
