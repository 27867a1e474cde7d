"""What a synced view may be configured to: event types, their payload fields, and the reference's default columns.

A view with the reference's column names needs no column map: a column named like a field of the event type is
that field. `sync_view_errors` checks one view's settings without connecting (the model's `clean()` calls it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from crm.catalogue import CORE_TYPES, PROFILE_UPDATE, custom_spec
from crm.validators import PROFILE_FIELDS

if TYPE_CHECKING:
    from integrations.models import SyncView

COLUMN_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
# Envelope fields a column can be mapped to; the rest of the targets are payload fields of the event type.
ENVELOPE = ("ext_brand_id", "user_ext_id", "occurred_at")
CUSTOM_PREFIX = "custom."  # users view: a column mapped to custom.<name> becomes a custom profile property
# The reference's names: when the view has such a column and nothing else is configured, it is used.
DEFAULT_DATE_COLUMNS = ("transaction_date", "bet_date")
DEFAULT_ID_COLUMNS = ("transaction_id", "bet_id")
# A view of sport selections has a row per leg, so bet_id repeats in it: only selection_id can be a row's id.
SELECTION_TYPES = frozenset(["sport_selection_placed", "sport_selection_settled"])
SELECTION_ID_COLUMNS = ("selection_id",)
# A users view must expose these (the reference's "required" users view fields). Test connection checks them; a
# run does not, so a view that lacks one keeps syncing what it has.
USERS_VIEW_REQUIRED = ("core_account_status", "core_registration_date", "core_user_language", "core_wallet_currency")


@dataclass(frozen=True)
class TypeFields:
    """The payload fields of an event type: all of them, and those every event must carry."""

    names: frozenset[str]
    required: frozenset[str]


def type_fields(event_type: str, label_id: int) -> TypeFields | None:
    """The fields of a core type, of the users view's profile_update, or of the label's active custom type."""
    from crm.models import EventType

    if event_type == PROFILE_UPDATE:
        return TypeFields(frozenset(PROFILE_FIELDS) - {"custom", "markers"}, frozenset())
    spec = CORE_TYPES.get(event_type)
    if spec is None:
        fields = EventType.objects.filter(label_id=label_id, name=event_type, is_active=True).values_list(
            "fields", flat=True
        )
        if not fields:
            return None
        spec = custom_spec(fields[0])
    return TypeFields(frozenset(spec.required) | frozenset(spec.optional), frozenset(spec.required))


def default_id_columns(view: SyncView) -> tuple[str, ...]:
    """The reference's id columns a view's row id is looked for in, when the view names none."""
    return SELECTION_ID_COLUMNS if SELECTION_TYPES & set(view_types(view)) else DEFAULT_ID_COLUMNS


def view_types(view: SyncView) -> list[str]:
    """The event types a view's rows can become: its event type, or the targets of its type map."""
    if view.type_column:
        return sorted({t for t in view.type_map.values() if t})
    return [view.event_type]


def sync_view_errors(view: SyncView) -> dict[str, list[str]]:
    """Field-level problems of a view's settings that show without reading the view."""
    from integrations.models import CursorKind, ViewKind

    errors: dict[str, list[str]] = {}
    if view.kind == ViewKind.USERS:
        if view.event_type != PROFILE_UPDATE:
            errors["event_type"] = [f"A users view becomes {PROFILE_UPDATE} events."]
        if view.cursor_kind != CursorKind.TIMESTAMP:
            errors["cursor_kind"] = ["A users view is tracked by its dt_update timestamp."]
        if view.type_column or view.type_map:
            errors["type_column"] = ["A users view has no type column."]
    elif view.event_type == PROFILE_UPDATE:
        errors["event_type"] = [f"{PROFILE_UPDATE} comes from a users view; pick the transactional event type."]
    for name in ("cursor_column", "id_column", "type_column"):
        value = getattr(view, name)
        if value and not COLUMN_RE.match(value):
            errors.setdefault(name, []).append("A column name: letters, digits and _ (no schema).")
    label_id = view.source.label_id if view.source_id else None
    errors.update(_type_map_errors(view, label_id))
    if "type_map" not in errors and label_id is not None:
        errors.update(_column_map_errors(view, label_id))
    return errors


def _type_map_errors(view: SyncView, label_id: int | None) -> dict[str, list[str]]:
    if not isinstance(view.type_map, dict):
        return {"type_map": ['An object of type column value to event type, e.g. {"bet": "casino_bet"}.']}
    if bool(view.type_column) != bool(view.type_map):
        return {"type_map": ["Set both the type column and the type map, or neither."]}
    problems = []
    for value, target in view.type_map.items():
        if target is None:
            continue
        if not isinstance(target, str) or target == PROFILE_UPDATE:
            problems.append(f"{value!r}: the target must be a transactional event type (or null to skip).")
        elif label_id is not None and type_fields(target, label_id) is None:
            problems.append(f"{value!r}: unknown event type {target!r}.")
    if view.type_map and not view_types(view):
        problems.append("Map at least one value to an event type.")
    return {"type_map": problems} if problems else {}


def _column_map_errors(view: SyncView, label_id: int) -> dict[str, list[str]]:
    if not isinstance(view.column_map, dict):
        return {"column_map": ['An object of view column to event field, e.g. {"amount": "deposit_amount"}.']}
    fields = [type_fields(t, label_id) for t in view_types(view)]
    if any(f is None for f in fields):
        return {"event_type": [f"Unknown event type {view.event_type!r}: a core type or an active custom type."]}
    known = set().union(*(f.names for f in fields))
    problems = []
    for column, target in view.column_map.items():
        if not COLUMN_RE.match(str(column)):
            problems.append(f"{column!r} is not a column name (letters, digits and _).")
        elif not isinstance(target, str) or not _target_ok(target, known, view.event_type):
            problems.append(f"{column}: {target!r} is not a field of {', '.join(view_types(view))} nor {_envelope()}.")
    return {"column_map": problems} if problems else {}


def _target_ok(target: str, known: set[str], event_type: str) -> bool:
    if target in ENVELOPE or target in known:
        return True
    custom = target.removeprefix(CUSTOM_PREFIX)
    return event_type == PROFILE_UPDATE and target.startswith(CUSTOM_PREFIX) and bool(COLUMN_RE.match(custom))


def _envelope() -> str:
    return ", ".join(ENVELOPE)
