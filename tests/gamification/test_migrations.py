"""Data migrations of gamification: what existed before a migration is still there, in its new shape, after it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from gamification.models import MissionProgress, PlayerMission, TaskContribution

BEFORE = [("gamification", "0009_run_table_lighter")]
AT = dt.datetime(2026, 1, 5, 12, 0, tzinfo=dt.UTC)


def _migrate(targets) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor


@pytest.mark.django_db(transaction=True)
def test_0010_moves_the_open_runs_progress_and_window_events_into_one_document_per_player(tenant_a):
    executor = _migrate(BEFORE)
    leaves = executor.loader.graph.leaf_nodes()
    old = executor.loader.project_state(BEFORE).apps
    try:
        mission_model, task_model = (
            old.get_model("gamification", "Mission"),
            old.get_model("gamification", "MissionTask"),
        )
        run_model = old.get_model("gamification", "PlayerMission")
        contribution_model = old.get_model("gamification", "TaskContribution")
        missions = [
            mission_model.objects.create(label_id=tenant_a.label.pk, name=f"M{n}", status="active") for n in range(3)
        ]
        tasks = [
            task_model.objects.create(mission=m, name="t", event_type="casino_bet", target=5, window=w)
            for m, w in zip(missions, [None, None, dt.timedelta(hours=1)], strict=True)
        ]
        common = {"label_id": tenant_a.label.pk, "player_id": tenant_a.player.pk}
        open_run = run_model.objects.create(
            mission=missions[0], state="in_progress", progress={str(tasks[0].pk): "2"}, **common
        )
        claimed = run_model.objects.create(
            mission=missions[1], state="claimed", progress={str(tasks[1].pk): "5"}, **common
        )
        windowed = run_model.objects.create(
            mission=missions[2], cycle="", run=2, state="in_progress", progress={str(tasks[2].pk): "3.5"}, **common
        )
        for event_id, amount, minutes in [(901, "1.5", 0), (902, "2", 10)]:
            contribution_model.objects.create(
                player_mission=windowed, task=tasks[2], event_id=event_id, amount=Decimal(amount),
                occurred_at=AT + dt.timedelta(minutes=minutes),
            )  # fmt: skip
    finally:
        _migrate(leaves)

    [document] = MissionProgress.objects.all()
    assert (document.player_id, document.label_id) == (tenant_a.player.pk, tenant_a.label.pk)
    assert document.runs == {
        f"{missions[0].pk}:": {"r": 1, "p": {str(tasks[0].pk): "2"}, "w": {}},
        f"{missions[2].pk}:": {
            "r": 2,
            "p": {str(tasks[2].pk): "3.5"},
            "w": {str(tasks[2].pk): [[AT.timestamp(), "1.5000", 901], [AT.timestamp() + 600, "2.0000", 902]]},
        },
    }
    assert PlayerMission.objects.get(pk=open_run.pk).progress == {str(tasks[0].pk): "2"}  # read from the document
    assert PlayerMission.objects.get(pk=claimed.pk).progress == {str(tasks[1].pk): "5"}  # a finished run keeps its own
    assert sorted(TaskContribution.objects.values_list("player_mission_id", "task_id", "event_id", "amount")) == [
        (windowed.pk, tasks[2].pk, 901, Decimal("1.5")),
        (windowed.pk, tasks[2].pk, 902, Decimal("2")),
    ]
    assert TaskContribution.objects.get(event_id=902).occurred_at == AT + dt.timedelta(minutes=10)
