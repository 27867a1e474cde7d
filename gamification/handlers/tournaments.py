"""Tournament scores on the event pipeline.

Per micro-batch: the candidate instances of each label come from an in-process cache (refreshed every
CACHE_SECONDS, with their conditions compiled once, and the label's base currency and active-players-only setting),
so an event whose type no tournament scores costs a dict lookup and no query. For the events that may score, one
query reads their players (control group, account status, wallet currency), one confirms which instances are running
(under their shared advisory lock, which finalization takes alone: a batch in flight finishes before places are
assigned, and a batch after it skips the instance), automatic registration enters the new players, and one
`scores_apply` call applies the whole batch. Automatic entries get their tournament_registered fact from the next
beat (`entries_announce`): ingesting facts would cost the hot path more than the scoring itself.

Who scores: not control-group players; not players whose account is not ACTIVE when the label's setting is on
(their events score nothing, they are not entered, and a participant among them is taken off the board here, see
`services.tournament_eligibility`); a player ACTIVE again who was taken off is put back before their event counts.

Money: a sum or best value of a money field (the catalogue's amounts: bet_amount, deposit_amount, win_amount...),
and a condition on one (a minimum bet), count in the label's base currency. An amount's currency is the event's own
`currency` field when it has one, else the player's wallet currency; it is converted at the rate of the event's day
(`backoffice.fx`, the book loaded once per label and batch, only when a currency other than the base appears). An
amount with no rate does not count; the batch logs how many, by currency. A custom type's event that carries a
`currency` field has its scored field converted the same way.

Reversals: a reversed credit takes back the tournament points it raised. The reversal's `balance_changed` fact
(source `reversal`, a negative amount) never scores itself; for the batch's reversals, one query finds the credits
they took back (`selectors.credits.reversed_credits`) and one the credits' own `balance_changed` facts. Where that
fact scored in a running instance (in its window, meeting its conditions, the player registered by then), the
participant's score drops by what it added (its amount for a sum, 1 for a count) and the event no longer counts
under the cap. A `best` score cannot be undone exactly (the best value without that event is not kept): it stays.
A credit whose fact is gone (events past their retention) is judged on the ledger's copy of it (its amount,
currency, source and time).

Cache delay: an instance created or a template changed is seen by the handler at most CACHE_SECONDS later. Instances
are published ahead of their start, so in practice no event is missed; a condition edited on a running tournament
applies within that delay, as does a change of the label's settings.
"""

from __future__ import annotations

import math
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import structlog
from django.db import connection

from backoffice.fx import RateBook, rate_book
from backoffice.models import Label
from crm.catalogue import CORE_TYPES, MONEY_FIELDS
from crm.models import AccountStatus
from crm.pipeline import EventRow, handler
from crm.selectors import GamificationPlayer, events_by_source_id, gamification_players
from gamification.conditions import Predicate, conditions_compile
from gamification.facts import BALANCE_CHANGED
from gamification.models import InstanceStatus, RegistrationType, ScoreMethod, TournamentInstance, WalletSource
from gamification.selectors.credits import reversed_credits
from gamification.selectors.tournaments import score_is_money
from gamification.services.audience import audience_members
from gamification.services.leaderboard import (
    Entry,
    ScoreUpdate,
    instances_lock,
    participants_enter_many,
    participants_exclude,
    participants_restore,
    scores_apply,
)

log = structlog.get_logger(__name__)
CACHE_SECONDS = 5.0
ONE = Decimal(1)
_CANDIDATE_STATUSES = (InstanceStatus.PUBLISHED, InstanceStatus.REGISTRATION, InstanceStatus.STARTED)


@dataclass(frozen=True, slots=True)
class Running:
    id: int
    label_id: int
    starts_at: Any
    ends_at: Any
    predicate: Predicate
    method: str
    field: str
    cap: int | None
    auto: bool
    max_players: int | None
    money_conditions: frozenset[str] = frozenset()  # condition fields that are money: compared in the base currency
    money_score: bool = False  # the scored field is money (a catalogue amount)
    custom: bool = False  # a custom event type: its scored field is money when the event carries a `currency`
    audience_id: int | None = None  # only players in this segment score (and are entered automatically)


