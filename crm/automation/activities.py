"""A rule's activities: their JSON shape, validation, and how one is applied to one player.

Shapes (a rule's `activities` is a list of these, applied in order):
    {"type": "points" | "gems" | "diamonds", "amount": 50}                      add a fixed amount
    {"type": "points", "amount": 20, "deduct": true}                            deduct it
    {"type": "points", "expression": "event.bet_amount * 0.1"}                  an amount computed (rounded down)
    {"type": "accumulate", "currency": "points", "field": "bet_amount", "per": 10, "amount": 1}
        1 point per 10 of `field`, the rest carried per player and wallet currency; `per` may be {"EUR": 10, ...}
    {"type": "set_marker" | "remove_marker", "marker": "vip"}
    {"type": "mission", "mission": <id>}      give (open) a mission: a run the player can progress
    {"type": "badge", "badge": <id>}          award the badge's next stage
    {"type": "bonus", "template": <id>}       give an operator bonus (crm.services.bonuses.bonus_give)
    {"type": "webhook", "url": "https://...", "body": {...}}   POST the body (strings "{{event.x}}" / "{{player.x}}"
        filled in), signed with HMAC-SHA256 of the rule's secret, after commit, with retries

Every write carries a key derived from the effect and the activity's position, so a replay changes nothing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any

WALLET_TYPES = ("points", "gems", "diamonds")
TYPES = (*WALLET_TYPES, "accumulate", "set_marker", "remove_marker", "mission", "badge", "bonus", "webhook")
GAMIFICATION_TYPES = frozenset({*WALLET_TYPES, "accumulate", "mission", "badge"})
MAX_ACTIVITIES = 10
MAX_AMOUNT = 10**9
MARKER_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}\Z")
PLACEHOLDER_RE = re.compile(r"\{\{\s*(event|player)\.([A-Za-z0-9_]{1,64})\s*\}\}")
PLAYER_FIELDS = ("id", "user_ext_id", "ext_brand_id", "core_username", "core_wallet_currency", "user_country",
                 "core_account_status", "core_user_language")  # fmt: skip
MAX_BODY_BYTES = 16 * 1024


@dataclass(frozen=True)
class Outcome:
    """What one activity did: `status` applied / skipped / failed / nothing, and details for the effect's results."""

    status: str
    detail: dict[str, Any]
    pending: Any = None  # a credit written with the page's others (a CreditOutcome): its entry id comes then

    def as_dict(self, index: int, type_: str) -> dict[str, Any]:
        return {"activity": index, "type": type_, "status": self.status, **self.detail}


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_AMOUNT


def _positive_number(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and 0 < value <= MAX_AMOUNT
    )


def activities_errors(activities: Any, *, label_id: int) -> dict[str, list[str]]:
    """What is wrong in `activities`, by path (`activities[1].amount`); empty when they are valid."""
    if not isinstance(activities, list):
        return {"activities": ["A list of activities."]}
    if not activities:
        return {"activities": ["At least one activity."]}
    if len(activities) > MAX_ACTIVITIES:
        return {"activities": [f"At most {MAX_ACTIVITIES} activities."]}
    errors: dict[str, list[str]] = {}
    for index, activity in enumerate(activities):
        path = f"activities[{index}]"
        if not isinstance(activity, dict) or activity.get("type") not in TYPES:
            errors[f"{path}.type"] = [f"One of: {', '.join(TYPES)}."]
            continue
        for key, message in _activity_problems(activity, label_id).items():
            errors[f"{path}.{key}"] = [message]
    return errors


def _activity_problems(a: dict[str, Any], label_id: int) -> dict[str, str]:
    t = a["type"]
    allowed = {
        "points": {"type", "amount", "expression", "deduct"},
        "accumulate": {"type", "currency", "field", "per", "amount"},
        "set_marker": {"type", "marker"},
        "mission": {"type", "mission"},
        "badge": {"type", "badge"},
        "bonus": {"type", "template"},
        "webhook": {"type", "url", "body"},
    }[{"gems": "points", "diamonds": "points", "remove_marker": "set_marker"}.get(t, t)]
    extra = sorted(set(a) - allowed)
    if extra:
        return {extra[0]: f"Unknown key for a {t} activity."}
    if t in WALLET_TYPES:
        return _wallet_problems(a)
    if t == "accumulate":
        return _accumulate_problems(a)
    if t in ("set_marker", "remove_marker"):
        ok = isinstance(a.get("marker"), str) and MARKER_RE.match(a["marker"])
        return {} if ok else {"marker": "1 to 64 letters, digits or _ . : -"}
    if t == "webhook":
        return _webhook_problems(a)
    return _reference_problem(t, a, label_id)


def _wallet_problems(a: dict[str, Any]) -> dict[str, str]:
    if "deduct" in a and not isinstance(a["deduct"], bool):
        return {"deduct": "true or false."}
    if ("amount" in a) == ("expression" in a):
        return {"amount": "Give either a fixed amount or an expression."}
    if "amount" in a:
        return {} if _positive_int(a["amount"]) else {"amount": f"A whole number from 1 to {MAX_AMOUNT:,}."}
    if not isinstance(a["expression"], str) or not a["expression"].strip():
        return {"expression": "An expression over event and state, e.g. event.bet_amount * 0.1."}
    from crm.expressions import ExpressionError, expression_compile

    try:
        expression_compile(a["expression"])
    except ExpressionError as exc:
        return {"expression": str(exc)}
    return {}


