"""Pitboss project package and shared kernel: settings, tenancy, scoping, API base, Celery app."""

from backoffice.celery import app as celery_app

__all__ = ["celery_app"]
