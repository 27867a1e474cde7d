"""Writes of affiliate tracking: clicks minted by tracking links, conversions reported by the pixel, attribution.

The pixel's write is one SQL statement (one round trip, in the request, no broker): it finds the click, inserts the
conversion with `ON CONFLICT DO NOTHING` on its unique keys, links the player of the campaign's brand and attributes
the player to the affiliate. A 202 therefore means the conversion is stored (or was already).

Attribution: a registration or a deposit with a `player_id` sets the player's `core_affiliate_id` (the affiliate's
code is a number) or `core_affiliate_str` (any other code) only while both are empty. The operator's own profile data
wins: an affiliate the operator's platform already set is never overwritten, and a later profile update from the
operator (API, replica, stream) replaces the pixel's value, since attribution leaves the profile's stamps alone.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from decimal import Decimal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from uuid import UUID

import structlog
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from backoffice.db import prepared_fetchall
from backoffice.models import Label
from crm.catalogue import AFFILIATE_CONVERSION, FUTURE_SKEW
from crm.models import Click, ConversionType, EventSource, TrackingLink
from crm.services.ingest import INVALID, events_ingest

log = structlog.get_logger(__name__)

# An affiliate code of 1 to 18 digits fits a bigint: it goes to core_affiliate_id (the regex in the SQL below).


@dataclass(frozen=True)
class PixelCall:
    """A validated pixel call (integrations/intelitics/pixel.py parses the query)."""

    click_id: UUID
    type: str
    test: bool = False
    player_id: str = ""
    currency: str = ""
    amount: Decimal | None = None
    time: dt.datetime | None = None
    transaction_id: str = ""
    ip: str | None = None
    user_agent: str = ""
    referrer: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def dedupe_key(self) -> str:
        """One install and one registration per click; a deposit by its transaction id, else by its values (the
        same call repeated is the same deposit; send transaction_id to record equal deposits apart)."""
        if self.type != ConversionType.DEPOSIT:
            return ""
        if self.transaction_id:
            return f"txn:{self.transaction_id}"
        values = [self.player_id, self.currency, str(self.amount or ""), self.time.isoformat() if self.time else ""]
        return "call:" + hashlib.sha256("\x1f".join(values).encode()).hexdigest()[:40]


@dataclass(frozen=True)
class PixelOutcome:
    found: bool  # the click exists
    stored: bool  # a new conversion was stored (False: a duplicate, or test mode)
    attributed: bool  # the player got this affiliate


_RECORD = """
WITH c AS (
    SELECT cl.id, cl.label_id, cl.campaign_id, cl.affiliate_id, cp.brand_id, a.code, clock_timestamp() AS received
      FROM crm_affiliate_click cl
      JOIN crm_affiliate_campaign cp ON cp.id = cl.campaign_id
      JOIN crm_affiliate a ON a.id = cl.affiliate_id
     WHERE cl.id = %(click)s
), p AS (
    SELECT pl.id FROM crm_player pl, c
     WHERE %(player_ext)s::text <> '' AND pl.brand_id = c.brand_id AND pl.user_ext_id = %(player_ext)s::text
), ins AS (
    INSERT INTO crm_affiliate_conversion
           (label_id, click_id, campaign_id, affiliate_id, type, occurred_at, received_at, player_ext_id, player_id,
            currency, amount, transaction_id, dedupe_key, ip, user_agent, referrer)
    SELECT c.label_id, c.id, c.campaign_id, c.affiliate_id, %(type)s,
           coalesce(%(time)s::timestamptz, c.received), c.received, %(player_ext)s, (SELECT id FROM p),
           %(currency)s, %(amount)s, %(txn)s, %(key)s,
           %(ip)s::inet, %(ua)s, %(referrer)s
      FROM c
        ON CONFLICT DO NOTHING
    RETURNING player_id
), attr AS (
    UPDATE crm_player pl
       SET core_affiliate_id = CASE WHEN c.code ~ '^[0-9]{1,18}$' THEN c.code::bigint END,
           core_affiliate_str = CASE WHEN c.code ~ '^[0-9]{1,18}$' THEN '' ELSE c.code END,
           updated_at = clock_timestamp()
      FROM c, ins
     WHERE %(attribute)s::boolean AND pl.id = ins.player_id
       AND pl.core_affiliate_id IS NULL AND pl.core_affiliate_str = ''
    RETURNING pl.id
)
SELECT (SELECT count(*) FROM c), (SELECT count(*) FROM ins), (SELECT count(*) FROM attr),
       set_config('synchronous_commit', %(sync)s::text, true)
