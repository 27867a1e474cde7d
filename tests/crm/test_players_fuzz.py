"""No input produces a 500: arbitrary JSON against the player endpoints gets 2xx or a 4xx in the error shape."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm.validators import PROFILE_FIELDS

pytestmark = pytest.mark.django_db

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=10,
)
profiles = st.fixed_dictionaries(
    {"ext_brand_id": st.sampled_from(["shared-brand", "nope", 7, None]), "user_ext_id": json_values},
    optional={name: json_values for name in PROFILE_FIELDS},
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=profiles | json_values)
def test_arbitrary_json_never_produces_a_server_error(tenant_a, key_client, body):
    for response in (
        key_client.post("/api/v1/players", body, format="json"),
        key_client.patch("/api/v1/players/shared-brand/shared-player", body, format="json"),
    ):
        assert response.status_code < 500, response.content
        if response.status_code >= 400:
            assert set(response.json()) == {"code", "message", "errors"}