@dataclass(frozen=True, slots=True)
class LabelRules:
    """A label's running instances by event type, and the settings that decide who scores and in what currency."""

    base_currency: str
    active_players_only: bool
    by_type: dict[str, list[Running]] = field(default_factory=dict)


# label id -> (monotonic expiry, its rules)
_cache: dict[int, tuple[float, LabelRules]] = {}


def cache_clear() -> None:
    """Forget the cached instances (tests change tournaments faster than the cache expires)."""
    _cache.clear()


def _running(instance: TournamentInstance) -> Running:
    t = instance.tournament
    conditions = t.conditions or []
    scored = t.score_method != ScoreMethod.COUNT
    return Running(
        id=instance.pk,
        label_id=instance.label_id,
        starts_at=instance.starts_at,
        ends_at=instance.ends_at,
        predicate=conditions_compile(conditions),
        method=t.score_method,
        field=t.score_field,
        cap=t.max_counted_events,
        auto=t.registration_type == RegistrationType.AUTO,
        max_players=t.max_players,
        money_conditions=frozenset(c["field"] for c in conditions if (t.event_type, c["field"]) in MONEY_FIELDS),
        money_score=score_is_money(t),
        custom=scored and t.event_type not in CORE_TYPES,
        audience_id=t.audience_id,
    )


def _load(label_ids: list[int]) -> dict[int, LabelRules]:
    settings = Label.objects.filter(pk__in=label_ids).values_list("pk", "base_currency", "active_players_only")
    found = {pk: LabelRules(base, active_only, defaultdict(list)) for pk, base, active_only in settings}
    rows = TournamentInstance.objects.filter(label_id__in=label_ids, status__in=_CANDIDATE_STATUSES).select_related(
        "tournament"
    )
    for instance in rows:
        found[instance.label_id].by_type[instance.tournament.event_type].append(_running(instance))
    return found


def rules_by_label(label_ids: set[int]) -> dict[int, LabelRules]:
    now = time.monotonic()
    stale = [label_id for label_id in label_ids if label_id not in _cache or _cache[label_id][0] <= now]
    if stale:
        for label_id, rules in _load(stale).items():
            _cache[label_id] = (now + CACHE_SECONDS, rules)
    return {label_id: _cache[label_id][1] for label_id in label_ids}


def _number(raw: Any) -> Decimal | None:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw) or raw < 0:
        return None  # no usable number: the event does not score
    return Decimal(str(raw))


class _Money:
    """Amounts of one batch into their label's base currency: each label's rate book loaded once, when needed."""

    def __init__(self, rules: dict[int, LabelRules]) -> None:
        self.rules = rules
        self.books: dict[int, RateBook] = {}
        self.unconverted: Counter[tuple[int, str]] = Counter()

    def to_base(self, label_id: int, value: Decimal, currency: str, event: EventRow) -> Decimal | None:
        if not currency or currency == self.rules[label_id].base_currency:
            return value  # a wallet currency not known yet counts in the base currency, as for missions
        if label_id not in self.books:
            self.books[label_id] = rate_book(label_id=label_id)
        converted = self.books[label_id].to_base(value, currency, event.occurred_at)
        if converted is None:
            self.unconverted[(label_id, currency or "none")] += 1
        return converted

    def conditions_payload(self, instance: Running, event: EventRow, currency: str) -> dict[str, Any] | None:
        """The payload the conditions see: money fields in the base currency (None: one has no rate)."""
        fields = instance.money_conditions.intersection(event.payload)
        if not fields or not currency or currency == self.rules[instance.label_id].base_currency:
            return event.payload
        payload = dict(event.payload)
        for name in fields:
            value = _number(payload[name])
            if value is None:
                continue
            converted = self.to_base(instance.label_id, value, currency, event)
            if converted is None:
                return None
            payload[name] = float(converted)  # conditions compare JSON numbers
        return payload

    def log(self) -> None:
        for (label_id, currency), events in sorted(self.unconverted.items()):
            log.info("tournament_amount_without_rate", label_id=label_id, currency=currency, events=events)


