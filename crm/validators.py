"""Validation of player profile data, as plain functions: the API, ingest and replica sync share them.

`clean_profile(data)` returns `(clean, errors)`: normalized values of the known fields, and field-level messages.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable
from decimal import Decimal
from functools import cache
from typing import Any

import pycountry

from backoffice.identifiers import INT64, MAX_ID_LENGTH, InvalidIdentifier, external_id
from crm.models.players import AccountStatus, Gender

CLOCK_SKEW = dt.timedelta(minutes=5)
MAX_CUSTOM_PROPERTIES = 200
MAX_MARKERS = 100
_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}\Z")  # \Z: "$" would let a trailing newline in
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE_RE = re.compile(r"^\+?[0-9]{6,15}$")
SURROGATE_RE = re.compile("[\ud800-\udfff]")


class FieldError(ValueError):
    """A value that cannot be accepted; the message is shown to the caller next to the field name."""


@cache
def _languages() -> frozenset[str]:
    return frozenset(lang.alpha_2.upper() for lang in pycountry.languages if hasattr(lang, "alpha_2"))


@cache
def _countries() -> frozenset[str]:
    return frozenset(c.alpha_2 for c in pycountry.countries)


@cache
def _currencies() -> frozenset[str]:
    return frozenset(c.alpha_3 for c in pycountry.currencies)


def shown(value: Any, limit: int = 40) -> str:
    """`value` as an error message shows it: short, ASCII-safe for odd strings, and never failing (an integer of
    thousands of digits has no repr, a lone surrogate cannot be encoded in the response)."""
    if isinstance(value, str):
        return repr(value[:limit]) + ("..." if len(value) > limit else "")
    if value is None or isinstance(value, bool | float) or (isinstance(value, int) and value in INT64):
        return repr(value)
    if isinstance(value, int):
        return "a very large integer"
    return {dict: "an object", list: "a list"}.get(type(value), f"a {type(value).__name__}")


def field_name(key: Any) -> str:
    """An input's key as the name of an error field: itself when it is printable text of reasonable length."""
    if isinstance(key, str) and len(key) <= MAX_ID_LENGTH and not SURROGATE_RE.search(key):
        return key
    return shown(key)


def identifier(value: Any, max_length: int = MAX_ID_LENGTH) -> str:
    """An external id (event, brand, player) as stored: the rule of `backoffice.identifiers`, as a field error."""
    try:
        return external_id(value, max_length)
    except InvalidIdentifier as exc:
        raise FieldError(str(exc)) from None


def parse_timestamp(value: Any) -> dt.datetime:
    """ISO 8601 (a naive value is UTC, as the reference says) or epoch milliseconds."""
    if isinstance(value, bool):
        raise FieldError("Expected an ISO 8601 timestamp or epoch milliseconds.")
    if isinstance(value, int | float):
        try:
            return dt.datetime.fromtimestamp(value / 1000, tz=dt.UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise FieldError("Epoch milliseconds out of range.") from exc
    if not isinstance(value, str):
        raise FieldError("Expected an ISO 8601 timestamp or epoch milliseconds.")
    try:
        parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise FieldError(f"{shown(value)} is not an ISO 8601 timestamp (e.g. 2024-05-01T12:30:00.000Z).") from exc
    try:
        return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)
    except OverflowError as exc:  # 9999-12-31T23:59:59-01:00 is in year 10000 once in UTC
        raise FieldError("Out of range once converted to UTC (years 1 to 9999).") from exc


def past_timestamp(value: Any) -> dt.datetime:
    parsed = parse_timestamp(value)
    if parsed > dt.datetime.now(dt.UTC) + CLOCK_SKEW:
        raise FieldError("Must be in the past.")
    if parsed.year < 1900:
        raise FieldError("Must be after 1900.")
    return parsed


def _choice(enum) -> Callable[[Any], str]:
    allowed = [c.value for c in enum]

    def parse(value: Any) -> str:
        if not isinstance(value, str) or value.strip().upper() not in allowed:
            raise FieldError(f"{shown(value)} is not one of: {', '.join(allowed)}.")
        return value.strip().upper()

    return parse


