from integrations.models.bonus_api import BonusApiConnection
from integrations.models.replica import CursorKind, DataSource, SyncView, ViewKind
from integrations.models.sandbox import SandboxBonus, SandboxBonusSettings, SandboxBonusStatus
from integrations.models.stream import StreamSource

__all__ = [
    "BonusApiConnection",
    "CursorKind",
    "DataSource",
    "SandboxBonus",
    "SandboxBonusSettings",
    "SandboxBonusStatus",
    "StreamSource",
    "SyncView",
    "ViewKind",
]
