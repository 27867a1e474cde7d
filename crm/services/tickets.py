"""Support tickets: contact and agent upserts, tickets and comments with optimistic concurrency, and their history.

Every ticket write locks the ticket row, checks the version the caller read (when it sent one: 409 if someone changed
the ticket since), applies the change, bumps the version and writes one `TicketHistory` row, all in one transaction.
Contact and agent upserts are one `INSERT … ON CONFLICT (label, email) DO UPDATE` per batch, so concurrent upserts
of the same person never fail and never lose a row (the last writer's fields win).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models.functions import Lower
from django.utils import timezone

from backoffice.crypto import lookup_digest, normalize_email
from backoffice.errors import Conflict, DomainValidationError, NotFound
from crm.models import (
    CLOSED_STATUSES,
    Escalation,
    Player,
    Ticket,
    TicketAgent,
    TicketComment,
    TicketContact,
    TicketHistory,
    TicketHistoryAction,
    TicketSlaPolicy,
)
from crm.services.accounts import customer_account_ensure

# Ticket fields a write may set (model names); `account_id` is the partner's account id, `assignee` an agent reference,
# `player` a Player (resolved by the caller).
TICKET_FIELDS = (
    "app_id", "visible_id", "account_id", "ticket_name", "created_by", "created_by_type", "assignee", "due_date",
    "escalation", "priority", "status", "type", "custom_fields", "player",
)  # fmt: skip
PERSON_FIELDS = ("app_id", "first_name", "last_name", "email", "country_code", "phone_number", "uploaded_image_url")
CONTACT_FIELDS = (
    *PERSON_FIELDS, "customer_contact_id", "salesforce_id", "role", "status", "display_suggestion", "is_champion",
    "account_id",
)  # fmt: skip
AGENT_FIELDS = (*PERSON_FIELDS, "customer_agent_id")


@dataclass(frozen=True)
class Who:
    """Who makes a change, as the history shows it."""

    name: str
    staff_user: Any = None

    @classmethod
    def staff(cls, user) -> Who:
        return cls(name=f"staff {user.get_username()}", staff_user=user)


# --- contacts and agents ---------------------------------------------------------------------------------------------
@dataclass
class UpsertResult:
    saved: list = field(default_factory=list)


def _person_rows(model, label_id: int, rows: Iterable[dict], fields: tuple[str, ...]) -> dict[frozenset, list]:
    """Model rows grouped by the fields each one sets (an upsert only overwrites the fields it was given); one row per
    email, the last one given winning, sorted by digest so concurrent batches lock in the same order."""
    by_digest: dict[str, dict] = {}
    for row in rows:
        digest = lookup_digest(normalize_email(row["email"])) or ""  # the email is validated: never empty
        by_digest[digest] = {**row, "email": row["email"].strip(), "email_digest": digest}
    groups: dict[frozenset, list] = {}
    for digest in sorted(by_digest):
        row = by_digest[digest]
        keys = frozenset(k for k in row if k in fields or k == "email_digest")
        groups.setdefault(keys, []).append(model(label_id=label_id, **{k: row[k] for k in keys}))
    return groups


def _upsert_people(model, *, label_id: int, rows: list[dict], fields: tuple[str, ...]) -> list:
    saved = []
    with transaction.atomic():
        for keys, objs in _person_rows(model, label_id, rows, fields).items():
            update = sorted((keys - {"email_digest"}) | {"updated_at"})
            saved += model.objects.bulk_create(
                objs, update_conflicts=True, unique_fields=["label", "email_digest"], update_fields=update
            )
    return saved


def contacts_upsert(*, label_id: int, rows: list[dict]) -> list[TicketContact]:
    """Creates or updates contacts by email (each row: model field names, already validated; `account_id` is the
    partner's account id, created bare if unknown)."""
    prepared = []
    for row in rows:
        row = dict(row)
        if row.get("account_id"):
            row["account_id"] = customer_account_ensure(
                label_id=label_id, account_id=row["account_id"], app_id=row.get("app_id", "")
            ).pk
        elif "account_id" in row:
            row["account_id"] = None
        prepared.append(row)
    return _upsert_people(TicketContact, label_id=label_id, rows=prepared, fields=CONTACT_FIELDS)


def agents_upsert(*, label_id: int, rows: list[dict]) -> list[TicketAgent]:
    """Creates or updates agents by email (each row: model field names, already validated)."""
    return _upsert_people(TicketAgent, label_id=label_id, rows=rows, fields=AGENT_FIELDS)


def agent_resolve(*, label_id: int, ref: str) -> TicketAgent | None:
    """The label's agent named by Pitboss's agentId or by the partner's customerAgentId."""
    agents = TicketAgent.objects.for_label(label_id)
    try:
        return agents.get(agent_id=uuid.UUID(ref))
    except (ValueError, TicketAgent.DoesNotExist):
        return agents.filter(customer_agent_id=ref).order_by("id").first()


def agent_delete(*, label_id: int, ref: str, who: Who) -> None:
    """Deletes an agent; their open tickets become unassigned, each with a history row saying so."""
    agent = agent_resolve(label_id=label_id, ref=ref)
    if agent is None:
        raise NotFound("No such agent.")
    with transaction.atomic():
        for ticket in Ticket.objects.select_for_update().filter(assignee=agent).order_by("pk"):
            _apply(ticket, {"assignee": None}, who=who)
        agent.delete()


# --- tickets ---------------------------------------------------------------------------------------------------------
def _sla_due(*, label_id: int, priority: str, start: datetime) -> datetime | None:
    policy = (
        TicketSlaPolicy.objects.for_label(label_id)
        .annotate(p=Lower("priority"))
        .filter(p=priority.strip().lower())
        .first()
    )
    return start + timedelta(hours=policy.resolve_within_hours) if policy else None


def _resolve(label_id: int, data: dict) -> dict:
    """Turns references into rows: the account id into the account (created bare), an agent ref into the agent."""
    data = dict(data)
    if "account_id" in data:
        account_id = data.pop("account_id")
        data["account"] = (
            customer_account_ensure(label_id=label_id, account_id=account_id, app_id=data.get("app_id", ""))
            if account_id
            else None
        )
    if isinstance(data.get("assignee"), str):
        agent = agent_resolve(label_id=label_id, ref=data["assignee"])
        if agent is None:
            raise DomainValidationError({"assignedTo": ["No agent with this id (agentId or customerAgentId)."]})
        data["assignee"] = agent
    if data.get("player") is not None and data["player"].label_id != label_id:
        raise NotFound("No such player.")
    return data


def _display(value: Any) -> Any:
    """A value as the history stores it (JSON)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, TicketAgent | Player):
        return str(value)
    if value is not None and hasattr(value, "account_id") and hasattr(value, "label_id"):
        return value.account_id  # a CustomerAccount
    return value


def _set_status_flags(ticket: Ticket, now: datetime) -> None:
    closed = ticket.status.strip().lower() in CLOSED_STATUSES
    if closed and not ticket.is_closed:
        ticket.closed_at = now
    ticket.is_closed = closed


def ticket_create(*, label_id: int, data: dict, who: Who) -> Ticket:
    """Creates a ticket (version 1) and its 'created' history row. Without a due date, the label's SLA policy for the
    ticket's priority sets one."""
    now = timezone.now()
    with transaction.atomic():
        values = _resolve(label_id, data)
        ticket = Ticket(label_id=label_id, **values)
        if ticket.due_date is None and ticket.priority:
            ticket.due_date = _sla_due(label_id=label_id, priority=ticket.priority, start=now)
        _set_status_flags(ticket, now)
        if ticket.escalation == Escalation.ESCALATED:
            ticket.escalated_at = now
        ticket.save()
        changes = {f: [None, _display(getattr(ticket, f))] for f in _changed_fields(values) if getattr(ticket, f)}
        if ticket.due_date and "due_date" not in changes:
            changes["due_date"] = [None, _display(ticket.due_date)]
        _history(ticket, TicketHistoryAction.CREATED, changes, who)
    return ticket


def _changed_fields(values: dict) -> list[str]:
    return [f for f in values if f in TICKET_FIELDS or f == "account"]


def ticket_get_for_update(*, label_id: int, ticket_id: uuid.UUID | str) -> Ticket:
    try:
        return Ticket.objects.select_for_update().get(label_id=label_id, ticket_id=ticket_id, deleted_at=None)
    except (Ticket.DoesNotExist, ValueError, TypeError) as exc:
        raise NotFound("No such ticket.") from exc


def _check_version(current: int, expected: int | None, what: str) -> None:
    if expected is not None and expected != current:
        raise Conflict(
            f"The {what} changed since you read it: you sent version {expected}, it is at version {current}. "
            "Read it again and re-apply your change.",
            code="version_conflict",
        )


def ticket_update(
    *, label_id: int, ticket_id: uuid.UUID | str, data: dict, who: Who, expected_version: int | None = None
) -> Ticket:
    """Applies the given fields; 409 if `expected_version` is given and the ticket moved on. A change that changes
    nothing leaves the version as it is."""
    with transaction.atomic():
        ticket = ticket_get_for_update(label_id=label_id, ticket_id=ticket_id)
        _check_version(ticket.version, expected_version, "ticket")
        _apply(ticket, _resolve(label_id, data), who=who)
    return ticket


def _apply(ticket: Ticket, values: dict, *, who: Who) -> None:
    now = timezone.now()
    changes = {}
    for name, value in values.items():
        before = getattr(ticket, name)
        if before != value:
            changes[name] = [_display(before), _display(value)]
            setattr(ticket, name, value)
    if not changes:
        return
    _set_status_flags(ticket, now)
    if "escalation" in changes and ticket.escalation == Escalation.ESCALATED:
        ticket.escalated_at = now
    ticket.version += 1
    ticket.save()
    _history(ticket, TicketHistoryAction.UPDATED, changes, who)


def ticket_delete(*, label_id: int, ticket_id: uuid.UUID | str, who: Who) -> None:
    """Deletes a ticket: it leaves every API and queue, its row and history stay for the audit."""
    with transaction.atomic():
        ticket = ticket_get_for_update(label_id=label_id, ticket_id=ticket_id)
        ticket.deleted_at = timezone.now()
        ticket.version += 1
        ticket.save(update_fields=["deleted_at", "version", "updated_at"])
        _history(ticket, TicketHistoryAction.DELETED, {}, who)


def _history(ticket: Ticket, action: str, changes: dict, who: Who) -> None:
    TicketHistory.objects.create(
        label_id=ticket.label_id,
        ticket=ticket,
        action=action,
        changes=changes,
        version=ticket.version,
        actor=who.name[:255],
        staff_user=who.staff_user,
    )


# --- comments --------------------------------------------------------------------------------------------------------
def comment_create(
    *,
    label_id: int,
    ticket_id: uuid.UUID | str,
    description: str,
    who: Who,
    created_by: str = "",
    created_by_type: str = "",
) -> TicketComment:
    """Adds a comment to the thread, with a history row on the ticket (the ticket's version does not change)."""
    with transaction.atomic():
        ticket = ticket_get_for_update(label_id=label_id, ticket_id=ticket_id)
        comment = TicketComment.objects.create(
            label_id=label_id,
            ticket=ticket,
            description=description,
            created_by=created_by,
            created_by_type=created_by_type,
            staff_user=who.staff_user,
        )
        _history(ticket, TicketHistoryAction.COMMENTED, {"comment": [None, str(comment.comment_id)]}, who)
    return comment


def comment_update(
    *, label_id: int, comment_id: uuid.UUID | str, description: str, who: Who, expected_version: int | None = None
) -> TicketComment:
    """Edits a comment's text (409 on a stale `expected_version`); the history keeps the text before and after."""
    with transaction.atomic():
        try:
            comment = (
                TicketComment.objects.select_for_update()
                .select_related("ticket")
                .get(label_id=label_id, comment_id=comment_id, ticket__deleted_at=None)
            )
        except (TicketComment.DoesNotExist, ValueError, TypeError) as exc:
            raise NotFound("No such comment.") from exc
        _check_version(comment.version, expected_version, "comment")
        if comment.description != description:
            before = comment.description
            comment.description = description
            comment.version += 1
            comment.save(update_fields=["description", "version", "updated_at"])
            changes = {
                "comment": [str(comment.comment_id), str(comment.comment_id)],
                "description": [before, description],
            }
            _history(comment.ticket, TicketHistoryAction.COMMENT_EDITED, changes, who)
    return comment
