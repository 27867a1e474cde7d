"""Gamification's pipeline handlers: mission progress and tournament scores (imported by the app's ready())."""

from gamification.handlers import missions, tournaments

__all__ = ["missions", "tournaments"]
