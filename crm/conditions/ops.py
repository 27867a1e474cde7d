"""What an operator's value means, computed once and shared by the Python evaluator and the SQL compiler.

Dates become instants (the start of a day in the right time zone) that both sides compare with `<` and `>=`; texts
are compared case-insensitively with one folding (`fold`, PostgreSQL's `lower()` character by character); numbers as
exact decimals. Because both sides take their bounds from here, they cannot round differently.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

UTC = dt.UTC


def fold(text: str) -> str:
    """Lower-case `text` as PostgreSQL's lower() does: one character at a time (so no final-sigma rule, and a
    character whose lower case is longer keeps its first character, as İ -> i)."""
    if text.isascii():
        return text.lower()
    return "".join(c.lower()[0] for c in text)


def capitals(text: str) -> str:
    """The operand of a condition on a code stored in capitals (country, language, currency, status, gender)."""
    return text.upper()


def number(value: Any) -> Decimal | None:
    """A JSON / database number as an exact decimal; None for anything else (booleans are not numbers)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value)) if math.isfinite(value) else None
    return None


def day_start(day: dt.date, tz: ZoneInfo | dt.timezone) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), tzinfo=tz)


def parse_day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


@dataclass(frozen=True)
class Span:
    """Instants a date op accepts: `lo <= v`, then `v < hi` (or `v <= hi` when `hi_inclusive`); None: unbounded."""

    lo: dt.datetime | None
    hi: dt.datetime | None
    hi_inclusive: bool = False

    def holds(self, value: dt.datetime) -> bool:
        if self.lo is not None and value < self.lo:
            return False
        if self.hi is None:
            return True
        return value <= self.hi if self.hi_inclusive else value < self.hi


def date_span(*, kind: str, op: str, value: Any, label_tz: ZoneInfo, now: dt.datetime) -> Span:
    """The instants of a before / after / between / within_last_days / more_than_days_ago condition.

    Days are the label's calendar days for datetimes; a `date` field (the birth date, stored at midnight UTC) is a
    calendar date, so its days start at midnight UTC. "Today" is always the label's today."""
    tz: ZoneInfo | dt.timezone = label_tz if kind == "datetime" else UTC
    today = now.astimezone(label_tz).date()
    day = dt.timedelta(days=1)
    if op == "before":
        return Span(None, day_start(parse_day(value), tz))
    if op == "after":
        return Span(day_start(parse_day(value) + day, tz), None)
    if op == "between":
        return Span(day_start(parse_day(value[0]), tz), day_start(parse_day(value[1]) + day, tz))
    if op == "within_last_days":  # the last N calendar days, today included, up to now
        lo = day_start(today - (int(value) - 1) * day, tz)
        return Span(lo, now, True) if kind == "datetime" else Span(lo, day_start(today + day, tz))
    if op == "more_than_days_ago":  # strictly before the day N days before today
        return Span(None, day_start(today - int(value) * day, tz))
    raise ValueError(op)


def birthday_target(*, days: int, label_tz: ZoneInfo, now: dt.datetime) -> tuple[int, int, bool]:
    """(month, day, and whether 29 February also counts) of a birthday `days` days from the label's today: in a year
    without 29 February, those born on it celebrate on the 28th."""
    target = now.astimezone(label_tz).date() + dt.timedelta(days=days)
    leap = target.year % 4 == 0 and (target.year % 100 != 0 or target.year % 400 == 0)
    return target.month, target.day, (target.month, target.day) == (2, 28) and not leap


def birth_day(value: dt.datetime) -> tuple[int, int]:
    day = value.astimezone(UTC)
    return day.month, day.day
