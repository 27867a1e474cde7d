"""Admin of the CRM: players (read-only: the operator's systems own profile data), the event explorer with the
ingestion dashboard, the pipeline's failures, custom event types, segments, automation rules, bonuses, and usage
analytics (customer accounts, apps, usage users)."""

from crm.admin import (  # noqa: F401 - registers the admins
    affiliates,
    bonuses,
    event_types,
    events,
    failures,
    financial,
    players,
    rules,
    segments,
    tickets,
    usage,
)
