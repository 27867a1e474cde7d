"""Property: for every tree and every player, the Python evaluator (`tree_matches`) and the SQL (`players_query`)
agree. Random trees (nested all / any / not, every field, every operator, edge values) over random players written to
PostgreSQL: unset values (NULL, "", no aggregate row, no wallet), case and accents, `%` and `_`, bounds of between,
instants around midnight in the label's time zone (Malta, on the day its clocks go forward), birthdays on 29 February,
custom properties of every JSON type, markers in two cases, levels with and without a default.

The population (40 players) is written once per test; each example is one tree judged for all of them by one query.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
from decimal import Decimal
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backoffice.db import prepared_fetchall
from crm.conditions import player_states, players_query, tree_matches, tree_validate
from crm.conditions.fields import CUSTOM_OPS, FIELDS
from crm.models import AccountStatus, Gender, Player, PlayerAggregate
from gamification.models import Level, Wallet
from tests.factories import BrandFactory, LabelFactory

MALTA = ZoneInfo("Europe/Malta")
SERIAL = itertools.count()
# Clocks in Malta go forward at 02:00 on 2026-03-29; 2027 has no 29 February, 2028 does.
NOWS = [
    dt.datetime(2026, 3, 29, 10, 0, tzinfo=dt.UTC),
    dt.datetime(2026, 3, 28, 23, 30, tzinfo=dt.UTC),  # already the 29th in Malta
    dt.datetime(2027, 2, 28, 12, 0, tzinfo=dt.UTC),
    dt.datetime(2028, 2, 28, 23, 30, tzinfo=dt.UTC),  # 29 February in Malta
]
TEXTS = ["MT", "mt", "Mt", "DE", "école", "ÉCOLE", "Éco", "a%b", "a_b", "%", "_", " ", "\u03a3", "\u03c3", "\u03c2", "\u0130", "i",
         "gold", "GOLD", "Gold ", "casino-MT", "lobby", "x" * 40]  # fmt: skip
NUMBERS = [0, 1, 2, 3, 5, 5.0, 5.5, -1, 0.1, 0.01, 99.99, 100, 100.1, 1e6, 1e20, 2**40]
CUSTOM_VALUES = [None, "", "gold", "GOLD", "5", 5, 5.0, 5.5, -1, 0, True, False, 0.1, 1e20, "école", "\u03a3"]
MARKERS = ["vip", "VIP", "Vip_2", "churn", "high_roller"]
COUNTRIES = ["MT", "DE", "", "GB"]


def instants() -> list[dt.datetime]:
    """Instants around midnight in Malta on days near the test's `now`s, and a few far ones."""
    found = [dt.datetime(1999, 12, 31, 23, 0, tzinfo=dt.UTC), dt.datetime(2020, 1, 1, tzinfo=dt.UTC)]
    for now in NOWS:
        today = now.astimezone(MALTA).date()
        for offset in (-400, -366, -365, -31, -30, -29, -8, -7, -2, -1, 0, 1):
            day = today + dt.timedelta(days=offset)
            midnight = dt.datetime.combine(day, dt.time(0), tzinfo=MALTA)
            found += [midnight, midnight - dt.timedelta(microseconds=1), midnight + dt.timedelta(hours=12)]
        found.append(now)
    return found


INSTANTS = instants()
BIRTHDAYS = [dt.date(2000, 2, 29), dt.date(1996, 2, 28), dt.date(1990, 3, 1), dt.date(1985, 3, 28),
             dt.date(1985, 3, 29), dt.date(1985, 3, 30), dt.date(1970, 12, 31), dt.date(1992, 1, 1)]  # fmt: skip
DAYS = [d.isoformat() for d in sorted({i.astimezone(MALTA).date() for i in INSTANTS} | set(BIRTHDAYS))]


