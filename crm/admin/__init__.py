"""Admin of the CRM: players (read-only: the operator's systems own profile data), the event explorer with the
ingestion dashboard, the pipeline's failures, custom event types, and bonuses."""

from crm.admin import bonuses, event_types, events, failures, players  # noqa: F401 - registers the model admins
