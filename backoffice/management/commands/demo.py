"""`manage.py demo`: demo data to look around with, and how to log in.

It makes a demo label with two brands, 1,000 players of varied profiles and a day of their events, a second label
with a few players (so the label switcher and the isolation between labels can be seen), one staff user per role, a
staff user with roles in both labels, and a partner API key. Running it again creates only what is missing; it rotates
the API key (revokes the previous demo key and prints a new one), because a key is shown once and cannot be read back.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from backoffice.models import ApiKey, Brand, ExchangeRate, Label, Role, StaffRole
from backoffice.services.apikeys import api_key_create, api_key_revoke
from crm.demo_affiliates import affiliates_demo
from crm.demo_financial import financial_demo
from crm.demo_usage import usage_demo
from crm.models import BonusTemplate, Event, EventSource, Player, Rule, RuleKind, RuleStatus, Segment
from crm.models.segments import ACTIVE_ACCOUNTS_CONDITION
from crm.services.ingest import MAX_BATCH, events_ingest
from crm.services.players import player_apply
from crm.services.rules import rule_save, rule_transition
from crm.services.segments import segment_save
from crm.tickets_demo import tickets_demo
from crm.validators import clean_profile
from gamification.demo import gamification_demo
from integrations.bonus_api.services import bonus_connection_sandbox_ensure
from integrations.sandbox.replica import (
    POLL_INTERVAL_SECONDS,
    SandboxUnavailable,
    dsn_database,
    sandbox_brands_add,
    sandbox_enabled,
    sandbox_replica_ensure,
    sandbox_source_ensure,
)

DEMO_PASSWORD = "pitboss-demo-2026"  # noqa: S105 - published on purpose: demo accounts only, refused in production
DEMO_KEY_NAME = "Demo key (manage.py demo)"


@dataclass(frozen=True)
class LabelSpec:
    name: str
    brands: tuple[tuple[str, str], ...]  # (ext_brand_id, name)
    players: int
    seed: int
    events: int = 0


DEMO = LabelSpec(
    "Demo Casino Group", (("demo-casino", "Demo Casino"), ("demo-sports", "Demo Sportsbook")), 1000, 1, events=6000
)
SECOND = LabelSpec("Second Operator", (("second-casino", "Second Casino"),), 5, 2)
STAFF: tuple[tuple[str, tuple[tuple[LabelSpec, str], ...]], ...] = (
    ("demo_admin", ((DEMO, Role.ADMIN),)),
    ("demo_manager", ((DEMO, Role.MANAGER),)),
    ("demo_support", ((DEMO, Role.SUPPORT),)),
    ("demo_integration", ((DEMO, Role.INTEGRATION_ENGINEER),)),
    ("demo_multi", ((DEMO, Role.MANAGER), (SECOND, Role.ADMIN))),
)

# country, language, wallet currency, phone prefix
_MARKETS = (
    ("MT", "EN", "EUR", "+35699"),
    ("DE", "DE", "EUR", "+4915"),
    ("FI", "FI", "EUR", "+35840"),
    ("SE", "SV", "SEK", "+4670"),
    ("NO", "NO", "NOK", "+4790"),
    ("GB", "EN", "GBP", "+4477"),
    ("IE", "EN", "EUR", "+35385"),
    ("CA", "EN", "CAD", "+1416"),
    ("BR", "PT", "BRL", "+5511"),
    ("ES", "ES", "EUR", "+3461"),
)
_FIRST = ("Anna", "Ben", "Carla", "Dario", "Elin", "Felix", "Greta", "Hugo", "Ines", "Jonas", "Kaisa", "Luca")
_LAST = ("Borg", "Camilleri", "Fischer", "Korhonen", "Lindqvist", "Murphy", "Nilsen", "Silva", "Smith", "Vella")
_STATUSES = (("ACTIVE", 85), ("PENDING", 4), ("SELF_EXCLUDED", 4), ("BLOCKED", 3), ("SUSPENDED", 2), ("DEACTIVATED", 2))
_KYC = (("VERIFIED", 60), ("PENDING", 25), ("NOT_STARTED", 10), ("REJECTED", 5))
_VIP = (("bronze", 60), ("silver", 25), ("gold", 12), ("platinum", 3))
_GAMES = ("starburst", "book_of_dead", "lightning_roulette", "blackjack_live", "football", "tennis", "ice_hockey")
_MARKERS = ("vip", "high_roller", "bonus_hunter", "sports_bettor", "slots_fan", "live_casino", "churn_risk")


def _weighted(rng: random.Random, table: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([value for value, _ in table], weights=[weight for _, weight in table])[0]


def _profile(rng: random.Random, n: int, now: dt.datetime) -> dict:
    """One player's profile, written as a partner would send it (it goes through the same validation)."""
    country, language, currency, phone_prefix = rng.choice(_MARKETS)
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    registered = now - dt.timedelta(days=rng.uniform(1, 3 * 365))
    affiliate = rng.random()
    return {
        "core_account_status": _weighted(rng, _STATUSES),
        "core_registration_date": registered.isoformat(),
        "dt_update": (registered + (now - registered) * rng.random()).isoformat(),
        "core_user_language": language,
        "core_wallet_currency": currency,
        "core_username": f"{first.lower()}{last[0].lower()}{n}",
        "user_birthdate": (now - dt.timedelta(days=rng.uniform(18 * 366, 75 * 365))).date().isoformat(),
        "user_country": country,
        "user_first_name": first,
        "user_last_name": last,
        "user_email": f"{first}.{last}.{n}@example.com".lower() if rng.random() < 0.9 else None,
        "user_phone": f"{phone_prefix}{rng.randrange(10**6, 10**7)}" if rng.random() < 0.7 else None,
        "core_affiliate_id": rng.randrange(1000, 1050) if affiliate < 0.3 else None,
        "core_affiliate_str": "partner-network-x" if 0.3 <= affiliate < 0.35 else "",
        "core_is_email_disabled_by_platform": rng.random() < 0.1,
        "core_is_sms_disabled_by_platform": rng.random() < 0.15,
        "core_user_gender": rng.choice(("MALE", "FEMALE", "UNKNOWN")),
        "core_kyc_status": _weighted(rng, _KYC),
        "custom": {
            "vip_level": _weighted(rng, _VIP),
            "favourite_game": rng.choice(_GAMES),
            "total_deposits_eur": round(rng.lognormvariate(5, 1.2), 2),
            "accepts_bonus": rng.random() < 0.8,
        },
        "markers": rng.sample(_MARKERS, k=rng.choice((0, 0, 1, 1, 2, 3))),
    }


