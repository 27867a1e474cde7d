"""The sandbox operator's live traffic: players register, change their profiles, deposit, bet, win and withdraw.

`Generator.tick(seconds=...)` writes what that many seconds of the operator's platform would, in ONE transaction
under an advisory lock (one writer at a time, so the casino view's increasing ids are committed in order, as an id
cursor needs). Rows are stamped with the database's clock at commit time ("now"), amounts are in each player's wallet
currency (EUR, SEK, NOK, GBP), a player only bets what their operator-side balance holds, and a player who becomes
SELF_EXCLUDED or BLOCKED stops playing. With a seed, the same ticks on an empty replica write the same rows (all but
their timestamps). `manage.py sandbox_generate` runs ticks every few seconds.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import psycopg

from integrations.sandbox.replica import sandbox_check, sandbox_connect

WRITE_LOCK = 0x53424F57  # "SBOW"
DEFAULT_RATE_PER_MINUTE = 120.0
INITIAL_PLAYERS = 12  # a first tick on an empty replica registers these, so there is someone to play at once
MAX_ACTIONS_PER_TICK = 5000
RECENT_ACCOUNTS = 2000  # players are picked among the newest accounts: a long-running sandbox stays cheap per tick
CENT = Decimal("0.01")

# country, language, wallet currency, what one EUR is in that currency (for realistic amounts), phone prefix
MARKETS = (
    ("MT", "EN", "EUR", 1, "+35699"),
    ("DE", "DE", "EUR", 1, "+4915"),
    ("FI", "FI", "EUR", 1, "+35840"),
    ("SE", "SV", "SEK", 10, "+4670"),
    ("SE", "SV", "SEK", 10, "+4673"),
    ("NO", "NB", "NOK", 10, "+4790"),
    ("GB", "EN", "GBP", 1, "+4477"),
)
FIRST = ("Anna", "Ben", "Carla", "Dario", "Elin", "Felix", "Greta", "Hugo", "Ines", "Jonas", "Kaisa", "Luca", "Maja")
LAST = ("Borg", "Camilleri", "Fischer", "Korhonen", "Lindqvist", "Murphy", "Nilsen", "Silva", "Smith", "Vella")
# The demo's games (gamification/demo.py's missions and tournaments count slot bets and live casino bets).
GAMES = (
    ("g-101", "Starburst", "Slots", "c-slots", "NetEnt", "p-netent", 30),
    ("g-102", "Book of Dead", "Slots", "c-slots", "Play'n GO", "p-playngo", 25),
    ("g-103", "Sweet Bonanza", "Slots", "c-slots", "Pragmatic", "p-pragmatic", 20),
    ("g-201", "Lightning Roulette", "Live casino", "c-live", "Evolution", "p-evolution", 15),
    ("g-301", "Blackjack", "Table games", "c-table", "Evolution", "p-evolution", 10),
)
SPORTS = (
    ("football", "Premier League", ("Arsenal - Chelsea", "Liverpool - Everton"), "Match result"),
    ("football", "Allsvenskan", ("AIK - Djurgården", "Malmö FF - Hammarby"), "Both teams to score"),
    ("tennis", "ATP Finals", ("Sinner - Alcaraz",), "Match winner"),
    ("ice_hockey", "SHL", ("Frölunda - Färjestad",), "Total goals"),
)
# What happens, by weight: mostly casino rounds, as on a real casino-plus-sportsbook.
ACTIONS = (
    ("register", 5), ("profile", 4), ("deposit", 14), ("withdrawal", 3), ("casino", 60), ("sport", 9),
    ("settle", 5),
)  # fmt: skip
STAKES = (0.2, 0.5, 1, 1, 2, 2, 5, 10, 20)
DEPOSITS = (10, 20, 20, 25, 50, 50, 100, 200, 500)
# Win multipliers of a casino round that wins (about 40% of rounds do).
MULTIPLIERS = ((0.5, 20), (1, 15), (1.5, 20), (2, 20), (5, 15), (10, 7), (50, 2), (200, 1))
EXCLUDED = ("SELF_EXCLUDED", "BLOCKED", "SUSPENDED")


@dataclass
class Account:
    """One of the operator's players, as a tick sees it."""

    id: int
    brand: str
    login: str
    status: str
    currency: str
    balance: Decimal
    kyc: str

    @property
    def factor(self) -> int:
        return 10 if self.currency in ("SEK", "NOK") else 1


