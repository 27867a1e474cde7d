"""Partner API keys: created through the service (the raw key is shown once), revoked, never edited or deleted."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.utils.html import format_html
from unfold.decorators import action, display

from backoffice.admin.base import LabelScopedAdmin, may_act_on
from backoffice.admin.filters import ScopedRelatedFilter
from backoffice.admin.helpers import badge, confirmed_action, object_url
from backoffice.models import ApiKey, Perm
from backoffice.services.apikeys import api_key_create, api_key_revoke


class ApiKeyStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("active", "Active"), ("revoked", "Revoked")]

    def queryset(self, request, queryset):
        if self.value() == "active":
            return queryset.filter(revoked_at__isnull=True)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


class ApiKeyAddForm(forms.ModelForm):
    class Meta:
        model = ApiKey
        fields = ["name", "label"]


@admin.register(ApiKey)
class ApiKeyAdmin(LabelScopedAdmin):
    """Revoked keys stay listed: who made a key and when it was last used matters after it is gone."""

    add_perm = change_perm = Perm.KEYS_MANAGE
    list_display = ("name", "prefix_display", "label", "author", "created_at", "last_used_at", "status")
    list_filter = (("label", ScopedRelatedFilter), ApiKeyStatusFilter)
    list_select_related = ("label", "created_by")
    search_fields = ("name", "prefix")
    actions = ["revoke_selected"]
    actions_detail = ["revoke"]
    add_form = ApiKeyAddForm

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = self.add_form
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": ["name", "label"], "description": "The key is shown once, after you save."})]
        return [
            (None, {"fields": ["name", "label", "prefix_display", "status_badge"]}),
            ("Use", {"fields": ["author", "created_at", "last_used_at", "revoked_at"]}),
        ]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["label", "prefix_display", "status_badge", "author", "created_at", "last_used_at", "revoked_at"]

    def has_change_permission(self, request, obj=None) -> bool:
        # A revoked key is history: nothing about it changes any more.
        return (obj is None or obj.is_active) and super().has_change_permission(request, obj)

    @display(description="Prefix")
    def prefix_display(self, obj) -> str:
        return f"pb_{obj.prefix}_…"

    @display(description="Created by", ordering="created_by__username")
    def author(self, obj) -> str:
        # Plain text, not a link: user accounts are for superusers only.
        return obj.created_by.username if obj.created_by else "-"

    @display(description="Status", label={"Active": "success", "Revoked": "danger"})
    def status(self, obj) -> str:
        return "Active" if obj.is_active else "Revoked"

    @display(description="Status")
    def status_badge(self, obj) -> str:
        return badge("Active", "success") if obj.is_active else badge("Revoked", "danger")

    # --- create: through the service, showing the raw key once ---------------------------------------------------
    def save_model(self, request, obj, form, change) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        key, raw = api_key_create(label=obj.label, name=obj.name, created_by=request.user)
        for field in ApiKey._meta.concrete_fields:
            setattr(obj, field.attname, getattr(key, field.attname))
        obj._state.adding = False
        messages.success(
            request,
            format_html(
                'API key “{}” created: <code class="pitboss-secret">{}</code> '
                "Copy it now: it won't be shown again. Only its digest is stored.",
                key.name,
                raw,
            ),
        )

    # --- revoke ----------------------------------------------------------------------------------------------------
    def has_revoke_permission(self, request, object_id=None) -> bool:
        return may_act_on(self, request, Perm.KEYS_MANAGE, object_id)

    @admin.action(description="Revoke selected keys", permissions=["revoke"])
    def revoke_selected(self, request, queryset) -> None:
        allowed = queryset.for_actor(self.actor(request), Perm.KEYS_MANAGE).filter(revoked_at__isnull=True)
        revoked = 0
        for key in allowed:
            api_key_revoke(api_key=key)
            self.log_change(request, key, "Revoked.")
            revoked += 1
        skipped = queryset.count() - revoked
        messages.success(request, f"Revoked {revoked} key(s).")
        if skipped:
            messages.warning(request, f"{skipped} key(s) left as they were: already revoked or not yours to manage.")

    @action(description="Revoke", url_path="revoke", permissions=["revoke"], icon="block")
    def revoke(self, request, object_id):
        key = self.get_object(request, object_id)
        if not key.is_active:
            messages.info(request, "This key was already revoked.")
            return HttpResponseRedirect(object_url(self, key))

        def perform() -> None:
            api_key_revoke(api_key=key)
            self.log_change(request, key, "Revoked.")
            messages.success(request, f"{key} was revoked: the API refuses it from now on.")

        return confirmed_action(
            self,
            request,
            key,
            title=f"Revoke {key}",
            text="Calls made with this key are refused from now on. This cannot be undone; "
            "the key stays listed as revoked.",
            button="Revoke key",
            perform=perform,
        )
