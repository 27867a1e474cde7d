"""The tickets family's objects as the reference shows them: field names, the `createTime` format
("Feb 1, 2021 7:50:11 AM", UTC), `dueDate` in ISO 8601, and `allValues: 1` on every object."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime

from crm.models import Ticket, TicketAgent, TicketComment, TicketContact


def reference_time(value: datetime | None) -> str | None:
    if value is None:
        return None
    hour = value.hour % 12 or 12
    return f"{value:%b} {value.day}, {value.year} {hour}:{value:%M:%S} {'AM' if value.hour < 12 else 'PM'}"


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def contact_out(c: TicketContact) -> dict:
    return {
        "contactId": str(c.contact_id),
        "appId": c.app_id,
        "firstName": c.first_name,
        "lastName": c.last_name,
        "role": c.role,
        "email": c.email,
        "phoneNumber": c.phone_number or "",
        "countryCode": c.country_code,
        "status": c.status,
        "accountId": c.account.account_id if c.account_id else None,
        "customerContactId": c.customer_contact_id,
        "salesforceId": c.salesforce_id,
        "uploadedImageUrl": c.uploaded_image_url,
        "displaySuggestion": c.display_suggestion,
        "isChampion": c.is_champion,
        "createTime": reference_time(c.created_at),
        "updateTime": reference_time(c.updated_at),
    }


def agent_out(a: TicketAgent) -> dict:
    return {
        "agentId": str(a.agent_id),
        "appId": a.app_id,
        "firstName": a.first_name,
        "lastName": a.last_name,
        "email": a.email,
        "phoneNumber": a.phone_number or "",
        "countryCode": a.country_code,
        "customerAgentId": a.customer_agent_id,
        "uploadedImageUrl": a.uploaded_image_url,
        "createTime": reference_time(a.created_at),
        "updateTime": reference_time(a.updated_at),
    }


def ticket_out(t: Ticket) -> dict:
    player = t.player
    return {
        "ticketId": str(t.ticket_id),
        "visibleId": t.visible_id,
        "appId": t.app_id,
        "accountId": t.account.account_id if t.account_id else None,
        "ticketName": t.ticket_name,
        "createdBy": t.created_by,
        "createdByType": t.created_by_type,
        "escalation": t.escalation,
        "assignedTo": str(t.assignee.agent_id) if t.assignee_id else None,
        "dueDate": iso(t.due_date),
        "priority": t.priority,
        "status": t.status,
        "type": t.type,
        "customFields": t.custom_fields,
        "extBrandId": player.brand.ext_brand_id if player else None,
        "userExtId": player.user_ext_id if player else None,
        "createTime": reference_time(t.created_at),
        "updateTime": reference_time(t.updated_at),
        "version": t.version,
        "allValues": 1,
    }


def comment_out(c: TicketComment) -> dict:
    return {
        "CommentId": str(c.comment_id),
        "ticketId": str(c.ticket.ticket_id),
        "description": c.description,
        "createdBy": c.created_by,
        "createdById": c.created_by,
        "createdByType": c.created_by_type,
        "createTime": reference_time(c.created_at),
        "updateTime": reference_time(c.updated_at),
        "version": c.version,
        "allValues": 1,
    }


# --- keyset pages ----------------------------------------------------------------------------------------------------
def page_token(row) -> str:
    """An opaque token of the last row of a page: the next page starts after (created_at, id)."""
    raw = json.dumps({"t": row.created_at.isoformat(), "i": row.pk}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def page_position(token: str) -> tuple[datetime, int] | None:
    """The position a token names, or None when it is not one of ours."""
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode() + b"==="))
        at, pk = datetime.fromisoformat(data["t"]), data["i"]
    except (ValueError, TypeError, KeyError, binascii.Error, UnicodeError, AttributeError):
        return None
    if not isinstance(pk, int) or isinstance(pk, bool) or at.tzinfo is None:
        return None
    return at, pk
