"""Staff credits under four eyes: a manual credit within the staff member's caps is applied at once; above them it
becomes a request that another staff member with the approving right approves (applied exactly once) or rejects.

Caps are per label, role and currency (`CreditLimit`, else `DEFAULT_CREDIT_LIMITS`): per adjustment, and per day for
the total of the staff member's own credits applied at once that day (the label's time zone; approved requests do
not count, a second person has seen them). Debits are never capped. The operator's API adjustments with its API key
are their platform's business and are not capped; a staff member calling the API with their admin session is held
to the same caps (`wallet_adjust_by_staff`: above them 422 `approval_required`, ask in the admin).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass

import structlog
from django.db import connection, transaction
from django.db.models import Sum
from django.utils import timezone

from backoffice.errors import DomainValidationError, NotFound, Refused
from backoffice.models import Label, Perm
from backoffice.scoping import actor_for_user
from crm.models import Player
from gamification.models import (
    DEFAULT_CREDIT_LIMITS,
    CreditLimit,
    CreditRequest,
    CreditRequestStatus,
    WalletEntry,
    WalletSource,
)
from gamification.services.wallet import (
    MAX_REASON_LENGTH,
    AdjustResult,
    ControlGroup,
    adjustment_validate,
    wallet_adjust,
)

log = structlog.get_logger(__name__)

MANUAL_KEY_PREFIX = "manual:"
REQUEST_KEY_PREFIX = "credit:"


class NotAllowed(Refused):
    default_code = "not_allowed"


class ApprovalRequired(Refused):
    default_code = "approval_required"


@dataclass(frozen=True)
class Caps:
    role: str
    currency: str
    per_adjustment: int
    per_day: int
    used_today: int
    configured: bool  # False: the defaults

    @property
    def left_today(self) -> int:
        return max(self.per_day - self.used_today, 0)

    def exceeded_by(self, amount: int) -> str | None:
        """Why `amount` needs approval, or None when it may be applied at once."""
        if amount > self.per_adjustment:
            return f"Above the {self.role} cap of {self.per_adjustment:,} {self.currency} per adjustment."
        if amount > self.left_today:
            return (
                f"Above the {self.role} cap of {self.per_day:,} {self.currency} a day "
                f"({self.used_today:,} already credited today)."
            )
        return None


@dataclass(frozen=True)
class SubmitResult:
    adjusted: AdjustResult | None  # applied at once
    request: CreditRequest | None  # waiting for approval
    created: bool  # False: this form was already submitted, nothing changed


@dataclass(frozen=True)
class DecideResult:
    request: CreditRequest
    decided: bool  # False: someone had already decided it (a double click, two approvers at once)


def staff_role(*, user, label_id: int) -> str | None:
    """The user's role in the label (a superuser's is admin); None when they hold none."""
    return actor_for_user(user).role_in(label_id)


def credit_caps(*, label_id: int, role: str, currency: str, user_id: int | None) -> Caps:
    """The caps of `role` in `currency` in the label and what `user_id` already credited today at once."""
    limit = CreditLimit.objects.filter(label_id=label_id, role=role, currency=currency).first()
    per_adjustment, per_day = (
        (limit.per_adjustment, limit.per_day) if limit else DEFAULT_CREDIT_LIMITS.get(role, {}).get(currency, (0, 0))
    )
    used = _used_today(label_id=label_id, user_id=user_id, currency=currency) if user_id else 0
    return Caps(role, currency, per_adjustment, per_day, used, configured=limit is not None)


def _day_start(label_id: int) -> dt.datetime:
    zone = Label.objects.filter(pk=label_id).values_list("time_zone", flat=True).first() or "UTC"
    now = timezone.now().astimezone(zoneinfo.ZoneInfo(zone))
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def _used_today(*, label_id: int, user_id: int, currency: str) -> int:
    """The staff member's credits applied at once today, in the admin or the API (through the partial index on
    entries made by staff); approved requests are left out."""
    total = (
        WalletEntry.objects.filter(
            created_by_id=user_id,
            created_at__gte=_day_start(label_id),
            label_id=label_id,
            currency=currency,
            amount__gt=0,
            source__in=(WalletSource.MANUAL, WalletSource.API),
        )
        .exclude(key__startswith=REQUEST_KEY_PREFIX)
        .aggregate(total=Sum("amount"))["total"]
    )
    return total or 0


def _role_of(staff, player: Player) -> str:
    role = staff_role(user=staff, label_id=player.label_id)
    if role is None:
        raise NotAllowed("You hold no role in this player's label.")
    return role


def _over_cap(player: Player, staff, role: str, currency: str, amount: int) -> str | None:
    """Under the staff member's lock for the currency (inside the caller's transaction): why `amount` needs
    approval, or None. The lock makes two credits submitted at once see each other."""
    _lock(f"credit-cap:{player.label_id}:{staff.pk}:{currency}")
    return credit_caps(label_id=player.label_id, role=role, currency=currency, user_id=staff.pk).exceeded_by(amount)


def wallet_adjust_by_staff(
    *, player: Player, currency: str, amount: int, source: str, key: str, reason: str, staff
) -> AdjustResult:
    """`wallet_adjust` for a staff member outside the admin's form (the API with an admin session): a credit above
    their caps is refused with 422 `approval_required` and changes nothing; a replayed key replays."""
    if amount <= 0:
        return wallet_adjust(player=player, currency=currency, amount=amount, source=source, key=key, reason=reason,
                             created_by=staff)  # fmt: skip
    role = _role_of(staff, player)
    with transaction.atomic():
        exceeded = None
        if not WalletEntry.objects.filter(label_id=player.label_id, key=key).exists():
            exceeded = _over_cap(player, staff, role, currency, amount)
        if exceeded is not None:
            raise ApprovalRequired(
                f"{exceeded} Ask for it in the admin (the player's Adjust balance): another staff member approves it."
            )
        return wallet_adjust(player=player, currency=currency, amount=amount, source=source, key=key, reason=reason,
                             created_by=staff)  # fmt: skip


def manual_adjust(*, player: Player, currency: str, amount: int, reason: str, key: str, staff) -> SubmitResult:
    """A staff member's adjustment: a debit, or a credit within their caps, is applied now; a credit above a cap
    becomes a pending `CreditRequest`. `key` (the form's) makes a resubmission change nothing.

    The caps check and the credit run under a per-(label, staff member, currency) lock, so two credits submitted at
    once cannot both fit in what is left of the day.
    """
    adjustment_validate(
        currency=currency, amount=amount, source=WalletSource.MANUAL, key=MANUAL_KEY_PREFIX + key, reason=reason
    )
    if not reason.strip():
        raise DomainValidationError({"reason": ["Required: it is kept in the ledger and the history."]})
    if amount < 0:
        return SubmitResult(_adjust(player, currency, amount, reason, key, staff), None, created=True)
    role = _role_of(staff, player)
    if player.ach_gamification_in_control_group:
        raise ControlGroup("The player is in the gamification control group: they earn nothing.")
    with transaction.atomic():
        _lock(f"credit-cap:{player.label_id}:{staff.pk}:{currency}")
        pending = CreditRequest.objects.filter(label_id=player.label_id, key=REQUEST_KEY_PREFIX + key).first()
        if pending is not None:
            return SubmitResult(None, pending, created=False)
        if WalletEntry.objects.filter(label_id=player.label_id, key=MANUAL_KEY_PREFIX + key).exists():
            return SubmitResult(_adjust(player, currency, amount, reason, key, staff), None, created=False)
        exceeded = _over_cap(player, staff, role, currency, amount)
        if exceeded is None:
            adjusted = _adjust(player, currency, amount, reason, key, staff)
            return SubmitResult(adjusted, None, created=adjusted.created)
        request = CreditRequest.objects.create(
            label_id=player.label_id,
            player=player,
            currency=currency,
            amount=amount,
            reason=reason,
            key=REQUEST_KEY_PREFIX + key,
            exceeded=exceeded[:255],
            requested_by=staff,
        )
    log.info("credit_requested", request_id=request.pk, label_id=player.label_id, currency=currency, amount=amount)
    return SubmitResult(None, request, created=True)


def _adjust(player, currency, amount, reason, key, staff) -> AdjustResult:
    return wallet_adjust(
        player=player,
        currency=currency,
        amount=amount,
        source=WalletSource.MANUAL,
        key=MANUAL_KEY_PREFIX + key,
        reason=reason,
        created_by=staff,
    )


def _lock(name: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [name])


def credit_request_approve(*, request_id: int, label_id: int, approver) -> DecideResult:
    """Approve a pending request and apply its credit, exactly once: the conditional UPDATE that claims the request
    and the wallet entry (its key derived from the request) commit together. A request already decided is returned
    as it is (`decided` False). Refused for the requester and for staff without the approving right."""
    request = _decidable(request_id=request_id, label_id=label_id, decider=approver)
    with transaction.atomic():
        if not _claim(request.pk, CreditRequestStatus.APPROVED, approver, note=""):
            return DecideResult(CreditRequest.objects.get(pk=request.pk), decided=False)
        adjusted = wallet_adjust(
            player=request.player,
            currency=request.currency,
            amount=request.amount,
            source=WalletSource.MANUAL,
            key=f"{REQUEST_KEY_PREFIX}{request.pk}",
            reason=request.reason,
            created_by=request.requested_by,
        )
        entry_id = adjusted.entry.pk if adjusted.entry else None  # a manual credit is never withheld
        CreditRequest.objects.filter(pk=request.pk).update(entry_id=entry_id)
    log.info("credit_request_approved", request_id=request.pk, label_id=label_id, entry_id=entry_id)
    return DecideResult(CreditRequest.objects.get(pk=request.pk), decided=True)


def credit_request_reject(*, request_id: int, label_id: int, approver, note: str = "") -> DecideResult:
    """Reject a pending request: nothing is credited. Same rights and once-only rule as approving."""
    if len(note) > MAX_REASON_LENGTH:
        raise DomainValidationError({"note": [f"At most {MAX_REASON_LENGTH} characters."]})
    request = _decidable(request_id=request_id, label_id=label_id, decider=approver)
    if not _claim(request.pk, CreditRequestStatus.REJECTED, approver, note=note.strip()):
        return DecideResult(CreditRequest.objects.get(pk=request.pk), decided=False)
    log.info("credit_request_rejected", request_id=request.pk, label_id=label_id)
    return DecideResult(CreditRequest.objects.get(pk=request.pk), decided=True)


def _decidable(*, request_id: int, label_id: int, decider) -> CreditRequest:
    request = (
        CreditRequest.objects.for_label(label_id).filter(pk=request_id).select_related("player", "requested_by").first()
    )
    if request is None:
        raise NotFound("No credit request with this id.")
    if not actor_for_user(decider).can(Perm.CREDIT_APPROVE, label_id):
        raise NotAllowed("Approving credits takes the approving right in this label (admin or manager).")
    if request.requested_by_id == decider.pk:
        raise NotAllowed("A second staff member must decide: you asked for this credit.")
    return request


def _claim(request_id: int, status: str, decider, *, note: str) -> bool:
    """Move the request out of pending once; False when another decision got there first."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE gamification_creditrequest SET status = %s, decided_by_id = %s, decided_at = now(),"
            " decision_note = %s, updated_at = now()"
            " WHERE id = %s AND status = 'pending' AND requested_by_id IS DISTINCT FROM %s",
            [status, decider.pk, note, request_id, decider.pk],
        )
        return cursor.rowcount == 1
