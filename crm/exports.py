"""Exports of CRM data. Like the admin and the API, they read only through the actor's scope."""

from __future__ import annotations

import csv
from collections.abc import Iterator

from django.db.models import QuerySet

from backoffice.scoping import Actor
from crm.selectors import players_for_actor

# Email and phone stay out of exports: a file leaves the encrypted store and cannot be recalled.
PLAYER_EXPORT_COLUMNS = [
    "label", "ext_brand_id", "user_ext_id", "core_account_status", "core_registration_date", "core_user_language",
    "core_wallet_currency", "core_username", "user_country", "core_user_gender", "core_kyc_status",
    "core_affiliate_id", "core_affiliate_str", "core_is_email_disabled_by_platform",
    "core_is_sms_disabled_by_platform", "markers", "dt_update", "created_at",
]  # fmt: skip


# A cell starting with one of these is a formula to Excel, LibreOffice and Google Sheets ("=cmd|' /C calc'!A0"): an
# export prefixes it with a quote, which spreadsheets show as text (OWASP "CSV injection").
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n")


def spreadsheet_safe(value):
    """`value` as an exported cell: text that a spreadsheet would run as a formula gets a leading quote."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def csv_line(values) -> str:
    """One CSV line of exported values, formulas escaped."""
    return csv.writer(_Echo()).writerow([spreadsheet_safe(v) for v in values])


class _Echo:
    def write(self, value: str) -> str:
        return value


def _row(player) -> list:
    values = {
        "label": player.label.name,
        "ext_brand_id": player.brand.ext_brand_id,
        "markers": " ".join(player.markers),
    }
    return [spreadsheet_safe(values[c] if c in values else getattr(player, c)) for c in PLAYER_EXPORT_COLUMNS]


def players_csv(actor: Actor, *, within: QuerySet | None = None) -> Iterator[str]:
    """CSV lines of the actor's players (only those also `within`, e.g. a filtered list), streamed: memory stays flat.

    `within` narrows and never widens: rows outside the actor's scope are left out whatever it holds.
    """
    players = players_for_actor(actor=actor).order_by("id")
    if within is not None:
        players = players.filter(id__in=within.order_by().values("id"))
    writer = csv.writer(_Echo())
    yield writer.writerow(PLAYER_EXPORT_COLUMNS)
    for player in players.iterator(chunk_size=2000):
        yield writer.writerow(_row(player))
