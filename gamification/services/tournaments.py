"""Tournament templates and the instance lifecycle: every status change is one guarded UPDATE.

`UPDATE … SET status = new WHERE id = … AND status = old` applies a transition once: a second beat, a staff click
racing the beat, or a retried task finds the row moved on and changes nothing. Registrations lock the instance row
(FOR NO KEY UPDATE) before they check its status, so a cancel or a failure that commits first is always seen, and
the refunds of a cancel or failure cover every buy-in committed before it.
"""

from __future__ import annotations

import datetime as dt
import math

import structlog
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from backoffice.db import TRANSIENT_DB_ERRORS
from backoffice.errors import DomainValidationError, Refused
from gamification.models import (
    InstanceStatus,
    ParticipantStatus,
    RegistrationType,
    Schedule,
    Tournament,
    TournamentInstance,
    TournamentParticipant,
    TournamentStatus,
    WalletSource,
)
from gamification.models.tournaments import tournament_field_errors
from gamification.services.leaderboard import participant_leave
from gamification.services.wallet import wallet_adjust

log = structlog.get_logger(__name__)

AHEAD = 3  # upcoming (not yet ended) instances per repeating template
TEMPLATE_TRANSITIONS = {
    TournamentStatus.DRAFT: TournamentStatus.ACTIVE,
    TournamentStatus.ACTIVE: TournamentStatus.ARCHIVED,
}
BEFORE_START = (InstanceStatus.PUBLISHED, InstanceStatus.REGISTRATION)
CANCELLABLE = (InstanceStatus.PUBLISHED, InstanceStatus.REGISTRATION, InstanceStatus.STARTED, InstanceStatus.FINALIZING)
MAX_REASON = 255


class InvalidTransition(Refused):
    default_code = "invalid_transition"


# --- templates -------------------------------------------------------------------------------------------------------
def tournament_validate(*, tournament: Tournament) -> None:
    """Raise DomainValidationError naming every field that keeps the template from running."""
    errors = tournament_field_errors(tournament)
    if not tournament.event_type:
        errors["event_type"] = ["Required: the event type that scores."]
    prize_errors = _prize_errors(tournament)
    if prize_errors:
        errors["prizes"] = prize_errors
    if errors:
        raise DomainValidationError(errors)


def _prize_errors(tournament: Tournament) -> list[str]:
    errors, previous = [], None
    for prize in tournament.prizes.order_by("place_from", "place_to"):
        if prize.place_to < prize.place_from:
            errors.append(f"Places {prize.place_from} to {prize.place_to}: the range is reversed.")
        elif previous is not None and prize.place_from <= previous.place_to:
            errors.append(
                f"Places {prize.place_from} to {prize.place_to} overlap places "
                f"{previous.place_from} to {previous.place_to}."
            )
        if not (prize.points or prize.gems or prize.diamonds or prize.badge_id or prize.description):
            errors.append(f"Places {prize.place_from} to {prize.place_to}: the prize is empty.")
        previous = prize
    return errors


def tournament_transition(*, tournament: Tournament, to: str) -> Tournament:
    """Move the template one way (draft → active → archived); activation first checks it is complete."""
    source = next((old for old, new in TEMPLATE_TRANSITIONS.items() if new == to), None)
    if source is None or tournament.status != source:
        raise InvalidTransition(f"A {tournament.status} tournament cannot become {to}.")
    if to == TournamentStatus.ACTIVE:
        tournament_validate(tournament=tournament)
    moved = Tournament.objects.filter(pk=tournament.pk, status=source).update(status=to, updated_at=timezone.now())
    if not moved:
        raise InvalidTransition(f"The tournament is no longer {source}.")
    tournament.status = to
    return tournament


# --- instances by time -----------------------------------------------------------------------------------------------
def tournament_starts(tournament: Tournament, now: dt.datetime) -> list[dt.datetime]:
    """The starts of the instances that should exist now: not yet ended, published, at most AHEAD of them."""
    t = tournament
    publish_before = t.publish_before or dt.timedelta(0)
    if t.schedule == Schedule.ONE_TIME or not t.repeat_every:
        candidates = [t.starts_at]
    else:
        # The first occurrence not yet ended, then the next few.
        behind = (now - t.duration - t.starts_at) / t.repeat_every
        first = max(0, math.floor(behind) + 1) if behind >= 0 else 0
        candidates = [t.starts_at + k * t.repeat_every for k in range(first, first + AHEAD)]
        if t.repeat_until:
            candidates = [start for start in candidates if start <= t.repeat_until]
    return [s for s in candidates if s + t.duration > now and (t.publish_before is None or s - publish_before <= now)]


