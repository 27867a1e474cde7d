"""A tree that cannot be used is refused with a human message at each bad place, named by its path."""

from __future__ import annotations

import pytest

from crm.conditions import TreeError, tree_validate
from crm.conditions.tree import LEAF_KINDS
from gamification.models import Level
from tests.crm.conditions.conftest import leaf

# The registered leaf kinds (behaviour, segment) are named too.
NOT_A_CONDITION = f"Not a condition: expected one of {', '.join(['all', 'any', 'not', 'field', *LEAF_KINDS])}."


def errors_of(tree, label) -> dict[str, list[str]]:
    with pytest.raises(TreeError) as caught:
        tree_validate(tree, label_id=label.pk)
    return caught.value.errors


def test_a_valid_tree_passes(label):
    tree = {"all": [leaf("user_country", "eq", "MT"), {"any": [leaf("aggregate.deposit_count", "gte", 1),
            {"not": leaf("markers", "has", "vip")}]}, leaf("custom.never_seen", "gt", 3)]}  # fmt: skip
    assert tree_validate(tree, label_id=label.pk) is None
    assert tree_validate({"all": []}, label_id=label.pk) is None
    assert tree_validate({}, label_id=label.pk) is None
    assert errors_of({"all": [{}]}, label) == {
        "conditions.all[0]": [NOT_A_CONDITION]
    }


def test_errors_name_the_path(label):
    tree = {"all": [leaf("user_country", "eq", "MT"), {"any": [leaf("aggregate.deposit_count", "gte", "one")]}]}
    assert errors_of(tree, label) == {"conditions.all[1].any[0].value": ['"one" is not a number.']}


def test_every_bad_place_is_reported(label):
    tree = {"any": [leaf("user_contry", "eq", "MT"), leaf("user_country", "gt", 3), {"not": leaf("x", "eq", 1)},
                    leaf("core_registration_date", "before", "2026-13-01"), 7]}  # fmt: skip
    assert errors_of(tree, label) == {
        "conditions.any[0].field": ['Unknown field "user_contry"; did you mean "user_country" (Country)?'],
        "conditions.any[1].op": [
            'Country cannot use "gt"; use one of eq, ne, in, not_in, contains, not_contains, starts_with, is_set, '
            "not_set."
        ],
        "conditions.any[2].not.field": ['Unknown field "x".'],
        "conditions.any[3].value": ['"2026-13-01" is not a date; write it as YYYY-MM-DD, e.g. 2026-01-31.'],
        "conditions.any[4]": ["Expected a condition or a group (an object)."],
    }


@pytest.mark.parametrize(
    ("node", "message"),
    [
        (leaf("user_country", "eq", ""), 'Enter a text (to test for an empty value use "is not set").'),
        (leaf("user_country", "in", []), "Enter a list of one or more values."),
        (
            leaf("core_account_status", "eq", "GONE"),
            '"GONE" is not one of ACTIVE, BLOCKED, SUSPENDED, BANNED, SELF_EXCLUDED, DEACTIVATED, PENDING, LOCKED, '
            "APPROVED.",
        ),
        (leaf("aggregate.deposit_count", "eq", 1.5), "1.5 is not a whole number."),
        (leaf("aggregate.deposit_count", "eq", True), "True is not a number."),
        (leaf("aggregate.deposit_sum", "between", [10, 5]), "The first value (10) must not be after the second (5)."),
        (leaf("aggregate.deposit_sum", "between", [10]), "Between needs two values: [from, to]."),
        (leaf("aggregate.deposit_sum", "gt", float("nan")), "nan is not a number."),
        (
            leaf("core_registration_date", "between", ["2026-02-01", "2026-01-01"]),
            "The first value (2026-02-01) must not be after the second (2026-01-01).",
        ),
        (leaf("core_registration_date", "after", "9999-12-31"), "A date between 1900-01-01 and 2199-12-31."),
        (leaf("core_registration_date", "within_last_days", 0), "A whole number of days from 1 to 36500."),
        (leaf("user_birthdate", "birthday_in_days", 400), "A whole number of days from 0 to 366."),
        (leaf("custom.tier", "eq", None), "A value is required."),
        (leaf("custom.tier", "eq", [1]), "Enter a text, a number or true/false."),
        (leaf("custom.tier", "contains", 5), 'Enter a text (to test for an empty value use "is not set").'),
        ({"field": "markers", "op": "is_set", "value": "vip"}, '"is set" takes no value.'),
    ],
)
def test_value_messages(label, node, message):
    assert errors_of({"all": [node]}, label) == {"conditions.all[0].value": [message]}


def test_level_values_must_be_levels_of_the_label(label):
    gold = Level.objects.create(label=label, name="Gold", required_points=100)
    assert tree_validate(leaf("gamification.level", "eq", gold.pk), label_id=label.pk) is None
    assert errors_of(leaf("gamification.level", "in", [gold.pk, gold.pk + 100]), label) == {
        "conditions.value": [f"{gold.pk + 100} is not a level of this label; its levels: Gold ({gold.pk})."]
    }


def test_a_missing_operator(label):
    assert errors_of({"field": "gamification.control_group"}, label) == {
        "conditions.op": ["Choose an operator for In gamification control group: one of is_true, is_false."]
    }


def test_group_shape(label):
    assert errors_of({"all": {"field": "x"}}, label) == {"conditions.all": ["Expected a list of conditions."]}
    assert errors_of({"all": [], "any": []}, label) == {
        "conditions": ["A group has exactly one key: all, any or not (found all, any)."]
    }
    assert errors_of({"what": 1}, label) == {"conditions": [NOT_A_CONDITION]}
    assert errors_of({"field": "user_country", "op": "eq", "value": "MT", "extra": 1}, label) == {
        "conditions": ["Unexpected key extra: a condition has field, op and value."]
    }


def test_depth_and_size_limits(label):
    deep = leaf("user_country", "eq", "MT")
    for _ in range(6):
        deep = {"not": deep}
    assert tree_validate(deep, label_id=label.pk) is None
    errors = errors_of({"all": [deep]}, label)
    assert errors == {"conditions.all[0].not.not.not.not.not": ["Groups nest at most 6 deep."]}
    many = {"any": [leaf("aggregate.deposit_count", "eq", n) for n in range(51)]}
    assert errors_of(many, label) == {"conditions": ["At most 50 conditions; this has 51."]}


def test_the_error_reads_as_one_sentence(label):
    with pytest.raises(TreeError, match=r"^conditions\.all\[0\]\.value: \"one\" is not a number\.$"):
        tree_validate({"all": [leaf("aggregate.bet_count", "gt", "one")]}, label_id=label.pk)
