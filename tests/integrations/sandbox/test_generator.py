"""The live generator: what it writes into the sandbox replica's views, read back through those views."""

from __future__ import annotations

from decimal import Decimal

import pytest

from integrations.sandbox.generator import INITIAL_PLAYERS, Generator
from tests.integrations.sandbox.conftest import sandbox_database

pytestmark = pytest.mark.django_db


def _run(sandbox, *, ticks: int = 20, seed: int = 7, rate: float = 600) -> Generator:
    generator = Generator(dsn=sandbox.dsn, rate_per_minute=rate, seed=seed)
    for _ in range(ticks):
        generator.tick(seconds=3)
    return generator


def test_ticks_fill_every_view_with_players_deposits_bets_and_wins_stamped_now(sandbox):
    before = sandbox.sql("SELECT clock_timestamp()")[0][0]
    _run(sandbox)
    after = sandbox.sql("SELECT clock_timestamp()")[0][0]

    for view, column in (
        ("user_profile", "dt_update"), ("deposits", "dt_finalized"), ("withdrawals", "dt_finalized"),
        ("casino_bets", "bet_date"), ("sport_bets", "dt_finalized"), ("sport_bet_settlements", "dt_finalized"),
    ):  # fmt: skip
        assert sandbox.count(view) > 0, view
        assert sandbox.count(view, f"{column} NOT BETWEEN %s AND %s" % (f"'{before}'", f"'{after}'")) == 0, view
    assert (
        sandbox.count("casino_bets", "transaction_type = 'bet'")
        > sandbox.count("casino_bets", "transaction_type = 'win'")
        > 0
    )
    # every win is of a round that has a bet, by the same player, on the same game
    assert (
        sandbox.count(
            "casino_bets w",
            "w.transaction_type = 'win' AND NOT EXISTS (SELECT 1 FROM casino_bets b WHERE b.transaction_type = 'bet'"
            " AND (b.bet_id, b.user_ext_id, b.game_id) = (w.bet_id, w.user_ext_id, w.game_id))",
        )
        == 0
    )
    assert sandbox.count("deposits", "deposit_amount <= 0 OR transaction_date > dt_finalized") == 0
    brands = {b for (b,) in sandbox.sql("SELECT DISTINCT ext_brand_id FROM user_profile")}
    assert brands == {"sbx-casino", "sbx-sports"}


def test_players_hold_wallets_in_eur_and_sek_and_amounts_fit_the_currency(sandbox):
    _run(sandbox, ticks=40)

    currencies = {c for (c,) in sandbox.sql("SELECT DISTINCT core_wallet_currency FROM user_profile")}
    assert {"EUR", "SEK"} <= currencies
    deposits = dict(
        sandbox.sql(
            """SELECT p.core_wallet_currency, min(d.deposit_amount) FROM deposits d
               JOIN user_profile p USING (ext_brand_id, user_ext_id) GROUP BY 1"""
        )
    )
    assert deposits["EUR"] >= 10
    assert deposits["SEK"] >= 100  # ten times the EUR amounts, as a Swedish wallet's are


def test_no_balance_goes_below_zero_and_each_is_the_sum_of_the_views(sandbox):
    _run(sandbox, ticks=40)

    mismatched = sandbox.sql(
        """WITH moves AS (
               SELECT ext_brand_id, user_ext_id, deposit_amount AS delta FROM deposits
               UNION ALL SELECT ext_brand_id, user_ext_id, -withdrawal_amount FROM withdrawals
               UNION ALL SELECT ext_brand_id, user_ext_id, coalesce(win_amount, -bet_amount) FROM casino_bets
               UNION ALL SELECT ext_brand_id, user_ext_id, -bet_amount FROM sport_bets
               UNION ALL SELECT ext_brand_id, user_ext_id, win_amount FROM sport_bet_settlements)
           SELECT a.brand, a.login, a.balance, coalesce(sum(m.delta), 0) FROM accounts a
           LEFT JOIN moves m ON (m.ext_brand_id, m.user_ext_id) = (a.brand, a.login)
           GROUP BY 1, 2, 3 HAVING a.balance <> coalesce(sum(m.delta), 0)"""
    )
    assert mismatched == []
    assert sandbox.count("accounts", "balance < 0") == 0


