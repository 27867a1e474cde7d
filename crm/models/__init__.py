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
    "PipelineCursor",
    "PipelineFailure",
    "PipelineStat",
    "PipelineTick",
    "Player",
    "PlayerAggregate",
    "TemplateSource",
]
