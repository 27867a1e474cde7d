"""`backoffice.db.prepared_fetchall`: a statement prepared on Django's connection keeps what Django's cursor wrapper
guarantees, whether it runs through the wrapper (queries logged, an execute wrapper installed) or without it (served)."""

from __future__ import annotations

import pytest
from django.db import DataError, IntegrityError, ProgrammingError, connection, transaction
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext

from backoffice.db import prepared_fetchall

pytestmark = pytest.mark.django_db


@pytest.fixture
def served(settings):
    """As in production: DEBUG off, so no query log (the lean path)."""
    settings.DEBUG = False
    assert not connection.queries_logged
    assert not connection.execute_wrappers


def _prepared(sql_fragment: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE NOT from_sql AND statement LIKE %s",
            [f"%{sql_fragment}%"],
        )
        return cursor.fetchone()[0]


def test_rows_come_back_and_the_statement_is_prepared_once(served):
    sql = "SELECT %(n)s::int + 1 AS prepared_probe_one, %(s)s::text"
    assert [prepared_fetchall(sql, {"n": n, "s": "x"}) for n in range(3)] == [[(1, "x")], [(2, "x")], [(3, "x")]]
    assert _prepared("prepared_probe_one") == 1


def test_database_errors_are_djangos(served):
    with pytest.raises(ProgrammingError), transaction.atomic():
        prepared_fetchall("SELECT no_such_column FROM backoffice_label", {})
    with pytest.raises(DataError), transaction.atomic():
        prepared_fetchall("SELECT %(v)s::int", {"v": "not a number"})
    with pytest.raises(IntegrityError), transaction.atomic():
        prepared_fetchall("INSERT INTO backoffice_label (name) VALUES (NULL) RETURNING id", {})


def test_a_statement_inside_a_broken_atomic_block_is_refused(served):
    with transaction.atomic():
        with pytest.raises(ProgrammingError), transaction.atomic(savepoint=False):
            prepared_fetchall("SELECT no_such_column FROM backoffice_label", {})
        with pytest.raises(TransactionManagementError):
            prepared_fetchall("SELECT 1", {})


def test_execute_wrappers_see_the_statement(served):
    seen = []

    def spy(execute, sql, params, many, context):
        seen.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(spy):
        assert prepared_fetchall("SELECT %(n)s::int", {"n": 7}) == [(7,)]
    assert seen == [("SELECT %(n)s::int", {"n": 7})]


def test_the_query_log_shows_the_statement_with_its_parameters(settings):
    settings.DEBUG = True
    with CaptureQueriesContext(connection) as captured:
        assert prepared_fetchall("SELECT %(n)s::int AS logged_probe", {"n": 5}) == [(5,)]
    assert [q["sql"] for q in captured.captured_queries] == ["SELECT 5::int AS logged_probe"]
