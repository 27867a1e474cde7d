"""Replica sync: read a view page by page after its cursor and ingest its rows as events.

One run per view at a time (a PostgreSQL advisory lock on the view's id). Each page is ingested and the view's
position advanced in ONE transaction, so a crash between the two can neither lose nor double a row. Timestamp
cursors re-read from `overlap_seconds` before the stored cursor: rows that became visible late with an earlier or
equal timestamp are read then, and rows read before come back as duplicates of their event ids, which is harmless.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import structlog
from django.db import DatabaseError, connection, transaction
from django.db.models import DateTimeField, DurationField, ExpressionWrapper, F, Q
from django.db.models.functions import Now
from django.utils import timezone

from crm.models import EventSource
from crm.services.ingest import ACCEPTED, CONFLICT, DUPLICATE, INVALID, MAX_BATCH, events_ingest
from integrations.models import CursorKind, DataSource, SyncView, ViewKind
from integrations.replica.config import USERS_VIEW_REQUIRED
from integrations.replica.mapping import Plan, Position, Refused, plan_build
from integrations.replica.reader import Replica, ReplicaError, replica_connect

log = structlog.get_logger(__name__)

RUN_BUDGET_SECONDS = 25.0
LOCK_NAMESPACE = 0x52455031  # "REP1": the first key of the views' advisory locks
MAX_INVALID_LINES = 20
DONE, MORE, FAILED, BUSY, SKIPPED = "done", "more", "failed", "busy", "skipped"


@dataclass
class RunResult:
    """What one run did. `more`: it stopped on its time budget with rows left to read."""

    status: str = DONE
    pages: int = 0
    rows: int = 0
    accepted: int = 0
    duplicates: int = 0
    invalid: int = 0
    error: str = ""


def sync_view_run(
    *, view_id: int, budget_seconds: float = RUN_BUDGET_SECONDS, enqueued_at: dt.datetime | None = None
) -> RunResult | None:
    """Read what is new in the view. None if the view is gone or inactive.

    `enqueued_at`: when the poll asked for this run; a run that started since then already covered it.
    """
    if _active(view_id) is None:
        return None
    with _run_lock(view_id) as locked:
        if not locked:
            return RunResult(status=BUSY)
        view = _active(view_id)  # again, under the lock: the run before may have moved the cursor
        if view is None:
            return None
        if enqueued_at is not None and view.last_run_at is not None and view.last_run_at >= enqueued_at:
            return RunResult(status=SKIPPED)
        return _run(view, budget_seconds)


def _active(view_id: int) -> SyncView | None:
    return (
        SyncView.objects.select_related("source", "source__label")
        .filter(pk=view_id, is_active=True, source__is_active=True, source__label__is_active=True)
        .first()
    )


@contextmanager
def _run_lock(view_id: int) -> Iterator[bool]:
    """A session-level advisory lock on Pitboss's database: released at the end, or when the worker dies."""
    key = [LOCK_NAMESPACE, view_id & 0x7FFFFFFF]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", key)
        locked = cursor.fetchone()[0]
    try:
        yield locked
    finally:
        if locked:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s, %s)", key)
            except DatabaseError:
                pass  # the connection is gone, and the lock with it


def _run(view: SyncView, budget_seconds: float) -> RunResult:
    started = timezone.now()
    SyncView.objects.filter(pk=view.pk).update(last_run_at=started)
    result = RunResult()
    try:
        with replica_connect(view.source.dsn) as replica:
            plan = plan_build(view, replica.columns(view.name), view.source.label_id)
            _read(plan, replica, result, time.monotonic() + budget_seconds)
    except ReplicaError as exc:
        result.status, result.error = FAILED, str(exc)
    except DatabaseError:
        raise  # Pitboss's own database: nothing can be recorded; the task fails and the next poll tries again
    except Exception as exc:  # a bug must not stop the other views; it is logged with its traceback
        log.exception("replica_sync_crashed", view_id=view.pk)
        result.status, result.error = FAILED, f"Internal error ({type(exc).__name__}); see the worker log."
    _finish(view, result)
    return result


