"""What each operator means, on set and unset values, asked of the Python evaluator and of SQL at once (`judge`
fails if they disagree). The label is in Malta (UTC+1 in March); NOW is Sunday 2026-03-01 11:30 in Malta."""

from __future__ import annotations

import datetime as dt

import pytest

from crm.models import AccountStatus
from gamification.models import Level
from tests.crm.conditions.conftest import D, leaf

MALTA = dt.timezone(dt.timedelta(hours=1))


def at(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=MALTA)


# --- text ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "value", "on_mt", "on_unset"),
    [
        ("eq", "mt", True, False),
        ("eq", "DE", False, False),
        ("ne", "mt", False, True),
        ("ne", "DE", True, True),
        ("in", ["de", "Mt"], True, False),
        ("not_in", ["de", "Mt"], False, True),
        ("not_in", ["de"], True, True),
        ("contains", "t", True, False),
        ("not_contains", "t", False, True),
        ("starts_with", "m", True, False),
        ("starts_with", "t", False, False),
        ("is_set", None, True, False),
        ("not_set", None, False, True),
    ],
)
def test_text_ops_are_case_insensitive_and_unset_only_satisfies_the_negative_ones(
    judge, make_player, op, value, on_mt, on_unset
):
    malta, unset = make_player(user_country="MT"), make_player(user_country="")
    assert judge(leaf("user_country", op, value), malta) is on_mt
    assert judge(leaf("user_country", op, value), unset) is on_unset


def test_text_contains_treats_percent_and_underscore_as_plain_characters(judge, make_player):
    player = make_player(core_username="Ann_50%")
    assert judge(leaf("core_username", "contains", "n_5"), player)
    assert judge(leaf("core_username", "contains", "0%"), player)
    assert not judge(leaf("core_username", "contains", "%%"), player)
    assert not judge(leaf("core_username", "starts_with", "_"), player)
    assert not judge(leaf("core_username", "contains", "nn5"), player)


def test_non_ascii_text_compares_case_insensitively(judge, make_player):
    player = make_player(user_last_name="ÖZTÜRK \u03a3")  # capital sigma
    assert judge(leaf("user_last_name", "eq", "öztürk \u03c3"), player)
    assert judge(leaf("user_last_name", "contains", "Türk"), player)


def test_choice_field_takes_its_choices(judge, make_player):
    blocked = make_player(core_account_status=AccountStatus.BLOCKED)
    assert judge(leaf("core_account_status", "ne", "ACTIVE"), blocked)
    assert judge(leaf("core_account_status", "in", ["blocked", "BANNED"]), blocked)
    assert not judge(leaf("core_account_status", "eq", "ACTIVE"), blocked)


def test_brand_is_the_ext_brand_id(judge, make_player):
    player = make_player()
    assert judge(leaf("brand", "eq", "CASINO-mt"), player)
    assert not judge(leaf("brand", "eq", "casino"), player)


def test_email_and_phone_are_only_set_or_not(judge, make_player):
    with_email = make_player(user_email="a@example.com")
    without = make_player()
    assert judge(leaf("user_email", "is_set"), with_email)
    assert not judge(leaf("user_email", "not_set"), with_email)
    assert judge(leaf("user_email", "not_set"), without)
    assert judge(leaf("user_phone", "not_set"), with_email)


def test_last_entry_point_without_an_aggregate_row_is_unset(judge, make_player):
    none = make_player()
    lobby = make_player(aggregate={"last_entry_point": "Lobby"})
    assert judge(leaf("aggregate.last_entry_point", "not_set"), none)
    assert judge(leaf("aggregate.last_entry_point", "ne", "lobby"), none)
    assert judge(leaf("aggregate.last_entry_point", "eq", "LOBBY"), lobby)


# --- numbers -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "value", "on_three", "on_no_row"),
    [
        ("eq", 3, True, False),
        ("eq", 0, False, True),
        ("ne", 3, False, True),
        ("gt", 2, True, False),
        ("gt", 3, False, False),
        ("gte", 3, True, False),
        ("lt", 3, False, True),
        ("lte", 3, True, True),
        ("between", [3, 5], True, False),
        ("between", [0, 3], True, True),
        ("between", [4, 5], False, False),
    ],
)
def test_aggregate_counts_are_zero_without_a_row(judge, make_player, op, value, on_three, on_no_row):
    three, no_row = make_player(aggregate={"deposit_count": 3}), make_player()
    assert judge(leaf("aggregate.deposit_count", op, value), three) is on_three
    assert judge(leaf("aggregate.deposit_count", op, value), no_row) is on_no_row


