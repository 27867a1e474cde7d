"""Writes to labels and staff roles."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.utils import timezone

from backoffice.models import Label
from backoffice.models.tenancy import new_salt


def label_salt_rotate(*, label: Label) -> str:
    """Replace the label's salt; hashes signed with the old one stop validating at once. Returns the new salt."""
    salt = new_salt()
    Label.objects.filter(pk=label.pk).update(salt=salt, updated_at=timezone.now())
    label.salt = salt
    return salt


def staff_user_create(*, username: str, email: str, password: str):
    """Create a user who may log in to the admin: staff, never a superuser. Their roles are given separately."""
    return get_user_model().objects.create_user(
        username=username, email=email, password=password, is_staff=True, is_superuser=False
    )
