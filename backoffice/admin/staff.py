"""Staff roles: a label's admins give roles in their label, to an existing staff user or to a new one in one step.

A label admin never edits a user account: they create new staff users (never superusers) and add or remove roles.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from unfold.widgets import UnfoldAdminEmailInputWidget, UnfoldAdminPasswordWidget, UnfoldAdminTextInputWidget

from backoffice.admin.base import LabelScopedAdmin
from backoffice.admin.filters import ScopedRelatedFilter
from backoffice.models import Perm, StaffRole
from backoffice.services.tenancy import staff_user_create


class StaffRoleAddForm(forms.ModelForm):
    """A role for an existing staff user (by username), or for a new staff user created with it."""

    existing_username = forms.CharField(
        required=False,
        label="Username",
        help_text="A staff user who already has an account.",
        widget=UnfoldAdminTextInputWidget,
    )
    new_username = forms.CharField(
        required=False, label="New username", max_length=150, widget=UnfoldAdminTextInputWidget
    )
    new_email = forms.EmailField(required=False, label="Email", widget=UnfoldAdminEmailInputWidget)
    new_password = forms.CharField(
        required=False,
        label="Password",
        strip=False,
        widget=UnfoldAdminPasswordWidget(render_value=False),
        help_text="The new user signs in with it and can change it later.",
    )

    class Meta:
        model = StaffRole
        fields = ["label", "role"]

    def clean(self):
        cleaned = super().clean()
        existing = (cleaned.get("existing_username") or "").strip()
        new = (cleaned.get("new_username") or "").strip()
        if bool(existing) == bool(new):
            raise ValidationError("Give either an existing staff user or a new username, not both.")
        if existing:
            self._clean_existing(existing)
        else:
            self._clean_new(new, cleaned)
        return cleaned

    def _clean_existing(self, username: str) -> None:
        user = (
            get_user_model()
            .objects.filter(username=username, is_active=True, is_staff=True, is_superuser=False)
            .first()
        )
        if user is None:
            self.add_error("existing_username", "No active staff user has this username.")
            return
        label = self.cleaned_data.get("label")
        if label is not None and StaffRole.objects.filter(user=user, label=label).exists():
            self.add_error("existing_username", f"{username} already has a role in {label}; change that role.")
        self.instance.user = user

    def _clean_new(self, username: str, cleaned: dict) -> None:
        user_model = get_user_model()
        username_field = user_model._meta.get_field("username")
        try:
            username_field.run_validators(username)
        except ValidationError as exc:
            self.add_error("new_username", exc)
            return
        if user_model.objects.filter(username=username).exists():
            self.add_error("new_username", "This username is taken.")
        if not cleaned.get("new_email"):
            self.add_error("new_email", "A new staff user needs an email.")
        password = cleaned.get("new_password") or ""
        if not password:
            self.add_error("new_password", "A new staff user needs a password.")
            return
        try:
            validate_password(password, user_model(username=username, email=cleaned.get("new_email") or ""))
        except ValidationError as exc:
            self.add_error("new_password", exc)

    def new_user_data(self) -> dict | None:
        if self.cleaned_data.get("existing_username"):
            return None
        return {
            "username": self.cleaned_data["new_username"].strip(),
            "email": self.cleaned_data["new_email"],
            "password": self.cleaned_data["new_password"],
        }


@admin.register(StaffRole)
class StaffRoleAdmin(LabelScopedAdmin):
    add_perm = change_perm = delete_perm = Perm.LABEL_MANAGE
    list_display = ("username", "user_email", "label", "role", "created_at")
    list_filter = (("label", ScopedRelatedFilter), "role")
    list_select_related = ("user", "label")
    search_fields = ("user__username", "user__email")
    add_form = StaffRoleAddForm
    add_fieldsets = (
        ("Role", {"fields": ["label", "role"]}),
        (
            "Existing staff user",
            {"fields": ["existing_username"], "description": "Give a role to someone who already signs in here…"},
        ),
        (
            "…or a new staff user",
            {"fields": ["new_username", "new_email", "new_password"], "description": "…or create their account."},
        ),
    )

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = self.add_form
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return self.add_fieldsets
        return [
            (None, {"fields": ["username", "user_email", "label", "role"]}),
            ("Timestamps", {"fields": ["created_at"]}),
        ]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else ["username", "user_email", "label", "created_at"]

    # Plain text, not links: user accounts are for superusers only.
    @admin.display(description="User", ordering="user__username")
    def username(self, obj) -> str:
        full_name = obj.user.get_full_name()
        return f"{obj.user.username} ({full_name})" if full_name else obj.user.username

    @admin.display(description="Email", ordering="user__email")
    def user_email(self, obj) -> str:
        return obj.user.email

    def _is_own(self, request, obj) -> bool:
        # Changing or removing one's own role could lock the label out of its last admin.
        return obj is not None and obj.user_id == request.user.pk and not request.user.is_superuser

    def has_change_permission(self, request, obj=None) -> bool:
        return not self._is_own(request, obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return not self._is_own(request, obj) and super().has_delete_permission(request, obj)

    def save_model(self, request, obj, form, change) -> None:
        new_user = form.new_user_data() if not change else None
        if new_user is not None:
            # The admin runs this view in one transaction: a role that fails to save leaves no user behind.
            obj.user = staff_user_create(**new_user)
        super().save_model(request, obj, form, change)
