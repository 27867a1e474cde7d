"""Locked and opt-in missions in the missions handler: a player with no way into one (no run of it, not unlocked) is
dropped before anything reads a row for it (`_State.gates_load`, `gate_open`), and the result is what the handler
finds run by run (`run_of`) when nothing is dropped first."""

from __future__ import annotations

import datetime as dt

import pytest

from gamification.handlers import missions as handler
from gamification.models import Level, PlayerMission
from gamification.services.missions import mission_opt_in
from gamification.services.wallet import wallet_adjust
from tests.factories import PlayerFactory
from tests.gamification.mission_helpers import bet, event, feed, mission_make

pytestmark = pytest.mark.django_db

BEFORE = dt.datetime(2026, 1, 5, 11, 0, tzinfo=dt.UTC)  # the bets are at 12:00


@pytest.fixture
def wanted(monkeypatch):
    """The (player, mission, cycle) keys whose rows the handler reads."""
    keys: list[tuple[int, int, str]] = []
    rows_load = handler._State._rows_load

    def spy(self, cursor, wanted, missions):
        keys.extend(wanted)
        return rows_load(self, cursor, wanted, missions)

    monkeypatch.setattr(handler._State, "_rows_load", spy)
    return keys


def test_each_player_counts_only_toward_the_gated_missions_they_have_a_way_into(tenant_a, gates, wanted):
    players = {u: PlayerFactory(brand=tenant_a.brand, label=tenant_a.label, user_ext_id=u) for u in "bcd"}
    players["a"] = tenant_a.player  # user "shared-player"
    users = {"a": "shared-player", "b": "b", "c": "c", "d": "d"}
    gold = Level.objects.create(label=tenant_a.label, name="Gold", required_points=100)
    first = mission_make(tenant_a.label, name="First", tasks=[{"target": 3}], position=1)
    missions = {
        "opt-in": mission_make(tenant_a.label, name="Opt-in", tasks=[{"target": 2}], requires_opt_in=True),
        "level": mission_make(tenant_a.label, name="Level", tasks=[{"target": 2}], type="locked", unlock_level=gold),
        "after": mission_make(tenant_a.label, name="After", tasks=[{"target": 1}], type="locked", unlock_mission=first),
        "deposit": mission_make(
            tenant_a.label, name="Deposit", tasks=[{"target": 1}], type="locked", unlock_event_type="deposit",
            unlock_event_conditions=[{"field": "deposit_amount", "op": "gte", "value": 50}],
        ),
    }  # fmt: skip
    mission_opt_in(player=players["a"], mission=missions["opt-in"], now=BEFORE)
    # b reaches the unlock level; its fact is not applied, so b has no row of "Level": the wallet's level opens it
    wallet_adjust(player=players["b"], currency="points", amount=100, source="manual", key="lift")
    feed(tenant_a.label, [event("deposit", {"deposit_amount": 60}, user="d")])

    feed(tenant_a.label, [bet(user=users[p]) for p in "abcd" for _ in range(2)] + [bet(user="c")])
    feed(tenant_a.label, [bet(user=users[p]) for p in "abcd"])

    rows = PlayerMission.objects.filter(mission__in=[first, *missions.values()])
    by_pk = {m.pk: name for name, m in missions.items()} | {first.pk: "first"}
    names = {p.pk: u for u, p in players.items()}
    states = sorted((names[r.player_id], by_pk[r.mission_id], r.state) for r in rows)
    assert states == [
        ("a", "after", "available"),  # unlocked by completing "First" in the last batch: no bet since
        ("a", "first", "claimed"),
        ("a", "opt-in", "claimed"),
        ("b", "after", "available"),
        ("b", "first", "claimed"),
        ("b", "level", "claimed"),
        ("c", "after", "claimed"),  # "First" completed in the first batch of bets, "After" in the second
        ("c", "first", "claimed"),
        ("d", "after", "available"),
        ("d", "deposit", "claimed"),
        ("d", "first", "claimed"),
    ]
    gated = {missions[name].pk for name in ("opt-in", "level", "after", "deposit")}
    read = sorted((names[p], by_pk[m]) for p, m, _ in wanted if m in gated)
    assert ("a", "opt-in") in read  # a's opt-in run, before the document held it
    if gates == "gated":  # only the runs a player has a way into are looked at
        assert set(read) <= {("a", "opt-in"), ("b", "level"), ("c", "after"), ("d", "deposit")}
    else:  # every bet's player, for every gated mission it counts toward
        assert ("b", "opt-in") in read
        assert ("a", "level") in read
