"""The pixel reads its query without a QueryDict (a hot path): what it reads must be exactly what `request.GET` holds,
whatever the bytes."""

from __future__ import annotations

from django.test import RequestFactory
from hypothesis import given
from hypothesis import strategies as st

from integrations.intelitics.views import _query

# Separators, escapes (complete, truncated, of invalid UTF-8), `+`, non-ASCII and NUL.
PIECES = st.sampled_from(
    ["&", "=", "+", "%", "%2", "%26", "%3D", "%C3%A9", "%FF", "%00", "é", "€", ";", " ", "a", "type"]
)
QUERIES = st.one_of(
    st.lists(PIECES, max_size=24).map(lambda parts: "".join(parts).encode()),
    st.binary(max_size=40),  # raw bytes, not UTF-8 at all: QueryDict falls back to latin-1
)


@given(QUERIES)
def test_the_pixel_reads_the_query_as_request_get_holds_it(raw: bytes):
    request = RequestFactory().get("/convert/x", QUERY_STRING=raw.decode("iso-8859-1"))  # WSGI's latin-1 text
    grouped: dict[str, list[str]] = {}
    for name, value in _query(request):
        grouped.setdefault(name, []).append(value)
    assert grouped == dict(request.GET.lists())