@dataclass
class Scan:
    """What a batch means for tournaments: the scores, and who is on a board who should not be (or the reverse)."""

    matches: list[tuple[Running, EventRow, Decimal]] = field(default_factory=list)
    inactive: set[tuple[int, int]] = field(default_factory=set)  # (instance, player): not ACTIVE, setting on
    undos: list[ScoreUpdate] = field(default_factory=list)  # reversed credits' points taken back
    undo_rules: dict[int, tuple[str, int | None]] = field(default_factory=dict)


def _currency(event: EventRow, player: GamificationPlayer) -> tuple[str, bool]:
    """The amounts' currency, and whether the event names it itself. Empty when the player's wallet currency is not
    known yet (created by an event before their profile arrived): such amounts count in the base currency."""
    own = event.payload.get("currency")
    if isinstance(own, str) and own:
        return own.upper(), True
    return player.wallet_currency, False


def _candidate(instance: Running, event: EventRow) -> bool:
    """In the instance's window, and matching its conditions unless one is on money (known once the currency is)."""
    if not (instance.starts_at <= event.occurred_at < instance.ends_at):
        return False
    return bool(instance.money_conditions) or instance.predicate(event.payload)


def _score(instance: Running, event: EventRow, player: GamificationPlayer, money: _Money) -> Decimal | None:
    """The candidate's value in the instance (1 for a count), money in the base currency; None when it does not
    score."""
    currency, own = _currency(event, player)
    if instance.money_conditions:
        payload = money.conditions_payload(instance, event, currency)
        if payload is None or not instance.predicate(payload):
            return None
    if instance.method == ScoreMethod.COUNT:
        return ONE
    value = _number(event.payload.get(instance.field))
    if value is None or not (instance.money_score or (instance.custom and own)):
        return value
    return money.to_base(instance.label_id, value, currency, event)


def _is_reversal(event: EventRow) -> bool:
    return event.type == BALANCE_CHANGED and event.payload.get("source") == WalletSource.REVERSAL


def scan(events: list[EventRow]) -> Scan:
    """Match the batch's events to the running instances of their labels (the bench's ceiling run uses it too)."""
    rules = rules_by_label({event.label_id for event in events})
    candidates = [
        (instance, event)
        for event in events
        for instance in rules[event.label_id].by_type.get(event.type, ())
        if not _is_reversal(event) and _candidate(instance, event)
    ]
    found = Scan()
    reversals = [e for e in events if _is_reversal(e) and rules[e.label_id].by_type.get(BALANCE_CHANGED)]
    if reversals:
        _undos(reversals, rules, found)
    if not candidates:
        return found
    players = gamification_players(player_ids={event.player_id for _, event in candidates})
    audiences = audience_members(  # one statement per audience segment for the batch's players
        segment_ids={instance.audience_id for instance, _ in candidates}, player_ids=players
    )
    money = _Money(rules)
    for instance, event in candidates:
        player = players.get(event.player_id)
        if player is None or player.control_group:
            continue
        if instance.audience_id is not None and event.player_id not in audiences[instance.audience_id]:
            continue  # outside the tournament's audience: scores nothing, is not entered
        if rules[event.label_id].active_players_only and player.account_status != AccountStatus.ACTIVE:
            found.inactive.add((instance.id, event.player_id))
            continue
        value = _score(instance, event, player, money)
        if value is not None:
            found.matches.append((instance, event, value))
    money.log()
    return found


