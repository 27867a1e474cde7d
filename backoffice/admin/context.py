"""Context every admin page gets (UNFOLD GLOBAL_CALLBACK): the label switcher's choices."""

from __future__ import annotations

from django.urls import reverse

from backoffice.models import Label
from backoffice.scoping import actor_for_request


def admin_context(request) -> dict:
    actor = actor_for_request(request)
    label_ids = actor.all_label_ids
    if not label_ids:
        return {"pitboss_labels": []}
    labels = list(Label.objects.filter(pk__in=label_ids).order_by("name").values_list("pk", "name"))
    current = actor.current_label_id if actor.current_label_id in label_ids else None
    return {
        "pitboss_labels": labels,
        "pitboss_current_label_id": current,
        "pitboss_current_label_name": next((name for pk, name in labels if pk == current), None),
        "pitboss_switch_url": reverse("admin:backoffice_label_switch"),
    }
