"""Usage analytics data made through the services the SmartKarrot-compatible endpoints call."""

from __future__ import annotations

import datetime as dt

from crm.models import UsageApp, UsageUserKind
from crm.services.accounts import customer_account_upsert
from crm.services.usage import (
    Attribute,
    Seen,
    UsageEvent,
    usage_device_token_set,
    usage_events_log,
    usage_user_attributes_set,
    usage_user_register,
)

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def usage_world(tenant, *, account_id: str = "acc-1", user_id: str = "u-1", name: str = "Northwind"):
    """One app of the tenant's brand, one account, one authenticated user with a session, an event, an attribute and
    a device with a push token; and a guest with a held event. Returns (account, user)."""
    app, _ = UsageApp.objects.get_or_create(label=tenant.label, app_id="app-1", defaults={"brand": tenant.brand})
    account = customer_account_upsert(label_id=tenant.label.pk, account_id=account_id, app_id="app-1", name=name)
    seen = Seen(platform="iOS", customer_account_id=account_id, kind=UsageUserKind.AUTHENTICATED, status="Active")
    user, _ = usage_user_register(app=app, user_id=user_id, seen=seen)
    common = {"session_id": "s-1", "platform": "ios"}
    usage_events_log(user=user, events=[
        UsageEvent("app_session_start", T0, {**common, "start_time": T0.isoformat()}),
        UsageEvent("usage_event", T0 + dt.timedelta(minutes=1), {**common, "name": "Signed In", "module": "Login"}),
        UsageEvent("app_session_end", T0 + dt.timedelta(minutes=5),
                   {**common, "end_time": (T0 + dt.timedelta(minutes=5)).isoformat()}),
    ])  # fmt: skip
    usage_user_attributes_set(user=user, attributes=[Attribute("Region", "String", "US", T0)])
    usage_device_token_set(
        user=user, device_id="dev-1", platform="iOS", token="abcd efgh 1234", app_in_distribution=True
    )
    guest, _ = usage_user_register(app=app, user_id=f"{user_id}-guest", seen=Seen(platform="Web", kind="GUEST"))
    usage_events_log(user=guest, events=[UsageEvent("usage_event", T0, {"name": "Browse"})])
    user.refresh_from_db()
    return account, user
