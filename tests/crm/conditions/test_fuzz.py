"""Whatever JSON arrives as a tree, validation answers with TreeError naming places under `conditions` (never another
exception), and a tree it accepts compiles, runs and reads in words."""

from __future__ import annotations

from django.db import connection
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from crm.conditions import TreeError, players_query, tree_describe, tree_validate
from crm.conditions.fields import CUSTOM_OPS, FIELDS
from tests.crm.conditions.conftest import NOW

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(), st.text(max_size=12),
    st.sampled_from(["MT", "2026-02-30", "2026-01-01", "1899-12-31", "ACTIVE", "", "vip"]),
)  # fmt: skip
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12,
)
keys = st.sampled_from([*FIELDS, "custom.tier", "custom.", "custom.9x", "nope", ""])
ops = st.sampled_from([*CUSTOM_OPS, "before", "after", "within_last_days", "more_than_days_ago", "birthday_in_days",
                       "has", "has_not", "like", ""])  # fmt: skip
leafish = st.fixed_dictionaries(
    {"field": st.one_of(keys, json_values), "op": st.one_of(ops, json_values)},
    optional={"value": st.one_of(json_values, st.lists(scalars, min_size=2, max_size=2)), "extra": scalars},
)
treeish = st.recursive(
    st.one_of(leafish, json_values),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4).map(lambda xs: {"all": xs}),
        st.lists(inner, max_size=4).map(lambda xs: {"any": xs}),
        inner.map(lambda x: {"not": x}),
        st.dictionaries(st.sampled_from(["all", "any", "not", "field"]), inner, min_size=1, max_size=2),
    ),
    max_leaves=10,
)


def refusal(tree, label_id: int) -> dict | None:
    try:
        tree_validate(tree, label_id=label_id)
    except TreeError as error:
        return error.errors
    return None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tree=treeish)
def test_any_json_is_refused_by_path_or_compiles(label, tree):
    errors = refusal(tree, label.pk)
    if errors is not None:
        assert errors
        assert all(path.startswith("conditions") and messages for path, messages in errors.items())
        assert all(isinstance(m, str) and m for messages in errors.values() for m in messages)
        return
    event("accepted")
    sql, params = players_query(tree, label_id=label.pk, now=NOW, count=True)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        assert cursor.fetchone()[0] == 0  # the label has no players
    assert isinstance(tree_describe(tree, label_id=label.pk), str)
