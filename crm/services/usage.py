"""Usage analytics writes: apps, users, their events into the one event log, attributes, devices, sessions, and the
answers kept per `idempotencyId` (docs/usage-analytics.md).

Who a user is: an app (`appId`) is mapped to a brand (UsageApp); an authenticated user (loginMechanism AUTH, or a user
the app never registered) is the player (that brand, user_ext_id = userId), created like any player an event names.
A guest is no player: its events are held (UsageGuestEvent) until the app registers an authenticated user naming it
as `lastLoggedInUserId`; they are then ingested for that player with their own event ids, and later events sent under
the guest's id go to the player too.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson
import structlog
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from backoffice.crypto import encrypt, keyed_digest
from backoffice.errors import Conflict, DomainValidationError
from backoffice.models import Brand, Label
from crm.catalogue import PROFILE_UPDATE, clean_event
from crm.models import (
    CustomerAccount,
    EventSource,
    Player,
    UsageApp,
    UsageDevice,
    UsageGuestEvent,
    UsageRequest,
    UsageUser,
    UsageUserKind,
    UsageUserStatus,
)
from crm.services.accounts import customer_account_ensure
from crm.services.ingest import ACCEPTED, DUPLICATE, INVALID, events_ingest
from crm.services.players import control_group_draw

log = structlog.get_logger(__name__)

SESSION_START, SESSION_END = "app_session_start", "app_session_end"
CUSTOM_PREFIX = (
    "usage_"  # a user attribute "Subscribed To Email" is the player's custom property usage_subscribed_to_email
)
_SLUG_RE = re.compile(r"[^a-z0-9]+")


# --- idempotencyId ------------------------------------------------------------------------------------------------
def body_digest(*, data: Any) -> str:
    return keyed_digest(orjson.dumps(data, option=orjson.OPT_SORT_KEYS))


def usage_request_once(
    *, label_id: int, endpoint: str, idempotency_id: str, digest: str, work: Callable[[], tuple[int, dict]]
) -> tuple[int, dict]:
    """Run `work` (which returns the answer: HTTP status and body) once per (endpoint, idempotency_id) of the label.

    The key is claimed in `work`'s transaction: a concurrent call with the same key waits on the claim, then answers
    as the first did. The same key with another body is a Conflict. Without a key, `work` just runs. A `work` that
    raises leaves nothing behind, the claim included, so a corrected retry with the same key is done.
    """
    with transaction.atomic():
        if not idempotency_id:
            return work()
        with connection.cursor() as cursor:
            cursor.execute(
                """INSERT INTO crm_usagerequest (label_id, endpoint, idempotency_id, digest, status_code, response,
                                                 created_at)
                   VALUES (%s, %s, %s, %s, 0, '{}'::jsonb, now())
                   ON CONFLICT (label_id, endpoint, idempotency_id) DO NOTHING RETURNING id""",
                [label_id, endpoint, idempotency_id, digest],
            )
            claimed = cursor.fetchone()
        if claimed is None:
            first = UsageRequest.objects.get(label_id=label_id, endpoint=endpoint, idempotency_id=idempotency_id)
            if first.digest != digest:
                raise Conflict("This idempotencyId was already used for a different request.", code="idempotency")
            return first.status_code, first.response
        status, body = work()
        UsageRequest.objects.filter(pk=claimed[0]).update(status_code=status, response=body)
        return status, body


# --- apps and users -----------------------------------------------------------------------------------------------
def usage_app_resolve(*, label_id: int, app_id: str) -> UsageApp:
    """The label's app `app_id`. An app not mapped yet is mapped to the label's brand when it has exactly one active
    brand; otherwise staff map it (admin: Usage analytics → Apps) and the call is refused, naming appId."""
    app = UsageApp.objects.select_related("brand").filter(label_id=label_id, app_id=app_id).first()
    if app is not None:
        if not app.brand.is_active:
            raise DomainValidationError({"appId": [f"The app's brand {app.brand.ext_brand_id!r} is inactive."]})
        return app
    brands = list(Brand.objects.filter(label_id=label_id, is_active=True)[:2])
    if len(brands) != 1:
        raise DomainValidationError(
            {"appId": ["Unknown app: map it to a brand first (admin: Usage analytics → Apps)."]}, code="unknown_app"
        )
    UsageApp.objects.bulk_create(
        [UsageApp(label_id=label_id, app_id=app_id, brand=brands[0], name=app_id)],
        ignore_conflicts=True,
        unique_fields=["label", "app_id"],
    )
    return UsageApp.objects.select_related("brand").get(label_id=label_id, app_id=app_id)


@dataclass(frozen=True)
class Seen:
    """What a call says of its user besides its id; blank values leave the stored ones."""

    platform: str = ""
    session_id: str = ""
    device_id: str = ""
    customer_account_id: str = ""
    kind: str = ""  # only /user sets it
    status: str = ""
    bundle_id: str = ""


_USER_UPSERT = """
INSERT INTO crm_usageuser (label_id, app_id, user_id, kind, status, platform, bundle_id, last_session_id,
                           last_device_id, customer_account_id, attributes, last_seen_at, created_at, updated_at)
