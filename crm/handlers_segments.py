"""The `crm` group's `segments` handler: live tracked membership and the segment_entered / segment_left events.

It runs after the profile, aggregates and roll-ups handlers of the same page (order 90), so the state it evaluates
already holds the page's events. See crm.services.segments for the statements and docs/segments.md for when the
tracked membership is current.
"""

from __future__ import annotations

from crm.pipeline import EventRow, handler
from crm.services.segments import SEGMENT_EVENT_TYPES, segments_track_batch


@handler("segments", group="crm", order=90)
def track_segments(events: list[EventRow]) -> None:
    """For each label in the page, re-evaluate its event-driven active segments over the page's players (one
    statement per segment) and store who entered and who left. A player whose only events in the page are
    segment_entered / segment_left is skipped: those facts change no state a tree reads."""
    causes: dict[int, dict[int, int]] = {}
    for event in events:
        if event.type in SEGMENT_EVENT_TYPES:
            continue
        players = causes.setdefault(event.label_id, {})
        players[event.player_id] = max(players.get(event.player_id, 0), event.id)
    for label_id in sorted(causes):
        segments_track_batch(label_id=label_id, causes=causes[label_id])
