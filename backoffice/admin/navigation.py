"""Sidebar permission callbacks (named in the UNFOLD settings): an item shows when its admin would let the user in."""

from __future__ import annotations

from django.apps import apps
from django.contrib import admin
from django.urls import reverse


def _can_view(request, model_label: str) -> bool:
    model = apps.get_model(model_label)
    if not admin.site.is_registered(model):
        return False
    model_admin = admin.site.get_model_admin(model)
    return model_admin.has_module_permission(request) and model_admin.has_view_permission(request)


def players(request) -> bool:
    return _can_view(request, "crm.Player")


def segments(request) -> bool:
    return _can_view(request, "crm.Segment")


def events(request) -> bool:
    """The event explorer and the ingestion dashboard."""
    return _can_view(request, "crm.Event")


def events_active(request) -> bool:
    """The explorer's item is lit on its pages, not on the ingestion dashboard that lives under the same path."""
    explorer, dashboard = reverse("admin:crm_event_changelist"), reverse("admin:crm_event_ingestion")
    return request.path.startswith(explorer) and not request.path.startswith(dashboard)


def rules(request) -> bool:
    return _can_view(request, "crm.Rule")


def pipeline_failures(request) -> bool:
    return _can_view(request, "crm.PipelineFailure")


def event_types(request) -> bool:
    return _can_view(request, "crm.EventType")


def bonuses(request) -> bool:
    return _can_view(request, "crm.Bonus")


def bonus_templates(request) -> bool:
    return _can_view(request, "crm.BonusTemplate")


def bonus_api(request) -> bool:
    return _can_view(request, "integrations.BonusApiConnection")


def sandbox_bonus_api(request) -> bool:
    return _can_view(request, "integrations.SandboxBonusSettings")


def wallet_entries(request) -> bool:
    return _can_view(request, "gamification.WalletEntry")


def levels(request) -> bool:
    return _can_view(request, "gamification.Level")


def missions(request) -> bool:
    return _can_view(request, "gamification.Mission")


def badges(request) -> bool:
    return _can_view(request, "gamification.Badge")


def store_items(request) -> bool:
    return _can_view(request, "gamification.StoreItem")


def store_cats(request) -> bool:
    return _can_view(request, "gamification.StoreCategory")


def purchases(request) -> bool:
    return _can_view(request, "gamification.StorePurchase")


def data_sources(request) -> bool:
    return _can_view(request, "integrations.DataSource")


def sync_views(request) -> bool:
    return _can_view(request, "integrations.SyncView")


def stream_sources(request) -> bool:
    return _can_view(request, "integrations.StreamSource")


def labels(request) -> bool:
    return _can_view(request, "backoffice.Label")


def rates(request) -> bool:
    return _can_view(request, "backoffice.ExchangeRate")


def brands(request) -> bool:
    return _can_view(request, "backoffice.Brand")


def staff_roles(request) -> bool:
    return _can_view(request, "backoffice.StaffRole")


def api_keys(request) -> bool:
    return _can_view(request, "backoffice.ApiKey")


def superuser(request) -> bool:
    return request.user.is_active and request.user.is_staff and request.user.is_superuser


def tickets(request) -> bool:
    return _can_view(request, "crm.Ticket")


def ticket_agents(request) -> bool:
    return _can_view(request, "crm.TicketAgent")


def ticket_contacts(request) -> bool:
    return _can_view(request, "crm.TicketContact")


def ticket_sla_policies(request) -> bool:
    return _can_view(request, "crm.TicketSlaPolicy")
