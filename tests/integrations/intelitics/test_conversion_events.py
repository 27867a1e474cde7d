"""Conversions into the event log: the pixel's conversions of known players become `affiliate_conversion` events
(source "pixel"), once each, so rules, segments and journeys react to them."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from crm.models import Conversion, Event
from crm.pipeline import events_apply
from crm.services.affiliates import conversions_log
from crm.services.ingest import events_ingest
from crm.tasks_affiliates import affiliate_conversions_link, affiliate_conversions_log
from gamification.selectors import wallet_get
from tests.crm.affiliates.factories import click_on, funnel
from tests.crm.rules.helpers import rule_make
from tests.factories import PlayerFactory

pytestmark = pytest.mark.django_db


def fire(click, **params):
    return Client().get(f"/convert/{click.id}", params)


def conversion_events(label):
    return list(Event.objects.filter(label=label, type="affiliate_conversion").order_by("id"))


def test_a_deposit_of_a_known_player_becomes_one_event_with_the_conversions_fields(tenant_a):
    affiliate, campaign, link = funnel(tenant_a, code="1042")
    click = click_on(link)
    user = tenant_a.player.user_ext_id
    assert (
        fire(click, type="deposit", currency="usd", amount="40.5", player_id=user, transaction_id="t-1").status_code
        == 202
    )
    conversion = Conversion.objects.get()
    assert conversion.logged_at is None

    assert conversions_log() == (1, 0)
    (event,) = conversion_events(tenant_a.label)
    assert (event.event_id, event.source, event.player_id) == (
        f"conversion-{conversion.pk}",
        "pixel",
        tenant_a.player.pk,
    )
    assert event.occurred_at == conversion.occurred_at.replace(
        microsecond=conversion.occurred_at.microsecond // 1000 * 1000
    )
    assert event.payload == {
        "conversion_type": "deposit",
        "affiliate_code": "1042",
        "affiliate_id": affiliate.pk,
        "campaign_id": campaign.pk,
        "click_id": str(click.id),
        "conversion_id": conversion.pk,
        "amount": 40.5,
        "currency": "usd",
        "transaction_id": "t-1",
    }
    conversion.refresh_from_db()
    assert conversion.logged_at is not None
    assert conversions_log() == (0, 0)  # logged once
    assert len(conversion_events(tenant_a.label)) == 1


def test_an_unknown_player_is_logged_once_linked_and_an_install_without_player_never(tenant_a):
    _, _, link = funnel(tenant_a)
    click = click_on(link)
    fire(click, type="install")
    fire(click, type="registration", player_id="arrives-later")
    assert conversions_log() == (0, 0)
    assert conversion_events(tenant_a.label) == []

    PlayerFactory(brand=tenant_a.brand, label=tenant_a.label, user_ext_id="arrives-later")
    assert affiliate_conversions_link.apply().get() == 1
    assert affiliate_conversions_log.apply().get() == 1
    (event,) = conversion_events(tenant_a.label)
    assert (event.player.user_ext_id, event.payload["conversion_type"]) == ("arrives-later", "registration")
    assert Conversion.objects.get(type="install").logged_at is None  # no player: stays out of the log


def test_a_conversion_whose_event_is_already_in_the_log_is_not_logged_twice(tenant_a):
    _, _, link = funnel(tenant_a)
    fire(click_on(link), type="registration", player_id=tenant_a.player.user_ext_id)
    assert conversions_log() == (1, 0)
    Conversion.objects.update(logged_at=None)  # as if the marking had been lost: the log acknowledges a duplicate
    assert conversions_log() == (1, 0)
    assert len(conversion_events(tenant_a.label)) == 1


def test_each_label_gets_its_own_conversions_events(tenant_a, tenant_b):
    for tenant in (tenant_a, tenant_b):
        _, _, link = funnel(tenant)
        fire(click_on(link), type="registration", player_id=tenant.player.user_ext_id)
    assert conversions_log() == (2, 0)
    (a,) = conversion_events(tenant_a.label)
    (b,) = conversion_events(tenant_b.label)
    assert (a.player_id, b.player_id) == (tenant_a.player.pk, tenant_b.player.pk)


def test_a_conversion_the_log_refuses_is_marked_and_reported_not_retried_forever(tenant_a):
    _, _, link = funnel(tenant_a)
    fire(click_on(link), type="registration", player_id=tenant_a.player.user_ext_id)
    tenant_a.brand.is_active = False
    tenant_a.brand.save(update_fields=["is_active"])
    assert conversions_log() == (0, 1)
    assert conversion_events(tenant_a.label) == []
    assert Conversion.objects.get().logged_at is not None
    assert conversions_log() == (0, 0)


def test_a_rule_on_deposit_conversions_fires_through_the_pipeline(tenant_a):
    rule_make(
        tenant_a.label,
        trigger_type="affiliate_conversion",
        conditions=[{"field": "conversion_type", "op": "eq", "value": "deposit"}],
        activities=[{"type": "points", "amount": 25}],
    )
    _, _, link = funnel(tenant_a)
    click = click_on(link)
    user = tenant_a.player.user_ext_id
    fire(click, type="registration", player_id=user)
    fire(click, type="deposit", currency="eur", amount="20", player_id=user, transaction_id="d-1")
    assert conversions_log() == (2, 0)
    events_apply([e.pk for e in conversion_events(tenant_a.label)])
    assert wallet_get(player=tenant_a.player).points == 25  # the deposit only


def test_partners_cannot_send_conversion_events(tenant_a):
    item = {
        "event_id": "fake",
        "type": "affiliate_conversion",
        "ext_brand_id": tenant_a.brand.ext_brand_id,
        "user_ext_id": tenant_a.player.user_ext_id,
        "payload": {"conversion_type": "deposit", "affiliate_code": "1"},
    }
    (result,) = events_ingest(label=tenant_a.label, items=[item], source="api").items
    assert (result.status, list(result.errors)) == ("invalid", ["type"])
    assert not Event.objects.filter(type="affiliate_conversion").exists()


def test_a_conversion_amount_of_a_deposit_without_amount_is_left_out(tenant_a):
    _, _, link = funnel(tenant_a)
    fire(click_on(link), type="deposit", player_id=tenant_a.player.user_ext_id, transaction_id="no-amount")
    conversions_log()
    (event,) = conversion_events(tenant_a.label)
    assert sorted(event.payload) == [
        "affiliate_code", "affiliate_id", "campaign_id", "click_id", "conversion_id", "conversion_type", "transaction_id"
    ]  # fmt: skip
    assert Conversion.objects.get().amount is None


def test_the_events_list_says_what_converted_through_whom(tenant_a):
    from crm.admin.events.formatting import event_summary

    _, _, link = funnel(tenant_a, code="1042")
    click = click_on(link)
    user = tenant_a.player.user_ext_id
    fire(click, type="registration", player_id=user)
    fire(click, type="deposit", currency="usd", amount="1040.5", player_id=user, transaction_id="t-9")
    conversions_log()
    summaries = [event_summary(e) for e in conversion_events(tenant_a.label)]
    assert summaries == ["registration via 1042", "deposit via 1042 · 1,040.50 USD"]


def test_a_conversion_timed_ahead_waits_until_the_log_takes_its_time(tenant_a):
    """The pixel takes a `time` up to 5 minutes ahead (clocks differ), the log one minute: such a conversion is
    neither refused nor marked, and is logged once its time comes."""
    _, _, link = funnel(tenant_a)
    ahead = (timezone.now() + dt.timedelta(minutes=4)).isoformat()
    fire(click_on(link), type="registration", player_id=tenant_a.player.user_ext_id, time=ahead)
    assert conversions_log() == (0, 0)
    assert Conversion.objects.get().logged_at is None
    Conversion.objects.update(occurred_at=timezone.now())  # as if the 4 minutes had passed
    assert conversions_log() == (1, 0)
    assert len(conversion_events(tenant_a.label)) == 1
