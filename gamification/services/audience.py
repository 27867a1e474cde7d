"""Audiences: a mission, a tournament or a store item limited to a segment (`audience`) is seen, progressed,
entered and bought only by the segment's members, checked live (crm.services.segments: the segment's tree or list
over the players asked about, one statement per segment; never a stale list)."""

from __future__ import annotations

from collections.abc import Iterable

from backoffice.errors import Refused
from crm.models import Segment
from crm.services.segments import segment_member_ids


class NotInAudience(Refused):
    """The player is not in the segment this mission, tournament or item is limited to."""

    default_code = "not_in_audience"


def audience_members(*, segment_ids: Iterable[int | None], player_ids: Iterable[int]) -> dict[int, set[int]]:
    """For each audience segment, which of `player_ids` are in it now: one statement per segment (a batch's players
    in the pipeline's handlers). A segment deleted meanwhile cannot be (PROTECT): every id is found."""
    wanted = sorted({sid for sid in segment_ids if sid is not None})
    ids = sorted(set(player_ids))
    if not wanted or not ids:
        return {sid: set() for sid in wanted}
    return {
        segment.pk: segment_member_ids(segment=segment, player_ids=ids)
        for segment in Segment.objects.filter(pk__in=wanted).order_by("pk")
    }


def audiences_of(*, player_id: int, segment_ids: Iterable[int | None]) -> set[int]:
    """Of these audience segments, those the player is in now (lists shown to one player)."""
    return {
        sid for sid, members in audience_members(segment_ids=segment_ids, player_ids=[player_id]).items() if members
    }


def audience_check(*, player_id: int, segment_id: int | None, what: str) -> None:
    """Raise `not_in_audience` (422) unless the thing (`what`, e.g. "This tournament") is open to the player."""
    if segment_id is not None and not audiences_of(player_id=player_id, segment_ids=[segment_id]):
        raise NotInAudience(f"{what} is limited to a segment the player is not in.")