def _players(spec: LabelSpec, label: Label, brands: list[Brand]) -> list[Player]:
    """The label's players, the same on every run (seeded), with digests set the way the player service sets them."""
    rng = random.Random(spec.seed)
    now = dt.datetime.now(dt.UTC)
    players = []
    for n in range(1, spec.players + 1):
        clean, errors = clean_profile(_profile(rng, n, now))
        if errors:
            raise CommandError(f"Generated demo profile {n} is invalid: {errors}")
        # Most players on the first brand, as on a real casino-plus-sportsbook label.
        brand = brands[0] if len(brands) == 1 or rng.random() < 0.7 else rng.choice(brands[1:])
        player = Player(label=label, brand=brand, user_ext_id=str(100000 + n), dt_update=clean.pop("dt_update"))
        player_apply(player=player, clean=clean)
        players.append(player)
    return players


def _label(spec: LabelSpec) -> tuple[Label, int]:
    """Get or create the label, its brands and players; return it with the number of players created."""
    label, _ = Label.objects.get_or_create(name=spec.name)
    brands = [
        Brand.objects.get_or_create(label=label, ext_brand_id=ext_id, defaults={"name": name})[0]
        for ext_id, name in spec.brands
    ]
    before = Player.objects.filter(label=label).count()
    Player.objects.bulk_create(_players(spec, label, brands), ignore_conflicts=True, batch_size=500)
    _rates(label)
    return label, Player.objects.filter(label=label).count() - before


