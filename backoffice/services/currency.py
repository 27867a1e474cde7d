"""Writes to exchange rates, and the rule that guards a label's base currency.

Every write path (admin form, CSV import, API) goes through these functions, so a rate is checked the same way
wherever it comes from: an ISO code in capitals that is not the label's base currency, a rate > 0 that the column
stores exactly, one rate per currency and day.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.utils import timezone

from backoffice.errors import DomainValidationError
from backoffice.fx import rates_changed
from backoffice.models import ExchangeRate, Label
from backoffice.models.currency import CURRENCY_RE, RATE_DECIMAL_PLACES, RATE_MAX_DIGITS

MAX_IMPORT_ROWS = 10_000
MAX_REPORTED = 20  # bad lines named in the error; a file wrong throughout needs no 10,000 messages
IMPORT_COLUMNS = ("currency", "rate", "valid_from")
_INTEGER_DIGITS = RATE_MAX_DIGITS - RATE_DECIMAL_PLACES


def currency_errors(*, label: Label, currency: str) -> list[str]:
    """Why `currency` cannot have a rate in `label` (empty list: it can)."""
    if not isinstance(currency, str) or not re.fullmatch(CURRENCY_RE, currency):
        return ["An ISO 4217 code in capitals, e.g. SEK."]
    if currency == label.base_currency:
        return [f"{currency} is the label's base currency: its amounts are used as they are and need no rate."]
    return []


def rate_errors(*, rate: object) -> list[str]:
    """Why `rate` is not a storable rate (empty list: it is)."""
    if not isinstance(rate, Decimal) or not rate.is_finite():
        return ["A decimal number, e.g. 0.0875."]
    if rate <= 0:
        return ["Must be greater than 0."]
    _sign, digits, exponent = rate.normalize().as_tuple()
    assert isinstance(exponent, int)  # only NaN and infinities have a letter here, refused above
    decimals = max(0, -exponent)
    if decimals > RATE_DECIMAL_PLACES:
        return [f"At most {RATE_DECIMAL_PLACES} decimal places."]
    if len(digits) - decimals + max(0, exponent) > _INTEGER_DIGITS:
        return [f"At most {_INTEGER_DIGITS} digits before the decimal point."]
    return []


def _check(*, label: Label, currency: str, rate: Decimal) -> None:
    errors = {}
    if problems := currency_errors(label=label, currency=currency):
        errors["currency"] = problems
    if problems := rate_errors(rate=rate):
        errors["rate"] = problems
    if errors:
        raise DomainValidationError(errors)


def _duplicate(*, label_id: int, currency: str, valid_from: dt.date, exclude_id: int | None = None):
    existing = ExchangeRate.objects.for_label(label_id).filter(currency=currency, valid_from=valid_from)
    if exclude_id is not None:
        existing = existing.exclude(pk=exclude_id)
    return existing.first()


def _duplicate_error(rate: ExchangeRate) -> DomainValidationError:
    return DomainValidationError(
        {"valid_from": [f"{rate.currency} already has a rate from {rate.valid_from} (id {rate.pk}): change that one."]},
        code="duplicate",
    )


def exchange_rate_create(
    *, label: Label, currency: str, rate: Decimal, valid_from: dt.date, created_by=None, api_key_id: int | None = None
) -> ExchangeRate:
    """A new rate of `currency` from `valid_from`. One rate per currency and day: a second one is refused (400 on
    `valid_from`), whoever entered the first."""
    _check(label=label, currency=currency, rate=rate)
    try:
        with transaction.atomic():
            created = ExchangeRate.objects.create(
                label=label,
                currency=currency,
                rate=rate,
                valid_from=valid_from,
                created_by=created_by,
                api_key_id=api_key_id,
            )
            rates_changed(label_id=label.pk)
            return created
    except IntegrityError:
        existing = _duplicate(label_id=label.pk, currency=currency, valid_from=valid_from)
        if existing is None:
            raise
        raise _duplicate_error(existing) from None


def exchange_rate_update(
    *,
    exchange_rate: ExchangeRate,
    rate: Decimal | None = None,
    valid_from: dt.date | None = None,
    api_key_id: int | None = None,
) -> ExchangeRate:
    """Correct a rate or the day it starts. Past days convert at the corrected rate from then on: mission progress
    and tournament scores already counted are not recomputed (see docs/currencies.md)."""
    new_rate = exchange_rate.rate if rate is None else rate
    new_from = exchange_rate.valid_from if valid_from is None else valid_from
    if problems := rate_errors(rate=new_rate):
        raise DomainValidationError({"rate": problems})
    existing = _duplicate(
        label_id=exchange_rate.label_id,
        currency=exchange_rate.currency,
        valid_from=new_from,
        exclude_id=exchange_rate.pk,
    )
    if existing is not None:
        raise _duplicate_error(existing)
    exchange_rate.rate, exchange_rate.valid_from = new_rate, new_from
    fields = ["rate", "valid_from", "updated_at"]
    if api_key_id is not None:
        exchange_rate.api_key_id = api_key_id
        fields.append("api_key")
    try:
        with transaction.atomic():
            exchange_rate.save(update_fields=fields)
            rates_changed(label_id=exchange_rate.label_id)
    except IntegrityError:
        existing = _duplicate(
            label_id=exchange_rate.label_id,
            currency=exchange_rate.currency,
            valid_from=new_from,
            exclude_id=exchange_rate.pk,
        )
        if existing is None:
            raise
        raise _duplicate_error(existing) from None
    return exchange_rate


def exchange_rate_delete(*, exchange_rate: ExchangeRate) -> None:
    """Remove a rate: its days fall back to the previous rate of the currency (or to no rate)."""
    with transaction.atomic():
        ExchangeRate.objects.filter(pk=exchange_rate.pk).delete()
        rates_changed(label_id=exchange_rate.label_id)


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int
    unchanged: int


def _import_row(label: Label, line: int, row: dict) -> tuple[tuple[str, dt.date], Decimal]:
    errors = []
    currency = (row.get("currency") or "").strip().upper()
    errors += [f"line {line}, currency: {m}" for m in currency_errors(label=label, currency=currency)]
    try:
        rate = Decimal((row.get("rate") or "").strip())
    except InvalidOperation:
        rate = None
    errors += [f"line {line}, rate: {m}" for m in rate_errors(rate=rate)]
    try:
        valid_from = dt.date.fromisoformat((row.get("valid_from") or "").strip())
    except ValueError:
        valid_from = None
        errors.append(f"line {line}, valid_from: a date as YYYY-MM-DD.")
    if errors or rate is None or valid_from is None:  # each None has its error
        raise DomainValidationError({"file": errors})
    return (currency, valid_from), rate


def exchange_rates_parse(*, label: Label, text: str) -> dict[tuple[str, dt.date], Decimal]:
    """The rates of a CSV with the header `currency,rate,valid_from` (any column order, `;` or `,`), checked row by
    row. Refuses the whole file, naming every bad line, if one is wrong."""
    try:
        dialect = csv.Sniffer().sniff(text[:2048], delimiters=",;")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    header = [(name or "").strip().lower() for name in (reader.fieldnames or [])]
    missing = [name for name in IMPORT_COLUMNS if name not in header]
    if missing:
        raise DomainValidationError({"file": [f"The header must name the columns {', '.join(IMPORT_COLUMNS)}; "
                                              f"missing: {', '.join(missing)}."]})  # fmt: skip
    reader.fieldnames = header
    rates: dict[tuple[str, dt.date], Decimal] = {}
    errors: list[str] = []
    for line, row in enumerate(reader, start=2):
        if line - 1 > MAX_IMPORT_ROWS:
            raise DomainValidationError({"file": [f"At most {MAX_IMPORT_ROWS} rates per file."]})
        if not any((value or "").strip() for value in row.values() if isinstance(value, str)):
            continue  # a blank line
        try:
            key, rate = _import_row(label, line, row)
        except DomainValidationError as exc:
            errors += exc.errors["file"]
            continue
        if key in rates and rates[key] != rate:
            errors.append(f"line {line}: a second, different rate for {key[0]} from {key[1]}.")
        rates[key] = rate
    if errors:
        more = [f"... and {len(errors) - MAX_REPORTED} more."] if len(errors) > MAX_REPORTED else []
        raise DomainValidationError({"file": errors[:MAX_REPORTED] + more})
    if not rates:
        raise DomainValidationError({"file": ["The file has no rates."]})
    return rates


def exchange_rates_import(*, label: Label, text: str, created_by=None) -> ImportResult:
    """Create or correct many rates at once (a month of a treasury's rates): a rate for a currency and day that
    exists replaces it. All or nothing."""
    rates = exchange_rates_parse(label=label, text=text)
    with transaction.atomic():
        existing = {
            (r.currency, r.valid_from): r
            for r in ExchangeRate.objects.for_label(label.pk)
            .filter(currency__in={c for c, _ in rates})
            .select_for_update()
        }
        new, changed, same = [], [], 0
        for (currency, valid_from), rate in rates.items():
            row = existing.get((currency, valid_from))
            if row is None:
                new.append(
                    ExchangeRate(
                        label=label, currency=currency, rate=rate, valid_from=valid_from, created_by=created_by
                    )
                )
            elif row.rate != rate:
                row.rate, row.updated_at = rate, timezone.now()
                changed.append(row)
            else:
                same += 1
        ExchangeRate.objects.bulk_create(new)
        if changed:
            ExchangeRate.objects.bulk_update(changed, ["rate", "updated_at"])
        rates_changed(label_id=label.pk)
    return ImportResult(created=len(new), updated=len(changed), unchanged=same)


def label_base_currency_errors(*, label: Label, base_currency: str) -> list[str]:
    """Why the label's base currency may not become `base_currency` (empty list: it may).

    Refused while the label has rates: they say what a currency is worth in the current base, so under a new base
    every conversion would be wrong by the rate between the two bases, silently re-ranking live leaderboards.
    The CRM team deletes the rates (or lets the integration do it), changes the base and enters rates in the new one.
    """
    if label.pk is None or base_currency == label.base_currency:
        return []
    count = ExchangeRate.objects.for_label(label.pk).count()
    if not count:
        return []
    return [
        f"{label.name} has {count} exchange rate(s) expressed in {label.base_currency}. Delete them before changing "
        f"the base currency to {base_currency}, then enter rates in {base_currency}: a rate in {label.base_currency} "
        f"read as {base_currency} would convert every amount wrongly."
    ]
