"""Rewards of a micro-batch given in bulk: the points, gems, diamonds and badges of every run it completed, and the
levels that follow, in one statement per kind whatever the number of rewards.

The same rows and facts as `wallet_adjust` and `badge_award` give one at a time: a ledger entry per currency keyed
`<reward key>:<currency>`, a badge award keyed `<reward key>:badge`, each claimed with `INSERT ... ON CONFLICT DO
NOTHING` on its unique key, so a replayed batch gives nothing twice; balances move only by what was inserted, in one
upsert of the players' wallets; `balance_changed`, `level_changed` and `badge_earned` facts commit with them.
Credits only (a reward is never negative), so no balance can go below zero. Players in the gamification control
group, and players whose account is not ACTIVE when their label's `active_players_only` is on, are given nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import structlog
from django.db import connection

from backoffice.models import Label
from crm.models import Player
from crm.models.players import AccountStatus
from gamification.facts import BADGE_EARNED, BALANCE_CHANGED, Fact, facts_emit
from gamification.models import Badge, BadgeStage, Currency, Level, WalletEntry
from gamification.services.levels import level_changed_emit, level_changed_fact
from gamification.services.wallet import (
    AUTOMATED_SOURCES,
    MAX_BALANCE,
    ControlGroup,
    IdempotencyConflict,
    Withheld,
    adjustment_validate,
    balance_too_large,
    credits_withheld_record,
)

log = structlog.get_logger(__name__)

CURRENCIES = (Currency.POINTS, Currency.GEMS, Currency.DIAMONDS)


@dataclass(frozen=True)
class Reward:
    """What one player is given for one reason (a mission run...): `key` is unique per label and reason."""

    player: Player
    key: str  # entries are keyed f"{key}:{currency}", the badge award f"{key}:badge"
    source: str  # a WalletSource; also the badge award's source
    reason: str = ""
    points: int = 0
    gems: int = 0
    diamonds: int = 0
    badge: Badge | None = None


def rewards_give(*, rewards: Sequence[Reward]) -> None:
    """Give `rewards` inside the caller's transaction, label by label, each reward at most once per key."""
    by_label: dict[int, list[Reward]] = defaultdict(list)
    for reward in rewards:
        by_label[reward.player.label_id].append(reward)
    for label_id, label_rewards in by_label.items():
        given = _eligible(label_id, label_rewards)
        entries = _entries_insert(label_id, given)
        if entries:
            _balances_apply(label_id, given, entries)
        _badges_award(label_id, [r for r in given if r.badge is not None])


def _json(rows) -> str:
    return orjson.dumps(rows).decode()


def _eligible(label_id: int, rewards: list[Reward]) -> list[Reward]:
    """The rewards to give. The control group's are dropped (logged); those of players whose account is not ACTIVE
    (the label's setting on) are recorded as withheld, each credit and badge under the key it would have had."""
    active_only = Label.objects.filter(pk=label_id).values_list("active_players_only", flat=True).first()
    given, withheld = [], []
    for reward in rewards:
        player = reward.player
        inactive = active_only and player.core_account_status != AccountStatus.ACTIVE
        if player.ach_gamification_in_control_group or inactive:
            log.info("reward_withheld", key=reward.key, player_id=player.pk, account_status=player.core_account_status)
            if not player.ach_gamification_in_control_group:
                withheld.extend(_withheld(reward))
            continue
        given.append(reward)
    credits_withheld_record(credits=withheld)
    return given


def _withheld(reward: Reward) -> list[Withheld]:
    found = [
        Withheld(reward.player, currency, amount, reward.source, f"{reward.key}:{currency}", reward.reason)
        for currency in CURRENCIES
        if (amount := int(getattr(reward, currency))) > 0
    ]
    if reward.badge is not None and reward.badge.label_id == reward.player.label_id:
        reason = reward.reason or f"Badge: {reward.badge.name}"
        found.append(Withheld(reward.player, "", 0, reward.source, f"{reward.key}:badge", reason, badge=reward.badge))
    return found


