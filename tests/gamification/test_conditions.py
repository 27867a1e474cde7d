"""Conditions against the event catalogue (`catalogue_errors`): what events of a type can never match is named."""

from __future__ import annotations

import pytest

from crm.catalogue import LabelCatalogue
from gamification.conditions import catalogue_errors

CATALOGUE = LabelCatalogue(
    active={"spin_won": [{"name": "multiplier", "type": "integer", "required": True},
                         {"name": "at", "type": "timestamp", "required": False}]},
    inactive=frozenset({"old_promo"}),
)  # fmt: skip


def _conditions(event_type: str, *conditions: tuple) -> dict[str, list[str]]:
    listed = [{"field": f, "op": op, "value": v} for f, op, v in conditions]
    return catalogue_errors(CATALOGUE, event_type=event_type, conditions=listed)


@pytest.mark.parametrize(
    ("event_type", "condition"),
    [
        ("casino_bet", ("game_category", "eq", "slots")),
        ("casino_bet", ("game_category", "contains", "slot")),
        ("casino_bet", ("bet_amount", "gte", 1)),
        ("casino_bet", ("bet_amount", "in", [1, 2.5])),
        ("sport_bet_settled", ("result", "in", ["WON", "half_won"])),  # choices compare in any case, as ingest
        ("sport_bet_settled", ("is_live", "eq", True)),
        ("spin_won", ("multiplier", "gt", 9.5)),
        ("spin_won", ("multiplier", "eq", 10.0)),
        ("profile_update", ("core_account_status", "ne", "active")),
        ("balance_changed", ("currency", "eq", "gems")),  # a fact gamification registers
    ],
)
def test_conditions_that_can_match_pass(event_type, condition):
    assert _conditions(event_type, condition) == {}


@pytest.mark.parametrize(
    ("event_type", "condition", "message"),
    [
        ("casino_bet", ("game_catgory", "eq", "slots"),
         'casino_bet events have no field "game_catgory"; did you mean "game_category"?'),
        ("casino_bet", ("colour", "eq", "red"), 'casino_bet events have no field "colour".'),
        ("casino_bet", ("game_category", "gte", 1), "gte compares numbers; game_category is a text."),
        ("casino_bet", ("game_id", "eq", 102), 'game_id is a text: write the value in quotes ("102").'),
        ("casino_bet", ("bet_amount", "eq", "10"), 'bet_amount is a number; "10" is not.'),
        ("casino_bet", ("bet_amount", "in", [1, "2"]), 'bet_amount is a number; "2" is not.'),
        ("casino_bet", ("bet_amount", "contains", "1"), "contains searches a text; bet_amount is a number."),
        ("casino_bet", ("bet_amount", "eq", True), "bet_amount is a number; true is not."),
        ("spin_won", ("multiplier", "eq", 1.5), "multiplier is a whole number; 1.5 is not."),
        ("spin_won", ("at", "eq", "2026-01-01"), "at is a timestamp: a condition cannot test it."),
        ("sport_bet_settled", ("result", "eq", "win"),
         'result is one of won, lost, void, cashout, half_won, half_lost; "win" is not.'),
        ("sport_bet_settled", ("is_live", "ne", 1), "is_live is true or false; 1 is not."),
        ("profile_update", ("markers", "contains", "vip"), "markers is a list: a condition cannot test it."),
        ("profile_update", ("core_account_status", "eq", "ACTIVATED"),
         'core_account_status is one of ACTIVE, BLOCKED, SUSPENDED, BANNED, SELF_EXCLUDED, DEACTIVATED, PENDING, '
         'LOCKED, APPROVED; "ACTIVATED" is not.'),
    ],
)  # fmt: skip
def test_a_condition_that_can_never_match_is_named(event_type, condition, message):
    assert _conditions(event_type, condition) == {"conditions": [f"Condition 1: {message}"]}


def test_every_bad_condition_is_named_by_its_number():
    errors = _conditions("deposit", ("deposit_amount", "gte", 10), ("bonus", "eq", 1), ("deposit_code", "gt", 1))
    assert errors == {
        "conditions": [
            'Condition 2: deposit events have no field "bonus".',
            "Condition 3: gt compares numbers; deposit_code is a text.",
        ]
    }


@pytest.mark.parametrize(
    ("event_type", "message"),
    [
        ("deposits", 'Unknown event type "deposits"; did you mean "deposit"?'),
        ("spin_wn", 'Unknown event type "spin_wn"; did you mean "spin_won"?'),  # the label's custom type
        ("jackpot", 'Unknown event type "jackpot".'),
        ("old_promo", 'The event type "old_promo" is switched off: ingest refuses its events.'),
    ],
)
def test_an_unknown_or_switched_off_type_is_named_and_nothing_else_is_checked(event_type, message):
    errors = catalogue_errors(
        CATALOGUE, event_type=event_type, conditions=[{"field": "x", "op": "eq", "value": 1}], value_field="y"
    )
    assert errors == {"event_type": [message]}


def test_the_summed_or_scored_field_must_be_a_number_of_the_type():
    def value_errors(field, use="added up"):
        return catalogue_errors(CATALOGUE, event_type="casino_win", conditions=[], value_field=field, value_use=use)

    assert value_errors("win_amount") == {}
    assert value_errors("win_amont") == {
        "value_field": ['casino_win events have no field "win_amont"; did you mean "win_amount"?']
    }
    assert value_errors("game_name", "scored") == {"value_field": ["game_name is a text: only a number can be scored."]}


def test_conditions_bad_in_shape_are_left_to_the_shape_check_and_no_type_checks_nothing():
    assert catalogue_errors(CATALOGUE, event_type="casino_bet", conditions=[{"field": "colour"}]) == {}
    assert catalogue_errors(CATALOGUE, event_type="casino_bet", conditions="not a list") == {}
    assert catalogue_errors(CATALOGUE, event_type="", conditions=[{"field": "x", "op": "eq", "value": 1}]) == {}
