"""The event catalogue: core types with their fields (names from the reference), custom types, and the envelope.

Plain functions, no ORM, so batch ingest validates a thousand events in milliseconds.
`clean_event(raw, ctx)` returns `(event, errors)`; `errors` names each bad field.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from crm.models.players import AccountStatus, Gender
from crm.validators import (
    INT64,
    PROFILE_FIELDS,
    SURROGATE_RE,
    FieldError,
    _boolean,
    _text,
    clean_profile,
    field_name,
    identifier,
    parse_timestamp,
    shown,
)

MAX_PAYLOAD_BYTES = 32 * 1024
MAX_PAYLOAD_DEPTH = 8  # the payload object is level 1; a profile update's `custom` is level 2
MAX_PAYLOAD_ENTRIES = 500  # keys and list items, at every level together
MAX_AMOUNT = 10**12
MAX_NUMBER = 10**15
FUTURE_SKEW = dt.timedelta(seconds=60)
ENVELOPE_FIELDS = {"event_id", "type", "ext_brand_id", "user_ext_id", "occurred_at", "payload"}


def _finite(value: Any) -> int | float:
    # Integers are compared before any float conversion: math.isfinite(10**400) raises OverflowError.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FieldError("Expected a number.")
    if isinstance(value, float) and not math.isfinite(value):
        raise FieldError("Expected a number.")
    return value


def amount(value: Any) -> int | float:
    """A money amount: a finite, non-negative JSON number (kept as sent; sums use Decimal)."""
    if not 0 <= _finite(value) < MAX_AMOUNT:
        raise FieldError(f"Must be between 0 and {MAX_AMOUNT:,}.")
    return value


def number(value: Any) -> int | float:
    if not -MAX_NUMBER < _finite(value) < MAX_NUMBER:
        raise FieldError(f"Must be between -{MAX_NUMBER:,} and {MAX_NUMBER:,} (exclusive).")
    return value


def integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) >= 2**63:
        raise FieldError("Expected an integer.")
    return value


def timestamp(value: Any) -> str:
    return parse_timestamp(value).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class Choice:
    """A parser of a text that is one of `choices` (any case), stored lower-case; `choices` tell missions and
    tournaments which values a condition on the field may test."""

    choices: tuple[str, ...]

    def __call__(self, value: Any) -> str:
        if not isinstance(value, str) or value.lower() not in self.choices:
            raise FieldError(f"{shown(value)} is not one of: {', '.join(self.choices)}.")
        return value.lower()


def one_of(*choices: str) -> Choice:
    return Choice(choices)


text64, text128, text255 = _text(64), _text(128), _text(255)
text1024 = _text(1024)
MAX_USAGE_PARAMETERS = 25


def usage_parameters(value: Any) -> dict[str, str | int | float | bool]:
    """A usage analytics event's parameters (SmartKarrot's typed event attributes, docs/usage-analytics.md): attribute
    name -> text (dates as ISO 8601 text), number or true/false."""
    if not isinstance(value, dict):
        raise FieldError("Expected an object: attribute name -> text, number or true/false.")
    if len(value) > MAX_USAGE_PARAMETERS:
        raise FieldError(f"At most {MAX_USAGE_PARAMETERS} parameters.")
    clean: dict[str, str | int | float | bool] = {}
    for key, item in value.items():
        name = text128(key)
        if not name:
            raise FieldError("A parameter needs a name.")
        if isinstance(item, bool):
            clean[name] = item
        elif isinstance(item, int | float):
            try:
                clean[name] = number(item)
            except FieldError as exc:
                raise FieldError(f"{shown(name)}: {exc}") from None
        elif isinstance(item, str):
            clean[name] = text1024(item)
        else:
            raise FieldError(f"{shown(name)}: expected text, a number or true/false.")
    return clean


@dataclass(frozen=True)
class EventSpec:
    """A type's payload fields: name -> parser, required or optional."""

    required: dict[str, Callable[[Any], Any]] = field(default_factory=dict)
    optional: dict[str, Callable[[Any], Any]] = field(default_factory=dict)

    def clean(self, payload: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
        clean: dict[str, Any] = {}
        errors: dict[str, list[str]] = {}
        for name in self.required:
            if payload.get(name) is None:
                errors[f"payload.{name}"] = ["This field is required."]
        for name, value in payload.items():
            parser = self.required.get(name) or self.optional.get(name)
            if parser is None:
                errors[f"payload.{field_name(name)}"] = ["Unknown field for this event type."]
            elif value is not None:
                try:
                    clean[name] = parser(value)
                except FieldError as exc:
                    errors[f"payload.{name}"] = [str(exc)]
        return clean, errors


_GAME: dict[str, Callable[[Any], Any]] = {
    "game_category": text255, "game_category_id": text128, "game_provider": text255, "game_provider_id": text128,
}  # fmt: skip
_SPORT: dict[str, Callable[[Any], Any]] = {
    "bet_id": text128, "odds": number, "selections": integer, "sport": text128, "league": text255,
    "event_name": text255, "market": text255, "is_live": _boolean, "bet_type": one_of("single", "multi", "system"),
}  # fmt: skip
# One leg of a sport bet (the reference names "sport selections placement" and "settlement" without fields; see
# docs/data-integration.md). `bet_id` ties it to its sport_bet_placed; it carries no stake, so it never counts as a bet.
_SELECTION: dict[str, Callable[[Any], Any]] = {
    "selection_id": text128, "selection_name": text255, "odds": number, "sport": text128, "league": text255,
    "event_name": text255, "market": text255, "is_live": _boolean,
}  # fmt: skip

_DEPOSIT: dict[str, Callable[[Any], Any]] = {
    "bonus_balance": amount, "real_balance": amount, "total_balance": amount, "deposit_code": text128,
    "deposit_method": text128,
}  # fmt: skip

# What every usage analytics event carries besides its own fields: where it came from, and its other parameters.
_USAGE: dict[str, Callable[[Any], Any]] = {
    "session_id": text255, "device_id": text255, "platform": one_of("ios", "android", "web"), "app_id": text128,
    "customer_account_id": text128, "product_id": text128, "app_version": text64, "user_source_ip": text64,
    "parameters": usage_parameters,
}  # fmt: skip
_USAGE_SESSION = {name: parser for name, parser in _USAGE.items() if name != "session_id"}

CORE_TYPES: dict[str, EventSpec] = {
    "login": EventSpec(optional={"entry_point": text64}),
    "deposit": EventSpec(required={"deposit_amount": amount}, optional=_DEPOSIT),
    "withdrawal": EventSpec(required={"withdrawal_amount": amount}, optional={"withdrawal_method": text128}),
    "casino_bet": EventSpec(
        required={"bet_amount": amount, "game_id": text128, "game_name": text255},
        optional={"bet_amount_real": amount, "bet_amount_bonus": amount, **_GAME},
    ),
    "casino_win": EventSpec(
        required={"win_amount": amount, "game_id": text128, "game_name": text255},
        optional={"win_amount_real": amount, "win_amount_bonus": amount, "bet_id": text128, **_GAME},
    ),
    "sport_bet_placed": EventSpec(required={"bet_amount": amount}, optional=_SPORT),
    "sport_bet_settled": EventSpec(
        required={"bet_amount": amount, "result": one_of("won", "lost", "void", "cashout", "half_won", "half_lost")},
        optional={"win_amount": amount, **_SPORT},
    ),
    "sport_selection_placed": EventSpec(required={"bet_id": text128}, optional=_SELECTION),
    "sport_selection_settled": EventSpec(
        required={"bet_id": text128, "result": one_of("won", "lost", "void", "cashout", "half_won", "half_lost")},
        optional=_SELECTION,
    ),
    "client_action": EventSpec(required={"action": text128}),
    # Usage analytics (SmartKarrot-compatible /v4/usageanalytics/event, docs/usage-analytics.md)
    "usage_event": EventSpec(required={"name": text255}, optional={"module": text255, **_USAGE}),
    "app_session_start": EventSpec(required={"session_id": text255, "start_time": timestamp}, optional=_USAGE_SESSION),
    "app_session_end": EventSpec(
        required={"session_id": text255, "end_time": timestamp},
        optional={"duration_seconds": number, **_USAGE_SESSION},
    ),
    "page_load_event": EventSpec(
        required={"request_count": integer, "load_time": number, "page_url": text1024}, optional=_USAGE
    ),
}
USAGE_TYPES = ("usage_event", "app_session_start", "app_session_end", "page_load_event")
# A conversion reported by the affiliate pixel, put into the log by `crm.services.affiliates.conversions_log` once its
# player is known (docs/affiliates.md). Pitboss writes it (source "pixel"); partners cannot send it.
AFFILIATE_CONVERSION = "affiliate_conversion"
AFFILIATE_TYPES: dict[str, EventSpec] = {
    AFFILIATE_CONVERSION: EventSpec(
        required={"conversion_type": one_of("install", "registration", "deposit"), "affiliate_code": text64},
        optional={
            "amount": amount, "currency": one_of("eur", "usd", "gbp"), "transaction_id": text128,
            "affiliate_id": integer, "campaign_id": integer, "click_id": text64, "conversion_id": integer,
        },
    ),
}  # fmt: skip
PROFILE_UPDATE = "profile_update"
# The money fields: (core type, field) pairs parsed as `amount` (deposit_amount, bet_amount, win_amount...). Missions
# and tournaments sum and compare these in the label's base currency.
MONEY_FIELDS = frozenset(
    (type_name, name)
    for type_name, spec in CORE_TYPES.items()
    for name, parser in (*spec.required.items(), *spec.optional.items())
    if parser is amount
)
PII_FIELDS = ("user_email", "user_phone")  # encrypted in stored payloads, as in the player's columns
TYPE_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{1,63}\Z")
# Facts an app emits itself (source "system"), added by the app at start-up (`system_types_register`); partners may
# not send them. The three collections change in place only there, so every module that imported them sees the facts.
SYSTEM_TYPES: set[str] = set()
CORE_TYPE_NAMES: set[str] = {*CORE_TYPES, PROFILE_UPDATE}

FIELD_PARSERS: dict[str, Callable[[Any], Any]] = {
    "string": text255, "integer": integer, "number": number, "boolean": _boolean, "timestamp": timestamp,
}  # fmt: skip


def custom_spec(fields: list[dict]) -> EventSpec:
    """The spec of a registered custom type (its `fields` as stored on EventType)."""
    required = {f["name"]: FIELD_PARSERS[f["type"]] for f in fields if f.get("required")}
    optional = {f["name"]: FIELD_PARSERS[f["type"]] for f in fields if not f.get("required")}
    return EventSpec(required=required, optional=optional)


def system_types_register(types: Mapping[str, EventSpec]) -> None:
    """Add an app's own facts to the catalogue; call it from the app's `AppConfig.ready()`.

    Events of these types are validated as core types are, missions and tournaments may count them, a custom type
    cannot take their names, and partners cannot send them (only source "system"). Registering the same spec again
    changes nothing; a name another type already has, or a field whose kind is unknown, is a programming error.
    """
    for name, spec in types.items():
        if not TYPE_NAME_RE.match(name) or name == PROFILE_UPDATE:
            raise ValueError(f"{name!r} is not an event type name (lower-case letters, digits and _).")
        if name in CORE_TYPES and (name not in SYSTEM_TYPES or CORE_TYPES[name] != spec):
            raise ValueError(f"The event type {name!r} is already in the catalogue.")
        spec_fields(spec)  # every field's kind is known, or this raises
    for name, spec in types.items():
        CORE_TYPES[name] = spec
        SYSTEM_TYPES.add(name)
        CORE_TYPE_NAMES.add(name)


# --- who reads a custom type: apps that count events (gamification) say which of their live configurations do ------
@dataclass(frozen=True)
class TypeUse:
    """A live configuration (an active mission, a running tournament...) that reads events of a custom type: what it
    is ("Mission", "Tournament"), its name, its admin URL, and the type's payload fields it reads."""

    kind: str
    name: str
    url: str
    fields: frozenset[str]


class TypeUsers(Protocol):
    """An app's finder: the uses of a custom type in a label."""

    def __call__(self, *, label_id: int, type_name: str) -> list[TypeUse]: ...


_TYPE_USERS: list[TypeUsers] = []


def type_users_register(func: TypeUsers) -> None:
    """Add an app's finder of the configurations that read a custom type; call it from the app's `ready()`."""
    if func not in _TYPE_USERS:
        _TYPE_USERS.append(func)


def type_uses(*, label_id: int, type_name: str) -> list[TypeUse]:
    """Every live configuration of the label that reads events of `type_name`, as the registered apps find them."""
    return [use for func in _TYPE_USERS for use in func(label_id=label_id, type_name=type_name)]


# --- what a payload field is, for conditions and sums (missions, tournaments) --------------------------------------
NUMERIC_KINDS = frozenset({"integer", "number"})


@dataclass(frozen=True)
class FieldInfo:
    """The kind of a payload field (string, integer, number, boolean, timestamp, object or list) and, for a closed
    list of values, those values."""

    kind: str
    choices: tuple[str, ...] = ()

    @property
    def numeric(self) -> bool:
        return self.kind in NUMERIC_KINDS


_PARSER_KINDS: dict[Callable[[Any], Any], str] = {
    amount: "number", number: "number", integer: "integer", _boolean: "boolean", timestamp: "timestamp",
    text64: "string", text128: "string", text255: "string", text1024: "string", usage_parameters: "object",
}  # fmt: skip
_PROFILE_KINDS = {
    "core_registration_date": "timestamp", "user_birthdate": "timestamp", "dt_update": "timestamp",
    "core_affiliate_id": "integer", "core_is_email_disabled_by_platform": "boolean",
    "core_is_sms_disabled_by_platform": "boolean", "custom": "object", "markers": "list",
}  # fmt: skip
_PROFILE_CHOICES = {
    "core_account_status": tuple(s.value for s in AccountStatus), "core_user_gender": tuple(g.value for g in Gender),
}  # fmt: skip
# Every profile field has a kind (a new one is a string unless listed above).
PROFILE_FIELD_INFO: dict[str, FieldInfo] = {
    name: FieldInfo(_PROFILE_KINDS.get(name, "string"), _PROFILE_CHOICES.get(name, ())) for name in PROFILE_FIELDS
}


def _field_info(name: str, parser: Callable[[Any], Any]) -> FieldInfo:
    if isinstance(parser, Choice):
        return FieldInfo("string", parser.choices)
    kind = _PARSER_KINDS.get(parser)
    if kind is None:
        raise ValueError(f"The field {name!r} has a parser of no known kind: add it to _PARSER_KINDS.")
    return FieldInfo(kind)


def spec_fields(spec: EventSpec) -> dict[str, FieldInfo]:
    """The fields of a core or system type's payload, with their kinds."""
    return {name: _field_info(name, parser) for name, parser in {**spec.required, **spec.optional}.items()}


@dataclass(frozen=True)
class LabelCatalogue:
    """The event types a label's events may have: the core and system types, and its custom types (`active`: their
    `fields` as stored on EventType, by name; `inactive`: names of those switched off, which ingest refuses)."""

    active: Mapping[str, list[dict]] = field(default_factory=dict)
    inactive: frozenset[str] = frozenset()

    def fields(self, type_name: str) -> dict[str, FieldInfo] | None:
        """The payload fields of `type_name` with their kinds; None for a type events of the label cannot have."""
        if type_name == PROFILE_UPDATE:
            return dict(PROFILE_FIELD_INFO)
        if type_name in CORE_TYPES:
            return spec_fields(CORE_TYPES[type_name])
        if type_name in self.active:
            typed = [f for f in self.active[type_name] if isinstance(f, dict) and isinstance(f.get("name"), str)]
            return {f["name"]: FieldInfo(f["type"]) for f in typed if f.get("type") in FIELD_PARSERS}
        return None

    def names(self) -> list[str]:
        return sorted({*CORE_TYPE_NAMES, *self.active})


@dataclass
class CleanEvent:
    event_id: str
    type: str
    ext_brand_id: str
    user_ext_id: str
    occurred_at: dt.datetime
    payload: dict[str, Any]


def _occurred(value: Any, now: dt.datetime) -> dt.datetime:
    parsed = parse_timestamp(value)
    if parsed > now + FUTURE_SKEW:
        raise FieldError("Must not be in the future.")
    if parsed.year < 2000:
        raise FieldError("Must be after 2000.")
    return parsed.replace(microsecond=parsed.microsecond // 1000 * 1000)  # millisecond precision


_BAD_KEYS = "Field names must be strings without lone surrogates."


_SURROGATES = "Must not contain lone surrogates (\\ud800 to \\udfff)."


def _json_problem(value: Any) -> str | None:
    """Why a payload leaf cannot be stored as JSON, if it cannot (orjson refuses the first two; Python callers such
    as the stream consumer can pass the others)."""
    kind = type(value)  # JSON's own types first, by exact type; subclasses take the isinstance tests below
    if kind is str:
        return None if value.isascii() or not SURROGATE_RE.search(value) else _SURROGATES
    if kind is bool or value is None:
        return None
    if kind is float:
        return None if math.isfinite(value) else "Numbers must be finite."
    if isinstance(value, str):
        bad = not value.isascii() and SURROGATE_RE.search(value)
        return _SURROGATES if bad else None
    if isinstance(value, int) and not isinstance(value, bool):
        return None if value in INT64 else "Integers must fit in 64 bits."
    if isinstance(value, float):
        return None if math.isfinite(value) else "Numbers must be finite."
    return None if value is None or isinstance(value, bool) else "Expected JSON values only."


def _bad_keys(value: dict) -> bool:
    try:
        keys = "".join(value)  # one C loop; a key that is not a string raises (the regex tests each code point)
    except TypeError:
        return True
    return not keys.isascii() and SURROGATE_RE.search(keys) is not None


def _payload_shape(payload: dict) -> dict[str, list[str]]:
    """The payload's limits that hold whatever its type, checked before anything serializes it: orjson refuses
    nesting past 255 levels, integers past 64 bits, lone surrogates and keys that are not strings. A problem inside
    a top-level field is reported on that field."""
    entries = len(payload)
    if entries > MAX_PAYLOAD_ENTRIES:
        return {"payload": [f"At most {MAX_PAYLOAD_ENTRIES} keys and list items in all."]}
    if _bad_keys(payload):
        return {"payload": [_BAD_KEYS]}
    errors: dict[str, list[str]] = {}
    stack: list[tuple[Any, int, str]] = []  # (value, level, top-level field)
    for key, item in payload.items():
        kind = type(item)
        if kind is str:  # the usual leaf, checked here without a call
            if not item.isascii() and SURROGATE_RE.search(item):
                errors[f"payload.{field_name(key)}"] = [_SURROGATES]
        elif kind is dict or kind is list or isinstance(item, dict | list):
            stack.append((item, 2, key))
        elif problem := _json_problem(item):
            errors[f"payload.{field_name(key)}"] = [problem]
    while stack and entries <= MAX_PAYLOAD_ENTRIES:
        value, depth, top = stack.pop()
        if isinstance(value, dict | list):
            if depth > MAX_PAYLOAD_DEPTH:
                return {"payload": [f"At most {MAX_PAYLOAD_DEPTH} levels of nesting."]}
            entries += len(value)
            if isinstance(value, dict) and _bad_keys(value):
                errors.setdefault(f"payload.{field_name(top)}", [_BAD_KEYS])
                continue
            stack.extend((item, depth + 1, top) for item in (value.values() if isinstance(value, dict) else value))
        elif problem := _json_problem(value):
            errors.setdefault(f"payload.{field_name(top)}", [problem])
    if entries > MAX_PAYLOAD_ENTRIES:
        return {"payload": [f"At most {MAX_PAYLOAD_ENTRIES} keys and list items in all."]}
    return errors


def _payload_errors(payload: Any) -> dict[str, list[str]]:
    if not isinstance(payload, dict):
        return {"payload": ["Expected an object."]}
    errors = _payload_shape(payload)
    if errors:
        return errors
    try:
        size = len(orjson.dumps(payload))
    except orjson.JSONEncodeError:  # a value the shape check let through and orjson cannot write: refused all the same
        return {"payload": ["Expected JSON values only."]}
    return {"payload": [f"At most {MAX_PAYLOAD_BYTES // 1024} KiB."]} if size > MAX_PAYLOAD_BYTES else {}


def _envelope(raw: dict, now: dt.datetime) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The envelope's ids and time, cleaned, and the errors of each; unknown envelope fields are errors too."""
    values: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    parsers: dict[str, Callable[[Any], Any]] = {
        "event_id": identifier, "ext_brand_id": identifier, "user_ext_id": identifier,
    }  # fmt: skip
    for name, parse in [*parsers.items(), ("occurred_at", lambda value: _occurred(value, now))]:
        if raw.get(name) is None:
            errors[name] = ["This field is required."]
            continue
        try:
            values[name] = parse(raw[name])
        except FieldError as exc:
            errors[name] = [str(exc)]
    for name in sorted(field_name(key) for key in set(raw) - ENVELOPE_FIELDS):
        errors[name] = ["Unknown field; the type's fields go under 'payload'."]
    return values, errors


def _typed_payload(type_name: str, payload: dict, specs: dict[str, EventSpec]) -> tuple[dict, dict[str, list[str]]]:
    if type_name != PROFILE_UPDATE:
        return (CORE_TYPES.get(type_name) or specs[type_name]).clean(payload)
    clean, profile_errors = clean_profile(payload)
    errors = {f"payload.{k}": v for k, v in profile_errors.items()}
    if not clean and not errors:
        errors["payload"] = ["A profile update needs at least one field."]
    return clean, errors


def _type_error(type_name: Any, specs: dict[str, EventSpec]) -> str | None:
    # Only a string is looked up: `{} in specs` raises TypeError (unhashable).
    if type_name is None:
        return "This field is required."
    if not isinstance(type_name, str):
        return f"Expected the name of an event type (a string), not {shown(type_name)}."
    if type_name not in CORE_TYPE_NAMES and type_name not in specs:
        return f"Unknown event type {shown(type_name)}."
    return None


def clean_event(raw: Any, specs: dict[str, EventSpec], now: dt.datetime) -> tuple[CleanEvent | None, dict]:
    """Validate one event's envelope and payload. `specs` holds the label's active custom types.

    Never raises for any input: whatever JSON (or Python value) arrives, the errors name its fields.
    """
    if not isinstance(raw, dict):
        return None, {"non_field_errors": ["An event must be a JSON object."]}
    values, errors = _envelope(raw, now)
    type_name: Any = raw.get("type")  # a str once _type_error passed
    payload: Any = raw.get("payload") if raw.get("payload") is not None else {}
    payload_errors = _payload_errors(payload)
    if payload_errors:
        errors.update(payload_errors)
    elif type_error := _type_error(type_name, specs):
        errors["type"] = [type_error]
    else:
        payload, payload_errors = _typed_payload(type_name, payload, specs)
        errors.update(payload_errors)
    if errors:
        return None, errors
    return CleanEvent(payload=payload, type=type_name, **values), {}


# --- the CRM's own facts: entering and leaving a segment (crm.services.segments) -----------------------------------
SEGMENT_ENTERED = "segment_entered"
SEGMENT_LEFT = "segment_left"
SEGMENT_FACT_TYPES: dict[str, EventSpec] = {
    SEGMENT_ENTERED: EventSpec(required={"segment_id": integer, "segment_name": text255}),
    SEGMENT_LEFT: EventSpec(required={"segment_id": integer, "segment_name": text255}),
}
system_types_register(SEGMENT_FACT_TYPES)  # built in: rules and journeys react to them; partners cannot send them
