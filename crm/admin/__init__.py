"""Admin of the CRM: players (read-only: the operator's systems own profile data), the event explorer with the
ingestion dashboard, the pipeline's failures, custom event types, and segments."""

from crm.admin import event_types, events, failures, players, segments  # noqa: F401 - registers the model admins
