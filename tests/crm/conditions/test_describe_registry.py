"""The builder's catalogue (field_registry) and trees in plain words (tree_describe)."""

from __future__ import annotations

from crm.conditions import field_registry, tree_describe
from crm.conditions.fields import FieldDef
from gamification.models import Level
from tests.crm.conditions.conftest import leaf


def test_registry_has_human_labels_and_ops_by_kind(label):
    registry = field_registry(label_id=label.pk)
    assert registry["gamification.control_group"] == FieldDef(
        key="gamification.control_group", label="In gamification control group", kind="boolean",
        ops=("is_true", "is_false"), group="Gamification",
    )  # fmt: skip
    assert registry["aggregate.deposit_count"].label == "Deposits (count)"
    assert registry["core_registration_date"].label == "Registration date"
    assert registry["user_email"].ops == ("is_set", "not_set")
    assert "birthday_in_days" in registry["user_birthdate"].ops
    assert "birthday_in_days" not in registry["core_registration_date"].ops
    assert ("BANNED", "Banned") in registry["core_account_status"].choices


def test_registry_lists_the_labels_levels_brands_and_custom_properties(label, brand, make_player, tenant_b):
    Level.objects.create(label=label, name="Gold", required_points=100)
    make_player(custom={"tier": "gold", "score": 3})
    make_player(custom={"tier": "silver", "vip": True, "score": 2.5})
    make_player(custom={"tier": 5})
    from crm.models import Player

    Player.objects.filter(pk=tenant_b.player.pk).update(custom={"other_label": 1})
    registry = field_registry(label_id=label.pk)
    assert [name for _, name in registry["gamification.level"].choices] == ["Gold"]
    assert registry["brand"].choices == (("casino-MT", "Casino (casino-MT)"),)
    custom = {k: (f.kind, f.label) for k, f in registry.items() if k.startswith("custom.")}
    assert custom == {
        "custom.score": ("number", "Custom property score"),
        "custom.tier": ("text", "Custom property tier"),
        "custom.vip": ("boolean", "Custom property vip"),
    }


def test_describe_in_plain_words(label):
    gold = Level.objects.create(label=label, name="Gold", required_points=100)
    tree = {"all": [leaf("user_country", "eq", "MT"), leaf("aggregate.deposit_count", "gte", 1)]}
    assert tree_describe(tree, label_id=label.pk) == "Country is MT and Deposits (count) is at least 1"
    tree = {"any": [
        {"all": [leaf("gamification.control_group", "is_false"), leaf("gamification.level", "eq", gold.pk)]},
        {"not": leaf("markers", "has", "vip")},
        leaf("aggregate.last_deposit_at", "within_last_days", 30),
        leaf("user_birthdate", "birthday_in_days", 0),
        leaf("core_account_status", "in", ["BANNED", "SELF_EXCLUDED"]),
        leaf("custom.tier", "is_true"),
        leaf("core_username", "contains", "bob"),
        leaf("aggregate.deposit_sum", "between", [10, 20.5]),
    ]}  # fmt: skip
    assert tree_describe(tree, label_id=label.pk) == (
        '(not in gamification control group and Level is Gold) or not (has marker "vip") or '
        "Last deposit is within the last 30 days or Birthday is today or Account status is one of Banned, "
        'Self Excluded or Custom property tier is true or Username contains "bob" or '
        "Deposits (sum) is between 10 and 20.5"
    )
    assert tree_describe({"all": []}, label_id=label.pk) == "everyone"
    assert tree_describe({}, label_id=label.pk) == "everyone"
    assert tree_describe({"any": []}, label_id=label.pk) == "nobody"


def test_describe_reads_unfinished_parts_as_a_question_mark(label):
    tree = {"all": [leaf("user_country", "eq", "MT"), {"field": "aggregate.deposit_count", "op": "between"},
                    {"any": 3}, "x", {"field": "nope", "op": "eq", "value": 1}]}  # fmt: skip
    assert tree_describe(tree, label_id=label.pk) == "Country is MT and ? and ? and ? and nope is 1"
