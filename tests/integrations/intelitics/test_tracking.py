"""Tracking links `/track/{token}`: mint a click id, store the click with its landing URL, referrer, address and
browser, and redirect (302) with the click id appended under the link's parameter name."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from crm.models import Click, Conversion
from tests.crm.affiliates.factories import funnel

pytestmark = pytest.mark.django_db


@pytest.fixture
def link(tenant_a):
    return funnel(tenant_a)[2]


def test_a_click_is_minted_stored_and_redirected_with_its_id(link, tenant_a):
    response = Client().get(
        f"/track/{link.token}?sub1=banner-7&sub2=", HTTP_REFERER="https://blog.example/review", HTTP_USER_AGENT="UA/1"
    )
    assert response.status_code == 302
    assert response["Cache-Control"] == "no-store"
    click = Click.objects.get()
    location = urlsplit(response["Location"])
    assert (location.scheme, location.netloc, location.path) == ("https", "casino.example", "/welcome")
    assert parse_qs(location.query, keep_blank_values=True) == {
        "lang": ["en"], "sub1": ["banner-7"], "sub2": [""], "click_id": [str(click.id)]
    }  # fmt: skip
    assert click.landing_url == response["Location"]
    assert (click.label_id, click.link_id, click.campaign_id) == (tenant_a.label.pk, link.pk, link.campaign_id)
    assert click.affiliate_id == link.campaign.affiliate_id
    assert (click.referrer, click.user_agent, click.ip) == ("https://blog.example/review", "UA/1", "127.0.0.1")
    assert click.params == {"sub1": "banner-7", "sub2": ""}


def test_the_click_parameter_name_is_the_links(link):
    link.click_param = "btag"
    link.landing_url = "https://casino.example/?btag=stale"
    link.save()
    response = Client().get(f"/track/{link.token}/")
    click = Click.objects.get()
    assert parse_qs(urlsplit(response["Location"]).query) == {"btag": [str(click.id)]}


def test_every_visit_is_a_new_click_and_the_click_feeds_the_pixel(link):
    client = Client()
    first = client.get(f"/track/{link.token}")
    client.get(f"/track/{link.token}")
    assert Click.objects.count() == 2
    click_id = parse_qs(urlsplit(first["Location"]).query)["click_id"][0]
    assert client.get(f"/convert/{click_id}?type=registration&player_id=shared-player").status_code == 202
    assert Conversion.objects.get().click_id.hex == click_id.replace("-", "")


@pytest.mark.parametrize("paused", ["link", "campaign", "affiliate"])
def test_a_paused_link_campaign_or_affiliate_redirects_without_tracking(link, paused):
    target = {"link": link, "campaign": link.campaign, "affiliate": link.campaign.affiliate}[paused]
    target.is_active = False
    target.save()
    response = Client().get(f"/track/{link.token}?sub1=a")
    assert response.status_code == 302
    assert response["Location"] == "https://casino.example/welcome?lang=en&sub1=a"
    assert not Click.objects.exists()


def test_head_redirects_without_a_click_and_unknown_tokens_are_404(link):
    assert Client().head(f"/track/{link.token}").status_code == 302
    assert not Click.objects.exists()
    assert Client().get("/track/nope").status_code == 404
    assert Client().post(f"/track/{link.token}").status_code == 405


def test_the_query_kept_is_bounded(link):
    query = "&".join(f"p{i}={'v' * 400}" for i in range(30))
    Client().get(f"/track/{link.token}?{query}")
    params = Click.objects.get().params
    assert len(params) == 20
    assert {len(v) for v in params.values()} == {256}
