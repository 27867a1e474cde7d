"""Helpers of the segments tests: events in, segments made through the service."""

from __future__ import annotations

import datetime as dt

import pytest

from crm.services.ingest import events_ingest
from crm.services.segments import segment_save

T0 = dt.datetime(2026, 1, 10, 12, 0, tzinfo=dt.UTC)


def ev(event_id: str, type_: str, payload: dict, user: str = "shared-player", brand: str = "shared-brand") -> dict:
    return {"event_id": event_id, "type": type_, "ext_brand_id": brand, "user_ext_id": user,
            "occurred_at": T0.isoformat(), "payload": payload}  # fmt: skip


def ingest(tenant, items: list[dict]) -> list[int]:
    result = events_ingest(label=tenant.label, items=items, source="api")
    assert result.counts()["accepted"] == len(items), [i.errors for i in result.items if i.errors]
    return result.new_ids


def country(value: str) -> dict:
    return {"field": "user_country", "op": "eq", "value": value}


@pytest.fixture
def make_segment():
    """Save a segment through the service (as the admin does); no refresh runs (it waits for the commit)."""

    def make(tenant, name: str = "Malta", conditions=None, **kwargs):
        if conditions is None and kwargs.get("kind", "conditions") == "conditions":
            conditions = {"all": [country("MT")]}
        return segment_save(label=tenant.label, name=name, conditions=conditions, **kwargs)

    return make
