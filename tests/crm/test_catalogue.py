"""The event catalogue: apps register their own facts (system types); each payload field has a kind."""

from __future__ import annotations

import datetime as dt
import inspect

import pytest

from crm import catalogue
from crm.catalogue import (
    CORE_TYPE_NAMES,
    CORE_TYPES,
    SYSTEM_TYPES,
    EventSpec,
    FieldInfo,
    LabelCatalogue,
    clean_event,
    integer,
    system_types_register,
    text64,
)
from gamification.facts import FACT_TYPES

NOW = dt.datetime(2026, 1, 5, 12, tzinfo=dt.UTC)


@pytest.fixture
def registered():
    """Names registered by a test, taken out of the catalogue again afterwards."""
    names: list[str] = []
    yield names
    for name in names:
        CORE_TYPES.pop(name, None)
        SYSTEM_TYPES.discard(name)
        CORE_TYPE_NAMES.discard(name)


def test_gamification_registers_its_facts_and_the_crm_catalogue_names_none_of_them():
    # The CRM's own facts (entering and leaving a segment, the pixel's conversions) are built in; gamification adds
    # its own.
    assert SYSTEM_TYPES - set(FACT_TYPES) == {"segment_entered", "segment_left", "affiliate_conversion"}
    assert set(FACT_TYPES) == {
        "level_changed", "balance_changed", "mission_completed", "badge_earned", "tournament_registered",
        "tournament_won", "tournament_lost", "store_item_purchased",
    }  # fmt: skip
    assert all(CORE_TYPES[name] is FACT_TYPES[name] for name in FACT_TYPES)
    assert SYSTEM_TYPES <= CORE_TYPE_NAMES  # a custom type cannot take a fact's name
    source = inspect.getsource(catalogue)
    assert not [name for name in FACT_TYPES if name in source]


def test_a_registered_fact_is_validated_like_a_core_type(registered):
    registered.append("jackpot_hit")
    system_types_register({"jackpot_hit": EventSpec(required={"amount": integer}, optional={"game": text64})})
    raw = {
        "event_id": "j1", "type": "jackpot_hit", "ext_brand_id": "b", "user_ext_id": "u",
        "occurred_at": "2026-01-05T11:00:00Z", "payload": {"amount": "many"},
    }  # fmt: skip
    assert clean_event(raw, {}, NOW) == (None, {"payload.amount": ["Expected an integer."]})
    event, errors = clean_event(raw | {"payload": {"amount": 5}}, {}, NOW)
    assert (event.payload, errors) == ({"amount": 5}, {})
    assert LabelCatalogue().fields("jackpot_hit") == {"amount": FieldInfo("integer"), "game": FieldInfo("string")}


def test_registering_the_same_facts_again_changes_nothing():
    before = (dict(CORE_TYPES), set(SYSTEM_TYPES), set(CORE_TYPE_NAMES))
    system_types_register(FACT_TYPES)
    assert (dict(CORE_TYPES), set(SYSTEM_TYPES), set(CORE_TYPE_NAMES)) == before


@pytest.mark.parametrize(
    ("types", "message"),
    [
        ({"deposit": EventSpec(required={"x": integer})}, "'deposit' is already in the catalogue"),
        ({"level_changed": EventSpec(required={"level_id": integer})}, "'level_changed' is already in the catalogue"),
        ({"profile_update": EventSpec()}, "'profile_update' is not an event type name"),
        ({"Bad-Name": EventSpec()}, "'Bad-Name' is not an event type name"),
        ({"odd_fact": EventSpec(required={"x": str})}, "The field 'x' has a parser of no known kind"),
    ],
)
def test_a_name_taken_or_a_field_of_unknown_kind_is_refused_and_registers_nothing(types, message):
    before = (dict(CORE_TYPES), set(SYSTEM_TYPES), set(CORE_TYPE_NAMES))
    with pytest.raises(ValueError, match=message):
        system_types_register({"fine_fact": EventSpec(required={"x": integer}), **types})
    assert (dict(CORE_TYPES), set(SYSTEM_TYPES), set(CORE_TYPE_NAMES)) == before


def test_fields_have_kinds_for_core_profile_custom_and_unknown_types():
    label = LabelCatalogue(active={"cashback_paid": [{"name": "amount", "type": "number", "required": True}]})
    bets = label.fields("sport_bet_settled")
    assert (bets["bet_amount"], bets["selections"], bets["is_live"]) == (
        FieldInfo("number"), FieldInfo("integer"), FieldInfo("boolean"),
    )  # fmt: skip
    assert bets["result"].choices == ("won", "lost", "void", "cashout", "half_won", "half_lost")
    assert bets["bet_amount"].numeric
    assert not bets["result"].numeric
    profile = label.fields("profile_update")
    assert (profile["user_birthdate"].kind, profile["markers"].kind, profile["core_user_language"].kind) == (
        "timestamp", "list", "string",
    )  # fmt: skip
    assert "SELF_EXCLUDED" in profile["core_account_status"].choices
    assert label.fields("cashback_paid") == {"amount": FieldInfo("number")}
    assert label.fields("deposits") is None
    assert LabelCatalogue(inactive=frozenset({"cashback_paid"})).fields("cashback_paid") is None
    assert "cashback_paid" in label.names()
    assert "level_changed" in label.names()


def test_a_custom_type_stored_with_malformed_fields_lists_only_the_well_formed_ones():
    odd = LabelCatalogue(active={"odd": [{"type": "number"}, "x", {"name": "ok", "type": "integer"}, {"name": "n"}]})
    assert odd.fields("odd") == {"ok": FieldInfo("integer")}
