"""Labels: settings for their admins, the salt for those who integrate, and the label switcher."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import Case, CharField, Count, Value, When
from django.http import HttpResponseBadRequest, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import Resolver404, path, resolve, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from unfold.decorators import action, display
from unfold.widgets import UnfoldAdminTextInputWidget

from backoffice.admin.base import LabelScopedAdmin, may_act_on
from backoffice.admin.errors import may_view_in, object_admin, object_label_id
from backoffice.admin.helpers import confirmed_action
from backoffice.models import ApiKey, Brand, Label, Perm, Role
from backoffice.models.tenancy import MAX_ENTRY_POINTS
from backoffice.scoping import SESSION_LABEL_KEY
from backoffice.services.currency import label_base_currency_errors
from backoffice.services.tenancy import label_salt_rotate

# The salt signs user hashes (protected identification, read-only widget): the operator's integrators need it,
# so those who manage the label's credentials see and rotate it. Managers and support never see it.
SALT_PERM = Perm.KEYS_MANAGE
ALL_LABELS = "all"
MONEY_FIELDSET = (
    "Money and eligibility",
    {
        "fields": ["base_currency", "active_players_only", "bonus_daily_cap"],
        "description": "Missions and tournaments that sum or compare money convert each amount from the player's "
        "wallet currency into the base currency at the exchange rate of its day (Exchange rates). The base currency "
        "cannot change while rates exist: they are expressed in it.",
    },
)


class LabelForm(forms.ModelForm):
    class Meta:
        model = Label
        fields = [  # the admin narrows them to its fieldsets minus the read-only ones
            "name",
            "time_zone",
            "is_active",
            "allowed_entry_points",
            "control_group_pct",
            "base_currency",
            "active_players_only",
            "bonus_daily_cap",
        ]

    def clean_base_currency(self):
        value = (self.cleaned_data.get("base_currency") or "").strip().upper()
        for problem in label_base_currency_errors(label=self.instance, base_currency=value):
            raise forms.ValidationError(problem)
        return value


@admin.register(Label)
class LabelAdmin(LabelScopedAdmin):
    """Only superusers add or delete labels; a label's admins change its settings."""

    change_perm = Perm.LABEL_MANAGE
    form = LabelForm
    scoped_foreign_keys = {}
    list_display = ("name", "label_key", "time_zone", "brand_count", "your_role", "is_active")
    list_filter = ("is_active",)
    search_fields = ("name", "label_key")
    actions = None
    actions_detail = ["rotate_salt"]

    def label_id_of(self, obj) -> int | None:
        return obj.pk

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(brand_count=Count("brands"), role=_role_of(self.actor(request)))

    def has_add_permission(self, request) -> bool:
        return request.user.is_active and request.user.is_staff and request.user.is_superuser

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser and self._allowed(request, Perm.LABEL_MANAGE, obj)

    # --- list ----------------------------------------------------------------------------------------------------
    @display(description="Brands", ordering="brand_count")
    def brand_count(self, obj) -> int:
        return obj.brand_count

    @display(description="Your role", label=True)
    def your_role(self, obj) -> str:
        return Role(obj.role).label if obj.role else "-"

    # --- form ----------------------------------------------------------------------------------------------------
    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [
                (None, {"fields": ["name", "time_zone", "is_active"]}),
                ("Front end", {"fields": ["allowed_entry_points", "control_group_pct"]}),
                MONEY_FIELDSET,
            ]
        fieldsets = [
            ("Label", {"fields": ["name", "time_zone", "is_active"]}),
            ("Front end", {"fields": ["label_key", "allowed_entry_points", "control_group_pct"]}),
            MONEY_FIELDSET,
        ]
        if self.actor(request).can(SALT_PERM, obj.pk):
            fieldsets.append(
                (
                    "Secret",
                    {
                        "fields": ["salt"],
                        "description": "The salt of user hashes (read-only widget, protected identification). "
                        "The operator's server needs it; keep it out of browsers. "
                        "Rotating it invalidates every hash signed with the old one.",
                    },
                )
            )
        fieldsets.append(("Timestamps", {"fields": ["created_at", "updated_at"]}))
        return fieldsets

    def get_readonly_fields(self, request, obj=None):
        readonly = ["label_key", "salt", "created_at", "updated_at"]
        if not request.user.is_superuser:
            readonly.append("is_active")  # a label admin could lock every user of the label out
        return readonly

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name == "allowed_entry_points" and field is not None:
            field.widget = UnfoldAdminTextInputWidget(attrs={"placeholder": "lobby,mobile,app"})
            field.help_text = f"Comma-separated, at most {MAX_ENTRY_POINTS}: the login entry points this label accepts."
        return field

    # --- rotate the salt -----------------------------------------------------------------------------------------
    def has_rotate_salt_permission(self, request, object_id=None) -> bool:
        return may_act_on(self, request, SALT_PERM, object_id)

    @action(description="Rotate salt", url_path="rotate-salt", permissions=["rotate_salt"], icon="autorenew")
    def rotate_salt(self, request, object_id):
        label = self.get_object(request, object_id)

        def perform() -> None:
            label_salt_rotate(label=label)
            self.log_change(request, label, "Rotated the salt.")
            messages.success(request, f"The salt of {label} was rotated. Give the new salt to the operator's server.")

        return confirmed_action(
            self,
            request,
            label,
            title=f"Rotate the salt of {label}",
            text="A new salt replaces the current one at once. User hashes signed with the old salt stop "
            "working: the operator must switch its server to the new salt at the same time.",
            button="Rotate salt",
            perform=perform,
        )

    # --- label switcher ------------------------------------------------------------------------------------------
    def get_urls(self):
        switch = path("switch/", self.admin_site.admin_view(self.switch_label_view), name="backoffice_label_switch")
        return [switch, *super().get_urls()]

    def switch_label_view(self, request):
        """Narrow the admin to one of the user's labels, or back to all of them (stored in the session)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        value = request.POST.get("label", "")
        if value in ("", ALL_LABELS):
            request.session.pop(SESSION_LABEL_KEY, None)
        else:
            label_id = int(value) if value.isdigit() else None
            if label_id not in self.actor(request).all_label_ids:
                return HttpResponseBadRequest("You have no role in this label.")
            request.session[SESSION_LABEL_KEY] = label_id
        return HttpResponseRedirect(self._after_switch_url(request, label_id if value.isdigit() else None))

    def _after_switch_url(self, request, label_id: int | None) -> str:
        """Back to the list the user was on, or to the object page they asked for when it is in the label switched
        to (the 404 page's offer); another object page may belong to a label now out of view."""
        index = reverse("admin:index")
        next_url = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(next_url, {request.get_host()}, require_https=request.is_secure()):
            return index
        next_path = next_url.split("?", 1)[0]
        try:
            match = resolve(next_path)
        except Resolver404:
            return index
        if match.namespace == self.admin_site.name and (
            match.url_name in ("index", "app_list") or (match.url_name or "").endswith("_changelist")
        ):
            return next_path
        found = object_admin(next_path)
        if found is not None and label_id is not None:
            model_admin, object_id = found
            actor = self.actor(request)
            if object_label_id(model_admin, object_id) == label_id and may_view_in(actor, model_admin, label_id):
                return next_url  # the query string too (a tab, a filter): the same page, now in view
        return index

    def protected_summary(self, objs) -> list[str]:
        ids = [obj.pk for obj in objs]
        brands = Brand.objects.filter(label_id__in=ids).count()
        keys = ApiKey.objects.filter(label_id__in=ids).count()
        summary = []
        if brands:
            summary.append(f"{brands} brand(s) and their players")
        if keys:
            summary.append(f"{keys} API key(s)")
        if summary:
            summary.append("Deactivate the label instead: it then accepts no API calls and grants no staff access.")
        return summary


def _role_of(actor):
    """The actor's role in each row's label, as a SQL expression (roles live in the actor, not in the row)."""
    roles = set(actor.roles.values())
    if len(roles) == 1:
        return Value(roles.pop(), output_field=CharField())
    whens = [When(pk=label_id, then=Value(role)) for label_id, role in actor.roles.items()]
    return Case(*whens, default=Value(""), output_field=CharField())
