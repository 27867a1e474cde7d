"""Missions: the status machine, opt-in, claim, completion (facts, rewards, unlocks) and missed runs.

Progress itself is counted by the pipeline handler (`gamification.handlers.missions`); this module holds the writes
that follow from it and the rules both the handler and the selectors apply (schedule, cycle, which run is current).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import structlog
from django.db import connection, transaction
from django.utils import timezone

from backoffice.errors import NotFound, Refused
from crm.models import Player
from crm.selectors import event_catalogue
from gamification.facts import MISSION_COMPLETED, Fact, facts_emit
from gamification.models import (
    Mission,
    MissionStatus,
    MissionType,
    PlayerMission,
    PlayerMissionState,
    Recurrence,
    Wallet,
    WalletSource,
)
from gamification.models.missions import mission_field_errors, mission_task_errors
from gamification.services.audience import audience_check
from gamification.services.badges import badge_award
from gamification.services.rewards import Reward, rewards_give
from gamification.services.wallet import ControlGroup, wallet_adjust

if TYPE_CHECKING:
    from django.contrib.auth.models import User

log = structlog.get_logger(__name__)

NEXT_STATUS = {MissionStatus.DRAFT: MissionStatus.ACTIVE, MissionStatus.ACTIVE: MissionStatus.ARCHIVED}
OPEN_STATES = (PlayerMissionState.AVAILABLE, PlayerMissionState.IN_PROGRESS)
DONE_STATES = (PlayerMissionState.COMPLETED, PlayerMissionState.CLAIMED)
REWARD_CURRENCIES = ("points", "gems", "diamonds")


class InvalidTransition(Refused):
    default_code = "invalid_transition"


class MissionIncomplete(Refused):
    default_code = "incomplete"


class MissionNotOpen(Refused):
    default_code = "not_open"


class MissionLocked(Refused):
    default_code = "locked"


class OptInNotNeeded(Refused):
    default_code = "opt_in_not_required"


class AlreadyFinished(Refused):
    default_code = "already_finished"


class NotCompleted(Refused):
    default_code = "not_completed"


# --- rules shared with the handler and the selectors ----------------------------------------------------------------
def mission_is_open(*, mission: Mission, at: dt.datetime) -> bool:
    """Active, and `at` lies within its active dates (from its activation when it has no start date)."""
    start = mission.active_from or mission.activated_at
    started = start is None or start <= at
    not_ended = mission.active_till is None or at < mission.active_till
    return mission.status == MissionStatus.ACTIVE and started and not_ended


def mission_cycle(*, mission: Mission, tz_name: str, at: dt.datetime) -> str | None:
    """The cycle `at` falls in: "" for missions without cycles, the ISO date (in the label's time zone) for
    recurring ones, None on a day a recurring mission is not scheduled."""
    if mission.type != MissionType.RECURRING:
        return ""
    day = at.astimezone(ZoneInfo(tz_name)).date()
    return day.isoformat() if mission_scheduled(mission=mission, day=day) else None


def mission_scheduled(*, mission: Mission, day: dt.date) -> bool:
    """Whether a recurring mission has a cycle on this day (of the label's calendar)."""
    if mission.recurrence == Recurrence.WEEKDAYS:
        return day.weekday() in mission.recurrence_weekdays
    if mission.recurrence == Recurrence.DAYS_OF_MONTH:
        return day.day in mission.recurrence_month_days
    return True


def mission_current_run(*, mission: Mission, state: str | None, run: int | None) -> int | None:
    """The run progress goes to, given the state and number of the player's latest run in the cycle (None: no run).

    A finished run is followed by the next one only for missions recurring on completion, once rewarded (claimed,
    when a claim is required) and below `max_completions`.
    """
    if state is None or run is None:
        return 1
    if state in OPEN_STATES:
        return run
    rewarded = state == PlayerMissionState.CLAIMED or (
        state == PlayerMissionState.COMPLETED and not mission.claim_required
    )
    below_max = mission.max_completions is None or run < mission.max_completions
    if mission.type == MissionType.RECURRING_ON_COMPLETION and rewarded and below_max:
        return run + 1
    return None


def mission_level_unlocks(*, mission: Mission, level_points: int | None) -> bool:
    """Whether a player whose level requires `level_points` (None: no level) has reached the mission's unlock level."""
    if mission.unlock_level_id is None or level_points is None:
        return False
    level = mission.unlock_level
    return level is not None and level_points >= level.required_points


def mission_unlock_holds(
    *, mission: Mission, has_run: bool, unlock_mission_done: bool, level_points: int | None
) -> bool:
    """The one rule of whether a mission is open to a player as far as locking goes, from what the caller read.

    A mission that is not locked always is. A locked one is once the player has a run of it (an unlock is persisted
    as a run: by event, by level, by completing its unlock mission), has completed its unlock mission
    (`unlock_mission_done`), or has a level that reaches its unlock level (`level_points`: the required points of the
    player's level). The service, the selectors and the missions handler read these in their own way, one player or a
    batch at a time, and all decide here.
    """
    if mission.type != MissionType.LOCKED or has_run:
        return True
    if mission.unlock_mission_id is not None and unlock_mission_done:
        return True
    return mission_level_unlocks(mission=mission, level_points=level_points)


def mission_unlocked(*, player: Player, mission: Mission) -> bool:
    """Whether the locked `mission` is open to `player` (`mission_unlock_holds`, reading the player's rows)."""
    if mission.type != MissionType.LOCKED:
        return True
    runs = PlayerMission.objects.filter(player_id=player.pk)
    done = mission.unlock_mission_id is not None and (
        runs.filter(mission_id=mission.unlock_mission_id, state__in=DONE_STATES).exists()
    )
    level_points = None
    if mission.unlock_level_id is not None:
        wallet = Wallet.objects.filter(player_id=player.pk).select_related("level").first()
        level_points = wallet.level.required_points if wallet and wallet.level else None
    has_run = runs.filter(mission_id=mission.pk).exists()
    return mission_unlock_holds(mission=mission, has_run=has_run, unlock_mission_done=done, level_points=level_points)


# --- configuration ---------------------------------------------------------------------------------------------------
def mission_check(*, mission: Mission) -> dict[str, list[str]]:
    """What keeps the mission from being activated, by field (empty when it is complete)."""
    errors = mission_config_errors(mission=mission)  # checked when saved; again here, as the catalogue may have changed
    if not mission.tasks.exists():
        errors["tasks"] = ["Add at least one task."]
    if mission.type == MissionType.LOCKED and not (
        mission.unlock_level_id or mission.unlock_mission_id or mission.unlock_event_type
    ):
        errors["unlock_level"] = ["A locked mission needs an unlock level, mission or event type."]
    if mission.type == MissionType.RECURRING:
        if not mission.recurrence:
            errors["recurrence"] = ["A recurring mission needs a recurrence."]
        elif mission.recurrence == Recurrence.WEEKDAYS and not mission.recurrence_weekdays:
            errors["recurrence_weekdays"] = ["Choose the weekdays it runs on."]
        elif mission.recurrence == Recurrence.DAYS_OF_MONTH and not mission.recurrence_month_days:
            errors["recurrence_month_days"] = ["Choose the days of the month it runs on."]
    if mission.time_limit is not None and not mission.requires_opt_in:
        errors["time_limit"] = ["A time limit runs from the opt-in: turn on requires opt-in."]
    if mission.time_limit is not None and mission.time_limit <= dt.timedelta(0):
        errors["time_limit"] = ["Must be positive."]
    return errors


def mission_config_errors(*, mission: Mission) -> dict[str, list[str]]:
    """What the one-row rules and the label's event catalogue refuse in the mission and its tasks, by field (a task's
    as `tasks[<index>].<field>`); empty when nothing is wrong. The admin shows them on a stored mission."""
    catalogue = event_catalogue(label_id=mission.label_id)
    errors = mission_field_errors(mission, catalogue)
    for index, task in enumerate(mission.tasks.all()):
        for field, messages in mission_task_errors(task, catalogue).items():
            errors[f"tasks[{index}].{field}"] = messages
    return errors


def mission_transition(*, mission: Mission, to: str, by: User | None = None) -> Mission:
    """Move the mission one step along draft -> active -> archived; activation requires a complete mission."""
    with transaction.atomic():
        current = Mission.objects.select_for_update().get(pk=mission.pk)
        if NEXT_STATUS.get(current.status) != to:
            raise InvalidTransition(
                f"A {current.status} mission cannot become {to}.", errors={"status": [f"Cannot become {to}."]}
            )
        now = timezone.now()
        if to == MissionStatus.ACTIVE:
            errors = mission_check(mission=current)
            if errors:
                raise MissionIncomplete("The mission is not complete.", errors=errors)
            current.activated_at = now
        else:
            current.archived_at = now
        current.status = to
        current.save(update_fields=["status", "activated_at", "archived_at", "updated_at"])
    from gamification.handlers.mission_config import missions_cache_clear  # the handlers package imports this module

    missions_cache_clear(current.label_id)
    log.info("mission_transition", mission_id=current.pk, status=to, by=getattr(by, "pk", None))
    for field in ("status", "activated_at", "archived_at", "updated_at"):
        setattr(mission, field, getattr(current, field))
    return mission


# --- a player's runs -----------------------------------------------------------------------------------------------
def _mission_of(player: Player, mission: Mission) -> None:
    if mission.label_id != player.label_id or mission.status == MissionStatus.DRAFT:
        raise NotFound("No such mission.")


def _latest_run(player: Player, mission: Mission, cycle: str) -> PlayerMission | None:
    runs = PlayerMission.objects.select_for_update().filter(player_id=player.pk, mission_id=mission.pk, cycle=cycle)
    return runs.order_by("-run").first()


def mission_opt_in(*, player: Player, mission: Mission, now: dt.datetime | None = None) -> PlayerMission:
    """Opt the player in to the current run: progress counts from now, until the time limit if any.

    Opting in again to a run in progress changes nothing. Refusals (422): `control_group`, `opt_in_not_required`,
    `not_open`, `locked`, `already_finished`.
    """
    now = now or timezone.now()
    _mission_of(player, mission)
    if player.ach_gamification_in_control_group:
        raise ControlGroup("The player is in the gamification control group: missions are closed to them.")
    audience_check(player_id=player.pk, segment_id=mission.audience_id, what="This mission")
    if not mission.requires_opt_in:
        raise OptInNotNeeded("This mission counts without opting in.")
    cycle = mission_cycle(mission=mission, tz_name=mission.label.time_zone, at=now)
    if not mission_is_open(mission=mission, at=now) or cycle is None:
        raise MissionNotOpen("The mission is not open now.")
    if not mission_unlocked(player=player, mission=mission):
        raise MissionLocked("The mission is still locked for this player.")
    expires_at = now + mission.time_limit if mission.time_limit else None
    with transaction.atomic():
        latest = _latest_run(player, mission, cycle)
        if latest is not None and latest.state in OPEN_STATES and latest.opted_in_at is None:
            latest.opted_in_at, latest.expires_at, latest.state = now, expires_at, PlayerMissionState.IN_PROGRESS
            latest.save(update_fields=["opted_in_at", "expires_at", "state", "updated_at"])
            return latest
        if (
            latest is not None
            and latest.state in OPEN_STATES
            and (latest.expires_at is None or now < latest.expires_at)
        ):
            return latest
        run = mission_current_run(
            mission=mission, state=latest.state if latest else None, run=latest.run if latest else None
        )
        if run is None or (latest is not None and run == latest.run):
            raise AlreadyFinished("The player has finished this mission.")
        return PlayerMission.objects.create(
            label_id=player.label_id,
            player=player,
            mission=mission,
            cycle=cycle,
            run=run,
            state=PlayerMissionState.IN_PROGRESS,
            opted_in_at=now,
            expires_at=expires_at,
        )


@dataclass(frozen=True)
class ClaimResult:
    player_mission: PlayerMission
    created: bool  # False when the run was already claimed: nothing changed


def mission_claim(*, player: Player, mission: Mission) -> ClaimResult:
    """Give the rewards of the player's latest completed, unclaimed run; when there is none, a claim returns the
    latest claimed run and changes nothing.

    Refused (422) `not_completed` when the player has no completed run.
    """
    _mission_of(player, mission)
    with transaction.atomic():
        runs = PlayerMission.objects.select_for_update().filter(player_id=player.pk, mission_id=mission.pk)
        latest = runs.filter(state=PlayerMissionState.COMPLETED).order_by("-id").first()
        if latest is None:
            claimed = runs.filter(state=PlayerMissionState.CLAIMED).order_by("-id").first()
            if claimed is None:
                raise NotCompleted("The player has not completed this mission.")
            return ClaimResult(claimed, created=False)
        latest.state, latest.claimed_at = PlayerMissionState.CLAIMED, timezone.now()
        latest.save(update_fields=["state", "claimed_at", "updated_at"])
        _rewards_give(latest, mission, player)
    return ClaimResult(latest, created=True)


def _rewards_give(pm: PlayerMission, mission: Mission, player: Player) -> None:
    """Each reward once per run: the wallet and badge keys are derived from the run."""
    for currency in REWARD_CURRENCIES:
        amount = getattr(mission, f"reward_{currency}")
        if amount:
            wallet_adjust(
                player=player,
                currency=currency,
                amount=int(amount),
                source=WalletSource.MISSION,
                key=f"mission:{pm.pk}:{currency}",
                reason=f"Mission: {mission.name}"[:500],
            )
    badge = mission.reward_badge  # None without a query when the mission gives no badge
    if badge is not None:  # an account not ACTIVE gets no badge, as no credit: badge_award withholds and records it
        try:
            badge_award(player=player, badge=badge, source="mission", key=f"mission:{pm.pk}:badge")
        except Refused as exc:  # the last stage already held, or the badge switched off: the rest stands
            log.info("mission_badge_refused", player_mission_id=pm.pk, code=exc.code)


# What the facts and rewards of completed runs read of their players (`Fact`, `rewards_give`, `badge_award`): only
# these are loaded, for thousands of runs a batch; reading another field would cost a query per player
# (tests/gamification/test_missions_progress.py counts the statements of one completion and of many).
_COMPLETED_PLAYER = tuple(
    f"player__{name}"
    for name in ("label_id", "brand_id", "user_ext_id", "core_account_status", "ach_gamification_in_control_group")
)


def missions_completed(*, pm_ids: list[int]) -> None:
    """After the handler completed these runs (in its transaction; written `claimed` when no claim is needed):
    their `mission_completed` facts, the rewards of those claimed, in bulk, and the missions they unlock."""
    runs = list(
        PlayerMission.objects.filter(pk__in=pm_ids)
        .select_related("player")
        .only("label_id", "player_id", "mission_id", "cycle", "run", "state", *_COMPLETED_PLAYER)
    )
    missions = Mission.objects.select_related("reward_badge").in_bulk({pm.mission_id for pm in runs})
    by_label: dict[int, list[Fact]] = {}
    for pm in runs:
        pm.mission = missions[pm.mission_id]
        payload = {"mission_id": pm.mission_id, "mission_name": pm.mission.name[:255], "run": pm.run}
        if pm.cycle:
            payload["cycle"] = pm.cycle
        by_label.setdefault(pm.label_id, []).append(
            Fact(pm.player, MISSION_COMPLETED, f"mission:{pm.pk}:completed", payload)
        )
    for label_id, facts in by_label.items():
        facts_emit(label_id=label_id, facts=facts)
    rewards_give(rewards=[_reward(pm) for pm in runs if pm.state == PlayerMissionState.CLAIMED])
    _unlock_followers(runs)


def _reward(pm: PlayerMission) -> Reward:
    """A run's rewards, keyed by the run as `_rewards_give` keys them: each is given once per run."""
    mission = pm.mission
    return Reward(
        player=pm.player,
        key=f"mission:{pm.pk}",
        source=WalletSource.MISSION,
        reason=f"Mission: {mission.name}"[:500],
        points=mission.reward_points,
        gems=mission.reward_gems,
        diamonds=mission.reward_diamonds,
        badge=mission.reward_badge,
    )


def _unlock_followers(runs: list[PlayerMission]) -> None:
    """Persist the unlock of active locked missions whose unlock mission these runs completed."""
    if not runs:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO gamification_playermission (label_id, player_id, mission_id, cycle, run, state, progress,"
            " unlocked_at, created_at, updated_at)"
            " SELECT m.label_id, r.player_id, m.id, '', 1, 'available', '{}', now(), now(), now()"
            " FROM unnest(%s::bigint[], %s::bigint[]) AS r(player_id, mission_id)"
            " JOIN gamification_mission m ON m.unlock_mission_id = r.mission_id AND m.status = 'active'"
            " AND m.type = 'locked' ON CONFLICT (mission_id, player_id, cycle, run) DO NOTHING",
            [[pm.player_id for pm in runs], [pm.mission_id for pm in runs]],
        )


# --- missed runs -----------------------------------------------------------------------------------------------------
# A run's progress moves from its player's document onto its row (`progress_of` in SQL), and its entry leaves the
# document.
_MISSED = """
WITH missed AS (
  UPDATE gamification_playermission AS pm SET state = 'missed', updated_at = now(),
    progress = coalesce((SELECT coalesce(e -> 'p', '{}') || coalesce((
                             SELECT jsonb_object_agg(b.key, trim_scale(greatest(0, least(
                               coalesce((d.counters ->> (b.value ->> 0))::numeric, 0) - (b.value ->> 1)::numeric,
                               (b.value ->> 2)::numeric)))::text)
                             FROM jsonb_each(e -> 'b') b), '{}')
                         FROM gamification_missionprogress d, LATERAL (
                           SELECT d.runs -> (pm.mission_id || ':' || pm.cycle) AS e) entry
                         WHERE d.player_id = pm.player_id AND (e ->> 'r')::int = pm.run), pm.progress)
  FROM gamification_mission AS m, backoffice_label AS l
  WHERE pm.mission_id = m.id AND l.id = m.label_id AND pm.state IN ('available', 'in_progress')
    AND (pm.expires_at <= %(now)s
         OR m.active_till <= %(now)s
         OR (pm.cycle <> '' AND pm.cycle < to_char((%(now)s AT TIME ZONE l.time_zone)::date, 'YYYY-MM-DD')))
  RETURNING pm.player_id, pm.mission_id || ':' || pm.cycle AS key
), emptied AS (
  UPDATE gamification_missionprogress AS d SET runs = d.runs - k.keys, updated_at = now()
  FROM (SELECT player_id, array_agg(key) AS keys FROM missed GROUP BY player_id) k
  WHERE d.player_id = k.player_id AND d.runs ?| k.keys
)
SELECT count(*) FROM missed
"""


# Each mission's changes to its count of runs open without a row, folded into one row per cycle, the cycles that are
# over dropped (their runs are missed). The rows deleted are those this statement sees; a batch committing meanwhile
# adds rows of its own, kept for the next fold.
_FOLD = """
WITH folded AS (DELETE FROM gamification_missionopendelta RETURNING mission_id, cycle, delta)
INSERT INTO gamification_missionopendelta (mission_id, cycle, delta)
SELECT f.mission_id, f.cycle, sum(f.delta) FROM folded f
  JOIN gamification_mission m ON m.id = f.mission_id JOIN backoffice_label l ON l.id = m.label_id
WHERE f.cycle = '' OR f.cycle >= to_char((%(now)s AT TIME ZONE l.time_zone)::date, 'YYYY-MM-DD')
GROUP BY f.mission_id, f.cycle HAVING sum(f.delta) <> 0
"""


def missions_open_fold(*, now: dt.datetime | None = None) -> None:
    """Fold the pipeline's changes to each mission's count of runs open without a row into one row per mission and
    cycle, and drop those of the cycles over by `now`."""
    with connection.cursor() as cursor:
        cursor.execute(_FOLD, {"now": now or timezone.now()})


def missions_mark_missed(*, now: dt.datetime | None = None) -> int:
    """Mark unfinished runs past their time limit, their mission's end or their cycle as missed, keeping the progress
    they made; return how many."""
    with connection.cursor() as cursor:
        cursor.execute(_MISSED, {"now": now or timezone.now()})
        return cursor.fetchone()[0]
