"""Shared helpers of the roll-up tests: events through ingest, roll-ups read back as plain tuples."""

from __future__ import annotations

import datetime as dt

from crm.models import Rollup
from crm.services.ingest import events_ingest

T0 = dt.datetime(2026, 1, 10, 12, 0, tzinfo=dt.UTC)


def ev(event_id: str, type_: str, payload: dict, at: dt.datetime = T0, user: str = "shared-player") -> dict:
    return {"event_id": event_id, "type": type_, "ext_brand_id": "shared-brand", "user_ext_id": user,
            "occurred_at": at.isoformat(), "payload": payload}  # fmt: skip


def deposit(event_id: str, amount: float, at: dt.datetime = T0, user: str = "shared-player", **more) -> dict:
    return ev(event_id, "deposit", {"deposit_amount": amount, **more}, at=at, user=user)


def ingest(tenant, items: list[dict]) -> list[int]:
    result = events_ingest(label=tenant.label, items=items, source="api")
    assert result.counts()["accepted"] == len(items), [i.errors for i in result.items if i.errors]
    return result.new_ids


def rollups(spec) -> dict[tuple[str, str], tuple]:
    """(user_ext_id, day) -> (count, sum, min, max) of the spec, numbers as text without trailing zeros."""

    def text(value) -> str | None:
        if value is None:
            return None
        shown = format(value.normalize(), "f")
        return shown

    rows = Rollup.objects.filter(spec=spec).values_list("player__user_ext_id", "day", "count", "sum", "min", "max")
    return {(user, day.isoformat()): (count, text(s), text(lo), text(hi)) for user, day, count, s, lo, hi in rows}


def series(spec) -> dict[str, tuple]:
    """user_ext_id -> (days, running counts, running sums or None) as stored in crm_rollupseries."""
    from crm.models import RollupSeries

    rows = RollupSeries.objects.filter(spec=spec).values_list("player__user_ext_id", "days", "counts", "sums")
    return {
        user: (
            [d.isoformat() for d in days],
            list(counts),
            None if sums is None else [format(s.normalize(), "f") for s in sums],
        )
        for user, days, counts, sums in rows
    }


def series_of_daily_rows(spec) -> dict[str, tuple]:
    """What `series(spec)` must be: the running totals of the spec's daily rows, computed here in Python."""
    out: dict[str, tuple] = {}
    rows = Rollup.objects.filter(spec=spec).order_by("player_id", "day")
    for row in rows.values_list("player__user_ext_id", "day", "count", "sum"):
        user, day, count, total = row
        days, counts, sums = out.setdefault(user, ([], [], []))
        days.append(day.isoformat())
        counts.append((counts[-1] if counts else 0) + count)
        sums.append((sums[-1] if sums else 0) + total)
    return {
        user: (days, counts, [format(s.normalize(), "f") for s in sums] if spec.field else None)
        for user, (days, counts, sums) in out.items()
    }
