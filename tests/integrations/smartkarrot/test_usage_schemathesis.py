"""schemathesis on the usage analytics operations only (tests/test_schemathesis.py runs every operation with a
bigger world): valid and invalid generated bodies get no server error, a documented status, and a body matching the
schema (the envelope)."""

from __future__ import annotations

from collections import Counter

import pytest
import schemathesis

from tests.test_schemathesis import World, _probe

pytestmark = pytest.mark.django_db(transaction=True)


def test_usage_operations_conform_to_their_schema(live_server, tenant_a):
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/schema/")
    operations = [r.ok() for r in schema.get_all_operations() if r.ok().path.startswith("/v4/usageanalytics/")]
    assert len(operations) == 6
    world = World(raw_key=tenant_a.raw_key, label_key=tenant_a.label.label_key, players=[], ids={})
    statuses: Counter = Counter()
    failures = [f for op in operations for f in _probe(op, world, live_server.url, statuses)]
    assert failures == [], "\n\n".join(failures)
    assert statuses[400] > 0
