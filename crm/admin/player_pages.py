"""What other apps add to the player page in the admin: panels under the profile, and pages of their own.

The CRM owns the player page but knows nothing of gamification (or of the apps to come): an app registers its
panels and pages here from its admin module, and `PlayerAdmin` renders whatever is registered. A page is served at
`<player id>/<path>/` under the player admin, named `admin:crm_player_<name>`, behind the same scoping as the player
page itself (another label's player answers 404) plus the page's permission in the player's label.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse

from crm.models import Player


@dataclass(frozen=True)
class PlayerPanel:
    """A card under the profile: `context(request, player)` returns the template's `panel`, or None to hide it."""

    template: str
    context: Callable[[HttpRequest, Player], dict | None]
    order: int = 100


@dataclass(frozen=True)
class PlayerPage:
    """A page of the player. With a `tab` title it shows as a tab beside the profile."""

    name: str
    path: str
    view: Callable[..., HttpResponse]  # view(model_admin, request, player)
    permission: str | None = None  # a backoffice Perm the staff user needs in the player's label; None: view only
    tab: str | None = None
    order: int = 100


_PANELS: list[PlayerPanel] = []
_PAGES: list[PlayerPage] = []


def player_panel_register(panel: PlayerPanel) -> None:
    _PANELS.append(panel)
    _PANELS.sort(key=lambda p: p.order)


def player_page_register(page: PlayerPage) -> None:
    if any(existing.name == page.name for existing in _PAGES):
        raise ValueError(f"A player page named {page.name!r} is already registered.")
    _PAGES.append(page)
    _PAGES.sort(key=lambda p: p.order)


def player_panels() -> list[PlayerPanel]:
    return list(_PANELS)


def player_pages() -> list[PlayerPage]:
    return list(_PAGES)


def player_tabs() -> list[PlayerPage]:
    return [page for page in _PAGES if page.tab]
