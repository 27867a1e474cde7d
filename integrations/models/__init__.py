from integrations.models.replica import CursorKind, DataSource, SyncView, ViewKind
from integrations.models.stream import StreamSource

__all__ = ["CursorKind", "DataSource", "StreamSource", "SyncView", "ViewKind"]