VALUES (%(label)s, %(app)s, %(user)s, %(kind)s, %(status)s, %(platform)s, %(bundle)s, %(session)s, %(device)s,
        %(account)s, '{}'::jsonb, %(now)s, %(now)s, %(now)s)
ON CONFLICT (app_id, user_id) DO UPDATE SET
    kind = CASE WHEN %(set_kind)s THEN EXCLUDED.kind ELSE crm_usageuser.kind END,
    status = CASE WHEN %(set_status)s THEN EXCLUDED.status ELSE crm_usageuser.status END,
    platform = COALESCE(NULLIF(EXCLUDED.platform, ''), crm_usageuser.platform),
    bundle_id = COALESCE(NULLIF(EXCLUDED.bundle_id, ''), crm_usageuser.bundle_id),
    last_session_id = COALESCE(NULLIF(EXCLUDED.last_session_id, ''), crm_usageuser.last_session_id),
    last_device_id = COALESCE(NULLIF(EXCLUDED.last_device_id, ''), crm_usageuser.last_device_id),
    customer_account_id = COALESCE(EXCLUDED.customer_account_id, crm_usageuser.customer_account_id),
    last_seen_at = GREATEST(EXCLUDED.last_seen_at, crm_usageuser.last_seen_at),
    updated_at = EXCLUDED.updated_at
