"""A label's ledger, balances, levels and facts with their ids replaced by what they stand for, so that two labels
given the same things by two paths (in bulk, one at a time) compare equal exactly when the paths agree."""

from __future__ import annotations

import re
from typing import Any

from crm.models import Event, Player
from gamification.models import BadgeAward, Level, Wallet, WalletEntry, WithheldCredit


def ledger_world(label, *, key_name=lambda key: key) -> dict[str, Any]:
    """Everything the wallet wrote for `label`, in the order it was written. `key_name` turns an entry's key into
    something both labels share (a rule effect's key names its effect id, which differs)."""
    players = dict(Player.objects.filter(label=label).values_list("id", "user_ext_id"))
    levels = dict(Level.objects.filter(label=label).values_list("id", "name"))
    entries = list(WalletEntry.objects.filter(label=label).order_by("id"))
    position = {e.pk: n for n, e in enumerate(entries)}
    world: dict[str, Any] = {
        "entries": [
            (players[e.player_id], e.currency, e.amount, e.counts_as_earned, e.source, key_name(e.key), e.reason)
            for e in entries
        ],
        "wallets": {
            players[w.player_id]: (
                w.points,
                w.points_earned,
                w.points_tournament,
                w.gems,
                w.diamonds,
                levels.get(w.level_id),
                levels.get(w.level_floor_id),
            )
            for w in Wallet.objects.filter(label=label)
        },
        "withheld": sorted(
            (players[w.player_id], w.currency, w.amount, w.source, key_name(w.key), w.reason, w.account_status)
            for w in WithheldCredit.objects.filter(label=label)
        ),
        "facts": [],
    }
    for fact in Event.objects.filter(label=label, source="system").order_by("id"):
        world["facts"].append((players[fact.player_id], fact.type, _fact_id(fact.event_id, position, players, levels),
                               _payload(fact.payload, position, levels)))  # fmt: skip
    return world


def _fact_id(event_id: str, position: dict[int, int], players: dict, levels: dict) -> tuple:
    if match := re.fullmatch(r"wallet:(\d+)", event_id):
        return ("wallet", position[int(match[1])])
    if match := re.fullmatch(r"level:(\d+):(\d+):(\d+)", event_id):
        return ("level", players[int(match[1])], levels[int(match[2])], position[int(match[3])])
    if match := re.fullmatch(r"badge_award:(\d+)", event_id):
        award = BadgeAward.objects.select_related("badge").get(pk=int(match[1]))
        return ("badge_award", award.badge.name, award.stage)
    return (event_id,)


def _payload(payload: dict, position: dict[int, int], levels: dict) -> dict:
    out = dict(payload)
    if "entry_id" in out:
        out["entry_id"] = ("entry", position[out["entry_id"]])
    for name in ("level_id", "previous_level_id"):
        if name in out:
            out[name] = levels[out[name]]
    out.pop("badge_id", None)  # named by badge_name
    return out
