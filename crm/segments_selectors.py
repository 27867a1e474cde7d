"""Reads of segments, label-scoped: lists for the admin and the API, one segment by id (another label's is 404),
members live, imports."""

from __future__ import annotations

from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.db.models.expressions import RawSQL

from backoffice.errors import NotFound
from backoffice.scoping import Actor
from crm.models import Player, Segment, SegmentImport, SegmentMember
from crm.services.segments import segment_query


def segments_for_actor(*, actor: Actor) -> QuerySet[Segment]:
    """The actor's segments with `tracked_count`: the size of the tracked membership (one index-only count per row of
    the page, never a GROUP BY over every membership)."""
    tracked = (
        SegmentMember.objects.filter(segment_id=OuterRef("pk"))
        .order_by()
        .values("segment_id")
        .annotate(n=Count("*"))
        .values("n")
    )
    return (
        Segment.objects.for_actor(actor)
        .select_related("label", "created_by", "updated_by")
        .annotate(tracked_count=Subquery(tracked))
    )


def segment_for_actor(*, actor: Actor, segment_id: int) -> Segment:
    """One of the actor's segments; NotFound for a missing id and another label's alike."""
    segment = Segment.objects.for_actor(actor).select_related("label").filter(pk=segment_id).first()
    if segment is None:
        raise NotFound("No such segment.")
    return segment


def segment_members(*, segment: Segment) -> QuerySet[Player]:
    """The segment's players now (live: its tree or its list), with their brand, for lists and exports."""
    sql, params = segment_query(segment=segment)
    return (
        Player.objects.filter(label_id=segment.label_id, id__in=RawSQL(sql, params))  # noqa: S611 - compiled tree
        .select_related("brand")
        .order_by("id")
    )


def segment_imports(*, segment: Segment) -> QuerySet[SegmentImport]:
    return SegmentImport.objects.filter(segment=segment).select_related("created_by").order_by("-id")
