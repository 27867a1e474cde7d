"""The lean count of open runs the players' documents hold (`_held_count`) gives what counting event by event
(`_Run`) gives: the same scenario on two labels, one counted each way, ends in the same rows, documents and rewards."""

from __future__ import annotations

import datetime as dt

from crm.models import Event, Player
from gamification.handlers import missions as handler
from gamification.models import Mission, MissionProgress, MissionTask, PlayerMission
from gamification.services.missions import mission_opt_in
from tests.gamification.mission_helpers import bet, event, feed, mission_make

T = dt.datetime(2026, 1, 5, 11, 0, tzinfo=dt.UTC)
ANY_BET: list = []


def _missions(label) -> None:
    mission_make(label, name="count", tasks=[{"target": 4}], reward_points=10)
    mission_make(label, name="sum", tasks=[{"target": 10, "aggregation": "sum", "sum_field": "bet_amount",
                                           "conditions": ANY_BET}], reward_gems=2)  # fmt: skip
    mission_make(label, name="two tasks", claim_required=True, tasks=[
        {"target": 3}, {"target": 2, "event_type": "deposit", "conditions": []}])  # fmt: skip
    mission_make(label, name="opt-in", tasks=[{"target": 6, "conditions": ANY_BET}], requires_opt_in=True,
                 time_limit=dt.timedelta(hours=2), reward_points=7)  # fmt: skip
    mission_make(label, name="daily", tasks=[{"target": 2}], type="recurring", recurrence="daily", reward_points=1)
    mission_make(label, name="again", tasks=[{"target": 2, "conditions": ANY_BET}], type="recurring_on_completion",
                 max_completions=3, reward_points=3)  # fmt: skip
    mission_make(label, name="windowed", tasks=[{"target": 3, "conditions": ANY_BET,
                                                "window": dt.timedelta(minutes=30)}])  # fmt: skip


def _scenario(tenant) -> None:
    label = tenant.label
    _missions(label)
    feed(label, [bet(amount=1.5, at="2026-01-05T10:00:00Z"), bet(amount=0.5, at="2026-01-05T10:01:00Z"),
                 bet(amount=2, user="second", at="2026-01-05T10:02:00Z")])  # fmt: skip
    opt_in = Mission.objects.get(label=label, name="opt-in")
    mission_opt_in(player=tenant.player, mission=opt_in, now=T)  # the time limit: 13:00
    feed(label, [bet(amount=3.25, at="2026-01-05T11:30:00Z"), bet(amount=1, category="live", at="2026-01-05T11:40:00Z"),
                 event("deposit", {"deposit_amount": 5}, at="2026-01-05T11:45:00Z")])  # fmt: skip
    feed(label, [bet(amount=2.5, at="2026-01-05T12:10:00Z"), bet(amount=4, at="2026-01-05T12:20:00Z"),
                 bet(amount=1, at="2026-01-05T12:59:00Z"), bet(amount=9, at="2026-01-05T13:00:00Z"),
                 bet(amount=2, user="second", at="2026-01-05T12:30:00Z"),
                 event("deposit", {"deposit_amount": 5}, at="2026-01-05T12:40:00Z")])  # fmt: skip
    feed(label, [bet(amount=7, at="2026-01-05T13:10:00Z"), bet(amount=1, at="2026-01-05T13:20:00Z"),
                 bet(amount=1, at="2026-01-06T09:00:00Z"), bet(amount=1, user="second", at="2026-01-06T09:10:00Z"),
                 bet(amount=6, user="second", at="2026-01-06T09:20:00Z")])  # fmt: skip
    feed(label, [bet(amount=1, at="2026-01-06T10:00:00Z"), bet(amount=0.75, at="2026-01-06T10:05:00Z")])


def _outcome(tenant) -> dict:
    """What the scenario left, with ids replaced by names (mission), external ids (player) and run numbers."""
    label = tenant.label
    names = dict(Mission.objects.filter(label=label).values_list("pk", "name"))
    users = dict(Player.objects.filter(label=label).values_list("pk", "user_ext_id"))
    rows = PlayerMission.objects.filter(label=label)
    runs = {pm.pk: (names[pm.mission_id], pm.run) for pm in rows}
    tasks = {str(t.pk): f"{names[t.mission_id]}/{t.position}" for t in MissionTask.objects.filter(mission__label=label)}

    def entry(value: dict) -> dict:
        value = dict(value)
        value["p"] = {tasks[k]: v for k, v in value["p"].items()}
        value["w"] = {tasks[k]: [[at, amount] for at, amount, _ in held] for k, held in value.get("w", {}).items()}
        if "i" in value:
            value["i"] = runs[value["i"]]
        return value

    documents = {
        users[d.player_id]: {f"{names[int(k.split(':')[0])]}:{k.split(':')[1]}": entry(v) for k, v in d.runs.items()}
        for d in MissionProgress.objects.filter(label=label)
    }
    states = sorted(
        (names[pm.mission_id], users[pm.player_id], pm.cycle, pm.run, pm.state,
         sorted((tasks[k], v) for k, v in pm.progress.items()), pm.opted_in_at, pm.expires_at,
         pm.completed_at is not None, pm.claimed_at is not None)
        for pm in rows
    )  # fmt: skip
    wallets = sorted(
        (users[p.pk], p.wallet.points, p.wallet.gems) for p in Player.objects.filter(label=label, wallet__isnull=False)
    )
    facts = sorted(
        (users[e.player_id], names[e.payload["mission_id"]], e.payload["run"])
        for e in Event.objects.filter(label=label, type="mission_completed")
    )
    return {"documents": documents, "runs": states, "wallets": wallets, "facts": facts}


def test_the_lean_count_of_held_runs_ends_where_counting_event_by_event_does(tenant_a, tenant_b, monkeypatch):
    split, lean = handler._Batch._split, handler._held_count
    leaned: list[int] = []

    def one_way(batch, matches, state):
        held, rest = split(batch, matches, state)
        return ([], held + rest) if batch.label_id == tenant_b.label.pk else (held, rest)

    def counted(matches, state, conf):
        leaned.append(len(matches))
        return lean(matches, state, conf)

    monkeypatch.setattr(handler._Batch, "_split", one_way)
    monkeypatch.setattr(handler, "_held_count", counted)
    _scenario(tenant_b)  # every match counted event by event
    assert leaned == []
    _scenario(tenant_a)
    assert sum(leaned) >= 20  # most of the later batches' matches took the lean count
    lean_way, event_way = _outcome(tenant_a), _outcome(tenant_b)
    assert lean_way == event_way
    runs = {(name, user, cycle, run): state for name, user, cycle, run, state, *_ in event_way["runs"]}
    assert runs[("count", "shared-player", "", 1)] == "claimed"
    assert runs[("two tasks", "shared-player", "", 1)] == "completed"  # its claim is still to come
    assert runs[("opt-in", "shared-player", "", 1)] == "in_progress"  # 13:00 and later came past the time limit
    assert event_way["documents"]["shared-player"]["opt-in:"]["p"] == {"opt-in/0": "5"}
    assert [(n, r) for u, n, r in event_way["facts"] if u == "shared-player" and n == "again"] == [
        ("again", 1), ("again", 2), ("again", 3)]  # fmt: skip
