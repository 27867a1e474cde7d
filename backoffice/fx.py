"""Conversion of money into a label's base currency, at the exchange rate of the day.

Missions and tournaments that count or sum amounts load one `RateBook` per label and batch (`rate_book(label_id=...)`,
two queries) and convert each amount with `to_base(amount, currency, day)`.

Rules (docs/currencies.md explains them to operators):
- the rate of a day is the latest rate of the currency with `valid_from <= day`; a day before the first rate of a
  currency has no rate;
- an amount already in the base currency is returned unchanged (not even rounded);
- a converted amount is rounded to 4 decimal places, half to even: the precision at which mission progress and
  tournament scores store sums (DecimalField(decimal_places=4)), so a converted sum stored and re-read is the same
  number, and half-even rounding does not drift upwards over millions of bets;
- no rate (unknown currency, empty currency, day before the first rate) -> None: the caller skips the amount rather
  than count it unconverted, so a SEK bet is never ranked as if it were EUR.
"""

from __future__ import annotations

import bisect
import datetime as dt
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal

from django.db.models import Exists, OuterRef

from backoffice.models import ExchangeRate, Label

AMOUNT_QUANTUM = Decimal("0.0001")  # 4 places, as mission progress and tournament scores store sums
MISSING_CACHE_SECONDS = 300  # counting players by currency scans the label's players: once per five minutes at most


def quantize_amount(amount: Decimal) -> Decimal:
    """`amount` at the precision sums are stored at (4 places, half to even)."""
    return amount.quantize(AMOUNT_QUANTUM, rounding=ROUND_HALF_EVEN)


@dataclass
class _Series:
    days: list[dt.date] = field(default_factory=list)  # ascending
    rates: list[Decimal] = field(default_factory=list)


class RateBook:
    """A label's base currency and all its exchange rates, in memory: convert without a query per amount."""

    def __init__(
        self, *, base: str, time_zone: str = "UTC", rates: Iterable[tuple[str, dt.date, Decimal]] = ()
    ) -> None:
        self.base = base
        self.tz = zoneinfo.ZoneInfo(time_zone)
        self._series: dict[str, _Series] = {}
        for currency, day, rate in sorted(rates, key=lambda r: (r[0], r[1])):
            series = self._series.setdefault(currency, _Series())
            series.days.append(day)
            series.rates.append(rate)

    def __repr__(self) -> str:
        return f"RateBook(base={self.base!r}, currencies={sorted(self._series)!r})"

    @property
    def currencies(self) -> frozenset[str]:
        """Currencies that have at least one rate (the base currency excluded)."""
        return frozenset(self._series)

    def day_of(self, moment: dt.datetime) -> dt.date:
        """The calendar day of an aware `moment` in the label's time zone: the day whose rate applies to it."""
        return moment.astimezone(self.tz).date()

    def rate(self, currency: str, day: dt.date) -> Decimal | None:
        """Base-currency units one unit of `currency` is worth on `day`; 1 for the base currency; None if unknown."""
        if isinstance(day, dt.datetime):
            day = self.day_of(day)
        if currency == self.base:
            return Decimal(1)
        series = self._series.get(currency)
        if series is None:
            return None
        i = bisect.bisect_right(series.days, day)
        return series.rates[i - 1] if i else None

    def to_base(self, amount: Decimal, currency: str, day: dt.date) -> Decimal | None:
        """`amount` in `currency` in the label's base currency at the rate valid on `day` (the latest rate with
        valid_from <= day); currency == base -> amount unchanged; no rate known -> None. A converted amount is
        rounded to 4 places, half to even. An aware datetime for `day` is taken in the label's time zone."""
        if currency == self.base:
            return amount
        rate = self.rate(currency, day)
        if rate is None:
            return None
        return quantize_amount(amount * rate)


def rates_valid_on(queryset, day: dt.date):
    """The rows of an ExchangeRate `queryset` that are the rate in force on `day` for their label and currency."""
    later = ExchangeRate.objects.filter(
        label_id=OuterRef("label_id"),
        currency=OuterRef("currency"),
        valid_from__gt=OuterRef("valid_from"),
        valid_from__lte=day,
    )
    return queryset.filter(valid_from__lte=day).filter(~Exists(later))


def rate_book(*, label_id: int) -> RateBook:
    """The label's base currency, time zone and every exchange rate, in two queries."""
    base, time_zone = Label.objects.filter(pk=label_id).values_list("base_currency", "time_zone").get()
    rows = ExchangeRate.objects.for_label(label_id).values_list("currency", "valid_from", "rate")
    return RateBook(base=base, time_zone=time_zone, rates=list(rows))


def wallet_currencies_without_rate(*, label_id: int, day: dt.date | None = None) -> list[tuple[str, int]]:
    """The wallet currencies of the label's players that cannot be converted on `day` (default: today in the label's
    time zone), with how many players hold each, most players first. `""` stands for players with no wallet currency.
    A full count over the label's players: cache it (the admin does, for minutes)."""
    from django.db.models import Count
    from django.utils import timezone

    from crm.models import Player

    book = rate_book(label_id=label_id)
    day = day or book.day_of(timezone.now())
    counts = Player.objects.for_label(label_id).values_list("core_wallet_currency").annotate(n=Count("id")).order_by()
    missing = [(code, n) for code, n in counts if book.rate(code, day) is None]
    return sorted(missing, key=lambda item: (-item[1], item[0]))


def _missing_key(label_id: int) -> str:
    return f"fx:missing:{label_id}"


def wallet_currencies_without_rate_cached(*, label_id: int, base_currency: str) -> list[tuple[str, int]]:
    """`wallet_currencies_without_rate`, kept for five minutes; a change of the label's rates or base currency shows
    at once (rate writes forget it, and the entry remembers the base it was computed for)."""
    from django.core.cache import cache

    cached = cache.get(_missing_key(label_id))
    if cached is not None and cached[0] == base_currency:
        return cached[1]
    missing = wallet_currencies_without_rate(label_id=label_id)
    cache.set(_missing_key(label_id), (base_currency, missing), MISSING_CACHE_SECONDS)
    return missing


def rates_changed(*, label_id: int) -> None:
    """Forget what was computed from the label's rates (called by every rate write, after it commits)."""
    from django.core.cache import cache
    from django.db import transaction

    cache.delete(_missing_key(label_id))
    # Again after commit: a list read between the two would have counted with the rates before this write.
    transaction.on_commit(lambda: cache.delete(_missing_key(label_id)))