def _read(plan: Plan, replica: Replica, result: RunResult, deadline: float) -> None:
    """Pages in (cursor, key) order until the view is read or the budget is spent after a page that made progress.

    A page of rows read before (the overlap) never ends a run: each run gets past its overlap, so a backlog of rows
    with one timestamp, larger than a page, cannot keep a view from moving on.
    """
    seen = plan.stored_position()
    lower = plan.overlap_start(seen)
    after = None if plan.by_timestamp else seen  # an id cursor reads strictly after the stored id
    while True:
        query, params = plan.page_query(lower=lower, after=after, seen=seen, limit=plan.view.page_size)
        rows = replica.fetch(query, params)
        if not rows:
            return
        moved = _commit_page(plan, rows, result)
        if moved is not None:
            seen = moved
        after = plan.position_of(rows[-1])
        result.pages += 1
        if len(rows) < plan.view.page_size:
            return
        if moved is not None and time.monotonic() >= deadline:
            result.status = MORE
            return


@dataclass
class _Tally:
    read: int = 0
    invalid: int = 0
    lines: list[str] = field(default_factory=list)


def _commit_page(plan: Plan, rows: list[tuple], result: RunResult) -> Position | None:
    """Ingest a page and advance the view's position in ONE transaction; the new position, or None if unchanged.

    Each row carries a last column from the query: is it beyond the position stored before this run?
    """
    mapped = [plan.event(row[:-1]) for row in rows]
    todo = [(index, event) for index, event in enumerate(mapped) if isinstance(event, dict)]
    outcome = {index: (INVALID, m.errors) for index, m in enumerate(mapped) if isinstance(m, Refused)}
    with transaction.atomic():
        for start in range(0, len(todo), MAX_BATCH):
            chunk = todo[start : start + MAX_BATCH]
            items = [event for _, event in chunk]
            ingested = events_ingest(label=plan.view.source.label, items=items, source=EventSource.REPLICA)
            outcome.update({i: (item.status, item.errors) for (i, _), item in zip(chunk, ingested.items, strict=True)})
        position = plan.position_of(rows[-1]) if rows[-1][-1] else None
        tally = _tally(plan, rows, outcome, result)
        _save(plan, position, tally)
    return position


def _tally(plan: Plan, rows: list[tuple], outcome: dict[int, tuple[str, dict]], result: RunResult) -> _Tally:
    """Rows beyond the stored position count once; a re-read row counts only when it is a new event (a late row)."""
    tally = _Tally()
    for index, row in enumerate(rows):
        status, errors = outcome.get(index, (SKIPPED, {}))
        is_new = bool(row[-1])
        result.rows += 1
        result.accepted += status == ACCEPTED
        result.duplicates += status == DUPLICATE
        if is_new or status == ACCEPTED:
            tally.read += 1
        if is_new and status in (INVALID, CONFLICT):
            tally.invalid += 1
            tally.lines.append(_invalid_line(plan.ref(row[:-1]), status, errors))
    result.invalid += tally.invalid
    return tally


def _invalid_line(ref: str, status: str, errors: dict[str, list[str]]) -> str:
    if status == CONFLICT:
        return f"{ref}: read before with other values (rows must not change once visible)"[:400]
    reasons = "; ".join(f"{name}: {' '.join(messages)}" for name, messages in errors.items())
    return f"{ref}: {reasons}"[:400]


def _save(plan: Plan, position: Position | None, tally: _Tally) -> None:
    changes: dict = {"rows_read": F("rows_read") + tally.read, "rows_invalid": F("rows_invalid") + tally.invalid}
    if position is not None:
        changes["cursor_value"] = plan.cursor_text(position.cursor)
        changes["cursor_key"] = plan.key_text(position)
    view = SyncView.objects.filter(pk=plan.view.pk)
    if tally.lines:
        before = (view.values_list("last_invalid", flat=True).first() or "").splitlines()
        changes["last_invalid"] = "\n".join([*reversed(tally.lines), *before][:MAX_INVALID_LINES])  # newest first
    view.update(**changes)


