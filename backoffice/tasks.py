"""Tasks of the shared kernel."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="backoffice.ping", ignore_result=False)
def ping() -> str:
    """Answer "pong": proves that a worker consumes the broker (`celery -A backoffice call backoffice.ping`).

    Unlike every other task it keeps its result, so that a caller with a result backend can wait for the answer.
    """
    return "pong"
