"""Demo gamification for `manage.py demo`: levels, badges, missions, tournaments and a store that the demo's day of
events exercises, so every admin page and `GET …/gamification` has something to show. Safe to run again."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from backoffice.models import Label
from crm.models import Player
from gamification.models import (
    Badge,
    BadgeStage,
    Level,
    Mission,
    MissionStatus,
    MissionTask,
    StoreCategory,
    StoreItem,
    Tournament,
    TournamentPrize,
    TournamentStatus,
)
from gamification.services.missions import mission_transition
from gamification.services.tournaments import instances_advance, tournament_transition
from gamification.services.wallet import wallet_adjust

DAY = dt.timedelta(days=1)
SLOTS = [{"field": "game_category", "op": "eq", "value": "Slots"}]
LEVELS = (("Bronze", 0, "Bronze"), ("Silver", 500, "Silber"), ("Gold", 2_000, "Gold"), ("Platinum", 10_000, "Platin"))


def gamification_demo(label: Label) -> dict[str, int]:
    """Create what is missing; return how many of each kind exist."""
    levels = _levels(label)
    badges = _badges(label)
    missions = _missions(label, badges)
    tournaments = _tournaments(label, badges)
    _store(label, levels)
    _welcome_points(label)
    instances_advance(now=timezone.now())  # the running instances exist before the demo events are processed
    return {"levels": len(levels), "badges": len(badges), "missions": missions, "tournaments": tournaments}


def _levels(label: Label) -> dict[str, Level]:
    levels = {}
    for name, points, german in LEVELS:
        levels[name], _ = Level.objects.get_or_create(
            label=label,
            name=name,
            defaults={"required_points": points, "is_default": points == 0, "names": {"EN": name, "DE": german}},
        )
    return levels


def _badges(label: Label) -> dict[str, Badge]:
    specs = (
        ("Slots explorer", "greyed", ("Bronze", "Silver", "Gold")),
        ("Big deposit", "greyed", ()),
        ("Tournament champion", "greyed", ()),
        ("Night owl", "hidden", ()),
    )
    badges = {}
    for position, (name, visibility, stages) in enumerate(specs):
        badges[name], created = Badge.objects.get_or_create(
            label=label, name=name, defaults={"visibility": visibility, "position": position, "names": {"EN": name}}
        )
        if created:
            BadgeStage.objects.bulk_create(
                BadgeStage(badge=badges[name], number=n, name=stage) for n, stage in enumerate(stages, start=1)
            )
    return badges


def _mission(label: Label, name: str, tasks: list[dict], *, activate: bool = True, **fields) -> Mission | None:
    if Mission.objects.filter(label=label, name=name).exists():
        return None
    # Open since before the demo's day of events (a mission counts events from its start, its activation by default).
    fields.setdefault("active_from", timezone.now() - 2 * DAY)
    mission = Mission.objects.create(label=label, name=name, names={"EN": name}, **fields)
    for position, task in enumerate(tasks):
        MissionTask.objects.create(mission=mission, position=position, names={"EN": task["name"]}, **task)
    if activate:
        mission_transition(mission=mission, to=MissionStatus.ACTIVE)
    return mission


def _missions(label: Label, badges: dict[str, Badge]) -> int:
    spins = _mission(
        label, "Spin 20 slot rounds",
        [{"name": "20 slot bets of 1.00 or more", "event_type": "casino_bet", "target": 20,
          "conditions": [*SLOTS, {"field": "bet_amount", "op": "gte", "value": 1}]}],
        is_featured=True, reward_points=150, reward_badge=badges["Slots explorer"],
        descriptions={"EN": "Play 20 rounds on any slot at 1.00 or more."},
    )  # fmt: skip
    _mission(
        label, "Deposit 100 in a day",
        [{"name": "Deposits adding up to 100", "event_type": "deposit", "aggregation": "sum",
          "sum_field": "deposit_amount", "target": 100, "window": DAY}],
        claim_required=True, reward_gems=25, reward_badge=badges["Big deposit"], position=1,
    )  # fmt: skip
    _mission(
        label, "Daily login", [{"name": "Log in today", "event_type": "login", "target": 1}],
        type="recurring", recurrence="daily", reward_points=10, position=2,
    )  # fmt: skip
    if spins is not None:
        _mission(
            label, "Live casino challenge",
            [{"name": "10 live casino bets within an hour", "event_type": "casino_bet", "target": 10,
              "conditions": [{"field": "game_category", "op": "eq", "value": "Live casino"}],
              "window": dt.timedelta(hours=1)}],
            type="locked", unlock_mission=spins, reward_diamonds=5, position=3,
        )  # fmt: skip
    _mission(
        label, "Sports weekend",
        [{"name": "5 sports bets", "event_type": "sport_bet_placed", "target": 5}],
        requires_opt_in=True, time_limit=2 * DAY, reward_points=200, position=4,
    )  # fmt: skip
    _mission(
        label, "Bet builder",
        [{"name": "Bet 500 in total", "event_type": "casino_bet", "aggregation": "sum", "sum_field": "bet_amount",
          "target": 500}],
        type="recurring_on_completion", max_completions=3, reward_points=50, position=5,
    )  # fmt: skip
    _mission(
        label, "Halloween special", [{"name": "13 bets on Book of Dead", "event_type": "casino_bet", "target": 13,
                                      "conditions": [{"field": "game_id", "op": "eq", "value": "g-102"}]}],
        activate=False, position=6,
    )  # fmt: skip
    return Mission.objects.filter(label=label).count()


def _tournament(label: Label, name: str, prizes: list[tuple], **fields) -> None:
    if Tournament.objects.filter(label=label, name=name).exists():
        return
    tournament = Tournament.objects.create(label=label, name=name, names={"EN": name}, **fields)
    for place_from, place_to, prize in prizes:
        TournamentPrize.objects.create(tournament=tournament, place_from=place_from, place_to=place_to, **prize)
    tournament_transition(tournament=tournament, to=TournamentStatus.ACTIVE)


def _tournaments(label: Label, badges: dict[str, Badge]) -> int:
    now = timezone.now()
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    champion = badges["Tournament champion"]
    _tournament(
        label, "Slots marathon",
        [(1, 1, {"points": 1_000, "badge": champion}), (2, 3, {"points": 500}), (4, 10, {"points": 100})],
        starts_at=today - 2 * DAY, duration=7 * DAY, event_type="casino_bet", conditions=SLOTS,
        score_method="sum", score_field="bet_amount",
    )  # fmt: skip
    _tournament(
        label, "Daily spin sprint", [(1, 3, {"gems": 10}), (4, 20, {"points": 25})],
        schedule="repeating", starts_at=today, duration=DAY, repeat_every=DAY, event_type="casino_bet",
        conditions=SLOTS, max_counted_events=200,
    )  # fmt: skip
    _tournament(
        label, "High roller cup", [(1, 1, {"diamonds": 10, "description": "Signed jersey"}), (2, 5, {"gems": 20})],
        starts_at=today + DAY, duration=2 * DAY, registration_type="buy_in", buy_in_amount=100,
        buy_in_currency="points", event_type="casino_bet", score_method="best", score_field="bet_amount",
        min_players=3, max_players=100,
    )  # fmt: skip
    _tournament(
        label, "VIP invitational", [(1, 1, {"diamonds": 25})],
        starts_at=today + 3 * DAY, duration=DAY, registration_type="manual", event_type="deposit",
        score_method="sum", score_field="deposit_amount", min_players=2,
    )  # fmt: skip
    return Tournament.objects.filter(label=label).count()


def _store(label: Label, levels: dict[str, Level]) -> None:
    merch, _ = StoreCategory.objects.get_or_create(label=label, name="Merchandise", defaults={"position": 0})
    ups, _ = StoreCategory.objects.get_or_create(label=label, name="Level ups", defaults={"position": 1})
    items = (
        ("Pitboss cap", merch, {"price": 300, "currency": "points", "stock": 50, "cap_count": 1, "cap_period": "day"}),
        ("Hoodie", merch, {"price": 1_500, "currency": "points", "stock": 10}),
        (
            "Jump to Gold",
            ups,
            {
                "price": 50,
                "currency": "gems",
                "type": "change_level",
                "target_level": levels["Gold"],
                "cap_count": 1,
                "cap_period": "ever",
            },
        ),
    )
    for name, category, fields in items:
        StoreItem.objects.get_or_create(
            label=label, name=name, defaults={"category": category, "type": "tangible", **fields}
        )


def _welcome_points(label: Label) -> None:
    """500 welcome points to the first 25 players, so the store and buy-ins can be tried at once."""
    for player in Player.objects.filter(label=label).select_related("brand").order_by("id")[:25]:
        wallet_adjust(
            player=player, currency="points", amount=500, source="manual", key=f"demo:welcome:{player.pk}",
            reason="Demo welcome points",
        )  # fmt: skip
