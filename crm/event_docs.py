"""What the built-in event types and their payload fields mean, in words: for partners (the OpenAPI schema of
`POST /api/v1/events`, one schema per type) and for staff (the admin's Event types page).

The fields themselves, their kinds and which are required come from `crm.catalogue` (CORE_TYPES, the profile fields);
this module only adds the descriptions, wording taken from the data-integration reference where it has some. A field
without a description here is a defect the tests catch, so a field added to the catalogue gets its words too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from crm.catalogue import (
    CORE_TYPES,
    MAX_AMOUNT,
    MAX_NUMBER,
    PROFILE_FIELD_INFO,
    PROFILE_UPDATE,
    SYSTEM_TYPES,
    Choice,
    amount,
    spec_fields,
    text64,
    text128,
    text255,
    text1024,
)

TYPE_DESCRIPTIONS: dict[str, str] = {
    "login": "The player logged in.",
    "deposit": "The player deposited money (the reference's deposit transaction).",
    "withdrawal": "The player withdrew money.",
    "casino_bet": "A bet on a casino game (the reference's casino bet transaction).",
    "casino_win": "A win on a casino game.",
    "sport_bet_placed": "A sport bet was placed (bet open).",
    "sport_bet_settled": "A sport bet was settled.",
    "sport_selection_placed": "One leg (selection) of a sport bet was placed.",
    "sport_selection_settled": "One leg (selection) of a sport bet was settled.",
    "client_action": "Something the player did on your site that you name (opened a page, clicked a banner...).",
    "usage_event": "Usage analytics: an event the player's app logged (SmartKarrot's Log Custom Events), by name.",
    "app_session_start": "Usage analytics: an app session started.",
    "app_session_end": "Usage analytics: an app session ended; its duration when Pitboss saw it start.",
    "page_load_event": "Usage analytics: a page loaded in the player's app, with its performance.",
    PROFILE_UPDATE: "The player's profile changed: the changed profile fields, as in POST /api/v1/players.",
    "segment_entered": "The player entered a segment.",
    "segment_left": "The player left a segment.",
    "affiliate_conversion": "The affiliate pixel reported an install, registration or deposit of the player "
    "(/convert/{click_id}), logged once the player is known.",
    "level_changed": "The player's gamification level changed.",
    "balance_changed": "The player's points, gems or diamonds balance changed (one wallet entry).",
    "mission_completed": "The player completed a mission.",
    "badge_earned": "The player earned a badge (or a stage of one).",
    "tournament_registered": "The player registered for a tournament.",
    "tournament_won": "The player finished a tournament in a prize place.",
    "tournament_lost": "The player finished a tournament without a prize.",
    "store_item_purchased": "The player bought an item in the store.",
}

_RESULT = "How the bet was settled: won, lost, void, cashout, half_won or half_lost."
_SPORT_WORDS = {
    "bet_id": "Your unique id of the bet.",
    "odds": "The bet's decimal odds, e.g. 2.5.",
    "selections": "How many selections (legs) the bet has.",
    "sport": 'The sport, e.g. "Football".',
    "league": 'The league or competition, e.g. "Premier League".',
    "event_name": 'The sport event (match), e.g. "Arsenal - Chelsea".',
    "market": 'The market, e.g. "Match result" or "Over/Under 2.5".',
    "is_live": "Whether the bet was placed in play (live).",
    "bet_type": "single, multi or system.",
}
FIELD_DESCRIPTIONS: dict[str, str] = {
    "entry_point": "Where the player logged in, e.g. web, ios, android; kept as the player's last entry point.",
    "deposit_amount": "Deposit amount, in the player's currency.",
    "bonus_balance": "Bonus money balance in the player's currency right after the deposit.",
    "real_balance": "Real money balance in the player's currency right after the deposit.",
    "total_balance": "Total money balance (real + bonus) in the player's currency right after the deposit.",
    "deposit_code": "The deposit or voucher code the player used for a bonus, if any.",
    "deposit_method": 'Name of the deposit method, e.g. "PaySafe".',
    "withdrawal_amount": "Withdrawal amount, in the player's currency.",
    "withdrawal_method": 'Name of the withdrawal method, e.g. "Bank transfer".',
    "bet_amount": "Total bet amount (real + bonus), in the player's currency.",
    "bet_amount_real": "Real money part of the bet, in the player's currency.",
    "bet_amount_bonus": "Bonus money part of the bet, in the player's currency.",
    "win_amount": "Total win amount (real + bonus), in the player's currency.",
    "win_amount_real": "Real money part of the win, in the player's currency.",
    "win_amount_bonus": "Bonus money part of the win, in the player's currency.",
    "game_id": "Your unique id of the game.",
    "game_name": 'Name of the game, e.g. "Golden Slot 2".',
    "game_category": 'The game\'s category, e.g. "Slots".',
    "game_category_id": "Your unique id of the game's category.",
    "game_provider": 'The game\'s provider, e.g. "Pragmatic".',
    "game_provider_id": "Your unique id of the game's provider.",
    "result": _RESULT,
    "selection_id": "Your unique id of the selection (leg).",
    "selection_name": 'The outcome picked, e.g. "Over 2.5".',
    "action": 'What the player did, in your words, e.g. "opened_promotions".',
    "segment_id": "The segment's id in Pitboss.",
    "segment_name": "The segment's name when the event happened.",
    # the affiliate pixel's conversions (docs/affiliates.md)
    "conversion_type": "What the pixel reported: install, registration or deposit.",
    "affiliate_code": "The affiliate's code (as in the player's core_affiliate_id or core_affiliate_str).",
    "affiliate_id": "The affiliate's id in Pitboss.",
    "campaign_id": "The campaign's id in Pitboss.",
    "click_id": "The click the conversion was reported on.",
    "conversion_id": "The conversion's id in Pitboss.",
    "transaction_id": "The deposit's transaction id, as the pixel sent it.",
    # Pitboss's own facts (gamification/facts.py)
    "level_id": "The new level's id.",
    "level_name": "The new level's name.",
    "previous_level_id": "The level before, if any.",
    "previous_level_name": "The name of the level before, if any.",
    "currency": "The wallet currency: points, gems or diamonds.",
    "amount": "The change: positive when credited, negative when debited.",
    "balance": "The balance after the change.",
    "source": "What made the change, e.g. mission, store, manual.",
    "entry_id": "The wallet entry's id.",
    "mission_id": "The mission's id.",
    "mission_name": "The mission's name.",
    "run": "Which completion of the mission this is (1 for the first).",
    "cycle": "The recurrence cycle of a recurring mission.",
    "badge_id": "The badge's id.",
    "badge_name": "The badge's name.",
    "stage": "The stage earned (1 for a badge without stages).",
    "stage_name": "The stage's name.",
    "tournament_id": "The tournament's id.",
    "instance_id": "The tournament run's (instance's) id.",
    "tournament_name": "The tournament's name.",
    "registration_type": "How the player entered: auto, opt_in or buy_in.",
    "place": "The player's final place (1 = first).",
    "score": "The player's final score.",
    "item_id": "The store item's id.",
    "item_name": "The store item's name.",
    "price": "The price paid.",
    "purchase_id": "The purchase's id.",
    **_SPORT_WORDS,
    # usage analytics (docs/usage-analytics.md): the SmartKarrot request's fields and the event's parameters
    "name": 'The event\'s name as the app logged it, e.g. "Signed In".',
    "module": 'The app module it happened in (SmartKarrot\'s standard attribute "Module"), e.g. "Login".',
    "session_id": "The app's session id.",
    "device_id": "The app's id of the device.",
    "platform": "ios, android or web.",
    "app_id": "The SmartKarrot app id the event was sent with.",
    "customer_account_id": "The customer account (accountId) of the user.",
    "product_id": "The SmartKarrot product id.",
    "app_version": "The app's version.",
    "user_source_ip": "The user's IP address as the app saw it.",
    "parameters": "The event's other attributes: name -> text (dates as ISO 8601 text), number or true/false.",
    "start_time": "When the session started (UTC).",
    "end_time": "When the session ended (UTC).",
    "duration_seconds": "The session's length in seconds, when its start was logged.",
    "request_count": "Requests the page made while loading.",
    "load_time": "The page's load time, as the app measured it.",
    "page_url": "The page's URL.",
    # profile_update's payload: the player profile fields (docs/data-integration.md)
    "dt_update": "When the profile changed at your side (default: when it arrives).",
    "core_account_status": "Account status: ACTIVE, or why the account is not (marketing skips those).",
    "core_registration_date": "Registration time, UTC, in the past.",
    "core_user_language": "ISO 639-1 language, e.g. EN.",
    "core_wallet_currency": "ISO 4217 currency of the player's wallet, e.g. EUR; cannot change once set.",
    "core_username": "Username or nickname.",
    "user_birthdate": "Birth date, in the past.",
    "user_country": "ISO 3166-1 alpha-2 country, e.g. MT.",
    "user_email": "Email address; encrypted at rest.",
    "user_first_name": "First name.",
    "user_last_name": "Last name.",
    "user_phone": "Phone number, e.g. +35699123456; encrypted at rest.",
    "core_affiliate_id": "Numeric affiliate id.",
    "core_affiliate_str": "Affiliate id when it is not a number.",
    "core_is_email_disabled_by_platform": "The player opted out of email.",
    "core_is_sms_disabled_by_platform": "The player opted out of SMS.",
    "core_user_gender": "Gender.",
    "core_kyc_status": "KYC status in your system.",
    "custom": "Custom properties: name to text, number, true/false or null (null removes one).",
    "markers": "Public tags; replaces the player's set.",
}
# The same name meaning something else on one type.
TYPE_FIELD_DESCRIPTIONS: dict[tuple[str, str], str] = {
    ("casino_win", "bet_id"): "Your id of the bet this win pays, when you have one.",
    ("sport_selection_placed", "bet_id"): "The bet this selection belongs to (sport_bet_placed's bet_id).",
    ("sport_selection_settled", "bet_id"): "The bet this selection belongs to (sport_bet_placed's bet_id).",
    ("sport_selection_placed", "odds"): "The selection's decimal odds, e.g. 1.8.",
    ("sport_selection_settled", "odds"): "The selection's decimal odds, e.g. 1.8.",
    ("sport_selection_settled", "result"): "How the selection was settled: won, lost, void, cashout, half_won or "
    "half_lost.",
    ("store_item_purchased", "currency"): "The currency the price was paid in: points, gems or diamonds.",
    ("affiliate_conversion", "amount"): "A deposit's amount as the pixel sent it, in its currency.",
    ("affiliate_conversion", "currency"): "The deposit amount's currency as the pixel sent it: eur, usd or gbp.",
    ("sport_bet_settled", "win_amount"): "What the bet paid (real + bonus), in the player's currency; 0 or absent "
    "when lost.",
}

_TEXT_LENGTHS: dict[Callable[[Any], Any], int] = {text64: 64, text128: 128, text255: 255, text1024: 1024}
KIND_WORDS = {
    "string": "text",
    "integer": "integer",
    "number": "number",
    "boolean": "true/false",
    "timestamp": "timestamp",
    "object": "object",
    "list": "list",
}


@dataclass(frozen=True)
class FieldDoc:
    """One payload field of a type: its name, kind (crm.catalogue.FieldInfo), whether it is required, in words."""

    name: str
    kind: str
    required: bool
    description: str
    choices: tuple[str, ...] = ()
    max_length: int | None = None
    money: bool = False

    @property
    def type_words(self) -> str:
        """The kind as staff read it: "text (at most 128)", "money amount", "one of: won, lost"."""
        if self.choices:
            return f"one of: {', '.join(self.choices)}"
        if self.money:
            return "money amount (≥ 0)"
        words = KIND_WORDS.get(self.kind, self.kind)
        if self.kind == "timestamp":
            return "timestamp (ISO 8601 or epoch ms)"
        return f"{words} (at most {self.max_length})" if self.max_length else words

    def json_schema(self) -> dict[str, Any]:
        """The field's JSON schema (OpenAPI 3.0), without its description."""
        if self.choices:
            return {"type": "string", "enum": list(self.choices)}
        if self.money:
            return {"type": "number", "minimum": 0, "maximum": MAX_AMOUNT, "exclusiveMaximum": True}
        if self.kind == "number":
            bounds = {"minimum": -MAX_NUMBER, "maximum": MAX_NUMBER}
            return {"type": "number", **bounds, "exclusiveMinimum": True, "exclusiveMaximum": True}
        if self.kind == "integer":
            return {"type": "integer", "format": "int64"}
        if self.kind == "boolean":
            return {"type": "boolean"}
        if self.kind == "timestamp":
            return {"oneOf": [{"type": "string", "format": "date-time"}, {"type": "integer"}]}
        if self.kind == "object":
            value = {"oneOf": [{"type": "string", "maxLength": 1024}, {"type": "number"}, {"type": "boolean"}]}
            return {"type": "object", "additionalProperties": value}
        schema: dict[str, Any] = {"type": "string"}
        if self.max_length:
            schema["maxLength"] = self.max_length
        return schema


