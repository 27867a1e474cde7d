"""The event catalogue: core types with their fields (names from the reference), custom types, and the envelope.

Plain functions, no ORM, so batch ingest validates a thousand events in milliseconds.
`clean_event(raw, ctx)` returns `(event, errors)`; `errors` names each bad field.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from crm.validators import FieldError, _boolean, _text, clean_profile, parse_timestamp

MAX_PAYLOAD_BYTES = 32 * 1024
MAX_AMOUNT = 10**12
FUTURE_SKEW = dt.timedelta(seconds=60)
ENVELOPE_FIELDS = {"event_id", "type", "ext_brand_id", "user_ext_id", "occurred_at", "payload"}


def amount(value: Any) -> int | float:
    """A money amount: a finite, non-negative JSON number (kept as sent; sums use Decimal)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise FieldError("Expected a number.")
    if not 0 <= value < MAX_AMOUNT:
        raise FieldError(f"Must be between 0 and {MAX_AMOUNT:,}.")
    return value


def number(value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise FieldError("Expected a number.")
    return value


def integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) >= 2**63:
        raise FieldError("Expected an integer.")
    return value


def timestamp(value: Any) -> str:
    return parse_timestamp(value).isoformat(timespec="milliseconds")


def one_of(*choices: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if not isinstance(value, str) or value.lower() not in choices:
            raise FieldError(f"{value!r} is not one of: {', '.join(choices)}.")
        return value.lower()

    return parse


text64, text128, text255 = _text(64), _text(128), _text(255)


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
                errors[f"payload.{name}"] = ["Unknown field for this event type."]
            elif value is not None:
                try:
                    clean[name] = parser(value)
                except FieldError as exc:
                    errors[f"payload.{name}"] = [str(exc)]
        return clean, errors


_GAME = {
    "game_category": text255, "game_category_id": text128, "game_provider": text255, "game_provider_id": text128,
}  # fmt: skip
_SPORT = {
    "bet_id": text128, "odds": number, "selections": integer, "sport": text128, "league": text255,
    "event_name": text255, "market": text255, "is_live": _boolean, "bet_type": one_of("single", "multi", "system"),
}  # fmt: skip

_DEPOSIT = {
    "bonus_balance": amount, "real_balance": amount, "total_balance": amount, "deposit_code": text128,
    "deposit_method": text128,
}  # fmt: skip

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
    "client_action": EventSpec(required={"action": text128}),
    # Facts that gamification emits (source "system"); partners may not send these types.
    "level_changed": EventSpec(
        required={"level_id": integer, "level_name": text255},
        optional={"previous_level_id": integer, "previous_level_name": text255},
    ),
    "balance_changed": EventSpec(
        required={
            "currency": one_of("points", "gems", "diamonds"),
            "amount": integer,
            "balance": integer,
            "source": text64,
            "entry_id": integer,
        },
    ),
    "mission_completed": EventSpec(
        required={"mission_id": integer, "mission_name": text255, "run": integer}, optional={"cycle": text64}
    ),
    "badge_earned": EventSpec(
        required={"badge_id": integer, "badge_name": text255, "stage": integer}, optional={"stage_name": text255}
    ),
    "tournament_registered": EventSpec(
        required={"tournament_id": integer, "instance_id": integer, "tournament_name": text255},
        optional={"registration_type": text64},
    ),
    "tournament_won": EventSpec(
        required={
            "tournament_id": integer,
            "instance_id": integer,
            "tournament_name": text255,
            "place": integer,
            "score": number,
        },
    ),
    "tournament_lost": EventSpec(
        required={
            "tournament_id": integer,
            "instance_id": integer,
            "tournament_name": text255,
            "place": integer,
            "score": number,
        },
    ),
    "store_item_purchased": EventSpec(
        required={
            "item_id": integer,
            "item_name": text255,
            "price": integer,
            "currency": text64,
            "purchase_id": integer,
        },
    ),
}
SYSTEM_TYPES = frozenset(
    ["level_changed", "balance_changed", "mission_completed", "badge_earned", "tournament_registered",
     "tournament_won", "tournament_lost", "store_item_purchased"]
)  # fmt: skip
PROFILE_UPDATE = "profile_update"
PII_FIELDS = ("user_email", "user_phone")  # encrypted in stored payloads, as in the player's columns
CORE_TYPE_NAMES = frozenset([*CORE_TYPES, PROFILE_UPDATE])