def random_player(rng: random.Random, label, brand, levels) -> Player:
    def maybe(pool, none=None):
        return none if rng.random() < 0.3 else rng.choice(pool)

    born = maybe(BIRTHDAYS)
    player = Player.objects.create(
        label=label, brand=brand, user_ext_id=f"u{next(SERIAL)}",
        core_account_status=rng.choice(list(AccountStatus)), core_user_gender=maybe(list(Gender), ""),
        core_registration_date=maybe(INSTANTS), user_birthdate=born and dt.datetime.combine(born, dt.time(0), dt.UTC),
        user_country=rng.choice(COUNTRIES), core_user_language=maybe(["EN", "MT", "de"], ""),
        core_wallet_currency=maybe(["EUR", "eur"], ""), core_username=maybe(TEXTS, ""),
        user_first_name=maybe(TEXTS, ""), user_last_name=maybe(TEXTS, ""), core_affiliate_str=maybe(TEXTS, ""),
        core_kyc_status=maybe(TEXTS, ""), core_affiliate_id=maybe([0, 1, 5, 100, 2**40]),
        core_is_email_disabled_by_platform=rng.random() < 0.5, core_is_sms_disabled_by_platform=rng.random() < 0.5,
        user_email=maybe(["a@example.com"]), user_phone=maybe(["+35699123456"]),
        ach_gamification_in_control_group=rng.random() < 0.3,
        markers=sorted(rng.sample(MARKERS, rng.randint(0, 3))),
        custom={k: rng.choice(CUSTOM_VALUES) for k in rng.sample(["tier", "score", "vip", "note"], rng.randint(0, 4))},
    )  # fmt: skip
    if rng.random() < 0.7:
        PlayerAggregate.objects.create(
            player=player, label=label, deposit_count=rng.choice([0, 1, 2, 3, 30]),
            deposit_sum=Decimal(str(rng.choice([0, 0.01, 99.99, 100, 100.1, 1e6]))),
            withdrawal_count=rng.choice([0, 1, 5]), withdrawal_sum=Decimal(rng.choice(["0", "5.5", "100"])),
            bet_count=rng.choice([0, 1, 100]), bet_sum=Decimal(rng.choice(["0", "0.1", "1000000"])),
            win_sum=Decimal(rng.choice(["0", "5", "99.99"])), login_count=rng.choice([0, 1, 2]),
            first_deposit_at=maybe(INSTANTS), last_deposit_at=maybe(INSTANTS), last_login_at=maybe(INSTANTS),
            last_entry_point=maybe(["lobby", "LOBBY", "mobile"], ""),
        )  # fmt: skip
    if rng.random() < 0.7:
        Wallet.objects.create(
            player=player, label=label, points=rng.choice([0, 1, 5, 100]), points_earned=rng.choice([0, 100, 5000]),
            gems=rng.choice([0, 1, 3]), diamonds=rng.choice([0, 2]), level=maybe(levels),
        )  # fmt: skip
    return player


@pytest.fixture
def population(db):
    """A label in Malta's time zone with two brands, three levels (one default) and 40 random players, with their
    states; and a second label whose players must never appear."""
    rng = random.Random(20261202)
    label = LabelFactory(name="Agreement", time_zone="Europe/Malta")
    brands = [BrandFactory(label=label, ext_brand_id="casino-MT"), BrandFactory(label=label, ext_brand_id="Sport")]
    levels = [Level.objects.create(label=label, name=n, required_points=p, is_default=p == 0)
              for n, p in (("Bronze", 0), ("Silver", 100), ("Gold", 5000))]  # fmt: skip
    players = [random_player(rng, label, rng.choice(brands), levels) for _ in range(40)]
    other = LabelFactory(name="Elsewhere", time_zone="UTC")
    random_player(rng, other, BrandFactory(label=other), [])
    ids = [p.pk for p in players]
    states = player_states(label_id=label.pk, player_ids=ids)
    return SimpleNamespace(label=label, brands=brands, levels=levels, ids=ids, states=states)


# --- trees ---------------------------------------------------------------------------------------------------------

texts = st.sampled_from([*TEXTS[:-1], "MT", "vip", "lobby", "EUR", "casino", "ACTIVE", "MALE", "SPORT"])
numbers = st.one_of(st.sampled_from(NUMBERS), st.integers(-5, 200), st.floats(-10, 1e7, allow_nan=False))
days = st.sampled_from(DAYS)


def _pair(strategy):
    return st.lists(strategy, min_size=2, max_size=2).map(sorted)


def _values(kind: str, op: str, key: str, level_ids: list[int]):
    """A strategy of values for `op` on a field of `kind` (always valid ones)."""
    if op in ("is_set", "not_set", "is_true", "is_false"):
        return st.none()
    if op in ("within_last_days",):
        return st.sampled_from([1, 2, 7, 8, 30, 31, 365, 366])
    if op == "more_than_days_ago":
        return st.sampled_from([0, 1, 2, 7, 30, 365, 400])
    if op == "birthday_in_days":
        return st.sampled_from([0, 1, 335, 336, 337, 366])
    if kind in ("date", "datetime"):
        return _pair(days) if op == "between" else days
    if kind == "level":
        ids = st.sampled_from(level_ids)
        return ids if op in ("eq", "ne") else st.lists(ids, min_size=1, max_size=3)
    if kind in ("integer", "number") or (kind == "custom" and op in ("gt", "gte", "lt", "lte", "between")):
        one = numbers.map(lambda n: int(n)) if kind == "integer" else numbers
        return _pair(one) if op == "between" else one
    if kind == "custom" and op not in ("contains", "not_contains", "starts_with"):
        scalar = st.one_of(texts, numbers, st.booleans(), st.sampled_from(["gold", "5", "école"]))
        return st.lists(scalar, min_size=1, max_size=4) if op in ("in", "not_in") else scalar
    if kind == "choice":
        choices = st.sampled_from([c[0] for c in FIELDS[key].choices] + [c[0].lower() for c in FIELDS[key].choices])
        if op in ("eq", "ne"):
            return choices
        if op in ("in", "not_in"):
            return st.lists(choices, min_size=1, max_size=3)
    if kind == "markers":
        return st.sampled_from([*MARKERS, "vi", "HIGH_ROLLER"])
    return st.lists(texts, min_size=1, max_size=4) if op in ("in", "not_in") else texts


