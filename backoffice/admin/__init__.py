"""Admin of the shared kernel: tenancy (labels, brands, staff roles, API keys), the dashboard and the label switcher.

Every label-scoped admin builds on `LabelScopedAdmin` (backoffice.admin.base).
"""

from django.contrib import admin

from backoffice.admin import apikeys, brands, currency, labels, staff, system  # noqa: F401 - registers the model admins

admin.site.index_title = "Dashboard"