def _code(kind: str, table: Callable[[], frozenset[str]], example: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if not isinstance(value, str) or value.strip().upper() not in table():
            raise FieldError(f"{shown(value)} is not an {kind} code (e.g. {example}).")
        return value.strip().upper()

    return parse


def _text(max_length: int) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if type(value) is str:  # the usual value: the type tests below, and str(), have nothing to do
            value = value.strip()
        elif (
            isinstance(value, bool)
            or not isinstance(value, str | int)
            or (isinstance(value, int) and value not in INT64)
        ):
            raise FieldError("Expected a string.")
        else:
            value = str(value).strip()
        if len(value) > max_length:
            raise FieldError(f"At most {max_length} characters.")
        if "\x00" in value:
            raise FieldError("Must not contain NUL characters.")
        if not value.isascii() and SURROGATE_RE.search(value):  # valid in JSON text, but not in UTF-8 nor in PostgreSQL
            raise FieldError("Must not contain lone surrogates (\\ud800 to \\udfff).")
        return value

    return parse


def _email(value: Any) -> str:
    value = _text(254)(value).lower()
    if not _EMAIL_RE.match(value):
        raise FieldError("Not a valid email address.")
    return value


def _phone(value: Any) -> str:
    value = re.sub(r"[\s\-().]", "", _text(32)(value))
    if not _PHONE_RE.match(value):
        raise FieldError("Not a valid phone number (digits, optional leading +, 6 to 15 digits).")
    return value


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "false", "1", "0"}:
        return value.strip().lower() in {"true", "1"}
    if value in (0, 1):
        return bool(value)
    raise FieldError("Expected a boolean.")


def _affiliate_id(value: Any) -> int:
    if isinstance(value, bool):
        raise FieldError("Expected an integer.")
    if isinstance(value, int) and value not in INT64:
        raise FieldError("Expected a non-negative integer.")
    try:
        number = Decimal(str(value).strip())
    except (ArithmeticError, ValueError) as exc:
        raise FieldError("Expected an integer.") from exc
    if not number.is_finite() or number != number.to_integral_value() or not 0 <= number < 2**63:
        raise FieldError("Expected a non-negative integer.")
    return int(number)


def _scalar(value: Any) -> Any:
    if value is None or isinstance(value, bool) or (isinstance(value, int) and value in INT64):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    if isinstance(value, str):
        return _text(1000)(value)
    raise FieldError("Custom property values must be strings, numbers (64-bit integers, finite), booleans or null.")


def _custom(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise FieldError("Expected an object of property name to value.")
    if len(value) > MAX_CUSTOM_PROPERTIES:
        raise FieldError(f"At most {MAX_CUSTOM_PROPERTIES} custom properties.")
    clean = {}
    for key, item in value.items():
        if not isinstance(key, str) or not _KEY_RE.match(key):
            raise FieldError(
                f"{shown(key)} is not a property name (letters, digits, _; up to 64; not starting with a digit)."
            )
        try:
            clean[key] = _scalar(item)
        except FieldError as exc:
            raise FieldError(f"{key}: {exc}") from exc
    return clean


def _markers(value: Any) -> list[str]:
    if not isinstance(value, list):
        raise FieldError("Expected a list of strings.")
    if len(value) > MAX_MARKERS:
        raise FieldError(f"At most {MAX_MARKERS} markers.")
    markers = []
    for item in value:
        if not isinstance(item, str) or not _KEY_RE.match(item):
            raise FieldError(
                f"{shown(item)} is not a marker (letters, digits, _; up to 64; not starting with a digit)."
            )
        if item not in markers:
            markers.append(item)
    return sorted(markers)


# field name -> (parser, value stored when the input is null or "")
PROFILE_FIELDS: dict[str, tuple[Callable[[Any], Any], Any]] = {
    "core_account_status": (_choice(AccountStatus), AccountStatus.ACTIVE.value),
    "core_registration_date": (past_timestamp, None),
    "core_user_language": (_code("ISO 639-1 language", _languages, "EN"), ""),
    "core_wallet_currency": (_code("ISO 4217 currency", _currencies, "EUR"), ""),
    "core_username": (_text(255), ""),
    "user_birthdate": (past_timestamp, None),
    "user_country": (_code("ISO 3166-1 alpha-2 country", _countries, "MT"), ""),
    "user_email": (_email, None),
    "user_first_name": (_text(255), ""),
    "user_last_name": (_text(255), ""),
    "user_phone": (_phone, None),
    "core_affiliate_id": (_affiliate_id, None),
    "core_affiliate_str": (_text(255), ""),
    "core_is_email_disabled_by_platform": (_boolean, False),
    "core_is_sms_disabled_by_platform": (_boolean, False),
    "core_user_gender": (_choice(Gender), ""),
    "core_kyc_status": (_text(64), ""),
    "custom": (_custom, {}),
    "markers": (_markers, []),
    "dt_update": (past_timestamp, None),
}


def clean_profile(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Normalize the known profile fields of `data`; unknown fields are errors, never silently dropped."""
    clean: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for name, value in data.items():
        spec = PROFILE_FIELDS.get(name)
        if spec is None:
            errors[field_name(name)] = ["Unknown profile field; custom properties go under 'custom'."]
            continue
        parser, empty = spec
        if value is None or value == "":
            clean[name] = empty
            continue
        try:
            clean[name] = parser(value)
        except FieldError as exc:
            errors[name] = [str(exc)]
    return clean, errors
