"""Firing rules: claim each effect once, skip what responsible gambling, the control group or a cap forbids, apply
the activities, record the outcome and the stats. Shared by the real-time handler and the scheduled runs.

Per batch: one INSERT ... ON CONFLICT DO NOTHING claims every effect (a replay claims nothing and so does nothing),
one query loads the players, one UPDATE writes the outcomes, one upsert the stats. Per effect: the caps' conditional
upserts (only for rules that have caps) and the activities' own writes, each with its unique key. Ledger credits are
decided per effect, in order, and written together (`gamification.services.rewards.CreditBatch`: the same entries,
balances, facts and levels as `wallet_adjust` one at a time, in a few statements per batch); a rule that debits or
awards a badge has the credits before it written first, and writes its own as it goes.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson
import structlog
from django.db import connection, transaction

from backoffice.errors import DomainError, DomainValidationError
from crm.automation import activities as acts
from crm.automation.rules_cache import CompiledRule, period_key
from crm.models import AccountStatus, Player

log = structlog.get_logger(__name__)


CREDITS_IN_BULK = True  # False: each credit through `wallet_adjust` at once (the reference the tests compare with)


@dataclass
class Firing:
    """A rule that matched for a player: on an event (real-time) or in a scheduled run."""

    rule: CompiledRule
    player_id: int
    at: dt.datetime
    event_id: int | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    run_id: int | None = None
    effect_id: int | None = None


@dataclass
class Outcome:
    status: str  # applied / skipped / failed
    reason: str = ""
    results: list[dict[str, Any]] = field(default_factory=list)


class _RollBack(Exception):
    """Roll an effect's savepoint back (a cap refused it, or every activity was refused)."""


def effects_fire(firings: Sequence[Firing], *, label_settings: dict[int, tuple[bool, str]]) -> list[Outcome | None]:
    """Claim and apply `firings` in order; return each one's outcome (None: already claimed before, a replay).

    `label_settings`: label id -> (active_players_only, time zone)."""
    if not firings:
        return []
    claimed = _claim(firings)
    todo = [f for f in firings if f.effect_id is not None]
    if not todo:
        return [None] * len(firings)
    # No activity reads email or phone (a webhook body names only `player_fields`): they are not decrypted.
    found = Player.objects.filter(pk__in={f.player_id for f in todo}).select_related("brand")
    players = {p.pk: p for p in found.defer("user_email", "user_phone")}
    states = states_load(player_ids={f.player_id for f in todo if f.rule.uses_state})
    credited = {f.player_id for f in todo if f.rule.credits}
    credits = _Credits([players[pk] for pk in sorted(credited)]) if credited and CREDITS_IN_BULK else None
    outcomes: dict[int, Outcome] = {}
    for firing in todo:
        assert firing.effect_id is not None  # claimed
        active_only, tz = label_settings[firing.rule.label_id]
        player = players[firing.player_id]
        batch = credits
        if credits is not None and firing.rule.reads_wallet:
            credits.flush()  # what it reads must be written; its own credits go one at a time
            batch = None
        outcomes[firing.effect_id] = _fire_one(firing, player, active_only, tz, states.get(player.pk, {}), batch)
    if credits is not None:
        credits.flush()
    _outcomes_write(outcomes)
    _stats_add(todo, outcomes)
    log.debug("rules_fired", effects=len(todo), replayed=len(firings) - claimed)
    return [outcomes.get(f.effect_id) if f.effect_id is not None else None for f in firings]


_CLAIM = """
INSERT INTO crm_ruleeffect (label_id, rule_id, player_id, event_id, run_id, status, reason, results, created_at)
SELECT l, r, p, e, n, 'applied', '', '[]', now()
  FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[], %s::int[]) AS t(l, r, p, e, n, i)
 ORDER BY i
ON CONFLICT DO NOTHING
RETURNING id, rule_id, player_id, event_id, run_id
"""


