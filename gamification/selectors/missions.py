"""Reads of missions and badges as a player sees them, label-scoped, in a few queries whatever their number.

States are computed on read, so they are right before the beat task persists them: a run past its time limit, its
mission's end or its cycle shows as missed; a run finished on a mission recurring on completion shows the next run.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Prefetch, Q
from django.utils import timezone

from backoffice.errors import NotFound
from crm.models import Player
from gamification.models import (
    Badge,
    BadgeAward,
    BadgeStage,
    BadgeVisibility,
    Mission,
    MissionProgress,
    MissionStatus,
    PlayerMission,
    PlayerMissionState,
    Wallet,
    progress_implicit,
    progress_of,
)
from gamification.services.audience import audiences_of
from gamification.services.missions import (
    DONE_STATES,
    OPEN_STATES,
    mission_current_run,
    mission_cycle,
    mission_unlock_holds,
)


@dataclass
class TaskView:
    id: int
    name: str
    names: dict
    event_type: str
    aggregation: str
    target: Decimal
    value: Decimal
    done: bool


@dataclass
class MissionView:
    id: int
    name: str
    names: dict
    descriptions: dict
    image_url: str
    custom: dict
    type: str
    is_featured: bool
    requires_opt_in: bool
    claim_required: bool
    active_till: dt.datetime | None
    rewards: dict
    state: str
    run: int
    cycle: str
    expires_at: dt.datetime | None = None
    opted_in_at: dt.datetime | None = None
    completed_at: dt.datetime | None = None
    claimed_at: dt.datetime | None = None
    tasks: list[TaskView] = field(default_factory=list)


def mission_get(*, player: Player, mission_id: int) -> Mission:
    """A mission of the player's label that players may see (active or archived); 404 otherwise."""
    found = (
        Mission.objects.for_label(player.label_id)
        .exclude(status=MissionStatus.DRAFT)
        .filter(pk=mission_id)
        .select_related("label", "unlock_level", "reward_badge")
        .first()
    )
    if found is None or (found.audience_id and not audiences_of(player_id=player.pk, segment_ids=[found.audience_id])):
        raise NotFound("No mission with this id.")  # outside its audience, as if it did not exist
    return found


def _rewards(mission: Mission) -> dict:
    badge = mission.reward_badge
    return {
        "points": mission.reward_points,
        "gems": mission.reward_gems,
        "diamonds": mission.reward_diamonds,
        "badge": {"id": badge.pk, "name": badge.name, "names": badge.names} if badge else None,
    }


def _unlocked(mission: Mission, rows: list[PlayerMission], done: set[int], level_points: int | None) -> bool:
    unlock_done = mission.unlock_mission_id in done
    return mission_unlock_holds(
        mission=mission, has_run=bool(rows), unlock_mission_done=unlock_done, level_points=level_points
    )


def _view(mission: Mission, state: str, run: int, cycle: str, pm: PlayerMission | None, progress: dict) -> MissionView:
    tasks = []
    for task in mission.tasks.all():
        value = Decimal(progress.get(str(task.pk), "0"))
        tasks.append(
            TaskView(
                task.pk,
                task.name,
                task.names,
                task.event_type,
                task.aggregation,
                task.target,
                value,
                value >= task.target,
            )
        )
    view = MissionView(
        id=mission.pk,
        name=mission.name,
        names=mission.names,
        descriptions=mission.descriptions,
        image_url=mission.image_url,
        custom=mission.custom,
        type=mission.type,
        is_featured=mission.is_featured,
        requires_opt_in=mission.requires_opt_in,
        claim_required=mission.claim_required,
        active_till=mission.active_till,
        rewards=_rewards(mission),
        state=state,
        run=run,
        cycle=cycle,
        tasks=tasks,
    )
    if pm is not None:
        view.expires_at, view.opted_in_at = pm.expires_at, pm.opted_in_at
        view.completed_at, view.claimed_at = pm.completed_at, pm.claimed_at
    return view


def _progress(pm: PlayerMission | None, document: tuple[dict, dict, dict, dict]) -> dict:
    """The run's progress: an open run's from the player's document, a finished run's from its row."""
    if pm is None:
        return {}
    if pm.state in OPEN_STATES:
        return progress_of(document[0], document[1], pm.mission_id, pm.cycle, pm.run)
    return pm.stored_progress


def _state(mission: Mission, pm: PlayerMission | None, now: dt.datetime) -> tuple[str, PlayerMission | None, int]:
    """(state, the run shown, its number); the run shown is None for a run not started yet."""
    closed = mission.active_till is not None and now >= mission.active_till
    if pm is None:
        return PlayerMissionState.AVAILABLE, None, 1
    if pm.state in OPEN_STATES:
        if closed or (pm.expires_at is not None and now >= pm.expires_at):
            return PlayerMissionState.MISSED, pm, pm.run
        return pm.state, pm, pm.run
    following = mission_current_run(mission=mission, state=pm.state, run=pm.run)
    if pm.state in DONE_STATES and following is not None and following != pm.run and not closed:
        return PlayerMissionState.AVAILABLE, None, following
    return pm.state, pm, pm.run


