"""Finalization: places, prizes and result facts of an ended instance, exactly once.

One transaction does it all and moves the instance to finished; it starts by taking the instance's advisory lock
(which scoring batches hold shared, so it waits for those in flight) and then the row lock, and it does nothing
unless the row is still `finalizing`. A second run (another beat, a retry, a concurrent call) waits or skips and
then finds it finished; a worker killed mid-way rolls everything back and the next beat does it again. Every prize
also has its own unique wallet key, so even a replay of the awards could not pay twice.
"""

from __future__ import annotations

import structlog
from django.db import connection, transaction
from django.utils import timezone

from backoffice.errors import Refused
from gamification.facts import TOURNAMENT_LOST, TOURNAMENT_WON, Fact, facts_emit
from gamification.models import (
    InstanceStatus,
    ParticipantStatus,
    RegistrationType,
    TournamentInstance,
    TournamentParticipant,
    TournamentPrize,
    WalletSource,
)
from gamification.services.badges import badge_award
from gamification.services.leaderboard import places_assign
from gamification.services.tournament_eligibility import participants_sync
from gamification.services.wallet import ControlGroup, wallet_adjust

log = structlog.get_logger(__name__)
FACTS_CHUNK = 1000
PRIZE_CURRENCIES = ("points", "gems", "diamonds")


def instance_lock_key(instance_id: int) -> str:
    """The advisory lock shared by scoring batches of the instance and taken alone by its finalization."""
    return f"tournament-instance:{instance_id}"


def tournament_finalize(*, instance_id: int, wait: bool = True) -> str | None:
    """Finalize the instance if it is `finalizing`; return its status after, or None when `wait` is False and
    another finalization holds it."""
    with transaction.atomic(), connection.cursor() as cursor:
        function = "pg_advisory_xact_lock" if wait else "pg_try_advisory_xact_lock"
        cursor.execute(f"SELECT {function}(hashtextextended(%s, 0))", [instance_lock_key(instance_id)])
        if not wait and cursor.fetchone()[0] is False:
            return None
        lock = "FOR UPDATE" if wait else "FOR UPDATE SKIP LOCKED"
        cursor.execute(f"SELECT status FROM gamification_tournamentinstance WHERE id = %s {lock}", [instance_id])  # noqa: S608
        row = cursor.fetchone()
        if row is None:
            return None
        if row[0] != InstanceStatus.FINALIZING:
            return row[0]
        participants_sync(instance_ids=[instance_id])  # places and prizes only for players ACTIVE now
        instance = TournamentInstance.objects.select_related("tournament").get(pk=instance_id)
        tournament = instance.tournament
        if (
            tournament.registration_type == RegistrationType.AUTO
            and instance.participant_count < tournament.min_players
        ):
            _fail_short(instance)
            return InstanceStatus.FAILED
        placed = places_assign(instance_id=instance_id)
        winners = _prizes_award(instance)
        _results_emit(instance, winners)
        TournamentInstance.objects.filter(pk=instance_id).update(
            status=InstanceStatus.FINISHED, finalized_at=timezone.now(), updated_at=timezone.now()
        )
    log.info("tournament_finalized", instance_id=instance_id, participants=placed, winners=len(winners))
    return InstanceStatus.FINISHED


def _fail_short(instance: TournamentInstance) -> None:
    from gamification.services.tournaments import instance_fail

    instance_fail(
        instance_id=instance.pk,
        reason=f"{instance.participant_count} players, the minimum is {instance.tournament.min_players}.",
        sources=[InstanceStatus.FINALIZING],
    )


def _prizes_award(instance: TournamentInstance) -> set[int]:
    """Pay every prize range; return the ids of the players who won something."""
    winners: set[int] = set()
    for prize in TournamentPrize.objects.filter(tournament_id=instance.tournament_id).select_related("badge"):
        placed = (
            TournamentParticipant.objects.filter(
                instance_id=instance.pk,
                status=ParticipantStatus.REGISTERED,
                place__gte=prize.place_from,
                place__lte=prize.place_to,
            )
            .select_related("player__brand")
            .order_by("place")
        )
        for participant in placed:
            player = participant.player
            try:
                _prize_pay(instance, prize, player)
            except ControlGroup:  # moved into the control group after registering: they earn nothing
                log.info("tournament_prize_skipped", instance_id=instance.pk, player_id=player.pk)
                continue
            if prize.badge_id:
                _badge_give(instance, prize, participant)
            winners.add(player.pk)
    return winners


def _badge_give(instance: TournamentInstance, prize: TournamentPrize, participant: TournamentParticipant) -> None:
    badge = prize.badge
    if badge is None:
        return
    try:
        badge_award(
            player=participant.player,
            badge=badge,
            source="tournament",
            key=f"tournament:{instance.pk}:{participant.player_id}:prize:badge",
            reason=f"Tournament {instance.tournament.name}: place {participant.place}"[:255],
        )
    except Refused as exc:  # inactive badge, last stage already earned...: the other prizes still stand
        log.info("tournament_badge_skipped", instance_id=instance.pk, player_id=participant.player_id, code=exc.code)


def _prize_pay(instance: TournamentInstance, prize: TournamentPrize, player) -> None:
    for currency in PRIZE_CURRENCIES:
        amount = getattr(prize, currency)
        if amount:
            wallet_adjust(
                player=player,
                currency=currency,
                amount=amount,
                source=WalletSource.TOURNAMENT,
                key=f"tournament:{instance.pk}:{player.pk}:prize:{currency}",
                reason=f"Tournament prize: {instance.tournament.name}"[:500],
            )


def _results_emit(instance: TournamentInstance, winners: set[int]) -> None:
    """`tournament_won` for prize winners, `tournament_lost` for everyone else placed, in chunks."""
    tournament = instance.tournament
    placed = (
        TournamentParticipant.objects.filter(
            instance_id=instance.pk, status=ParticipantStatus.REGISTERED, place__isnull=False
        )
        .select_related("player__brand")
        .order_by("place")
    )
    chunk: list[Fact] = []
    for participant in placed.iterator(chunk_size=FACTS_CHUNK):
        payload = {
            "tournament_id": tournament.pk,
            "instance_id": instance.pk,
            "tournament_name": tournament.name,
            "place": participant.place,
            "score": float(participant.score),
        }
        kind = TOURNAMENT_WON if participant.player_id in winners else TOURNAMENT_LOST
        chunk.append(
            Fact(participant.player, kind, f"tournament:{instance.pk}:{participant.player_id}:result", payload)
        )
        if len(chunk) >= FACTS_CHUNK:
            facts_emit(label_id=instance.label_id, facts=chunk)
            chunk = []
    facts_emit(label_id=instance.label_id, facts=chunk)