def _description(type_name: str, field: str) -> str:
    return TYPE_FIELD_DESCRIPTIONS.get((type_name, field)) or FIELD_DESCRIPTIONS.get(field, "")


def type_fields(type_name: str) -> list[FieldDoc]:
    """The payload fields of a built-in type (core, system or profile_update), required ones first, with words."""
    if type_name == PROFILE_UPDATE:
        return [
            FieldDoc(name, info.kind, False, _description(type_name, name), info.choices)
            for name, info in PROFILE_FIELD_INFO.items()
        ]
    spec = CORE_TYPES[type_name]
    infos = spec_fields(spec)
    docs = []
    for required, parsers in ((True, spec.required), (False, spec.optional)):
        for name, parser in parsers.items():
            info = infos[name]
            docs.append(
                FieldDoc(
                    name=name,
                    kind=info.kind,
                    required=required,
                    description=_description(type_name, name),
                    choices=parser.choices if isinstance(parser, Choice) else (),
                    max_length=_TEXT_LENGTHS.get(parser),
                    money=parser is amount,
                )
            )
    return docs


@dataclass(frozen=True)
class TypeDoc:
    """A built-in event type in words: its name, what it means, its payload fields."""

    name: str
    description: str
    fields: list[FieldDoc]
    system: bool  # emitted by Pitboss itself; partners cannot send it

    @property
    def required_names(self) -> list[str]:
        return [f.name for f in self.fields if f.required]


def builtin_types() -> list[TypeDoc]:
    """Every built-in type in catalogue order (core, profile_update, then the apps' own facts)."""
    names = [n for n in CORE_TYPES if n not in SYSTEM_TYPES] + [PROFILE_UPDATE] + sorted(SYSTEM_TYPES)
    return [TypeDoc(n, TYPE_DESCRIPTIONS.get(n, ""), type_fields(n), n in SYSTEM_TYPES) for n in names]


def partner_types() -> list[TypeDoc]:
    """The built-in types a partner may send (core types and profile_update; not Pitboss's own facts)."""
    return [doc for doc in builtin_types() if not doc.system]
