"""The smart pixel's parameters, validated by plain functions (the pixel is a hot path: no serializer).

`parse_call` returns the call, or the errors per parameter. Unknown parameters are ignored (cache busters, a network's
own macros); a known parameter given twice, or given where it does not apply, is an error. An empty value counts as
absent: templated URLs often leave a macro empty (`&amount=&currency=`).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from uuid import UUID

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from crm.models import ConversionType
from crm.services.affiliates import PixelCall

TYPES = tuple(ConversionType.values)
CURRENCIES = {"eur": "EUR", "usd": "USD", "gbp": "GBP"}
KNOWN = ("type", "test", "player_id", "currency", "amount", "time", "transaction_id")
MAX_ID_LENGTH = 128
MAX_AMOUNT = Decimal("999999999999.99")
FUTURE_SLACK = dt.timedelta(minutes=5)  # clocks of the caller and of Pitboss differ a little
TRUE, FALSE = ("true", "1", "yes"), ("false", "0", "no")
# The order an error's `code` is chosen in when several parameters are wrong.
ORDER = ("click_id", "type", "amount", "currency", "time", "test", "player_id", "transaction_id")


def _type(value: str | None, errors: dict) -> str:
    if value is None:
        errors["type"] = [f"Required: one of {', '.join(TYPES)}."]
        return ""
    if value.lower() not in TYPES:
        errors["type"] = [f"Must be one of {', '.join(TYPES)}, not {value[:40]!r}."]
        return ""
    return value.lower()


def _click_id(value: str, errors: dict) -> UUID | None:
    if not value:
        errors["click_id"] = ["Required: the click id (a UUID) in the path, /convert/{click_id}."]
        return None
    try:
        return UUID(value)
    except ValueError:
        errors["click_id"] = [f"Must be a UUID, not {value[:40]!r}."]
        return None


def _amount(value: str, errors: dict) -> Decimal | None:
    try:
        amount = Decimal(value)
    except InvalidOperation:
        errors["amount"] = [f"Must be a number (e.g. 40 or 40.50), not {value[:40]!r}."]
        return None
    if not amount.is_finite():
        errors["amount"] = ["Must be a finite number."]
    elif amount < 0:
        errors["amount"] = ["Must not be negative."]
    elif amount > MAX_AMOUNT:
        errors["amount"] = [f"Must be at most {MAX_AMOUNT}."]
    elif amount != amount.quantize(Decimal("0.01")):
        errors["amount"] = ["At most 2 decimals."]
    else:
        return amount.quantize(Decimal("0.01"))
    return None


def _time(value: str, errors: dict) -> dt.datetime | None:
    try:
        moment = parse_datetime(value.replace(" ", "+"))  # an unescaped '+' of the offset arrives as a space
    except ValueError:
        moment = None
    if moment is None:
        errors["time"] = [f"Must be an ISO 8601 date and time (e.g. 2024-05-01T12:30:00Z), not {value[:40]!r}."]
        return None
    if timezone.is_naive(moment):
        moment = moment.replace(tzinfo=dt.UTC)  # no offset: UTC, as the reference's platform assumes
    if moment > timezone.now() + FUTURE_SLACK:
        errors["time"] = ["Must not be in the future: the time the conversion occurred."]
        return None
    return moment


def _text(name: str, value: str, errors: dict) -> str:
    if len(value) > MAX_ID_LENGTH:
        errors[name] = [f"At most {MAX_ID_LENGTH} characters."]
        return ""
    return value


def _values(query) -> tuple[dict[str, str], dict[str, list[str]]]:
    """The known parameters' values (empty ones dropped), and errors for those given twice."""
    values: dict[str, str] = {}
    errors: dict[str, list[str]] = {}
    for name, value in query:
        if value == "" or name not in KNOWN or name in errors:
            continue
        if name in values:
            del values[name]
            errors[name] = ["Given more than once."]
        else:
            values[name] = value
    return values, errors


def _deposit_fields(kind: str, values: dict[str, str], errors: dict) -> tuple[str, Decimal | None]:
    currency, amount = values.get("currency"), values.get("amount")
    if kind and kind != ConversionType.DEPOSIT:
        for name in ("currency", "amount"):
            if name in values:
                errors[name] = ["Only for deposit conversions (type=deposit)."]
        return "", None
    code = ""
    if currency is not None:
        code = CURRENCIES.get(currency.lower(), "")
        if not code:
            errors["currency"] = [f"Must be one of eur, usd, gbp, not {currency[:40]!r}."]
    parsed = _amount(amount, errors) if amount is not None else None
    if parsed is not None and currency is None:
        errors["currency"] = ["Required with amount: eur, usd or gbp."]
    return code, parsed


def parse_call(click_id: str, query, *, ip: str | None, user_agent: str, referrer: str):
    """(PixelCall, {}) or (None, {parameter: [messages]}). `query`: the call's (name, value) pairs, in order."""
    values, errors = _values(query)
    click = _click_id(click_id, errors)
    kind = _type(values.get("type"), errors) if "type" not in errors else ""
    currency, amount = _deposit_fields(kind, values, errors)
    test = values.get("test", "false").lower()
    if test not in TRUE + FALSE and "test" not in errors:
        errors["test"] = [f"Must be true or false, not {values['test'][:40]!r}."]
    moment = _time(values["time"], errors) if "time" in values and "time" not in errors else None
    player_id = _text("player_id", values.get("player_id", ""), errors) if "player_id" not in errors else ""
    txn = _text("transaction_id", values.get("transaction_id", ""), errors) if "transaction_id" not in errors else ""
    if errors:
        return None, errors
    call = PixelCall(
        click_id=click, type=kind, test=test in TRUE, player_id=player_id, currency=currency, amount=amount,
        time=moment, transaction_id=txn, ip=ip, user_agent=user_agent[:512], referrer=referrer[:2000],
    )  # fmt: skip
    return call, {}


def error_body(errors: dict[str, list[str]]) -> dict:
    """The 422 body: the project's one error shape, its code naming the first parameter at fault
    (`invalid_type`, `invalid_amount`, `invalid_currency`... as the reference's three errors)."""
    first = next((name for name in ORDER if name in errors), next(iter(errors)))
    message = "; ".join(f"{name}: {' '.join(msgs)[:1].lower()}{' '.join(msgs)[1:]}" for name, msgs in errors.items())
    return {"code": f"invalid_{first}", "message": f"Invalid {message}", "errors": errors}
