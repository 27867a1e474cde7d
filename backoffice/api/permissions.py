"""API permissions."""

from __future__ import annotations

from rest_framework.permissions import BasePermission

from backoffice.api.authentication import request_actor


class IsActor(BasePermission):
    """The caller is a partner key or a staff user with a role in at least one active label."""

    message = "You have no role in any label."

    def has_permission(self, request, view) -> bool:
        if request.user is None or not request.user.is_authenticated:
            return False
        return bool(request_actor(request).label_ids)
