"""A stream source as its consumer sees it: a frozen snapshot, compared to notice changes made in the admin."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from integrations.models import StreamSource

BROKER_SCHEMES = ("amqp", "amqps")


@dataclass(frozen=True)
class SourceConfig:
    """What a consumer needs of a StreamSource. Two snapshots differ when the consumer must reconnect."""

    id: int
    label_id: int
    name: str
    broker_url: str
    queue: str
    dead_letter_queue: str
    prefetch: int

    @classmethod
    def of(cls, source: StreamSource) -> SourceConfig:
        return cls(
            id=source.pk,
            label_id=source.label_id,
            name=source.name,
            broker_url=source.broker_url,
            queue=source.queue,
            dead_letter_queue=source.dead_letter_queue,
            prefetch=source.prefetch,
        )

    def __repr__(self) -> str:  # never the broker URL: it holds a password
        return f"SourceConfig(id={self.id}, label_id={self.label_id}, queue={self.queue!r})"

    @property
    def broker(self) -> str:
        return safe_broker_url(self.broker_url)


def safe_broker_url(url: str) -> str:
    """The broker URL without its user and password, for logs and the admin."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(malformed URL)"
    if ":" in host:  # IPv6
        host = f"[{host}]"
    return urlunsplit((parts.scheme, f"{host}{port}", parts.path, "", ""))
