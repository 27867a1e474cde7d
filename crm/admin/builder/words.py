"""Event conditions in the words a player reads: "casino bets where game category is slots and bet amount is at least
1" (the same words the builder's live preview uses, static/crm/builder/builder.js), for the admin's player previews.
"""

from __future__ import annotations

from typing import Any

from crm.catalogue import PROFILE_UPDATE

OP_WORDS = {
    "eq": "is", "ne": "is not", "in": "is one of", "not_in": "is none of", "contains": "contains",
    "gt": "is more than", "gte": "is at least", "lt": "is less than", "lte": "is at most",
}  # fmt: skip


def name_words(name: str) -> str:
    """A snake_case name in words: casino_bet -> casino bet."""
    return name.replace("_", " ").strip()


def type_words(type_name: str, *, plural: bool = False) -> str:
    """An event type as a player says it: "casino bet", "casino bets", "wheel spins"."""
    text = name_words(type_name)
    if type_name == PROFILE_UPDATE:
        return "profile updates" if plural else "profile update"
    return f"{text}s" if plural and not text.endswith("s") else text


def _value_words(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        items = [_value_words(v) for v in value]
        return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} or {items[-1]}"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def condition_words(condition: dict[str, Any]) -> str:
    """One event condition in words: "bet amount is at least 1", "game name contains “Book”"."""
    field, op, value = condition.get("field", "?"), condition.get("op", "?"), condition.get("value")
    shown = f"“{value}”" if op == "contains" else _value_words(value)
    return f"{name_words(str(field))} {OP_WORDS.get(op, op)} {shown}"


def conditions_words(conditions: Any) -> str:
    """Every condition of an event-condition list in words, joined by "and" ("" for none or a list that is not one)."""
    if not isinstance(conditions, list):
        return ""
    parts = [condition_words(c) for c in conditions if isinstance(c, dict)]
    if len(parts) <= 1:
        return "".join(parts)
    return f"{', '.join(parts[:-1])} and {parts[-1]}"


def events_words(event_type: str, conditions: Any, *, plural: bool = True) -> str:
    """ "casino bets where game category is slots" (or just "casino bets")."""
    where = conditions_words(conditions)
    return f"{type_words(event_type, plural=plural)}{f' where {where}' if where else ''}"
