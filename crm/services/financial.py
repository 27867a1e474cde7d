"""Financial data writes: orders, app and account financial configuration.

Concurrent calls for the same row never fail and never duplicate it; the last one to commit is what stays. An order is
written under a lock on its row (its history records each change against the state it replaced); a configuration is
one `INSERT … ON CONFLICT` on its key. The customer account an order or a configuration names is created bare if the
partner has not sent it yet.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import structlog
from django.db import IntegrityError, transaction

from backoffice.errors import DomainValidationError, NotFound
from crm.models import AccountFinancialConfig, AppFinancialConfig, Order, OrderChange, OrderChangeKind, OrderStatus
from crm.services.accounts import customer_account_ensure

log = structlog.get_logger(__name__)

ORDER_FIELDS = ["account", "app_id", "org_product_id", "status", "amount", "effective_date", "end_date"]


def order_upsert(
    *,
    label_id: int,
    order_id: str,
    account_id: str,
    app_id: str,
    org_product_id: str,
    status: str,
    amount: Decimal,
    effective_date: dt.date,
    end_date: dt.date,
) -> Order:
    """Creates the order, or overwrites every field of the order with this id in the label, and records what changed
    (OrderChange). Concurrent calls for one order are serialized on its row: none fails, none is lost or doubled, each
    change is recorded against the state it replaced, and the last to commit stays."""
    if end_date < effective_date:
        raise DomainValidationError({"endDate": ["Must be on or after effectiveDate."]})
    if status not in OrderStatus.values:
        raise DomainValidationError({"status": [f"One of: {', '.join(OrderStatus.values)}."]})
    with transaction.atomic():
        account = customer_account_ensure(label_id=label_id, account_id=account_id, app_id=app_id)
        new = Order(
            label_id=label_id, order_id=order_id, account=account, app_id=app_id, org_product_id=org_product_id,
            status=status, amount=amount, effective_date=effective_date, end_date=end_date,
        )  # fmt: skip
        current = _order_locked(label_id=label_id, order_id=order_id)
        if current is None:
            try:
                with transaction.atomic():  # a savepoint: a concurrent first write of this id may win the insert
                    new.save(force_insert=True)
            except IntegrityError:
                current = _order_locked(label_id=label_id, order_id=order_id)
            else:
                _record(order=new, kind=OrderChangeKind.CREATED, changes=_diff(None, new))
                log.info("order_created", label_id=label_id, order_pk=new.pk, status=status)
                return new
        assert current is not None  # the row that won the insert, locked
        changes = _diff(current, new)
        if changes:
            for field in ORDER_FIELDS:
                setattr(current, field, getattr(new, field))
            current.save(update_fields=[*ORDER_FIELDS, "updated_at"])
            _record(order=current, kind=OrderChangeKind.CHANGED, changes=changes)
            log.info("order_changed", label_id=label_id, order_pk=current.pk, fields=",".join(sorted(changes)))
    return current


def _order_locked(*, label_id: int, order_id: str) -> Order | None:
    orders = Order.objects.select_related("account").select_for_update(of=("self",))
    return orders.filter(label_id=label_id, order_id=order_id).first()


def _value(order: Order, field: str):
    if field == "account":
        return order.account.account_id
    value = getattr(order, field)
    if isinstance(value, Decimal):
        return str(value.quantize(Decimal("0.01")))  # as stored, whatever precision the caller passed
    return value.isoformat() if isinstance(value, dt.date) else value


def _diff(before: Order | None, after: Order | None) -> dict[str, list]:
    """`{field: [before, after]}` of the fields that differ (JSON values: ids, decimals and dates as text)."""
    changes = {}
    for field in ORDER_FIELDS:
        old = _value(before, field) if before is not None else None
        new = _value(after, field) if after is not None else None
        if old != new:
            changes[field] = [old, new]
    return changes


def _record(*, order: Order, kind: str, changes: dict) -> None:
    OrderChange.objects.create(
        label_id=order.label_id,
        order=order if kind != OrderChangeKind.DELETED else None,
        order_ref=order.order_id,
        kind=kind,
        changes=changes,
    )


def order_delete(*, label_id: int, order_id: str, app_id: str) -> None:
    """Deletes the order with this id in this app (its history stays); NotFound when there is none (or it belongs to
    another app)."""
    with transaction.atomic():
        order = _order_locked(label_id=label_id, order_id=order_id)
        if order is None or order.app_id != app_id:
            raise NotFound("No order with this orderId in this appId.")
        _record(order=order, kind=OrderChangeKind.DELETED, changes=_diff(order, None))
        order.delete()
    log.info("order_deleted", label_id=label_id)


def app_financial_upsert(*, label_id: int, app_id: str, logo_churn_tolerance: Decimal) -> AppFinancialConfig:
    """Sets the app's logo churn tolerance (a fraction between 0 and 1)."""
    if not Decimal(0) <= logo_churn_tolerance <= Decimal(1):
        raise DomainValidationError({"logoChurnTolerance": ["A fraction between 0 and 1 (0.05 = 5 %)."]})
    row = AppFinancialConfig(label_id=label_id, app_id=app_id, logo_churn_tolerance=logo_churn_tolerance)
    with transaction.atomic():
        (saved,) = AppFinancialConfig.objects.bulk_create(
            [row],
            update_conflicts=True,
            unique_fields=["label", "app_id"],
            update_fields=["logo_churn_tolerance", "updated_at"],
        )
    return saved


def app_financial_delete(*, label_id: int, app_id: str) -> None:
    deleted, _ = AppFinancialConfig.objects.filter(label_id=label_id, app_id=app_id).delete()
    if not deleted:
        raise NotFound("No financial configuration for this appId.")


def account_financial_upsert(
    *, label_id: int, account_id: str, app_id: str, account_start_date: dt.date, arr_target: Decimal
) -> AccountFinancialConfig:
    """Sets the account's start date and ARR target."""
    if arr_target < 0:
        raise DomainValidationError({"arrTarget": ["Must not be negative."]})
    with transaction.atomic():
        account = customer_account_ensure(label_id=label_id, account_id=account_id, app_id=app_id)
        row = AccountFinancialConfig(
            label_id=label_id,
            account=account,
            app_id=app_id,
            account_start_date=account_start_date,
            arr_target=arr_target,
        )
        (saved,) = AccountFinancialConfig.objects.bulk_create(
            [row],
            update_conflicts=True,
            unique_fields=["account"],
            update_fields=["app_id", "account_start_date", "arr_target", "updated_at"],
        )
    return saved


def account_financial_delete(*, label_id: int, account_id: str, app_id: str) -> None:
    """Resets the account's configuration (start date and ARR target); NotFound when it has none in this app."""
    deleted, _ = AccountFinancialConfig.objects.filter(
        label_id=label_id, account__account_id=account_id, app_id=app_id
    ).delete()
    if not deleted:
        raise NotFound("No financial configuration for this customerAccountId in this appId.")
