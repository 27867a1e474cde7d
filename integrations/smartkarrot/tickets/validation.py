"""Plain validation of the tickets family's bodies: each function returns (clean values with model field names,
errors per reference field name). Keys the reference does not list are ignored, as everywhere in the family.

Strings are trimmed; NUL characters are refused (PostgreSQL text and JSONB cannot hold them); every string has a
length cap, so a huge value is an INVALID_INPUT naming the field, never a database error.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, time
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.dateparse import parse_date, parse_datetime

from crm.models import CreatorType, Escalation

MISSING = object()
MAX_ROWS = 1000
MAX_CUSTOM_FIELDS_BYTES = 64 * 1024
Errors = dict[str, list[str]]


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def text(data: dict, key: str, errors: Errors, *, max_len: int, required: bool = False, nullable: bool = True):
    """A string field: MISSING when absent, "" for null (clears it), else the trimmed string."""
    if key not in data:
        if required:
            errors[key] = ["This field is required."]
        return MISSING
    value = data[key]
    if value is None and nullable and not required:
        return ""
    if not isinstance(value, str):
        errors[key] = ["Must be a string."]
        return MISSING
    value = value.strip()
    if "\x00" in value:
        errors[key] = ["Must not contain NUL characters."]
    elif len(value) > max_len:
        errors[key] = [f"At most {max_len} characters."]
    elif required and not value:
        errors[key] = ["This field may not be blank."]
    else:
        return value
    return MISSING


def boolean(data: dict, key: str, errors: Errors):
    if key not in data:
        return MISSING
    if not isinstance(data[key], bool):
        errors[key] = ["Must be true or false."]
        return MISSING
    return data[key]


def email(data: dict, key: str, errors: Errors, *, required: bool = True):
    value = text(data, key, errors, max_len=254, required=required)
    if value is MISSING or not value:
        return value
    try:
        validate_email(value)
    except ValidationError:
        errors[key] = ["Enter a valid email address."]
        return MISSING
    return value


def choice(data: dict, key: str, errors: Errors, choices: list[str]):
    """One of `choices`, matched case-insensitively and trimmed ("agent " is agent); null clears it."""
    value = text(data, key, errors, max_len=32)
    if value is MISSING or value == "":
        return value
    folded = {c.lower(): c for c in choices}
    if value.lower() not in folded:
        errors[key] = [f"Must be one of: {', '.join(choices)}."]
        return MISSING
    return folded[value.lower()]


def due_date(data: dict, key: str, errors: Errors):
    """A date ("2021-01-12": midnight UTC) or an ISO 8601 date-time (without a zone: UTC); null clears it."""
    if key not in data:
        return MISSING
    value = data[key]
    if value is None:
        return None
    parsed: datetime | date | None = None
    if isinstance(value, str) and len(value) <= 64 and "\x00" not in value:
        try:
            parsed = parse_datetime(value.strip()) or parse_date(value.strip())
        except ValueError:
            parsed = None
    if parsed is None:
        errors[key] = ["Must be a date (2021-01-12) or an ISO 8601 date-time (2021-01-12T14:48:00Z)."]
        return MISSING
    if not isinstance(parsed, datetime):
        parsed = datetime.combine(parsed, time.min)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def custom_fields(data: dict, key: str, errors: Errors):
    if key not in data:
        return MISSING
    value = data[key]
    if value is None:
        return {}
    if not isinstance(value, dict):
        errors[key] = ["Must be an object of key/value pairs."]
    elif _has_nul(value):
        errors[key] = ["Must not contain NUL characters."]
    elif len(json.dumps(value)) > MAX_CUSTOM_FIELDS_BYTES:
        errors[key] = [f"At most {MAX_CUSTOM_FIELDS_BYTES // 1024} KB of JSON."]
    else:
        return value
    return MISSING


def version(data: dict, key: str, errors: Errors):
    if key not in data or data[key] is None:
        return None
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 2**31 - 1:
        errors[key] = ["Must be the whole version number you read (1 or more)."]
        return None
    return value


def identifier(data: dict, keys: tuple[str, ...], errors: Errors, *, required: bool = True) -> str | None:
    """The first of `keys` present (the reference names a ticket `id`, its answers `ticketId`): a UUID string."""
    for key in keys:
        if key in data:
            value = text(data, key, errors, max_len=64, required=True)
            if value is MISSING:
                return None
            try:
                return str(uuid.UUID(value))
            except ValueError:
                errors[key] = ["Must be the UUID Pitboss answered when it was created."]
                return None
    if required:
        errors[keys[0]] = ["This field is required."]
    return None


def _put(clean: dict, name: str, value: Any) -> None:
    if value is not MISSING:
        clean[name] = value


# --- contacts and agents ---------------------------------------------------------------------------------------------
def person(row: Any, *, app_id: str, id_key: str, id_field: str) -> tuple[dict, Errors]:
    """A contact or an agent of a bulk upsert."""
    if not isinstance(row, dict):
        return {}, {"row": ["Must be an object."]}
    errors: Errors = {}
    clean: dict = {"app_id": app_id}
    _put(clean, "email", email(row, "email", errors))
    _put(clean, "first_name", text(row, "firstName", errors, max_len=255, required=True))
    _put(clean, "last_name", text(row, "lastName", errors, max_len=255))
    _put(clean, id_field, text(row, id_key, errors, max_len=128))
    _put(clean, "country_code", text(row, "countryCode", errors, max_len=16))
    _put(clean, "phone_number", text(row, "phoneNumber", errors, max_len=64))
    _put(clean, "uploaded_image_url", text(row, "uploadedImageUrl", errors, max_len=2048))
    return clean, errors


def contact(row: Any, *, app_id: str) -> tuple[dict, Errors]:
    clean, errors = person(row, app_id=app_id, id_key="customerContactId", id_field="customer_contact_id")
    if not isinstance(row, dict):
        return clean, errors
    _put(clean, "role", text(row, "role", errors, max_len=255))
    _put(clean, "account_id", text(row, "accountId", errors, max_len=128))
    _put(clean, "salesforce_id", text(row, "salesforceId", errors, max_len=128))
    status = text(row, "status", errors, max_len=32)
    _put(clean, "status", status or "active" if status is not MISSING else MISSING)
    _put(clean, "display_suggestion", boolean(row, "displaySuggestion", errors))
    _put(clean, "is_champion", boolean(row, "isChampion", errors))
    return clean, errors


def agent(row: Any, *, app_id: str) -> tuple[dict, Errors]:
    return person(row, app_id=app_id, id_key="customerAgentId", id_field="customer_agent_id")


def batch(data: Any, list_key: str) -> tuple[str, list, Errors]:
    """The envelope of a bulk upsert: `appId` and the list of rows."""
    errors: Errors = {}
    app_id = text(data, "appId", errors, max_len=128, required=True)
    rows = data.get(list_key, MISSING)
    if rows is MISSING:
        errors[list_key] = ["This field is required."]
    elif not isinstance(rows, list) or not rows:
        errors[list_key] = ["Must be a non-empty list."]
    elif len(rows) > MAX_ROWS:
        errors[list_key] = [f"At most {MAX_ROWS} per call."]
    return ("" if app_id is MISSING else app_id), (rows if isinstance(rows, list) else []), errors


# --- tickets and comments --------------------------------------------------------------------------------------------
def ticket(data: dict, *, creating: bool) -> tuple[dict, Errors]:
    """A ticket's fields. On create `appId` is required; on update only the fields given change (null clears)."""
    errors: Errors = {}
    clean: dict = {}
    if creating:
        _put(clean, "app_id", text(data, "appId", errors, max_len=128, required=True))
        _put(clean, "created_by", text(data, "createdBy", errors, max_len=128))
        _put(clean, "created_by_type", choice(data, "createdByType", errors, CreatorType.values))
    _put(clean, "visible_id", text(data, "visibleId", errors, max_len=128))
    _put(clean, "account_id", text(data, "accountId", errors, max_len=128))
    _put(clean, "ticket_name", text(data, "ticketName", errors, max_len=500))
    assignee = text(data, "assignedTo", errors, max_len=128)
    _put(clean, "assignee", (assignee or None) if assignee is not MISSING else MISSING)
    _put(clean, "due_date", due_date(data, "dueDate", errors))
    escalation = choice(data, "escalation", errors, Escalation.values)
    _put(clean, "escalation", (escalation or Escalation.NOT_ESCALATED) if escalation is not MISSING else MISSING)
    _put(clean, "priority", text(data, "priority", errors, max_len=64))
    status = text(data, "status", errors, max_len=64)
    _put(clean, "status", (status or "Open") if status is not MISSING else MISSING)
    _put(clean, "type", text(data, "type", errors, max_len=255))
    _put(clean, "custom_fields", custom_fields(data, "customFields", errors))
    brand = text(data, "extBrandId", errors, max_len=64)
    user = text(data, "userExtId", errors, max_len=128)
    if (brand is MISSING) != (user is MISSING):
        errors["userExtId" if user is MISSING else "extBrandId"] = ["Send extBrandId and userExtId together."]
    elif brand is not MISSING:
        clean["player_ref"] = (brand, user) if brand and user else None
    return clean, errors


def comment(data: dict, *, creating: bool) -> tuple[dict, Errors]:
    errors: Errors = {}
    clean: dict = {}
    clean["description"] = text(data, "description", errors, max_len=20000, required=True, nullable=False)
    if creating:
        clean["ticket_id"] = identifier(data, ("ticketId",), errors)
        created_by = text(data, "createdBy", errors, max_len=128)
        if created_by is MISSING and "createdById" in data:
            created_by = text(data, "createdById", errors, max_len=128)
        clean["created_by"] = "" if created_by is MISSING else created_by
        kind = choice(data, "createdByType", errors, CreatorType.values)
        clean["created_by_type"] = "" if kind is MISSING else kind
    else:
        clean["comment_id"] = identifier(data, ("id", "commentId", "CommentId"), errors)
        clean["version"] = version(data, "version", errors)
    return clean, errors
