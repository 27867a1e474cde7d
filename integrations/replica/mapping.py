"""How one view's rows become events: the plan (which column is what), the page query, and the row mapping.

The plan is built from the view's settings and the columns the view really has, so a missing or mistyped column is
reported before a row is read. Rows are read in (cursor, key) order: the key (the row's id, or brand and user for
the users view) breaks ties between rows with the same cursor value, so paging never repeats nor skips them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson
from psycopg import sql

from crm.catalogue import PROFILE_UPDATE
from integrations.models import CursorKind, SyncView, ViewKind
from integrations.replica.config import (
    CUSTOM_PREFIX,
    DEFAULT_DATE_COLUMNS,
    ENVELOPE,
    USERS_VIEW_REQUIRED,
    default_id_columns,
    type_fields,
    view_types,
)
from integrations.replica.reader import INTEGER_TYPES, TIMESTAMP_TYPES, ReplicaError, relation

NAIVE_TIMESTAMP = 1114


@dataclass(frozen=True)
class Position:
    """A row's place in the read order: its cursor value, then its key values."""

    cursor: Any
    key: tuple

    def params(self) -> list:
        return [self.cursor, *self.key]


@dataclass(frozen=True)
class Refused:
    """A row that cannot become an event, and why (counted, shown in the admin, never retried)."""

    ref: str
    errors: dict[str, list[str]]


