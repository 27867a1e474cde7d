"""The hook through which other apps say what uses a segment (rules, journeys...): a segment they report cannot be
deleted, and the admin lists them under "Used by". Imported as `crm.services.segments.register_segment_user`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

SegmentUse = tuple[str, Any]  # (kind, object): ("Segment", <Segment>), ("Mission", <Mission>), ("Rule", <Rule>)
SegmentUsers = Callable[[Any], list[SegmentUse]]  # segment -> its uses
_USERS: list[SegmentUsers] = []


def register_segment_user(func: SegmentUsers) -> None:
    """Add a finder of the things that use a segment: `func(segment) -> [(kind, obj), ...]`. Call it from an app's
    `ready()`; a segment any finder reports cannot be deleted."""
    if func not in _USERS:
        _USERS.append(func)
