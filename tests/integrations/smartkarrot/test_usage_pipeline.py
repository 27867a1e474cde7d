"""Usage events are events like any other: automation rules fire on them, the condition builder and the OpenAPI
schema know their types, and user attributes reach the player's profile as custom properties."""

from __future__ import annotations

import pytest

from crm.admin.builder.catalogue import event_types
from crm.event_docs import partner_types
from crm.models import Event, Player
from crm.pipeline import events_apply
from gamification.selectors import wallet_get
from tests.crm.rules.helpers import rule_make
from tests.integrations.smartkarrot.test_usage_endpoints import USER, events_body, purchase

pytestmark = pytest.mark.django_db


def test_a_rule_on_a_usage_event_name_fires_for_the_player(sk_client, tenant_a):
    rule_make(tenant_a.label, trigger_type="usage_event",
              conditions=[{"field": "name", "op": "eq", "value": "Purchase Product"}])  # fmt: skip
    signed_in = {"name": "Signed In", "loggedAtTime": "2020-03-28T12:00:00Z"}
    assert (
        sk_client.post("/v4/usageanalytics/event", events_body(purchase(), signed_in), format="json").status_code == 200
    )
    events_apply(list(Event.objects.filter(label=tenant_a.label).values_list("id", flat=True)))
    player = Player.objects.get(label=tenant_a.label, user_ext_id=USER)
    assert wallet_get(player=player).points == 50  # the purchase, not the sign-in


def test_a_rule_on_a_slow_page_load(sk_client, tenant_a):
    rule_make(tenant_a.label, trigger_type="page_load_event",
              conditions=[{"field": "load_time", "op": "gt", "value": 5}])  # fmt: skip
    pages = [{"name": "page_load_event", "loggedAtTime": f"2020-03-28T12:0{n}:00Z", "parameters": [
        {"attributeName": "requestCount", "dataType": "Number", "numberValue": 3},
        {"attributeName": "loadTime", "dataType": "Number", "numberValue": load},
        {"attributeName": "pageUrl", "dataType": "String", "stringValue": "/#/lobby"}]}
        for n, load in enumerate([1.5, 7.25])]  # fmt: skip
    assert sk_client.post("/v4/usageanalytics/event", events_body(*pages), format="json").status_code == 200
    events_apply(list(Event.objects.filter(label=tenant_a.label).values_list("id", flat=True)))
    assert wallet_get(player=Player.objects.get(user_ext_id=USER, label=tenant_a.label)).points == 50


def test_user_attributes_become_custom_properties_of_the_player(sk_client, tenant_a):
    body = {
        "userId": USER,
        "platform": "Web",
        "appId": "app",
        "userAttributes": [
            {"name": "Region", "dataType": "String", "stringValue": "US", "loggedAtTime": "2018-12-14T07:46:31.565Z"}
        ],
    }
    assert sk_client.post("/v4/usageanalytics/user/attribute", body, format="json").status_code == 200
    events_apply(list(Event.objects.filter(label=tenant_a.label).values_list("id", flat=True)))
    assert Player.objects.get(label=tenant_a.label, user_ext_id=USER).custom == {"usage_region": "US"}


def test_the_builder_and_the_openapi_schema_know_the_usage_types(tenant_a):
    types = {t["name"]: t for t in event_types(label_id=tenant_a.label.pk)}
    assert {f["name"] for f in types["usage_event"]["fields"]} >= {"name", "module", "platform", "session_id"}
    assert {f["name"] for f in types["page_load_event"]["fields"]} >= {"load_time", "request_count", "page_url"}
    assert "parameters" not in {f["name"] for f in types["usage_event"]["fields"]}  # objects are not testable
    docs = {d.name: d for d in partner_types()}
    assert docs["app_session_start"].required_names == ["session_id", "start_time"]
    assert all(f.description for name in ("usage_event", "app_session_end", "page_load_event")
               for f in docs[name].fields)  # fmt: skip
