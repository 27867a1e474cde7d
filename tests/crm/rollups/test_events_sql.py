"""Event conditions compiled to SQL (`event_conditions_sql`) mean exactly what `conditions_compile` means in Python:
proved over random payloads and random conditions, case folding across all of Unicode included."""

from __future__ import annotations

import orjson
import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm.conditions.events_sql import casefold_table, event_conditions_sql
from gamification.conditions import OPS, conditions_compile, conditions_validate

pytestmark = pytest.mark.django_db

FIELDS = ["a", "b"]
# Values that collide in interesting ways: case (also where str.lower and str.casefold differ), 1 == 1.0, booleans
# beside 0 and 1, numeric texts beside numbers.
TEXTS = ["Slots", "slots", "SLOTS", "straße", "STRASSE", "ẞ", "ΣΑΣ", "σας", "ﬁ", "FI", "İ", "i̇", "ǅ", "ǆ", "Ꭰ",  # noqa: RUF001
         "ꭰ", "1", "true", "", "x"]  # fmt: skip
NUMBERS = [0, 1, 1.0, -1, 2.5, 0.1, 10**18, 1e16, -3.25]
_any_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=8)
# A text, often one of the pool or a case variant of one (so texts collide as often as they differ).
text = st.one_of(
    st.sampled_from(TEXTS),
    st.tuples(
        st.one_of(st.sampled_from(TEXTS), _any_text),
        st.sampled_from(["upper", "lower", "casefold", "swapcase", "title"]),
    ).map(lambda t: getattr(t[0], t[1])()),
    _any_text,
)
number = st.one_of(
    st.sampled_from(NUMBERS),
    st.integers(min_value=-(2**62), max_value=2**62),
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e15, max_value=1e15),
)
scalar = st.one_of(text, number, st.booleans())
payload_value = st.one_of(scalar, st.none())
payloads = st.lists(st.dictionaries(st.sampled_from(FIELDS), payload_value, max_size=3), min_size=1, max_size=12)


@st.composite
def condition(draw) -> dict:
    op = draw(st.sampled_from(OPS))
    if op in ("in", "not_in"):
        value = draw(st.lists(scalar, min_size=1, max_size=4))
    elif op in ("gt", "gte", "lt", "lte"):
        value = draw(number)
    elif op == "contains":
        value = draw(text.filter(bool))
    else:
        value = draw(scalar)
    return {"field": draw(st.sampled_from(FIELDS)), "op": op, "value": value}


def sql_results(conditions: list[dict], rows: list[dict]) -> list[bool]:
    sql, params = event_conditions_sql(conditions, payload="t.payload")
    with transaction.atomic(), connection.cursor() as cursor:  # a savepoint per example
        cursor.execute(
            f"SELECT {sql} FROM unnest(%s::jsonb[]) WITH ORDINALITY AS t(payload, i) ORDER BY t.i",  # noqa: S608
            [*params, [orjson.dumps(r).decode() for r in rows]],
        )
        return [r[0] for r in cursor.fetchall()]


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(conditions=st.lists(condition(), max_size=3), rows=payloads)
def test_sql_matches_exactly_the_payloads_python_matches(conditions, rows):
    conditions_validate(conditions)
    # The pipeline hands handlers payloads parsed from the stored jsonb: compare on those.
    stored = [orjson.loads(orjson.dumps(r)) for r in rows]
    predicate = conditions_compile(conditions)

    assert sql_results(conditions, stored) == [predicate(p) for p in stored]


def test_every_character_python_folds_is_folded_alike_in_sql():
    single, multi = casefold_table()
    pairs = single + multi
    with connection.cursor() as cursor:
        cursor.execute("SELECT pb_casefold(c) FROM unnest(%s::text[]) WITH ORDINALITY AS t(c, i) ORDER BY i",
                       [[c for c, _ in pairs]])  # fmt: skip
        folded = [r[0] for r in cursor.fetchall()]

    assert folded == [f for _, f in pairs]
    assert len(pairs) > 1400  # the whole table, not the ASCII fast path


@pytest.mark.parametrize(
    ("conditions", "payload", "expected"),
    [
        ([{"field": "game", "op": "eq", "value": "STRASSE"}], {"game": "Straße"}, True),
        ([{"field": "n", "op": "eq", "value": 1}], {"n": 1.0}, True),
        ([{"field": "n", "op": "eq", "value": 1}], {"n": True}, False),
        ([{"field": "n", "op": "eq", "value": 1}], {"n": "1"}, False),
        ([{"field": "n", "op": "gt", "value": 0}], {"n": "5"}, False),  # a numeric text is not a number
        ([{"field": "n", "op": "ne", "value": 1}], {}, True),  # missing: only ne and not_in hold
        ([{"field": "n", "op": "not_in", "value": [1, "x"]}], {"n": None}, True),
        ([{"field": "n", "op": "in", "value": [1, "x"]}], {"n": "X"}, True),
        ([{"field": "s", "op": "contains", "value": "LOT"}], {"s": "Slots"}, True),
        ([{"field": "s", "op": "contains", "value": "1"}], {"s": 1}, False),
        ([], {}, True),
    ],
)
def test_examples(conditions, payload, expected):
    assert conditions_compile(conditions)(payload) is expected
    assert sql_results(conditions, [payload]) == [expected]


# Words whose folding differs from lower-casing (ß, final sigma, ligatures, dotted İ, Cherokee, title-case digraphs).
TRICKY = ["straße", "STRASSE", "ẞ", "ss", "ΣΑΣ", "σας", "σασ", "ﬁle", "FILE", "İ", "i̇", "ǅ", "ǆ", "Ꭰ", "ꭰ", "Ǳ"]  # noqa: RUF001
tricky = st.tuples(st.sampled_from(TRICKY), st.sampled_from(["upper", "lower", "casefold", "title", "strip"])).map(
    lambda t: getattr(t[0], t[1])()
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operand=tricky, values=st.lists(tricky, min_size=1, max_size=8), op=st.sampled_from(["eq", "ne", "contains"]))
def test_texts_fold_in_sql_as_python_folds_them(operand, values, op):
    conditions = [{"field": "a", "op": op, "value": operand}]
    rows = [{"a": v} for v in values]

    assert sql_results(conditions, rows) == [conditions_compile(conditions)(r) for r in rows]
