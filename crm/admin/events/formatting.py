"""How an event reads in the admin: its status, its type, the payload values that say what happened, and links to the
explorer. Shared by the explorer, the player's timeline and the ingestion dashboard."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal, InvalidOperation
from urllib.parse import urlencode

from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from backoffice.admin.helpers import badge
from crm.catalogue import AFFILIATE_CONVERSION, PROFILE_UPDATE
from crm.models import Event
from crm.selectors import GroupStatus

TYPE_VARIANTS = {
    "deposit": "success",
    "withdrawal": "warning",
    "casino_bet": "info",
    "sport_bet_placed": "info",
    "casino_win": "primary",
    "sport_bet_settled": "primary",
    "sport_selection_placed": "info",
    "sport_selection_settled": "primary",
}
# The payload fields that say what an event was, per core type, in the order they are shown.
KEY_FIELDS = {
    "deposit": ("deposit_amount", "deposit_method"),
    "withdrawal": ("withdrawal_amount", "withdrawal_method"),
    "casino_bet": ("bet_amount", "game_name"),
    "casino_win": ("win_amount", "game_name"),
    "sport_bet_placed": ("bet_amount", "sport", "event_name"),
    "sport_bet_settled": ("result", "win_amount", "event_name"),
    "sport_selection_placed": ("selection_name", "odds", "event_name"),
    "sport_selection_settled": ("result", "selection_name", "event_name"),
    "login": ("entry_point",),
    "client_action": ("action",),
    "usage_event": ("name", "module"),
    "app_session_start": ("session_id",),
    "app_session_end": ("session_id", "duration_seconds"),
    "page_load_event": ("page_url", "load_time"),
}
AMOUNT_SUFFIX = "_amount"
SUMMARY_FIELDS = 3


def moment(value: dt.datetime | None, *, precise: bool = False) -> str:
    """A time to the second (to the millisecond with `precise`) in the admin's time zone: events are minutes apart."""
    if value is None:
        return "-"
    local = timezone.localtime(value)
    text = local.strftime("%Y-%m-%d %H:%M:%S")
    return f"{text}.{local.microsecond // 1000:03d} {local.tzname()}" if precise else text


STATE_BADGES = {"applied": ("Applied", "success"), "pending": ("Pending", "info"), "failed": ("Failed", "danger")}


def group_state(status: GroupStatus) -> tuple[str, str]:
    """(text, badge variant) of where an event is in one consumer group."""
    if status.parked:
        return "Parked", "danger"
    return STATE_BADGES[status.state]


def type_badge(event_type: str) -> str:
    return render_to_string(
        "admin/crm/event/type_badge.html", {"text": event_type, "variant": TYPE_VARIANTS.get(event_type, "")}
    )


def nowrap(text: str) -> str:
    return format_html('<span class="whitespace-nowrap">{}</span>', text)


def status_badge(statuses: list[GroupStatus]) -> str:
    """One badge when every consumer group is at the same point ("Applied", "Pending"); else a badge per group that
    has not applied the event (failed, parked after its automatic retries, or pending), named after the group."""
    if not statuses:
        return "-"
    states = {group_state(s) for s in statuses}
    if len(states) == 1:
        text, variant = states.pop()
        return badge(text, variant)
    labels = [(f"{group_state(s)[0]} · {s.group}", group_state(s)[1]) for s in statuses if s.state != "applied"]
    badges = format_html_join(" ", "{}", ((badge(text, variant),) for text, variant in labels))
    return format_html('<span class="inline-flex flex-wrap gap-1">{}</span>', badges)


def format_amount(value, currency: str = "") -> str:
    """An amount as sent (integer or decimal), with thousands separators and the wallet currency if known."""
    try:
        number = Decimal(str(value)).normalize()
    except InvalidOperation:
        return str(value)
    if number == number.to_integral_value():
        text = f"{number:,.0f}"
    else:  # cents as cents (2.50), and every digit of a crypto amount (0.00012345)
        text = f"{number:,.{max(2, -number.as_tuple().exponent)}f}"
    return f"{text} {currency}".strip()


def payload_value(name: str, value, currency: str = "") -> str:
    if name.endswith(AMOUNT_SUFFIX) and isinstance(value, int | float) and not isinstance(value, bool):
        return format_amount(value, currency)
    if isinstance(value, str):
        return value
    return json.dumps(value)


def event_summary(event: Event, currency: str = "") -> str:
    """The few payload values that say what happened: the amount and the game of a bet, the entry point of a login."""
    payload = event.payload or {}
    if event.type == PROFILE_UPDATE:
        names = sorted(payload)
        more = f" and {len(names) - SUMMARY_FIELDS} more" if len(names) > SUMMARY_FIELDS else ""
        return f"Changed {', '.join(names[:SUMMARY_FIELDS])}{more}" if names else ""
    if event.type == AFFILIATE_CONVERSION:  # "deposit via 1042 · 40.50 USD"
        text = f"{payload.get('conversion_type', '?')} via {payload.get('affiliate_code', '?')}"
        if isinstance(payload.get("amount"), int | float):
            text += f" · {payload['amount']:,.2f} {str(payload.get('currency', '')).upper()}".rstrip()
        return text
    names = [n for n in KEY_FIELDS.get(event.type, ()) if payload.get(n) is not None]
    if event.type not in KEY_FIELDS:  # a custom type: its first fields, named
        return " · ".join(f"{n}: {payload_value(n, payload[n], currency)}" for n in sorted(payload)[:SUMMARY_FIELDS])
    return " · ".join(payload_value(n, payload[n], currency) for n in names)


def explorer_url(**params) -> str:
    """The explorer's URL with these filters (date-time bounds as datetimes)."""
    query = {}
    for name, value in params.items():
        if isinstance(value, dt.datetime):
            local = timezone.localtime(value)
            query[f"{name}_0"], query[f"{name}_1"] = local.strftime("%Y-%m-%d"), local.strftime("%H:%M:%S")
        elif value is not None:
            query[name] = value
    url = reverse("admin:crm_event_changelist")
    return f"{url}?{urlencode(query)}" if query else url
