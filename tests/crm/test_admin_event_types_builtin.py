"""The Event types page lists the built-in event types with their payload fields (name, type, required, description),
for staff of every label and role; the words come from crm.event_docs, the fields from crm.catalogue."""

from __future__ import annotations

import html
import re

import pytest
from django.urls import reverse

from backoffice.models import Role
from crm.catalogue import CORE_TYPES, PROFILE_FIELD_INFO, PROFILE_UPDATE, SYSTEM_TYPES, spec_fields
from crm.event_docs import builtin_types, partner_types, type_fields
from gamification.facts import FACT_TYPES

pytestmark = pytest.mark.django_db

LIST = "admin:crm_eventtype_changelist"


def _section(page: str, type_name: str) -> str:
    match = re.search(rf'<details[^>]*data-type="{type_name}".*?</details>', page, re.S)
    assert match, type_name
    return match.group()


def _rows(section: str) -> list[tuple[str, ...]]:
    """(field, type, required, description) of each row, as text."""
    rows = []
    for row in re.findall(r"<tr data-field=.*?</tr>", section, re.S):
        cells = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
        rows.append(tuple(html.unescape(re.sub(r"<[^>]+>|\s+", " ", c)).strip() for c in cells))
    return rows


@pytest.mark.parametrize("role", [Role.ADMIN, Role.MANAGER, Role.SUPPORT, Role.INTEGRATION_ENGINEER])
def test_every_role_of_either_label_sees_the_builtin_types_with_their_fields(
    role, tenant_a, tenant_b, staff_with_role, staff_client
):
    for tenant in (tenant_a, tenant_b):
        page = staff_client(staff_with_role(tenant.label, role)).get(reverse(LIST)).content.decode()
        listed = re.findall(r'<details[^>]*data-type="([a-z_]+)"', page)
        assert listed == [doc.name for doc in builtin_types()]
        assert set(listed) == {*CORE_TYPES, PROFILE_UPDATE}  # system types are in CORE_TYPES too
    casino_bet = _section(page, "casino_bet")
    assert "A bet on a casino game" in casino_bet
    assert "Required: bet_amount, game_id, game_name · 9 fields" in " ".join(casino_bet.split())
    assert _rows(casino_bet)[:3] == [
        ("bet_amount", "money amount (≥ 0)", "required", "Total bet amount (real + bonus), in the player's currency."),
        ("game_id", "text (at most 128)", "required", "Your unique id of the game."),
        ("game_name", "text (at most 255)", "required", 'Name of the game, e.g. "Golden Slot 2".'),
    ]
    assert ("game_provider", "text (at most 255)", "optional", 'The game\'s provider, e.g. "Pragmatic".') in _rows(
        casino_bet
    )
    settled = _rows(_section(page, "sport_bet_settled"))
    assert settled[1][:3] == ("result", "one of: won, lost, void, cashout, half_won, half_lost", "required")
    assert ("is_live", "true/false", "optional", "Whether the bet was placed in play (live).") in settled
    profile = _rows(_section(page, PROFILE_UPDATE))
    assert [row[0] for row in profile] == list(PROFILE_FIELD_INFO)
    login = _section(page, "login")
    assert "Emitted by Pitboss" not in login
    for name in SYSTEM_TYPES:
        assert "Emitted by Pitboss" in _section(page, name)


def test_every_builtin_field_is_described_and_matches_the_catalogue():
    # Partner types and the facts known when this was written (an app adding facts adds their words to event_docs).
    known = {doc.name for doc in partner_types()} | set(FACT_TYPES)
    known |= {"segment_entered", "segment_left", "affiliate_conversion"}
    for doc in builtin_types():
        if doc.name in known:
            assert doc.description, doc.name
            assert all(field.description for field in doc.fields), doc.name
        if doc.name != PROFILE_UPDATE:
            spec = CORE_TYPES[doc.name]
            assert {f.name: f.kind for f in doc.fields} == {n: i.kind for n, i in spec_fields(spec).items()}
            assert doc.required_names == list(spec.required)
    assert [doc.name for doc in partner_types()] == [n for n in CORE_TYPES if n not in SYSTEM_TYPES] + [PROFILE_UPDATE]
    assert type_fields("casino_win")[-5].description == "Your id of the bet this win pays, when you have one."


def test_the_outsider_sees_no_page(outsider, staff_client):
    assert staff_client(outsider).get(reverse(LIST)).status_code == 403
