"""Admin of the CRM: players (read-only: the operator's systems own profile data), the event explorer with the
ingestion dashboard, the pipeline's failures, custom event types, segments, automation rules and bonuses."""

from crm.admin import affiliates, bonuses, event_types, events, failures, players, rules, segments  # noqa: F401 - registers the admins
