"""SmartKarrot's events in Pitboss's catalogue terms (crm/catalogue.py, docs/usage-analytics.md).

| SmartKarrot event `name` | Pitboss type | typed fields taken from its parameters |
|---|---|---|
| app_session_start | app_session_start | session_id (parameter sessionId, else the request's), start_time (startTime) |
| app_session_end | app_session_end | session_id, end_time (endTime); duration_seconds added when the start was seen |
| page_load_event | page_load_event | request_count (requestCount), load_time (loadTime), page_url (pageUrl) |
| anything else | usage_event | name, module (the standard attribute Module) |

Every type also carries the request's session_id, device_id, platform, app_id, customer_account_id, product_id,
app_version and user_source_ip, and its other parameters under `parameters` (name -> typed value).
"""

from __future__ import annotations

from typing import Any

from crm.services.usage import SESSION_END, SESSION_START, UsageEvent
from crm.validators import FieldError
from integrations.smartkarrot.usage.parse import EventIn, EventsIn, Invalid, TypedValue, timestamp

PAGE_LOAD = "page_load_event"
# SmartKarrot event name -> {parameter: (Pitboss field, the data types it may have)}
REQUIRED_PARAMETERS: dict[str, dict[str, tuple[str, tuple[str, ...]]]] = {
    SESSION_START: {"startTime": ("start_time", ("Date", "String"))},
    SESSION_END: {"endTime": ("end_time", ("Date", "String"))},
    PAGE_LOAD: {
        "requestCount": ("request_count", ("Number",)),
        "loadTime": ("load_time", ("Number",)),
        "pageUrl": ("page_url", ("String",)),
    },
}


def _common(request: EventsIn) -> dict[str, Any]:
    caller = request.caller
    fields = {
        "session_id": caller.session_id, "device_id": caller.device_id, "platform": caller.platform.lower(),
        "app_id": caller.app_id, "customer_account_id": caller.customer_account_id,
        "product_id": request.product_id, "app_version": request.app_version,
        "user_source_ip": request.user_source_ip,
    }  # fmt: skip
    return {name: value for name, value in fields.items() if value}


def usage_events(request: EventsIn) -> list[UsageEvent]:
    """The request's events as catalogue events; Invalid names each event missing a parameter its type requires."""
    common = _common(request)
    errors: dict[str, list[str]] = {}
    found = [_event(event, common, errors) for event in request.events]
    if errors:
        raise Invalid(errors)
    return found


def _event(event: EventIn, common: dict[str, Any], errors: dict[str, list[str]]) -> UsageEvent:
    params: dict[str, TypedValue] = {p.name: p for p in event.parameters}
    payload = dict(common)
    required = REQUIRED_PARAMETERS.get(event.name, {})
    for name, (field, types) in required.items():
        param = params.pop(name, None)
        if param is None or param.data_type not in types:
            errors.setdefault(f"events[{event.position}].parameters", []).append(
                f"{event.name} needs the parameter {name} ({' or '.join(types)})."
            )
            continue
        payload[field] = _required_value(field, param.value, event.position, errors)
    if event.name in (SESSION_START, SESSION_END):
        session = params.pop("sessionId", None)
        payload["session_id"] = session.value if session is not None else common.get("session_id")
        if not payload["session_id"] or not isinstance(payload["session_id"], str):
            errors.setdefault(f"events[{event.position}].parameters", []).append(
                f"{event.name} needs the session's id: the parameter sessionId (String) or the request's sessionId."
            )
        type_name = event.name
    elif event.name == PAGE_LOAD:
        type_name = PAGE_LOAD
    else:
        type_name = "usage_event"
        payload["name"] = event.name
        module = params.get("Module")
        if module is not None and module.data_type == "String" and module.value:
            payload["module"] = params.pop("Module").value
    if params:
        payload["parameters"] = {name: param.value for name, param in params.items()}
    return UsageEvent(type_name, event.logged_at, payload, event.position)


def _required_value(field: str, value: Any, position: int, errors: dict[str, list[str]]) -> Any:
    if field == "request_count":
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or value < 0:
            errors.setdefault(f"events[{position}].parameters", []).append("requestCount must be a whole number.")
    if field in ("start_time", "end_time") and isinstance(value, str):
        try:
            return timestamp(value).isoformat(timespec="milliseconds")
        except FieldError:
            errors.setdefault(f"events[{position}].parameters", []).append(f"{field}: expected an ISO 8601 timestamp.")
    return value