@dataclass
class Plan:
    """Which column is what, for one view."""

    view: SyncView
    cursor: str
    cursor_oid: int
    keys: list[str]
    brand: str
    user: str
    date: str
    event_id: str | None  # None: the users view, whose event id is derived from the row
    type_column: str | None
    fields: dict[str, list[tuple[str, str]]]  # event type -> [(column, payload field)]
    columns: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        wanted = [self.cursor, *self.keys, self.brand, self.user, self.date, self.event_id, self.type_column]
        wanted += [column for pairs in self.fields.values() for column, _ in pairs]
        self.columns = list(dict.fromkeys(c for c in wanted if c))

    @property
    def by_timestamp(self) -> bool:
        return self.view.cursor_kind == CursorKind.TIMESTAMP

    def users_view_missing(self) -> list[str]:
        """The reference's required users view fields that no column of this users view carries (by name or map)."""
        if self.view.kind != ViewKind.USERS:
            return []
        carried = {target for _, target in self.fields.get(PROFILE_UPDATE, [])}
        return [name for name in USERS_VIEW_REQUIRED if name not in carried]

    # --- positions -----------------------------------------------------------------------------------------------
    def stored_position(self) -> Position | None:
        """The position committed by the last run, as values to bind in the next query."""
        if not self.view.cursor_value:
            return None
        try:
            cursor = self._bind_cursor(self.view.cursor_value)
            key = tuple(orjson.loads(self.view.cursor_key)) if self.view.cursor_key else ()
        except (ValueError, ArithmeticError):
            raise ReplicaError(
                f"The stored cursor {self.view.cursor_value!r} does not fit a {self.view.cursor_kind} cursor: "
                "read the view from the start."
            ) from None
        if len(key) != len(self.keys):
            key = ()  # the view's key columns changed since: the cursor alone still bounds the read
        return Position(cursor, key)

    def position_of(self, row: tuple) -> Position:
        return Position(row[0], tuple(row[1 : 1 + len(self.keys)]))

    def cursor_text(self, value: Any) -> str:
        if isinstance(value, dt.datetime):
            return _utc(value).isoformat()
        return str(value)

    def key_text(self, position: Position) -> str:
        return orjson.dumps([_key_json(v) for v in position.key]).decode()

    def _bind_cursor(self, text: str) -> Any:
        if not self.by_timestamp:
            number = Decimal(text)
            return int(number) if number == number.to_integral_value() else number
        value = dt.datetime.fromisoformat(text)
        # compare like with like: a `timestamp` column (UTC by the reference) with a naive value
        return value.replace(tzinfo=None) if self.cursor_oid == NAIVE_TIMESTAMP else value

    # --- the page query ------------------------------------------------------------------------------------------
    def page_query(
        self, *, lower: Any, after: Position | None, seen: Position | None, limit: int
    ) -> tuple[sql.Composed, list]:
        """Rows in (cursor, key) order from `lower` (inclusive) and after `after`, with a flag: beyond `seen`?"""
        is_new, params = self._beyond(seen) if seen is not None else (sql.SQL("TRUE"), [])
        where = [sql.SQL("{} IS NOT NULL").format(sql.Identifier(c)) for c in (self.cursor, *self.keys)]
        if lower is not None:
            where.append(sql.SQL("{} >= %s").format(sql.Identifier(self.cursor)))
            params.append(lower)
        if after is not None:
            condition, after_params = self._beyond(after)
            where.append(condition)
            params += after_params
        query = sql.SQL("SELECT {columns}, {is_new} FROM {view} WHERE {where} ORDER BY {order} LIMIT %s").format(
            columns=sql.SQL(", ").join(sql.Identifier(c) for c in self.columns),
            is_new=is_new,
            view=relation(self.view.name),
            where=sql.SQL(" AND ").join(where),
            order=sql.SQL(", ").join(sql.Identifier(c) for c in (self.cursor, *self.keys)),
        )
        return query, [*params, limit]

    def _beyond(self, position: Position) -> tuple[sql.Composable, list]:
        """`(cursor, key...) > (position)`: a row comparison, which an index on those columns serves."""
        if len(position.key) != len(self.keys):  # a key stored under other settings: the cursor alone
            return sql.SQL("{} > %s").format(sql.Identifier(self.cursor)), [position.cursor]
        order = sql.SQL(", ").join(sql.Identifier(c) for c in (self.cursor, *self.keys))
        placeholders = sql.SQL(", ").join([sql.Placeholder()] * (1 + len(self.keys)))
        return sql.SQL("({}) > ({})").format(order, placeholders), position.params()

    def overlap_start(self, position: Position | None) -> Any:
        """Where a timestamp cursor's run starts reading: `overlap_seconds` before the stored cursor."""
        if position is None or not self.by_timestamp:
            return None
        return position.cursor - dt.timedelta(seconds=self.view.overlap_seconds)

    # --- rows to events ------------------------------------------------------------------------------------------
    def event(self, row: tuple) -> dict | Refused | None:
        """The event of a row (a dict for `events_ingest`), a refusal, or None when the type map skips the row."""
        values = dict(zip(self.columns, row, strict=True))
        event_type = self.view.event_type
        if self.type_column:
            raw = values[self.type_column]
            if str(raw) not in self.view.type_map:
                return Refused(self._ref(values), {self.type_column: [f"{raw!r} is not in the type map."]})
            event_type = self.view.type_map[str(raw)]
            if not event_type:
                return None
        try:
            payload = self._payload(event_type, values)
            occurred_at = _convert(self.date, values[self.date])
        except _Unsupported as exc:
            return Refused(self._ref(values), {exc.column: [str(exc)]})
        return {
            "event_id": self._event_id(values),
            "type": event_type,
            "ext_brand_id": _ident(values[self.brand]),
            "user_ext_id": _ident(values[self.user]),
            "occurred_at": occurred_at,
            "payload": payload,
        }

    def ref(self, row: tuple) -> str:
        return self._ref(dict(zip(self.columns, row, strict=True)))

    def _payload(self, event_type: str, values: dict[str, Any]) -> dict[str, Any]:
        payload: dict[str, Any] = {}
        for column, target in self.fields[event_type]:
            value = _convert(column, values[column])
            if target.startswith(CUSTOM_PREFIX):
                payload.setdefault("custom", {})[target.removeprefix(CUSTOM_PREFIX)] = value
            else:
                payload[target] = value
        return payload

    def _event_id(self, values: dict[str, Any]) -> Any:
        if self.event_id is not None:
            return _ident(values[self.event_id])
        # The users view: one event per (user, dt_update), so a row read twice is the same event.
        stamp = _utc(values[self.cursor]).isoformat()
        parts = [self.view.name, str(values[self.brand]), str(values[self.user]), stamp]
        return "u-" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]

    def _ref(self, values: dict[str, Any]) -> str:
        if self.event_id is not None:
            return f"{self.event_id}={values[self.event_id]}"
        return f"{self.user}={values[self.user]} {self.cursor}={self.cursor_text(values[self.cursor])}"


class _Unsupported(ValueError):
    def __init__(self, column: str, message: str) -> None:
        super().__init__(message)
        self.column = column


def _convert(column: str, value: Any) -> Any:
    try:
        return _json(value)
    except ValueError as exc:
        raise _Unsupported(column, str(exc)) from None