@dataclass(frozen=True, slots=True)
class _Credit:
    """A reversed credit as its own `balance_changed` fact scored it: its time and payload."""

    occurred_at: Any
    payload: dict[str, Any]


def _credits_taken_back(reversals: list[EventRow]) -> dict[int, _Credit]:
    """Reversal fact id -> the credit it took back, as that credit's fact (two queries for the whole batch)."""
    entry_ids: dict[int, int] = {
        e.id: e.payload["entry_id"] for e in reversals if isinstance(e.payload.get("entry_id"), int)
    }
    credits = reversed_credits(reversal_ids=entry_ids.values())
    if not credits:
        return {}
    labels = {e.label_id for e in reversals}
    keys = [f"wallet:{c.credit_id}" for c in credits.values()]
    by_key = events_by_source_id(label_ids=labels, type=BALANCE_CHANGED, event_ids=keys)
    found: dict[int, _Credit] = {}
    for e in reversals:
        credit = credits.get(entry_ids.get(e.id, 0))
        if credit is None:
            continue
        fact = by_key.get((e.label_id, f"wallet:{credit.credit_id}"))
        if fact is None:  # the fact is gone: the ledger's copy of the credit
            payload = {"currency": credit.currency, "amount": credit.amount, "source": credit.source,
                       "entry_id": credit.credit_id}  # fmt: skip
            fact = (credit.credited_at, payload)
        found[e.id] = _Credit(*fact)
    return found


def _undos(reversals: list[EventRow], rules: dict[int, LabelRules], found: Scan) -> None:
    """The points to take back for the batch's reversals: each credit's fact that scored in a running instance."""
    credits = _credits_taken_back(reversals)
    players = gamification_players(player_ids={e.player_id for e in reversals if e.id in credits})
    for event in reversals:
        credit, player = credits.get(event.id), players.get(event.player_id)
        if credit is None or player is None or player.control_group:
            continue
        original = EventRow(event.id, event.label_id, event.player_id, BALANCE_CHANGED, credit.occurred_at,
                            event.received_at, credit.payload)  # fmt: skip
        for instance in rules[event.label_id].by_type[BALANCE_CHANGED]:
            if not _candidate(instance, original) or not instance.predicate(credit.payload):
                continue
            value = ONE if instance.method == ScoreMethod.COUNT else _number(credit.payload.get(instance.field))
            if value is None:
                continue
            found.undos.append(ScoreUpdate(instance.id, event.player_id, event.id, value, credit.occurred_at, True))
            found.undo_rules[instance.id] = (instance.method, instance.cap)


def score_matches(events: list[EventRow]) -> list[tuple[Running, EventRow, Decimal]]:
    """(instance, event, value) for each running instance an event scores in."""
    return scan(events).matches


_CONFIRM = """
SELECT 'live', id, 0 FROM gamification_tournamentinstance WHERE id = ANY(%(locked)s)
  AND (status = 'started' OR (status IN ('published', 'registration') AND starts_at <= now()))
UNION ALL SELECT 'excluded', instance_id, player_id FROM gamification_tournamentparticipant
  WHERE status = 'excluded' AND instance_id = ANY(%(locked)s) AND player_id = ANY(%(active)s)
UNION ALL SELECT 'registered', p.instance_id, p.player_id FROM gamification_tournamentparticipant p
  JOIN unnest(%(inactive_i)s::bigint[], %(inactive_p)s::bigint[]) AS w(instance_id, player_id)
    ON p.instance_id = w.instance_id AND p.player_id = w.player_id
  WHERE p.status = 'registered'
"""


@dataclass
class Confirmed:
    live: set[int] = field(default_factory=set)
    excluded: set[tuple[int, int]] = field(default_factory=set)  # off the board, whose player scores now
    registered: set[tuple[int, int]] = field(default_factory=set)  # on the board, whose player is not ACTIVE


