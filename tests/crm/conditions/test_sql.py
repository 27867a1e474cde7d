"""The SQL: values as parameters only, the label filter always, only the joins a tree needs; pluggable leaves."""

from __future__ import annotations

import pytest
from django.db import connection

from crm.conditions import LeafKind, player_states, players_query, register_leaf, tree_matches, tree_where
from crm.conditions.tree import LEAF_KINDS, TreeError, tree_describe, tree_validate
from tests.crm.conditions.conftest import NOW, leaf, sql_ids


def test_values_are_parameters_never_sql(label, make_player):
    evil = "x'); DROP TABLE crm_player; --"
    tree = {
        "any": [leaf("core_username", "eq", evil), leaf("custom.secret_name", "eq", evil), leaf("markers", "has", evil)]
    }
    sql, params = tree_where(tree, label_id=label.pk, now=NOW)
    assert "DROP" not in sql
    assert "secret_name" not in sql
    assert params.count(evil) == 3
    player = make_player(core_username=evil)
    assert sql_ids(tree, label.pk) == {player.pk}


@pytest.mark.parametrize(
    ("tree", "joins"),
    [
        (leaf("user_country", "eq", "MT"), []),
        ({"all": [leaf("user_country", "eq", "MT"), leaf("custom.x", "eq", 1), leaf("markers", "is_set")]}, []),
        (leaf("aggregate.deposit_count", "gte", 1), ["crm_playeraggregate"]),
        (leaf("gamification.points", "gte", 1), ["gamification_wallet"]),
        (leaf("gamification.control_group", "is_true"), []),
        (leaf("brand", "eq", "x"), ["backoffice_brand"]),
        ({"any": [leaf("brand", "eq", "x"), {"not": leaf("aggregate.bet_sum", "gt", 1)},
                  leaf("gamification.level", "in", [1])]},
         ["crm_playeraggregate", "gamification_wallet", "backoffice_brand"]),
    ],
)  # fmt: skip
def test_only_the_joins_the_tree_needs(label, tree, joins):
    sql, _ = players_query(tree, label_id=label.pk, now=NOW)
    assert [t for t in ("crm_playeraggregate", "gamification_wallet", "backoffice_brand") if t in sql] == joins
    assert sql.count("JOIN") == len(joins)


def test_the_label_filter_is_always_applied(tenant_a, tenant_b):
    for tree in ({"all": []}, leaf("user_country", "eq", "MT"), {"not": {"any": []}}):
        sql, params = players_query(tree, label_id=tenant_a.label.pk, now=NOW)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            assert [row[0] for row in cursor.fetchall()] == [tenant_a.player.pk]
    # Another label's player asked by id is not there.
    assert sql_ids({"all": []}, tenant_a.label.pk, player_ids=[tenant_b.player.pk]) == set()
    assert player_states(label_id=tenant_a.label.pk, player_ids=[tenant_b.player.pk]) == {}


def test_count_and_narrowing_to_ids(label, make_player):
    players = [make_player(user_country=c) for c in ("MT", "MT", "DE")]
    tree = leaf("user_country", "eq", "MT")
    sql, params = players_query(tree, label_id=label.pk, now=NOW, count=True)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        assert cursor.fetchone() == (2,)
    assert sql_ids(tree, label.pk, player_ids=[players[1].pk, players[2].pk]) == {players[1].pk}
    assert sql_ids(tree, label.pk, player_ids=[]) == set()


class InList:
    """A test leaf kind: {"in_list": [ids]} matches those players; `describe` and `validate` are plain."""

    def __init__(self):
        self.loads = []

    def validate(self, node, label_id, path):
        ok = isinstance(node["in_list"], list) and all(isinstance(i, int) for i in node["in_list"])
        return None if ok else {f"{path}.in_list": ["Expected a list of player ids."]}

    def sql(self, node, label_id, now):
        return "p.id = ANY(%s::bigint[])", [node["in_list"]]

    def load(self, nodes, label_id, player_ids, now):
        self.loads.append((len(nodes), sorted(player_ids)))
        return {pid: {repr(n): pid in n["in_list"] for n in nodes} for pid in player_ids}

    def matches(self, node, state, now):
        return state[repr(node)]

    def describe(self, node, label_id):
        return f"One of {len(node['in_list'])} players"


