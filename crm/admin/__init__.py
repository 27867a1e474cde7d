"""Admin of the CRM: players (read-only: the operator's systems own profile data)."""

from crm.admin import players  # noqa: F401 - registers the model admins
