"""Which live missions and tournaments read a custom event type: the event type admin warns before they go blind."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, Q
from django.urls import reverse

from crm.catalogue import TypeUse
from gamification.models import InstanceStatus, Mission, MissionStatus, MissionTask, Tournament, TournamentStatus

# Instances still to run or running: their template may be archived already, its events still count.
LIVE_INSTANCES = (InstanceStatus.PUBLISHED, InstanceStatus.REGISTRATION, InstanceStatus.STARTED)


def _condition_fields(conditions: Any) -> set[str]:
    if not isinstance(conditions, list):
        return set()
    return {c["field"] for c in conditions if isinstance(c, dict) and isinstance(c.get("field"), str)}


def event_type_uses(*, label_id: int, type_name: str) -> list[TypeUse]:
    """The label's active missions whose tasks count `type_name` or whose unlock event is of it, and its tournaments
    that score it (active templates, and templates with an instance published, open or started), each with the
    payload fields it reads (conditions, summed or scored field). Missions first, by name; two queries."""
    tasks = MissionTask.objects.filter(event_type=type_name)
    missions = (
        Mission.objects.filter(label_id=label_id, status=MissionStatus.ACTIVE)
        .filter(Q(tasks__event_type=type_name) | Q(unlock_event_type=type_name))
        .distinct()
        .order_by("name", "pk")
        .prefetch_related(Prefetch("tasks", queryset=tasks, to_attr="reading"))
    )
    uses = []
    for mission in missions:
        fields: set[str] = set()
        for task in mission.reading:
            fields |= _condition_fields(task.conditions) | ({task.sum_field} if task.sum_field else set())
        if mission.unlock_event_type == type_name:
            fields |= _condition_fields(mission.unlock_event_conditions)
        url = reverse("admin:gamification_mission_change", args=[mission.pk])
        uses.append(TypeUse("Mission", mission.name, url, frozenset(fields)))
    tournaments = (
        Tournament.objects.filter(label_id=label_id, event_type=type_name)
        .filter(Q(status=TournamentStatus.ACTIVE) | Q(instances__status__in=LIVE_INSTANCES))
        .distinct()
        .order_by("name", "pk")
    )
    for tournament in tournaments:
        fields = _condition_fields(tournament.conditions) | (
            {tournament.score_field} if tournament.score_field else set()
        )
        url = reverse("admin:gamification_tournament_change", args=[tournament.pk])
        uses.append(TypeUse("Tournament", tournament.name, url, frozenset(fields)))
    return uses


def type_users(*, label_id: int, type_name: str) -> list[TypeUse]:
    """The finder registered in the catalogue (`crm.catalogue.type_users_register`, from the app's `ready()`)."""
    return event_type_uses(label_id=label_id, type_name=type_name)
