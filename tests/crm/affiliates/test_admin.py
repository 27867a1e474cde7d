"""The affiliate admin: label-scoped for the three personas, campaigns and links never straddle labels, the tracking
URL shown, the report (chart, activity, funnel with skips) and its CSV export with formulas escaped."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from backoffice.models import Role
from crm.models import Campaign, Conversion, TrackingLink
from tests.crm.affiliates.factories import AffiliateFactory, click_on, funnel

pytestmark = pytest.mark.django_db

PAGES = ["affiliate", "campaign", "trackinglink", "click", "conversion"]


@pytest.fixture
def world(tenant_a, tenant_b):
    a = funnel(tenant_a)
    b = funnel(tenant_b, code="2001", affiliate_name="Other Label Partners")
    click = click_on(a[2])
    click_b = click_on(b[2])
    conv = Conversion.objects.create(
        label=tenant_a.label, click=click, campaign=a[1], affiliate=a[0], type="registration",
        occurred_at=timezone.now(), received_at=timezone.now(), player_ext_id="shared-player",
    )  # fmt: skip
    conv_b = Conversion.objects.create(
        label=tenant_b.label, click=click_b, campaign=b[1], affiliate=b[0], type="install",
        occurred_at=timezone.now(), received_at=timezone.now(),
    )  # fmt: skip
    return {"a": (*a, click, conv), "b": (*b, click_b, conv_b)}


def _objects(side):
    affiliate, campaign, link, click, conversion = side
    return {
        "affiliate": affiliate,
        "campaign": campaign,
        "trackinglink": link,
        "click": click,
        "conversion": conversion,
    }


@pytest.mark.parametrize("role", [Role.ADMIN, Role.MANAGER, Role.SUPPORT])
@pytest.mark.parametrize("page", PAGES)
def test_each_role_of_label_a_sees_its_rows_and_label_bs_ids_are_404(
    world, tenant_a, staff_with_role, staff_client, role, page
):
    client = staff_client(staff_with_role(tenant_a.label, role))
    listing = client.get(f"/admin/crm/{page}/")
    assert listing.status_code == 200
    mine, theirs = _objects(world["a"])[page], _objects(world["b"])[page]
    assert client.get(f"/admin/crm/{page}/{mine.pk}/change/").status_code == 200
    assert client.get(f"/admin/crm/{page}/{theirs.pk}/change/").status_code == 404
    if page == "affiliate":
        assert "Acme Partners" in listing.content.decode()
        assert "Other Label Partners" not in listing.content.decode()


@pytest.mark.parametrize("page", [*PAGES, "affiliate/report"])
def test_an_outsider_is_refused(world, outsider, staff_client, page):
    assert staff_client(outsider).get(f"/admin/crm/{page}/").status_code == 403


def test_support_reads_but_cannot_add(world, tenant_a, staff_with_role, staff_client):
    client = staff_client(staff_with_role(tenant_a.label, Role.SUPPORT))
    assert client.get("/admin/crm/affiliate/add/").status_code == 403
    assert (
        client.post("/admin/crm/affiliate/add/", {"label": tenant_a.label.pk, "name": "X", "code": "9"}).status_code
        == 403
    )


def test_a_manager_creates_a_campaign_and_a_link_that_take_their_label_from_above(
    world, tenant_a, tenant_b, staff_with_role, staff_client
):
    client = staff_client(staff_with_role(tenant_a.label, Role.MANAGER))
    affiliate = world["a"][0]
    response = client.post(
        "/admin/crm/campaign/add/",
        {"affiliate": affiliate.pk, "brand": tenant_a.brand.pk, "name": "Summer", "is_active": "on"},
    )
    assert response.status_code == 302
    campaign = Campaign.objects.get(name="Summer")
    assert campaign.label_id == tenant_a.label.pk
    response = client.post(
        "/admin/crm/trackinglink/add/",
        {
            "campaign": campaign.pk,
            "name": "Footer",
            "landing_url": "https://casino.example/",
            "click_param": "cid",
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    link = TrackingLink.objects.get(name="Footer")
    assert (link.label_id, link.click_param, len(link.token)) == (tenant_a.label.pk, "cid", 16)
    page = client.get(f"/admin/crm/trackinglink/{link.pk}/change/").content.decode()
    assert f"http://testserver/track/{link.token}" in page


def test_another_labels_affiliate_or_brand_cannot_be_chosen(world, tenant_a, tenant_b, staff_with_role, staff_client):
    client = staff_client(staff_with_role(tenant_a.label, Role.ADMIN))
    theirs = world["b"][0]
    response = client.post(
        "/admin/crm/campaign/add/", {"affiliate": theirs.pk, "brand": tenant_a.brand.pk, "name": "Steal"}
    )
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    response = client.post(
        "/admin/crm/campaign/add/", {"affiliate": world["a"][0].pk, "brand": tenant_b.brand.pk, "name": "Steal"}
    )
    assert "Select a valid choice" in response.content.decode()
    assert not Campaign.objects.filter(name="Steal").exists()


def test_a_link_needs_an_http_landing_page(world, tenant_a, staff_with_role, staff_client):
    client = staff_client(staff_with_role(tenant_a.label, Role.ADMIN))
    response = client.post(
        "/admin/crm/trackinglink/add/",
        {"campaign": world["a"][1].pk, "name": "Bad", "landing_url": "javascript:alert(1)", "click_param": "click_id"},
    )
    assert response.status_code == 200
    assert not TrackingLink.objects.filter(name="Bad").exists()


def test_the_click_page_shows_its_funnel_with_the_skip(world, tenant_a, staff_client):
    affiliate, campaign, _link, click, _ = world["a"]
    Conversion.objects.create(
        label=tenant_a.label, click=click, campaign=campaign, affiliate=affiliate, type="deposit",
        occurred_at=timezone.now(), received_at=timezone.now(), currency="EUR", amount=Decimal("10"), dedupe_key="x",
    )  # fmt: skip
    page = staff_client(tenant_a.admin).get(f"/admin/crm/click/{click.pk}/change/").content.decode()
    funnel_html = page[page.index('data-testid="click-funnel"') :]
    assert funnel_html.index("Install") < funnel_html.index("Skipped") < funnel_html.index("Registration")


# --- report --------------------------------------------------------------------------------------------------------


@pytest.fixture
def traffic(tenant_a):
    """Acme (code 1042): 4 clicks; one installs, registers and deposits EUR 50 + EUR 25; one deposits USD 40 without
    registering (a skip); one registers without installing. Zeta (=HYPERLINK formula name): 1 click, nothing."""
    affiliate, campaign, link = funnel(tenant_a)
    zeta = AffiliateFactory(label=tenant_a.label, code="zeta", name='=HYPERLINK("x")')
    zeta_campaign = Campaign.objects.create(label=tenant_a.label, affiliate=zeta, brand=tenant_a.brand, name="Z")
    zeta_link = TrackingLink.objects.create(
        label=tenant_a.label, campaign=zeta_campaign, name="z", landing_url="https://z.example/"
    )
    day = dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC)
    clicks = [click_on(link, created_at=day) for _ in range(4)]
    click_on(zeta_link, created_at=day)

    def conv(click, kind, **extra):
        Conversion.objects.create(label=tenant_a.label, click=click, campaign=campaign, affiliate=affiliate, type=kind,
                                  occurred_at=day + dt.timedelta(hours=1), received_at=day, **extra)  # fmt: skip

    conv(clicks[0], "install")
    conv(clicks[0], "registration")
    conv(clicks[0], "deposit", currency="EUR", amount=Decimal("50"), dedupe_key="a")
    conv(clicks[0], "deposit", currency="EUR", amount=Decimal("25"), dedupe_key="b")
    conv(clicks[1], "deposit", currency="USD", amount=Decimal("40"), dedupe_key="c")
    conv(clicks[2], "registration")
    return affiliate


def test_the_report_counts_activity_amounts_rates_and_the_skips(traffic, tenant_a, staff_client):
    page = staff_client(tenant_a.admin).get("/admin/crm/affiliate/report/?start=2026-03-01&end=2026-03-31")
    assert page.status_code == 200
    rows = {r.name: r for r in page.context["rows"]}
    acme = rows["Acme Partners (1042)"]
    assert (acme.clicks, acme.installs, acme.registrations, acme.deposits, acme.depositors) == (4, 1, 2, 3, 2)
    assert acme.amounts == {"EUR": Decimal("75.00"), "USD": Decimal("40.00")}
    assert (acme.registration_rate, acme.deposit_rate, acme.click_to_deposit_rate) == (0.5, 1.0, 0.5)
    assert (acme.cohort_clicks, acme.cohort_installed, acme.cohort_registered, acme.cohort_deposited) == (4, 1, 2, 2)
    assert (acme.registered_without_install, acme.deposited_without_registration) == (1, 1)
    zeta = rows['=HYPERLINK("x") (zeta)']
    assert (zeta.clicks, zeta.registrations, zeta.registration_rate) == (1, 0, 0.0)
    chart_days = page.context["chart"]
    assert '"03-10"' in chart_days
    assert page.context["total"].clicks == 5


def test_the_report_by_campaign_and_for_one_affiliate(traffic, tenant_a, staff_client):
    client = staff_client(tenant_a.admin)
    page = client.get(
        f"/admin/crm/affiliate/report/?start=2026-03-01&end=2026-03-31&group=campaign&affiliate={traffic.pk}"
    )
    assert [(r.name, r.clicks, r.deposits) for r in page.context["rows"]] == [("Spring promo", 4, 3)]


def test_another_labels_affiliate_in_the_report_shows_nothing_of_it(traffic, tenant_a, tenant_b, staff_client):
    _, _, link_b = funnel(tenant_b, code="2001")
    click_on(link_b, created_at=dt.datetime(2026, 3, 10, tzinfo=dt.UTC))
    other = link_b.campaign.affiliate_id
    page = staff_client(tenant_a.admin).get(
        f"/admin/crm/affiliate/report/?start=2026-03-01&end=2026-03-31&affiliate={other}"
    )
    assert sum(r.clicks for r in page.context["rows"]) == 5  # the filter is ignored: label A's affiliates only
    assert "2001" not in page.content.decode()


def test_the_report_exports_csv_with_formulas_escaped(traffic, tenant_a, staff_client):
    response = staff_client(tenant_a.admin).get(
        "/admin/crm/affiliate/report/?start=2026-03-01&end=2026-03-31&format=csv"
    )
    assert response["Content-Disposition"] == 'attachment; filename="affiliates-affiliate-2026-03-01-2026-03-31.csv"'
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[0].startswith("name,affiliate,clicks,installs,registrations,deposits,depositors,deposit_amounts")
    assert (
        lines[1]
        == "Acme Partners (1042),Acme Partners (1042),4,1,2,3,2,EUR 75.00 USD 40.00,0.5000,1.0000,0.5000,4,1,2,2,1,1"
    )
    assert lines[2].startswith('"\'=HYPERLINK(""x"") (zeta)"')
    assert lines[3].startswith("Total,,5,1,2,3,2,EUR 75.00 USD 40.00")


def test_a_bad_period_is_named_and_the_default_shown(traffic, tenant_a, staff_client):
    page = staff_client(tenant_a.admin).get("/admin/crm/affiliate/report/?start=2026-03-31&end=2026-03-01")
    assert page.status_code == 200
    assert page.context["errors"] == {"start": "Must be on or before end."}
    assert staff_client(tenant_a.admin).get("/admin/crm/affiliate/report/?start=garbage").context["errors"] == {
        "start": "Dates as YYYY-MM-DD."
    }


@pytest.mark.parametrize("page", ["click", "conversion"])
def test_searching_by_any_text_never_fails(world, tenant_a, staff_client, page):
    client = staff_client(tenant_a.admin)
    click = world["a"][3]
    assert client.get(f"/admin/crm/{page}/", {"q": "not-a-uuid"}).status_code == 200
    found = client.get(f"/admin/crm/{page}/", {"q": str(click.id)})
    assert found.status_code == 200
    assert found.context["cl"].result_count == 1