def instances_publish(*, now: dt.datetime) -> int:
    """Create the instances of active templates that are due; the unique (tournament, starts_at) makes it idempotent.

    A slot counts as taken by an instance that starts or ends at its times: "start now" moves an instance's start
    but not its end, and must not make the schedule publish that slot again.
    """
    due = {
        (tournament.pk, start): tournament
        for tournament in Tournament.objects.filter(status=TournamentStatus.ACTIVE)
        for start in tournament_starts(tournament, now)
    }
    if not due:
        return 0
    taken = set()
    for pk, starts_at, ends_at in TournamentInstance.objects.filter(
        Q(starts_at__in={start for _, start in due})
        | Q(ends_at__in={start + t.duration for (_, start), t in due.items()}),
        tournament_id__in={pk for pk, _ in due},
    ).values_list("tournament_id", "starts_at", "ends_at"):
        taken |= {("start", pk, starts_at), ("end", pk, ends_at)}
    rows = [
        _instance_new(tournament, start, now)
        for (pk, start), tournament in due.items()
        if ("start", pk, start) not in taken and ("end", pk, start + tournament.duration) not in taken
    ]
    TournamentInstance.objects.bulk_create(rows, ignore_conflicts=True)  # a concurrent beat may have made some
    return len(rows)


def _instance_new(tournament: Tournament, start: dt.datetime, now: dt.datetime) -> TournamentInstance:
    opens = start - tournament.registration_opens_before if tournament.registration_opens_before else now
    return TournamentInstance(
        label_id=tournament.label_id,
        tournament=tournament,
        starts_at=start,
        ends_at=start + tournament.duration,
        registration_opens_at=min(opens, start),
    )


_OPEN = """
UPDATE gamification_tournamentinstance SET status = 'registration', updated_at = now()
WHERE status = 'published' AND registration_opens_at <= %s RETURNING id
"""
_START = """
UPDATE gamification_tournamentinstance AS i SET status = 'started', updated_at = now()
FROM gamification_tournament AS t
WHERE t.id = i.tournament_id AND i.status IN ('published', 'registration') AND i.starts_at <= %s
  AND (t.registration_type = 'auto' OR i.participant_count >= t.min_players)
RETURNING i.id
"""
_END = """
UPDATE gamification_tournamentinstance SET status = 'finalizing', updated_at = now()
WHERE status = 'started' AND ends_at <= %s RETURNING id
"""


def _update_ids(sql: str, now: dt.datetime) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(sql, [now])
        return [row[0] for row in cursor.fetchall()]


def instances_advance(*, now: dt.datetime) -> dict[str, int]:
    """Move every instance whose time has come: publish, open registration, start (or fail), end, finalize."""
    from gamification.services.tournament_eligibility import participants_sync
    from gamification.services.tournament_finalize import tournament_finalize
    from gamification.services.tournament_registration import entries_announce

    published = instances_publish(now=now)
    boards = participants_sync()  # off the board while not ACTIVE, back once ACTIVE (before the end's places)
    announced = entries_announce()  # before results: registered facts come first
    opened = _update_ids(_OPEN, now)
    started = _update_ids(_START, now)
    # Still before the start after _START: fewer registered than the minimum.
    short = TournamentInstance.objects.filter(status__in=BEFORE_START, starts_at__lte=now).values_list("pk", flat=True)
    failed = _each(short, lambda pk: instance_fail(instance_id=pk, reason="Fewer players than the minimum."))
    ended = _update_ids(_END, now)
    finalizing = TournamentInstance.objects.filter(status=InstanceStatus.FINALIZING).values_list("pk", flat=True)
    done = (InstanceStatus.FINISHED, InstanceStatus.FAILED)
    finalized = _each(finalizing, lambda pk: tournament_finalize(instance_id=pk, wait=False) in done)
    counts = {"published": published, "opened": len(opened), "started": len(started), "failed": failed}
    counts |= {"ended": len(ended), "finalized": finalized, "announced": announced, **boards}
    if any(counts.values()):
        log.info("tournaments_advanced", **counts)
    return counts