def _entries_insert(label_id: int, rewards: list[Reward]) -> list[tuple[int, int, str, int, str]]:
    """Claim the ledger entries by key; return those inserted: (id, player id, currency, amount, key), in id order."""
    rows: list[list[Any]] = [
        [r.player.pk, currency, amount, currency == Currency.POINTS, r.source, f"{r.key}:{currency}", r.reason[:500]]
        for r in rewards
        for currency in CURRENCIES
        if (amount := int(getattr(r, currency))) > 0
    ]
    if not rows:
        return []
    rows.sort(key=lambda row: row[5])  # a fixed order: concurrent batches claim keys without deadlocking
    return _entries_claim(label_id, rows)


def _entries_claim(label_id: int, rows: list[list[Any]]) -> list[tuple[int, int, str, int, str]]:
    """Insert the entries of `rows` ([player id, currency, amount, counts as earned, source, key, reason]) in their
    order (their ids follow it) unless their key exists; return those inserted: (id, player id, currency, amount,
    key), in id order."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO gamification_walletentry"
            " (label_id, player_id, currency, amount, counts_as_earned, source, key, reason, created_at)"
            " SELECT %s, (r->>0)::bigint, r->>1, (r->>2)::bigint, (r->>3)::bool, r->>4, r->>5, r->>6, now()"
            " FROM jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS t(r, n) ORDER BY n"
            " ON CONFLICT (label_id, key) DO NOTHING RETURNING id, player_id, currency, amount, key",
            [label_id, _json(rows)],
        )
        return sorted(cursor.fetchall())


def _balances_apply(label_id: int, rewards: list[Reward], entries: list[tuple[int, int, str, int, str]]) -> None:
    """Add the inserted entries to the wallets in one upsert; emit each entry's `balance_changed` fact (with the
    balance right after it) and the levels that change."""
    deltas: dict[int, dict[str, int]] = defaultdict(lambda: dict.fromkeys(CURRENCIES, 0))
    for _, player_id, currency, amount, _ in entries:
        deltas[player_id][currency] += amount
    wallets = _wallets_add(label_id, deltas)
    players = {r.player.pk: r.player for r in rewards}
    source = {f"{r.key}:{c}": r.source for r in rewards for c in CURRENCIES}
    balance: dict[tuple[int, str], int] = {(p, c): wallets[p][i] for p in wallets for i, c in enumerate(CURRENCIES)}
    facts = []
    for entry_id, player_id, currency, amount, key in reversed(entries):  # newest first: walk the balance back
        after = balance[(player_id, currency)]
        balance[(player_id, currency)] = after - amount
        payload = {
            "currency": currency,
            "amount": amount,
            "balance": after,
            "source": source[key],
            "entry_id": entry_id,
        }
        facts.append(Fact(players[player_id], BALANCE_CHANGED, f"wallet:{entry_id}", payload))
    facts_emit(label_id=label_id, facts=reversed(facts))
    last_points = {p: e for e, p, c, *_ in entries if c == Currency.POINTS}
    _levels_follow(label_id, players, wallets, last_points)


def _wallets_add(label_id: int, deltas: dict[int, dict[str, int]]) -> dict[int, tuple]:
    """Add earned credits (player id -> currency -> amount; points count as earned and for tournaments) to the
    wallets in one upsert, in player order; return player id -> (points, gems, diamonds, points_earned, level_id,
    level_floor_id) after it."""
    rows = [[p, d[Currency.POINTS], d[Currency.GEMS], d[Currency.DIAMONDS]] for p, d in sorted(deltas.items())]
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO gamification_wallet AS w (player_id, label_id, points, points_earned, points_tournament,"
            " gems, diamonds, updated_at)"
            " SELECT (r->>0)::bigint, %s, (r->>1)::bigint, (r->>1)::bigint, (r->>1)::bigint, (r->>2)::bigint,"
            " (r->>3)::bigint, now() FROM jsonb_array_elements(%s::jsonb) r"
            " ON CONFLICT (player_id) DO UPDATE SET points = w.points + EXCLUDED.points,"
            " points_earned = w.points_earned + EXCLUDED.points_earned,"
            " points_tournament = w.points_tournament + EXCLUDED.points_tournament,"
            " gems = w.gems + EXCLUDED.gems, diamonds = w.diamonds + EXCLUDED.diamonds, updated_at = now()"
            " RETURNING w.player_id, w.points, w.gems, w.diamonds, w.points_earned, w.level_id, w.level_floor_id",
            [label_id, _json(rows)],
        )
        return {row[0]: row[1:] for row in cursor.fetchall()}


def _levels_follow(label_id: int, players: dict[int, Player], wallets: dict, last_points: dict[int, int]) -> None:
    """The level of each player whose ever-earned points rose: the highest their points reach (else the default
    level), never below a level bought in the store; one UPDATE for those that change, a fact for each."""
    if not last_points:
        return
    levels = {level.pk: level for level in Level.objects.for_label(label_id)}
    if not levels:
        return
    ladder = sorted(levels.values(), key=lambda level: level.required_points)
    default = next((level for level in ladder if level.is_default), None)
    changes = []
    for player_id in sorted(last_points):
        _, _, _, earned, level_id, floor_id = wallets[player_id]
        reached = [level for level in ladder if level.required_points <= earned]
        level = reached[-1] if reached else default
        floor = levels.get(floor_id)
        if floor is not None and (level is None or floor.required_points > level.required_points):
            level = floor
        if level is not None and level.pk != level_id:
            changes.append([player_id, level.pk])
    if not changes:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE gamification_wallet AS w SET level_id = (r->>1)::bigint"
            " FROM jsonb_array_elements(%s::jsonb) r, gamification_wallet AS old"
            " WHERE w.player_id = (r->>0)::bigint AND old.player_id = w.player_id"
            " AND w.level_id IS DISTINCT FROM (r->>1)::bigint RETURNING w.player_id, w.level_id, old.level_id",
            [_json(changes)],
        )
        for player_id, level_id, previous_id in cursor.fetchall():
            key = f"level:{player_id}:{level_id}:{last_points[player_id]}"
            level_changed_emit(
                player=players[player_id], level=levels[level_id], previous=levels.get(previous_id), key=key
            )


def _badges_award(label_id: int, rewards: list[Reward]) -> None:
    """Each reward's badge at the player's next stage, one INSERT for all; an inactive badge, or one whose last
    stage the player holds, is skipped (logged) and the rest stands, as `badge_award` refuses them."""
    given = [(r, r.badge) for r in rewards if r.badge is not None and r.badge.label_id == label_id]
    if not given:
        return
    badge_ids = sorted({badge.pk for _, badge in given})
    stages: dict[int, dict[int, str]] = defaultdict(dict)
    for badge_id, number, name in BadgeStage.objects.filter(badge_id__in=badge_ids).values_list(
        "badge_id", "number", "name"
    ):
        stages[badge_id][number] = name
    held = _stages_held(sorted({r.player.pk for r, _ in given}), badge_ids)
    rows = []
    for reward, badge in sorted(given, key=lambda pair: pair[0].key):
        player_id = reward.player.pk
        stage = held.get((player_id, badge.pk), 0) + 1
        if not badge.is_active or stage > max(len(stages[badge.pk]), 1):
            code = "inactive" if not badge.is_active else "max_stage"
            log.info("reward_badge_refused", key=reward.key, badge_id=badge.pk, code=code)
            continue
        held[(player_id, badge.pk)] = stage
        rows.append([player_id, badge.pk, stage, reward.source, f"{reward.key}:badge", reward.reason[:500]])
    if not rows:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO gamification_badgeaward (label_id, player_id, badge_id, stage, source, key, reason,"
            " created_at) SELECT %s, (r->>0)::bigint, (r->>1)::bigint, (r->>2)::int, r->>3, r->>4, r->>5, now()"
            " FROM jsonb_array_elements(%s::jsonb) r ON CONFLICT DO NOTHING RETURNING id, player_id, badge_id, stage",
            [label_id, _json(rows)],
        )
        awarded = sorted(cursor.fetchall())
    players = {r.player.pk: r.player for r, _ in given}
    badges = {badge.pk: badge for _, badge in given}
    facts = []
    for award_id, player_id, badge_id, stage in awarded:
        payload = {"badge_id": badge_id, "badge_name": badges[badge_id].name[:255], "stage": stage}
        if stages[badge_id].get(stage):
            payload["stage_name"] = stages[badge_id][stage]
        facts.append(Fact(players[player_id], BADGE_EARNED, f"badge_award:{award_id}", payload))
    facts_emit(label_id=label_id, facts=facts)


def _stages_held(player_ids: list[int], badge_ids: list[int]) -> dict[tuple[int, int], int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT player_id, badge_id, max(stage) FROM gamification_badgeaward"
            " WHERE player_id = ANY(%s) AND badge_id = ANY(%s) GROUP BY player_id, badge_id",
            [player_ids, badge_ids],
        )
        return {(p, b): stage for p, b, stage in cursor.fetchall()}


# --- credits under the caller's own keys, decided one at a time and written together (rule effects) ---------------


@dataclass(frozen=True)
class Credit:
    """One automated credit under the caller's own `key`, as `wallet_adjust` takes it (counts as earned)."""

    player: Player
    currency: str
    amount: int
    source: str
    key: str
    reason: str = ""


