"""Bonuses in the admin: templates (configuration, catalogue sync), the bonuses list and page (request and response
shown, read-only), "Give bonus" from the player page (support included), "Re-send" under the same key, the Bonus API
connection (admins only, secret never shown), the sandbox settings; the three personas on every page."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from backoffice.models import Role
from crm.models import Bonus, BonusTemplate
from crm.services.bonus_delivery import bonus_deliver
from crm.services.bonuses import bonus_give
from integrations.models import BonusApiConnection, SandboxBonus
from tests.crm.bonuses.conftest import template_make

pytestmark = pytest.mark.django_db


def _url(name: str, *args) -> str:
    return reverse(f"admin:{name}", args=args)


@pytest.fixture
def support(tenant_a, staff_with_role):
    return staff_with_role(tenant_a.label, Role.SUPPORT, "support_a")


@pytest.fixture
def manager(tenant_a, staff_with_role):
    return staff_with_role(tenant_a.label, Role.MANAGER, "manager_a")


def _give_form(template, reason="Ticket 7", **extra) -> dict:
    return {"template": template.pk, "reason": reason, "amount": "", "key": str(uuid.uuid4()), **extra}


def test_support_gives_a_bonus_from_the_player_page_once_per_form(tenant_a, template, support, staff_client):
    client = staff_client(support)
    page = client.get(_url("crm_player_change", tenant_a.player.pk)).content.decode()
    assert 'data-testid="player-bonuses"' in page
    assert _url("crm_player_give_bonus", tenant_a.player.pk) in page
    form = _give_form(template)
    response = client.post(_url("crm_player_give_bonus", tenant_a.player.pk), form, follow=True)
    assert response.status_code == 200
    assert "Bonus Cash 5 Eur given" in response.content.decode()
    bonus = Bonus.objects.get()
    assert (bonus.source, bonus.created_by, bonus.reason, bonus.key) == ("staff", support, "Ticket 7",
                                                                         f"staff:{form['key']}")  # fmt: skip
    client.post(_url("crm_player_give_bonus", tenant_a.player.pk), form, follow=True)  # submitted twice
    assert Bonus.objects.count() == 1
    assert (
        Bonus.objects.get().template.name in client.get(_url("crm_player_change", tenant_a.player.pk)).content.decode()
    )


def test_a_refused_give_shows_why_on_the_form(tenant_a, template, support, staff_client):
    tenant_a.player.core_account_status = "SELF_EXCLUDED"
    tenant_a.player.save()
    client = staff_client(support)
    page = client.get(_url("crm_player_give_bonus", tenant_a.player.pk)).content.decode()
    assert "not ACTIVE" in page
    assert 'data-testid="not-active-warning"' in page
    html = client.post(_url("crm_player_give_bonus", tenant_a.player.pk), _give_form(template)).content.decode()
    assert "SELF_EXCLUDED, not ACTIVE: the label gives them no bonuses" in html
    assert not Bonus.objects.exists()


def test_the_give_form_offers_only_the_labels_active_templates(tenant_a, tenant_b, template, support, staff_client):
    template_make(tenant_a.label, code="RETIRED", name="Retired one", is_active=False)
    template_make(tenant_b.label, code="B_ONLY", name="B only")
    page = staff_client(support).get(_url("crm_player_give_bonus", tenant_a.player.pk)).content.decode()
    assert template.name in page
    assert "Retired one" not in page
    assert "B only" not in page
    foreign = BonusTemplate.objects.get(operator_code="B_ONLY")
    html = staff_client(support).post(_url("crm_player_give_bonus", tenant_a.player.pk), _give_form(foreign))
    assert "template" in html.context["form"].errors
    assert not Bonus.objects.exists()


def test_the_give_page_of_another_labels_player_is_404_and_outsiders_are_refused(
    tenant_a, tenant_b, template, staff_client, outsider
):
    url = _url("crm_player_give_bonus", tenant_a.player.pk)
    assert staff_client(tenant_b.admin).get(url).status_code == 404
    assert staff_client(tenant_b.admin).post(url, _give_form(template)).status_code == 404
    assert staff_client(outsider).get(url).status_code == 403
    assert staff_client().get(url).status_code == 302  # to the login page
    assert not Bonus.objects.exists()


def test_the_bonus_page_shows_the_request_and_the_response_read_only(
    tenant_a, template, sandbox, support, staff_client
):
    bonus = bonus_give(player=tenant_a.player, template=template, source="api", key="k")
    bonus_deliver(bonus_id=bonus.pk)
    bonus.refresh_from_db()
    page = staff_client(support).get(_url("crm_bonus_change", bonus.pk)).content.decode()
    assert 'data-testid="bonus-request"' in page
    assert 'data-testid="bonus-response"' in page
    assert bonus.idempotency_key in page
    assert bonus.operator_bonus_id in page
    assert "&quot;http_status&quot;: 201" in page
    assert 'name="reason"' not in page  # read-only
    assert staff_client(support).post(_url("crm_bonus_change", bonus.pk), {"reason": "x"}).status_code == 403


def test_the_bonus_list_filters_by_status_template_and_player(tenant_a, template, support, staff_client):
    other = PlayerFactory(brand=tenant_a.brand, label=tenant_a.label, user_ext_id="someone-else")
    mine = bonus_give(player=tenant_a.player, template=template, source="api", key="a")
    theirs = bonus_give(player=other, template=template_make(tenant_a.label, code="OTHER"), source="api", key="b")
    Bonus.objects.filter(pk=theirs.pk).update(status="issue_failed")
    client = staff_client(support)

    def ids(query: str) -> set[int]:
        response = client.get(_url("crm_bonus_changelist") + query)
        assert response.status_code == 200
        return {row.pk for row in response.context["cl"].result_list}

    assert ids("") == {mine.pk, theirs.pk}
    assert ids("?status__exact=issue_failed") == {theirs.pk}
    assert ids(f"?template__id__exact={template.pk}") == {mine.pk}
    assert ids("?user_ext_id=someone-else") == {theirs.pk}
    assert ids(f"?player__id__exact={tenant_a.player.pk}") == {mine.pk}


def test_the_bonus_list_and_page_are_scoped_to_the_label(tenant_a, tenant_b, template, staff_client, outsider):
    bonus = bonus_give(player=tenant_a.player, template=template, source="api", key="a")
    list_b = staff_client(tenant_b.admin).get(_url("crm_bonus_changelist"))
    assert list(list_b.context["cl"].result_list) == []
    assert staff_client(tenant_b.admin).get(_url("crm_bonus_change", bonus.pk)).status_code == 404
    assert staff_client(tenant_b.admin).get(_url("crm_bonus_resend", bonus.pk)).status_code == 404
    assert staff_client(outsider).get(_url("crm_bonus_changelist")).status_code == 403
    assert staff_client(outsider).get(_url("crm_bonus_change", bonus.pk)).status_code == 403


def test_resend_explains_the_same_key_and_sends_it_again(tenant_a, template, sandbox, support, staff_client):
    bonus = bonus_give(player=tenant_a.player, template=template, source="api", key="a")
    Bonus.objects.filter(pk=bonus.pk).update(status="issue_failed", delivery_state="failed")
    client = staff_client(support)
    confirm = client.get(_url("crm_bonus_resend", bonus.pk)).content.decode()
    assert "SAME idempotency key" in confirm
    assert bonus.idempotency_key in confirm
    assert Bonus.objects.get(pk=bonus.pk).status == "issue_failed"  # GET changes nothing
    client.post(_url("crm_bonus_resend", bonus.pk), follow=True)
    bonus.refresh_from_db()
    assert (bonus.status, bonus.delivery_state) == ("new", "unknown")
    bonus_deliver(bonus_id=bonus.pk)
    assert SandboxBonus.objects.get().idempotency_key == bonus.idempotency_key
    html = client.post(_url("crm_bonus_resend", bonus.pk), follow=True).content.decode()
    assert "Only a bonus whose issue failed can be re-sent." in html


def test_templates_are_configuration_of_managers_not_support(tenant_a, template, manager, support, staff_client):
    assert staff_client(support).get(_url("crm_bonustemplate_changelist")).status_code == 200
    assert staff_client(support).get(_url("crm_bonustemplate_add")).status_code == 403
    form = {"label": tenant_a.label.pk, "name": "Spins", "public_name": "", "icon_url": "", "operator_code": "SPINS",
            "type": "free_spins", "amount": "10", "expiry_days": "7", "is_active": "on"}  # fmt: skip
    assert staff_client(support).post(_url("crm_bonustemplate_add"), form).status_code == 403
    response = staff_client(manager).post(_url("crm_bonustemplate_add"), form)
    assert response.status_code == 302, response.context["adminform"].form.errors
    spins = BonusTemplate.objects.get(operator_code="SPINS")
    assert (spins.source, spins.expiry_days, spins.type) == ("manual", 7, "free_spins")


def test_a_template_with_bonuses_cannot_be_deleted(tenant_a, template, staff_client):
    bonus_give(player=tenant_a.player, template=template, source="api", key="a")
    page = staff_client(tenant_a.admin).get(_url("crm_bonustemplate_delete", template.pk)).content.decode()
    assert "1 bonus(es) were given from it: deactivate it instead." in page
    staff_client(tenant_a.admin).post(_url("crm_bonustemplate_delete", template.pk), {"post": "yes"})
    assert BonusTemplate.objects.filter(pk=template.pk).exists()


def test_the_sync_action_reads_the_operators_catalogue(tenant_a, sandbox, manager, staff_client):
    html = staff_client(manager).post(_url("crm_bonustemplate_sync_catalogue"), follow=True).content.decode()
    assert "4 new, 0 updated, 0 no longer offered" in html
    assert set(BonusTemplate.objects.values_list("operator_code", flat=True)) == {
        "10FREE_SPIN_IN_GOLDEN_SLOT", "CASH_5_EUR", "DEPOSIT_MATCH_100", "WELCOME_COUPON",
    }  # fmt: skip


def test_templates_of_another_label_are_404(tenant_a, tenant_b, template, staff_client, outsider):
    assert staff_client(tenant_b.admin).get(_url("crm_bonustemplate_change", template.pk)).status_code == 404
    assert staff_client(outsider).get(_url("crm_bonustemplate_changelist")).status_code == 403


def test_the_bonus_api_connection_is_for_admins_and_never_shows_the_secret(
    tenant_a, tenant_b, manager, staff_client, outsider
):
    add = _url("integrations_bonusapiconnection_add")
    form = {"label": tenant_a.label.pk, "base_url": "https://bonus.example.com/api", "secret": "s3cret-value",
            "connect_timeout_seconds": "3", "read_timeout_seconds": "10", "is_active": "on"}  # fmt: skip
    assert staff_client(manager).get(add).status_code == 403
    assert staff_client(manager).get(_url("integrations_bonusapiconnection_changelist")).status_code == 403
    assert staff_client(tenant_a.admin).post(add, form).status_code == 302
    conn = BonusApiConnection.objects.get()
    assert conn.secret == "s3cret-value"
    page = staff_client(tenant_a.admin).get(_url("integrations_bonusapiconnection_change", conn.pk)).content.decode()
    assert "s3cret-value" not in page
    assert f"/api/v1/bonus-api/{tenant_a.label.label_key}/redeem" in page
    keep = {**form, "secret": "", "base_url": "https://bonus.example.com/v2"}
    assert (
        staff_client(tenant_a.admin).post(_url("integrations_bonusapiconnection_change", conn.pk), keep).status_code
        == 302
    )
    conn.refresh_from_db()
    assert (conn.secret, conn.base_url) == ("s3cret-value", "https://bonus.example.com/v2")
    assert staff_client(tenant_b.admin).get(_url("integrations_bonusapiconnection_change", conn.pk)).status_code == 404
    assert staff_client(outsider).get(_url("integrations_bonusapiconnection_changelist")).status_code == 403


def test_staff_who_run_one_label_and_manage_another_list_only_the_connection_they_may_open(
    tenant_a, tenant_b, staff_with_role, staff_client
):
    """Admin of label B, manager of label A: the admin-only page lists B's connection, not A's (which their role in A
    does not open: 404, as another label's row)."""
    both = staff_with_role(tenant_a.label, Role.MANAGER, "both")
    staff_with_role(tenant_b.label, Role.ADMIN, user=both)
    conn_a, conn_b = (
        BonusApiConnection.objects.create(label=t.label, base_url=f"https://{t.label.pk}.example.com", secret="s")
        for t in (tenant_a, tenant_b)
    )
    client = staff_client(both)
    listing = client.get(_url("integrations_bonusapiconnection_changelist")).content.decode()
    assert _url("integrations_bonusapiconnection_change", conn_b.pk) in listing
    assert _url("integrations_bonusapiconnection_change", conn_a.pk) not in listing
    assert client.get(_url("integrations_bonusapiconnection_change", conn_b.pk)).status_code == 200
    assert client.get(_url("integrations_bonusapiconnection_change", conn_a.pk)).status_code == 404


def test_test_connection_reads_the_catalogue(tenant_a, sandbox, staff_client):
    conn = BonusApiConnection.objects.get(label=tenant_a.label)
    html = staff_client(tenant_a.admin).get(_url("integrations_bonusapiconnection_test_connection", conn.pk),
                                            follow=True).content.decode()  # fmt: skip
    assert "Connected: the catalogue lists 4 bonus(es)." in html


def test_the_sandbox_settings_are_editable_by_admins(tenant_a, tenant_b, sandbox, manager, staff_client):
    url = _url("integrations_sandboxbonussettings_change", sandbox.pk)
    assert staff_client(manager).get(url).status_code == 403
    assert staff_client(tenant_b.admin).get(url).status_code == 404
    page = staff_client(tenant_a.admin).get(url)
    assert page.status_code == 200
    assert sandbox.secret not in page.content.decode()


def test_the_sandbox_redeem_action_calls_pitboss_back(tenant_a, template, sandbox, staff_client):
    bonus = bonus_give(player=tenant_a.player, template=template, source="api", key="a")
    bonus_deliver(bonus_id=bonus.pk)
    applied = SandboxBonus.objects.get()
    html = staff_client(tenant_a.admin).get(_url("integrations_sandboxbonus_redeem", applied.pk), follow=True)
    assert "callback answered 200" in html.content.decode()
    assert Bonus.objects.get().status == "redeemed"


def test_the_sidebar_shows_bonuses_to_support_and_the_bonus_api_to_admins(tenant_a, support, staff_client):
    support_page = staff_client(support).get(_url("index")).content.decode()
    admin_page = staff_client(tenant_a.admin).get(_url("index")).content.decode()
    assert _url("crm_bonus_changelist") in support_page
    assert _url("crm_bonustemplate_changelist") in support_page
    assert _url("integrations_bonusapiconnection_changelist") not in support_page
    assert _url("integrations_bonusapiconnection_changelist") in admin_page
    assert _url("integrations_sandboxbonussettings_changelist") in admin_page


from tests.factories import PlayerFactory  # noqa: E402


def test_a_label_admin_sets_the_daily_bonus_cap_and_a_manager_cannot(tenant_a, manager, staff_client):
    from tests.backoffice.test_admin_roles import _label_form

    url = _url("backoffice_label_change", tenant_a.label.pk)
    assert staff_client(manager).post(url, _label_form(tenant_a.label, bonus_daily_cap="5")).status_code == 403
    assert staff_client(tenant_a.admin).post(url, _label_form(tenant_a.label, bonus_daily_cap="5")).status_code == 302
    tenant_a.label.refresh_from_db()
    assert tenant_a.label.bonus_daily_cap == 5


def test_sandbox_applied_bonuses_are_for_the_labels_admins(tenant_a, tenant_b, template, sandbox, manager,
                                                           staff_client, outsider):  # fmt: skip
    bonus = bonus_give(player=tenant_a.player, template=template, source="api", key="a")
    bonus_deliver(bonus_id=bonus.pk)
    applied = SandboxBonus.objects.get()
    assert staff_client(tenant_a.admin).get(_url("integrations_sandboxbonus_change", applied.pk)).status_code == 200
    assert staff_client(manager).get(_url("integrations_sandboxbonus_changelist")).status_code == 403
    assert staff_client(tenant_b.admin).get(_url("integrations_sandboxbonus_change", applied.pk)).status_code == 404
    assert staff_client(tenant_b.admin).get(_url("integrations_sandboxbonus_redeem", applied.pk)).status_code == 404
    assert staff_client(outsider).get(_url("integrations_sandboxbonus_changelist")).status_code == 403
    assert Bonus.objects.get().status == "issued"
