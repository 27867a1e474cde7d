"""The usage analytics request bodies, validated by plain functions (a batch of events is parsed in microseconds).

Each parser takes the decoded JSON body and returns a typed request, or raises `Invalid` with every bad field named as
the client wrote it (`appId`, `events[0].parameters[1].numberValue`). Types follow the reference's data types: a
String is a JSON string (a number is refused), a Number a JSON number, a Boolean a JSON true/false, a Date or a
loggedAtTime an ISO 8601 text. Keys the reference does not list are ignored (docs/smartkarrot.md).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from backoffice.identifiers import InvalidIdentifier, external_id
from crm.catalogue import MAX_NUMBER, MAX_USAGE_PARAMETERS
from crm.models import CustomerAccountStatus, UsagePlatform, UsageUserKind, UsageUserStatus
from crm.services.ingest import MAX_BATCH
from crm.validators import SURROGATE_RE, FieldError, parse_timestamp, shown

MAX_TEXT = 255
MAX_VALUE_TEXT = 1000  # a user attribute's text becomes a player's custom property (at most 1,000 characters)
MAX_LOGO_BASE64 = 4 * 1024 * 1024  # 3 MB of image, base64-encoded
DATA_TYPES = {"string": "String", "number": "Number", "date": "Date", "boolean": "Boolean", "bool": "Boolean"}
FUTURE_SKEW = dt.timedelta(minutes=5)


class Invalid(Exception):
    def __init__(self, errors: dict[str, list[str]]):
        self.errors = errors
        super().__init__(errors)


class _Fields:
    """Reads typed fields off one JSON object, collecting an error per bad field instead of stopping at the first."""

    def __init__(self, data: Any, prefix: str = "", errors: dict[str, list[str]] | None = None):
        self.data = data if isinstance(data, dict) else {}
        self.prefix = prefix
        self.errors = errors if errors is not None else {}
        if not isinstance(data, dict):
            self.fail("", "Expected a JSON object.")

    def fail(self, name: str, message: str) -> None:
        key = f"{self.prefix}.{name}" if self.prefix and name else (self.prefix or name or "body")
        self.errors.setdefault(key, []).append(message)

    def get(self, name: str, parse: Callable[[Any], Any], *, required: bool = False, default: Any = None) -> Any:
        value = self.data.get(name)
        if value is None or (value == "" and not required):  # a blank optional text is an absent one
            if required:
                self.fail(name, "This field is required.")
            return default
        try:
            return parse(value)
        except FieldError as exc:
            self.fail(name, str(exc))
            return default


def text(max_length: int = MAX_TEXT, *, blank: bool = False) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if not isinstance(value, str):
            raise FieldError(f"Expected a string, not {shown(value)}.")
        value = value.strip()
        if not value and not blank:
            raise FieldError("Must not be blank.")
        if len(value) > max_length:
            raise FieldError(f"At most {max_length} characters.")
        if "\x00" in value or (not value.isascii() and SURROGATE_RE.search(value)):
            raise FieldError("Must not contain NUL characters nor lone surrogates.")
        return value

    return parse


def ident(value: Any) -> str:
    """An id Pitboss keys rows by (appId, userId, accountId): a string, 1 to 128 characters, no control characters."""
    if not isinstance(value, str):
        raise FieldError(f"Expected a string, not {shown(value)}.")
    try:
        return external_id(value)
    except InvalidIdentifier as exc:
        raise FieldError(str(exc)) from None


def choice(choices: type) -> Callable[[Any], str]:
    """One of an enum's values, in any case (`ios` is iOS), returned as the reference spells it."""
    values = {c.lower(): c for c in choices.values}

    def parse(value: Any) -> str:
        if not isinstance(value, str) or value.strip().lower() not in values:
            raise FieldError(f"{shown(value)} is not one of: {', '.join(choices.values)}.")
        return values[value.strip().lower()]

    return parse


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise FieldError(f"Expected true or false, not {shown(value)}.")
    return value


