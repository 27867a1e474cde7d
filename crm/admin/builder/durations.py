"""Durations typed and shown in words: "7 days", "2 weeks", "1 day 12 hours", "90 minutes".

The admin asks for durations (a task's window, a mission's time limit, a tournament's length and repeat) in words a
manager would write; Django's own format ("1 02:00:00", "02:00:00") and ISO 8601 ("P1DT2H") are still read, so what
was typed before keeps working. Months and years are refused: they have no fixed length.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation

from django import forms
from django.core.exceptions import ValidationError
from django.utils.dateparse import parse_duration
from unfold.widgets import UnfoldAdminTextInputWidget

UNITS = {
    "week": 604800, "weeks": 604800, "wk": 604800, "wks": 604800, "w": 604800,
    "day": 86400, "days": 86400, "d": 86400,
    "hour": 3600, "hours": 3600, "hr": 3600, "hrs": 3600, "h": 3600,
    "minute": 60, "minutes": 60, "min": 60, "mins": 60, "m": 60,
    "second": 1, "seconds": 1, "sec": 1, "secs": 1, "s": 1,
}  # fmt: skip
UNFIXED = ("month", "months", "year", "years", "mo", "y", "yr", "yrs")
SHOWN = (("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))
MAX_DURATION = dt.timedelta(days=3650)
_PART = re.compile(r"(\d+(?:[.,]\d+)?)\s*([a-z]+)")
_JOINERS = re.compile(r"\s*(?:,|\band\b|\+)\s*")
EXAMPLE = "e.g. 7 days, 2 weeks, 1 day 12 hours or 90 minutes"


def duration_parse(text: str) -> dt.timedelta:
    """The duration `text` says, in words or in Django's / ISO 8601 format; ValueError with a message a manager
    understands otherwise."""
    cleaned = _JOINERS.sub(" ", text.strip().lower())
    if not cleaned:
        raise ValueError("Type a duration, " + EXAMPLE + ".")
    if re.fullmatch(r"\d+(?:[.,]\d+)?", cleaned):
        raise ValueError(f"Say the unit: {cleaned} days, hours or minutes?")
    builtin = parse_duration(text.strip())
    if builtin is not None:
        return builtin
    seconds, position = Decimal(0), 0
    for match in _PART.finditer(cleaned):
        if cleaned[position : match.start()].strip():
            break
        number, unit = match.groups()
        if unit in UNFIXED:
            raise ValueError(f"A {unit.rstrip('s')} has no fixed length: type days instead, e.g. 30 days.")
        if unit not in UNITS:
            raise ValueError(f"“{unit}” is not a unit of time: use weeks, days, hours, minutes or seconds.")
        try:
            seconds += Decimal(number.replace(",", ".")) * UNITS[unit]
        except InvalidOperation as exc:  # pragma: no cover - the pattern only lets digits through
            raise ValueError(f"“{number}” is not a number.") from exc
        position = match.end()
    if position == 0 or cleaned[position:].strip():
        raise ValueError(f"“{text.strip()}” is not a duration: {EXAMPLE}.")
    return dt.timedelta(seconds=int(seconds))


def duration_words(value: dt.timedelta | None) -> str:
    """A duration as a person writes it: "2 weeks", "1 day 12 hours", "90 minutes" ("" for None)."""
    if value is None:
        return ""
    seconds = int(value.total_seconds())
    if seconds <= 0:
        return f"{seconds} seconds"
    if seconds % 3600 and seconds < 2 * 3600 and seconds % 60 == 0:
        return _count(seconds // 60, "minute")  # "90 minutes" reads better than "1 hour 30 minutes"
    parts = []
    for unit, size in SHOWN:
        if unit == "week" and seconds % size:
            continue  # "10 days", not "1 week 3 days"
        if seconds >= size:
            parts.append(_count(seconds // size, unit))
            seconds %= size
    return " ".join(parts)


def _count(count: int, unit: str) -> str:
    return f"{count} {unit}{'' if count == 1 else 's'}"


class DurationWordsWidget(UnfoldAdminTextInputWidget):
    """A text box that shows a duration in words and takes one typed in words."""

    def __init__(self, attrs=None):
        super().__init__(attrs={"placeholder": "e.g. 7 days", "autocomplete": "off", **(attrs or {})})

    def format_value(self, value):
        if isinstance(value, dt.timedelta):
            return duration_words(value)
        return super().format_value(value)


class DurationWordsField(forms.DurationField):
    """A duration typed in words (or Django's format), at least one second, at most ten years."""

    widget = DurationWordsWidget
    default_error_messages = {"invalid": "Enter a duration, " + EXAMPLE + "."}

    def __init__(self, **kwargs):
        kwargs.setdefault("help_text", "")
        super().__init__(**kwargs)
        if not self.help_text:
            self.help_text = "In words, " + EXAMPLE + "."

    def prepare_value(self, value):
        return value  # the widget writes timedeltas in words; Django's field would write "1 00:00:00"

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if isinstance(value, dt.timedelta):
            return value
        try:
            parsed = duration_parse(str(value))
        except ValueError as exc:
            raise ValidationError(str(exc), code="invalid") from exc
        except OverflowError as exc:
            raise ValidationError(f"At most {MAX_DURATION.days} days.", code="overflow") from exc
        if parsed > MAX_DURATION:
            raise ValidationError(f"At most {MAX_DURATION.days} days.", code="overflow")
        return parsed
