"""Writes to players."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction

from backoffice.crypto import lookup_digest
from backoffice.errors import DomainValidationError
from backoffice.models import Brand, Label
from crm.models import Player
from crm.validators import clean_profile

IMMUTABLE_ONCE_SET = ("core_wallet_currency",)
_DIGESTS = {"user_email": "user_email_digest", "user_phone": "user_phone_digest"}


@dataclass(frozen=True)
class UpsertResult:
    player: Player
    created: bool
    changed_fields: list[str] = field(default_factory=list)
    stale: bool = False  # the update was older than the stored profile and was ignored


def control_group_draw(label: Label) -> bool:
    """Whether a new player of `label` joins the gamification control group (at random, by its percentage)."""
    return random.random() * 100 < float(label.control_group_pct)


def player_apply(player: Player, clean: dict[str, Any]) -> list[str]:
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


def player_upsert(*, brand: Brand, user_ext_id: str, data: dict[str, Any]) -> UpsertResult:
    """Create the player or apply only the fields that changed. An update older than `dt_update` is ignored."""
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
    player = Player.objects.select_for_update().filter(brand=brand, user_ext_id=user_ext_id).first()
    created = player is None
    if created:
        player = Player(
            label_id=brand.label_id,
            brand=brand,
            user_ext_id=user_ext_id,
            ach_gamification_in_control_group=control_group_draw(brand.label),
        )
    incoming = clean.get("dt_update")
    if not created and incoming and player.dt_update and incoming < player.dt_update:
        return UpsertResult(player=player, created=False, stale=True)
    changed = player_apply(player, clean)
    if incoming:
        player.dt_update = incoming
    if created:
        player.save()
    elif changed or incoming:
        player.save(update_fields=[*changed, "dt_update", "updated_at"])
    return UpsertResult(
        player=player, created=created, changed_fields=[c for c in changed if c not in _DIGESTS.values()]
    )