def _claim(firings: Sequence[Firing]) -> int:
    """Insert every effect not yet there; set `effect_id` on those claimed now. Return how many."""
    with connection.cursor() as cursor:
        cursor.execute(
            _CLAIM,
            [
                [f.rule.label_id for f in firings],
                [f.rule.id for f in firings],
                [f.player_id for f in firings],
                [f.event_id for f in firings],
                [f.run_id for f in firings],
                list(range(len(firings))),
            ],
        )
        rows = cursor.fetchall()
    index = {(f.rule.id, f.player_id, f.event_id, f.run_id): f for f in firings}
    for effect_id, rule_id, player_id, event_id, run_id in rows:
        index[(rule_id, player_id, event_id, run_id)].effect_id = effect_id
    return len(rows)


class _Credits:
    """The batch's ledger credits: decided per effect, in order, written together by `flush`, which then fills in
    each credit's result (its entry id)."""

    def __init__(self, players: list[Player]):
        from gamification.services.rewards import CreditBatch

        self.batch = CreditBatch(players=players)
        self.results: list[tuple[Any, dict[str, Any]]] = []  # (CreditOutcome, the activity's result to finish)

    def flush(self) -> None:
        self.batch.flush()
        for outcome, result in self.results:
            result["status"] = outcome.status  # a withheld key applied before is a replay: applied
            if outcome.status == "applied":
                result["entry_id"] = outcome.entry_id
        self.results = []


def _fire_one(
    firing: Firing, player: Player, active_only: bool, tz: str, state: dict, credits: _Credits | None
) -> Outcome:
    rule = firing.rule
    if active_only and player.core_account_status != AccountStatus.ACTIVE:
        return Outcome("skipped", f"not_active: account {player.core_account_status or 'unknown'}")
    if player.ach_gamification_in_control_group and rule.gamification_only:
        return Outcome("skipped", "control_group")
    if not rule.has_counters:
        return _activities_apply(firing, player, state, credits)
    try:
        with transaction.atomic():
            if not _counters_take(firing, tz):
                raise _RollBack("capped")
            outcome = _activities_apply(firing, player, state, credits)
            if outcome.status == "failed":
                raise _RollBack(outcome.reason)
            return outcome
    except _RollBack as exc:
        if str(exc) == "capped":
            return Outcome("skipped", "capped")
        return Outcome("failed", str(exc), outcome.results)


_COUNTER = """
INSERT INTO crm_rulecounter AS c (rule_id, player_id, period, count) VALUES (%s, %s, %s, 1)
ON CONFLICT (rule_id, player_id, period) DO UPDATE SET count = c.count + 1 WHERE c.count < %s
RETURNING count
"""


def _counters_take(firing: Firing, tz: str) -> bool:
    """Count the effect against the rule's once-in-a-lifetime and frequency cap; False when one is full. The
    conditional upsert waits for a concurrent one on the same row, then re-checks: caps hold under concurrency."""
    rule = firing.rule
    limits = []
    if rule.once_in_lifetime:
        limits.append(("life", 1))
    if rule.cap_count is not None:
        limits.append((period_key(rule.cap_period, firing.at, tz), rule.cap_count))
    with connection.cursor() as cursor:
        for period, limit in limits:
            cursor.execute(_COUNTER, [rule.id, firing.player_id, period, limit])
            if cursor.fetchone() is None:
                return False
    return True


def _activities_apply(firing: Firing, player: Player, state: dict, credits: _Credits | None) -> Outcome:
    results = []
    for index, activity in enumerate(firing.rule.activities):
        try:
            outcome = _activity_apply(firing, player, state, index, activity, credits)
        except DomainValidationError as exc:
            outcome = acts.Outcome("failed", {"code": "invalid", "message": str(exc.errors)[:300]})
        except DomainError as exc:  # refused (insufficient balance, badge at its last stage...), not found, conflict
            outcome = acts.Outcome("refused", {"code": exc.code, "message": exc.message[:300]})
        results.append(outcome.as_dict(index, activity["type"]))
        if outcome.pending is not None and credits is not None:
            credits.results.append((outcome.pending, results[-1]))
    done = [r for r in results if r["status"] not in ("refused", "failed")]
    if results and not done:
        return Outcome("failed", results[0].get("code", "failed"), results)
    return Outcome("applied", "", results)


