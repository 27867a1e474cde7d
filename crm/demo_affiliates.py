"""Demo data of affiliate tracking (`manage.py demo`): three affiliates with campaigns and links on the label's first
brand, and 30 days of clicks and conversions with a realistic funnel (installs skipped on the web, a few deposits
without a registration pixel), some registrations on existing players so attribution shows on their profiles.

Idempotent: affiliates, campaigns and links are found by their names; clicks are added only to a label that has none.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from decimal import Decimal

from django.utils import timezone

from backoffice.models import Brand, Label
from crm.models import Affiliate, Campaign, Click, Conversion, Player, TrackingLink
from crm.services.affiliates import conversions_link_players, landing_url_for

AFFILIATES = (
    ("1042", "Acme Partners", (("Spring welcome bonus", 0.22, 0.45), ("Live casino push", 0.15, 0.35))),
    ("partner-network-x", "Network X", (("Sports Euro Cup", 0.12, 0.30),)),
    ("2077", "StreamerHub", (("Twitch creators", 0.30, 0.25),)),
)
CLICKS_PER_DAY = (20, 60)
DAYS = 30


def affiliates_demo(label: Label, *, seed: int = 12) -> dict[str, int]:
    """Create the demo's affiliates and traffic for `label`; returns what exists now."""
    brand = Brand.objects.filter(label=label).order_by("id").first()
    if brand is None:
        return {}
    links = _links(label, brand)
    if not Click.objects.filter(label=label).exists():
        _traffic(label, brand, links, random.Random(seed))
        conversions_link_players(label_id=label.pk)
    return {
        "affiliates": Affiliate.objects.filter(label=label).count(),
        "affiliate clicks": Click.objects.filter(label=label).count(),
        "affiliate conversions": Conversion.objects.filter(label=label).count(),
    }


def _links(label: Label, brand: Brand) -> list[tuple[TrackingLink, float, float]]:
    out = []
    for code, name, campaigns in AFFILIATES:
        affiliate, _ = Affiliate.objects.get_or_create(label=label, code=code, defaults={"name": name})
        for campaign_name, reg_rate, dep_rate in campaigns:
            campaign, _ = Campaign.objects.get_or_create(
                label=label, affiliate=affiliate, name=campaign_name, defaults={"brand": brand}
            )
            link, _ = TrackingLink.objects.get_or_create(
                label=label, campaign=campaign, name="Main banner",
                defaults={"landing_url": f"https://{brand.ext_brand_id}.example/welcome?utm_source={code}"},
            )  # fmt: skip
            out.append((link, reg_rate, dep_rate))
    return out


def _traffic(label: Label, brand: Brand, links, rng: random.Random) -> None:
    now = timezone.now()
    players = list(Player.objects.filter(brand=brand).values_list("user_ext_id", flat=True)[:400])
    clicks, conversions = [], []
    for day in range(DAYS, 0, -1):
        for link, reg_rate, dep_rate in links:
            for _ in range(rng.randint(*CLICKS_PER_DAY) // len(links) * 2):
                at = now - dt.timedelta(days=day, seconds=rng.randint(0, 86_399))
                click = Click(label=label, link=link, campaign_id=link.campaign_id,
                              affiliate_id=link.campaign.affiliate_id, created_at=at,
                              referrer=rng.choice(["", "https://casino-reviews.example/", "https://twitch.tv/"]),
                              ip=f"203.0.113.{rng.randint(1, 254)}", user_agent="Mozilla/5.0 (demo)",
                              params={"sub1": f"banner-{rng.randint(1, 5)}"})  # fmt: skip
                click.landing_url = landing_url_for(link=link, click_id=click.id, params=click.params)
                clicks.append(click)
                conversions += _funnel(label, click, reg_rate, dep_rate, players, rng)
    Click.objects.bulk_create(clicks, batch_size=2000)
    Conversion.objects.bulk_create(conversions, batch_size=2000)


def _funnel(label, click: Click, reg_rate: float, dep_rate: float, players: list[str], rng) -> list[Conversion]:
    out = []

    def add(kind: str, minutes: int, **extra) -> None:
        at = click.created_at + dt.timedelta(minutes=minutes)
        out.append(Conversion(label=label, click=click, campaign_id=click.campaign_id, affiliate_id=click.affiliate_id,
                              type=kind, occurred_at=at, received_at=at, ip=click.ip, **extra))  # fmt: skip

    player = rng.choice(players) if players and rng.random() < 0.5 else f"demo-{click.id.hex[:8]}"
    if rng.random() < 0.1:
        add("install", 2)
    registered = rng.random() < reg_rate
    if registered:
        add("registration", 5, player_ext_id=player)
    if (registered and rng.random() < dep_rate) or (not registered and rng.random() < 0.02):  # 2%: reg. pixel lost
        for n in range(1 if rng.random() < 0.6 else rng.randint(2, 4)):
            amount = Decimal(rng.choice([10, 20, 25, 50, 100, 200]))
            txn = hashlib.sha1(f"{click.id}-{n}".encode()).hexdigest()[:16]  # noqa: S324 - a demo id, not security
            add("deposit", 20 + 60 * n, player_ext_id=player, currency=rng.choice(["EUR", "EUR", "GBP", "USD"]),
                amount=amount, transaction_id=txn, dedupe_key=f"txn:{txn}")  # fmt: skip
    return out
