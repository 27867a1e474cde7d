"""Reads of usage analytics: customer accounts with their usage, usage users with their devices and sessions.

Label-scoped through the Actor; another label's id answers NotFound, as a missing one does.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Avg, Count, F, Max, Q, QuerySet
from django.utils import timezone

from backoffice.errors import NotFound
from backoffice.scoping import Actor
from crm.catalogue import USAGE_TYPES
from crm.models import CustomerAccount, Event, UsageSession, UsageUser

RECENT_EVENTS = 20
ACCOUNT_USERS = 100


def customer_accounts_for_actor(*, actor: Actor) -> QuerySet[CustomerAccount]:
    """The actor's customer accounts with their usage users' count and when one was last seen."""
    return CustomerAccount.objects.for_actor(actor).annotate(
        users_count=Count("usage_users", distinct=True), last_seen_at=Max("usage_users__last_seen_at")
    )


def customer_account_for_actor(*, actor: Actor, account_id: str) -> CustomerAccount:
    account = customer_accounts_for_actor(actor=actor).filter(account_id=account_id).first()
    if account is None:
        raise NotFound("No such customer account.")
    return account


def usage_users_for_actor(*, actor: Actor) -> QuerySet[UsageUser]:
    return UsageUser.objects.for_actor(actor).select_related(
        "app", "app__brand", "player__brand", "customer_account", "merged_into"
    )


def usage_user_for_actor(*, actor: Actor, pk: int) -> UsageUser:
    user = usage_users_for_actor(actor=actor).prefetch_related("devices").filter(pk=pk).first()
    if user is None:
        raise NotFound("No such usage user.")
    return user


@dataclass(frozen=True)
class AccountUsage:
    """An account's usage over the last `days`: its users (active ones), events, sessions and their mean length."""

    days: int
    users: int
    active_users: int
    events: int
    sessions: int
    mean_session_seconds: float | None


def account_usage(*, account: CustomerAccount, days: int = 30, now: dt.datetime | None = None) -> AccountUsage:
    since = (now or timezone.now()) - dt.timedelta(days=days)
    users = UsageUser.objects.filter(customer_account=account)
    counts = users.aggregate(total=Count("id"), active=Count("id", filter=Q(last_seen_at__gte=since)))
    players = users.exclude(player=None).values("player_id")
    events = Event.objects.filter(
        label_id=account.label_id, player_id__in=players, type__in=USAGE_TYPES, occurred_at__gte=since
    ).count()
    sessions = UsageSession.objects.filter(user__customer_account=account, started_at__gte=since).aggregate(
        count=Count("id"),
        mean=Avg(F("ended_at") - F("started_at"), filter=Q(ended_at__isnull=False)),
    )
    mean = sessions["mean"].total_seconds() if sessions["mean"] is not None else None
    return AccountUsage(days, counts["total"], counts["active"], events, sessions["count"], mean)


def account_recent_events(*, account: CustomerAccount, limit: int = RECENT_EVENTS) -> list[Event]:
    """The latest usage events of the account's users' players, newest first (each player's timeline index)."""
    players = UsageUser.objects.filter(customer_account=account).exclude(player=None).values("player_id")
    return list(
        Event.objects.filter(label_id=account.label_id, player_id__in=players, type__in=USAGE_TYPES)
        .select_related("player")
        .order_by("-occurred_at", "-id")[:limit]
    )


def user_recent_events(*, user: UsageUser, limit: int = RECENT_EVENTS) -> list[Event]:
    target = user.merged_into or user
    if target.player_id is None:
        return []
    return list(
        Event.objects.filter(label_id=user.label_id, player_id=target.player_id, type__in=USAGE_TYPES)
        .select_related("player")
        .order_by("-occurred_at", "-id")[:limit]
    )
