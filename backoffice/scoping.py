"""Who is acting, and on which labels. The admin, the API, exports and tasks all build an `Actor` and scope with it.

A staff user acts in the labels where they hold a role (narrowed to one by the admin's label switcher); an API key
acts only in its own label; a task acts for the one label whose id it carries.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from backoffice.models import API_KEY_PERMS, ROLE_PERMS, ApiKey, Label, Role, StaffRole

SESSION_LABEL_KEY = "pitboss_label_id"


@dataclass(frozen=True)
class Actor:
    """Permissions per label id. An actor with no labels sees nothing."""

    perms: Mapping[int, frozenset[str]] = field(default_factory=lambda: MappingProxyType({}))
    roles: Mapping[int, str] = field(default_factory=lambda: MappingProxyType({}))
    user_id: int | None = None
    api_key_id: int | None = None
    current_label_id: int | None = None

    @property
    def label_ids(self) -> frozenset[int]:
        """Labels in view: the switcher's choice if it made one, else all the actor's labels."""
        if self.current_label_id is not None and self.current_label_id in self.perms:
            return frozenset({self.current_label_id})
        return frozenset(self.perms)

    @property
    def all_label_ids(self) -> frozenset[int]:
        return frozenset(self.perms)

    def can(self, perm: str, label_id: int | None) -> bool:
        return label_id in self.label_ids and perm in self.perms.get(label_id, frozenset())

    def can_anywhere(self, perm: str) -> bool:
        return bool(self.labels_with(perm))

    def labels_with(self, perm: str) -> frozenset[int]:
        return frozenset(lid for lid in self.label_ids if perm in self.perms[lid])

    def role_in(self, label_id: int) -> str | None:
        return self.roles.get(label_id)


NOBODY = Actor()


def actor_for_user(user, current_label_id: int | None = None) -> Actor:
    """The actor of a staff user: their roles per label. A superuser is an admin of every label."""
    if user is None or not user.is_authenticated or not user.is_active or not user.is_staff:
        return NOBODY
    if user.is_superuser:
        roles = dict.fromkeys(Label.objects.values_list("id", flat=True), Role.ADMIN)
    else:
        roles = dict(StaffRole.objects.filter(user=user, label__is_active=True).values_list("label_id", "role"))
    return Actor(
        perms=MappingProxyType({lid: ROLE_PERMS[role] for lid, role in roles.items()}),
        roles=MappingProxyType(roles),
        user_id=user.pk,
        current_label_id=current_label_id,
    )


def actor_for_request(request) -> Actor:
    """The staff actor of an admin or browser-API request, cached on the request."""
    cached = getattr(request, "_pitboss_actor", None)
    if cached is None:
        session = getattr(request, "session", None)
        current = session.get(SESSION_LABEL_KEY) if session is not None else None
        cached = actor_for_user(getattr(request, "user", None), current)
        request._pitboss_actor = cached
    return cached


def actor_for_api_key(api_key: ApiKey) -> Actor:
    return Actor(perms=MappingProxyType({api_key.label_id: API_KEY_PERMS}), api_key_id=api_key.pk)


def actor_for_label(label_id: int) -> Actor:
    """The actor of a task or command working for one label."""
    return Actor(perms=MappingProxyType({label_id: ROLE_PERMS[Role.ADMIN]}), roles=MappingProxyType({}))