# What one unit of the players' wallet currencies is worth in EUR, the labels' base currency: a rate from 2020 and a
# newer one, so the admin and the API show rates in force on different days (fixed dates: the same on every run).
_RATES = {"SEK": ("0.0952", "0.0871"), "NOK": ("0.1013", "0.0853"), "GBP": ("1.1790", "1.1725"),
          "CAD": ("0.6774", "0.6580"), "BRL": ("0.2217", "0.1642")}  # fmt: skip
_RATE_DAYS = (dt.date(2020, 1, 1), dt.date(2026, 1, 1))


def _rates(label: Label) -> None:
    """Rates for every wallet currency of the demo players, so their bets count in missions and tournaments."""
    rows = [
        ExchangeRate(label=label, currency=currency, rate=Decimal(rate), valid_from=day)
        for currency, rates in _RATES.items()
        for day, rate in zip(_RATE_DAYS, rates, strict=True)
    ]
    ExchangeRate.objects.bulk_create(rows, ignore_conflicts=True)


_EVENT_MIX = (("login", 25), ("casino_bet", 40), ("casino_win", 14), ("deposit", 10), ("sport_bet_placed", 7),
              ("withdrawal", 4))  # fmt: skip
_SLOTS = (
    ("g-101", "Starburst", "Slots", "NetEnt"),
    ("g-102", "Book of Dead", "Slots", "Play'n GO"),
    ("g-201", "Lightning Roulette", "Live casino", "Evolution"),
    ("g-301", "Blackjack", "Table games", "Evolution"),
)


def _event(rng: random.Random, n: int, player: tuple[str, str], now: dt.datetime) -> dict:
    kind = _weighted(rng, _EVENT_MIX)
    amount = round(rng.choice((1, 2, 5, 10, 20, 50, 100, 250)) * rng.uniform(0.5, 1.5), 2)
    game_id, game_name, category, provider = rng.choice(_SLOTS)
    game = {"game_id": game_id, "game_name": game_name, "game_category": category, "game_provider": provider}
    payload = {
        "login": {"entry_point": rng.choice(("lobby", "mobile_app", "landing", "cashier"))},
        "casino_bet": {"bet_amount": amount, **game},
        "casino_win": {"win_amount": round(amount * rng.uniform(0.5, 4), 2), **game},
        "deposit": {"deposit_amount": amount * 4, "deposit_method": rng.choice(("Visa", "PaySafe", "Skrill"))},
        "sport_bet_placed": {"bet_amount": amount, "sport": rng.choice(("football", "tennis")), "odds": 1.85},
        "withdrawal": {"withdrawal_amount": amount * 3, "withdrawal_method": "Visa"},
    }[kind]
    minutes_ago = min(rng.expovariate(1 / 240), 24 * 60)  # a day of activity, busier lately
    return {
        "event_id": f"demo-{n}",
        "type": kind,
        "ext_brand_id": player[0],
        "user_ext_id": player[1],
        "occurred_at": (now - dt.timedelta(minutes=minutes_ago)).isoformat(timespec="milliseconds"),
        "payload": payload,
    }


def _events(spec: LabelSpec, label: Label) -> int:
    """A day of logins, bets, wins, deposits and withdrawals of the label's players, once, through real ingest.

    The pipeline worker (`make run` starts it) applies them in every consumer group, so the aggregates, timelines and
    the dashboard have data.
    """
    if spec.events == 0 or Event.objects.filter(label=label, event_id__startswith="demo-").exists():
        return 0
    rng = random.Random(spec.seed * 7)
    now = dt.datetime.now(dt.UTC)
    players = list(Player.objects.filter(label=label).values_list("brand__ext_brand_id", "user_ext_id").order_by("id"))
    active = rng.sample(players, k=min(len(players), 400))
    items = [_event(rng, n, rng.choice(active), now) for n in range(spec.events)]
    accepted = 0
    for start in range(0, len(items), MAX_BATCH):
        accepted += events_ingest(label=label, items=items[start : start + MAX_BATCH], source=EventSource.API).counts()[
            "accepted"
        ]
    return accepted


