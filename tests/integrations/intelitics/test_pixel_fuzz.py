"""Fuzzing the pixel: any path segment and any query (known and unknown parameters, any text, repeated names) answers
202, 404 or 422 with the error shape naming a parameter, never a 500; a 422 stores nothing."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm.models import Conversion
from tests.crm.affiliates.factories import click_on, funnel

pytestmark = pytest.mark.django_db

NAMES = st.sampled_from(["type", "test", "player_id", "currency", "amount", "time", "transaction_id", "x", "type[]"])
VALUES = st.one_of(
    st.sampled_from(
        [
            "install",
            "registration",
            "deposit",
            "eur",
            "GBP",
            "usd",
            "10",
            "10.5",
            "-1",
            "1e9",
            "true",
            "false",
            "2024-05-01T12:00:00Z",
            "",
            "NaN",
            "0x1A",
            "1_000",
        ]
    ),
    st.text(max_size=40),
)
QUERY = st.lists(st.tuples(NAMES, VALUES), max_size=8)


@pytest.fixture
def click(tenant_a):
    return click_on(funnel(tenant_a)[2])


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(query=QUERY, use_click=st.booleans(), segment=st.text(max_size=40))
def test_any_query_gets_202_404_or_a_422_naming_a_parameter(click, query, use_click, segment):
    path_id = str(click.id) if use_click else quote(segment.replace("/", ""), safe="")
    qs = "&".join(f"{quote(n, safe='[]')}={quote(v, safe='')}" for n, v in query)
    before = Conversion.objects.count()
    response = Client().get(f"/convert/{path_id}?{qs}")
    assert response.status_code in (202, 404, 422), response.content[:300]
    if response.status_code == 202:
        assert response.content == b""
    else:
        body = response.json()
        assert body["errors"]
        assert body["code"] == "not_found" or body["code"].startswith("invalid_")
        assert Conversion.objects.count() == before