RETURNING id
"""


def usage_user_touch(*, app: UsageApp, user_id: str, seen: Seen, now: dt.datetime | None = None) -> UsageUser:
    """Create the app's user `user_id` (authenticated unless `seen.kind` says guest) or note what the call says of it;
    an authenticated user is linked to its player, created if new."""
    account_id = None
    if seen.customer_account_id:
        account_id = customer_account_ensure(
            label_id=app.label_id, account_id=seen.customer_account_id, app_id=app.app_id
        ).pk
    params: dict[str, Any] = {
        "label": app.label_id, "app": app.pk, "user": user_id, "kind": seen.kind or UsageUserKind.AUTHENTICATED,
        "status": seen.status or UsageUserStatus.ACTIVE, "platform": seen.platform, "bundle": seen.bundle_id,
        "session": seen.session_id, "device": seen.device_id, "account": account_id, "now": now or timezone.now(),
        "set_kind": bool(seen.kind), "set_status": bool(seen.status),
    }  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(_USER_UPSERT, params)
        (pk,) = cursor.fetchone()
    user = UsageUser.objects.select_related("app__brand", "merged_into").get(pk=pk)
    if user.kind == UsageUserKind.AUTHENTICATED and user.player_id is None:
        user.player_id = _player_ensure(app, user_id)
        UsageUser.objects.filter(pk=pk).update(player_id=user.player_id)
    return user


def _player_ensure(app: UsageApp, user_id: str) -> int:
    """The player (app's brand, user_id), created bare if new (its profile comes from the operator, as for events)."""
    label = Label.objects.get(pk=app.label_id)
    Player.objects.bulk_create(
        [Player(label_id=app.label_id, brand_id=app.brand_id, user_ext_id=user_id,
                ach_gamification_in_control_group=control_group_draw(label=label))],
        ignore_conflicts=True,
        unique_fields=["brand", "user_ext_id"],
    )  # fmt: skip
    return Player.objects.filter(brand_id=app.brand_id, user_ext_id=user_id).values_list("pk", flat=True).get()


@transaction.atomic
def usage_user_register(
    *, app: UsageApp, user_id: str, seen: Seen, last_logged_in_user_id: str = ""
) -> tuple[UsageUser, int]:
    """POST /user: create or update the user; an authenticated user naming a guest as `last_logged_in_user_id` takes
    over the guest's events. Returns the user and how many held events moved to it."""
    user = usage_user_touch(app=app, user_id=user_id, seen=seen)
    moved = 0
    if user.kind == UsageUserKind.AUTHENTICATED and user.held_events.exists():
        moved += _held_ingest(user, user)  # a guest id registered again as authenticated: it is the player now
    if user.kind == UsageUserKind.AUTHENTICATED and last_logged_in_user_id and last_logged_in_user_id != user_id:
        guest = UsageUser.objects.filter(app=app, user_id=last_logged_in_user_id, kind=UsageUserKind.GUEST).first()
        if guest is not None:
            moved = _guest_merge(guest, user)
    return user, moved


def _held_ingest(guest: UsageUser, user: UsageUser) -> int:
    """Ingest the guest's held events for the user's player and forget them; how many were moved."""
    held = list(UsageGuestEvent.objects.select_for_update().filter(user=guest).order_by("occurred_at", "id"))
    if not held:
        return 0
    items = _raws(user, [(e.type, e.event_id, e.occurred_at, e.payload) for e in held])
    result = _ingest(user.label_id, items)
    UsageGuestEvent.objects.filter(pk__in=[e.pk for e in held]).delete()
    return sum(item.status in (ACCEPTED, DUPLICATE) for item in result.items)


def _guest_merge(guest: UsageUser, user: UsageUser) -> int:
    """Ingest the guest's held events for the user's player, forget them, and point the guest at the user."""
    moved = _held_ingest(guest, user)
    UsageUser.objects.filter(pk=guest.pk).update(merged_into=user, updated_at=timezone.now())
    log.info("usage_guest_merged", label_id=user.label_id, guest_id=guest.pk, user_id=user.pk, events=moved)
    return moved


# --- events -------------------------------------------------------------------------------------------------------
@dataclass
class UsageEvent:
    """One usage event in Pitboss's terms: a catalogue type (usage_event, app_session_start, ...), when, payload."""

    type: str
    occurred_at: dt.datetime
    payload: dict[str, Any]
    position: int = 0  # in the caller's request, for error messages


@dataclass
class LogResult:
    accepted: int = 0
    duplicate: int = 0
    held: int = 0  # a guest's events, kept until it logs in


class EventsRefused(Exception):
    def __init__(self, errors: dict[str, list[str]]):
        self.errors = errors
        super().__init__(errors)


@lru_cache(maxsize=1)
def _id_key(secret: str) -> bytes:
    return hashlib.blake2b(f"usage-event-id:{secret}".encode(), digest_size=32).digest()


def _event_id(user_id: str, event: UsageEvent) -> str:
    """The event's id from its content: a client resending the same event (its store-and-forward buffer) sends the
    same id, so ingest acknowledges it as a duplicate. Keyed, so an id reveals nothing of a guessable event."""
    body = orjson.dumps(
        [user_id, event.type, event.occurred_at.isoformat(timespec="milliseconds"), event.payload],
        option=orjson.OPT_SORT_KEYS,
    )
    return "u-" + hashlib.blake2b(body, key=_id_key(settings.FIELD_LOOKUP_KEY), digest_size=16).hexdigest()


def _raw(user: UsageUser, type_name: str, event_id: str, occurred_at: dt.datetime, payload: dict) -> dict:
    return _raws(user, [(type_name, event_id, occurred_at, payload)])[0]


def _raws(user: UsageUser, events: list[tuple[str, str, dt.datetime, dict]]) -> list[dict]:
    """The events as ingest takes them: the player is the user's (or, for a guest who logged in, the user's it
    became), in the app's brand."""
    brand, player = user.app.brand.ext_brand_id, (user.merged_into or user).user_id
    return [
        {"event_id": event_id, "type": type_name, "ext_brand_id": brand, "user_ext_id": player,
         "occurred_at": occurred_at.isoformat(timespec="milliseconds"), "payload": payload}
        for type_name, event_id, occurred_at, payload in events
    ]  # fmt: skip


def _ingest(label_id: int, items: list[dict]):
    label = Label.objects.get(pk=label_id)
    result = events_ingest(label=label, items=items, source=EventSource.USAGE)
    refused = {i.index: i.errors for i in result.items if i.status == INVALID}
    if refused:
        raise EventsRefused(
            {f"events[{k}]": [f"{f}: {m}" for f, ms in v.items() for m in ms] for k, v in refused.items()}
        )
    return result


@transaction.atomic
def usage_events_log(*, user: UsageUser, events: list[UsageEvent]) -> LogResult:
    """Store a user's events in the event log (held, for a guest); sessions are noted, and an app_session_end whose
    start Pitboss saw carries the session's `duration_seconds`. All or nothing: EventsRefused changes nothing."""
    keyed = [(_event_id(user.user_id, e), e) for e in events]  # ids before the derived fields are added
    _sessions_note(user, events)
    if user.kind == UsageUserKind.GUEST and user.merged_into_id is None:
        return LogResult(held=_hold(user, keyed))
    items = _raws(user, [(e.type, event_id, e.occurred_at, e.payload) for event_id, e in keyed])
    try:
        result = _ingest(user.label_id, items)
    except EventsRefused as exc:
        by_index = {f"events[{i}]": f"events[{e.position}]" for i, (_, e) in enumerate(keyed)}
        raise EventsRefused({by_index.get(k, k): v for k, v in exc.errors.items()}) from None
    counts = result.counts()
    _player_link(user)
    return LogResult(accepted=counts[ACCEPTED], duplicate=counts[DUPLICATE] + counts["conflict"])


def _player_link(user: UsageUser) -> None:
    if user.player_id is None and user.kind == UsageUserKind.AUTHENTICATED:
        user.player_id = _player_ensure(user.app, user.user_id)
        UsageUser.objects.filter(pk=user.pk).update(player_id=user.player_id)


def _hold(user: UsageUser, keyed: list[tuple[str, UsageEvent]]) -> int:
    """Keep a guest's events, validated as ingest will validate them, until the guest logs in."""
    now = timezone.now()
    rows = []
    for event_id, event in keyed:
        raw = _raw(user, event.type, event_id, event.occurred_at, event.payload)
        clean, errors = clean_event(raw, {}, now)
        if clean is None:
            raise EventsRefused({f"events[{event.position}]": [f"{f}: {m}" for f, ms in errors.items() for m in ms]})
        rows.append(UsageGuestEvent(label_id=user.label_id, user=user, event_id=event_id, type=event.type,
                                    occurred_at=clean.occurred_at, payload=clean.payload))  # fmt: skip
    UsageGuestEvent.objects.bulk_create(rows, ignore_conflicts=True, unique_fields=["user", "type", "event_id"])
    return len(rows)


_SESSION_UPSERT = """
INSERT INTO crm_usagesession (label_id, user_id, session_id, device_id, platform, started_at, ended_at, created_at,
                              updated_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, now(), now())
ON CONFLICT (user_id, session_id) DO UPDATE SET
    started_at = COALESCE(crm_usagesession.started_at, EXCLUDED.started_at),
    ended_at = COALESCE(EXCLUDED.ended_at, crm_usagesession.ended_at),
    device_id = COALESCE(NULLIF(crm_usagesession.device_id, ''), EXCLUDED.device_id),
    updated_at = now()
RETURNING started_at, ended_at
"""


def _sessions_note(user: UsageUser, events: list[UsageEvent]) -> None:
    """Note each session start and end (starts first: a batch may hold both); an end learns its duration."""
    ordered = sorted(
        (e for e in events if e.type in (SESSION_START, SESSION_END)), key=lambda e: e.type != SESSION_START
    )
    with connection.cursor() as cursor:
        for event in ordered:
            start = event.payload.get("start_time") if event.type == SESSION_START else None
            end = event.payload.get("end_time") if event.type == SESSION_END else None
            cursor.execute(
                _SESSION_UPSERT,
                [user.label_id, user.pk, event.payload["session_id"], event.payload.get("device_id", ""),
                 _platform(event.payload.get("platform")), start, end],
            )  # fmt: skip
            started_at, ended_at = cursor.fetchone()
            if event.type == SESSION_END and started_at is not None and ended_at is not None:
                event.payload["duration_seconds"] = round(max((ended_at - started_at).total_seconds(), 0.0), 3)


def _platform(value: Any) -> str:
    return {"ios": "iOS", "android": "Android", "web": "Web"}.get(value or "", "")


# --- attributes, devices, tokens ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Attribute:
    name: str
    data_type: str
    value: Any
    logged_at: dt.datetime


def custom_property(*, name: str) -> str | None:
    """The player's custom property a user attribute is kept in: usage_ and the name in lower case, words joined by
    _ (at most 64 characters); None for a name with no letters or digits."""
    slug = _SLUG_RE.sub("_", name.lower()).strip("_")
    return (CUSTOM_PREFIX + slug)[:64].rstrip("_") if slug else None


@transaction.atomic
def usage_user_attributes_set(*, user: UsageUser, attributes: list[Attribute]) -> int:
    """Keep each attribute unless a later one is stored (by loggedAtTime), and send them to the player's profile as
    custom properties (profile_update events, one per loggedAtTime, so each property keeps its own time).
    Returns how many attributes changed."""
    locked = UsageUser.objects.select_for_update().get(pk=user.pk)
    stored = dict(locked.attributes)
    changed = []
    for attr in attributes:
        stamp = attr.logged_at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        current = stored.get(attr.name)
        if current is not None and current.get("loggedAtTime", "") > stamp:
            continue
        stored[attr.name] = {"dataType": attr.data_type, "value": attr.value, "loggedAtTime": stamp}
        changed.append(attr)
    UsageUser.objects.filter(pk=user.pk).update(attributes=stored, updated_at=timezone.now())
    user.attributes = stored
    by_time: dict[dt.datetime, dict[str, Any]] = {}
    for attr in changed:
        key = custom_property(name=attr.name)
        if key is not None:
            by_time.setdefault(attr.logged_at, {})[key] = attr.value
    events = [
        UsageEvent(PROFILE_UPDATE, when, {"custom": custom, "dt_update": when.isoformat(timespec="milliseconds")})
        for when, custom in sorted(by_time.items())
    ]
    if events:
        usage_events_log(user=user, events=events)
    return len(changed)


def _device(user: UsageUser, device_id: str, platform: str) -> UsageDevice:
    for _attempt in range(2):
        try:
            with transaction.atomic():
                device, _ = UsageDevice.objects.select_for_update().get_or_create(
                    user=user, device_id=device_id, defaults={"label_id": user.label_id, "platform": platform}
                )
                return device
        except IntegrityError:
            continue  # created by a concurrent call: read it
    return UsageDevice.objects.select_for_update().get(user=user, device_id=device_id)


@transaction.atomic
def usage_device_attributes_set(*, user: UsageUser, device_id: str, platform: str, attributes: dict[str, str]) -> None:
    """Merge the attributes into the device's (a device without an id is the user's one unnamed device)."""
    device = _device(user, device_id, platform)
    device.attributes = {**device.attributes, **attributes}
    device.platform = platform or device.platform
    device.save(update_fields=["attributes", "platform", "updated_at"])


@transaction.atomic
def usage_device_token_set(
    *, user: UsageUser, device_id: str, platform: str, token: str, app_in_distribution: bool | None
) -> None:
    """Store the device's push token encrypted; staff see only its last four characters."""
    device = _device(user, device_id, platform)
    device.token = encrypt(token)
    device.token_hint = token.replace(" ", "")[-4:]
    device.token_updated_at = timezone.now()
    device.app_in_distribution = app_in_distribution
    device.platform = platform or device.platform
    device.save(update_fields=["token", "token_hint", "token_updated_at", "app_in_distribution", "platform",
                               "updated_at"])  # fmt: skip


def usage_customer_upsert(**fields: Any) -> CustomerAccount:
    """POST /customer: the account, created or updated (crm.services.accounts)."""
    from crm.services.accounts import customer_account_upsert

    return customer_account_upsert(**fields)
