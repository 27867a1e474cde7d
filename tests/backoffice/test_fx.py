"""Conversion into a label's base currency: which rate a day uses, no rate, rounding, the two-query load."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from backoffice.fx import RateBook, rate_book
from backoffice.models import ExchangeRate

D = dt.date


def book() -> RateBook:
    return RateBook(
        base="EUR",
        time_zone="Europe/Stockholm",
        rates=[
            ("SEK", D(2026, 3, 1), Decimal("0.09")),
            ("SEK", D(2026, 1, 1), Decimal("0.08")),
            ("JPY", D(2026, 1, 1), Decimal("0.006123456789")),
        ],
    )


def test_same_currency_is_returned_unchanged_not_rounded():
    assert book().to_base(Decimal("12.345678"), "EUR", D(1990, 1, 1)) == Decimal("12.345678")


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (D(2026, 1, 1), Decimal("8.0000")),  # first day of the first rate
        (D(2026, 2, 28), Decimal("8.0000")),  # still the January rate
        (D(2026, 3, 1), Decimal("9.0000")),  # the March rate from its first day
        (D(2030, 1, 1), Decimal("9.0000")),  # the latest rate stays valid
    ],
)
def test_the_latest_rate_valid_on_the_day_applies(day, expected):
    assert book().to_base(Decimal(100), "SEK", day) == expected


@pytest.mark.parametrize(("currency", "day"), [("SEK", D(2025, 12, 31)), ("NOK", D(2026, 6, 1)), ("", D(2026, 6, 1))])
def test_no_rate_known_is_none(currency, day):
    assert book().to_base(Decimal(100), currency, day) is None


def test_converted_amounts_round_to_four_places_half_to_even():
    b = RateBook(base="EUR", rates=[("SEK", D(2026, 1, 1), Decimal("0.00005"))])
    assert b.to_base(Decimal("1"), "SEK", D(2026, 1, 1)) == Decimal("0.0000")  # 0.00005 -> even 0.0000
    assert b.to_base(Decimal("3"), "SEK", D(2026, 1, 1)) == Decimal("0.0002")  # 0.00015 -> even 0.0002
    assert book().to_base(Decimal("1000"), "JPY", D(2026, 1, 1)) == Decimal("6.1235")
    assert str(book().to_base(Decimal("1"), "SEK", D(2026, 1, 1))) == "0.0800"


def test_an_aware_datetime_is_taken_on_its_day_in_the_label_time_zone():
    # 23:30 UTC on 28 February is 00:30 on 1 March in Stockholm: the March rate
    moment = dt.datetime(2026, 2, 28, 23, 30, tzinfo=dt.UTC)
    assert book().day_of(moment) == D(2026, 3, 1)
    assert book().to_base(Decimal(100), "SEK", moment) == Decimal("9.0000")


def test_rate_book_loads_one_label_in_two_queries(tenant_a, tenant_b, django_assert_num_queries):
    tenant_a.label.base_currency = "GBP"
    tenant_a.label.save(update_fields=["base_currency"])
    ExchangeRate.objects.create(label=tenant_a.label, currency="SEK", rate=Decimal("0.075"), valid_from=D(2026, 1, 1))
    ExchangeRate.objects.create(label=tenant_b.label, currency="SEK", rate=Decimal("0.5"), valid_from=D(2026, 1, 1))
    ExchangeRate.objects.create(label=tenant_b.label, currency="NOK", rate=Decimal("0.5"), valid_from=D(2026, 1, 1))
    with django_assert_num_queries(2):
        b = rate_book(label_id=tenant_a.label.id)
    assert b.base == "GBP"
    assert b.currencies == frozenset({"SEK"})
    assert b.to_base(Decimal(200), "SEK", D(2026, 5, 5)) == Decimal("15.0000")
    assert b.to_base(Decimal(200), "NOK", D(2026, 5, 5)) is None