def _finish(view: SyncView, result: RunResult) -> None:
    """Record the run's outcome and the lag (age of the newest row committed, for timestamp cursors)."""
    now = timezone.now()
    cursor_value = SyncView.objects.filter(pk=view.pk).values_list("cursor_value", flat=True).first()
    changes: dict = {"lag_seconds": _lag(view, cursor_value, now)}
    if result.status == FAILED:
        changes["last_error"] = result.error
    else:
        changes.update(last_error="", last_success_at=now)
    SyncView.objects.filter(pk=view.pk).update(**changes)
    log.info(
        "replica_sync_run", view_id=view.pk, status=result.status, pages=result.pages, rows=result.rows,
        accepted=result.accepted, duplicates=result.duplicates, invalid=result.invalid, error=result.error or None,
    )  # fmt: skip


def _lag(view: SyncView, cursor_value: str | None, now: dt.datetime) -> float | None:
    if view.cursor_kind != CursorKind.TIMESTAMP or not cursor_value:
        return None
    try:
        newest = dt.datetime.fromisoformat(cursor_value)
    except ValueError:
        return None
    return max((now - newest).total_seconds(), 0.0)


# --- the poll and the admin's checks ----------------------------------------------------------------------------
def sync_views_due() -> list[tuple[int, int]]:
    """(view id, poll interval) of the active views whose source's poll interval has passed since their last run."""
    interval = ExpressionWrapper(
        F("source__poll_interval_seconds") * dt.timedelta(seconds=1), output_field=DurationField()
    )
    since = ExpressionWrapper(Now() - interval, output_field=DateTimeField())
    return list(
        SyncView.objects.filter(is_active=True, source__is_active=True, source__label__is_active=True)
        .filter(Q(last_run_at__isnull=True) | Q(last_run_at__lte=since))
        .order_by("pk")
        .values_list("pk", "source__poll_interval_seconds")
    )


@dataclass
class CheckResult:
    """The outcome of a connection test: one (ok, text) line for the connection and one per view."""

    lines: list[tuple[bool, str]]

    @property
    def ok(self) -> bool:
        return all(ok for ok, _ in self.lines)


def data_source_check(*, source: DataSource) -> CheckResult:
    """Connect to the source and check each of its views against its settings, reading no row.

    The reference's required users view fields must be carried by the source's active users views between them:
    the reference lets one users view per table be exposed, each tracked on its own, so a view of one table carries
    only its fields.
    """
    try:
        with replica_connect(source.dsn) as replica:
            lines = [(True, f"Connected to PostgreSQL {replica.server_version}.")]
            carried: dict[str, set[str]] = {}  # active users view -> the required fields it carries
            for view in source.views.select_related("source").order_by("name", "event_type"):
                ok, text, plan = _view_check(view, replica, source.label_id)
                lines.append((ok, f"{view.name} ({view.event_type}): {text}"))
                if view.kind == ViewKind.USERS and view.is_active:
                    carried[view.name] = set(USERS_VIEW_REQUIRED) - set(plan.users_view_missing()) if plan else set()
            lines += _users_views_check(carried)
            return CheckResult(lines)
    except ReplicaError as exc:
        return CheckResult([(False, f"Cannot connect: {exc}")])


def _view_check(view: SyncView, replica: Replica, label_id: int) -> tuple[bool, str, Plan | None]:
    try:
        plan = plan_build(view, replica.columns(view.name), label_id)
    except ReplicaError as exc:
        return False, str(exc), None
    return True, f"OK, reads {', '.join(plan.columns)}.", plan


def _users_views_check(carried: dict[str, set[str]]) -> list[tuple[bool, str]]:
    """One line on the required users view fields, if the source has active users views and they miss some."""
    if not carried:
        return []
    missing = [name for name in USERS_VIEW_REQUIRED if not any(name in fields for fields in carried.values())]
    if not missing:
        return []
    if len(carried) == 1:
        [name] = carried
        return [(False, f"{name} (profile_update): no column {', '.join(missing)}, which a users view must have "
                        "(or map a column to each).")]  # fmt: skip
    return [(False, f"Users views {', '.join(sorted(carried))}: none has a column {', '.join(missing)}; the users "
                    "views must carry each between them (or map a column to it).")]  # fmt: skip