"""


def conversion_record(*, call: PixelCall) -> PixelOutcome:
    """Store the pixel's conversion (one round trip); a test call only checks that the click exists."""
    if call.test:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM crm_affiliate_click WHERE id = %s", [call.click_id])
            return PixelOutcome(found=cursor.fetchone() is not None, stored=False, attributed=False)
    params = {
        "click": call.click_id,
        "type": call.type,
        "time": call.time,
        "player_ext": call.player_id,
        "currency": call.currency,
        "amount": call.amount,
        "txn": call.transaction_id,
        "key": call.dedupe_key,
        "ip": call.ip,
        "ua": call.user_agent,
        "referrer": call.referrer,
        "attribute": call.type != ConversionType.INSTALL,
        # Read at this statement's commit: 'off' answers before the WAL flush (see the setting's comment).
        "sync": "on" if settings.PITBOSS_PIXEL_SYNCHRONOUS_COMMIT else "off",
    }
    # Prepared: parsed and planned once per pooled connection, not on every pixel.
    found, stored, attributed, _ = prepared_fetchall(_RECORD, params)[0]  # the statement always gives a row
    return PixelOutcome(found=bool(found), stored=bool(stored), attributed=bool(attributed))


_LINK_PLAYERS = """
WITH linked AS (
    UPDATE crm_affiliate_conversion cv SET player_id = pl.id
      FROM crm_affiliate_campaign cp, crm_player pl
     WHERE cv.player_id IS NULL AND cv.player_ext_id <> '' AND (%(label)s::bigint IS NULL OR cv.label_id = %(label)s)
       AND cp.id = cv.campaign_id AND pl.brand_id = cp.brand_id AND pl.user_ext_id = cv.player_ext_id
    RETURNING cv.id, cv.player_id, cv.affiliate_id, cv.type, cv.occurred_at
), first AS (
    SELECT DISTINCT ON (player_id) player_id, affiliate_id FROM linked
     WHERE type <> 'install' ORDER BY player_id, occurred_at, id
), attr AS (
    UPDATE crm_player pl
       SET core_affiliate_id = CASE WHEN a.code ~ '^[0-9]{1,18}$' THEN a.code::bigint END,
           core_affiliate_str = CASE WHEN a.code ~ '^[0-9]{1,18}$' THEN '' ELSE a.code END,
           updated_at = clock_timestamp()
      FROM first f JOIN crm_affiliate a ON a.id = f.affiliate_id
     WHERE pl.id = f.player_id AND pl.core_affiliate_id IS NULL AND pl.core_affiliate_str = ''
    RETURNING pl.id
)
SELECT (SELECT count(*) FROM linked), (SELECT count(*) FROM attr)
"""


def conversions_link_players(*, label_id: int | None = None) -> tuple[int, int]:
    """Link conversions whose player was unknown when the pixel fired (the operator's profile came later) and
    attribute those players, by the same rule as the pixel. Returns (conversions linked, players attributed)."""
    with connection.cursor() as cursor:
        cursor.execute(_LINK_PLAYERS, {"label": label_id})
        linked, attributed = cursor.fetchone()
    return linked, attributed


# --- conversions into the event log ----------------------------------------------------------------------------------

LOG_BATCH = 1000
_UNLOGGED = """
SELECT cv.id, cv.label_id, cv.type, cv.occurred_at, cv.currency, cv.amount, cv.transaction_id, cv.click_id,
       cv.campaign_id, cv.affiliate_id, a.code, b.ext_brand_id, pl.user_ext_id
  FROM crm_affiliate_conversion cv
  JOIN crm_player pl ON pl.id = cv.player_id
  JOIN backoffice_brand b ON b.id = pl.brand_id
  JOIN crm_affiliate a ON a.id = cv.affiliate_id
 WHERE cv.logged_at IS NULL AND cv.player_id IS NOT NULL AND cv.occurred_at <= %s
 ORDER BY cv.id
 LIMIT %s
   FOR UPDATE OF cv SKIP LOCKED
"""