def _staff(labels: dict[LabelSpec, Label]) -> dict:
    """One staff user per role; the password is set only when a user is created (changing it logs users out)."""
    user_model = get_user_model()
    usernames = [username for username, _ in STAFF]
    existing = set(user_model.objects.filter(username__in=usernames).values_list("username", flat=True))
    hashed = make_password(DEMO_PASSWORD) if existing != set(usernames) else None  # one hash (~0.3 s) for all
    users = {}
    for username, roles in STAFF:
        flags = {"is_staff": True, "is_active": True, "is_superuser": False, "email": f"{username}@example.com"}
        users[username], _ = user_model.objects.update_or_create(
            username=username, defaults=flags, create_defaults={**flags, "password": hashed}
        )
        for spec, role in roles:
            StaffRole.objects.update_or_create(user=users[username], label=labels[spec], defaults={"role": role})
    return users


def _rotate_key(label: Label, created_by) -> str:
    for old in ApiKey.objects.filter(label=label, name=DEMO_KEY_NAME, revoked_at__isnull=True):
        api_key_revoke(api_key=old)
    _key, raw = api_key_create(label=label, name=DEMO_KEY_NAME, created_by=created_by)
    return raw


def _sandbox(label: Label, base_url: str) -> str | None:
    """Wire the demo label to the sandbox operator (docs/sandbox.md): its replica database (created if missing),
    the label's brands there, the label's replica data source polling its views, and the label's Bonus API pointed
    at the sandbox Bonus API this server serves, with its catalogue as the label's bonus templates. The replica's
    DSN, or None when the sandbox is off."""
    if not sandbox_enabled():
        return None
    try:
        dsn = sandbox_replica_ensure()
    except SandboxUnavailable as exc:
        raise CommandError(str(exc)) from exc
    sandbox_brands_add(dsn=dsn, ext_brand_ids=list(label.brands.order_by("id").values_list("ext_brand_id", flat=True)))
    sandbox_source_ensure(label=label, dsn=dsn)
    # templates=True: the catalogue's templates at once, without HTTP (make run starts the server after this command)
    bonus_connection_sandbox_ensure(label=label, base_url=base_url, templates=True)
    return dsn


DEPOSITORS = "Depositors of the last 30 days"
POINTS_RULE = "10 points per deposit"
BONUS_RULE = "5 EUR cash for a first Trustly deposit"


def _crm_samples(label: Label) -> dict[str, int]:
    """A sample segment and sample real-time rules, created once (a manager may change or remove them). The bonus
    rule is made only where the label's Bonus API has the sandbox's CASH_5_EUR; only the sandbox pays by Trustly, so it
    fires for the sandbox's players, not for the demo's day of events."""
    if not Segment.objects.filter(label=label, name=DEPOSITORS).exists():
        deposited = {"field": "aggregate.last_deposit_at", "op": "within_last_days", "value": 30}
        segment_save(
            label=label, name=DEPOSITORS, description="Active players with a deposit in the last 30 days.",
            conditions={"all": [dict(ACTIVE_ACCOUNTS_CONDITION), deposited]},
        )  # fmt: skip
    _rule(label, POINTS_RULE, conditions=[], activities=[{"type": "points", "amount": 10}])
    cash = BonusTemplate.objects.filter(label=label, operator_code="CASH_5_EUR", is_active=True).first()
    if cash is not None:
        _rule(
            label, BONUS_RULE, conditions=[{"field": "deposit_method", "op": "eq", "value": "Trustly"}],
            activities=[{"type": "bonus", "template": cash.pk}], once_in_lifetime=True,
        )  # fmt: skip
    return {
        "segments": Segment.objects.filter(label=label).count(),
        "rules": Rule.objects.filter(label=label, status=RuleStatus.ACTIVE).count(),
    }


