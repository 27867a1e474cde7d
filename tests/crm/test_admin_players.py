"""Players in the admin: search (exact ids, username prefix, email and phone through digests), filters, a fixed
number of queries per list page, and the whole profile read-only."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from backoffice.models import Role
from crm.services.players import player_upsert
from tests.factories import BrandFactory, PlayerFactory

pytestmark = pytest.mark.django_db
LIST = "admin:crm_player_changelist"

PROFILE = {
    "core_username": "HighRoller",
    "user_first_name": "Maria",
    "user_last_name": "Borg",
    "user_email": "maria.borg@example.com",
    "user_phone": "+35699123456",
    "user_country": "MT",
    "core_user_language": "MT",
    "core_wallet_currency": "EUR",
    "core_user_gender": "FEMALE",
    "core_account_status": "SELF_EXCLUDED",
    "core_kyc_status": "verified",
    "core_affiliate_id": 4711,
    "core_affiliate_str": "partner-x",
    "core_is_sms_disabled_by_platform": True,
    "core_registration_date": "2024-05-01T12:30:00Z",
    "user_birthdate": "1988-04-12T00:00:00Z",
    "custom": {"vip_tier": "gold", "lifetime_deposits": 15230.5},
    "markers": ["vip", "sports_fan"],
}


@pytest.fixture
def maria(tenant_a, tenant_b):
    """A full profile in label A, and a player with the same email and phone in label B."""
    player_upsert(brand=tenant_b.brand, user_ext_id="b-maria", data={**PROFILE, "core_username": "OtherMaria"})
    return player_upsert(brand=tenant_a.brand, user_ext_id="777001", data=PROFILE).player


def _ext_ids(client, **params) -> set[str]:
    response = client.get(reverse(LIST), params)
    assert response.status_code == 200
    return {player.user_ext_id for player in response.context["cl"].result_list}


@pytest.mark.parametrize(
    "term",
    ["777001", "highroller", "HIGH", "maria.borg@example.com", " Maria.Borg@EXAMPLE.com ", "+356 9912-3456"],
)
def test_search_finds_a_player_by_id_username_prefix_email_or_phone(term, maria, tenant_a, staff_client):
    assert _ext_ids(staff_client(tenant_a.admin), q=term) == {"777001"}


@pytest.mark.parametrize("term", ["77700", "roller", "maria.borg@example", "9912", "b-maria", "OtherMaria"])
def test_search_matches_nothing_partial_nor_anything_of_another_label(term, maria, tenant_a, staff_client):
    assert _ext_ids(staff_client(tenant_a.admin), q=term) == set()


def test_exact_matches_come_before_username_prefixes(maria, tenant_a, staff_client):
    PlayerFactory(brand=tenant_a.brand, user_ext_id="p2", core_username="777001-fan")
    client = staff_client(tenant_a.admin)
    assert _ext_ids(client, q="777001") == {"777001"}
    assert _ext_ids(client, q="777001-") == {"p2"}


def test_the_other_label_finds_its_own_player_by_the_same_email(maria, tenant_b, staff_client):
    assert _ext_ids(staff_client(tenant_b.admin), q="maria.borg@example.com") == {"b-maria"}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"core_account_status": "SELF_EXCLUDED"}, {"777001"}),
        ({"core_account_status": "ACTIVE"}, {"shared-player", "plain"}),
        ({"country": "MT"}, {"777001", "shared-player"}),
        ({"country": "DE"}, {"plain"}),
        ({"language": "MT"}, {"777001"}),
        ({"currency": "SEK"}, {"plain"}),
        ({"core_user_gender": "FEMALE"}, {"777001"}),
        ({"marker": "sports_fan"}, {"777001"}),
        ({"marker": "sports"}, set()),
    ],
)
def test_filters(params, expected, maria, tenant_a, staff_client):
    PlayerFactory(
        brand=BrandFactory(label=tenant_a.label), user_ext_id="plain", user_country="DE", core_wallet_currency="SEK"
    )
    assert _ext_ids(staff_client(tenant_a.admin), **params) == expected


def test_the_brand_filter_offers_only_brands_in_view(maria, tenant_a, tenant_b, staff_client):
    second = BrandFactory(label=tenant_a.label, name="Second casino")
    PlayerFactory(brand=second, user_ext_id="second-player")
    client = staff_client(tenant_a.admin)
    response = client.get(reverse(LIST))
    html = response.content.decode()
    assert "Second casino" in html
    assert tenant_b.brand.name not in html
    assert _ext_ids(client, brand__id__exact=second.pk) == {"second-player"}
    assert _ext_ids(client, brand__id__exact=tenant_b.brand.pk) == set()


def test_the_list_shows_a_label_column_only_with_several_labels_in_view(tenant_a, tenant_b, staff_client):
    client = staff_client(tenant_a.admin)
    assert "label_name" not in client.get(reverse(LIST)).context["cl"].list_display
    tenant_a.admin.label_roles.create(label=tenant_b.label, role=Role.SUPPORT)
    response = client.get(reverse(LIST))
    assert "label_name" in response.context["cl"].list_display
    assert {p.user_ext_id for p in response.context["cl"].result_list} == {"shared-player"}
    assert len(response.context["cl"].result_list) == 2


@pytest.mark.parametrize(
    ("params", "queries"),
    [
        ({}, 8),
        ({"q": "nick"}, 10),
        ({"q": "shared-player"}, 10),
        ({"country": "MT", "currency": "EUR"}, 8),
        ({"o": "-6"}, 8),
    ],
)
def test_the_list_costs_the_same_queries_for_3_or_60_players(
    params, queries, tenant_a, staff_client, django_assert_num_queries
):
    # session, user, roles, switcher labels, the sidebar's pending credit approvals, label filter choices, brand filter
    # choices, the page of players, and with a search two more (the brands in view, then exact matches); no COUNT (the paginator never counts).
    client = staff_client(tenant_a.admin)
    PlayerFactory.create_batch(2, brand=tenant_a.brand)
    with django_assert_num_queries(queries):
        first = client.get(reverse(LIST), params)
    PlayerFactory.create_batch(57, brand=tenant_a.brand)
    PlayerFactory.create_batch(5, brand=BrandFactory(label=tenant_a.label))
    with django_assert_num_queries(queries):
        second = client.get(reverse(LIST), params)
    assert len(second.context["cl"].result_list) >= len(first.context["cl"].result_list) > 0


def test_the_list_sorts_by_registration_date_only(tenant_a, staff_client):
    now = dt.datetime.now(dt.UTC)
    registered = {"newest": now, "middle": now - dt.timedelta(days=1), "oldest": now - dt.timedelta(days=2)}
    for ext_id in ("middle", "newest", "oldest"):  # ids in this order: the default (-id) order differs from both
        PlayerFactory(brand=tenant_a.brand, user_ext_id=ext_id, core_registration_date=registered[ext_id])
    client = staff_client(tenant_a.admin)
    column = client.get(reverse(LIST)).context["cl"].list_display.index("registered")

    def order(o):
        players = client.get(reverse(LIST), {"o": o} if o else {}).context["cl"].result_list
        return [p.user_ext_id for p in players if p.core_registration_date]

    assert order(None) == ["oldest", "newest", "middle"]
    assert order(str(column)) == ["oldest", "middle", "newest"]
    assert order(f"-{column}") == ["newest", "middle", "oldest"]
    # Other columns do not sort: sorting a million rows by them would scan the table.
    for other in range(column):
        assert order(str(other)) == ["oldest", "newest", "middle"], other


def test_the_list_never_counts_the_table(tenant_a, staff_client, django_assert_num_queries):
    PlayerFactory.create_batch(3, brand=tenant_a.brand)
    client = staff_client(tenant_a.admin)
    with django_assert_num_queries(8) as queries:
        client.get(reverse(LIST))
    assert not [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]


def test_the_player_page_shows_the_whole_profile(maria, tenant_a, staff_with_role, staff_client):
    client = staff_client(staff_with_role(tenant_a.label, Role.SUPPORT))
    html = client.get(reverse("admin:crm_player_change", args=[maria.pk])).content.decode()
    for fieldset in ("Identity", "Account", "Contact", "Marketing", "Affiliate", "Custom properties", "Markers"):
        assert f">{fieldset}<" in html.replace("\n", "").replace("  ", ""), fieldset
    for value in (
        "777001",
        "HighRoller",
        "Maria",
        "Borg",
        "maria.borg@example.com",  # decrypted for the reader
        "+35699123456",
        "SELF_EXCLUDED",
        "verified",
        "4711",
        "partner-x",
        "Opted out on the platform",  # SMS
        "Allowed",  # email
        '<th scope="row">vip_tier</th><td>gold</td>',
        '<th scope="row">lifetime_deposits</th><td>15230.5</td>',
        '<span class="pitboss-marker">sports_fan</span>',
        '<span class="pitboss-marker">vip</span>',
    ):
        assert value in html, value
    assert maria.user_email_digest not in html


@pytest.mark.parametrize("role", [Role.ADMIN, Role.MANAGER, Role.SUPPORT, Role.INTEGRATION_ENGINEER])
def test_nobody_edits_adds_or_deletes_players_in_the_admin(role, maria, tenant_a, staff_with_role, staff_client):
    client = staff_client(staff_with_role(tenant_a.label, role))
    change = reverse("admin:crm_player_change", args=[maria.pk])
    assert 'name="_save"' not in client.get(change).content.decode()
    assert client.post(change, {"core_username": "changed"}).status_code == 403
    assert client.get(reverse("admin:crm_player_add")).status_code == 403
    assert client.post(reverse("admin:crm_player_delete", args=[maria.pk]), {"post": "yes"}).status_code == 403
    maria.refresh_from_db()
    assert maria.core_username == "HighRoller"
