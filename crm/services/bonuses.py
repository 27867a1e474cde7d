"""Bonuses: give one (idempotent per label and key, capped per player per 24 h, refused to accounts that are not
ACTIVE), re-send a failed one, record the operator's redeem callback, expire, and sync the template catalogue.

Giving only writes the row, with its idempotency key, and asks for delivery after commit; the call to the operator is
crm.services.bonus_delivery's (a worker claims the row). See docs/bonus-api.md.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import structlog
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from backoffice.errors import Conflict, DomainValidationError, NotFound, Refused
from backoffice.models import Label
from crm.models import (
    AccountStatus,
    Bonus,
    BonusSource,
    BonusStatus,
    BonusTemplate,
    BonusType,
    DeliveryState,
    Player,
    TemplateSource,
)
from crm.models.bonuses import MAX_KEY_LENGTH, new_idempotency_key
from integrations.bonus_api.client import CatalogueItem

log = structlog.get_logger(__name__)
CAP_WINDOW = dt.timedelta(hours=24)
MAX_REASON = 500
MAX_AMOUNT = Decimal("9999999999999999.99")


class BonusRefused(Refused):
    """A give that a rule refuses; the message says why, for staff and partners."""

    default_code = "bonus_refused"


class AccountNotActive(BonusRefused):
    default_code = "account_not_active"


class BonusCapReached(BonusRefused):
    default_code = "bonus_cap_reached"


class TemplateInactive(BonusRefused):
    default_code = "template_inactive"


class BonusKeyConflict(Conflict):
    default_code = "idempotency_conflict"


class NotResendable(Refused):
    default_code = "not_resendable"


class RedeemRefused(Conflict):
    default_code = "not_redeemable"


def retry_window() -> dt.timedelta:
    return dt.timedelta(seconds=settings.PITBOSS_BONUS_RETRY_WINDOW_SECONDS)


# --- give ------------------------------------------------------------------------------------------------------------
def bonus_give(
    *,
    player: Player,
    template: BonusTemplate,
    source: str,
    key: str,
    created_by: Any = None,
    reason: str = "",
    amount: Decimal | None = None,
) -> Bonus:
    """Give `template` to `player` once per (label, `key`); the operator is called after commit, by a worker.

    A key already used returns its bonus (`created` False) if it names the same player and template, else 409.
    Refusals (422, nothing written): `account_not_active` (the label gives nothing to accounts that are not ACTIVE),
    `template_inactive`, `bonus_cap_reached` (the label's successful bonuses per player per 24 h, counted with the
    ones still being issued; concurrent gives for one player are counted one at a time).
    """
    _validate(source=source, key=key, reason=reason, amount=amount)
    if template.label_id != player.label_id:
        raise NotFound("No such bonus template.")
    with transaction.atomic():
        _player_lock(player.pk)
        bonus_id = _claim(player, template, source, key, created_by, reason, amount)
        if bonus_id is None:
            return _replay(player, template, key)
        _refusals(player, template)
        transaction.on_commit(lambda: bonus_dispatch(bonus_id=bonus_id))
    bonus = Bonus.objects.select_related("template", "player__brand").get(pk=bonus_id)
    bonus.created = True
    log.info("bonus_given", bonus_id=bonus_id, label_id=player.label_id, template_id=template.pk, source=source)
    return bonus


def _validate(*, source: str, key: str, reason: str, amount: Decimal | None) -> None:
    errors: dict[str, list[str]] = {}
    if source not in BonusSource.values:
        errors["source"] = [f"One of {', '.join(BonusSource.values)}."]
    if not key or len(key) > MAX_KEY_LENGTH:
        errors["key"] = [f"Required, at most {MAX_KEY_LENGTH} characters."]
    if len(reason) > MAX_REASON:
        errors["reason"] = [f"At most {MAX_REASON} characters."]
    if amount is not None and not _amount_ok(amount):
        errors["amount"] = ["A positive amount with at most 2 decimals."]
    if errors:
        raise DomainValidationError(errors)


def _amount_ok(amount: Decimal) -> bool:
    if not isinstance(amount, Decimal) or not amount.is_finite() or not 0 < amount <= MAX_AMOUNT:
        return False
    return amount == amount.quantize(Decimal("0.01"))


def _player_lock(player_id: int) -> None:
    """One give (or re-send) per player at a time, until commit: the cap is counted after the previous one committed.
    A transaction-level advisory lock, not the player row, so profile updates of the pipeline are not held up."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"bonus:player:{player_id}"])


