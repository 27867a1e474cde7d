"""The condition tree that segments, rules and the builder share: validation, field registry, Python evaluator and
SQL compiler. See docs/conditions.md for the format and the meaning of every operator."""

from crm.conditions.evaluate import PlayerState, player_states, tree_matches
from crm.conditions.fields import FieldDef, field_registry
from crm.conditions.sql import players_query, tree_where
from crm.conditions.tree import LeafKind, TreeError, register_leaf, tree_describe, tree_validate

__all__ = [
    "FieldDef",
    "LeafKind",
    "PlayerState",
    "TreeError",
    "field_registry",
    "player_states",
    "players_query",
    "register_leaf",
    "tree_describe",
    "tree_matches",
    "tree_validate",
    "tree_where",
]