FIELD_PARSERS: dict[str, Callable[[Any], Any]] = {
    "string": text255, "integer": integer, "number": number, "boolean": _boolean, "timestamp": timestamp,
}  # fmt: skip


def custom_spec(fields: list[dict]) -> EventSpec:
    """The spec of a registered custom type (its `fields` as stored on EventType)."""
    required = {f["name"]: FIELD_PARSERS[f["type"]] for f in fields if f.get("required")}
    optional = {f["name"]: FIELD_PARSERS[f["type"]] for f in fields if not f.get("required")}
    return EventSpec(required=required, optional=optional)


@dataclass
class CleanEvent:
    event_id: str
    type: str
    ext_brand_id: str
    user_ext_id: str
    occurred_at: dt.datetime
    payload: dict[str, Any]


def _ident(value: Any, max_length: int = 128) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise FieldError("Expected a string or an integer.")
    value = str(value).strip()
    if not value or len(value) > max_length or "\x00" in value:
        raise FieldError(f"Must be 1 to {max_length} characters.")
    return value


def _occurred(value: Any, now: dt.datetime) -> dt.datetime:
    parsed = parse_timestamp(value)
    if parsed > now + FUTURE_SKEW:
        raise FieldError("Must not be in the future.")
    if parsed.year < 2000:
        raise FieldError("Must be after 2000.")
    return parsed.replace(microsecond=parsed.microsecond // 1000 * 1000)  # millisecond precision


def clean_event(raw: Any, specs: dict[str, EventSpec], now: dt.datetime) -> tuple[CleanEvent | None, dict]:
    """Validate one event's envelope and payload. `specs` holds the label's active custom types."""
    if not isinstance(raw, dict):
        return None, {"non_field_errors": ["An event must be a JSON object."]}
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    for name, parse in (("event_id", _ident), ("ext_brand_id", _ident), ("user_ext_id", _ident)):
        try:
            values[name] = parse(raw.get(name)) if raw.get(name) is not None else None
            if values[name] is None:
                errors[name] = ["This field is required."]
        except FieldError as exc:
            errors[name] = [str(exc)]
    try:
        values["occurred_at"] = _occurred(raw["occurred_at"], now) if raw.get("occurred_at") is not None else None
        if values["occurred_at"] is None:
            errors["occurred_at"] = ["This field is required."]
    except FieldError as exc:
        errors["occurred_at"] = [str(exc)]
    unknown = set(raw) - ENVELOPE_FIELDS
    for name in sorted(unknown):
        errors[name] = ["Unknown field; the type's fields go under 'payload'."]
    type_name = raw.get("type")
    payload = raw.get("payload", {})
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        errors["payload"] = ["Expected an object."]
    elif len(orjson.dumps(payload)) > MAX_PAYLOAD_BYTES:
        errors["payload"] = [f"At most {MAX_PAYLOAD_BYTES // 1024} KiB."]
    elif not isinstance(type_name, str) or (type_name not in CORE_TYPE_NAMES and type_name not in specs):
        errors["type"] = [f"Unknown event type {type_name!r}."]
    elif type_name == PROFILE_UPDATE:
        payload, payload_errors = clean_profile(payload)
        errors.update({f"payload.{k}": v for k, v in payload_errors.items()})
        if not payload and not payload_errors:
            errors["payload"] = ["A profile update needs at least one field."]
    else:
        payload, payload_errors = (CORE_TYPES.get(type_name) or specs[type_name]).clean(payload)
        errors.update(payload_errors)
    if errors:
        return None, errors
    return CleanEvent(payload=payload, type=type_name, **values), {}
