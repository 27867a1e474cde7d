"""Tasks only the stack test sends (the worker imports them with `-I tests.stack_tasks`): one writes a row, so the test
sees a real worker's write in the database; one reports the worker process's garbage collector settings."""

from __future__ import annotations

import gc

from celery import shared_task

from backoffice.models import Label


@shared_task(name="tests.label_rename")
def label_rename(label_id: int, name: str) -> None:
    """Rename the label; return quietly if it is gone, as every task does."""
    Label.objects.filter(pk=label_id).update(name=name)


@shared_task(name="tests.gc_settings", ignore_result=False)
def gc_settings() -> dict:
    return {"thresholds": list(gc.get_threshold()), "frozen": gc.get_freeze_count()}