def _claim(player, template, source, key, created_by, reason, amount) -> int | None:
    """Insert the bonus unless (label, key) exists, with its idempotency key and the body the operator will get."""
    now = timezone.now()
    idempotency_key = new_idempotency_key()
    expires_at = now + dt.timedelta(days=template.expiry_days)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO crm_bonus (label_id, player_id, template_id, status, delivery_state, idempotency_key, source,"
            " key, amount, reason, attempts, next_attempt_at, deliver_until, last_error, request_body, response_body,"
            " operator_bonus_id, expires_at, created_by_id, created_at, updated_at)"
            " VALUES (%s, %s, %s, 'new', 'pending', %s, %s, %s, %s, %s, 0, %s, %s, '', '{}', '{}', '', %s, %s, %s, %s)"
            " ON CONFLICT (label_id, key) DO NOTHING RETURNING id",
            [player.label_id, player.pk, template.pk, idempotency_key, source, key, amount, reason, now,
             now + retry_window(), expires_at, getattr(created_by, "pk", None), now, now],
        )  # fmt: skip
        row = cursor.fetchone()
    if row is None:
        return None
    body = _request_body(row[0], idempotency_key, player, template, amount, expires_at)
    Bonus.objects.filter(pk=row[0]).update(request_body=body)
    return row[0]


def _request_body(bonus_id, idempotency_key, player, template, amount, expires_at) -> dict[str, Any]:
    """What the operator gets (docs/bonus-api.md): ids only, no personal data."""
    brand = player.brand
    chosen = amount if amount is not None else template.amount
    return {
        "idempotency_key": idempotency_key,
        "bonus_id": bonus_id,
        "bonus_code": template.operator_code,
        "ext_brand_id": brand.ext_brand_id,
        "user_ext_id": player.user_ext_id,
        "amount": None if chosen is None else str(chosen),
        "expires_at": expires_at.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
    }


def _replay(player: Player, template: BonusTemplate, key: str) -> Bonus:
    bonus = Bonus.objects.select_related("template", "player__brand").get(label_id=player.label_id, key=key)
    if (bonus.player_id, bonus.template_id) != (player.pk, template.pk):
        raise BonusKeyConflict("This key was already used to give another bonus (another player or template).")
    bonus.created = False
    return bonus


def _refusals(player: Player, template: BonusTemplate) -> None:
    """Refuse (rolling back the claim) a player who is not ACTIVE, an inactive template, or a give past the cap."""
    status, active_only, cap = _player_label(player.pk)
    if active_only and status != AccountStatus.ACTIVE:
        raise AccountNotActive(f"The player's account is {status}, not ACTIVE: the label gives them no bonuses.")
    if not BonusTemplate.objects.filter(pk=template.pk, is_active=True).exists():
        raise TemplateInactive("The bonus template is inactive.")
    if _given_in_window(player.pk) > cap:  # the count includes the bonus just claimed
        raise BonusCapReached(f"The player already has {cap} successful bonuses in the last 24 hours (the cap).")


def _player_label(player_id: int) -> tuple[str, bool, int]:
    """The account status as committed now (not as the caller's copy says) and the label's settings."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT p.core_account_status, l.active_players_only, l.bonus_daily_cap FROM crm_player p"
            " JOIN backoffice_label l ON l.id = p.label_id WHERE p.id = %s",
            [player_id],
        )
        row = cursor.fetchone()
    if row is None:
        raise NotFound("No such player.")
    return row[0], row[1], row[2]


def _given_in_window(player_id: int) -> int:
    """Bonuses of the last 24 h that succeeded or may still succeed (all but issue failed)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM crm_bonus WHERE player_id = %s AND created_at > %s AND status <> 'issue_failed'",
            [player_id, timezone.now() - CAP_WINDOW],
        )
        return cursor.fetchone()[0]


