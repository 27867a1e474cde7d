"""Badge awards: each award raises a player one stage (or to a given stage), once per key within the label."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db import connection, transaction

from backoffice.errors import DomainValidationError, NotFound, Refused
from crm.models import Player
from gamification.facts import BADGE_EARNED, fact_emit
from gamification.models import Badge, BadgeAward, BadgeStage, WithheldCredit
from gamification.services.wallet import (
    AUTOMATED_SOURCES,
    MAX_KEY_LENGTH,
    MAX_REASON_LENGTH,
    ControlGroup,
    IdempotencyConflict,
    Withheld,
    credits_withheld_record,
    earning_withheld_because,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import User

SOURCES = ("mission", "tournament", "rule", "journey", "manual", "api")


class BadgeInactive(Refused):
    default_code = "inactive"


class MaxStage(Refused):
    default_code = "max_stage"


class AlreadyAwarded(Refused):
    default_code = "already_awarded"


@dataclass(frozen=True)
class AwardResult:
    award: BadgeAward | None  # None when the award was withheld
    created: bool  # False when the key was already used or the award withheld: nothing changed
    withheld: WithheldCredit | None = None  # set when an automated award was not made (the account is not ACTIVE)


def badge_stage_count(*, badge: Badge) -> int:
    """How many stages the badge has: a badge without stages has one."""
    return max(BadgeStage.objects.filter(badge_id=badge.pk).count(), 1)


def badge_award(
    *,
    player: Player,
    badge: Badge,
    source: str,
    key: str,
    stage: int | None = None,
    reason: str = "",
    created_by: User | None = None,
) -> AwardResult:
    """Award the player's next stage of `badge` (or `stage`), once per `key` within the label.

    A replayed key returns the first award (409 when it was used for another badge, player or stage). Refusals (422):
    `inactive`, `control_group`, `max_stage` (the last stage is already earned, or `stage` does not exist),
    `already_awarded` (that stage is earned). The `badge_earned` fact commits with the award.

    An automated award (`AUTOMATED_SOURCES`: mission, tournament, rule, journey) to a player whose account is not
    ACTIVE, when the label's `active_players_only` is on, is withheld as `wallet_adjust` withholds credits: nothing
    is awarded, a `WithheldCredit` row with the badge records it once per key, `withheld` is set. Staff (`manual`)
    and the operator's API (`api`) award whatever the status (the admin's form warns).
    """
    _validate(source=source, key=key, reason=reason, stage=stage)
    if badge.label_id != player.label_id:
        raise NotFound("No such badge.")
    with transaction.atomic():
        # One award at a time per player and badge, so "the next stage" is computed on what is committed.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"badge:{player.pk}:{badge.pk}"])
        existing = BadgeAward.objects.filter(label_id=player.label_id, key=key).first()
        if existing is not None:
            return _replay(existing, player, badge, stage)
        if not badge.is_active:
            raise BadgeInactive("The badge is not active: it is no longer awarded.")
        if player.ach_gamification_in_control_group:
            raise ControlGroup("The player is in the gamification control group: they earn no badges.")
        if source in AUTOMATED_SOURCES and earning_withheld_because(player):
            return _withhold(player, badge, source=source, key=key, reason=reason)
        stage = _stage_pick(player, badge, stage)
        award = BadgeAward.objects.create(
            label_id=player.label_id,
            player=player,
            badge=badge,
            stage=stage,
            source=source,
            key=key,
            reason=reason,
            created_by=created_by,
        )
        payload = {"badge_id": badge.pk, "badge_name": badge.name[:255], "stage": stage}
        stage_name = BadgeStage.objects.filter(badge_id=badge.pk, number=stage).values_list("name", flat=True).first()
        if stage_name:
            payload["stage_name"] = stage_name
        fact_emit(player=player, type=BADGE_EARNED, key=f"badge_award:{award.pk}", payload=payload)
    return AwardResult(award=award, created=True)


def _withhold(player: Player, badge: Badge, *, source: str, key: str, reason: str) -> AwardResult:
    """Record the award as withheld (once per key) and award nothing."""
    credits_withheld_record(
        credits=[Withheld(player, "", 0, source, key, reason or f"Badge: {badge.name}", badge=badge)]
    )
    withheld = WithheldCredit.objects.filter(label_id=player.label_id, key=key).first()
    return AwardResult(award=None, created=False, withheld=withheld)


def _validate(*, source: str, key: str, reason: str, stage: int | None) -> None:
    errors: dict[str, list[str]] = {}
    if source not in SOURCES:
        errors["source"] = [f"One of: {', '.join(SOURCES)}."]
    if not key or len(key) > MAX_KEY_LENGTH:
        errors["idempotency_key"] = [f"Required, at most {MAX_KEY_LENGTH} characters."]
    if len(reason) > MAX_REASON_LENGTH:
        errors["reason"] = [f"At most {MAX_REASON_LENGTH} characters."]
    if stage is not None and (isinstance(stage, bool) or not isinstance(stage, int) or stage < 1):
        errors["stage"] = ["A stage number, 1 or more."]
    if errors:
        raise DomainValidationError(errors)


def _stage_pick(player: Player, badge: Badge, stage: int | None) -> int:
    earned = set(BadgeAward.objects.filter(player_id=player.pk, badge_id=badge.pk).values_list("stage", flat=True))
    last = badge_stage_count(badge=badge)
    if stage is None:
        stage = max(earned, default=0) + 1
        if stage > last:
            raise MaxStage("The player already holds the badge's last stage.")
        return stage
    if stage > last:
        raise MaxStage(f"The badge has {last} stage(s).", errors={"stage": [f"At most {last}."]})
    if stage in earned:
        raise AlreadyAwarded(f"The player already holds stage {stage} of this badge.")
    return stage


def _replay(award: BadgeAward, player: Player, badge: Badge, stage: int | None) -> AwardResult:
    if (award.player_id, award.badge_id) != (player.pk, badge.pk) or stage not in (None, award.stage):
        raise IdempotencyConflict("This idempotency key was already used for a different award.")
    return AwardResult(award=award, created=False)
