"""Financial data writes: orders, app and account financial configuration.

Every write is one `INSERT … ON CONFLICT` on the row's natural key (the order's id, the app's id, the account), so
concurrent calls for the same row never fail and never duplicate it: the last one to commit is what stays. The customer
account an order or a configuration names is created bare if the partner has not sent it yet.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import structlog
from django.db import transaction

from backoffice.errors import DomainValidationError, NotFound
from crm.models import AccountFinancialConfig, AppFinancialConfig, Order, OrderStatus
from crm.services.accounts import customer_account_ensure

log = structlog.get_logger(__name__)

ORDER_FIELDS = ["account", "app_id", "org_product_id", "status", "amount", "effective_date", "end_date", "updated_at"]


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
    """Creates the order, or overwrites every field of the order with this id in the label."""
    if end_date < effective_date:
        raise DomainValidationError({"endDate": ["Must be on or after effectiveDate."]})
    if status not in OrderStatus.values:
        raise DomainValidationError({"status": [f"One of: {', '.join(OrderStatus.values)}."]})
    with transaction.atomic():
        account = customer_account_ensure(label_id=label_id, account_id=account_id, app_id=app_id)
        row = Order(
            label_id=label_id,
            order_id=order_id,
            account=account,
            app_id=app_id,
            org_product_id=org_product_id,
            status=status,
            amount=amount,
            effective_date=effective_date,
            end_date=end_date,
        )
        (saved,) = Order.objects.bulk_create(
            [row], update_conflicts=True, unique_fields=["label", "order_id"], update_fields=ORDER_FIELDS
        )
    log.info("order_upserted", label_id=label_id, order_pk=saved.pk, status=status)
    return saved


def order_delete(*, label_id: int, order_id: str, app_id: str) -> None:
    """Deletes the order with this id in this app; NotFound when there is none (or it belongs to another app)."""
    deleted, _ = Order.objects.filter(label_id=label_id, order_id=order_id, app_id=app_id).delete()
    if not deleted:
        raise NotFound("No order with this orderId in this appId.")
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
