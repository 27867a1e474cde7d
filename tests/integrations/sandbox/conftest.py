"""Fixtures of the sandbox operator's tests: a throwaway sandbox replica database beside the test database."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from integrations.sandbox.replica import sandbox_brands_add, sandbox_replica_drop, sandbox_replica_ensure
from tests.integrations.test_replica_reader import server_params

BRANDS = ["sbx-casino", "sbx-sports"]


class Sandbox:
    """A sandbox replica of a test's own: `dsn` to hand to Pitboss and the generator, `sql()` to look inside."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn

    def sql(self, query: str, params=None) -> list[tuple]:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            cursor = conn.execute(query, params)
            return cursor.fetchall() if cursor.description else []

    def count(self, view: str, where: str = "TRUE") -> int:
        return self.sql(f"SELECT count(*) FROM {view} WHERE {where}")[0][0]  # noqa: S608 - the tests' own names


def sandbox_database(brands: list[str] | None = BRANDS) -> Sandbox:
    dsn = make_conninfo("", **server_params(), dbname=f"sandbox_{uuid.uuid4().hex[:12]}")
    sandbox_replica_ensure(dsn=dsn)
    if brands:
        sandbox_brands_add(dsn=dsn, ext_brand_ids=brands)
    return Sandbox(dsn)


@pytest.fixture
def sandbox(db):
    """A new sandbox replica with the brands sbx-casino and sbx-sports; dropped afterwards."""
    database = sandbox_database()
    yield database
    sandbox_replica_drop(dsn=database.dsn)