def _key(firing: Firing, index: int) -> str:
    return f"rule:{firing.effect_id}:{index}"


def _activity_apply(
    firing: Firing, player: Player, state: dict, index: int, a: dict[str, Any], credits: _Credits | None
) -> acts.Outcome:
    t = a["type"]
    if t in acts.WALLET_TYPES:
        return _wallet(firing, player, state, index, a, credits)
    if t == "accumulate":
        return _accumulate(firing, player, index, a, credits)
    if t in ("set_marker", "remove_marker"):
        return _marker(player, a["marker"], add=t == "set_marker")
    if t == "mission":
        return _mission(player, a["mission"], firing.at)
    if t == "badge":
        return _badge(firing, player, index, a["badge"])
    if t == "bonus":
        return _bonus(firing, player, index, a["template"])
    return _webhook(firing, player, index, a)


def _wallet(
    firing: Firing, player: Player, state: dict, index: int, a: dict[str, Any], credits: _Credits | None
) -> acts.Outcome:
    if "expression" in a:
        from crm.expressions import ExpressionError

        try:
            value = firing.rule.expressions[index].evaluate(event=firing.payload, state=state)
        except ExpressionError as exc:  # e.g. a field of another type on this event: this activity fails, visibly
            return acts.Outcome("failed", {"code": "expression", "message": str(exc)[:300]})
        amount = acts.whole(value)
        if amount == 0:
            return acts.Outcome("nothing", {"amount": 0})
    else:
        amount = a["amount"]
    return _credit(firing, player, index, a["type"], -amount if a.get("deduct") else amount, credits)


def _credit(
    firing: Firing, player: Player, index: int, currency: str, amount: int, credits: _Credits | None
) -> acts.Outcome:
    """Credit or debit a balance: a credit joins the batch's (written with them), a debit is applied now."""
    from gamification.models import WalletSource
    from gamification.services.wallet import ControlGroup, wallet_adjust

    if credits is not None and amount > 0:
        from gamification.services.rewards import Credit

        credit = Credit(player=player, currency=currency, amount=amount, source=WalletSource.RULE,
                        key=_key(firing, index), reason=f"Rule: {firing.rule.name}"[:500])  # fmt: skip
        try:
            pending = credits.batch.add(credit)
        except ControlGroup:
            return acts.Outcome("skipped", {"code": "control_group", "amount": amount})
        return acts.Outcome(pending.status, {"amount": amount, "currency": currency}, pending=pending)
    try:
        result = wallet_adjust(
            player=player,
            currency=currency,
            amount=amount,
            source=WalletSource.RULE,
            key=_key(firing, index),
            reason=f"Rule: {firing.rule.name}"[:500],
        )
    except ControlGroup:
        return acts.Outcome("skipped", {"code": "control_group", "amount": amount})
    if result.withheld is not None:
        return acts.Outcome("withheld", {"amount": amount, "currency": currency})
    entry_id = result.entry.pk if result.entry is not None else None
    return acts.Outcome("applied", {"amount": amount, "currency": currency, "entry_id": entry_id})


_ACCUMULATE = """
INSERT INTO crm_accumulator AS a (rule_id, player_id, currency, activity, remainder, updated_at)
VALUES (%s, %s, %s, %s, %s, now())
ON CONFLICT (rule_id, player_id, currency, activity) DO UPDATE SET remainder = a.remainder + EXCLUDED.remainder,
    updated_at = now()
RETURNING id, remainder
"""