def number(value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FieldError(f"Expected a number, not {shown(value)}.")
    if isinstance(value, float) and not math.isfinite(value):
        raise FieldError("Expected a finite number.")
    if not -MAX_NUMBER < value < MAX_NUMBER:
        raise FieldError(f"Must be between -{MAX_NUMBER:,} and {MAX_NUMBER:,} (exclusive).")
    return value


def timestamp(value: Any) -> dt.datetime:
    """ISO 8601 text (a naive one is UTC), at millisecond precision."""
    if not isinstance(value, str):
        raise FieldError(f"Expected an ISO 8601 timestamp (a string), not {shown(value)}.")
    parsed = parse_timestamp(value)
    return parsed.replace(microsecond=parsed.microsecond // 1000 * 1000)


def _logged_at(value: Any, now: dt.datetime) -> dt.datetime:
    parsed = timestamp(value)
    if parsed > now + FUTURE_SKEW:
        raise FieldError("Must not be in the future.")
    if parsed.year < 2000:
        raise FieldError("Must be after 2000.")
    return parsed


def logged_at(now: dt.datetime) -> Callable[[Any], dt.datetime]:
    return lambda value: _logged_at(value, now)


# --- the common fields --------------------------------------------------------------------------------------------
@dataclass
class Caller:
    """Who and where: the fields every usage call names."""

    app_id: str
    user_id: str
    platform: str
    session_id: str = ""
    device_id: str = ""
    customer_account_id: str = ""
    idempotency_id: str = ""


def _caller(f: _Fields, *, account_required: bool) -> Caller:
    return Caller(
        app_id=f.get("appId", ident, required=True, default=""),
        user_id=f.get("userId", ident, required=True, default=""),
        platform=f.get("platform", choice(UsagePlatform), required=True, default=""),
        session_id=f.get("sessionId", text(), default=""),
        device_id=f.get("deviceId", text(), default=""),
        customer_account_id=f.get("customerAccountId", ident, required=account_required, default=""),
        idempotency_id=f.get("idempotencyId", text(128), default=""),
    )


def _done(f: _Fields) -> None:
    if f.errors:
        raise Invalid(f.errors)


# --- POST /usageanalytics/customer --------------------------------------------------------------------------------
@dataclass
class CustomerIn:
    app_id: str
    account_id: str
    name: str
    status: str
    product_ids: list[str] | None
    logo: str | None  # base64, decoded by the view
    idempotency_id: str = ""


def _product_ids(value: Any) -> list[str]:
    if not isinstance(value, list):
        raise FieldError("Expected an array of strings.")
    if len(value) > 100:
        raise FieldError("At most 100 product ids.")
    parse = text(128)
    found: list[str] = []
    for position, item in enumerate(value):
        try:
            item = parse(item)
        except FieldError as exc:
            raise FieldError(f"Item {position}: {exc}") from None
        if item not in found:
            found.append(item)
    return found


def customer(data: Any) -> CustomerIn:
    f = _Fields(data)
    parsed = CustomerIn(
        app_id=f.get("appId", ident, required=True, default=""),
        account_id=f.get("accountId", ident, required=True, default=""),
        name=f.get("name", text(), required=True, default=""),
        status=f.get("status", choice(CustomerAccountStatus), required=True, default=""),
        product_ids=f.get("productIds", _product_ids),
        logo=f.get("base64EncodedLogoImage", text(MAX_LOGO_BASE64, blank=True)),
        idempotency_id=f.get("idempotencyId", text(128), default=""),
    )
    _done(f)
    return parsed


# --- POST /usageanalytics/user ------------------------------------------------------------------------------------
@dataclass
class UserIn:
    caller: Caller
    status: str
    kind: str
    bundle_id: str
    last_logged_in_user_id: str


def user(data: Any) -> UserIn:
    f = _Fields(data)
    parsed = UserIn(
        caller=_caller(f, account_required=True),
        status=f.get("status", choice(UsageUserStatus), required=True, default=""),
        kind=f.get("loginMechanism", choice(UsageUserKind), required=True, default=""),
        bundle_id=f.get("bundleId", text(), default=""),
        last_logged_in_user_id=f.get("lastLoggedInUserId", ident, default=""),
    )
    _done(f)
    return parsed


# --- typed values: event parameters and user attributes -----------------------------------------------------------
@dataclass
class TypedValue:
    name: str
    data_type: str  # String, Number, Date, Boolean
    value: str | int | float | bool  # a Date as ISO 8601 text, UTC, milliseconds


def _typed(f: _Fields, name_key: str, max_text: int) -> TypedValue | None:
    """One `{<name_key>, dataType, stringValue | numberValue | booleanValue}`: the value its dataType names, typed."""
    name = f.get(name_key, text(128), required=True)
    data_type = f.get("dataType", _data_type, required=True)
    if data_type is None:
        return None
    value: Any
    if data_type == "Number":
        value = f.get("numberValue", number, required=True)
    elif data_type == "Boolean":
        value = f.get("booleanValue", boolean, required=True)
    elif data_type == "Date":
        stamp = f.get("stringValue", timestamp, required=True)
        value = None if stamp is None else stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    else:
        value = f.get("stringValue", text(max_text, blank=True), required=True)
    if name is None or value is None:
        return None
    return TypedValue(name, data_type, value)


def _data_type(value: Any) -> str:
    if not isinstance(value, str) or value.strip().lower() not in DATA_TYPES:
        raise FieldError(f"{shown(value)} is not one of: String, Number, Date, Boolean.")
    return DATA_TYPES[value.strip().lower()]


def _typed_list(f: _Fields, key: str, name_key: str, *, limit: int, max_text: int, required: bool) -> list:
    """The items of the array `key`; each a typed value, its name unique in the array."""
    items = f.data.get(key)
    if items is None:
        if required:
            f.fail(key, "This field is required.")
        return []
    if not isinstance(items, list) or (required and not items):
        f.fail(key, "Expected a non-empty array." if required else "Expected an array.")
        return []
    if len(items) > limit:
        f.fail(key, f"At most {limit} items.")
        return []
    found, seen = [], set()
    for position, item in enumerate(items):
        item_fields = _Fields(item, f"{f.prefix + '.' if f.prefix else ''}{key}[{position}]", f.errors)
        if not isinstance(item, dict):
            continue
        typed = _typed(item_fields, name_key, max_text)
        if typed is not None and typed.name in seen:
            item_fields.fail(name_key, f"{shown(typed.name)} appears twice.")
        elif typed is not None:
            seen.add(typed.name)
            found.append((typed, item_fields))
    return found


# --- POST /usageanalytics/event -----------------------------------------------------------------------------------
@dataclass
class EventIn:
    name: str
    logged_at: dt.datetime
    parameters: list[TypedValue]
    position: int


@dataclass
class EventsIn:
    caller: Caller
    events: list[EventIn]
    product_id: str = ""
    app_version: str = ""
    user_source_ip: str = ""
    errors: dict[str, list[str]] = field(default_factory=dict)


def _plain(value: str) -> bool:
    return "\x00" not in value and (value.isascii() or not SURROGATE_RE.search(value))


def _parameter_fast(p: Any) -> TypedValue | None:
    """A well-formed parameter, or None for anything the general path must look at (and name, if it is wrong)."""
    if type(p) is not dict:
        return None
    name, data_type = p.get("attributeName"), p.get("dataType")
    if type(name) is not str or data_type not in ("String", "Number", "Date", "Boolean"):
        return None
    name = name.strip()
    if not name or len(name) > 128 or not _plain(name):
        return None
    value: Any
    if data_type == "Number":
        value = p.get("numberValue")
        if type(value) not in (int, float) or not math.isfinite(value) or not -MAX_NUMBER < value < MAX_NUMBER:
            return None
    elif data_type == "Boolean":
        value = p.get("booleanValue")
        if type(value) is not bool:
            return None
    else:
        value = p.get("stringValue")
        if type(value) is not str:
            return None
        value = value.strip()
        if data_type == "Date":
            try:
                value = timestamp(value).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            except FieldError:
                return None
        elif len(value) > 1024 or not _plain(value):
            return None
    return TypedValue(name, data_type, value)


def _event_fast(item: Any, position: int, now: dt.datetime) -> EventIn | None:
    """A well-formed event without building error collectors (a batch is mostly well-formed events); None sends the
    event through the general path, which accepts the same events and names what is wrong with the others."""
    if type(item) is not dict:
        return None
    name, when, params = item.get("name"), item.get("loggedAtTime"), item.get("parameters")
    if type(name) is not str or type(when) is not str:
        return None
    name = name.strip()
    if not name or len(name) > MAX_TEXT or not _plain(name):
        return None
    try:
        at = _logged_at(when, now)
    except FieldError:
        return None
    typed: list[TypedValue] = []
    if params is not None:
        if type(params) is not list or len(params) > MAX_USAGE_PARAMETERS:
            return None
        names: set[str] = set()
        for p in params:
            parameter = _parameter_fast(p)
            if parameter is None or parameter.name in names:
                return None
            names.add(parameter.name)
            typed.append(parameter)
    return EventIn(name, at, typed, position)


def events(data: Any, now: dt.datetime) -> EventsIn:
    f = _Fields(data)
    caller = _caller(f, account_required=True)
    raw = f.data.get("events")
    parsed: list[EventIn] = []
    if not isinstance(raw, list) or not raw:
        f.fail("events", "This field is required: a non-empty array of events.")
    elif len(raw) > MAX_BATCH:
        f.fail("events", f"At most {MAX_BATCH} events in one call.")
    else:
        for position, item in enumerate(raw):
            fast = _event_fast(item, position, now)
            if fast is not None:
                parsed.append(fast)
                continue
            e = _Fields(item, f"events[{position}]", f.errors)
            if not isinstance(item, dict):
                continue
            name = e.get("name", text(), required=True)
            when = e.get("loggedAtTime", logged_at(now), required=True)
            params = _typed_list(e, "parameters", "attributeName", limit=MAX_USAGE_PARAMETERS,
                                 max_text=1024, required=False)  # fmt: skip
            if name is not None and when is not None:
                parsed.append(EventIn(name, when, [typed for typed, _ in params], position))
    result = EventsIn(
        caller=caller,
        events=parsed,
        product_id=f.get("productId", text(128), default=""),
        app_version=f.get("appVersion", text(64), default=""),
        user_source_ip=f.get("userSourceIP", text(64), default=""),
    )
    _done(f)
    return result


# --- POST /usageanalytics/user/attribute --------------------------------------------------------------------------
@dataclass
class AttributeIn:
    value: TypedValue
    logged_at: dt.datetime


@dataclass
class UserAttributesIn:
    caller: Caller
    attributes: list[AttributeIn]


def user_attributes(data: Any, now: dt.datetime) -> UserAttributesIn:
    f = _Fields(data)
    caller = _caller(f, account_required=False)
    found = []
    for typed, item in _typed_list(f, "userAttributes", "name", limit=200, max_text=MAX_VALUE_TEXT, required=True):
        when = item.get("loggedAtTime", logged_at(now), required=True)
        if when is not None:
            found.append(AttributeIn(typed, when))
    _done(f)
    return UserAttributesIn(caller, found)


# --- POST /usageanalytics/device/attribute and /device/token ------------------------------------------------------
@dataclass
class DeviceAttributesIn:
    caller: Caller
    attributes: dict[str, str]


def _string_map(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not value:
        raise FieldError("Expected a non-empty object of attribute name to string.")
    if len(value) > 100:
        raise FieldError("At most 100 attributes.")
    key_parse, value_parse = text(128), text(MAX_VALUE_TEXT, blank=True)
    clean = {}
    for key, item in value.items():
        try:
            clean[key_parse(key)] = value_parse(item)
        except FieldError as exc:
            raise FieldError(f"{shown(key)}: {exc}") from None
    return clean


def device_attributes(data: Any) -> DeviceAttributesIn:
    f = _Fields(data)
    parsed = DeviceAttributesIn(
        _caller(f, account_required=False), f.get("deviceAttributes", _string_map, required=True)
    )
    _done(f)
    return parsed


@dataclass
class DeviceTokenIn:
    caller: Caller
    token: str
    app_in_distribution: bool | None


def device_token(data: Any) -> DeviceTokenIn:
    f = _Fields(data)
    caller = _caller(f, account_required=False)
    parsed = DeviceTokenIn(
        caller,
        f.get("deviceToken", text(4096), required=True, default=""),
        f.get("appInDistribution", boolean, required=caller.platform == UsagePlatform.IOS),
    )
    _done(f)
    return parsed
