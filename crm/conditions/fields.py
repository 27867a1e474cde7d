"""The fields a condition tree can test: their human labels, kinds and operators, and where each one lives in SQL.

One table (`FIELDS`) drives validation, the builder's catalogue, the Python evaluator and the SQL compiler, so the
three can never disagree about what a field is. Each field reads one SQL expression over the aliases
`p` (crm_player), `a` (LEFT JOIN crm_playeraggregate), `w` (LEFT JOIN gamification_wallet) and `b` (backoffice_brand);
`player_states` loads exactly these expressions, so Python sees the values SQL compares (a player without an aggregate
row has 0 deposits, without a wallet 0 points).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.db import connection

from crm.models.players import AccountStatus, Gender

TEXT_OPS = ("eq", "ne", "in", "not_in", "contains", "not_contains", "starts_with", "is_set", "not_set")
NUMBER_OPS = ("eq", "ne", "gt", "gte", "lt", "lte", "between")
NULLABLE_NUMBER_OPS = (*NUMBER_OPS, "is_set", "not_set")
BOOLEAN_OPS = ("is_true", "is_false")
DATE_OPS = ("before", "after", "between", "within_last_days", "more_than_days_ago", "is_set", "not_set")
BIRTHDATE_OPS = (*DATE_OPS, "birthday_in_days")
PRESENCE_OPS = ("is_set", "not_set")
MARKER_OPS = ("has", "has_not", "is_set", "not_set")
LEVEL_OPS = ("eq", "ne", "in", "not_in")
CUSTOM_OPS = ("eq", "ne", "in", "not_in", "contains", "not_contains", "starts_with", "gt", "gte", "lt", "lte",
              "between", "is_true", "is_false", "is_set", "not_set")  # fmt: skip
NO_VALUE_OPS = frozenset(("is_set", "not_set", "is_true", "is_false"))
# The ops that hold on an unset value: each is the negation of a positive op (ne of eq, ...), in Python and in SQL.
NEGATIONS = {"ne": "eq", "not_in": "in", "not_contains": "contains", "has_not": "has", "not_set": "is_set"}

_JOINED = re.compile(r"^COALESCE\(([aw]\.\w+), (?:0|'')\)$")
CUSTOM_PREFIX = "custom."
CUSTOM_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
CUSTOM_SCAN_PLAYERS = 50_000  # the newest players whose custom properties name the label's custom.* fields
CUSTOM_CACHE_SECONDS = 300
MAX_CUSTOM_FIELDS = 200


@dataclass(frozen=True)
class FieldDef:
    """A field a condition can test, as the builder shows it.

    `kind`: text, choice, integer, number, boolean, date, datetime, markers, level; a custom property's kind is the
    JSON type its values have (text, number, boolean) but it takes every custom op. `choices`: (value, human label)
    pairs; binding for choice and level fields, suggestions for text fields (brands). `group`: the builder's section.
    """

    key: str
    label: str
    kind: str
    ops: tuple[str, ...]
    choices: tuple[tuple[Any, str], ...] = ()
    group: str = "Profile"
    help: str = ""


@dataclass(frozen=True)
class Column:
    """Where a field lives: the alias it needs joined, the SQL expression of its value, whether the value is
    nullable (numbers and dates; texts read "" for unset, never NULL), and whether it is a code stored in capitals
    (country, language, currency, status, gender: the profile stores them so), compared exactly with the operand in
    capitals, which is case-insensitive for the data and lets PostgreSQL compare (and index) the column as is."""

    alias: str
    expr: str
    nullable: bool = False
    capitals: bool = False

    @property
    def joined(self) -> str | None:
        """The bare column of a joined table's value read as 0 or '' when the player has no row there
        (`COALESCE(a.deposit_count, 0)` -> `a.deposit_count`); None for others."""
        found = _JOINED.match(self.expr)
        return found.group(1) if found else None


def _f(key, label, kind, ops, expr, *, alias="p", group="Profile", choices=(), nullable=False, capitals=False, help=""):
    return FieldDef(key, label, kind, ops, tuple(choices), group, help), Column(alias, expr, nullable, capitals)


def _choices(enum) -> tuple[tuple[str, str], ...]:
    return tuple((c.value, c.label) for c in enum)


_TABLE = [
    _f("core_account_status", "Account status", "choice", TEXT_OPS, "p.core_account_status",
       choices=_choices(AccountStatus), capitals=True, help="Players whose account is not ACTIVE get no marketing."),
    _f("core_registration_date", "Registration date", "datetime", DATE_OPS, "p.core_registration_date",
       nullable=True),
    _f("user_birthdate", "Birth date", "date", BIRTHDATE_OPS, "p.user_birthdate", nullable=True),
    _f("core_user_language", "Language", "text", TEXT_OPS, "p.core_user_language", capitals=True,
       help="ISO 639-1, e.g. EN."),
    _f("core_wallet_currency", "Wallet currency", "text", TEXT_OPS, "p.core_wallet_currency", capitals=True,
       help="ISO 4217, e.g. EUR."),
    _f("core_username", "Username", "text", TEXT_OPS, "p.core_username"),
    _f("user_country", "Country", "text", TEXT_OPS, "p.user_country", capitals=True,
       help="ISO 3166-1 alpha-2, e.g. MT."),
    _f("user_first_name", "First name", "text", TEXT_OPS, "p.user_first_name"),
    _f("user_last_name", "Last name", "text", TEXT_OPS, "p.user_last_name"),
    _f("core_affiliate_str", "Affiliate (text id)", "text", TEXT_OPS, "p.core_affiliate_str"),
    _f("core_kyc_status", "KYC status", "text", TEXT_OPS, "p.core_kyc_status"),
    _f("core_user_gender", "Gender", "choice", TEXT_OPS, "p.core_user_gender", choices=_choices(Gender),
       capitals=True),
    _f("core_affiliate_id", "Affiliate id", "integer", NULLABLE_NUMBER_OPS, "p.core_affiliate_id", nullable=True),
    _f("core_is_email_disabled_by_platform", "Email disabled by the operator", "boolean", BOOLEAN_OPS,
       "p.core_is_email_disabled_by_platform"),
    _f("core_is_sms_disabled_by_platform", "SMS disabled by the operator", "boolean", BOOLEAN_OPS,
       "p.core_is_sms_disabled_by_platform"),
    _f("brand", "Brand", "text", TEXT_OPS, "b.ext_brand_id", alias="b", help="The brand's id at the operator."),
    # Encrypted: only whether there is one. The expression yields '' or '*', never the address.
    _f("user_email", "Email address", "text", PRESENCE_OPS,
       "(CASE WHEN COALESCE(p.user_email, '') = '' THEN '' ELSE '*' END)"),
    _f("user_phone", "Phone number", "text", PRESENCE_OPS,
       "(CASE WHEN COALESCE(p.user_phone, '') = '' THEN '' ELSE '*' END)"),
    _f("aggregate.deposit_count", "Deposits (count)", "integer", NUMBER_OPS, "COALESCE(a.deposit_count, 0)",
       alias="a", group="Activity"),
    _f("aggregate.deposit_sum", "Deposits (sum)", "number", NUMBER_OPS, "COALESCE(a.deposit_sum, 0)",
       alias="a", group="Activity", help="In the player's wallet currency."),
    _f("aggregate.first_deposit_at", "First deposit", "datetime", DATE_OPS, "a.first_deposit_at",
       alias="a", group="Activity", nullable=True),
    _f("aggregate.last_deposit_at", "Last deposit", "datetime", DATE_OPS, "a.last_deposit_at",
       alias="a", group="Activity", nullable=True),
    _f("aggregate.withdrawal_count", "Withdrawals (count)", "integer", NUMBER_OPS,
       "COALESCE(a.withdrawal_count, 0)", alias="a", group="Activity"),
    _f("aggregate.withdrawal_sum", "Withdrawals (sum)", "number", NUMBER_OPS, "COALESCE(a.withdrawal_sum, 0)",
       alias="a", group="Activity", help="In the player's wallet currency."),
    _f("aggregate.bet_count", "Bets (count)", "integer", NUMBER_OPS, "COALESCE(a.bet_count, 0)",
       alias="a", group="Activity", help="Casino and sport bets."),
    _f("aggregate.bet_sum", "Bets (sum)", "number", NUMBER_OPS, "COALESCE(a.bet_sum, 0)",
       alias="a", group="Activity", help="In the player's wallet currency."),
    _f("aggregate.win_sum", "Wins (sum)", "number", NUMBER_OPS, "COALESCE(a.win_sum, 0)",
       alias="a", group="Activity", help="Casino and sport wins, in the player's wallet currency."),
    _f("aggregate.login_count", "Logins (count)", "integer", NUMBER_OPS, "COALESCE(a.login_count, 0)",
       alias="a", group="Activity"),
    _f("aggregate.last_login_at", "Last login", "datetime", DATE_OPS, "a.last_login_at",
       alias="a", group="Activity", nullable=True),
    _f("aggregate.last_entry_point", "Last entry point", "text", TEXT_OPS, "COALESCE(a.last_entry_point, '')",
       alias="a", group="Activity"),
    _f("markers", "Markers", "markers", MARKER_OPS, "p.markers", group="Markers"),
    _f("gamification.level", "Level", "level", LEVEL_OPS, "w.level_id", alias="w", group="Gamification",
       nullable=True, help="A player without a wallet is at the label's default level."),
    _f("gamification.points", "Points", "integer", NUMBER_OPS, "COALESCE(w.points, 0)", alias="w",
       group="Gamification", help="Spendable points."),
    _f("gamification.points_earned", "Points earned (ever)", "integer", NUMBER_OPS,
       "COALESCE(w.points_earned, 0)", alias="w", group="Gamification"),
    _f("gamification.gems", "Gems", "integer", NUMBER_OPS, "COALESCE(w.gems, 0)", alias="w", group="Gamification"),
    _f("gamification.diamonds", "Diamonds", "integer", NUMBER_OPS, "COALESCE(w.diamonds, 0)", alias="w",
       group="Gamification"),
    _f("gamification.control_group", "In gamification control group", "boolean", BOOLEAN_OPS,
       "p.ach_gamification_in_control_group", group="Gamification"),
]  # fmt: skip
FIELDS: dict[str, FieldDef] = {f.key: f for f, _ in _TABLE}
COLUMNS: dict[str, Column] = {f.key: c for f, c in _TABLE}
CUSTOM_COLUMN = Column("p", "p.custom")
JSON_KINDS = {"string": "text", "number": "number", "boolean": "boolean"}


def custom_name(key: str) -> str | None:
    """The property name of a `custom.<name>` key, or None if `key` is not one."""
    if key.startswith(CUSTOM_PREFIX) and CUSTOM_NAME_RE.match(key[len(CUSTOM_PREFIX) :]):
        return key[len(CUSTOM_PREFIX) :]
    return None


def custom_field(name: str, kind: str = "text") -> FieldDef:
    return FieldDef(f"{CUSTOM_PREFIX}{name}", f"Custom property {name}", kind, CUSTOM_OPS, group="Custom properties")


def column_of(key: str) -> Column:
    return CUSTOM_COLUMN if custom_name(key) else COLUMNS[key]


def _custom_kinds(label_id: int) -> dict[str, str]:
    """name -> kind of the custom properties the label's newest players hold (the most common JSON type wins)."""
    cache_key = f"crm.conditions.custom_kinds:{label_id}"
    found = cache.get(cache_key)
    if found is not None:
        return found
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT e.key, jsonb_typeof(e.value), count(*) FROM
                 (SELECT custom FROM crm_player WHERE label_id = %s ORDER BY id DESC LIMIT %s) p,
                 jsonb_each(p.custom) e
               WHERE jsonb_typeof(e.value) IN ('string', 'number', 'boolean')
               GROUP BY 1, 2 ORDER BY 3 DESC, 1""",
            [label_id, CUSTOM_SCAN_PLAYERS],
        )
        found = {}
        for name, json_type, _ in cursor.fetchall():
            if name not in found and len(found) < MAX_CUSTOM_FIELDS and CUSTOM_NAME_RE.match(name):
                found[name] = JSON_KINDS[json_type]
    cache.set(cache_key, found, CUSTOM_CACHE_SECONDS)
    return found


def _levels(label_id: int) -> tuple[tuple[int, str], ...]:
    from gamification.models import Level

    return tuple(Level.objects.filter(label_id=label_id).order_by("required_points").values_list("id", "name"))


def _brands(label_id: int) -> tuple[tuple[str, str], ...]:
    from backoffice.models import Brand

    return tuple(
        (b, f"{n} ({b})") for b, n in Brand.objects.filter(label_id=label_id).values_list("ext_brand_id", "name")
    )


def field_registry(*, label_id: int) -> dict[str, FieldDef]:
    """Every field a condition of this label can test, by key: the fixed ones (levels and brands as the label's own
    choices) and a `custom.<name>` field per custom property its newest players hold."""
    registry = dict(FIELDS)
    registry["gamification.level"] = _with_choices(FIELDS["gamification.level"], _levels(label_id))
    registry["brand"] = _with_choices(FIELDS["brand"], _brands(label_id))
    for name, kind in sorted(_custom_kinds(label_id).items()):
        registry[f"{CUSTOM_PREFIX}{name}"] = custom_field(name, kind)
    return registry


def _with_choices(fdef: FieldDef, choices: tuple) -> FieldDef:
    return FieldDef(fdef.key, fdef.label, fdef.kind, fdef.ops, choices, fdef.group, fdef.help)