def _each(instance_ids, step) -> int:
    """Run `step` per instance; one that fails (a bug, bad data) is logged and retried next beat, the others go on."""
    done = 0
    for pk in list(instance_ids):
        try:
            done += bool(step(pk))
        except TRANSIENT_DB_ERRORS:
            raise
        except Exception as exc:
            log.exception("tournament_step_failed", instance_id=pk, error=type(exc).__name__)
    return done


# --- transitions by hand or by rule ----------------------------------------------------------------------------------
def _move(instance_id: int, sources, to: str, **fields) -> bool:
    fields |= {"status": to, "updated_at": timezone.now()}
    return bool(TournamentInstance.objects.filter(pk=instance_id, status__in=list(sources)).update(**fields))


def instance_open_registration(*, instance: TournamentInstance) -> None:
    """Open registration now (published → registration)."""
    if not _move(
        instance.pk, [InstanceStatus.PUBLISHED], InstanceStatus.REGISTRATION, registration_opens_at=timezone.now()
    ):
        raise InvalidTransition("Only a published instance can open its registration.")


def instance_start(*, instance: TournamentInstance) -> None:
    """Start now (published / registration → started), moving the start time; the minimum players still applies."""
    tournament = instance.tournament
    with transaction.atomic():
        locked = TournamentInstance.objects.select_for_update(no_key=True).get(pk=instance.pk)
        if locked.status not in BEFORE_START:
            raise InvalidTransition(f"A {locked.status} instance cannot start.")
        if tournament.registration_type != RegistrationType.AUTO and locked.participant_count < tournament.min_players:
            raise Refused(
                f"{locked.participant_count} registered, the minimum is {tournament.min_players}.",
                code="too_few_players",
            )
        now = timezone.now()
        starts_at = min(locked.starts_at, now)
        _move(
            instance.pk,
            BEFORE_START,
            InstanceStatus.STARTED,
            starts_at=starts_at,
            registration_opens_at=min(locked.registration_opens_at, starts_at),
        )


def instance_cancel(*, instance: TournamentInstance, reason: str) -> int:
    """Cancel before it finished, refunding every buy-in; return how many were refunded."""
    reason = (reason or "").strip()
    if not reason or len(reason) > MAX_REASON:
        raise DomainValidationError({"reason": [f"Required, at most {MAX_REASON} characters."]})
    with transaction.atomic():
        if not _move(instance.pk, CANCELLABLE, InstanceStatus.CANCELLED, status_reason=reason):
            raise InvalidTransition("Only an instance that has not finished can be cancelled.")
        return buy_ins_refund(instance_id=instance.pk)


def instance_fail(*, instance_id: int, reason: str, sources=BEFORE_START) -> bool:
    """Fail the instance (too few players) and refund its buy-ins; False when it had moved on already."""
    with transaction.atomic():
        if not _move(instance_id, sources, InstanceStatus.FAILED, status_reason=reason[:MAX_REASON]):
            return False
        buy_ins_refund(instance_id=instance_id)
    return True


def buy_ins_refund(*, instance_id: int) -> int:
    """Credit every buy-in of the instance back once (its key is unique) and mark the participant refunded."""
    participants = (
        TournamentParticipant.objects.filter(instance_id=instance_id, buy_in_entry__isnull=False)
        .exclude(status=ParticipantStatus.REFUNDED)
        .select_related("buy_in_entry", "player__brand")
        .order_by("pk")
    )
    refunded = 0
    for participant in participants.iterator(chunk_size=500):
        entry, player = participant.buy_in_entry, participant.player
        wallet_adjust(
            player=player,
            currency=entry.currency,
            amount=-entry.amount,
            source=WalletSource.TOURNAMENT,
            key=f"tournament:{instance_id}:{player.pk}:refund",
            reason=f"Tournament refund: instance {instance_id}",
            refund=True,
        )
        participant_leave(instance_id=instance_id, player_id=player.pk, status=ParticipantStatus.REFUNDED)
        refunded += 1
    return refunded
