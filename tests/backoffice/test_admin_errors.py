"""The admin's 403 and 404 pages: in the admin's look, and, for an object of another of the user's own labels (out of
view through the label switcher), an offer to switch that lands on the object. An outsider, staff of an unrelated label
and an id that exists nowhere all get the same plain page: nothing tells whether the object exists."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from backoffice.models import Role
from backoffice.scoping import SESSION_LABEL_KEY

pytestmark = pytest.mark.django_db
SWITCH = "admin:backoffice_label_switch"


@pytest.fixture
def both(tenant_a, tenant_b):
    """Admin of A who is also support in B."""
    tenant_a.admin.label_roles.create(label=tenant_b.label, role=Role.SUPPORT)
    return tenant_a.admin


def _narrowed(staff_client, user, label):
    client = staff_client(user)
    client.post(reverse(SWITCH), {"label": label.pk})
    return client


def _offer(html: str) -> dict[str, str] | None:
    match = re.search(r'data-testid="switch-offer">(.*?</form>)', html, re.S)
    if match is None:
        return None
    offer = match.group(1)
    fields = dict(re.findall(r'<input type="hidden" name="(label|next)" value="([^"]*)"', offer))
    action = re.search(r'<form method="post" action="([^"]+)"', offer).group(1)
    return {**fields, "action": action, "text": " ".join(re.sub(r"<[^>]+>", " ", offer).split())}


def _plain(html: str) -> str:
    """The page without what differs on every request (CSRF tokens, CSP nonces) and without the requested URL."""
    html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html)
    html = re.sub(r'nonce="[^"]+"', "", html)
    return re.sub(r"/admin/[a-z_]+/[a-z_]+/\d+/[a-z_/-]*", "URL", html)


def test_an_object_of_another_of_my_labels_offers_to_switch_and_lands_on_it(both, tenant_a, tenant_b, staff_client):
    client = _narrowed(staff_client, both, tenant_a.label)
    url = reverse("admin:crm_player_change", args=[tenant_b.player.pk]) + "?tab=timeline"
    response = client.get(url)
    assert response.status_code == 404
    html = response.content.decode()
    assert 'data-testid="error-page" data-status="404"' in html
    assert 'id="nav-sidebar"' in html  # the admin around it, with its label switcher
    offer = _offer(html)
    assert offer == {
        "label": str(tenant_b.label.pk),
        "next": url.replace("&", "&amp;"),
        "action": reverse(SWITCH),
        "text": "This player belongs to Label B , one of your labels, which is out of view: the label switcher shows "
        "only another label now. Switch to Label B and open it",
    }
    landed = client.post(offer["action"], {"label": offer["label"], "next": url})
    assert landed.status_code == 302
    assert landed.url == url
    assert client.session[SESSION_LABEL_KEY] == tenant_b.label.pk
    assert client.get(landed.url).status_code == 200


def test_an_extra_object_page_offers_the_switch_too(both, tenant_a, tenant_b, staff_client):
    client = _narrowed(staff_client, both, tenant_a.label)
    url = reverse("admin:crm_player_gamification", args=[tenant_b.player.pk])
    response = client.get(url)
    assert response.status_code == 404
    assert _offer(response.content.decode())["label"] == str(tenant_b.label.pk)


def test_a_403_offers_the_switch_where_my_other_role_reaches_the_page(both, tenant_a, tenant_b, staff_client):
    """Narrowed to B, where this user is support, revoking A's API key is refused (403) before any lookup; the page
    offers A, where the user is admin."""
    client = _narrowed(staff_client, both, tenant_b.label)
    url = reverse("admin:backoffice_apikey_revoke", args=[tenant_a.api_key.pk])
    response = client.get(url)
    assert response.status_code == 403
    html = response.content.decode()
    assert 'data-status="403"' in html
    assert "Access denied" in html
    offer = _offer(html)
    assert offer["label"] == str(tenant_a.label.pk)
    assert client.post(offer["action"], {"label": offer["label"], "next": url}).url == url
    assert client.get(url).status_code == 200  # the confirmation page of the revoke


def test_no_offer_for_an_object_of_the_label_in_view_or_with_every_label_in_view(both, tenant_a, staff_client):
    client = _narrowed(staff_client, both, tenant_a.label)
    missing = reverse("admin:crm_player_change", args=[10**9])
    assert _offer(client.get(missing).content.decode()) is None
    client.post(reverse(SWITCH), {"label": "all"})
    assert client.get(reverse("admin:crm_player_change", args=[tenant_a.player.pk])).status_code == 200


@pytest.mark.parametrize("persona", ["staff_of_b", "outsider"])
def test_others_get_the_plain_page_with_no_hint_that_the_object_exists(
    persona, tenant_a, tenant_b, outsider, staff_client
):
    client = staff_client(tenant_b.admin if persona == "staff_of_b" else outsider)
    for name, obj in (("crm_player_change", tenant_a.player), ("backoffice_brand_change", tenant_a.brand)):
        existing = client.get(reverse(f"admin:{name}", args=[obj.pk]))
        missing = client.get(reverse(f"admin:{name}", args=[10**9]))
        assert existing.status_code == missing.status_code == (404 if persona == "staff_of_b" else 403)
        assert _offer(existing.content.decode()) is None
        assert _plain(existing.content.decode()) == _plain(missing.content.decode())
        assert "Label A" not in existing.content.decode()


def test_no_offer_where_my_role_in_the_other_label_does_not_reach_the_page(both, tenant_a, tenant_b, staff_client):
    """Narrowed to B (support), the revoke page of B's own key is refused: no label to switch to."""
    client = _narrowed(staff_client, both, tenant_b.label)
    response = client.get(reverse("admin:backoffice_apikey_revoke", args=[tenant_b.api_key.pk]))
    assert response.status_code == 403
    assert _offer(response.content.decode()) is None


def test_the_outsider_and_strangers_get_styled_pages(outsider, staff_client):
    page = staff_client(outsider).get(reverse("admin:backoffice_brand_changelist"))
    assert page.status_code == 403
    assert 'data-status="403"' in page.content.decode()
    anonymous = staff_client().get("/no-such-page/")
    assert anonymous.status_code == 404
    html = anonymous.content.decode()
    assert 'data-status="404"' in html
    assert "Page not found" in html
    assert 'id="nav-sidebar"' not in html  # no admin around it for someone not signed in
    assert staff_client().get("/api/v1/no-such-endpoint").json()["code"] == "not_found"
