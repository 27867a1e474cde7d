"""Staff roles and what each may do (reference INDEX: admin, manager, support, integration engineer)."""

from __future__ import annotations

from django.db import models


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    MANAGER = "manager", "Manager"
    SUPPORT = "support", "Support"
    INTEGRATION_ENGINEER = "integration_engineer", "Integration engineer"


class Perm:
    """Permissions a role or an API key holds inside one label."""

    VIEW = "view"  # read the label's configuration and players
    PLAYER_ACT = "player_act"  # message a player, adjust points, give a mission or bonus, open the widget
    CREDIT_APPROVE = "credit_approve"  # approve or reject another staff member's credit above their cap
    PLAYER_WRITE = "player_write"  # create or update player profiles (data integration)
    CONFIG_CHANGE = "config_change"  # segments, journeys, rules, messages, gamification
    LABEL_MANAGE = "label_manage"  # label settings, brands, staff, gateways, caps
    KEYS_MANAGE = "keys_manage"  # partner API keys
    DATA_SOURCES = "data_sources"  # replica-DB sources and streams
    RATES_WRITE = "rates_write"  # exchange rates into the base currency (typed by the CRM team or fed by the platform)


_SUPPORT = frozenset({Perm.VIEW, Perm.PLAYER_ACT})
ROLE_PERMS: dict[str, frozenset[str]] = {
    Role.ADMIN: frozenset(
        {
            Perm.VIEW,
            Perm.PLAYER_ACT,
            Perm.CREDIT_APPROVE,
            Perm.PLAYER_WRITE,
            Perm.CONFIG_CHANGE,
            Perm.LABEL_MANAGE,
            Perm.KEYS_MANAGE,
            Perm.DATA_SOURCES,
            Perm.RATES_WRITE,
        }
    ),
    Role.MANAGER: _SUPPORT | {Perm.CONFIG_CHANGE, Perm.CREDIT_APPROVE, Perm.RATES_WRITE},
    Role.SUPPORT: _SUPPORT,
    Role.INTEGRATION_ENGINEER: _SUPPORT | {Perm.PLAYER_WRITE, Perm.KEYS_MANAGE, Perm.DATA_SOURCES, Perm.RATES_WRITE},
}
# What a partner API key may do inside its label.
# Exchange rates: the operator's platform feeds its daily rates like it feeds player profiles.
API_KEY_PERMS: frozenset[str] = frozenset({Perm.VIEW, Perm.PLAYER_ACT, Perm.PLAYER_WRITE, Perm.RATES_WRITE})
