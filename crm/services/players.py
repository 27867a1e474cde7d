"""Writes to players."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from backoffice.crypto import lookup_digest
from backoffice.errors import DomainValidationError
from backoffice.models import Brand, Label
from crm.models import Player
from crm.validators import clean_profile

IMMUTABLE_ONCE_SET = ("core_wallet_currency",)
_DIGESTS = {"user_email": "user_email_digest", "user_phone": "user_phone_digest"}
STAMP_FLOOR = "*"  # in `profile_stamps`: the stamp of a field that has none of its own
CUSTOM_STAMP = "custom."  # in `profile_stamps`: each custom property has its own stamp, custom.<name>
BOOKKEEPING = frozenset(["dt_update", "profile_stamps", *_DIGESTS.values()])


@dataclass(frozen=True)
class UpsertResult:
    player: Player
    created: bool
    changed_fields: list[str] = field(default_factory=list)
    stale: bool = False  # every field it carried was older than the stored one: nothing was applied
    stale_fields: list[str] = field(default_factory=list)  # fields ignored because their stored value is newer


def control_group_draw(*, label: Label) -> bool:
    """Whether a new player of `label` joins the gamification control group (at random, by its percentage)."""
    return random.random() * 100 < float(label.control_group_pct)


def player_apply(*, player: Player, clean: dict[str, Any]) -> list[str]:
    """Set the cleaned values that differ from the player's; return the names that changed (digests kept in step)."""
    errors = {
        name: ["Cannot change once set."]
        for name in IMMUTABLE_ONCE_SET
        if name in clean and getattr(player, name) and clean[name] != getattr(player, name)
    }
    if errors:
        raise DomainValidationError(errors)
    changed = []
    for name, value in clean.items():
        if name == "dt_update" or getattr(player, name) == value:
            continue
        setattr(player, name, value)
        changed.append(name)
        if name in _DIGESTS:
            setattr(player, _DIGESTS[name], lookup_digest(value))
            changed.append(_DIGESTS[name])
    return changed


@dataclass(frozen=True)
class ProfileChange:
    """What a stamped profile update did: the columns it changed, the fields it took (changed or not) and those it
    ignored as older (custom properties as custom.<name>)."""

    changed: list[str]
    applied: list[str]
    stale: list[str]


def profile_apply(*, player: Player, clean: dict[str, Any], stamp: dt.datetime) -> ProfileChange:
    """Apply a cleaned profile update made at `stamp`, field by field, without saving.

    A field, and each custom property on its own, takes the update's value only if `stamp` is not older than the
    stamp of the update that last set it; then its stamp becomes `stamp`. Several sources that each carry some fields
    (one users view per table, the API) so never undo each other, whatever order their updates arrive in, and the
    same update applied twice changes nothing. `dt_update` becomes the newest stamp applied. A value that may not
    change (a wallet currency set before) raises DomainValidationError, with nothing changed.
    """
    stamps = dict(player.profile_stamps or {})
    if STAMP_FLOOR not in stamps:  # a profile from before per-field stamps: its fields date from its dt_update
        stamps[STAMP_FLOOR] = _stamp_text(player.dt_update) if player.dt_update else None
    fresh = {k: v for k, v in clean.items() if k not in ("dt_update", "custom") and _current(stamps, k, stamp)}
    stale = sorted(k for k in clean if k not in ("dt_update", "custom") and k not in fresh)
    changed = player_apply(player=player, clean=fresh)  # raises before setting anything
    stamps.update(dict.fromkeys(fresh, _stamp_text(stamp)))
    applied = sorted(fresh)
    if "custom" in clean:
        custom, custom_applied, custom_stale = _custom_merge(player.custom or {}, clean["custom"], stamps, stamp)
        applied += custom_applied
        stale += custom_stale
        if custom != player.custom:
            player.custom = custom
            changed.append("custom")
    if player.dt_update is None or stamp > player.dt_update:
        player.dt_update = stamp
        changed.append("dt_update")
    if stamps != player.profile_stamps:
        player.profile_stamps = stamps
        changed.append("profile_stamps")
    return ProfileChange(changed=changed, applied=applied, stale=stale)


def _stamp_text(stamp: dt.datetime) -> str:
    return stamp.astimezone(dt.UTC).isoformat(timespec="microseconds")


def _current(stamps: dict[str, str | None], key: str, stamp: dt.datetime) -> bool:
    """Whether an update made at `stamp` is not older than the stored value of `key`."""
    stored = stamps.get(key, stamps.get(STAMP_FLOOR))
    return stored is None or stamp >= dt.datetime.fromisoformat(stored)


def _custom_merge(
    stored: dict[str, Any], incoming: dict[str, Any], stamps: dict[str, str | None], stamp: dt.datetime
) -> tuple[dict[str, Any], list[str], list[str]]:
    """Custom properties merged one by one: a property set to null is removed; an empty object (or null) removes
    them all. Each changes only if its own stamp allows; the stamps of the ones applied move to `stamp`."""
    merged = dict(stored)
    wanted = incoming if incoming else dict.fromkeys(stored)
    applied, stale = [], []
    for name, value in wanted.items():
        key = CUSTOM_STAMP + name
        if not _current(stamps, key, stamp):
            stale.append(key)
            continue
        applied.append(key)
        stamps[key] = _stamp_text(stamp)
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = value
    return merged, applied, stale


def player_upsert(*, brand: Brand, user_ext_id: str, data: dict[str, Any]) -> UpsertResult:
    """Create the player or apply only the fields that changed, each only if the update is not older than its
    stored value (see `profile_apply`); `data["dt_update"]` dates the update, the request's time when absent."""
    clean, errors = clean_profile(data)
    if errors:
        raise DomainValidationError(errors)
    for _attempt in range(2):
        try:
            with transaction.atomic():
                return _upsert_locked(brand, user_ext_id, clean)
        except IntegrityError:
            continue  # a concurrent request created the same player: retry as an update
    raise DomainValidationError({"user_ext_id": ["Concurrent updates of this player; retry."]}, code="conflict")


def _upsert_locked(brand: Brand, user_ext_id: str, clean: dict[str, Any]) -> UpsertResult:
    found = Player.objects.select_for_update().filter(brand=brand, user_ext_id=user_ext_id).first()
    created = found is None
    player = found or Player(
        label_id=brand.label_id,
        brand=brand,
        user_ext_id=user_ext_id,
        ach_gamification_in_control_group=control_group_draw(label=brand.label),
    )
    # The API is one more source of profile updates: without a dt_update, it changed when the request came.
    stamp = clean.pop("dt_update", None) or timezone.now()
    change = profile_apply(player=player, clean=clean, stamp=stamp)
    if created:
        player.save()
    elif change.changed:
        player.save(update_fields=[*change.changed, "updated_at"])
    return UpsertResult(
        player=player,
        created=created,
        changed_fields=[c for c in change.changed if c not in BOOKKEEPING],
        stale=bool(change.stale) and not change.applied,
        stale_fields=change.stale,
    )