def conversions_log(*, limit: int = LOG_BATCH) -> tuple[int, int]:
    """Put the conversions of known players into the event log as `affiliate_conversion` events (source "pixel"), so
    rules, segments and journeys react to them as to any event; at most `limit` per call, oldest first.

    The pixel stays one statement: the conversion table is its own durable record, and this (beat, every few seconds,
    and after the players of late conversions are linked) moves what is new. Each conversion becomes the event
    `conversion-<id>`, marked logged in the same transaction: run twice or concurrently (rows are claimed with SKIP
    LOCKED), it logs each once, and an event already in the log is a duplicate the log acknowledges. A conversion
    the log refuses (its brand was deactivated) is marked too, and logged as a warning. Returns (logged, refused)."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            # The pixel takes a `time` up to 5 minutes ahead (clocks differ); the log takes a minute: such a
            # conversion waits until the log takes its time.
            cursor.execute(_UNLOGGED, [timezone.now() + FUTURE_SKEW, limit])
            rows = cursor.fetchall()
        if not rows:
            return 0, 0
        by_label: dict[int, list[dict]] = {}
        for (pk, label_id, kind, occurred_at, currency, amount, txn, click_id, campaign_id, affiliate_id, code,
             brand, user) in rows:  # fmt: skip
            payload: dict = {"conversion_type": kind, "affiliate_code": code, "affiliate_id": affiliate_id,
                             "campaign_id": campaign_id, "click_id": str(click_id), "conversion_id": pk}  # fmt: skip
            if amount is not None:
                payload |= {"amount": float(amount), "currency": currency.lower()}  # as the pixel names it
            if txn:
                payload["transaction_id"] = txn
            by_label.setdefault(label_id, []).append(
                {
                    "event_id": f"conversion-{pk}",
                    "type": AFFILIATE_CONVERSION,
                    "ext_brand_id": brand,
                    "user_ext_id": user,
                    "occurred_at": occurred_at.isoformat(),
                    "payload": payload,
                }
            )
        refused = 0
        for label in Label.objects.filter(pk__in=by_label):
            items = by_label[label.pk]
            result = events_ingest(label=label, items=items, source=EventSource.PIXEL)
            bad = [(items[r.index]["event_id"], r.errors) for r in result.items if r.status == INVALID]
            if bad:
                refused += len(bad)
                log.warning("affiliate_conversions_refused", label_id=label.pk, conversions=bad[:10], count=len(bad))
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE crm_affiliate_conversion SET logged_at = clock_timestamp() WHERE id = ANY(%s)",
                [[row[0] for row in rows]],
            )
    return len(rows) - refused, refused


# --- tracking links ---------------------------------------------------------------------------------------------------

MAX_PARAMS = 20


def landing_url_for(*, link: TrackingLink, click_id: UUID | None, params: dict[str, str]) -> str:
    """The link's landing URL with the tracking URL's other parameters (sub ids) and the click id appended."""
    parts = urlsplit(link.landing_url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != link.click_param]
    query += [(k, v) for k, v in params.items() if k != link.click_param and k not in dict(query)]
    if click_id is not None:
        query.append((link.click_param, str(click_id)))
    return urlunsplit(parts._replace(query=urlencode(query)))


def click_record(
    *, link: TrackingLink, params: dict[str, str], ip: str | None, user_agent: str, referrer: str
) -> tuple[Click | None, str]:
    """Mint a click on `link` and return it with the URL to redirect to. A paused link, campaign or affiliate sends
    the visitor on without a click id (nothing is recorded): traffic is never lost, only not tracked."""
    campaign = link.campaign
    if not (link.is_active and campaign.is_active and campaign.affiliate.is_active):
        return None, landing_url_for(link=link, click_id=None, params=params)
    click = Click(
        label_id=link.label_id,
        link=link,
        campaign_id=link.campaign_id,
        affiliate_id=campaign.affiliate_id,
        created_at=timezone.now(),
        referrer=referrer[:2000],
        ip=ip,
        user_agent=user_agent[:512],
        params=params,
    )
    click.landing_url = landing_url_for(link=link, click_id=click.id, params=params)
    with transaction.atomic():
        click.save(force_insert=True)
    return click, click.landing_url
