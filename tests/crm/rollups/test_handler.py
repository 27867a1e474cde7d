"""The crm group's roll-ups handler: what a spec counts (conditions, measured field, days in the spec's time zone,
money in the base currency), and that each event adds once, in one statement per batch."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backoffice.models import ExchangeRate
from crm.models import Player, RollupStatus
from crm.pipeline import events_apply
from crm.services.rollups import rollup_backfill_run, rollup_series_rebuild, rollup_spec_ensure
from tests.crm.rollups.helpers import T0, deposit, ev, ingest, rollups, series, series_of_daily_rows

pytestmark = pytest.mark.django_db

CARD_SUM = {"event_type": "deposit", "measure": "sum", "field": "deposit_amount",
            "where": [{"field": "deposit_method", "op": "eq", "value": "CARD"}], "window": {"last_days": 30}}  # fmt: skip
COUNT = {"event_type": "deposit", "measure": "count", "window": {"last_days": 7}}


def test_specs_are_shared_by_the_same_question_and_normalized(tenant_a, tenant_b):
    spec = rollup_spec_ensure(label_id=tenant_a.label.pk, behaviour=CARD_SUM)
    same = {**CARD_SUM, "measure": "max", "where": [{"field": "deposit_method", "op": "eq", "value": "card"}],
            "window": {"previous": "week"}}  # fmt: skip

    assert rollup_spec_ensure(label_id=tenant_a.label.pk, behaviour=same) == spec  # max, other case, other window
    assert rollup_spec_ensure(label_id=tenant_a.label.pk, behaviour=COUNT) != spec  # a count measures no field
    other = rollup_spec_ensure(label_id=tenant_b.label.pk, behaviour=CARD_SUM)
    assert other != spec
    assert other.label_id == tenant_b.label.pk
    assert (spec.where, spec.field, spec.status, spec.time_zone) == (
        [{"field": "deposit_method", "op": "eq", "value": "card"}],
        "deposit_amount",
        RollupStatus.BUILDING,
        "UTC",
    )
    assert len(spec.boundary["parts"]) == 16


def test_matching_events_add_up_per_player_and_day_in_one_statement(tenant_a):
    sums = rollup_spec_ensure(label_id=tenant_a.label.pk, behaviour=CARD_SUM)
    counts = rollup_spec_ensure(label_id=tenant_a.label.pk, behaviour=COUNT)
    rollup_backfill_run(spec_id=sums.pk)
    rollup_backfill_run(spec_id=counts.pk)
    ids = ingest(tenant_a, [
        deposit("d1", 10, deposit_method="card"), deposit("d2", 2.5, deposit_method="Card"),
        deposit("d3", 7, deposit_method="bank"),  # counted, not summed: its method is not card
        deposit("d4", 4, at=T0 + dt.timedelta(days=1), deposit_method="card"),
        deposit("d5", 1, user="other", deposit_method="card"),
        ev("b1", "casino_bet", {"bet_amount": 5, "game_id": "g", "game_name": "G"}),  # another type: nowhere
    ])  # fmt: skip

    with CaptureQueriesContext(connection) as ctx:
        events_apply(ids)

    assert rollups(sums) == {
        ("shared-player", "2026-01-10"): (2, "12.5", "2.5", "10"),
        ("shared-player", "2026-01-11"): (1, "4", "4", "4"),
        ("other", "2026-01-10"): (1, "1", "1", "1"),
    }
    assert rollups(counts) == {
        ("shared-player", "2026-01-10"): (3, "0", None, None),
        ("shared-player", "2026-01-11"): (1, "0", None, None),
        ("other", "2026-01-10"): (1, "0", None, None),
    }
    upserts = [
        q["sql"].lstrip() for q in ctx.captured_queries if q["sql"].lstrip().startswith("INSERT INTO crm_rollup")
    ]
    # both specs, every player and day: one statement for the days, one for the players' running totals
    assert [sql.split()[2] for sql in upserts] == ["crm_rollup", "crm_rollupseries"]
    assert (
        series(sums)
        == series_of_daily_rows(sums)
        == {
            "shared-player": (["2026-01-10", "2026-01-11"], [2, 3], ["12.5", "16.5"]),
            "other": (["2026-01-10"], [1], ["1"]),
        }
    )
    assert series(counts) == {
        "shared-player": (["2026-01-10", "2026-01-11"], [3, 4], None),
        "other": (["2026-01-10"], [1], None),
    }


# Deposits on random days (before, between and after each other, in any order; often the same few days, so a batch
# adds to a row's last day or appends the next one: the short cuts) in several batches: the running totals merged
# batch by batch equal those of the daily rows, and those rollup_series_rebuild (the migration's backfill) writes.
batches = st.lists(
    st.lists(st.tuples(st.one_of(st.integers(0, 400), st.sampled_from([0, 1, 2])), st.sampled_from([0, 1, 2.5, 10]),
                       st.sampled_from(["a", "b"])),
             min_size=1, max_size=5),
    min_size=1, max_size=4,
)  # fmt: skip


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=batches)
def test_running_totals_merged_batch_by_batch_equal_those_of_the_daily_rows(tenant_a, batches):
    with transaction.atomic():
        sums = rollup_spec_ensure(label_id=tenant_a.label.pk, behaviour=CARD_SUM | {"where": []})
        counts = rollup_spec_ensure(label_id=tenant_a.label.pk, behaviour=COUNT)
        for batch in batches:
            events_apply(ingest(tenant_a, [
                deposit(uuid.uuid4().hex, amount, at=T0 - dt.timedelta(days=ago), user=user)
                for ago, amount, user in batch
            ]))  # fmt: skip
        merged = {spec.pk: (series(spec), series_of_daily_rows(spec)) for spec in (sums, counts)}
        rollup_series_rebuild(spec_ids=[sums.pk, counts.pk])
        rebuilt = {spec.pk: series(spec) for spec in (sums, counts)}
        transaction.set_rollback(True)

    for spec in (sums, counts):
        assert merged[spec.pk][0] == merged[spec.pk][1] == rebuilt[spec.pk]
    assert sum(len(days) for days, _, _ in rebuilt[counts.pk].values()) == len(
        {(user, ago) for batch in batches for ago, _, user in batch}
    )


def test_days_are_the_spec_time_zone_days(tenant_a):
    tenant_a.label.time_zone = "America/New_York"  # UTC-5 in January
    tenant_a.label.save(update_fields=["time_zone"])
    spec = rollup_spec_ensure(label_id=tenant_a.label.pk, behaviour=COUNT)
    midnight = dt.datetime(2026, 1, 11, 5, 0, tzinfo=dt.UTC)  # 00:00 in New York
    ids = ingest(tenant_a, [
        deposit("before", 1, at=midnight - dt.timedelta(milliseconds=1)),
        deposit("at", 1, at=midnight),
        deposit("utc-next-day", 1, at=dt.datetime(2026, 1, 11, 4, 0, tzinfo=dt.UTC)),  # still the 10th there
    ])  # fmt: skip

    events_apply(ids)

    assert spec.time_zone == "America/New_York"
    assert rollups(spec) == {
        ("shared-player", "2026-01-10"): (2, "0", None, None),
        ("shared-player", "2026-01-11"): (1, "0", None, None),
    }


def test_money_is_summed_in_the_base_currency_and_an_amount_without_rate_does_not_count(tenant_a):
    label = tenant_a.label  # base currency EUR
    ExchangeRate.objects.create(label=label, currency="USD", rate=Decimal("0.5"), valid_from=dt.date(2026, 1, 1))
    ExchangeRate.objects.create(label=label, currency="USD", rate=Decimal("0.25"), valid_from=dt.date(2026, 1, 11))
    Player.objects.filter(pk=tenant_a.player.pk).update(core_wallet_currency="USD")
    events_apply(ingest(tenant_a, [ev("pu", "profile_update", {"core_wallet_currency": "SEK"}, user="swede")]))
    sums = rollup_spec_ensure(label_id=label.pk, behaviour={**CARD_SUM, "where": []})
    big = rollup_spec_ensure(label_id=label.pk, behaviour={
        "event_type": "deposit", "measure": "count", "where": [{"field": "deposit_amount", "op": "gte", "value": 30}],
        "window": {"last_days": 1}})  # fmt: skip
    counts = rollup_spec_ensure(label_id=label.pk, behaviour=COUNT)
    ids = ingest(tenant_a, [
        deposit("usd-1", 100), deposit("usd-2", 50.5),  # at 0.5 on the 10th: 50 and 25.25 EUR
        deposit("usd-3", 100, at=T0 + dt.timedelta(days=1)),  # at 0.25 from the 11th: 25 EUR
        deposit("sek", 1000, user="swede"),  # no SEK rate: summed nowhere, compared with nothing, still a deposit
    ])  # fmt: skip

    events_apply(ids)

    assert rollups(sums) == {
        ("shared-player", "2026-01-10"): (2, "75.25", "25.25", "50"),
        ("shared-player", "2026-01-11"): (1, "25", "25", "25"),
    }
    assert rollups(big) == {("shared-player", "2026-01-10"): (1, "0", None, None)}  # 50 EUR >= 30; 25.25 is not
    assert rollups(counts)[("swede", "2026-01-10")] == (1, "0", None, None)