def _accumulate_problems(a: dict[str, Any]) -> dict[str, str]:
    if a.get("currency") not in WALLET_TYPES:
        return {"currency": f"One of: {', '.join(WALLET_TYPES)}."}
    if not isinstance(a.get("field"), str) or not a["field"]:
        return {"field": "The event's numeric field added up, e.g. bet_amount."}
    per = a.get("per")
    if isinstance(per, dict):
        bad = [k for k, v in per.items() if not re.match(r"^[A-Z]{3}\Z", str(k)) or not _positive_number(v)]
        if not per or bad:
            return {"per": 'Per wallet currency: {"EUR": 10, ...} with ISO codes and positive numbers.'}
    elif not _positive_number(per):
        return {"per": "A positive number, or one per wallet currency."}
    if not _positive_int(a.get("amount")):
        return {"amount": f"A whole number from 1 to {MAX_AMOUNT:,}."}
    return {}


def _webhook_problems(a: dict[str, Any]) -> dict[str, str]:
    from django.core.exceptions import ValidationError
    from django.core.validators import URLValidator

    try:
        URLValidator(schemes=["http", "https"])(a.get("url"))
    except ValidationError:
        return {"url": "An http(s) URL."}
    body = a.get("body", {})
    if not isinstance(body, dict | list):
        return {"body": "A JSON object (strings may hold {{event.field}} or {{player.field}})."}
    import orjson

    if len(orjson.dumps(body)) > MAX_BODY_BYTES:
        return {"body": f"At most {MAX_BODY_BYTES // 1024} KiB."}
    for kind, name in _placeholders(body):
        if kind == "player" and name not in PLAYER_FIELDS:
            return {"body": f"player.{name} is not a player field; one of {', '.join(PLAYER_FIELDS)}."}
    return {}


def _placeholders(node: Any) -> list[tuple[str, str]]:
    if isinstance(node, str):
        return PLACEHOLDER_RE.findall(node)
    if isinstance(node, dict):
        return [p for v in node.values() for p in _placeholders(v)]
    if isinstance(node, list):
        return [p for v in node for p in _placeholders(v)]
    return []


def _reference_problem(t: str, a: dict[str, Any], label_id: int) -> dict[str, str]:
    key = {"mission": "mission", "badge": "badge", "bonus": "template"}[t]
    ref = a.get(key)
    if not isinstance(ref, int) or isinstance(ref, bool):
        return {key: f"The id of a {key} of this label."}
    if t == "mission":
        from gamification.models import Mission

        return {} if Mission.objects.filter(pk=ref, label_id=label_id).exists() else {key: "No such mission."}
    if t == "badge":
        from gamification.models import Badge

        return {} if Badge.objects.filter(pk=ref, label_id=label_id).exists() else {key: "No such badge."}
    from crm.models.bonuses import BonusTemplate

    exists = BonusTemplate.objects.filter(pk=ref, label_id=label_id).exists()
    return {} if exists else {key: "No such bonus template."}


# --- amounts -----------------------------------------------------------------------------------------------------
def whole(value: Any) -> int:
    """An expression's result as a whole amount, rounded down (None, text, NaN or below 1: 0)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return 0
    try:
        number = Decimal(str(value)).to_integral_value(rounding=ROUND_DOWN)
    except (InvalidOperation, ValueError):
        return 0
    if not number.is_finite() or number < 1:
        return 0
    return int(min(number, MAX_AMOUNT))


def accumulate_step(*, remainder: Decimal, value: Decimal, per: Decimal, amount: int) -> tuple[int, Decimal]:
    """Add `value` to the carried `remainder`: (what to credit, the new remainder), exactly."""
    total = remainder + value
    units = int(total // per)
    return units * amount, total - units * per


def per_for(activity: Mapping[str, Any], currency: str) -> Decimal | None:
    """The accumulation step for a player's wallet currency; None when the rule has none for it."""
    per = activity["per"]
    if isinstance(per, dict):
        value = per.get(currency)
        return None if value is None else Decimal(str(value))
    return Decimal(str(per))


def body_render(template: Any, *, event: Mapping[str, Any], player: Mapping[str, Any]) -> Any:
    """Fill `{{event.x}}` / `{{player.x}}` in the body's strings. A string that is exactly one placeholder takes the
    value's JSON type (a number stays a number); a missing value is null (or "" inside a longer string)."""
    if isinstance(template, dict):
        return {k: body_render(v, event=event, player=player) for k, v in template.items()}
    if isinstance(template, list):
        return [body_render(v, event=event, player=player) for v in template]
    if not isinstance(template, str):
        return template
    sources = {"event": event, "player": player}
    whole_match = PLACEHOLDER_RE.fullmatch(template.strip())
    if whole_match:
        return sources[whole_match.group(1)].get(whole_match.group(2))

    def one(match: re.Match) -> str:
        value = sources[match.group(1)].get(match.group(2))
        return "" if value is None else str(value)

    return PLACEHOLDER_RE.sub(one, template)