def _accumulate(
    firing: Firing, player: Player, index: int, a: dict[str, Any], credits: _Credits | None
) -> acts.Outcome:
    currency = player.core_wallet_currency or ""
    per = acts.per_for(a, currency)
    raw = firing.payload.get(a["field"])
    if per is None:
        return acts.Outcome("nothing", {"code": "no_rate", "currency": currency})
    if isinstance(raw, bool) or not isinstance(raw, int | float) or raw <= 0:
        return acts.Outcome("nothing", {"code": "no_value"})
    with connection.cursor() as cursor:  # the upsert locks the row until commit: no lost update
        cursor.execute(_ACCUMULATE, [firing.rule.id, player.pk, currency, index, Decimal(str(raw))])
        row_id, total = cursor.fetchone()
        credit, rest = acts.accumulate_step(remainder=Decimal(0), value=total, per=per, amount=a["amount"])
        if credit:
            cursor.execute("UPDATE crm_accumulator SET remainder = %s WHERE id = %s", [rest, row_id])
    if not credit:
        return acts.Outcome("nothing", {"carried": str(rest), "wallet_currency": currency})
    outcome = _credit(firing, player, index, a["currency"], credit, credits)
    detail = {**outcome.detail, "carried": str(rest), "wallet_currency": currency}
    return acts.Outcome(outcome.status, detail, pending=outcome.pending)


def _marker(player: Player, marker: str, *, add: bool) -> acts.Outcome:
    sql = (
        "UPDATE crm_player SET markers = array_append(markers, %s), updated_at = now()"
        " WHERE id = %s AND NOT (%s = ANY(markers))"
        if add
        else "UPDATE crm_player SET markers = array_remove(markers, %s), updated_at = now()"
        " WHERE id = %s AND %s = ANY(markers)"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [marker, player.pk, marker])
        changed = cursor.rowcount
    return acts.Outcome("applied" if changed else "nothing", {"marker": marker})


def _mission(player: Player, mission_id: int, at: dt.datetime) -> acts.Outcome:
    from crm.automation.gifts import mission_give

    created = mission_give(player=player, mission_id=mission_id, at=at)
    return acts.Outcome("applied" if created else "nothing", {"mission": mission_id})


def _badge(firing: Firing, player: Player, index: int, badge_id: int) -> acts.Outcome:
    from gamification.models import Badge
    from gamification.services.badges import badge_award

    badge = Badge.objects.filter(pk=badge_id, label_id=player.label_id).first()
    if badge is None:
        return acts.Outcome("failed", {"code": "not_found", "badge": badge_id})
    result = badge_award(player=player, badge=badge, source="rule", key=_key(firing, index),
                         reason=f"Rule: {firing.rule.name}"[:500])  # fmt: skip
    if result.withheld is not None:
        return acts.Outcome("withheld", {"badge": badge_id})
    return acts.Outcome("applied", {"badge": badge_id, "stage": result.award.stage if result.award else None})


def _bonus(firing: Firing, player: Player, index: int, template_id: int) -> acts.Outcome:
    from crm.models.bonuses import BonusTemplate
    from crm.services.bonuses import bonus_give

    template = BonusTemplate.objects.filter(pk=template_id, label_id=player.label_id).first()
    if template is None:
        return acts.Outcome("failed", {"code": "not_found", "template": template_id})
    bonus = bonus_give(player=player, template=template, source="rule", key=_key(firing, index),
                       reason=f"Rule: {firing.rule.name}"[:500])  # fmt: skip
    return acts.Outcome("applied", {"template": template_id, "bonus": bonus.pk})


def _webhook(firing: Firing, player: Player, index: int, a: dict[str, Any]) -> acts.Outcome:
    from crm.automation.webhooks import webhook_enqueue

    delivery_id = webhook_enqueue(
        rule_id=firing.rule.id,
        label_id=player.label_id,
        effect_id=firing.effect_id,
        key=_key(firing, index),
        url=a["url"],
        body=acts.body_render(a.get("body", {}), event=firing.payload, player=player_fields(player)),
    )
    return acts.Outcome("applied", {"delivery": delivery_id})