@dataclass
class CreditOutcome:
    """A credit added to a `CreditBatch`: `applied` (its entry's id set by `flush`; `created` False for a key used
    before, a replay) or `withheld` (the account is not ACTIVE)."""

    status: str
    entry_id: int | None = None
    created: bool = True


class CreditBatch:
    """Credits decided one at a time, in order, with `wallet_adjust`'s outcome for each, and written together.

    `add` refuses what `wallet_adjust` refuses before writing, with the same errors (validation, `ControlGroup`, a
    balance above MAX_BALANCE), counting the credits added before it, and otherwise returns the credit's outcome:
    withheld (the account is not ACTIVE and the label's `active_players_only` is on) or applied. `flush` writes every
    credit added since the last flush, per label: the entries in the order added (one INSERT), the wallets (one
    upsert), each entry's `balance_changed` fact with the balance right after it and, for points, the level
    `level_recompute` would set after it with its `level_changed` fact, in the order `wallet_adjust` one at a time
    emits them (one ingest); the levels that changed in one UPDATE; withheld credits recorded once per key.

    The players' wallets are read once, when the batch is made; a caller that must read or take back balances
    between credits (a debit) flushes first. Credits only, so no balance goes below zero.
    """

    def __init__(self, *, players: Iterable[Player]):
        self._players = {p.pk: p for p in players}
        self._balances: dict[tuple[int, str], int] = defaultdict(int)
        self._withholding: set[int] = set()  # labels that give nothing to players whose account is not ACTIVE
        self._pending: list[tuple[Credit, CreditOutcome]] = []
        if self._players:
            self._wallets_read()

    def _wallets_read(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT player_id, points, points_earned, points_tournament, gems, diamonds FROM gamification_wallet"
                " WHERE player_id = ANY(%s)",
                [sorted(self._players)],
            )
            for player_id, *values in cursor.fetchall():
                for column, value in zip(_COLUMNS, values, strict=True):
                    self._balances[(player_id, column)] = value
        inactive = {p.label_id for p in self._players.values() if p.core_account_status != AccountStatus.ACTIVE}
        if inactive:
            self._withholding = set(
                Label.objects.filter(pk__in=inactive, active_players_only=True).values_list("pk", flat=True)
            )

    def add(self, credit: Credit) -> CreditOutcome:
        """Decide `credit` as `wallet_adjust` would after the credits added before it; raises as it raises."""
        adjustment_validate(currency=credit.currency, amount=credit.amount, source=credit.source, key=credit.key,
                            reason=credit.reason)  # fmt: skip
        if credit.amount < 0:
            raise ValueError("A batch takes credits only; a debit goes through wallet_adjust.")
        player = credit.player
        if player.ach_gamification_in_control_group:
            raise ControlGroup("The player is in the gamification control group: they earn nothing.")
        if (
            credit.source in AUTOMATED_SOURCES
            and player.label_id in self._withholding
            and player.core_account_status != AccountStatus.ACTIVE
        ):
            outcome = CreditOutcome("withheld", created=False)
            self._pending.append((credit, outcome))
            return outcome
        columns = _EARNED if credit.currency == Currency.POINTS else (credit.currency,)
        if any(self._balances[(player.pk, c)] + credit.amount > MAX_BALANCE for c in columns):
            if not WalletEntry.objects.filter(label_id=player.label_id, key=credit.key).exists():
                raise balance_too_large()
            outcome = CreditOutcome("applied")  # a key used before: `wallet_adjust` replays it before any check
            self._pending.append((credit, outcome))
            return outcome
        for column in columns:
            self._balances[(player.pk, column)] += credit.amount
        outcome = CreditOutcome("applied")
        self._pending.append((credit, outcome))
        return outcome

    def flush(self) -> None:
        """Write the credits added since the last flush, inside the caller's transaction."""
        pending, self._pending = self._pending, []
        by_label: dict[int, list[tuple[Credit, CreditOutcome]]] = defaultdict(list)
        for credit, outcome in pending:
            by_label[credit.player.label_id].append((credit, outcome))
        for label_id, items in by_label.items():
            withheld = [(c, o) for c, o in items if o.status == "withheld"]
            if withheld:
                _credits_withhold(label_id, withheld)
            given = [(c, o) for c, o in items if o.status == "applied"]
            if given:
                _credits_write(label_id, given)


