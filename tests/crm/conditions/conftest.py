"""Helpers of the condition-tree tests: a label in Malta's time zone, players with chosen state, and `judge`, which
asks the Python evaluator and the SQL compiler the same question and fails if they disagree."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection

from crm.conditions import player_states, players_query, tree_matches, tree_validate
from crm.models import PlayerAggregate
from gamification.models import Wallet
from tests.factories import BrandFactory, LabelFactory, PlayerFactory

NOW = dt.datetime(2026, 3, 1, 10, 30, tzinfo=dt.UTC)  # 11:30 in Malta, a Sunday


@pytest.fixture
def label(db):
    return LabelFactory(name="Conditions", time_zone="Europe/Malta")


@pytest.fixture
def brand(label):
    return BrandFactory(label=label, ext_brand_id="casino-MT", name="Casino")


@pytest.fixture
def make_player(label, brand):
    """A player of the label; `aggregate={...}` / `wallet={...}` also create those rows."""

    def make(*, aggregate=None, wallet=None, **fields):
        fields.setdefault("user_country", "")
        fields.setdefault("core_user_language", "")
        fields.setdefault("core_username", "")
        player = PlayerFactory(label=label, brand=brand, **fields)
        if aggregate is not None:
            PlayerAggregate.objects.create(player=player, label=label, **aggregate)
        if wallet is not None:
            Wallet.objects.create(player=player, label=label, **wallet)
        return player

    return make


def sql_ids(tree, label_id, now=NOW, player_ids=None) -> set[int]:
    sql, params = players_query(tree, label_id=label_id, now=now, player_ids=player_ids)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {row[0] for row in cursor.fetchall()}


@pytest.fixture
def judge(label):
    """judge(tree, player) -> whether the player matches; asserts that Python and SQL agree (and the tree is valid)."""

    def decide(tree, player, now=NOW) -> bool:
        tree_validate(tree, label_id=label.pk)
        state = player_states(label_id=label.pk, player_ids=[player.pk])[player.pk]
        in_python = tree_matches(tree, state=state, now=now)
        in_sql = player.pk in sql_ids(tree, label.pk, now, player_ids=[player.pk])
        assert in_python == in_sql, f"Python says {in_python}, SQL says {in_sql} for {tree}"
        return in_python

    return decide


def leaf(field, op, value=None):
    node = {"field": field, "op": op}
    if value is not None:
        node["value"] = value
    return node


D = Decimal
