"""Gamification facts for the rest of the system: events on the pipeline that rules and journeys react to.

A fact is stored in the event log in the caller's transaction (`crm.services.ingest.system_events_store`), so it
exists exactly when the change it reports was committed, and its `event_id` is derived from that change (the wallet
entry, the award...), so a replay adds nothing. The types and their fields are defined here, in `FACT_TYPES`, and put
in the event catalogue (`crm.catalogue`) by the app's `ready()` (`facts_register`): their payloads are cleaned by
those specs when stored, missions and tournaments may count them, and partners cannot send them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import structlog

from backoffice.models import Brand
from crm.catalogue import EventSpec, integer, number, one_of, system_types_register, text64, text255
from crm.models import Player
from crm.services.ingest import SystemEvent, system_events_store
from gamification.models.wallet import Currency

log = structlog.get_logger(__name__)

LEVEL_CHANGED = "level_changed"
BALANCE_CHANGED = "balance_changed"
MISSION_COMPLETED = "mission_completed"
BADGE_EARNED = "badge_earned"
TOURNAMENT_REGISTERED = "tournament_registered"
TOURNAMENT_WON = "tournament_won"
TOURNAMENT_LOST = "tournament_lost"
STORE_ITEM_PURCHASED = "store_item_purchased"

_TOURNAMENT = {"tournament_id": integer, "instance_id": integer, "tournament_name": text255}
FACT_TYPES: dict[str, EventSpec] = {
    LEVEL_CHANGED: EventSpec(
        required={"level_id": integer, "level_name": text255},
        optional={"previous_level_id": integer, "previous_level_name": text255},
    ),
    BALANCE_CHANGED: EventSpec(
        required={
            "currency": one_of(*Currency.values),
            "amount": integer,
            "balance": integer,
            "source": text64,
            "entry_id": integer,
        },
    ),
    MISSION_COMPLETED: EventSpec(
        required={"mission_id": integer, "mission_name": text255, "run": integer}, optional={"cycle": text64}
    ),
    BADGE_EARNED: EventSpec(
        required={"badge_id": integer, "badge_name": text255, "stage": integer}, optional={"stage_name": text255}
    ),
    TOURNAMENT_REGISTERED: EventSpec(required=_TOURNAMENT, optional={"registration_type": text64}),
    TOURNAMENT_WON: EventSpec(required={**_TOURNAMENT, "place": integer, "score": number}),
    TOURNAMENT_LOST: EventSpec(required={**_TOURNAMENT, "place": integer, "score": number}),
    STORE_ITEM_PURCHASED: EventSpec(
        required={
            "item_id": integer,
            "item_name": text255,
            "price": integer,
            "currency": text64,
            "purchase_id": integer,
        },
    ),
}


def facts_register() -> None:
    """Put gamification's facts in the event catalogue (called once by the app's `ready()`)."""
    system_types_register(FACT_TYPES)


@dataclass(frozen=True)
class Fact:
    player: Player
    type: str
    key: str  # unique per type within the label: the event_id
    payload: dict[str, Any]


_pending: ContextVar[list[Fact] | None] = ContextVar("gamification_facts_pending", default=None)


@contextmanager
def facts_batched() -> Iterator[None]:
    """Collect the facts emitted inside and ingest them together on the way out (one ingest per label).

    For the pipeline's handlers: a micro-batch that completes a hundred missions ingests its hundreds of facts in
    one call instead of hundreds. Use it inside the transaction of the changes: the facts are ingested before it
    commits. On an exception nothing is ingested (the changes roll back too). Nested uses join the outermost.
    """
    if _pending.get() is not None:
        yield
        return
    token = _pending.set([])
    try:
        yield
        pending = _pending.get()
    finally:
        _pending.reset(token)
    by_label: dict[int, list[Fact]] = {}
    for fact in pending:
        by_label.setdefault(fact.player.label_id, []).append(fact)
    for label_id, facts in by_label.items():
        _ingest(label_id, facts)


def facts_emit(*, label_id: int, facts: Iterable[Fact]) -> int:
    """Ingest `facts` of one label as system events, inside the caller's transaction; return how many were new
    (inside `facts_batched`, how many were queued).

    A fact that fails validation is a bug in the emitter: it is logged and raised, which rolls back the change too.
    """
    facts = list(facts)
    pending = _pending.get()
    if pending is not None:
        pending.extend(facts)
        return len(facts)
    return _ingest(label_id, facts)


def _ingest(label_id: int, facts: list[Fact]) -> int:
    if not facts:
        return 0
    brands = dict(Brand.objects.filter(label_id=label_id).values_list("id", "ext_brand_id"))
    events = []
    for fact in facts:
        player = fact.player
        events.append(
            SystemEvent(player.pk, brands[player.brand_id], player.user_ext_id, fact.type, fact.key[:128], fact.payload)
        )
    try:
        return len(system_events_store(label_id=label_id, events=events))
    except ValueError as exc:
        log.error("gamification_fact_invalid", types=sorted({fact.type for fact in facts}), error=str(exc))
        raise


def fact_emit(*, player: Player, type: str, key: str, payload: dict[str, Any]) -> int:
    """One fact about one player (see `facts_emit`)."""
    return facts_emit(label_id=player.label_id, facts=[Fact(player, type, key, payload)])
