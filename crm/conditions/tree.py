"""The condition tree: its shape, its validation (errors named by path) and its description in plain words.

    node  := {"all": [node, ...]} | {"any": [node, ...]} | {"not": node} | leaf
    leaf  := {"field": KEY, "op": OP, "value": V} | a registered leaf kind ({"behaviour": ...}, {"segment": ...})

`{"all": []}` is everyone (and so is `{}` at the root), `{"any": []}` nobody. At most 6 nested groups and 50
leaves. See docs/conditions.md.
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
from collections.abc import Iterator
from typing import Any, Protocol, runtime_checkable

from crm.conditions.fields import (
    CUSTOM_OPS,
    NO_VALUE_OPS,
    FieldDef,
    custom_field,
    custom_name,
    field_registry,
)

GROUPS = ("all", "any", "not")
MAX_DEPTH = 6
MAX_LEAVES = 50
MAX_LIST = 500
MAX_TEXT = 1000
MAX_DAYS = 36_500
FIRST_DAY, LAST_DAY = dt.date(1900, 1, 1), dt.date(2199, 12, 31)
OP_WORDS = {
    "eq": "is", "ne": "is not", "in": "is one of", "not_in": "is none of", "contains": "contains",
    "not_contains": "does not contain", "starts_with": "starts with", "is_set": "is set", "not_set": "is not set",
    "gt": "is more than", "gte": "is at least", "lt": "is less than", "lte": "is at most", "between": "is between",
    "is_true": "is true", "is_false": "is false", "before": "is before", "after": "is after",
    "within_last_days": "is within the last", "more_than_days_ago": "is more than", "birthday_in_days": "birthday in",
    "has": "has", "has_not": "does not have",
}  # fmt: skip


class TreeError(ValueError):
    """A condition tree that cannot be used; `errors` maps each bad place (`conditions.all[1].value`) to messages."""

    def __init__(self, errors: dict[str, list[str]]):
        self.errors = errors
        super().__init__("; ".join(f"{path}: {' '.join(msgs)}" for path, msgs in errors.items()))


@runtime_checkable
class LeafKind(Protocol):
    """A pluggable leaf (`{"<name>": ...}`): behaviour (rollups), segment (segments)."""

    def validate(self, node: dict, label_id: int, path: str) -> dict[str, list[str]] | None:
        """Errors by path (empty or None: valid). May also raise TreeError."""

    def sql(self, node: dict, label_id: int, now: dt.datetime, player_ids: list[int] | None = None) -> tuple[str, list]:
        """A boolean SQL expression over `p.id` (crm_player). `player_ids`: the query is narrowed to these players
        (passed only when it is), so the leaf may read theirs alone."""

    def load(self, nodes: list[dict], label_id: int, player_ids: list[int], now: dt.datetime) -> dict[int, dict]:
        """What `matches` needs, per player id, for these nodes (all of this kind in a tree)."""

    def matches(self, node: dict, state: dict, now: dt.datetime) -> bool:
        """Whether one player (`state`: what `load` returned for them) matches."""

    def describe(self, node: dict, label_id: int) -> str:
        """Plain words."""


LEAF_KINDS: dict[str, LeafKind] = {}


def register_leaf(name: str, kind: LeafKind) -> None:
    """Make `{"<name>": ...}` nodes a leaf handled by `kind` (called at import time by the module that owns it)."""
    if name in GROUPS or name in ("field", "op", "value"):
        raise ValueError(f"{name!r} is reserved")
    LEAF_KINDS[name] = kind


def leaf_kind_of(node: dict) -> str | None:
    """The registered kind name of a plugin leaf, or None."""
    for name in LEAF_KINDS:
        if name in node:
            return name
    return None


def root(tree: Any) -> Any:
    """The tree to work on: an empty object at the root (a rule without an audience) is everyone, {"all": []}."""
    return {"all": []} if tree == {} else tree


def walk(tree: Any) -> Iterator[dict]:
    """Every leaf of a (valid) tree, in order."""
    if "all" in tree or "any" in tree:
        for child in tree.get("all", tree.get("any")):
            yield from walk(child)
    elif "not" in tree:
        yield from walk(tree["not"])
    else:
        yield tree


# --- validation -----------------------------------------------------------------------------------------------------


class _Checker:
    def __init__(self, label_id: int):
        self.label_id = label_id
        self.errors: dict[str, list[str]] = {}
        self.leaves = 0
        self._registry: dict[str, FieldDef] | None = None

    @property
    def registry(self) -> dict[str, FieldDef]:
        if self._registry is None:
            self._registry = field_registry(label_id=self.label_id)
        return self._registry

    def fail(self, path: str, message: str) -> None:
        self.errors.setdefault(path, []).append(message)

    def node(self, node: Any, path: str, depth: int) -> None:
        if not isinstance(node, dict):
            self.fail(path, "Expected a condition or a group (an object).")
            return
        groups = [g for g in GROUPS if g in node]
        if groups:
            self.group(node, groups, path, depth)
        elif "field" in node:
            self.leaves += 1
            self.field_leaf(node, path)
        elif (kind := leaf_kind_of(node)) is not None:
            self.leaves += 1
            problems = LEAF_KINDS[kind].validate(node, self.label_id, path)
            for where, messages in (problems or {}).items():
                self.errors.setdefault(where, []).extend(messages)
        else:
            known = ", ".join(["all", "any", "not", "field", *LEAF_KINDS])
            self.fail(path, f"Not a condition: expected one of {known}.")

    def group(self, node: dict, groups: list[str], path: str, depth: int) -> None:
        if len(groups) > 1 or len(node) > 1:
            self.fail(path, f"A group has exactly one key: all, any or not (found {', '.join(sorted(node))}).")
            return
        if depth > MAX_DEPTH:
            self.fail(path, f"Groups nest at most {MAX_DEPTH} deep.")
            return
        name = groups[0]
        if name == "not":
            self.node(node["not"], f"{path}.not", depth + 1)
            return
        children = node[name]
        if not isinstance(children, list):
            self.fail(f"{path}.{name}", "Expected a list of conditions.")
            return
        for index, child in enumerate(children):
            self.node(child, f"{path}.{name}[{index}]", depth + 1)

    def field_leaf(self, node: dict, path: str) -> None:
        key = node["field"]
        fdef = self.field(key, f"{path}.field")
        extra = sorted(set(node) - {"field", "op", "value"})
        if extra:
            self.fail(path, f"Unexpected key {', '.join(extra)}: a condition has field, op and value.")
        if fdef is None:
            return
        op = node.get("op")
        if op not in fdef.ops:
            words = ", ".join(fdef.ops)
            if op is None:
                self.fail(f"{path}.op", f"Choose an operator for {fdef.label}: one of {words}.")
            else:
                self.fail(f"{path}.op", f"{fdef.label} cannot use {_shown(op)}; use one of {words}.")
            return
        if op in NO_VALUE_OPS:
            if node.get("value") is not None:
                self.fail(f"{path}.value", f'"{OP_WORDS[op]}" takes no value.')
            return
        if node.get("value") is None:
            self.fail(f"{path}.value", "A value is required.")
            return
        problem = value_problem(fdef, op, node["value"], self.label_id)
        if problem:
            self.fail(f"{path}.value", problem)

    def field(self, key: Any, path: str) -> FieldDef | None:
        if not isinstance(key, str):
            self.fail(path, "Expected a field name.")
            return None
        if key in self.registry:
            return self.registry[key]
        name = custom_name(key)
        if name is not None:  # a property no player holds yet is still a property a condition may test
            return custom_field(name)
        close = difflib.get_close_matches(key, list(self.registry), n=1, cutoff=0.7)
        hint = f'; did you mean "{close[0]}" ({self.registry[close[0]].label})?' if close else "."
        self.fail(path, f'Unknown field "{key}"{hint}')
        return None


def tree_validate(tree: Any, *, label_id: int) -> None:
    """Raise TreeError naming each bad place of `tree` (from `conditions`) unless it is a usable tree of this label."""
    checker = _Checker(label_id)
    checker.node(root(tree), "conditions", 1)
    if checker.leaves > MAX_LEAVES:
        checker.fail("conditions", f"At most {MAX_LEAVES} conditions; this has {checker.leaves}.")
    if checker.errors:
        raise TreeError(checker.errors)


def _shown(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else str(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _text_problem(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return 'Enter a text (to test for an empty value use "is not set").'
    if len(value) > MAX_TEXT:
        return f"At most {MAX_TEXT} characters."
    return None


def _day_problem(value: Any) -> str | None:
    try:
        day = dt.date.fromisoformat(value) if isinstance(value, str) and len(value) == 10 else None
    except ValueError:
        day = None
    if day is None:
        return f"{_shown(value)} is not a date; write it as YYYY-MM-DD, e.g. 2026-01-31."
    if not FIRST_DAY <= day <= LAST_DAY:
        return f"A date between {FIRST_DAY} and {LAST_DAY}."
    return None


def _pair_problem(value: Any, one) -> str | None:
    if not isinstance(value, list) or len(value) != 2:
        return "Between needs two values: [from, to]."
    problem = one(value[0]) or one(value[1])
    if problem:
        return problem
    if value[0] > value[1]:
        return f"The first value ({value[0]}) must not be after the second ({value[1]})."
    return None


def _list_problem(value: Any, one) -> str | None:
    if not isinstance(value, list) or not value:
        return "Enter a list of one or more values."
    if len(value) > MAX_LIST:
        return f"At most {MAX_LIST} values."
    for item in value:
        problem = one(item)
        if problem:
            return problem
    return None


def _number_problem(kind: str):
    def check(value: Any) -> str | None:
        if not _is_number(value):
            return f"{_shown(value)} is not a number."
        if kind == "integer" and value != int(value):
            return f"{value} is not a whole number."
        return None

    return check


def _choice_problem(fdef: FieldDef):
    allowed = {str(v).casefold() for v, _ in fdef.choices}

    def check(value: Any) -> str | None:
        if fdef.kind == "level":
            if isinstance(value, bool) or not isinstance(value, int) or value not in {v for v, _ in fdef.choices}:
                names = ", ".join(f"{name} ({v})" for v, name in fdef.choices) or "none yet"
                return f"{_shown(value)} is not a level of this label; its levels: {names}."
            return None
        problem = _text_problem(value)
        if problem or str(value).casefold() in allowed:
            return problem
        return f"{_shown(value)} is not one of {', '.join(str(v) for v, _ in fdef.choices)}."

    return check


def _days_problem(op: str, value: Any) -> str | None:
    low = 0 if op in ("more_than_days_ago", "birthday_in_days") else 1
    high = 366 if op == "birthday_in_days" else MAX_DAYS
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        return f"A whole number of days from {low} to {high}."
    return None


def _custom_scalar_problem(value: Any) -> str | None:
    if isinstance(value, bool) or _is_number(value):
        return None
    return _text_problem(value) and "Enter a text, a number or true/false."


def value_problem(fdef: FieldDef, op: str, value: Any, label_id: int) -> str | None:
    """Why `value` does not fit `op` on this field (None: it fits)."""
    kind = fdef.kind
    if fdef.key.startswith("custom."):
        kind = "custom"
    if op in ("within_last_days", "more_than_days_ago", "birthday_in_days"):
        return _days_problem(op, value)
    if kind in ("date", "datetime"):
        return _pair_problem(value, _day_problem) if op == "between" else _day_problem(value)
    if op in ("gt", "gte", "lt", "lte", "eq", "ne", "between") and kind in ("integer", "number", "custom"):
        check = _number_problem("number" if kind == "custom" else kind)
        if op == "between":
            return _pair_problem(value, check)
        if kind != "custom" or op not in ("eq", "ne"):
            return check(value)
    if kind == "custom":
        one = _text_problem if op in ("contains", "not_contains", "starts_with") else _custom_scalar_problem
        return _list_problem(value, one) if op in ("in", "not_in") else one(value)
    if kind == "markers":
        return _text_problem(value)
    one = _choice_problem(fdef) if kind in ("choice", "level") and op in ("eq", "ne", "in", "not_in") else _text_problem
    return _list_problem(value, one) if op in ("in", "not_in") else one(value)


# --- plain words ----------------------------------------------------------------------------------------------------


def tree_describe(tree: Any, *, label_id: int) -> str:
    """The tree in plain words, e.g. "Country is MT and Deposits (count) is at least 1" (for previews)."""
    registry = field_registry(label_id=label_id)
    return _describe(root(tree), registry, label_id, top=True)


def _describe(node: Any, registry: dict[str, FieldDef], label_id: int, top: bool = False) -> str:
    """Plain words; a part that is not valid (a tree being edited) reads as "?" rather than failing."""
    try:
        return _describe_node(node, registry, label_id, top)
    except (KeyError, TypeError, IndexError, AttributeError, ValueError):
        return "?"


def _describe_node(node: Any, registry: dict[str, FieldDef], label_id: int, top: bool) -> str:
    if "all" in node or "any" in node:
        name = "all" if "all" in node else "any"
        children = node[name]
        if not children:
            return "everyone" if name == "all" else "nobody"
        parts = [_describe(child, registry, label_id) for child in children]
        text = (" and " if name == "all" else " or ").join(parts)
        return text if top or len(parts) == 1 else f"({text})"
    if "not" in node:
        return f"not ({_describe(node['not'], registry, label_id, top=True)})"
    if "field" in node:
        return _describe_field(node, registry)
    kind = leaf_kind_of(node)
    return LEAF_KINDS[kind].describe(node, label_id) if kind else "?"


def _value_words(fdef: FieldDef, value: Any) -> str:
    names = {v: name for v, name in fdef.choices} if fdef.kind in ("choice", "level") else {}
    if isinstance(value, list):
        return ", ".join(_value_words(fdef, v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(names.get(value, value))


def _describe_field(node: dict, registry: dict[str, FieldDef]) -> str:
    key, op = node["field"], node["op"]
    value: Any = node.get("value")
    name = custom_name(key)
    fdef = registry.get(key) or (custom_field(name) if name else None)
    if fdef is None:
        return f"{key} {OP_WORDS.get(op, op)} {value}"
    label = fdef.label
    if fdef.kind == "boolean" and op in ("is_true", "is_false") and not name:
        return label if op == "is_true" else f"not {label[0].lower()}{label[1:]}"
    if fdef.kind == "markers":
        return {"is_set": "has a marker", "not_set": "has no marker"}.get(op) or f'{OP_WORDS[op]} marker "{value}"'
    if op in NO_VALUE_OPS:
        return f"{label} {OP_WORDS[op]}"
    if op == "between":
        return f"{label} is between {_value_words(fdef, value[0])} and {_value_words(fdef, value[1])}"
    if op == "within_last_days":
        return f"{label} is within the last {_days(value)}"
    if op == "more_than_days_ago":
        return f"{label} is more than {_days(value)} ago"
    if op == "birthday_in_days":
        return "Birthday is today" if value == 0 else f"Birthday is in {_days(value)}"
    if op in ("contains", "not_contains", "starts_with"):
        return f'{label} {OP_WORDS[op]} "{value}"'
    return f"{label} {OP_WORDS[op]} {_value_words(fdef, value)}"


def _days(count: int) -> str:
    return "1 day" if count == 1 else f"{count} days"


assert set(CUSTOM_OPS) <= set(OP_WORDS)