def player_fields(player: Player) -> dict[str, Any]:
    """The player fields a webhook body may name."""
    return {
        "id": player.pk,
        "user_ext_id": player.user_ext_id,
        "ext_brand_id": player.brand.ext_brand_id if player.brand_id else "",
        "core_username": player.core_username,
        "core_wallet_currency": player.core_wallet_currency,
        "user_country": player.user_country,
        "core_account_status": player.core_account_status,
        "core_user_language": player.core_user_language,
    }


def states_load(*, player_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """The `state` expressions read: balances and per-player aggregates (no row: 0)."""
    ids = list(player_ids)
    if not ids:
        return {}
    zero = {"points": 0, "points_earned": 0, "gems": 0, "diamonds": 0, "deposit_count": 0, "deposit_sum": 0,
            "bet_count": 0, "bet_sum": 0, "win_sum": 0, "login_count": 0}  # fmt: skip
    states = {pk: dict(zero) for pk in ids}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT player_id, points, points_earned, gems, diamonds FROM gamification_wallet"
            " WHERE player_id = ANY(%s)",
            [ids],
        )
        for pk, *values in cursor.fetchall():
            states[pk].update(zip(("points", "points_earned", "gems", "diamonds"), values, strict=True))
        cursor.execute(
            "SELECT player_id, deposit_count, deposit_sum, bet_count, bet_sum, win_sum, login_count"
            " FROM crm_playeraggregate WHERE player_id = ANY(%s)",
            [ids],
        )
        names = ("deposit_count", "deposit_sum", "bet_count", "bet_sum", "win_sum", "login_count")
        for pk, *values in cursor.fetchall():
            states[pk].update(zip(names, values, strict=True))
    return states


_OUTCOMES = """
UPDATE crm_ruleeffect e SET status = t.s, reason = t.r, results = t.j::jsonb
  FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[]) AS t(i, s, r, j)
 WHERE e.id = t.i
"""


def _outcomes_write(outcomes: dict[int, Outcome]) -> None:
    ids = list(outcomes)
    with connection.cursor() as cursor:
        cursor.execute(
            _OUTCOMES,
            [
                ids,
                [outcomes[i].status for i in ids],
                [outcomes[i].reason[:255] for i in ids],
                [orjson.dumps(outcomes[i].results).decode() for i in ids],
            ],
        )


_STATS = """
INSERT INTO crm_rulestat AS s (rule_id, hour, fired, applied, skipped, failed, last_fired_at)
SELECT * FROM unnest(%s::bigint[], %s::timestamptz[], %s::int[], %s::int[], %s::int[], %s::int[], %s::timestamptz[])
ON CONFLICT (rule_id, hour) DO UPDATE SET fired = s.fired + EXCLUDED.fired, applied = s.applied + EXCLUDED.applied,
    skipped = s.skipped + EXCLUDED.skipped, failed = s.failed + EXCLUDED.failed,
    last_fired_at = GREATEST(s.last_fired_at, EXCLUDED.last_fired_at)
"""


def _stats_add(firings: Sequence[Firing], outcomes: dict[int, Outcome]) -> None:
    now = dt.datetime.now(dt.UTC)
    hour = now.replace(minute=0, second=0, microsecond=0)
    counts: dict[int, dict[str, int]] = defaultdict(lambda: {"applied": 0, "skipped": 0, "failed": 0})
    for firing in firings:
        assert firing.effect_id is not None  # only claimed firings are counted
        counts[firing.rule.id][outcomes[firing.effect_id].status] += 1
    rules = sorted(counts)
    with connection.cursor() as cursor:
        cursor.execute(
            _STATS,
            [
                rules,
                [hour] * len(rules),
                [sum(counts[r].values()) for r in rules],
                [counts[r]["applied"] for r in rules],
                [counts[r]["skipped"] for r in rules],
                [counts[r]["failed"] for r in rules],
                [now] * len(rules),
            ],
        )
