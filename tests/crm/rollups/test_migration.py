"""Migration crm/0012_rollup_buckets: the running totals of the roll-ups that existed before it, built from their
daily rows."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from crm.models import RollupSpec
from tests.crm.rollups.helpers import series, series_of_daily_rows
from tests.factories import PlayerFactory

BEFORE = [("crm", "0011_bonuses")]
DAY = dt.date(2026, 1, 10)


def _migrate(targets) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor


@pytest.mark.django_db(transaction=True)
def test_0012_builds_the_running_totals_of_the_existing_daily_rows(tenant_a):
    other = PlayerFactory(brand=tenant_a.brand, label=tenant_a.label, user_ext_id="other")
    executor = _migrate(BEFORE)
    leaves = executor.loader.graph.leaf_nodes()
    old = executor.loader.project_state(BEFORE).apps
    try:
        spec_model, rollup_model = old.get_model("crm", "RollupSpec"), old.get_model("crm", "Rollup")
        common = {"label_id": tenant_a.label.pk, "event_type": "deposit", "time_zone": "UTC", "base_currency": "EUR",
                  "backfill_from": DAY - dt.timedelta(days=365), "status": "ready"}  # fmt: skip
        counts = spec_model.objects.create(field="", digest="c" * 64, **common)
        sums = spec_model.objects.create(field="deposit_amount", digest="s" * 64, **common)
        rows = [  # (player, days after DAY, count, sum), written out of day order
            (tenant_a.player.pk, 40, 1, "7.5"), (tenant_a.player.pk, 0, 2, "10"), (tenant_a.player.pk, 3, 1, "0.25"),
            (other.pk, -300, 4, "1000"),
        ]  # fmt: skip
        for spec in (counts, sums):
            for player_id, days, count, total in rows:
                rollup_model.objects.create(
                    spec_id=spec.pk, player_id=player_id, day=DAY + dt.timedelta(days=days), count=count,
                    sum=Decimal(total) if spec.field else 0, min=None, max=None,
                )  # fmt: skip
    finally:
        _migrate(leaves)

    counts, sums = RollupSpec.objects.get(digest="c" * 64), RollupSpec.objects.get(digest="s" * 64)
    assert (
        series(sums)
        == series_of_daily_rows(sums)
        == {
            "shared-player": (["2026-01-10", "2026-01-13", "2026-02-19"], [2, 3, 4], ["10", "10.25", "17.75"]),
            "other": (["2025-03-16"], [4], ["1000"]),
        }
    )
    assert (
        series(counts)
        == series_of_daily_rows(counts)
        == {
            "shared-player": (["2026-01-10", "2026-01-13", "2026-02-19"], [2, 3, 4], None),
            "other": (["2025-03-16"], [4], None),
        }
    )