def test_sums_compare_exactly(judge, make_player):
    player = make_player(aggregate={"deposit_sum": D("100.10")})
    assert judge(leaf("aggregate.deposit_sum", "eq", 100.1), player)
    assert judge(leaf("aggregate.deposit_sum", "gt", 100.09), player)
    assert not judge(leaf("aggregate.deposit_sum", "gt", 100.1), player)
    assert judge(leaf("aggregate.deposit_sum", "between", [100.1, 100.1]), player)


def test_nullable_integer_unset(judge, make_player):
    unset, seven = make_player(core_affiliate_id=None), make_player(core_affiliate_id=7)
    assert judge(leaf("core_affiliate_id", "not_set"), unset)
    assert not judge(leaf("core_affiliate_id", "lt", 100), unset)
    assert judge(leaf("core_affiliate_id", "ne", 7), unset)
    assert not judge(leaf("core_affiliate_id", "ne", 7), seven)
    assert judge(leaf("core_affiliate_id", "is_set"), seven)


def test_wallet_balances_are_zero_without_a_wallet(judge, make_player):
    none, rich = make_player(), make_player(wallet={"points": 500, "gems": 2})
    assert judge(leaf("gamification.points", "eq", 0), none)
    assert judge(leaf("gamification.points", "gte", 500), rich)
    assert judge(leaf("gamification.gems", "between", [1, 2]), rich)
    assert not judge(leaf("gamification.diamonds", "gt", 0), rich)


def test_level_without_a_wallet_is_the_default_level(judge, make_player, label):
    bronze = Level.objects.create(label=label, name="Bronze", required_points=0, is_default=True)
    gold = Level.objects.create(label=label, name="Gold", required_points=1000)
    none, golden = make_player(), make_player(wallet={"points_earned": 1500, "level": gold})
    assert judge(leaf("gamification.level", "eq", bronze.pk), none)
    assert judge(leaf("gamification.level", "ne", gold.pk), none)
    assert judge(leaf("gamification.level", "in", [gold.pk]), golden)
    assert judge(leaf("gamification.level", "not_in", [bronze.pk]), golden)


def test_level_without_a_default_level_is_unset(judge, make_player, label):
    gold = Level.objects.create(label=label, name="Gold", required_points=1000)
    none = make_player()
    assert not judge(leaf("gamification.level", "eq", gold.pk), none)
    assert judge(leaf("gamification.level", "ne", gold.pk), none)
    assert judge(leaf("gamification.level", "not_in", [gold.pk]), none)


# --- booleans ------------------------------------------------------------------------------------------------------


def test_booleans(judge, make_player):
    control = make_player(ach_gamification_in_control_group=True, core_is_sms_disabled_by_platform=True)
    other = make_player()
    assert judge(leaf("gamification.control_group", "is_true"), control)
    assert judge(leaf("gamification.control_group", "is_false"), other)
    assert not judge(leaf("core_is_sms_disabled_by_platform", "is_false"), control)
    assert judge(leaf("core_is_email_disabled_by_platform", "is_false"), control)


# --- dates ---------------------------------------------------------------------------------------------------------


def test_before_and_after_are_exclusive_days_in_the_labels_time_zone(judge, make_player):
    # 23:30 UTC on 14 Feb is already 15 Feb in Malta.
    late = make_player(core_registration_date=dt.datetime(2026, 2, 14, 23, 30, tzinfo=dt.UTC))
    assert judge(leaf("core_registration_date", "after", "2026-02-14"), late)
    assert not judge(leaf("core_registration_date", "before", "2026-02-15"), late)
    assert judge(leaf("core_registration_date", "before", "2026-02-16"), late)
    assert not judge(leaf("core_registration_date", "after", "2026-02-15"), late)
    assert judge(leaf("core_registration_date", "between", ["2026-02-15", "2026-02-15"]), late)
    assert not judge(leaf("core_registration_date", "between", ["2026-02-13", "2026-02-14"]), late)


def test_midnight_in_malta_belongs_to_the_new_day(judge, make_player):
    midnight = make_player(core_registration_date=at(2026, 2, 15, 0, 0))
    just_before = make_player(core_registration_date=at(2026, 2, 14, 23, 59, 59))
    assert judge(leaf("core_registration_date", "between", ["2026-02-15", "2026-02-20"]), midnight)
    assert not judge(leaf("core_registration_date", "between", ["2026-02-15", "2026-02-20"]), just_before)
    assert judge(leaf("core_registration_date", "before", "2026-02-15"), just_before)


