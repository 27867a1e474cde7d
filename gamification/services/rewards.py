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
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import structlog
from django.db import connection

from backoffice.models import Label
from crm.models import Player
from crm.models.players import AccountStatus
from gamification.facts import BADGE_EARNED, BALANCE_CHANGED, Fact, facts_emit
from gamification.models import Badge, BadgeStage, Currency, Level
from gamification.services.levels import level_changed_emit
from gamification.services.wallet import Withheld, credits_withheld_record

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
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO gamification_walletentry"
            " (label_id, player_id, currency, amount, counts_as_earned, source, key, reason, created_at)"
            " SELECT %s, (r->>0)::bigint, r->>1, (r->>2)::bigint, (r->>3)::bool, r->>4, r->>5, r->>6, now()"
            " FROM jsonb_array_elements(%s::jsonb) r"
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
        wallets = {row[0]: row[1:] for row in cursor.fetchall()}
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