def bonus_dispatch(*, bonus_id: int, countdown: float | None = None) -> bool:
    """Ask a worker to deliver the bonus; a broker that is down is logged, never raised (the sweeper sends it)."""
    from crm.tasks_bonuses import bonus_deliver_task

    try:
        bonus_deliver_task.apply_async(
            (bonus_id,), countdown=countdown, queue=settings.PITBOSS_BONUS_QUEUE, retry=False
        )
    except Exception as exc:  # kombu raises many kinds; the sweeper re-dispatches what is due
        log.warning("bonus_dispatch_failed", bonus_id=bonus_id, error=type(exc).__name__)
        return False
    return True


# --- re-send ---------------------------------------------------------------------------------------------------------
def bonus_resend(*, bonus: Bonus, staff: Any = None) -> Bonus:
    """Try an issue-failed bonus again under the SAME idempotency key: the worker first looks it up at the operator
    (it may have been applied after all), then issues it with that key, so it can never be applied twice.
    The cap and the account status are checked again; 422 `not_resendable` for any other status, and for a bonus
    bought in the store (its failure paid the price back: the player buys the item again)."""
    if bonus.source == BonusSource.STORE:
        raise NotResendable("A bonus bought in the store is paid back when its issue fails: the player buys it again.")
    with transaction.atomic():
        _player_lock(bonus.player_id)
        changed = Bonus.objects.filter(pk=bonus.pk, status=BonusStatus.ISSUE_FAILED).update(
            status=BonusStatus.NEW,
            delivery_state=DeliveryState.UNKNOWN,
            next_attempt_at=timezone.now(),
            deliver_until=timezone.now() + retry_window(),
            last_error="",
            updated_at=timezone.now(),
        )
        if not changed:
            raise NotResendable("Only a bonus whose issue failed can be re-sent.")
        _refusals(bonus.player, bonus.template)
        transaction.on_commit(lambda: bonus_dispatch(bonus_id=bonus.pk))
    log.info("bonus_resent", bonus_id=bonus.pk, staff_id=getattr(staff, "pk", None))
    bonus.refresh_from_db()
    return bonus


# --- the operator's redeem callback ----------------------------------------------------------------------------------
REDEEM_STATUSES = (BonusStatus.REDEEMED, BonusStatus.REDEEM_FAILED)


@dataclass(frozen=True)
class RedeemResult:
    bonus: Bonus
    changed: bool


def bonus_redeem_record(
    *, label_id: int, idempotency_key: str, status: str, error: str = "", operator_bonus_id: str = ""
) -> RedeemResult:
    """The operator says the bonus was redeemed (or its redemption failed). issued → redeemed | redeem failed;
    redeem failed → redeemed; the same status again changes nothing. A bonus still new (its issue call timed out)
    was evidently applied: it becomes issued and redeemed at once. Expired or issue-failed: 409 `not_redeemable`."""
    if status not in REDEEM_STATUSES:
        raise DomainValidationError({"status": ["One of redeemed, redeem_failed."]})
    with transaction.atomic():
        bonus = Bonus.objects.select_for_update().filter(label_id=label_id, idempotency_key=idempotency_key).first()
        if bonus is None:
            raise NotFound("No bonus with this idempotency key.")
        if bonus.status == status:
            return RedeemResult(bonus=bonus, changed=False)
        allowed = {BonusStatus.NEW, BonusStatus.ISSUED, BonusStatus.REDEEM_FAILED}
        if bonus.status not in allowed or (bonus.status == BonusStatus.REDEEM_FAILED and status != "redeemed"):
            raise RedeemRefused(f"The bonus is {bonus.get_status_display().lower()}: it cannot become {status}.")
        now = timezone.now()
        bonus.status = status
        bonus.delivery_state = DeliveryState.DONE
        bonus.issued_at = bonus.issued_at or now
        bonus.redeemed_at = now if status == BonusStatus.REDEEMED else None
        bonus.last_error = error[:2000] if status == BonusStatus.REDEEM_FAILED else bonus.last_error
        bonus.operator_bonus_id = bonus.operator_bonus_id or operator_bonus_id[:128]
        fields = ["status", "delivery_state", "issued_at", "redeemed_at", "last_error", "operator_bonus_id"]
        bonus.save(update_fields=[*fields, "updated_at"])
    log.info("bonus_redeem_recorded", bonus_id=bonus.pk, status=status)
    return RedeemResult(bonus=bonus, changed=True)


