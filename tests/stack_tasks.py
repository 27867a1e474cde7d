"""A task only the stack test sends (the worker imports it with `-I tests.stack_tasks`): it writes a row, so the test
sees a real worker's write in the database."""

from __future__ import annotations

from celery import shared_task

from backoffice.models import Label


@shared_task(name="tests.label_rename")
def label_rename(label_id: int, name: str) -> None:
    """Rename the label; return quietly if it is gone, as every task does."""
    Label.objects.filter(pk=label_id).update(name=name)