def test_within_last_days_counts_today_as_the_first_day(judge, make_player):
    # NOW: 2026-03-01 11:30 Malta. The last 2 days: 28 Feb 00:00 Malta up to now.
    start = make_player(aggregate={"last_deposit_at": at(2026, 2, 28, 0, 0)})
    before = make_player(aggregate={"last_deposit_at": at(2026, 2, 27, 23, 59)})
    future = make_player(aggregate={"last_deposit_at": at(2026, 3, 1, 12, 0)})
    none = make_player()
    assert judge(leaf("aggregate.last_deposit_at", "within_last_days", 2), start)
    assert not judge(leaf("aggregate.last_deposit_at", "within_last_days", 2), before)
    assert not judge(leaf("aggregate.last_deposit_at", "within_last_days", 2), future)
    assert not judge(leaf("aggregate.last_deposit_at", "within_last_days", 2), none)
    assert judge(leaf("aggregate.last_deposit_at", "within_last_days", 3), before)


def test_more_than_days_ago_is_before_the_day_n_days_ago(judge, make_player):
    # 30 days before 1 March is 30 January: more than 30 days ago = before 30 January (Malta).
    jan29 = make_player(aggregate={"last_login_at": at(2026, 1, 29, 23, 59)})
    jan30 = make_player(aggregate={"last_login_at": at(2026, 1, 30, 0, 0)})
    never = make_player()
    assert judge(leaf("aggregate.last_login_at", "more_than_days_ago", 30), jan29)
    assert not judge(leaf("aggregate.last_login_at", "more_than_days_ago", 30), jan30)
    assert not judge(leaf("aggregate.last_login_at", "more_than_days_ago", 30), never)
    assert judge(leaf("aggregate.last_login_at", "not_set"), never)
    assert judge(leaf("aggregate.last_login_at", "more_than_days_ago", 0), jan30)


def test_birth_date_is_a_calendar_date(judge, make_player):
    # Stored at midnight UTC: its date is that date whatever the label's time zone.
    born = make_player(user_birthdate=dt.datetime(1990, 3, 1, tzinfo=dt.UTC))
    assert judge(leaf("user_birthdate", "before", "1990-03-02"), born)
    assert not judge(leaf("user_birthdate", "before", "1990-03-01"), born)
    assert judge(leaf("user_birthdate", "between", ["1990-03-01", "1990-03-01"]), born)
    assert judge(leaf("user_birthdate", "birthday_in_days", 0), born)
    assert not judge(leaf("user_birthdate", "birthday_in_days", 1), born)


def test_birthday_in_days_uses_the_labels_today(judge, make_player):
    born = make_player(user_birthdate=dt.datetime(1985, 3, 2, tzinfo=dt.UTC))
    # 23:30 UTC on 1 March is already 2 March in Malta.
    assert judge(leaf("user_birthdate", "birthday_in_days", 0), born, dt.datetime(2026, 3, 1, 23, 30, tzinfo=dt.UTC))
    assert judge(leaf("user_birthdate", "birthday_in_days", 1), born, dt.datetime(2026, 3, 1, 22, 30, tzinfo=dt.UTC))


def test_29_february_birthdays_count_on_28_february_in_other_years(judge, make_player):
    leapling = make_player(user_birthdate=dt.datetime(2000, 2, 29, tzinfo=dt.UTC))
    feb28_2027 = dt.datetime(2027, 2, 28, 12, 0, tzinfo=dt.UTC)
    feb28_2028, feb29_2028 = dt.datetime(2028, 2, 28, 12, tzinfo=dt.UTC), dt.datetime(2028, 2, 29, 12, tzinfo=dt.UTC)
    assert judge(leaf("user_birthdate", "birthday_in_days", 0), leapling, feb28_2027)
    assert not judge(leaf("user_birthdate", "birthday_in_days", 0), leapling, feb28_2028)
    assert judge(leaf("user_birthdate", "birthday_in_days", 0), leapling, feb29_2028)
    assert judge(leaf("user_birthdate", "birthday_in_days", 2), leapling, dt.datetime(2027, 2, 26, tzinfo=dt.UTC))


def test_unset_dates_match_only_not_set(judge, make_player):
    unset = make_player(core_registration_date=None)
    for op, value in [("before", "2030-01-01"), ("after", "1950-01-01"), ("between", ["1950-01-01", "2030-01-01"]),
                      ("within_last_days", 36500), ("more_than_days_ago", 0), ("is_set", None)]:  # fmt: skip
        assert not judge(leaf("core_registration_date", op, value), unset), op
    assert judge(leaf("core_registration_date", "not_set"), unset)
    assert not judge(leaf("user_birthdate", "birthday_in_days", 0), make_player(user_birthdate=None))


