"""Reads of bonuses and templates, scoped to an actor's labels (the API and the admin)."""

from __future__ import annotations

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from backoffice.scoping import Actor
from crm.models import Bonus, BonusTemplate


def bonuses_for_actor(*, actor: Actor) -> QuerySet[Bonus]:
    """The actor's labels' bonuses, newest first, with the player, brand and template loaded."""
    return Bonus.objects.for_actor(actor).select_related("player__brand", "template", "label").order_by("-id")


def bonus_get(*, actor: Actor, bonus_id: int) -> Bonus:
    """One bonus of the actor's labels; 404 for another label's id, as for a missing one."""
    return get_object_or_404(bonuses_for_actor(actor=actor), pk=bonus_id)


def bonus_template_resolve(
    *, label_id: int, template_id: int | None = None, operator_code: str | None = None
) -> BonusTemplate | None:
    """The label's template by id or by the operator's code; None when the label has no such template."""
    templates = BonusTemplate.objects.for_label(label_id)
    if template_id is not None:
        return templates.filter(pk=template_id).first()
    return templates.filter(operator_code=operator_code).first()
