"""Registration in a tournament instance: opt-in, buy-in, manual approval (automatic players enter by playing).

Each registration locks the instance row (FOR NO KEY UPDATE) before it reads the status, so it is serialized with
the other registrations of the instance (they all update its participant count anyway) and with a cancel or a
failure: whichever commits first is seen by the other. The buy-in debit, the participant and the
`tournament_registered` fact commit together, or nothing does.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from backoffice.errors import NotFound, Refused
from crm.models import Player
from gamification.facts import TOURNAMENT_REGISTERED, Fact, facts_emit
from gamification.models import (
    InstanceStatus,
    ParticipantStatus,
    RegistrationType,
    TournamentInstance,
    TournamentParticipant,
    WalletSource,
)
from gamification.services.audience import audience_check
from gamification.services.leaderboard import (
    participant_admit,
    participant_leave,
    participants_enter,
    participants_restore,
)
from gamification.services.tournament_eligibility import eligibility_check
from gamification.services.wallet import ControlGroup, wallet_adjust

OPEN = (InstanceStatus.REGISTRATION, InstanceStatus.STARTED)  # late registration is allowed while it runs


class RegistrationClosed(Refused):
    default_code = "registration_closed"


class TournamentFull(Refused):
    default_code = "tournament_full"


class NotPending(Refused):
    default_code = "not_pending"


@dataclass(frozen=True)
class RegistrationResult:
    participant: TournamentParticipant
    created: bool  # False: the player was already in (nothing changed)

    @property
    def pending(self) -> bool:
        return self.participant.status == ParticipantStatus.PENDING


def registered_payload(instance: TournamentInstance) -> dict:
    tournament = instance.tournament
    return {
        "tournament_id": tournament.pk,
        "instance_id": instance.pk,
        "tournament_name": tournament.name,
        "registration_type": tournament.registration_type,
    }


def registered_fact(player: Player, instance_id: int, payload: dict) -> Fact:
    """The `tournament_registered` fact of a participant: once ever (its key is the participant's)."""
    return Fact(player, TOURNAMENT_REGISTERED, f"tournament:{instance_id}:{player.pk}:registered", payload)


def registered_facts(instance: TournamentInstance, players: list[Player]) -> list[Fact]:
    payload = registered_payload(instance)
    return [registered_fact(player, instance.pk, payload) for player in players]


def _lock(instance: TournamentInstance) -> str:
    return (
        TournamentInstance.objects.select_for_update(no_key=True).values_list("status", flat=True).get(pk=instance.pk)
    )


def tournament_register(*, player: Player, instance: TournamentInstance) -> RegistrationResult:
    """Register `player` (pending approval for a manual tournament); a repeat changes nothing.

    Refusals (422): `control_group`, `account_not_active` (not ACTIVE, the label's setting on), `not_in_audience` (not
    in the segment the tournament is limited to), `registration_closed`,
    `tournament_full`, `insufficient_balance` (buy-in). A player taken off the board while not ACTIVE who registers
    again once ACTIVE is put back with their score.
    """
    if instance.label_id != player.label_id:
        raise NotFound("No such tournament.")
    if player.ach_gamification_in_control_group:
        raise ControlGroup("The player is in the gamification control group: tournaments are closed to them.")
    eligibility_check(player=player)
    tournament = instance.tournament
    audience_check(player_id=player.pk, segment_id=tournament.audience_id, what="This tournament")
    with transaction.atomic():
        status = _lock(instance)
        existing = TournamentParticipant.objects.filter(instance_id=instance.pk, player_id=player.pk).first()
        if existing is not None and existing.status == ParticipantStatus.EXCLUDED and status in OPEN:
            participants_restore(instance_id=instance.pk, player_ids=[player.pk])
            existing.refresh_from_db()
        if existing is not None:
            return RegistrationResult(participant=existing, created=False)
        if status not in OPEN:
            raise RegistrationClosed(f"Registration is closed: the tournament is {status}.")
        manual = tournament.registration_type == RegistrationType.MANUAL
        entered = participants_enter(
            instance_id=instance.pk,
            label_id=instance.label_id,
            player_ids=[player.pk],
            status=ParticipantStatus.PENDING if manual else ParticipantStatus.REGISTERED,
            max_players=tournament.max_players,
            at=timezone.now(),
        )
        if not entered:
            raise TournamentFull(f"The tournament is full ({tournament.max_players} players).")
        if tournament.registration_type == RegistrationType.BUY_IN:
            _buy_in(player, instance)  # InsufficientBalance rolls the participant back
        if not manual:
            _announce(instance, player)
    participant = TournamentParticipant.objects.get(instance_id=instance.pk, player_id=player.pk)
    return RegistrationResult(participant=participant, created=True)


def _announce(instance: TournamentInstance, player: Player) -> None:
    """The registration's fact, in its transaction."""
    facts_emit(label_id=player.label_id, facts=registered_facts(instance, [player]))
    TournamentParticipant.objects.filter(instance_id=instance.pk, player_id=player.pk).update(announced=True)


def _buy_in(player: Player, instance: TournamentInstance) -> None:
    tournament = instance.tournament
    price = tournament.buy_in_amount
    assert price is not None  # a buy-in tournament has one (constraint tournament_buy_in_iff_buy_in)
    entry = wallet_adjust(
        player=player,
        currency=tournament.buy_in_currency,
        amount=-price,
        source=WalletSource.TOURNAMENT,
        key=f"tournament:{instance.pk}:{player.pk}:buy-in",
        reason=f"Tournament buy-in: {tournament.name}"[:500],
    ).entry
    TournamentParticipant.objects.filter(instance_id=instance.pk, player_id=player.pk).update(buy_in_entry=entry)


def participant_approve(*, instance: TournamentInstance, player: Player) -> None:
    """Admit a pending player (manual registration), within the maximum players; not one whose account is not
    ACTIVE (`account_not_active`, the label's setting on), nor one outside its audience (`not_in_audience`)."""
    eligibility_check(player=player)
    audience_check(player_id=player.pk, segment_id=instance.tournament.audience_id, what="This tournament")
    with transaction.atomic():
        status = _lock(instance)
        if status not in OPEN:
            raise RegistrationClosed(f"Registration is closed: the tournament is {status}.")
        if not TournamentParticipant.objects.filter(
            instance_id=instance.pk, player_id=player.pk, status=ParticipantStatus.PENDING
        ).exists():
            raise NotPending("The player is not awaiting approval.")
        if not participant_admit(
            instance_id=instance.pk, player_id=player.pk, max_players=instance.tournament.max_players
        ):
            raise TournamentFull(f"The tournament is full ({instance.tournament.max_players} players).")
        _announce(instance, player)


def participant_reject(*, instance: TournamentInstance, player: Player) -> None:
    """Turn down a pending player."""
    with transaction.atomic():
        _lock(instance)
        if not TournamentParticipant.objects.filter(
            instance_id=instance.pk, player_id=player.pk, status=ParticipantStatus.PENDING
        ).exists():
            raise NotPending("The player is not awaiting approval.")
        participant_leave(instance_id=instance.pk, player_id=player.pk, status=ParticipantStatus.REJECTED)


ANNOUNCE_CHUNK = 1000
_UNANNOUNCED = """
SELECT p.id, p.instance_id, p.player_id FROM gamification_tournamentparticipant p
WHERE NOT p.announced AND p.status = 'registered' ORDER BY p.id LIMIT %s FOR UPDATE SKIP LOCKED
"""


def entries_announce(*, chunks: int = 20) -> int:
    """Emit the tournament_registered facts of automatic entries (the pipeline enters players without facts), a chunk
    per transaction; rows a scoring batch holds are left for the next beat. Returns how many were announced."""
    announced = 0
    for _ in range(chunks):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(_UNANNOUNCED, [ANNOUNCE_CHUNK])
            rows = cursor.fetchall()
            if not rows:
                break
            _announce_rows(rows)
            cursor.execute(
                "UPDATE gamification_tournamentparticipant SET announced = true WHERE id = ANY(%s)",
                [[row[0] for row in rows]],
            )
        announced += len(rows)
        if len(rows) < ANNOUNCE_CHUNK:
            break
    return announced


def _announce_rows(rows: list[tuple[int, int, int]]) -> None:
    instances = {
        i.pk: i for i in TournamentInstance.objects.filter(pk__in={r[1] for r in rows}).select_related("tournament")
    }
    found = Player.objects.filter(pk__in={r[2] for r in rows}).select_related("brand")
    # Only what a fact needs: whole players would decrypt their contact fields for nothing.
    players = {p.pk: p for p in found.only("id", "label_id", "user_ext_id", "brand__ext_brand_id")}
    payloads = {pk: registered_payload(instance) for pk, instance in instances.items()}
    by_label: dict[int, list[Fact]] = {}
    for _, instance_id, player_id in rows:
        fact = registered_fact(players[player_id], instance_id, payloads[instance_id])
        by_label.setdefault(instances[instance_id].label_id, []).append(fact)
    for label_id, facts in by_label.items():
        facts_emit(label_id=label_id, facts=facts)
