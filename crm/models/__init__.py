from crm.models.aggregates import PlayerAggregate
from crm.models.bonuses import (
    Bonus,
    BonusSource,
    BonusStatus,
    BonusTemplate,
    BonusType,
    DeliveryState,
    TemplateSource,
)
from crm.models.events import Event, EventSource, EventType, FieldType
from crm.models.pipeline import PARTITIONS, PipelineCursor, PipelineFailure, PipelineStat, PipelineTick
from crm.models.players import AccountStatus, Gender, Player
from crm.models.rollups import Rollup, RollupSpec, RollupStatus
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
    "Bonus",
    "BonusSource",
    "BonusStatus",
    "BonusTemplate",
    "BonusType",
    "DeliveryState",
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
    "Rollup",
    "RollupSpec",
    "RollupStatus",
    "Segment",
    "SegmentImport",
    "SegmentImportRow",
    "SegmentKind",
    "SegmentListEntry",
    "SegmentMember",
    "SegmentStatus",
    "TemplateSource",
]
