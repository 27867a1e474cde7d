"""The operator's Bonus API per label (admins only: it holds a secret), and the sandbox operator's settings and applied
bonuses (only when settings.PITBOSS_SANDBOX is on)."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.urls import reverse
from unfold.decorators import action, display
from unfold.widgets import UnfoldAdminPasswordWidget, UnfoldAdminURLInputWidget

from backoffice.admin.base import LabelScopedAdmin, may_act_on
from backoffice.admin.filters import ScopedRelatedFilter
from backoffice.models import Perm
from integrations.bonus_api.client import BonusApiClient
from integrations.http import HttpError
from integrations.models import BonusApiConnection, SandboxBonus, SandboxBonusSettings

NEW_SECRET_HELP = "The shared secret, sent as a Bearer token both ways (stored encrypted, never shown again)."  # noqa: S105 - help text
KEEP_SECRET_HELP = "Stored encrypted and never shown. Leave blank to keep it; type a new one to replace it."  # noqa: S105 - help text


class SecretForm(forms.ModelForm):
    """`secret` is write-only: never rendered, and blank on a change keeps the stored one."""

    secret = forms.CharField(required=False, max_length=500, widget=UnfoldAdminPasswordWidget(render_value=False))

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.initial["secret"] = ""
        self.fields["secret"].help_text = KEEP_SECRET_HELP if self.instance.pk else NEW_SECRET_HELP

    def clean_secret(self) -> str:
        value = self.cleaned_data["secret"].strip()
        if value:
            return value
        if not self.instance.pk:
            raise forms.ValidationError("Enter the shared secret.")
        return self.instance.secret


class BonusApiConnectionForm(SecretForm):
    base_url = forms.URLField(
        max_length=500,
        assume_scheme="https",
        widget=UnfoldAdminURLInputWidget,
        help_text=BonusApiConnection._meta.get_field("base_url").help_text,
    )

    class Meta:
        model = BonusApiConnection
        fields = ["label", "base_url", "secret", "connect_timeout_seconds", "read_timeout_seconds", "is_active"]


@admin.register(BonusApiConnection)
class BonusApiConnectionAdmin(LabelScopedAdmin):
    view_perm = add_perm = change_perm = delete_perm = Perm.LABEL_MANAGE
    form = BonusApiConnectionForm
    list_display = ("label", "base_url", "is_active", "catalogue_synced_at", "sync_status")
    list_select_related = ("label",)
    list_filter = (("label", ScopedRelatedFilter), "is_active")
    actions_detail = ["test_connection"]
    readonly_fields = ("catalogue_synced_at", "catalogue_error", "callback_url")
    fieldsets = (
        (None, {"fields": ("label", "base_url", "secret", "is_active")}),
        ("Timeouts", {"fields": (("connect_timeout_seconds", "read_timeout_seconds"),)}),
        ("Catalogue", {"fields": ("catalogue_synced_at", "catalogue_error")}),
        (
            "Redeem callback",
            {"fields": ("callback_url",), "description": "Give this URL to the operator (docs/bonus-api.md)."},
        ),
    )

    @display(description="Catalogue", label={"OK": "success", "Failing": "danger", "Never": "info"})
    def sync_status(self, obj) -> str:
        if obj.catalogue_error:
            return "Failing"
        return "OK" if obj.catalogue_synced_at else "Never"

    @display(description="Redeem callback URL")
    def callback_url(self, obj) -> str:
        if not obj.pk:
            return "-"
        return f"<your Pitboss URL>/api/v1/bonus-api/{obj.label.label_key}/redeem"

    def has_test_connection_permission(self, request, object_id=None) -> bool:
        return may_act_on(self, request, Perm.LABEL_MANAGE, object_id)

    @action(description="Test connection", url_path="test-connection", permissions=["test_connection"], icon="cable")
    def test_connection(self, request, object_id):
        conn = self.get_object(request, object_id)
        try:
            items = BonusApiClient.for_connection(conn).catalogue()
        except HttpError as exc:
            messages.error(request, f"The Bonus API did not answer as expected: {exc.message}")
        else:
            messages.success(request, f"Connected: the catalogue lists {len(items)} bonus(es).")
        return HttpResponseRedirect(reverse("admin:integrations_bonusapiconnection_change", args=[conn.pk]))


class SandboxSettingsForm(SecretForm):
    callback_url = forms.URLField(
        max_length=500,
        required=False,
        assume_scheme="https",
        widget=UnfoldAdminURLInputWidget,
        help_text=SandboxBonusSettings._meta.get_field("callback_url").help_text,
    )

    class Meta:
        model = SandboxBonusSettings
        fields = ["label", "secret", "callback_url", "catalogue", "latency_ms", "failure_rate", "timeout_rate",
                  "hang_seconds"]  # fmt: skip


class _SandboxOnly:
    """Registered always (the sidebar names its URL), shown to nobody unless the sandbox is on."""

    def _allowed(self, request, perm, obj=None) -> bool:
        return settings.PITBOSS_SANDBOX and super()._allowed(request, perm, obj)


@admin.register(SandboxBonusSettings)
class SandboxBonusSettingsAdmin(_SandboxOnly, LabelScopedAdmin):
    """The sandbox operator's behaviour per label: latency, failures, "time out after applying"."""

    view_perm = add_perm = change_perm = delete_perm = Perm.LABEL_MANAGE
    form = SandboxSettingsForm
    list_display = ("label", "latency_ms", "failure_rate", "timeout_rate", "hang_seconds")
    list_select_related = ("label",)


@admin.register(SandboxBonus)
class SandboxBonusAdmin(_SandboxOnly, LabelScopedAdmin):
    """What the sandbox operator applied (one row per idempotency key), with "Redeem" to play the player's part."""

    view_perm = Perm.LABEL_MANAGE
    list_display = ("bonus_code", "user_ext_id", "ext_brand_id", "status", "issue_calls", "pitboss_bonus_id",
                    "created_at")  # fmt: skip
    list_filter = (("label", ScopedRelatedFilter), "status")
    search_fields = ("=idempotency_key", "=user_ext_id")
    actions_detail = ["redeem"]

    def has_redeem_permission(self, request, object_id=None) -> bool:
        return settings.PITBOSS_SANDBOX and may_act_on(self, request, Perm.LABEL_MANAGE, object_id)

    @action(description="Redeem (calls Pitboss back)", url_path="redeem", permissions=["redeem"], icon="redeem")
    def redeem(self, request, object_id):
        from integrations.sandbox.bonus_api import sandbox_bonus_redeem

        row = self.get_object(request, object_id)
        answer = sandbox_bonus_redeem(bonus=row, status="redeemed")
        callback = answer.get("callback") or {}
        messages.info(request, f"Redeemed; Pitboss's callback answered {callback.get('http_status', 'nothing')}.")
        return HttpResponseRedirect(reverse("admin:integrations_sandboxbonus_change", args=[row.pk]))