def test_profiles_change_and_excluded_players_stop_playing(sandbox):
    _run(sandbox, ticks=60)

    statuses = {s for (s,) in sandbox.sql("SELECT DISTINCT core_account_status FROM user_profile")}
    assert "SELF_EXCLUDED" in statuses
    assert {"ACTIVE", "SELF_EXCLUDED"} <= statuses
    assert sandbox.count("user_profile", "core_kyc_status = 'VERIFIED'") > 0
    assert sandbox.count("user_profile", "dt_update > core_registration_date + interval '1 second'") > 0
    # nothing placed by a player after the change that excluded them
    assert (
        sandbox.count(
            "accounts a",
            """a.status <> 'ACTIVE' AND (
               EXISTS (SELECT 1 FROM casino_bets b WHERE (b.ext_brand_id, b.user_ext_id) = (a.brand, a.login)
                       AND b.transaction_type = 'bet' AND b.bet_date > a.changed_at)
               OR EXISTS (SELECT 1 FROM deposits d WHERE (d.ext_brand_id, d.user_ext_id) = (a.brand, a.login)
                          AND d.dt_finalized > a.changed_at))""",
        )
        == 0
    )


def test_the_same_seed_writes_the_same_rows(db):
    first, second = sandbox_database(), sandbox_database()
    rows = """SELECT transaction_type, user_ext_id, bet_amount, win_amount, game_id FROM casino_bets ORDER BY id"""
    profiles = """SELECT user_ext_id, core_wallet_currency, core_user_language, core_account_status, user_email
                  FROM user_profile ORDER BY user_ext_id"""
    try:
        _run(first, ticks=10, seed=42)
        _run(second, ticks=10, seed=42)
        assert first.sql(rows) == second.sql(rows)
        assert first.sql(profiles) == second.sql(profiles)
        assert len(first.sql(rows)) > 0
    finally:
        for database in (first, second):
            from integrations.sandbox.replica import sandbox_replica_drop

            sandbox_replica_drop(dsn=database.dsn)


def test_the_rate_is_kept_across_ticks_shorter_than_an_action(sandbox):
    generator = Generator(dsn=sandbox.dsn, rate_per_minute=30, seed=1)
    written = [generator.tick(seconds=1) for _ in range(60)]

    # 30 actions a minute: one every other second-long tick, after the first tick's starting players
    assert written[0]["register"] >= INITIAL_PLAYERS
    ticks_with_actions = [n for n, counts in enumerate(written[1:], start=1) if counts]
    assert 20 <= len(ticks_with_actions) <= 30
    assert sum(1 for counts in written[1:] if sum(counts.values()) > 2) == 0


def test_without_a_brand_nothing_is_written(db):
    database = sandbox_database(brands=None)
    try:
        assert Generator(dsn=database.dsn, seed=1).tick(seconds=60) == {}
        assert database.count("user_profile") == 0
    finally:
        from integrations.sandbox.replica import sandbox_replica_drop

        sandbox_replica_drop(dsn=database.dsn)


def test_a_win_is_its_bet_times_one_of_the_multipliers_between_half_and_two_hundred(sandbox):
    _run(sandbox, ticks=20)
    ratio = sandbox.sql(
        """SELECT max(w.win_amount / b.bet_amount) FROM casino_bets w JOIN casino_bets b
           ON b.bet_id = w.bet_id AND b.transaction_type = 'bet' WHERE w.transaction_type = 'win'
           AND b.bet_amount > 0"""
    )[0][0]
    assert Decimal("0.5") <= ratio <= 200