def plan_build(view: SyncView, columns: dict[str, int], label_id: int) -> Plan:
    """The plan of `view` given its real `columns` (name -> type oid); ReplicaError says what does not fit."""
    missing = sorted({c for c in view.column_map if c not in columns} | _missing_named(view, columns))
    if missing:
        raise ReplicaError(f"View {view.name} has no column {', '.join(missing)}.")
    _cursor_type_check(view, columns[view.cursor_column])
    targets = {target: column for column, target in view.column_map.items()}
    brand = targets.get("ext_brand_id", "ext_brand_id")
    user = targets.get("user_ext_id", "user_ext_id")
    for name, column in (("ext_brand_id", brand), ("user_ext_id", user)):
        if column not in columns:
            raise ReplicaError(f"View {view.name} has no {name} column: map one to {name}.")
    event_id = None if view.kind == ViewKind.USERS else _id_column(view, columns)
    keys = [brand, user] if event_id is None else ([event_id] if event_id != view.cursor_column else [])
    return Plan(
        view=view,
        cursor=view.cursor_column,
        cursor_oid=columns[view.cursor_column],
        keys=keys,
        brand=brand,
        user=user,
        date=_date_column(view, columns, targets),
        event_id=event_id,
        type_column=view.type_column or None,
        fields={t: _fields(view, t, columns, label_id) for t in view_types(view)},
    )


def _missing_named(view: SyncView, columns: dict[str, int]) -> set[str]:
    named = {view.cursor_column, view.id_column, view.type_column}
    return {c for c in named if c and c not in columns}


def _cursor_type_check(view: SyncView, oid: int) -> None:
    allowed = TIMESTAMP_TYPES if view.cursor_kind == CursorKind.TIMESTAMP else INTEGER_TYPES
    if oid not in allowed:
        kind = "a timestamp" if view.cursor_kind == CursorKind.TIMESTAMP else "an integer"
        raise ReplicaError(
            f"Cursor column {view.cursor_column} of {view.name} must be {kind} ({', '.join(allowed.values())})."
        )


def _id_column(view: SyncView, columns: dict[str, int]) -> str:
    if view.id_column:
        return view.id_column
    for name in default_id_columns(view):
        if name in columns:
            return name
    if view.cursor_kind == CursorKind.ID:
        return view.cursor_column
    raise ReplicaError(
        f"View {view.name}: set the id column (the row's unique {' or '.join(default_id_columns(view))})."
    )


def _date_column(view: SyncView, columns: dict[str, int], targets: dict[str, str]) -> str:
    if "occurred_at" in targets:
        return targets["occurred_at"]
    if view.kind != ViewKind.USERS:
        for name in DEFAULT_DATE_COLUMNS:
            if name in columns:
                return name
    if view.cursor_kind == CursorKind.TIMESTAMP:
        return view.cursor_column
    raise ReplicaError(f"View {view.name}: map its date column to occurred_at (an id cursor is not a time).")


def _fields(view: SyncView, event_type: str, columns: dict[str, int], label_id: int) -> list[tuple[str, str]]:
    """(column, payload field) pairs of one event type: the column map's, then columns named like a field."""
    known = type_fields(event_type, label_id)
    if known is None:
        raise ReplicaError(f"Unknown event type {event_type!r}.")
    pairs = []
    for column in columns:
        target = view.column_map.get(column, column)
        if target in ENVELOPE or column == view.type_column:
            continue
        if target in known.names or (event_type == PROFILE_UPDATE and target.startswith(CUSTOM_PREFIX)):
            pairs.append((column, target))
    absent = sorted(known.required - {target for _, target in pairs})
    if absent:
        raise ReplicaError(f"View {view.name}: no column for {event_type} field {', '.join(absent)} (map one).")
    return pairs


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _ident(value: Any) -> Any:
    """An id column's value as the envelope wants it: a string (ints and whole numerics as digits)."""
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        value = int(value)
    if isinstance(value, int | str | uuid.UUID) and not isinstance(value, bool):
        return str(value)
    return value  # ingest refuses it with a field-level message


def _key_json(value: Any) -> Any:
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    return value if value is None or isinstance(value, bool | int | str) else str(value)


def _json(value: Any) -> Any:
    """A column value as JSON: numerics become numbers, times ISO strings (naive ones are UTC)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, Decimal):
        if not value.is_finite():
            return str(value)  # refused by the field's check, with its message
        return int(value) if value == value.to_integral_value() and abs(value) < 2**63 else float(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dt.datetime):
        return _utc(value).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict | list):
        return value
    raise ValueError(f"Unsupported column type ({type(value).__name__}).")
