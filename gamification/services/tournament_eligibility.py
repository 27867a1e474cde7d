"""Who may compete: players whose account is not ACTIVE neither enter tournaments nor show on leaderboards, when
their label's `active_players_only` is on (the default; the reference: "not ACTIVE, no marketing activities").

A registration is refused (`account_not_active`); automatic entry skips them; their events score nothing. A player who
was entered and later stops being ACTIVE (self-excluded, blocked...) is taken off the board (participant status
`excluded`): out of the counts, ranks and final places, score kept. Off-board is a write, not a filter at read time,
so top N, ranks and bucket counts stay one consistent set at a million participants. Who moves is found three ways:
the scoring batch (players whose events it sees), the beat (`participants_sync` over the instances taking part, at
most a beat behind a change made anywhere: profile events, the players API, replica sync, the admin), and
finalization (exactly, before places are assigned). A player ACTIVE again, or a label that turns the setting off,
goes back on the board the same ways, with the score they had.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import structlog
from django.db import transaction
from django.db.models import Q

from backoffice.errors import Refused
from crm.models import AccountStatus, Player
from gamification.models import InstanceStatus, ParticipantStatus, TournamentParticipant
from gamification.selectors.tournaments import player_may_compete
from gamification.services.leaderboard import participants_exclude, participants_restore

log = structlog.get_logger(__name__)
SYNCED = (InstanceStatus.REGISTRATION, InstanceStatus.STARTED)  # finalizing ones sync in their finalization


class AccountNotActive(Refused):
    default_code = "account_not_active"


def eligibility_check(*, player: Player) -> None:
    """Raise `account_not_active` (422) when the player may not compete, naming the status."""
    if not player_may_compete(player):
        raise AccountNotActive(
            f"The player's account is {player.core_account_status}: tournaments are open to ACTIVE accounts only "
            "(the label's active-players-only setting)."
        )


def _off_board() -> Q:
    return Q(status=ParticipantStatus.REGISTERED, label__active_players_only=True) & ~Q(
        player__core_account_status=AccountStatus.ACTIVE
    )


def _back_on_board() -> Q:
    return Q(status=ParticipantStatus.EXCLUDED) & (
        Q(player__core_account_status=AccountStatus.ACTIVE) | Q(label__active_players_only=False)
    )


def participants_sync(*, instance_ids: Iterable[int] | None = None) -> dict[str, int]:
    """Take off the board the participants whose account is not ACTIVE (label setting on) and put back those ACTIVE
    again, in the given instances (default: those in registration or started). One transaction per instance."""
    rows = TournamentParticipant.objects.all()
    if instance_ids is None:
        rows = rows.filter(instance__status__in=SYNCED)
    else:
        rows = rows.filter(instance_id__in=list(instance_ids))
    out: dict[int, list[int]] = defaultdict(list)
    back: dict[int, list[int]] = defaultdict(list)
    for instance_id, player_id in rows.filter(_off_board()).values_list("instance_id", "player_id"):
        out[instance_id].append(player_id)
    for instance_id, player_id in rows.filter(_back_on_board()).values_list("instance_id", "player_id"):
        back[instance_id].append(player_id)
    excluded = restored = 0
    for instance_id in sorted({*out, *back}):
        with transaction.atomic():
            restored += len(participants_restore(instance_id=instance_id, player_ids=back[instance_id]))
            excluded += len(participants_exclude(instance_id=instance_id, player_ids=out[instance_id]))
    if excluded or restored:
        log.info("tournament_boards_synced", excluded=excluded, restored=restored)
    return {"excluded": excluded, "restored": restored}
