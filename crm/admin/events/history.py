"""The event's history in the admin: what staff did to it (retries), shared by the explorer and the failures page."""

from __future__ import annotations

from collections.abc import Sequence

from django.contrib.admin.models import CHANGE, LogEntry

from crm.models import Event


def retries_log(request, event_ids: Sequence[int]) -> None:
    """Record "Retried." in each event's history, by the staff member of `request`."""
    if event_ids:
        LogEntry.objects.log_actions(
            user_id=request.user.pk,
            queryset=Event.objects.filter(pk__in=event_ids),
            action_flag=CHANGE,
            change_message="Retried.",
        )