def leaves(level_ids: list[int]):
    """A leaf on any field; the field's kind is drawn first, so rare kinds (the birth date) come up as often."""
    by_kind: dict[str, list] = {}
    for key, fdef in FIELDS.items():
        by_kind.setdefault(fdef.kind, []).append((key, fdef.kind, fdef.ops))
    by_kind["custom"] = [(f"custom.{n}", "custom", CUSTOM_OPS) for n in ("tier", "score", "vip", "missing")]

    @st.composite
    def leaf(draw):
        kind = draw(st.sampled_from(sorted(by_kind)))
        key, kind, ops = draw(st.sampled_from(by_kind[kind]))
        op = draw(st.sampled_from(ops))
        value = draw(_values(kind, op, key, level_ids))
        return {"field": key, "op": op} if value is None else {"field": key, "op": op, "value": value}

    return leaf()


def trees(level_ids: list[int]):
    return st.recursive(
        leaves(level_ids),
        lambda children: st.one_of(
            st.lists(children, max_size=4).map(lambda xs: {"all": xs}),
            st.lists(children, max_size=4).map(lambda xs: {"any": xs}),
            children.map(lambda x: {"not": x}),
        ),
        max_leaves=12,
    )


def depth(node) -> int:
    if "not" in node:
        return 1 + depth(node["not"])
    if "all" in node or "any" in node:
        return 1 + max((depth(c) for c in node.get("all", node.get("any"))), default=0)
    return 0


def in_sql(tree, label_id: int, now: dt.datetime, player_ids=None) -> set[int]:
    sql, params = players_query(tree, label_id=label_id, now=now, player_ids=player_ids)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {row[0] for row in cursor.fetchall()}


@settings(max_examples=350, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                    HealthCheck.too_slow])  # fmt: skip
@given(data=st.data())
def test_python_and_sql_agree_on_random_trees(population, data):
    label, states = population.label, population.states
    tree = data.draw(trees([lv.pk for lv in population.levels]).filter(lambda t: depth(t) <= 6), label="tree")
    now = data.draw(st.sampled_from(NOWS), label="now")
    tree_validate(tree, label_id=label.pk)  # every generated tree is valid
    in_python = {pid for pid, state in states.items() if tree_matches(tree, state=state, now=now)}
    assert in_python == in_sql(tree, label.pk, now)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                    HealthCheck.too_slow])  # fmt: skip
@given(data=st.data())
def test_python_and_sql_agree_on_random_players(population, data):
    """The same with the player drawn by hypothesis too (so a disagreement shrinks to a minimal player)."""
    label = population.label
    rng = data.draw(st.randoms(use_true_random=False), label="player")
    player = random_player(rng, label, rng.choice(population.brands), population.levels)
    state = player_states(label_id=label.pk, player_ids=[player.pk])[player.pk]
    level_ids = [lv.pk for lv in population.levels]
    for tree in data.draw(st.lists(trees(level_ids).filter(lambda t: depth(t) <= 6), min_size=5, max_size=5)):
        now = data.draw(st.sampled_from(NOWS), label="now")
        in_python = tree_matches(tree, state=state, now=now)
        assert in_python == (player.pk in in_sql(tree, label.pk, now, player_ids=[player.pk])), tree
        # A live check runs the same statement prepared, its values bound server-side (crm.services.segments).
        sql, params = players_query(tree, label_id=label.pk, now=now, player_ids=[player.pk])
        assert in_python == (player.pk in {row[0] for row in prepared_fetchall(sql, params)}), tree


def test_the_population_covers_the_edges(population):
    """The random players hold what the property is meant to exercise (else it would prove little)."""
    assert sorted(population.states) == sorted(population.ids)
    players = Player.objects.filter(pk__in=population.ids)
    assert players.filter(aggregate__isnull=True).exists()
    assert players.filter(aggregate__isnull=False).exists()
    assert players.filter(wallet__isnull=True).exists()
    assert players.filter(wallet__isnull=False, wallet__level__isnull=True).exists()
    assert players.filter(core_registration_date__isnull=True).exists()
    assert players.filter(user_birthdate__date=dt.date(2000, 2, 29)).exists()
    assert players.filter(user_country="").exists()
    assert players.filter(markers=[]).exists()
    assert players.filter(custom__has_key="tier").exclude(custom__tier=None).exists()
    assert len({type(p.custom.get("score")) for p in players}) >= 3