def money(value: float | Decimal) -> Decimal:
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


class Generator:
    """Writes the operator's traffic into a sandbox replica (`dsn`), `rate_per_minute` actions a minute on average.

    The fraction of an action that a tick's seconds leave over is carried to the next tick, so a low rate still
    writes something, and the same seed with the same ticks writes the same actions.
    """

    def __init__(self, *, dsn: str, rate_per_minute: float = DEFAULT_RATE_PER_MINUTE, seed: int | None = None):
        sandbox_check()
        self.dsn = dsn
        self.rate_per_minute = rate_per_minute
        self.rng = random.Random(seed)
        self._carry = 0.0

    def tick(self, *, seconds: float) -> Counter:
        """Write `seconds` of traffic; what was written, by kind (empty when the replica has no brand yet)."""
        due = self.rate_per_minute * seconds / 60 + self._carry
        actions = min(int(due), MAX_ACTIONS_PER_TICK)
        self._carry = due - int(due) if actions < MAX_ACTIONS_PER_TICK else 0.0
        with sandbox_connect(self.dsn) as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", [WRITE_LOCK])
            return _Tick(conn, self.rng).run(actions)


class _Tick:
    """One transaction's worth of traffic."""

    def __init__(self, conn: psycopg.Connection, rng: random.Random) -> None:
        self.conn = conn
        self.rng = rng
        self.written: Counter = Counter()
        self.brands = [row[0] for row in conn.execute("SELECT ext_brand_id FROM sandbox_brands ORDER BY 1")]
        rows = conn.execute(
            "SELECT id, brand, login, status, currency, balance, coalesce(kyc, '') FROM accounts"
            " ORDER BY id DESC LIMIT %s",
            [RECENT_ACCOUNTS],
        ).fetchall()
        self.accounts = [Account(*row) for row in reversed(rows)]

    def run(self, actions: int) -> Counter:
        if not self.brands:
            return self.written
        for _ in range(max(0, INITIAL_PLAYERS - len(self.accounts))):
            self.register()
        kinds = [kind for kind, _ in ACTIONS]
        weights = [weight for _, weight in ACTIONS]
        for kind in self.rng.choices(kinds, weights=weights, k=actions):
            getattr(self, kind)()
        return self.written

    # --- helpers -----------------------------------------------------------------------------------------------
    def _playing(self, minimum: Decimal = Decimal(0)) -> Account | None:
        """A random ACTIVE player whose balance is at least `minimum` (None if there is none)."""
        candidates = [a for a in self.accounts if a.status == "ACTIVE" and a.balance >= minimum]
        return self.rng.choice(candidates) if candidates else None

    def _seconds_ago(self, most: float) -> str:
        return f"{self.rng.uniform(0.2, most):.3f} seconds"

    def _balance(self, account: Account, delta: Decimal) -> None:
        account.balance += delta
        self.conn.execute("UPDATE accounts SET balance = %s WHERE id = %s", [account.balance, account.id])

    # --- actions -----------------------------------------------------------------------------------------------
    def register(self) -> None:
        rng = self.rng
        country, language, currency, _factor, phone = rng.choice(MARKETS)
        first, last, brand = rng.choice(FIRST), rng.choice(LAST), rng.choice(self.brands)
        login = self.conn.execute("SELECT nextval('account_numbers')::text").fetchone()[0]
        account_id = self.conn.execute(
            """INSERT INTO accounts (brand, login, registered_at, language, currency, nickname, birthdate, country,
                   email, first_name, last_name, phone, affiliate_id, affiliate_code, email_opt_out, sms_opt_out,
                   gender, kyc, changed_at)
               VALUES (%s, %s, clock_timestamp() - %s::interval, %s, %s, %s, now() - %s * interval '1 day', %s, %s,
                       %s, %s, %s, %s, %s, %s, %s, %s, 'NOT_STARTED', clock_timestamp())
               RETURNING id""",
            [
                brand,
                login,
                self._seconds_ago(2),
                language,
                currency,
                f"{first.lower()}{last[0].lower()}{login}",
                rng.randrange(18 * 366, 70 * 365),
                country,
                f"{first}.{last}.{login}@example.com".lower() if rng.random() < 0.9 else None,
                first,
                last,
                f"{phone}{rng.randrange(10**6, 10**7)}" if rng.random() < 0.7 else None,
                rng.randrange(1000, 1050) if rng.random() < 0.3 else None,
                "partner-network-x" if rng.random() < 0.05 else None,
                rng.random() < 0.1,
                rng.random() < 0.15,
                rng.choice(("MALE", "FEMALE", "UNKNOWN")),
            ],
        ).fetchone()[0]
        self.accounts.append(Account(account_id, brand, login, "ACTIVE", currency, Decimal(0), "NOT_STARTED"))
        self.written["register"] += 1

    def profile(self) -> None:
        """A change of one profile field, as players and the operator's staff make them: KYC progresses, some opt
        out of e-mail, a few self-exclude or get blocked, a suspended player comes back."""
        if not self.accounts:
            return
        account = self.rng.choice(self.accounts)
        change = self.rng.choices(("kyc", "opt_out", "language", "exclude", "reactivate"), weights=(40, 20, 10, 20, 10))
        changes: dict[str, object]
        if change[0] == "kyc" and account.kyc != "VERIFIED":
            account.kyc = "PENDING" if account.kyc == "NOT_STARTED" else "VERIFIED"
            changes = {"kyc": account.kyc}
        elif change[0] == "exclude" and account.status == "ACTIVE":
            account.status = self.rng.choices(EXCLUDED, weights=(6, 2, 2))[0]
            changes = {"status": account.status}
        elif change[0] == "reactivate" and account.status == "SUSPENDED":
            account.status = "ACTIVE"
            changes = {"status": account.status}
        elif change[0] == "language":
            changes = {"language": self.rng.choice(("EN", "DE", "FI", "SV", "NB"))}
        else:
            changes = {"email_opt_out": self.rng.random() < 0.5}
        assignments = ", ".join(f"{column} = %s" for column in changes)
        self.conn.execute(
            f"UPDATE accounts SET {assignments}, changed_at = clock_timestamp() WHERE id = %s",  # noqa: S608 - fixed names
            [*changes.values(), account.id],
        )
        self.written["profile"] += 1

    def deposit(self) -> None:
        account = self._playing()
        if account is None:
            return
        amount = money(self.rng.choice(DEPOSITS) * account.factor)
        self._balance(account, amount)
        self._payment("deposit", account, amount, self.rng.choice(("Visa", "Mastercard", "Trustly", "Skrill")))

    def withdrawal(self) -> None:
        account = self._playing(Decimal(50))
        if account is None:
            return
        amount = money(account.balance * Decimal(self.rng.choice(("0.25", "0.5", "1"))))
        self._balance(account, -amount)
        self._payment("withdrawal", account, amount, self.rng.choice(("Visa", "Trustly")))

    def _payment(self, kind: str, account: Account, amount: Decimal, method: str) -> None:
        voucher = "WELCOME100" if kind == "deposit" and self.rng.random() < 0.05 else None
        self.conn.execute(
            """INSERT INTO payments (tx, kind, brand, login, requested_at, finalized_at, amount, balance_after, method,
                   voucher)
               VALUES ('sbx-' || %s || '-' || nextval('payments_id_seq'), %s, %s, %s, clock_timestamp() - %s::interval,
                       clock_timestamp(), %s, %s, %s, %s)""",
            [kind[:3], kind, account.brand, account.login, self._seconds_ago(20), amount, account.balance, method,
             voucher],
        )  # fmt: skip
        self.written[kind] += 1

    def casino(self) -> None:
        """A round: the bet, and its win for about 40% of rounds (the same round id)."""
        account = self._playing(Decimal("0.2"))
        if account is None:
            return
        stake = money(self.rng.choice(STAKES) * account.factor)
        if stake > account.balance:
            stake = account.balance
        game = self.rng.choices(GAMES, weights=[g[-1] for g in GAMES])[0]
        round_id = f"r-{self.rng.getrandbits(48):012x}"
        self._balance(account, -stake)
        self._casino_row("bet", round_id, account, stake, game)
        if self.rng.random() < 0.4:
            multiplier = self.rng.choices([m for m, _ in MULTIPLIERS], weights=[w for _, w in MULTIPLIERS])[0]
            win = money(stake * Decimal(str(multiplier)))
            self._balance(account, win)
            self._casino_row("win", round_id, account, win, game)

    def _casino_row(self, kind: str, round_id: str, account: Account, amount: Decimal, game: tuple) -> None:
        code, name, category, category_code, provider, provider_code, _ = game
        self.conn.execute(
            """INSERT INTO casino_tx (tx, round, kind, brand, login, created_at, amount, game_code, game, category,
                   category_code, provider, provider_code)
               VALUES (%s || '-' || %s, %s, %s, %s, %s, clock_timestamp(), %s, %s, %s, %s, %s, %s, %s)""",
            [round_id, kind, round_id, kind, account.brand, account.login, amount, code, name, category,
             category_code, provider, provider_code],
        )  # fmt: skip
        self.written[f"casino_{kind}"] += 1

    def sport(self) -> None:
        account = self._playing(Decimal(1))
        if account is None:
            return
        stake = min(money(self.rng.choice((1, 2, 5, 10, 20, 50)) * account.factor), account.balance)
        sport, league, fixtures, market = self.rng.choice(SPORTS)
        legs = self.rng.choices((1, 2, 3, 4), weights=(60, 20, 12, 8))[0]
        odds = money(self.rng.uniform(1.3, 3.5) ** legs)
        self._balance(account, -stake)
        self.conn.execute(
            """INSERT INTO sport_tickets (ticket, brand, login, placed_at, visible_at, stake, odds, legs, sport, league,
                   fixture, market, live, ticket_type)
               VALUES ('t-' || nextval('sport_tickets_id_seq'), %s, %s, clock_timestamp() - %s::interval,
                       clock_timestamp(), %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
            [account.brand, account.login, self._seconds_ago(3), stake, odds, legs, sport, league,
             self.rng.choice(fixtures), market, self.rng.random() < 0.3, "single" if legs == 1 else "multi"],
        )  # fmt: skip
        self.written["sport_bet"] += 1

    def settle(self) -> None:
        """Settle the oldest open ticket: won (at its odds) about 40% of the time, else lost."""
        row = self.conn.execute(
            """SELECT t.ticket, t.stake, t.odds, t.brand, t.login FROM sport_tickets t
               LEFT JOIN sport_settlements s USING (ticket) WHERE s.ticket IS NULL ORDER BY t.id LIMIT 1"""
        ).fetchone()
        if row is None:
            return
        ticket, stake, odds, brand, login = row
        won = self.rng.random() < 0.4
        payout = money(stake * odds) if won else Decimal(0)
        self.conn.execute(
            "INSERT INTO sport_settlements (ticket, settled_at, outcome, payout)"
            " VALUES (%s, clock_timestamp(), %s, %s)",
            [ticket, "won" if won else "lost", payout],
        )
        account = next((a for a in self.accounts if (a.brand, a.login) == (brand, login)), None)
        if payout and account is not None:
            self._balance(account, payout)
        elif payout:
            self.conn.execute(
                "UPDATE accounts SET balance = balance + %s WHERE brand = %s AND login = %s", [payout, brand, login]
            )
        self.written["sport_settlement"] += 1
