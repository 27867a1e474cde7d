"""Demo usage analytics (`manage.py demo`): two apps, customer accounts, app users with a week of sessions, events,
attributes and devices, a guest who logged in and one still browsing. Made through the same services the
/v4/usageanalytics/… endpoints call, so running the demo again the same day adds nothing twice (events dedupe
by content)."""

from __future__ import annotations

import datetime as dt
import random

from django.utils import timezone

from backoffice.models import Brand, Label
from crm.models import CustomerAccountStatus, Player, UsageApp, UsageUser, UsageUserKind
from crm.services.accounts import customer_account_upsert
from crm.services.usage import (
    Attribute,
    Seen,
    UsageEvent,
    usage_device_attributes_set,
    usage_device_token_set,
    usage_events_log,
    usage_user_attributes_set,
    usage_user_register,
)

ACCOUNTS = (("acc-northwind", "Northwind Affiliates"), ("acc-lucky", "Lucky Partners Ltd"), ("acc-vip", "VIP Club"))
APPS = (("4ed062f1-casino-ios", "Casino iOS app", "iOS"), ("a8548489-sports-web", "Sportsbook web", "Web"))
SCREENS = ("Lobby", "Promotions", "Cashier", "Live casino", "Bet slip", "Profile")


def _events(rng: random.Random, start: dt.datetime, session: str, platform: str) -> list[UsageEvent]:
    common = {"session_id": session, "platform": platform.lower(), "app_version": "5.2.1"}
    minutes = rng.randint(3, 40)
    end = start + dt.timedelta(minutes=minutes)
    found = [UsageEvent("app_session_start", start, {**common, "start_time": start.isoformat()})]
    for step in range(rng.randint(2, 6)):
        when = start + dt.timedelta(minutes=minutes * (step + 1) / 8)
        screen = rng.choice(SCREENS)
        found.append(UsageEvent("usage_event", when, {**common, "name": "Screen View", "module": screen,
                                                      "parameters": {"Screen Name": screen}}))  # fmt: skip
        load = {"request_count": rng.randint(10, 80), "load_time": round(rng.uniform(0.3, 4.0), 2),
                "page_url": f"/#/{screen.lower()}"}  # fmt: skip
        found.append(UsageEvent("page_load_event", when, {**common, **load}))
    found.append(UsageEvent("app_session_end", end, {**common, "end_time": end.isoformat()}))
    return found


def usage_demo(label: Label) -> dict[str, int]:
    """The demo label's usage analytics; returns counts for the demo's report."""
    rng = random.Random(7)
    now = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)  # the same events all day long
    brands = list(Brand.objects.filter(label=label).order_by("id"))
    apps = [
        UsageApp.objects.get_or_create(label=label, app_id=app_id, defaults={"name": name, "brand": brand})[0]
        for (app_id, name, _), brand in zip(APPS, brands, strict=False)
    ]
    for account_id, name in ACCOUNTS:
        customer_account_upsert(label_id=label.pk, account_id=account_id, app_id=apps[0].app_id, name=name,
                                status=CustomerAccountStatus.ACTIVE, product_ids=["casino", "sports"])  # fmt: skip
    for n, app in enumerate(apps):
        platform = APPS[n][2]
        players = Player.objects.filter(brand=app.brand).order_by("id").values_list("user_ext_id", flat=True)[:8]
        for i, user_id in enumerate(players):
            account = ACCOUNTS[i % len(ACCOUNTS)][0]
            seen = Seen(platform=platform, customer_account_id=account, kind=UsageUserKind.AUTHENTICATED,
                        status="Active", device_id=f"dev-{user_id}")  # fmt: skip
            user, _ = usage_user_register(app=app, user_id=user_id, seen=seen)
            for day in range(rng.randint(1, 5)):
                start = now - dt.timedelta(days=day, hours=rng.randint(1, 20))
                usage_events_log(user=user, events=_events(rng, start, f"s-{user_id}-{day}", platform))
            usage_user_attributes_set(user=user, attributes=[
                Attribute("Language", "String", rng.choice(["en-us", "de-de", "fi-fi"]), now - dt.timedelta(days=1)),
                Attribute("Subscribed To Email", "Boolean", rng.random() < 0.6, now - dt.timedelta(days=1)),
            ])  # fmt: skip
            device = {"Make": "Apple", "OS Version": "17.4"} if platform == "iOS" else {"Browser": "Chrome 124"}
            usage_device_attributes_set(user=user, device_id=f"dev-{user_id}", platform=platform, attributes=device)
            if platform == "iOS":
                token = f"740f4707 bebcf74f 9b7c25d4 {i:08d}"
                usage_device_token_set(user=user, device_id=f"dev-{user_id}", platform=platform, token=token,
                                       app_in_distribution=True)  # fmt: skip
        _guests(app, platform, players, now, rng)
    return {"usage users": UsageUser.objects.filter(label=label).count()}


def _guests(app: UsageApp, platform: str, players, now: dt.datetime, rng: random.Random) -> None:
    """A guest who browsed, then logged in as a player; another still browsing (its events held)."""
    guest_seen = Seen(platform=platform, kind=UsageUserKind.GUEST, status="Active")
    for guest_id in (f"guest-{app.pk}-1", f"guest-{app.pk}-2"):
        guest, _ = usage_user_register(app=app, user_id=guest_id, seen=guest_seen)
        usage_events_log(user=guest, events=_events(rng, now - dt.timedelta(hours=3), f"s-{guest_id}", platform))
    if players:
        seen = Seen(platform=platform, kind=UsageUserKind.AUTHENTICATED, status="Active")
        usage_user_register(app=app, user_id=players[0], seen=seen, last_logged_in_user_id=f"guest-{app.pk}-1")