_COLUMNS = ("points", "points_earned", "points_tournament", "gems", "diamonds")
_EARNED = (Currency.POINTS, "points_earned", "points_tournament")


def _credits_withhold(label_id: int, items: list[tuple[Credit, CreditOutcome]]) -> None:
    """Record withheld credits once per key, as `wallet_adjust` does; a key already applied is a plain replay."""
    known = dict(WalletEntry.objects.filter(label_id=label_id, key__in=[c.key for c, _ in items]).values_list(
        "key", "id"))  # fmt: skip
    for credit, outcome in items:
        if credit.key in known:
            outcome.status, outcome.entry_id = "applied", known[credit.key]
    credits_withheld_record(
        credits=[
            Withheld(c.player, c.currency, c.amount, c.source, c.key, c.reason) for c, _ in items if c.key not in known
        ]
    )


def _credits_write(label_id: int, items: list[tuple[Credit, CreditOutcome]]) -> None:
    rows = [[c.player.pk, c.currency, c.amount, c.currency == Currency.POINTS, c.source, c.key, c.reason[:500]]
            for c, _ in items]  # fmt: skip
    entries = _entries_claim(label_id, rows)
    by_key = {key: entry_id for entry_id, _, _, _, key in entries}
    if len(entries) < len(items):
        _replays(label_id, [c for c, _ in items if c.key not in by_key], by_key)
    inserted = {entry_id for entry_id, *_ in entries}
    for credit, outcome in items:
        outcome.entry_id = by_key[credit.key]
        outcome.created = outcome.entry_id in inserted
    if not entries:
        return
    deltas: dict[int, dict[str, int]] = defaultdict(lambda: dict.fromkeys(CURRENCIES, 0))
    for _, player_id, currency, amount, _ in entries:
        deltas[player_id][currency] += amount
    wallets = _wallets_add(label_id, deltas)
    source = {c.key: c.source for c, _ in items}
    players = {c.player.pk: c.player for c, _ in items}
    facts, levels = _credit_facts(label_id, entries, wallets, players, source)
    if levels:
        _levels_set(levels)
    facts_emit(label_id=label_id, facts=facts)


