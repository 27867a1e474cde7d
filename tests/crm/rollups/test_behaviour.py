"""The `behaviour` leaf: windows of days, validation, and Python (`tree_matches`) agreeing with SQL (`players_query`)
over random behaviours, windows, comparisons, players and roll-ups, players with no roll-up row included."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm.conditions import TreeError, player_states, players_query, tree_describe, tree_matches, tree_validate
from crm.conditions.behaviour import BehaviourLeaf, window_days
from crm.models import Rollup
from crm.services.rollups import rollup_series_rebuild, rollup_spec_ensure
from tests.factories import PlayerFactory

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 4, 10, 0, tzinfo=dt.UTC)  # a Wednesday
TODAY = NOW.date()
TODAY_REAL = dt.datetime.now(dt.UTC).date()  # validation reads the clock: the window must fit from today on


@pytest.mark.parametrize(
    ("window", "today", "days"),
    [
        ({"last_days": 1}, "2026-03-04", ("2026-03-04", "2026-03-04")),
        ({"last_days": 30}, "2026-03-04", ("2026-02-03", "2026-03-04")),
        ({"last_days": 365}, "2026-03-04", ("2025-03-05", "2026-03-04")),
        ({"previous": "day"}, "2026-03-01", ("2026-02-28", "2026-02-28")),
        ({"previous": "week"}, "2026-03-04", ("2026-02-23", "2026-03-01")),  # Monday to Sunday
        ({"previous": "week"}, "2026-03-02", ("2026-02-23", "2026-03-01")),  # on a Monday
        ({"previous": "week"}, "2026-03-01", ("2026-02-16", "2026-02-22")),  # on a Sunday
        ({"previous": "month"}, "2026-03-31", ("2026-02-01", "2026-02-28")),
        ({"previous": "month"}, "2024-03-01", ("2024-02-01", "2024-02-29")),
        ({"previous": "month"}, "2026-01-15", ("2025-12-01", "2025-12-31")),
        ({"from": "2026-01-01", "to": "2026-01-31"}, "2026-03-04", ("2026-01-01", "2026-01-31")),
    ],
)
def test_windows_are_whole_days(window, today, days):
    first, last = window_days(window, today=dt.date.fromisoformat(today))
    assert (first.isoformat(), last.isoformat()) == days


def _leaf(**behaviour) -> dict:
    op = behaviour.pop("op", "gte")
    value = behaviour.pop("value", 1)
    return {"behaviour": {"event_type": "deposit", "window": {"last_days": 30}, **behaviour}, "op": op, "value": value}


@pytest.mark.parametrize(
    ("leaf", "errors"),
    [
        (_leaf(event_type="deposits"),
         {"conditions.behaviour.event_type": ['Unknown event type "deposits"; did you mean "deposit"?']}),
        (_leaf(measure="sum"), {"conditions.behaviour.field": ["Choose the number field to add up."]}),
        (_leaf(measure="count", field="deposit_amount"),
         {"conditions.behaviour.field": ["A count counts events: it takes no field."]}),
        (_leaf(measure="max", field="deposit_method"),
         {"conditions.behaviour.field": ["deposit_method is a text: only a number can be measured."]}),
        (_leaf(where=[{"field": "deposit_amount", "op": "contains", "value": "1"}]),
         {"conditions.behaviour.where": ["Condition 1: contains searches a text; deposit_amount is a number."]}),
        (_leaf(window={"last_days": 366}),
         {"conditions.behaviour.window": ["last_days is a whole number of days from 1 to 365."]}),
        (_leaf(window={"previous": "year"}), {"conditions.behaviour.window": ["previous is one of day, week, month."]}),
        (_leaf(window={"from": "2020-01-01", "to": "2020-01-31"}),
         {"conditions.behaviour.window": [f"A window reaches at most 365 days back (from {TODAY_REAL - dt.timedelta(days=365)})."]}),
        (_leaf(op="contains"),
         {"conditions.op": ["Compare with one of eq, ne, gt, gte, lt, lte, between."]}),
        (_leaf(op="between", value=[5, 1]),
         {"conditions.value": ["The first value (5) must not be more than the second (1)."]}),
        (_leaf(value="many"), {"conditions.value": ["Enter a number."]}),
    ],
)  # fmt: skip
def test_a_bad_behaviour_is_refused_naming_the_place(tenant_a, leaf, errors):
    with pytest.raises(TreeError) as caught:
        tree_validate(leaf, label_id=tenant_a.label.pk)

    assert set(caught.value.errors) == set(errors)
    for path, messages in errors.items():
        if messages is not None:
            assert caught.value.errors[path] == messages


def test_a_good_behaviour_passes_and_reads_as_words(tenant_a):
    leaf = _leaf(measure="sum", field="deposit_amount", where=[{"field": "deposit_method", "op": "eq", "value": "card"}],
                 window={"previous": "week"}, op="between", value=[10, 100])  # fmt: skip

    tree_validate({"all": [leaf]}, label_id=tenant_a.label.pk)

    assert tree_describe(leaf, label_id=tenant_a.label.pk) == (
        "Sum of deposit_amount of deposit events where deposit_method = card last week between 10 and 100"
    )


# --- Python == SQL ---------------------------------------------------------------------------------------------------

PLAYERS = 6
ops = st.sampled_from(["eq", "ne", "gt", "gte", "lt", "lte", "between"])
small = st.sampled_from([0, 1, 2, 3, 5, 7.5, 10, 12.25])
# A fixed window is validated against the real today: it may start at most 365 days before it.
FIXED_BACK = max(0, (TODAY - (TODAY_REAL - dt.timedelta(days=365))).days)
# Windows up to 365 days back; days of history up to 400 days back, so a window's edges fall before, on and after
# a player's days (the running totals' binary search at both ends).
window = st.one_of(
    st.builds(lambda n: {"last_days": n}, st.one_of(st.integers(1, 45), st.integers(1, 365))),
    st.builds(lambda u: {"previous": u}, st.sampled_from(["day", "week", "month"])),
    st.builds(
        lambda a, n: {"from": (TODAY - dt.timedelta(days=a)).isoformat(),
                      "to": (TODAY - dt.timedelta(days=a) + dt.timedelta(days=n)).isoformat()},
        st.one_of(st.integers(0, 40), st.integers(0, FIXED_BACK)), st.integers(0, 60),
    ),
)  # fmt: skip


@st.composite
def leaf(draw) -> dict:
    measure = draw(st.sampled_from(["count", "sum", "min", "max"]))
    behaviour = {"event_type": "deposit", "measure": measure, "window": draw(window)}
    if measure != "count":
        behaviour["field"] = "deposit_amount"
    op = draw(ops)
    value = sorted([draw(small), draw(small)]) if op == "between" else draw(small)
    return {"behaviour": behaviour, "op": op, "value": value}


trees = st.one_of(
    leaf(),
    st.builds(lambda a: {"all": [a]}, leaf()),
    st.builds(lambda a: {"not": a}, leaf()),
    st.builds(lambda a, b: {"any": [a, b]}, leaf(), leaf()),
    st.builds(lambda a, b: {"all": [a, {"not": b}]}, leaf(), leaf()),
    st.builds(lambda a, b: {"all": [a, b]}, leaf(), leaf()),  # leaves under the root's all: joined, not hashed
)
# Per player, a few days of deposits: (days ago, amounts of that day).
histories = st.lists(
    st.lists(st.tuples(st.one_of(st.integers(-1, 45), st.integers(-1, 400)), st.lists(small, min_size=1, max_size=3)),
             max_size=6),
    min_size=PLAYERS, max_size=PLAYERS,
)  # fmt: skip


def _write(label_id: int, players: list[int], history: list) -> None:
    counts = rollup_spec_ensure(label_id=label_id, behaviour={"event_type": "deposit", "measure": "count"})
    sums = rollup_spec_ensure(
        label_id=label_id, behaviour={"event_type": "deposit", "measure": "sum", "field": "deposit_amount"}
    )
    Rollup.objects.filter(spec__in=[counts, sums]).delete()
    rows = []
    for pid, days in zip(players, history, strict=True):
        seen = set()
        for ago, amounts in days:
            day = TODAY - dt.timedelta(days=ago)
            if day in seen:
                continue
            seen.add(day)
            values = [Decimal(str(a)) for a in amounts]
            rows.append(Rollup(spec=counts, player_id=pid, day=day, count=len(values), sum=0))
            rows.append(Rollup(spec=sums, player_id=pid, day=day, count=len(values), sum=sum(values),
                               min=min(values), max=max(values)))  # fmt: skip
    Rollup.objects.bulk_create(rows)
    rollup_series_rebuild(spec_ids=[counts.pk, sums.pk])  # the running totals, as the migration's backfill builds them


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tree=trees, history=histories)
def test_python_and_sql_pick_the_same_players(tenant_a, tree, history):
    label_id = tenant_a.label.pk
    players = [tenant_a.player.pk] + [
        PlayerFactory(brand=tenant_a.brand, label=tenant_a.label).pk for _ in range(PLAYERS - 1)
    ]
    with transaction.atomic():
        _write(label_id, players, history)
        tree_validate(tree, label_id=label_id)

        sql, params = players_query(tree, label_id=label_id, now=NOW)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            every = {r[0] for r in cursor.fetchall()}
            by_sql = every & set(players)
            # The count: for a tree of one leaf, asked of the leaf (counted from the roll-ups, no players scanned).
            cursor.execute(*players_query(tree, label_id=label_id, now=NOW, count=True))
            counted = cursor.fetchone()[0]
        states = player_states(label_id=label_id, player_ids=players, tree=tree, now=NOW)
        by_python = {pid for pid, state in states.items() if tree_matches(tree, state=state, now=NOW)}
        narrowed, more = players_query(tree, label_id=label_id, now=NOW, player_ids=players[:2])
        with connection.cursor() as cursor:
            cursor.execute(narrowed, more)
            by_sql_narrowed = {r[0] for r in cursor.fetchall()}
        # The narrowed form (one primary-key range per player), as a membership check would use it.
        by_leaf, by_leaf_python = [], []
        for node in _leaves(tree):
            leaf_sql, leaf_params = BehaviourLeaf().sql(node, label_id, NOW, player_ids=players)
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT p.id FROM crm_player p WHERE p.id = ANY(%s) AND {leaf_sql}",  # noqa: S608
                    [players, *leaf_params],
                )
                by_leaf.append({r[0] for r in cursor.fetchall()})
            by_leaf_python.append({pid for pid, s in states.items() if tree_matches(node, state=s, now=NOW)})
        transaction.set_rollback(True)

    assert by_sql == by_python
    assert counted == len(every)
    assert by_sql_narrowed == by_python & set(players[:2])
    assert by_leaf == by_leaf_python


def _leaves(tree: dict) -> list[dict]:
    if "behaviour" in tree:
        return [tree]
    if "not" in tree:
        return _leaves(tree["not"])
    return [leaf for child in tree.get("all", tree.get("any", [])) for leaf in _leaves(child)]


def test_a_count_of_zero_and_a_count_below_n_include_players_with_no_rows(tenant_a):
    other = PlayerFactory(brand=tenant_a.brand, label=tenant_a.label).pk
    _write(tenant_a.label.pk, [tenant_a.player.pk, other], [[(0, [5, 5])], []])
    none = {"behaviour": {"event_type": "deposit", "window": {"last_days": 7}}, "op": "eq", "value": 0}
    few = {**none, "op": "lt", "value": 2}
    lowest = {"behaviour": {"event_type": "deposit", "measure": "min", "field": "deposit_amount",
                            "window": {"last_days": 7}}, "op": "ne", "value": 5}  # fmt: skip

    def members(tree) -> set[int]:
        sql, params = players_query(tree, label_id=tenant_a.label.pk, now=NOW)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return {r[0] for r in cursor.fetchall()}

    assert members(none) == {other}
    assert members(few) == {other}
    assert members({**few, "value": 3}) == {tenant_a.player.pk, other}
    assert members(lowest) == {other}  # no deposit: no min, and "not 5" holds on it