@pytest.fixture
def in_list():
    kind = InList()
    register_leaf("in_list", kind)
    yield kind
    LEAF_KINDS.pop("in_list")


def test_a_registered_leaf_kind_is_validated_compiled_loaded_and_described(label, make_player, in_list):
    assert isinstance(in_list, LeafKind)
    a, b = make_player(user_country="MT"), make_player(user_country="MT")
    tree = {"all": [leaf("user_country", "eq", "MT"), {"not": {"in_list": [b.pk]}}]}
    tree_validate(tree, label_id=label.pk)
    with pytest.raises(TreeError) as caught:
        tree_validate({"any": [{"in_list": "x"}]}, label_id=label.pk)
    assert caught.value.errors == {"conditions.any[0].in_list": ["Expected a list of player ids."]}
    assert sql_ids(tree, label.pk) == {a.pk}
    states = player_states(label_id=label.pk, player_ids=[a.pk, b.pk], tree=tree, now=NOW)
    assert in_list.loads == [(1, sorted([a.pk, b.pk]))]  # one load for all the players
    assert [tree_matches(tree, state=states[p.pk], now=NOW) for p in (a, b)] == [True, False]
    assert len(in_list.loads) == 1  # already loaded
    lone = player_states(label_id=label.pk, player_ids=[b.pk])[b.pk]
    assert tree_matches({"in_list": [b.pk]}, state=lone, now=NOW)  # loaded on demand
    assert tree_describe(tree, label_id=label.pk) == "Country is MT and not (One of 1 players)"


def test_reserved_names_cannot_be_registered():
    with pytest.raises(ValueError, match="reserved"):
        register_leaf("all", InList())


def test_membership_is_a_primary_key_lookup(label, brand):
    """One player's membership reads that player's rows by primary key, never a scan of the label's players."""
    from crm.models import Player

    Player.objects.bulk_create(
        [Player(label=label, brand=brand, user_ext_id=f"m{i}", user_country="MT") for i in range(3000)]
    )
    player_id = Player.objects.filter(label=label).values_list("id", flat=True).first()
    tree = {"all": [leaf("user_country", "eq", "MT"), leaf("aggregate.deposit_count", "gte", 1),
                    leaf("gamification.points", "gt", 0)]}  # fmt: skip
    sql, params = players_query(tree, label_id=label.pk, now=NOW, player_ids=[player_id])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE crm_player")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Index Scan using crm_player_pkey on crm_player p" in plan
    assert "Seq Scan on crm_player" not in plan


@pytest.mark.parametrize(
    ("node", "sql"),
    [
        (leaf("aggregate.deposit_count", "gte", 1), "(a.deposit_count IS NOT NULL AND a.deposit_count >= %s)"),
        (leaf("gamification.points", "between", [1, 5]), "(w.points IS NOT NULL AND w.points BETWEEN %s AND %s)"),
        (leaf("aggregate.last_entry_point", "eq", "x"),
         "(a.last_entry_point IS NOT NULL AND (lower(a.last_entry_point) = lower(%s::text)))"),
        # 0 satisfies these: a player without the row is in, so the value is read as 0.
        (leaf("aggregate.deposit_count", "lt", 1), "(COALESCE(a.deposit_count, 0) < %s)"),
        (leaf("gamification.points", "between", [0, 5]), "(COALESCE(w.points, 0) BETWEEN %s AND %s)"),
    ],
)  # fmt: skip
def test_a_condition_false_without_the_joined_row_reads_the_row_as_a_person_would(label, node, sql):
    """Said so, PostgreSQL may turn the LEFT JOIN into an inner join (the hand-written form of the question)."""
    assert tree_where(node, label_id=label.pk, now=NOW)[0] == sql
