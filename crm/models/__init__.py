from crm.models.aggregates import PlayerAggregate
from crm.models.events import Event, EventSource, EventType, FieldType
from crm.models.pipeline import PARTITIONS, PipelineCursor, PipelineFailure, PipelineStat, PipelineTick
from crm.models.players import AccountStatus, Gender, Player
from crm.models.rollups import Rollup, RollupSpec, RollupStatus
from crm.models.rules import (
    Accumulator,
    BacktestRun,
    EffectStatus,
    Rule,
    RuleCounter,
    RuleEffect,
    RuleKind,
    RuleRun,
    RuleStat,
    RuleStatus,
    WebhookDelivery,
)

__all__ = [
    "Accumulator",
    "BacktestRun",
    "EffectStatus",
    "Rule",
    "RuleCounter",
    "RuleEffect",
    "RuleKind",
    "RuleRun",
    "RuleStat",
    "RuleStatus",
    "WebhookDelivery",
    "PARTITIONS",
    "AccountStatus",
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
    "Rollup",
    "RollupSpec",
    "RollupStatus",
]