def _confirm(instance_ids: list[int], active: list[int], inactive: list[tuple[int, int]]) -> Confirmed:
    """The instances running now, and the participants of the batch's players who must move on or off the board.

    Each instance's advisory lock is taken shared, without waiting: only its finalization holds it alone, and then
    the instance no longer scores anyway (waiting could also deadlock with a finalization that waits for a wallet
    row an earlier handler of this batch holds).
    """
    found = Confirmed()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM unnest(%s::bigint[]) AS id"
            " WHERE pg_try_advisory_xact_lock_shared(hashtextextended('tournament-instance:' || id, 0))",
            [instance_ids],
        )
        locked = [row[0] for row in cursor.fetchall()]
        # A new statement, so a new snapshot: a finalization that committed meanwhile is seen. Running means started,
        # or due to start with the beat not there yet (a failed start later makes these scores moot).
        # Off-board rows are few (their own small index); registered ones of the inactive pairs are looked up by key.
        params = {"locked": locked, "active": active}
        params |= {"inactive_i": [i for i, _ in inactive], "inactive_p": [p for _, p in inactive]}
        cursor.execute(_CONFIRM, params)
        for kind, instance_id, player_id in cursor.fetchall():
            if kind == "live":
                found.live.add(instance_id)
            else:
                getattr(found, kind).add((instance_id, player_id))
    return found


@handler("tournaments", group="gamification", order=40)
def score_tournaments(events: list[EventRow]) -> None:
    """Apply the batch's scores to the running tournaments of its labels."""
    found = scan(events)
    if not found.matches and not found.inactive and not found.undos:
        return
    scoring = {(m[0].id, m[1].player_id) for m in found.matches}
    confirmed = _confirm(
        sorted({i for i, _ in scoring | found.inactive} | set(found.undo_rules)),
        sorted({p for _, p in scoring}),
        sorted(found.inactive),
    )
    matches = [m for m in found.matches if m[0].id in confirmed.live]
    restore = {pair for pair in confirmed.excluded if pair[0] in confirmed.live and pair in scoring}
    exclude = {pair for pair in confirmed.registered if pair[0] in confirmed.live}
    _boards_write(matches, restore, exclude)
    undos = [u for u in found.undos if u.instance_id in confirmed.live]
    if not matches and not undos:
        return
    updates = [ScoreUpdate(i.id, e.player_id, e.id, value, e.occurred_at) for i, e, value in matches]
    rules = {instance.id: (instance.method, instance.cap) for instance, _, _ in matches}
    scores_apply(updates=updates + undos, rules=rules | found.undo_rules)


def _boards_write(matches, restore: set[tuple[int, int]], exclude: set[tuple[int, int]]) -> None:
    """Who comes back, enters or leaves each board: players ACTIVE again are put back, the scoring players of
    automatic tournaments not yet in are entered (all instances in one go, which locks only the instances someone
    enters), players not ACTIVE are taken off. The instance rows are locked in id order, the same order in every
    batch (no deadlock): when players come back or leave (rare), every instance this batch may write is locked
    first."""
    instances = {instance.id: instance for instance, _, _ in matches}
    enter: dict[int, set[int]] = defaultdict(set)
    for instance, event, _ in matches:
        if instance.auto:
            enter[instance.id].add(event.player_id)
    moved = sorted({i for i, _ in restore | exclude})
    if moved:
        instances_lock(instance_ids=[*moved, *enter])
    for instance_id in moved:
        participants_restore(instance_id=instance_id, player_ids=[p for i, p in restore if i == instance_id])
    if enter:
        # Entered as of the batch's first event: a score's time is then when the player's own events reached it, so
        # a tie goes to who reached it first, not to the order of entry.
        participants_enter_many(
            entries=[
                Entry(i, instances[i].label_id, sorted(players), instances[i].max_players)
                for i, players in sorted(enter.items())
            ],
            at=min(event.occurred_at for _, event, _ in matches),
        )
    for instance_id in moved:
        participants_exclude(instance_id=instance_id, player_ids=[p for i, p in exclude if i == instance_id])
