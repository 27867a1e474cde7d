"""/api/v1 reads of affiliate tracking: label-scoped (another label's ids are 404), filters, the report."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from crm.models import Conversion
from tests.crm.affiliates.factories import click_on, funnel

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(tenant_a, tenant_b):
    a = funnel(tenant_a)
    b = funnel(tenant_b, code="2001", affiliate_name="Other")
    click_a, click_b = click_on(a[2]), click_on(b[2])
    now = timezone.now()
    conv_a = Conversion.objects.create(label=tenant_a.label, click=click_a, campaign=a[1], affiliate=a[0],
                                       type="deposit", occurred_at=now, received_at=now, currency="EUR",
                                       amount=Decimal("20"), dedupe_key="k", player_ext_id="p1")  # fmt: skip
    conv_b = Conversion.objects.create(label=tenant_b.label, click=click_b, campaign=b[1], affiliate=b[0],
                                       type="install", occurred_at=now, received_at=now)  # fmt: skip
    return {"a": (*a, click_a, conv_a), "b": (*b, click_b, conv_b)}


ENDPOINTS = [("affiliates", 0), ("campaigns", 1), ("links", 2), ("clicks", 3), ("conversions", 4)]


@pytest.mark.parametrize(("endpoint", "index"), ENDPOINTS)
def test_each_list_and_detail_is_label_scoped(world, key_client, endpoint, index):
    listing = key_client.get(f"/api/v1/{endpoint}")
    assert listing.status_code == 200
    ids = [row.get("id", row.get("click_id")) for row in listing.json()["results"]]
    mine, theirs = world["a"][index], world["b"][index]
    assert ids == [str(mine.pk) if endpoint == "clicks" else mine.pk]
    assert key_client.get(f"/api/v1/{endpoint}/{mine.pk}").status_code == 200
    other = key_client.get(f"/api/v1/{endpoint}/{theirs.pk}")
    assert (other.status_code, other.json()["code"]) == (404, "not_found")


@pytest.mark.parametrize(("endpoint", "index"), ENDPOINTS)
def test_staff_of_label_a_and_an_outsider(world, tenant_a, outsider, endpoint, index):
    staff, stranger = APIClient(), APIClient()
    staff.force_login(tenant_a.admin)
    stranger.force_login(outsider)
    assert staff.get(f"/api/v1/{endpoint}/{world['a'][index].pk}").status_code == 200
    assert staff.get(f"/api/v1/{endpoint}/{world['b'][index].pk}").status_code == 404
    assert stranger.get(f"/api/v1/{endpoint}").status_code == 403
    assert APIClient().get(f"/api/v1/{endpoint}").status_code == 401


def test_a_link_gives_its_tracking_url_and_a_conversion_its_fields(world, key_client):
    link = world["a"][2]
    body = key_client.get(f"/api/v1/links/{link.pk}").json()
    assert body["tracking_url"] == f"http://testserver/track/{link.token}"
    conversion = key_client.get("/api/v1/conversions").json()["results"][0]
    assert (conversion["type"], conversion["currency"], conversion["amount"]) == ("deposit", "EUR", "20.00")
    assert (conversion["player_id"], conversion["player_linked"]) == ("p1", False)
    assert conversion["click_id"] == str(world["a"][3].pk)


def test_conversions_filter_by_type_and_click(world, key_client):
    assert key_client.get("/api/v1/conversions?type=install").json()["results"] == []
    click = world["a"][3]
    assert len(key_client.get(f"/api/v1/conversions?click_id={click.pk}").json()["results"]) == 1
    bad = key_client.get("/api/v1/conversions?type=purchase")
    assert (bad.status_code, list(bad.json()["errors"])) == (400, ["type"])


def test_the_report(world, key_client):
    today = timezone.now().date()
    body = key_client.get(f"/api/v1/affiliates/report?start={today}&end={today}").json()
    assert len(body) == 1
    row = body[0]
    assert (row["name"], row["clicks"], row["deposits"], row["depositors"]) == ("Acme Partners (1042)", 1, 1, 1)
    assert row["deposit_amounts"] == {"EUR": "20.00"}
    assert row["funnel"] == {"clicks": 1, "installed": 0, "registered": 0, "deposited": 1,
                             "registered_without_install": 0, "deposited_without_registration": 1}  # fmt: skip
    by_campaign = key_client.get(f"/api/v1/affiliates/report?group=campaign&end={today}").json()
    assert [r["name"] for r in by_campaign] == ["Spring promo"]


def test_the_report_refuses_a_bad_period(world, key_client):
    reversed_ = key_client.get("/api/v1/affiliates/report?start=2026-03-02&end=2026-03-01")
    assert (reversed_.status_code, reversed_.json()["errors"]) == (400, {"start": ["Must be on or before end."]})
    too_long = key_client.get("/api/v1/affiliates/report?start=2020-01-01&end=2026-03-01")
    assert too_long.json()["errors"] == {"start": ["The period is at most 366 days."]}
    assert key_client.get("/api/v1/affiliates/report?group=brand").status_code == 400
    assert key_client.get(f"/api/v1/affiliates/report?end={dt.date(2026, 1, 1)}").status_code == 200
    # days whose period could not be worked out (found by schemathesis: a 500) are refused, naming the field
    too_early = key_client.get("/api/v1/affiliates/report?affiliate_id=1&end=0001-01-01")
    assert (too_early.status_code, too_early.json()["errors"]) == (
        400,
        {"end": ["Must be between 1970-01-01 and 9999-12-30."]},
    )
    too_late = key_client.get("/api/v1/affiliates/report?start=9999-12-31&end=9999-12-31")
    assert too_late.json()["errors"] == {"start": ["Must be between 1970-01-01 and 9999-12-30."]}


@pytest.mark.parametrize("value", ["63939606570105024196097948558295040", "0", "-1", "x"])
def test_the_report_refuses_an_affiliate_id_that_is_no_id(world, key_client, value):
    """A number past bigint reached the database as a 500 (found by schemathesis)."""
    response = key_client.get(f"/api/v1/affiliates/report?affiliate_id={value}")
    assert (response.status_code, list(response.json()["errors"])) == (400, ["affiliate_id"])


@pytest.mark.parametrize("endpoint", ["affiliates", "campaigns", "links", "clicks", "conversions"])
def test_a_list_costs_the_same_queries_for_1_or_20_rows(tenant_a, key_client, django_assert_max_num_queries, endpoint):
    affiliate, campaign, link = funnel(tenant_a)
    now = timezone.now()

    def grow(n):
        for _ in range(n):
            click = click_on(link)
            Conversion.objects.create(label=tenant_a.label, click=click, campaign=campaign, affiliate=affiliate,
                                      type="install", occurred_at=now, received_at=now)  # fmt: skip

    grow(1)
    with django_assert_max_num_queries(10) as one:
        assert key_client.get(f"/api/v1/{endpoint}").status_code == 200
    grow(19)
    with django_assert_max_num_queries(10) as twenty:
        assert key_client.get(f"/api/v1/{endpoint}").status_code == 200
    # The key's bookkeeping (last use) varies between calls; the list's own queries must not grow with its rows.
    mine = [[q["sql"] for q in c.captured_queries if "crm_" in q["sql"]] for c in (one, twenty)]
    assert len(mine[0]) == len(mine[1]) == 1


@pytest.mark.parametrize(
    ("endpoint", "param", "value"),
    [
        ("campaigns", "affiliate_id", "[{'': []}]"),
        ("clicks", "link_id", "c\x1e\xd9"),
        ("conversions", "campaign_id", "12450,-94822334339015373993206087680"),
        ("links", "campaign_id", "true,false"),
    ],
)
def test_a_bad_id_filter_is_a_400_naming_it(world, key_client, endpoint, param, value):
    """Found by schemathesis: these were 500s (a text, a boolean or a number past bigint compared to an id)."""
    response = key_client.get(f"/api/v1/{endpoint}", {param: value})
    assert response.status_code == 400
    assert list(response.json()["errors"]) == [param]
