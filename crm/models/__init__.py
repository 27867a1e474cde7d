from crm.models.aggregates import PlayerAggregate
from crm.models.events import Event, EventSource, EventType, FieldType
from crm.models.players import AccountStatus, Gender, Player

__all__ = ["AccountStatus", "Event", "EventSource", "EventType", "FieldType", "Gender", "Player", "PlayerAggregate"]
