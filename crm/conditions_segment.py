"""The `segment` leaf of condition trees: `{"segment": SEGMENT_ID}`, "is a member of another segment of the label".

An imported segment is its list; a conditions segment is its own tree, compiled inline (live, like every leaf).
A cycle (S names T, T names S) is refused when a tree is saved, and guarded again when compiling.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from crm.conditions import register_leaf
from crm.models import Segment, SegmentKind


def _segment_id(node: dict) -> Any:
    return node.get("segment")


def _label_segments(label_id: int) -> dict[int, Segment]:
    return {s.pk: s for s in Segment.objects.filter(label_id=label_id)}


def _cycle(start: int, segments: dict[int, Segment], target: int | None) -> bool:
    """Whether following segment leaves from `start` reaches `target` (or loops)."""
    from crm.services.segments import _leaves

    seen: set[int] = set()
    todo = [start]
    while todo:
        current = todo.pop()
        if current == target or current in seen:
            return True
        seen.add(current)
        segment = segments.get(current)
        if segment is None or segment.kind != SegmentKind.CONDITIONS:
            continue
        todo += [leaf["segment"] for leaf in _leaves(segment.conditions) if isinstance(leaf.get("segment"), int)]
    return False


class SegmentLeaf:
    """Member of another segment of the same label."""

    def validate(self, node: dict, label_id: int, path: str) -> dict[str, list[str]]:
        problem = _problem(node, label_id)
        return {path: [problem]} if problem else {}

    def sql(self, node: dict, label_id: int, now: dt.datetime, player_ids: list[int] | None = None) -> tuple[str, list]:
        from crm.services.segments import _members_sql

        segment = Segment.objects.get(pk=_segment_id(node), label_id=label_id)
        if segment.kind == SegmentKind.IMPORTED:
            return (
                "EXISTS (SELECT 1 FROM crm_segmentlistentry sl WHERE sl.segment_id = %s AND sl.player_id = p.id)",
                [segment.pk],
            )
        members, params = _members_sql(segment, now, player_ids)  # narrowed too when the outer query is
        return f"p.id IN ({members})", list(params)

    def load(self, nodes: Iterable[dict], label_id: int, player_ids: Iterable[int], now: dt.datetime) -> dict:
        """Per player: segment id -> member now (one statement per segment named)."""
        from crm.services.segments import segment_member_ids

        ids = list(player_ids)
        wanted = {_segment_id(node) for node in nodes}
        state: dict[int, dict] = {pid: dict.fromkeys(wanted, False) for pid in ids}
        for segment in Segment.objects.filter(pk__in=wanted, label_id=label_id):
            for pid in segment_member_ids(segment=segment, player_ids=ids, now=now):
                state[pid][segment.pk] = True
        return state

    def matches(self, node: dict, state: dict, now: dt.datetime) -> bool:
        return bool(state.get(_segment_id(node)))

    def describe(self, node: dict, label_id: int) -> str:
        segment = Segment.objects.filter(pk=_segment_id(node), label_id=label_id).first()
        return f"in segment “{segment.name}”" if segment else f"in segment {_segment_id(node)} (deleted)"


def _problem(node: dict, label_id: int) -> str | None:
    from crm.services.segments import saving_segment_id

    extra = sorted(set(node) - {"segment"})
    if extra:
        return f"A segment condition has only the key segment, not {', '.join(extra)}."
    segment_id = _segment_id(node)
    if isinstance(segment_id, bool) or not isinstance(segment_id, int):
        return "Expected the id of a segment (an integer)."
    segments = _label_segments(label_id)
    if segment_id not in segments:
        return f"No segment {segment_id} in this label."
    saving = saving_segment_id()
    if segment_id == saving:
        return "A segment cannot contain itself."
    if _cycle(segment_id, segments, saving):
        return f"Segment “{segments[segment_id].name}” refers back to this segment: segments cannot form a cycle."
    return None


register_leaf("segment", SegmentLeaf())
