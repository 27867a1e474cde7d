"""Reads of CRM data, label-scoped."""

from __future__ import annotations

from backoffice.errors import DomainValidationError, NotFound
from backoffice.models import Brand
from backoffice.scoping import Actor
from crm.models import Player


def players_for_actor(actor: Actor):
    return Player.objects.for_actor(actor).select_related("brand", "label")


def brand_resolve(
    actor: Actor, ext_brand_id: str, *, label_key: str | None = None, field: str = "ext_brand_id"
) -> Brand:
    """The actor's brand with this `ext_brand_id`; `label_key` picks one when the actor's labels share the id."""
    brands = Brand.objects.for_actor(actor).select_related("label").filter(ext_brand_id=str(ext_brand_id))
    if label_key:
        brands = brands.filter(label__label_key=label_key)
    found = list(brands[:2])
    if not found:
        raise DomainValidationError({field: [f"Unknown brand {ext_brand_id!r}."]}, code="unknown_brand")
    if len(found) > 1:
        raise DomainValidationError(
            {"label_key": ["Required: this ext_brand_id exists in several of your labels."]},
            code="ambiguous_brand",
        )
    return found[0]


def player_get(actor: Actor, *, ext_brand_id: str, user_ext_id: str, label_key: str | None = None) -> Player:
    try:
        brand = brand_resolve(actor, ext_brand_id, label_key=label_key)
    except DomainValidationError as exc:
        if exc.code == "unknown_brand":
            raise NotFound("No such player.") from exc
        raise
    player = players_for_actor(actor).filter(brand=brand, user_ext_id=user_ext_id).first()
    if player is None:
        raise NotFound("No such player.")
    return player
