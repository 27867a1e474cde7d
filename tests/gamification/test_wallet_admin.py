"""The wallet in the admin: balances on the player page, manual adjustments (audited), and the ledger explorer."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from backoffice.models import Role
from gamification.models import WalletEntry
from gamification.selectors import wallet_get
from gamification.services.wallet import wallet_adjust

pytestmark = pytest.mark.django_db
LEDGER = "admin:gamification_walletentry_changelist"


def _adjust_url(player) -> str:
    return reverse("admin:crm_player_adjust_balance", args=[player.pk])


def _form(**overrides) -> dict:
    return {
        "currency": "points",
        "amount": "25",
        "reason": "Goodwill for ticket 42",
        "key": str(uuid.uuid4()),
    } | overrides


@pytest.mark.parametrize("role", [Role.SUPPORT, Role.MANAGER, Role.ADMIN, Role.INTEGRATION_ENGINEER])
def test_staff_adjust_a_balance_with_a_reason_written_to_the_ledger_and_history(
    role, tenant_a, staff_with_role, staff_client
):
    user = staff_with_role(tenant_a.label, role)
    client = staff_client(user)
    assert client.get(_adjust_url(tenant_a.player)).status_code == 200
    response = client.post(_adjust_url(tenant_a.player), _form())
    assert response.status_code == 302
    assert wallet_get(player=tenant_a.player).points == 25
    entry = WalletEntry.objects.get()
    assert (entry.source, entry.created_by, entry.reason) == ("manual", user, "Goodwill for ticket 42")
    assert entry.key.startswith("manual:")
    log = LogEntry.objects.get(object_id=str(tenant_a.player.pk))
    assert log.user == user
    assert "Goodwill for ticket 42" in log.get_change_message()


def test_submitting_the_same_form_twice_applies_it_once(tenant_a, staff_client):
    client = staff_client(tenant_a.admin)
    form = _form()
    client.post(_adjust_url(tenant_a.player), form)
    client.post(_adjust_url(tenant_a.player), form)
    assert wallet_get(player=tenant_a.player).points == 25
    assert WalletEntry.objects.count() == 1
    assert LogEntry.objects.count() == 1


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"reason": ""}, "This field is required."),
        ({"amount": "0"}, "Must not be zero."),
        ({"currency": "coins"}, "Select a valid choice."),
        ({"amount": "-1"}, "The player has fewer points than 1."),
    ],
)
def test_a_refused_adjustment_shows_why_and_writes_nothing(form, error, tenant_a, staff_client):
    response = staff_client(tenant_a.admin).post(_adjust_url(tenant_a.player), _form(**form))
    assert response.status_code == 200
    assert error in response.content.decode()
    assert not WalletEntry.objects.exists()
    assert not LogEntry.objects.exists()


def test_staff_of_another_label_and_outsiders_cannot_adjust(
    tenant_a, tenant_b, outsider, staff_client, staff_with_role
):
    for user, status in ((tenant_b.admin, 404), (outsider, 403)):  # another label's player does not exist for B
        client = staff_client(user)
        assert client.get(_adjust_url(tenant_a.player)).status_code == status
        assert client.post(_adjust_url(tenant_a.player), _form()).status_code == status
    support = staff_client(staff_with_role(tenant_a.label, Role.SUPPORT))  # support may adjust points
    assert support.get(_adjust_url(tenant_a.player)).status_code == 200
    assert not WalletEntry.objects.exists()


def test_the_player_page_shows_balances_latest_entries_and_the_adjust_button(tenant_a, staff_client):
    wallet_adjust(player=tenant_a.player, currency="gems", amount=7, source="mission", key="m1", reason="Mission X")
    page = staff_client(tenant_a.admin).get(reverse("admin:crm_player_change", args=[tenant_a.player.pk]))
    html = page.content.decode()
    assert 'data-testid="player-wallet"' in html
    assert "7 gems" in html
    assert "Mission X" in html
    assert _adjust_url(tenant_a.player) in html


def test_the_ledger_shows_each_label_only_its_own_entries_read_only(tenant_a, tenant_b, outsider, staff_client):
    wallet_adjust(player=tenant_a.player, currency="points", amount=5, source="rule", key="a-key")
    wallet_adjust(player=tenant_b.player, currency="points", amount=5, source="rule", key="b-key")
    for own, other in ((tenant_a, tenant_b), (tenant_b, tenant_a)):
        client = staff_client(own.admin)
        html = client.get(reverse(LEDGER)).content.decode()
        assert f"{own.label.name[-1].lower()}-key" in html
        assert f"{other.label.name[-1].lower()}-key" not in html
        foreign = WalletEntry.objects.get(label=other.label)
        assert client.get(reverse("admin:gamification_walletentry_change", args=[foreign.pk])).status_code == 404
    assert staff_client(tenant_a.admin).get(reverse("admin:gamification_walletentry_add")).status_code == 403
    assert staff_client(outsider).get(reverse(LEDGER)).status_code == 403


def test_the_sidebar_links_the_ledger(tenant_a, staff_client):
    assert reverse(LEDGER) in staff_client(tenant_a.admin).get(reverse("admin:index")).content.decode()
