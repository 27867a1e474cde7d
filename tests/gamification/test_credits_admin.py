"""Credits in the admin: the Adjust balance form above a cap, the approval queue, reversals, caps, withheld credits."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from backoffice.models import Role
from gamification.models import CreditLimit, CreditRequest, WalletEntry
from gamification.selectors import wallet_get
from gamification.services.credits import manual_adjust
from gamification.services.wallet import wallet_adjust

pytestmark = pytest.mark.django_db
QUEUE = "admin:gamification_creditrequest_changelist"


def _act(obj, name: str) -> str:
    return reverse(f"admin:gamification_{obj._meta.model_name}_{name}", args=[obj.pk])


def _change(obj) -> str:
    return reverse(f"admin:gamification_{obj._meta.model_name}_change", args=[obj.pk])


def _adjust(client, player, amount: int, follow: bool = True):
    form = {"currency": "points", "amount": str(amount), "reason": "Ticket 42", "key": str(uuid.uuid4())}
    return client.post(reverse("admin:crm_player_adjust_balance", args=[player.pk]), form, follow=follow)


def _request(tenant, staff, amount=5_000) -> CreditRequest:
    return manual_adjust(
        player=tenant.player, currency="points", amount=amount, reason="Ticket 42", key=str(uuid.uuid4()), staff=staff
    ).request


@pytest.fixture
def support(tenant_a, staff_with_role):
    return staff_with_role(tenant_a.label, Role.SUPPORT, "support_a")


@pytest.fixture
def manager(tenant_a, staff_with_role):
    return staff_with_role(tenant_a.label, Role.MANAGER, "manager_a")


def test_a_credit_above_the_cap_becomes_a_request_named_on_the_page(tenant_a, support, staff_client):
    client = staff_client(support)
    page = client.get(reverse("admin:crm_player_adjust_balance", args=[tenant_a.player.pk])).content.decode()
    assert "1,000 points per credit, 5,000 left today" in page
    html = _adjust(client, tenant_a.player, 5_000).content.decode()
    request = CreditRequest.objects.get()
    assert "Above the support cap of 1,000 points per adjustment." in html
    assert _change(request) in html
    assert (request.status, request.requested_by, request.amount) == ("pending", support, 5_000)
    assert wallet_get(player=tenant_a.player).points == 0
    assert "request #" in LogEntry.objects.get(object_id=str(tenant_a.player.pk)).get_change_message()


def test_the_adjust_page_warns_when_the_player_is_not_active(tenant_a, staff_client):
    url = reverse("admin:crm_player_adjust_balance", args=[tenant_a.player.pk])
    assert 'data-testid="not-active-warning"' not in staff_client(tenant_a.admin).get(url).content.decode()
    tenant_a.player.core_account_status = "SELF_EXCLUDED"
    tenant_a.player.save(update_fields=["core_account_status"])
    html = staff_client(tenant_a.admin).get(url).content.decode()
    assert "The player's account is SELF_EXCLUDED, not ACTIVE: they receive no automated rewards." in html
    assert _adjust(staff_client(tenant_a.admin), tenant_a.player, 25, follow=False).status_code == 302
    assert wallet_get(player=tenant_a.player).points == 25  # staff may still adjust


def test_the_queue_shows_counts_and_the_history_of_each_label_only(
    tenant_a, tenant_b, outsider, support, manager, staff_client
):
    pending = _request(tenant_a, support)
    approved = _request(tenant_a, support, 6_000)
    manager_client = staff_client(manager)
    manager_client.post(_act(approved, "approve"))
    foreign = _request(tenant_b, tenant_b.admin, 200_000)
    html = manager_client.get(reverse(QUEUE)).content.decode()
    assert 'data-testid="credit-request-counts"' in html
    assert "+5,000" in html
    assert "+6,000" in html
    assert "+200,000" not in html
    assert "support_a" in html
    assert "manager_a" in html
    detail = manager_client.get(_change(approved)).content.decode()
    assert "manager_a" in detail
    assert "support_a" in detail
    assert "Approved" in detail
    assert manager_client.get(_change(foreign)).status_code == 404
    assert manager_client.post(_act(foreign, "approve")).status_code == 404
    assert staff_client(tenant_b.admin).get(_change(pending)).status_code == 404
    assert staff_client(tenant_b.admin).post(_act(pending, "approve")).status_code == 404
    assert staff_client(tenant_b.admin).post(_act(pending, "reject")).status_code == 404
    assert staff_client(outsider).get(reverse(QUEUE)).status_code == 403
    assert staff_client(outsider).post(_act(pending, "approve")).status_code == 403
    foreign.refresh_from_db()
    pending.refresh_from_db()
    assert (foreign.status, pending.status) == ("pending", "pending")


def test_a_manager_approves_once_even_when_the_form_is_posted_twice(tenant_a, support, manager, staff_client):
    request = _request(tenant_a, support)
    client = staff_client(manager)
    assert client.get(_act(request, "approve")).status_code == 200  # the confirmation page
    assert not WalletEntry.objects.exists()
    first = client.post(_act(request, "approve"), follow=True).content.decode()
    second = client.post(_act(request, "approve"), follow=True).content.decode()  # a double click
    assert "Approved: +5,000 points credited." in first
    assert "Already approved by manager_a: nothing changed." in second
    assert wallet_get(player=tenant_a.player).points == 5_000
    assert WalletEntry.objects.count() == 1
    request.refresh_from_db()
    assert (request.status, request.decided_by) == ("approved", manager)


def test_a_manager_rejects_with_a_note(tenant_a, support, manager, staff_client):
    request = _request(tenant_a, support)
    client = staff_client(manager)
    assert client.get(_act(request, "reject")).status_code == 200
    html = client.post(_act(request, "reject"), {"note": "Not in the policy"}, follow=True).content.decode()
    assert "Rejected: +5,000 points not credited." in html
    request.refresh_from_db()
    assert (request.status, request.decision_note, request.decided_by) == ("rejected", "Not in the policy", manager)
    assert not WalletEntry.objects.exists()


@pytest.mark.parametrize("who", ["requester", "support"])
def test_the_requester_and_staff_without_the_right_cannot_decide(who, tenant_a, support, manager, staff_client):
    request = _request(tenant_a, manager, 50_000)
    user = manager if who == "requester" else support
    client = staff_client(user)
    assert client.get(_change(request)).status_code == 200  # everyone in the label sees the queue
    assert _act(request, "approve") not in client.get(_change(request)).content.decode()
    assert client.post(_act(request, "approve")).status_code == 403
    assert client.post(_act(request, "reject")).status_code == 403
    request.refresh_from_db()
    assert request.status == "pending"


def test_staff_reverse_a_credit_from_the_ledger(tenant_a, tenant_b, outsider, support, staff_client):
    credit = wallet_adjust(player=tenant_a.player, currency="points", amount=40, source="mission", key="m1").entry
    assert staff_client(tenant_b.admin).post(_act(credit, "reverse_credit"), {"reason": "x"}).status_code == 404
    assert staff_client(outsider).post(_act(credit, "reverse_credit"), {"reason": "x"}).status_code == 403
    client = staff_client(support)
    assert _act(credit, "reverse_credit") in client.get(_change(credit)).content.decode()
    assert "This field is required." in client.post(_act(credit, "reverse_credit"), {"reason": ""}).content.decode()
    html = client.post(_act(credit, "reverse_credit"), {"reason": "Paid twice"}, follow=True).content.decode()
    assert "Reversed +40 points: Paid twice" in html
    wallet = wallet_get(player=tenant_a.player)
    assert (wallet.points, wallet.points_earned, wallet.points_tournament) == (0, 0, 0)
    reversal = WalletEntry.objects.get(reverses=credit)
    assert (reversal.created_by, reversal.reason) == (support, "Paid twice")
    page = client.get(_change(credit)).content.decode()
    assert "Reversed by" in page
    assert _act(credit, "reverse_credit") not in page
    again = client.post(_act(credit, "reverse_credit"), {"reason": "again"}, follow=True).content.decode()
    assert "This credit was already reversed." in again
    assert WalletEntry.objects.count() == 2


def test_a_reversal_the_balance_cannot_pay_shows_why(tenant_a, staff_client):
    credit = wallet_adjust(player=tenant_a.player, currency="gems", amount=10, source="api", key="g").entry
    wallet_adjust(player=tenant_a.player, currency="gems", amount=-5, source="store", key="s")
    html = staff_client(tenant_a.admin).post(_act(credit, "reverse_credit"), {"reason": "x"}).content.decode()
    assert "The player has 5 gems left, fewer than the 10 to take back." in html
    assert wallet_get(player=tenant_a.player).gems == 5


def test_label_admins_set_caps_others_read_them(tenant_a, tenant_b, manager, staff_client):
    add = reverse("admin:gamification_creditlimit_add")
    form = {"label": tenant_a.label.pk, "role": "support", "currency": "points", "per_adjustment": 50, "per_day": 40}
    html = staff_client(tenant_a.admin).post(add, form).content.decode()
    assert "At least the cap per adjustment." in html
    assert staff_client(tenant_a.admin).post(add, form | {"per_day": 500}).status_code == 302
    limit = CreditLimit.objects.get()
    assert (limit.per_adjustment, limit.per_day) == (50, 500)
    assert staff_client(manager).get(add).status_code == 403
    assert staff_client(manager).get(_change(limit)).status_code == 200
    assert staff_client(tenant_b.admin).get(_change(limit)).status_code == 404
    assert staff_client(tenant_b.admin).post(add, form | {"per_day": 500}).status_code == 200  # label A: no choice
    assert CreditLimit.objects.count() == 1


def test_withheld_credits_are_listed_per_label(tenant_a, tenant_b, outsider, staff_client):
    for tenant in (tenant_a, tenant_b):
        tenant.player.core_account_status = "BLOCKED"
        tenant.player.save(update_fields=["core_account_status"])
        wallet_adjust(player=tenant.player, currency="points", amount=7, source="mission", key=f"mission-{tenant.label.pk}",
                      reason=f"Mission of {tenant.label.name}")  # fmt: skip
    url = reverse("admin:gamification_withheldcredit_changelist")
    html = staff_client(tenant_a.admin).get(url).content.decode()
    assert "Mission of Label A" in html
    assert "Mission of Label B" not in html
    assert "BLOCKED" in html
    assert staff_client(outsider).get(url).status_code == 403


def test_the_sidebar_links_the_queue(tenant_a, staff_client):
    html = staff_client(tenant_a.admin).get(reverse("admin:index")).content.decode()
    assert reverse(QUEUE) in html
    assert reverse("admin:gamification_creditlimit_changelist") in html


def test_the_player_page_links_the_players_withheld_credits(tenant_a, staff_client):
    page = reverse("admin:crm_player_change", args=[tenant_a.player.pk])
    client = staff_client(tenant_a.admin)
    assert 'data-testid="withheld-credits"' not in client.get(page).content.decode()
    tenant_a.player.core_account_status = "SUSPENDED"
    tenant_a.player.save(update_fields=["core_account_status"])
    for n in (1, 2):
        wallet_adjust(player=tenant_a.player, currency="gems", amount=n, source="journey", key=f"j{n}", reason=f"J{n}")
    html = client.get(page).content.decode()
    assert "2 withheld (account not ACTIVE)" in html
    listing = client.get(
        reverse("admin:gamification_withheldcredit_changelist") + f"?player__id__exact={tenant_a.player.pk}"
    )
    assert listing.status_code == 200
    assert "J1" in listing.content.decode()


def test_the_sidebar_counts_the_credits_a_user_may_decide(tenant_a, tenant_b, support, manager, rf):
    from gamification.admin.credits import nav_credit_requests_badge

    def badge_for(user) -> str:
        request = rf.get("/admin/")
        request.user, request.session = user, {}
        return nav_credit_requests_badge(request)

    _request(tenant_a, support)
    _request(tenant_a, support)
    _request(tenant_b, tenant_b.admin, 200_000)
    assert (badge_for(manager), badge_for(tenant_a.admin), badge_for(support)) == ("2", "2", "")
    assert badge_for(tenant_b.admin) == "1"  # their own request: they see it waiting, another admin decides
