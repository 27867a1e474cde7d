"""List filters that never offer another label's rows as choices."""

from __future__ import annotations

from unfold.contrib.filters.admin import RelatedDropdownFilter

from backoffice.models import Brand
from backoffice.scoping import actor_for_request


class ScopedRelatedFilter(RelatedDropdownFilter):
    """A dropdown of the related rows (labels, brands) in the actor's view.

    Django's RelatedFieldListFilter lists every row of the related table, which would name other labels' brands.
    """

    def field_choices(self, field, request, model_admin):
        actor = actor_for_request(request)
        rows = field.related_model.objects.for_actor(actor)
        if field.related_model is Brand:
            rows = rows.select_related("label")
            if len(actor.label_ids) > 1:
                return [(brand.pk, f"{brand.label.name} · {brand}") for brand in rows]
        return [(row.pk, str(row)) for row in rows]
