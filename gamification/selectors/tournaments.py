"""Reads of tournaments, label-scoped: what a player sees, and leaderboards with a player's standing."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Prefetch, Q
from django.utils import timezone

from backoffice.errors import NotFound
from backoffice.scoping import Actor
from crm.catalogue import MONEY_FIELDS
from crm.models import AccountStatus, Player
from gamification.models import (
    InstanceStatus,
    ParticipantStatus,
    RegistrationType,
    ScoreMethod,
    Tournament,
    TournamentInstance,
    TournamentParticipant,
    TournamentPrize,
)
from gamification.selectors.leaderboard import Standing, leaderboard_around, leaderboard_rank, leaderboard_top
from gamification.services.audience import audiences_of

VISIBLE = (InstanceStatus.PUBLISHED, InstanceStatus.REGISTRATION, InstanceStatus.STARTED, InstanceStatus.FINALIZING)
FINISHED_VISIBLE_FOR = dt.timedelta(days=7)
REGISTRATION_OPEN = (InstanceStatus.REGISTRATION, InstanceStatus.STARTED)
LIVE = (InstanceStatus.REGISTRATION, InstanceStatus.STARTED, InstanceStatus.FINALIZING)
NEIGHBOURS = 2


def score_is_money(tournament: Tournament) -> bool:
    """Whether the template's scores are amounts of money (a sum or best value of a catalogue amount)."""
    return tournament.score_method != ScoreMethod.COUNT and (tournament.event_type, tournament.score_field) in (
        MONEY_FIELDS
    )


def score_currency(instance: TournamentInstance) -> str | None:
    """The currency of the instance's scores (its label's base currency) when they are money; None otherwise."""
    return instance.label.base_currency if score_is_money(instance.tournament) else None


def player_may_compete(player: Player) -> bool:
    """Whether the player's account status lets them enter and rank (always, when the label's setting is off)."""
    return player.core_account_status == AccountStatus.ACTIVE or not player.label.active_players_only


def instances_base():
    """Instances with their template and its prizes loaded (two queries for any number of rows)."""
    prizes = Prefetch("tournament__prizes", queryset=TournamentPrize.objects.select_related("badge"))
    return TournamentInstance.objects.select_related("tournament", "label").prefetch_related(prizes)


def tournament_instances(*, actor: Actor, status: str | None = None):
    """The instances of the actor's labels, newest start first."""
    rows = instances_base().for_actor(actor)
    return rows.filter(status=status) if status else rows


def tournament_instance_get(*, actor: Actor, instance_id: int) -> TournamentInstance:
    """One instance of the actor's labels; 404 otherwise (another label's id answers the same)."""
    found = instances_base().for_actor(actor).filter(pk=instance_id).first()
    if found is None:
        raise NotFound("No tournament with this id.")
    return found


@dataclass
class PlayerTournament:
    """An instance as one player sees it."""

    instance: TournamentInstance
    participation: TournamentParticipant | None
    standing: Standing | None  # live rank while registered; the final place once finished
    can_register: bool


def _can_register(instance: TournamentInstance, participation: TournamentParticipant | None) -> bool:
    tournament = instance.tournament
    full = tournament.max_players is not None and instance.participant_count >= tournament.max_players
    return (
        participation is None
        and instance.status in REGISTRATION_OPEN
        and tournament.registration_type != RegistrationType.AUTO  # players enter automatic ones by playing
        and not full
    )


def _standing(instance: TournamentInstance, participation: TournamentParticipant | None) -> Standing | None:
    if participation is None or participation.status != ParticipantStatus.REGISTERED:
        return None
    p = participation
    if p.place is not None:
        return Standing(p.place, p.player_id, p.score, p.reached_at, p.events_counted)
    return (
        leaderboard_rank(instance_id=instance.pk, player_id=participation.player_id)
        if instance.status in LIVE
        else None
    )


def tournaments_for_player(*, player: Player, now: dt.datetime | None = None) -> list[PlayerTournament]:
    """Instances the player may see (upcoming, running, finished in the last 7 days) with their participation.

    Control-group players see no gamification: an empty list. A player whose account is not ACTIVE (the label's
    setting on) sees the tournaments but may not register and has no rank.
    """
    if player.ach_gamification_in_control_group:
        return []
    may_compete = player_may_compete(player)
    now = now or timezone.now()
    visible = Q(status__in=VISIBLE) | Q(status=InstanceStatus.FINISHED, finalized_at__gte=now - FINISHED_VISIBLE_FOR)
    instances = list(instances_base().for_label(player.label_id).filter(visible).order_by("starts_at", "id"))
    # Tournaments limited to a segment are shown to its members only (live, one statement per audience segment).
    allowed = audiences_of(player_id=player.pk, segment_ids={i.tournament.audience_id for i in instances})
    instances = [i for i in instances if i.tournament.audience_id is None or i.tournament.audience_id in allowed]
    mine = {
        p.instance_id: p
        for p in TournamentParticipant.objects.filter(player_id=player.pk, instance_id__in=[i.pk for i in instances])
    }
    return [
        PlayerTournament(
            instance=instance,
            participation=mine.get(instance.pk),
            standing=_standing(instance, mine.get(instance.pk)),
            can_register=may_compete and _can_register(instance, mine.get(instance.pk)),
        )
        for instance in instances
    ]


def player_tournament_get(*, player: Player, instance: TournamentInstance) -> PlayerTournament:
    participation = TournamentParticipant.objects.filter(player_id=player.pk, instance_id=instance.pk).first()
    return PlayerTournament(
        instance=instance,
        participation=participation,
        standing=_standing(instance, participation),
        can_register=player_may_compete(player) and _can_register(instance, participation),
    )


@dataclass
class Leaderboard:
    instance: TournamentInstance
    top: list[Standing]
    me: Standing | None
    around: list[Standing]
    players: dict[int, Player]  # the players named above, with their brand
    score_currency: str | None  # the label's base currency when the scores are money


def tournament_leaderboard(
    *, instance: TournamentInstance, player: Player | None = None, limit: int | None = None
) -> Leaderboard:
    """Top `limit` (at most the template's leaderboard size), and the player's standing and neighbours if given (none
    for a player who may not compete: their account is not ACTIVE, even before the beat takes them off the board)."""
    size = instance.tournament.leaderboard_size
    limit = size if limit is None else max(0, min(limit, size))
    top = leaderboard_top(instance_id=instance.pk, limit=limit) if limit else []
    me, around = None, []
    if player is not None and player_may_compete(player):
        me = leaderboard_rank(instance_id=instance.pk, player_id=player.pk)
        around = leaderboard_around(instance_id=instance.pk, player_id=player.pk, k=NEIGHBOURS) if me else []
    ids = {s.player_id for s in (*top, *around)}
    players = {p.pk: p for p in Player.objects.filter(pk__in=ids).select_related("brand")}
    return Leaderboard(
        instance=instance, top=top, me=me, around=around, players=players, score_currency=score_currency(instance)
    )
