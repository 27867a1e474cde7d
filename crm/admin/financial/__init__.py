"""Financial data in the admin: the financial dashboard (per app, or the whole label), customer accounts' financial
view (MRR, ARR against target, orders, the account's dashboard), the orders list with filters, and the app and account
financial configuration.

Orders come from the partner's systems (the SmartKarrot-compatible API): read-only here, like players. The app's logo
churn tolerance and the accounts' start dates and ARR targets are configuration (Perm.CONFIG_CHANGE: admins and
managers); everyone with a role in the label reads. Figures: crm/selectors_financial.py, defined in docs/financial.md.
"""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse

from crm.admin.financial import accounts, config, orders  # noqa: F401 - registers the admins
from crm.models import AccountFinancialConfig, AppFinancialConfig, CustomerFinancials, Order


# --- sidebar permission callbacks (backoffice/settings/unfold.py) --------------------------------------------------
def nav_orders(request) -> bool:
    return admin.site.get_model_admin(Order).has_view_permission(request)


def nav_dashboard(request) -> bool:
    return admin.site.get_model_admin(AppFinancialConfig).has_view_permission(request)


def nav_app_config(request) -> bool:
    return admin.site.get_model_admin(AppFinancialConfig).has_view_permission(request)


def nav_app_config_active(request) -> bool:
    """Lit on the tolerance pages, not on the dashboard that lives under the same path."""
    pages, dashboard = reverse("admin:crm_appfinancialconfig_changelist"), reverse("admin:crm_financial_dashboard")
    return request.path.startswith(pages) and not request.path.startswith(dashboard)


def nav_account_config(request) -> bool:
    return admin.site.get_model_admin(AccountFinancialConfig).has_view_permission(request)


def nav_accounts(request) -> bool:
    return admin.site.get_model_admin(CustomerFinancials).has_view_permission(request)