# --- expiry ----------------------------------------------------------------------------------------------------------
def bonuses_expire(*, now: dt.datetime | None = None) -> int:
    """Issued bonuses past their expiry become expired; how many."""
    now = now or timezone.now()
    done = Bonus.objects.filter(status=BonusStatus.ISSUED, expires_at__lte=now).update(
        status=BonusStatus.EXPIRED, updated_at=now
    )
    if done:
        log.info("bonuses_expired", count=done)
    return done


# --- template catalogue ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SyncResult:
    created: int
    updated: int
    deactivated: int


def bonus_templates_sync(*, label: Label) -> SyncResult:
    """Read the operator's catalogue and mirror it: new codes become synced templates, listed ones are updated
    (staff's public name, icon and active flag are kept once set), synced ones no longer listed are deactivated.
    Manual templates are never touched. Raises integrations.http errors (the caller reports them)."""
    from integrations.bonus_api.client import BonusApiClient
    from integrations.bonus_api.services import bonus_connection_get

    connection_row = bonus_connection_get(label_id=label.pk)
    if connection_row is None:
        raise NotFound("The label has no Bonus API connection.")
    try:
        items = BonusApiClient.for_connection(connection_row).catalogue()
    except Exception as exc:
        type(connection_row).objects.filter(pk=connection_row.pk).update(catalogue_error=str(exc)[:2000])
        raise
    result = bonus_templates_apply(label=label, items=items)
    type(connection_row).objects.filter(pk=connection_row.pk).update(
        catalogue_synced_at=timezone.now(), catalogue_error=""
    )
    log.info("bonus_templates_synced", label_id=label.pk, created=result.created, updated=result.updated)
    return result


def bonus_templates_apply(*, label: Label, items: list[CatalogueItem]) -> SyncResult:
    """Mirror a catalogue (as the operator's API lists it) into the label's templates; see bonus_templates_sync."""
    now = timezone.now()
    created = updated = 0
    with transaction.atomic():
        existing = {t.operator_code: t for t in BonusTemplate.objects.select_for_update().filter(label=label)}
        for item in items:
            template = existing.get(item.code)
            fields: dict[str, Any] = {
                "name": item.name,
                "type": _type(item.type),
                "amount": _amount(item.amount),
                "synced_at": now,
            }
            if item.expiry_days:
                fields["expiry_days"] = item.expiry_days
            if template is None:
                BonusTemplate.objects.create(
                    label=label,
                    operator_code=item.code,
                    source=TemplateSource.SYNCED,
                    public_name=item.public_name,
                    icon_url=item.icon_url,
                    **fields,
                )
                created += 1
                continue
            for name, value in fields.items():
                setattr(template, name, value)
            template.public_name = template.public_name or item.public_name
            template.icon_url = template.icon_url or item.icon_url
            template.source = TemplateSource.SYNCED
            template.save()
            updated += 1
        listed = {item.code for item in items}
        gone = [t.pk for code, t in existing.items() if t.source == TemplateSource.SYNCED and code not in listed]
        deactivated = BonusTemplate.objects.filter(pk__in=gone, is_active=True).update(is_active=False, updated_at=now)
    return SyncResult(created=created, updated=updated, deactivated=deactivated)


def _type(value: str) -> str:
    return value if value in BonusType.values else BonusType.CASH


def _amount(value: str | None) -> Decimal | None:
    if value is None:
        return None
    try:
        amount = Decimal(value).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        return None
    return amount if amount.is_finite() and 0 <= amount <= MAX_AMOUNT else None


def _catalogue_apply(label: Label, items: list[CatalogueItem]) -> SyncResult:
    """The earlier name of bonus_templates_apply, which the demo (branch h/sandbox) calls; to be dropped once it
    calls bonus_connection_sandbox_ensure(..., templates=True)."""
    return bonus_templates_apply(label=label, items=items)
