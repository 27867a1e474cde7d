from crm.models.aggregates import PlayerAggregate
from crm.models.events import Event, EventSource, EventType, FieldType
from crm.models.pipeline import PARTITIONS, PipelineCursor, PipelineFailure, PipelineStat, PipelineTick
from crm.models.players import AccountStatus, Gender, Player
from crm.models.segments import (
    ImportMode,
    ImportStatus,
    Segment,
    SegmentImport,
    SegmentImportRow,
    SegmentKind,
    SegmentListEntry,
    SegmentMember,
    SegmentStatus,
)

__all__ = [
    "PARTITIONS",
    "AccountStatus",
    "Event",
    "EventSource",
    "EventType",
    "FieldType",
    "Gender",
    "ImportMode",
    "ImportStatus",
    "PipelineCursor",
    "PipelineFailure",
    "PipelineStat",
    "PipelineTick",
    "Player",
    "PlayerAggregate",
    "Segment",
    "SegmentImport",
    "SegmentImportRow",
    "SegmentKind",
    "SegmentListEntry",
    "SegmentMember",
    "SegmentStatus",
]