def _replays(label_id: int, credits: list[Credit], by_key: dict[str, int]) -> None:
    """Keys used before: the first entry stands if it is the same credit (`wallet_adjust`'s replay), else conflict."""
    found = {
        key: (entry_id, player_id, currency, amount)
        for entry_id, key, player_id, currency, amount in WalletEntry.objects.filter(
            label_id=label_id, key__in=[c.key for c in credits]
        ).values_list("id", "key", "player_id", "currency", "amount")
    }
    for credit in credits:
        entry_id, *same = found[credit.key]
        if tuple(same) != (credit.player.pk, credit.currency, credit.amount):
            raise IdempotencyConflict("This idempotency key was already used for a different adjustment.")
        by_key[credit.key] = entry_id


def _credit_facts(label_id: int, entries, wallets: dict, players: dict[int, Player], source: dict[str, str]):
    """Each inserted entry's `balance_changed` fact with the balance right after it and, after a points entry, the
    `level_changed` fact `level_recompute` would emit there: (the facts in that order, player id -> final level id
    for the wallets whose level changes)."""
    after: dict[tuple[int, str], int] = {}
    earned_after: dict[int, int] = {}
    for player_id, (points, gems, diamonds, earned, _, _) in wallets.items():
        after.update({(player_id, "points"): points, (player_id, "gems"): gems, (player_id, "diamonds"): diamonds})
        earned_after[player_id] = earned
    balance, earned_at = {}, {}
    for entry_id, player_id, currency, amount, _ in reversed(entries):  # newest first: walk the balances back
        balance[entry_id] = after[(player_id, currency)]
        after[(player_id, currency)] -= amount
        if currency == Currency.POINTS:
            earned_at[entry_id] = earned_after[player_id]
            earned_after[player_id] -= amount
    ladder = _Ladder(label_id) if earned_at else None
    current = {player_id: wallet[4] for player_id, wallet in wallets.items()}
    facts, changed = [], {}
    for entry_id, player_id, currency, amount, key in entries:
        payload = {"currency": currency, "amount": amount, "balance": balance[entry_id], "source": source[key],
                   "entry_id": entry_id}  # fmt: skip
        facts.append(Fact(players[player_id], BALANCE_CHANGED, f"wallet:{entry_id}", payload))
        if ladder is None or entry_id not in earned_at:
            continue
        level = ladder.level(earned_at[entry_id], floor_id=wallets[player_id][5])
        new_id = level.pk if level else None
        if new_id == current[player_id]:
            continue
        if level is not None:
            key = f"level:{player_id}:{level.pk}:{entry_id}"
            previous = ladder.by_id.get(current[player_id]) if current[player_id] else None
            facts.append(level_changed_fact(player=players[player_id], level=level, previous=previous, key=key))
        current[player_id] = changed[player_id] = new_id
    return facts, changed


class _Ladder:
    """A label's levels, read once: the level `level_recompute` gives for ever-earned points and a store floor."""

    def __init__(self, label_id: int):
        self.by_id = {level.pk: level for level in Level.objects.for_label(label_id)}
        self.ladder = sorted(self.by_id.values(), key=lambda level: level.required_points)
        self.default = next((level for level in self.ladder if level.is_default), None)

    def level(self, earned: int, *, floor_id: int | None) -> Level | None:
        reached = [level for level in self.ladder if level.required_points <= earned]
        level = reached[-1] if reached else self.default
        floor = self.by_id.get(floor_id) if floor_id else None
        if floor is None and floor_id:
            floor = Level.objects.filter(pk=floor_id).first()
        if floor is not None and (level is None or floor.required_points > level.required_points):
            level = floor  # a level bought in the store is kept until the points pass it
        return level


def _levels_set(levels: dict[int, int | None]) -> None:
    rows = [[player_id, level_id] for player_id, level_id in sorted(levels.items())]
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE gamification_wallet AS w SET level_id = (r->>1)::bigint FROM jsonb_array_elements(%s::jsonb) r"
            " WHERE w.player_id = (r->>0)::bigint",
            [_json(rows)],
        )