# --- markers -------------------------------------------------------------------------------------------------------


def test_markers(judge, make_player):
    vip, none = make_player(markers=["VIP", "high_roller"]), make_player(markers=[])
    assert judge(leaf("markers", "has", "vip"), vip)
    assert not judge(leaf("markers", "has_not", "vip"), vip)
    assert not judge(leaf("markers", "has", "high"), vip)
    assert judge(leaf("markers", "is_set"), vip)
    assert judge(leaf("markers", "not_set"), none)
    assert judge(leaf("markers", "has_not", "vip"), none)


# --- custom properties ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "tree", "expected"),
    [
        ("Gold", {"op": "eq", "value": "gold"}, True),
        ("Gold", {"op": "eq", "value": 5}, False),
        ("Gold", {"op": "ne", "value": 5}, True),
        ("5", {"op": "eq", "value": 5}, False),
        ("5", {"op": "gt", "value": 1}, False),
        (5, {"op": "eq", "value": 5.0}, True),
        (5, {"op": "eq", "value": "5"}, False),
        (5.5, {"op": "between", "value": [5.5, 6]}, True),
        (5, {"op": "contains", "value": "5"}, False),
        (5, {"op": "not_contains", "value": "5"}, True),
        (True, {"op": "is_true"}, True),
        (True, {"op": "eq", "value": True}, True),
        (True, {"op": "eq", "value": 1}, False),
        (1, {"op": "is_true"}, False),
        (False, {"op": "is_false"}, True),
        (False, {"op": "is_set"}, True),
        (0, {"op": "is_set"}, True),
        ("", {"op": "is_set"}, False),
        ("", {"op": "not_set"}, True),
        (None, {"op": "not_set"}, True),
        (None, {"op": "ne", "value": "x"}, True),
        (None, {"op": "is_false"}, False),
        ("Silver", {"op": "in", "value": ["gold", 3, "SILVER"]}, True),
        (3, {"op": "in", "value": ["gold", 3.0, True]}, True),
        (False, {"op": "in", "value": ["gold", 3.0, True]}, False),
        (False, {"op": "not_in", "value": ["gold", 3.0, True]}, True),
        ("Silverado", {"op": "starts_with", "value": "silver"}, True),
    ],
)
def test_custom_properties_compare_by_their_json_type(judge, make_player, value, tree, expected):
    player = make_player(custom={"tier": value} if value is not None else {"tier": None})
    assert judge({"field": "custom.tier", **tree}, player) is expected


def test_a_missing_custom_property_is_unset(judge, make_player):
    player = make_player(custom={"other": 1})
    assert judge(leaf("custom.tier", "not_set"), player)
    assert judge(leaf("custom.tier", "ne", 1), player)
    assert not judge(leaf("custom.tier", "lt", 1), player)


# --- groups --------------------------------------------------------------------------------------------------------


def test_groups(judge, make_player):
    player = make_player(user_country="MT", aggregate={"deposit_count": 1})
    mt, de = leaf("user_country", "eq", "MT"), leaf("user_country", "eq", "DE")
    assert judge({"all": []}, player)
    assert judge({}, player)  # an empty tree (a rule without an audience) is everyone
    assert not judge({"any": []}, player)
    assert judge({"any": [de, mt]}, player)
    assert not judge({"all": [de, mt]}, player)
    assert judge({"not": {"all": [de, mt]}}, player)
    assert judge({"not": {"not": mt}}, player)
    assert judge({"not": {"any": []}}, make_player())


def test_not_of_an_unset_value_is_the_negation(judge, make_player):
    unset = make_player(core_registration_date=None, core_affiliate_id=None)
    assert judge({"not": leaf("core_registration_date", "after", "2000-01-01")}, unset)
    assert judge({"not": leaf("core_affiliate_id", "eq", 1)}, unset)
    assert judge({"not": leaf("custom.x", "gt", 1)}, unset)
    assert judge({"not": leaf("custom.x", "contains", "a")}, unset)
    # No aggregate row, no wallet, no markers: the positive ops are false, so their negations true.
    assert judge({"not": leaf("aggregate.deposit_count", "gte", 1)}, unset)
    assert judge({"not": leaf("aggregate.last_entry_point", "eq", "lobby")}, unset)
    assert judge({"not": leaf("gamification.points", "between", [1, 5])}, unset)
    assert judge({"not": leaf("markers", "has", "vip")}, unset)
