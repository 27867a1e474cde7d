"""Gamification's Celery tasks (run on beat): missions' cycles and expiries, tournaments' lifecycle."""

from gamification.tasks_missions import *  # noqa: F403 - registers the tasks by name
from gamification.tasks_tournaments import *  # noqa: F403
