"""Gamification facts: emitted once, in the transaction of the change they report; partners cannot forge them."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from crm.models import Event
from crm.services.ingest import events_ingest
from gamification.services.store import store_purchase
from gamification.services.wallet import wallet_adjust
from tests.gamification.store_helpers import fund, item_make


def _facts(label, type_):
    return list(Event.objects.filter(label=label, type=type_, source="system").order_by("id"))


def test_every_balance_change_is_one_balance_changed_fact(tenant_a):
    player = tenant_a.player
    first = wallet_adjust(player=player, currency="gems", amount=7, source="api", key="k1")
    wallet_adjust(player=player, currency="gems", amount=7, source="api", key="k1")  # replay: no new fact
    wallet_adjust(player=player, currency="gems", amount=-2, source="manual", key="k2", reason="fix")
    facts = _facts(tenant_a.label, "balance_changed")
    assert [f.payload for f in facts] == [
        {"currency": "gems", "amount": 7, "balance": 7, "source": "api", "entry_id": first.entry.pk},
        {"currency": "gems", "amount": -2, "balance": 5, "source": "manual", "entry_id": facts[1].payload["entry_id"]},
    ]
    assert facts[0].event_id == f"wallet:{first.entry.pk}"
    with connection.cursor() as cursor:  # in the log like any event, stamped with the change's own transaction
        cursor.execute("SELECT count(*) FROM crm_event WHERE id = %s AND txid = pg_current_xact_id()", [facts[0].pk])
        assert cursor.fetchone()[0] == 1


def test_a_rolled_back_change_leaves_no_fact(tenant_a):
    def credit_then_fail():
        with transaction.atomic():
            wallet_adjust(player=tenant_a.player, currency="points", amount=5, source="api", key="k1")
            raise RuntimeError("the caller fails after the credit")

    with pytest.raises(RuntimeError):
        credit_then_fail()
    assert _facts(tenant_a.label, "balance_changed") == []


def test_a_purchase_is_a_store_item_purchased_fact(tenant_a):
    fund(tenant_a.player, 30)
    item = item_make(tenant_a.label, price=10)
    purchase = store_purchase(player=tenant_a.player, item=item, key="p1").purchase
    store_purchase(player=tenant_a.player, item=item, key="p1")  # replay
    (fact,) = _facts(tenant_a.label, "store_item_purchased")
    assert fact.payload == {
        "item_id": item.pk,
        "item_name": "T-shirt",
        "price": 10,
        "currency": "points",
        "purchase_id": purchase.pk,
    }


@pytest.mark.parametrize("type_", ["balance_changed", "mission_completed", "tournament_won", "level_changed"])
def test_partners_cannot_send_facts(tenant_a, key_client, type_):
    body = {
        "event_id": "forged-1",
        "type": type_,
        "ext_brand_id": "shared-brand",
        "user_ext_id": "shared-player",
        "occurred_at": "2026-11-01T10:00:00Z",
        "payload": {},
    }
    response = key_client.post("/api/v1/events", body, format="json")
    assert response.status_code == 400
    assert "type" in response.json()["errors"]
    assert not Event.objects.filter(event_id="forged-1").exists()


def test_facts_emitted_in_a_batch_are_ingested_together_on_the_way_out(tenant_a):
    from gamification.facts import facts_batched

    player = tenant_a.player
    with facts_batched():
        for n in range(5):
            wallet_adjust(player=player, currency="gems", amount=1, source="api", key=f"k{n}")
        assert _facts(tenant_a.label, "balance_changed") == []  # queued, not yet ingested
    assert [f.payload["balance"] for f in _facts(tenant_a.label, "balance_changed")] == [1, 2, 3, 4, 5]

    def batch_then_fail():
        with transaction.atomic(), facts_batched():
            wallet_adjust(player=player, currency="gems", amount=1, source="api", key="k-failed")
            raise RuntimeError("the batch fails")

    with pytest.raises(RuntimeError):
        batch_then_fail()
    assert len(_facts(tenant_a.label, "balance_changed")) == 5


def _fact(player, key="wallet:1", **payload):
    from crm.services.ingest import SystemEvent

    body = {"currency": "gems", "amount": 3, "balance": 3, "source": "api", "entry_id": 1} | payload
    return SystemEvent(player.pk, player.brand.ext_brand_id, player.user_ext_id, "balance_changed", key, body)


def test_facts_are_stored_once_and_as_ingest_would_store_them(tenant_a):
    from crm.services.ingest import DUPLICATE, system_events_store

    player = tenant_a.player
    label = tenant_a.label
    first = system_events_store(label_id=label.pk, events=[_fact(player), _fact(player)])  # the same key twice
    assert len(first) == 1
    assert system_events_store(label_id=label.pk, events=[_fact(player)]) == []  # a replay stores nothing
    (stored,) = _facts(label, "balance_changed")
    assert (stored.pk, stored.player_id, stored.event_id, stored.source) == (first[0], player.pk, "wallet:1", "system")
    assert stored.occurred_at.microsecond % 1000 == 0
    # The same fact through the general ingest is a duplicate, not a conflict: the digest is computed alike.
    item = {"event_id": "wallet:1", "type": "balance_changed", "ext_brand_id": player.brand.ext_brand_id,
            "user_ext_id": player.user_ext_id, "occurred_at": stored.occurred_at.isoformat(), "payload": stored.payload}  # fmt: skip
    result = events_ingest(label=label, items=[item], source="system")
    assert [r.status for r in result.items] == [DUPLICATE]


@pytest.mark.parametrize(
    ("fact", "message"),
    [
        (lambda p: _fact(p, amount="three"), "Invalid balance_changed fact 'wallet:1'.*payload\\.amount"),
        (lambda p: _fact(p, key=" "), "Invalid balance_changed fact id ' '"),
    ],
)
def test_an_invalid_fact_is_refused_and_nothing_of_its_batch_is_stored(tenant_a, fact, message):
    from crm.services.ingest import system_events_store

    good = _fact(tenant_a.player, key="wallet:2")
    with pytest.raises(ValueError, match=message), transaction.atomic():
        system_events_store(label_id=tenant_a.label.pk, events=[good, fact(tenant_a.player)])
    assert _facts(tenant_a.label, "balance_changed") == []


def test_a_fact_of_a_type_partners_send_is_refused(tenant_a):
    import dataclasses

    from crm.services.ingest import system_events_store

    deposit = dataclasses.replace(_fact(tenant_a.player), type="deposit", payload={"deposit_amount": 5})
    with pytest.raises(ValueError, match="'deposit' is not a system event type"):
        system_events_store(label_id=tenant_a.label.pk, events=[deposit])
    assert not Event.objects.filter(label=tenant_a.label, type="deposit").exists()


def test_facts_of_two_labels_in_one_batch_are_each_stored_in_their_players_label(tenant_a, tenant_b):
    from gamification.facts import facts_batched

    with facts_batched():
        wallet_adjust(player=tenant_a.player, currency="gems", amount=2, source="api", key="k-a")
        wallet_adjust(player=tenant_b.player, currency="gems", amount=3, source="api", key="k-b")
    (fact_a,) = _facts(tenant_a.label, "balance_changed")
    (fact_b,) = _facts(tenant_b.label, "balance_changed")
    assert (fact_a.player_id, fact_a.payload["amount"]) == (tenant_a.player.pk, 2)
    assert (fact_b.player_id, fact_b.payload["amount"]) == (tenant_b.player.pk, 3)