def missions_for_player(*, player: Player, now: dt.datetime | None = None) -> list[MissionView]:
    """The label's active missions with the player's state in each, featured first then by position.

    Recurring missions are left out on the days they are not scheduled; missions that ended are shown only to
    players who took part. Control-group players see none.
    """
    if player.ach_gamification_in_control_group:
        return []
    now = now or timezone.now()
    missions = list(
        Mission.objects.for_label(player.label_id)
        .filter(Q(active_from__isnull=True) | Q(active_from__lte=now), status=MissionStatus.ACTIVE)
        .select_related("label", "unlock_level", "reward_badge")
        .prefetch_related("tasks")
        .order_by("-is_featured", "position", "id")
    )
    allowed = audiences_of(player_id=player.pk, segment_ids={m.audience_id for m in missions})
    missions = [m for m in missions if m.audience_id is None or m.audience_id in allowed]  # audience: members only
    if not missions:
        return []
    cycles = {m.pk: mission_cycle(mission=m, tz_name=m.label.time_zone, at=now) for m in missions}
    unlock_ids = {m.unlock_mission_id for m in missions if m.unlock_mission_id}
    rows = PlayerMission.objects.filter(player_id=player.pk).filter(
        Q(mission_id__in=list(cycles), cycle__in={c for c in cycles.values() if c is not None})
        | Q(mission_id__in=unlock_ids, state__in=DONE_STATES)
    )
    runs: dict[int, list[PlayerMission]] = {}
    done: set[int] = set()
    for pm in rows:
        if pm.state in DONE_STATES:
            done.add(pm.mission_id)
        if cycles.get(pm.mission_id) == pm.cycle:
            runs.setdefault(pm.mission_id, []).append(pm)
    document: tuple[dict, dict, dict, dict] = (
        MissionProgress.objects.filter(player_id=player.pk).values_list("runs", "counters", "born", "windows").first()
    ) or ({}, {}, {}, {})
    level_points = None
    if any(m.unlock_level_id for m in missions):
        wallet = Wallet.objects.filter(player_id=player.pk).select_related("level").first()
        level_points = wallet.level.required_points if wallet and wallet.level else None
    views = []
    for mission in missions:
        cycle = cycles[mission.pk]
        if cycle is None:
            continue
        own = sorted(runs.get(mission.pk, []), key=lambda pm: pm.run)
        if not _unlocked(mission, own, done, level_points):
            views.append(_view(mission, PlayerMissionState.LOCKED, 1, cycle, None, {}))
            continue
        latest = own[-1] if own else None
        implicit = None
        if latest is None or latest.state in OPEN_STATES:
            implicit = progress_implicit(mission, cycle, *document)
        if implicit is not None and any(value != "0" for value in implicit.values()):
            # Open without a row (or with the row a rule's gift left available): its progress is its counters'.
            run = latest.run if latest else 1
            views.append(_view(mission, PlayerMissionState.IN_PROGRESS, run, cycle, latest, implicit))
            continue
        if latest is None and mission.active_till is not None and now >= mission.active_till:
            continue
        state, shown, run = _state(mission, latest, now)
        views.append(_view(mission, state, run, cycle, shown, _progress(shown, document)))
    return views


# --- badges ----------------------------------------------------------------------------------------------------------
@dataclass
class BadgeView:
    id: int
    name: str
    names: dict
    descriptions: dict
    image_url: str
    visibility: str
    earned: bool
    stage: int | None  # the highest stage earned
    stage_count: int
    earned_at: dt.datetime | None
    stages: list[dict] = field(default_factory=list)


def badge_get(*, player: Player, badge_id: int) -> Badge:
    """A badge of the player's label; 404 otherwise."""
    found = Badge.objects.for_label(player.label_id).filter(pk=badge_id).first()
    if found is None:
        raise NotFound("No badge with this id.")
    return found


def badges_for_player(*, player: Player) -> list[BadgeView]:
    """The label's badges with the player's stage: unearned hidden and inactive badges are left out."""
    if player.ach_gamification_in_control_group:
        return []
    badges = Badge.objects.for_label(player.label_id).prefetch_related(
        Prefetch("stages", queryset=BadgeStage.objects.order_by("number"))
    )
    earned: dict[int, dict[int, dt.datetime]] = {}
    for badge_id, stage, created_at in BadgeAward.objects.filter(player_id=player.pk).values_list(
        "badge_id", "stage", "created_at"
    ):
        earned.setdefault(badge_id, {})[stage] = created_at
    views = []
    for badge in badges:
        mine = earned.get(badge.pk, {})
        if not mine and (badge.visibility == BadgeVisibility.HIDDEN or not badge.is_active):
            continue
        stages = list(badge.stages.all())
        top = max(mine, default=None)
        views.append(
            BadgeView(
                id=badge.pk,
                name=badge.name,
                names=badge.names,
                descriptions=badge.descriptions,
                image_url=badge.image_url,
                visibility=badge.visibility,
                earned=bool(mine),
                stage=top,
                stage_count=max(len(stages), 1),
                earned_at=mine.get(top) if top else None,
                stages=[
                    {
                        "number": s.number,
                        "name": s.name,
                        "names": s.names,
                        "image_url": s.image_url,
                        "earned": s.number in mine,
                    }
                    for s in stages
                ],
            )
        )
    return views