def _rule(label: Label, name: str, **fields) -> None:
    if Rule.objects.filter(label=label, name=name).exists():
        return
    rule = rule_save(rule=Rule(label=label, name=name, kind=RuleKind.REALTIME, trigger_type="deposit", **fields))
    rule_transition(rule=rule, to=RuleStatus.ACTIVE)


class Command(BaseCommand):
    help = "Create (or complete) the demo data and print how to log in. Safe to run again."

    def add_arguments(self, parser):
        parser.add_argument(
            "--base-url", default="http://127.0.0.1:8000", help="Where the server listens, for the printed links."
        )

    def handle(self, *args, base_url: str, **options):
        if settings.SETTINGS_MODULE.endswith(".production"):
            raise CommandError("demo creates staff users with a published password; it refuses production settings.")
        with transaction.atomic():
            created, labels, events = {}, {}, {}
            for spec in (DEMO, SECOND):
                labels[spec], created[spec] = _label(spec)
                if spec is DEMO:  # before the events, so the pipeline counts them for missions and tournaments
                    gamification = gamification_demo(labels[spec])
                events[spec] = _events(spec, labels[spec])
            users = _staff(labels)
            raw_key = _rotate_key(labels[DEMO], users["demo_integration"])
            sandbox = _sandbox(labels[DEMO], base_url.rstrip("/"))
            samples = _crm_samples(labels[DEMO])
            financial_demo(labels[DEMO])
            samples.update(tickets_demo(labels[DEMO], users["demo_support"]))
            samples |= usage_demo(labels[DEMO])
            samples |= affiliates_demo(labels[DEMO])
        self._report(base_url.rstrip("/"), labels, created, events, raw_key, gamification, samples)
        self._report_sandbox(base_url.rstrip("/"), labels[DEMO], sandbox)

    def _report(
        self, base: str, labels: dict, created: dict, events: dict, raw_key: str, gamification: dict, samples: dict
    ):
        out = self.stdout.write
        out(self.style.SUCCESS("Demo data is ready."))
        for spec, label in labels.items():
            total = Player.objects.filter(label=label).count()
            out(f"  {label.name}: {len(spec.brands)} brand(s), {total:,} players ({created[spec]:,} created now)")
            if events[spec]:
                out(f"    {events[spec]:,} events ingested now (a day of activity; the pipeline worker applies them)")
            if spec is DEMO:
                out("    gamification: " + ", ".join(f"{n} {kind}" for kind, n in gamification.items()))
                out("    crm: " + ", ".join(f"{n} {kind}" for kind, n in samples.items()))
        out(f"\nAdmin:    {base}/admin/\nAPI docs: {base}/api/docs/\n")
        out(f"Staff users (no superuser), password {DEMO_PASSWORD}:")
        for username, roles in STAFF:
            out(f"  {username:<18} " + ", ".join(f"{role} of {spec.name}" for spec, role in roles))
        out(f"\nPartner API key of {DEMO.name} (shown once; the next `manage.py demo` revokes it):\n  {raw_key}")
        out(f'\nTry it:\n  curl -H "Authorization: Api-Key {raw_key}" "{base}/api/v1/players?limit=3"')
        out(f'  curl -u "apikey:{raw_key}" "{base}/api/v1/brands"')

    def _report_sandbox(self, base: str, label: Label, dsn: str | None) -> None:
        out = self.stdout.write
        if dsn is None:
            out("\nSandbox operator: off (PITBOSS_SANDBOX), so nothing new arrives on its own.")
            return
        out(
            f"\nSandbox operator (docs/sandbox.md): {label.name} reads the replica database {dsn_database(dsn)} every "
            f"{POLL_INTERVAL_SECONDS} s;\n  make run's `sandbox` process writes players, deposits and bets into it."
        )
        out(f"  Watch them arrive: {base}/admin/crm/event/ (events) and {base}/admin/integrations/datasource/ (sync)")
        out(
            f"  Its Bonus API answers at {base}/sandbox/bonus-api/{label.label_key}/ (the label's bonus templates are "
            f"its catalogue);\n  latency and failure rates: {base}/admin/integrations/sandboxbonussettings/"
        )
