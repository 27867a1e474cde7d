"""No input produces a 500: arbitrary JSON against the player endpoints gets 2xx or a 4xx in the error shape."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm.validators import PROFILE_FIELDS

pytestmark = pytest.mark.django_db

# Lone surrogates, NUL, controls, bidi and zero-width characters, a combining accent: JSON text may carry them all.
ODD_CHARACTERS = ["\ud800", "\udfff", "\x00", "\t", "\n", "\x85", "\u202e", "\u200b", "\ufeff", "\u0301"]
texts = st.text(st.characters() | st.sampled_from(ODD_CHARACTERS), max_size=40)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([2**63, -(2**63) - 1, 10**400, "9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"])
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(texts, children, max_size=4),
    max_leaves=10,
)
profiles = st.fixed_dictionaries(
    {"ext_brand_id": st.sampled_from(["shared-brand", "nope", 7, None]), "user_ext_id": json_values | texts},
    optional={name: json_values for name in PROFILE_FIELDS},
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=profiles | json_values)
def test_arbitrary_json_never_produces_a_server_error(tenant_a, key_client, body):
    for response in (
        # json.dumps escapes lone surrogates as \ud800, as a partner's JSON encoder may; the test client's would fail.
        key_client.post("/api/v1/players", json.dumps(body), content_type="application/json"),
        key_client.patch(
            "/api/v1/players/shared-brand/shared-player", json.dumps(body), content_type="application/json"
        ),
    ):
        assert response.status_code < 500, response.content
        if response.status_code >= 400:
            assert set(response.json()) == {"code", "message", "errors"}
