"""Financial data of customer accounts (SmartKarrot's financial integration): orders, each app's logo churn tolerance,
each account's start date and ARR target. The dashboards' figures (MRR, ARR, movements, logo churn) are computed from
these rows in SQL by crm/financial_selectors.py; docs/financial.md defines them.

Amounts are in the label's base currency (the reference's orders carry no currency).
"""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q

from backoffice.models.base import LabelScopedModel
from crm.models.accounts import CustomerAccount


class OrderStatus(models.TextChoices):
    ACTIVATED = "Activated", "Activated"
    DRAFT = "Draft", "Draft"


class Order(LabelScopedModel):
    """A component of a customer's contract: `amount` is its total value over its term, from `effective_date` to
    `end_date` (both included). Only Activated orders count in the figures; a Draft is kept but counts nowhere."""

    order_id = models.CharField(max_length=128, help_text="The partner's id of the order (unique in the label).")
    account = models.ForeignKey(
        "crm.CustomerAccount", on_delete=models.PROTECT, related_name="orders", help_text="The customer account."
    )
    app_id = models.CharField(max_length=128, help_text="The partner's app id (SmartKarrot appId).")
    org_product_id = models.CharField(max_length=128, help_text="The partner's product id (orgProductId).")
    status = models.CharField(max_length=9, choices=OrderStatus.choices, help_text="Activated or Draft.")
    amount = models.DecimalField(
        max_digits=18, decimal_places=2, help_text="Total value over the term, in the label's base currency."
    )
    effective_date = models.DateField(help_text="First day of the order's term.")
    end_date = models.DateField(help_text="Last day of the order's term (included).")

    class Meta:
        ordering = ["-effective_date", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["label", "order_id"], name="order_unique_id"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="order_amount_not_negative"),
            models.CheckConstraint(condition=Q(end_date__gte=F("effective_date")), name="order_end_after_start"),
        ]
        indexes = [
            models.Index(fields=["label", "app_id", "status"], name="order_label_app_status"),
            models.Index(fields=["account", "effective_date"], name="order_account_effective"),
        ]

    def __str__(self) -> str:
        return self.order_id


class AppFinancialConfig(LabelScopedModel):
    """An app's financial configuration (SmartKarrot's app financial data): the logo churn it tolerates per month."""

    app_id = models.CharField(max_length=128, help_text="The partner's app id (SmartKarrot appId).")
    logo_churn_tolerance = models.DecimalField(
        max_digits=5,
        decimal_places=4,
        validators=[MinValueValidator(0), MaxValueValidator(1)],
        help_text="Upper limit of the monthly logo churn rate, as a fraction (0.05 = 5 %).",
    )

    class Meta:
        ordering = ["label", "app_id"]
        verbose_name = "app financial configuration"
        constraints = [
            models.UniqueConstraint(fields=["label", "app_id"], name="app_financial_unique_app"),
            models.CheckConstraint(
                condition=Q(logo_churn_tolerance__gte=0, logo_churn_tolerance__lte=1), name="app_financial_tolerance"
            ),
        ]

    def __str__(self) -> str:
        return self.app_id


class AccountFinancialConfig(LabelScopedModel):
    """A customer account's financial configuration (SmartKarrot's account financial data): since when it is a
    customer, and the ARR it is expected to reach."""

    account = models.OneToOneField(
        "crm.CustomerAccount", on_delete=models.PROTECT, related_name="financial", help_text="The customer account."
    )
    app_id = models.CharField(max_length=128, help_text="The partner's app id it was written through.")
    account_start_date = models.DateField(help_text="Creation date of the account for financial data.")
    arr_target = models.DecimalField(
        max_digits=18,
        decimal_places=2,
        validators=[MinValueValidator(0)],
        help_text="The ARR target of the account, in the label's base currency.",
    )

    class Meta:
        ordering = ["label", "account__account_id"]
        verbose_name = "account financial configuration"
        constraints = [models.CheckConstraint(condition=Q(arr_target__gte=0), name="account_financial_target")]

    def __str__(self) -> str:
        return str(self.account)


class CustomerFinancials(CustomerAccount):
    """A customer account seen by the finance team: its MRR, ARR against target, orders and dashboard (admin only)."""

    class Meta:
        proxy = True
        verbose_name = "customer account financials"
        verbose_name_plural = "customer account financials"


class OrderChangeKind(models.TextChoices):
    CREATED = "created", "Created"
    CHANGED = "changed", "Changed"
    DELETED = "deleted", "Deleted"


class OrderChange(LabelScopedModel):
    """One write that changed an order, with the fields it changed (`{field: [before, after]}`, as JSON text). Kept
    after the order is deleted: the finance team can always tell who paid what, when it was booked, and what changed."""

    order = models.ForeignKey(
        Order, null=True, on_delete=models.SET_NULL, related_name="changes", help_text="The order (null once deleted)."
    )
    order_ref = models.CharField(max_length=128, help_text="The partner's id of the order.")
    kind = models.CharField(max_length=7, choices=OrderChangeKind.choices, help_text="created, changed or deleted.")
    changes = models.JSONField(default=dict, help_text="Each changed field: [before, after].")

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["label", "order_ref"], name="order_change_label_ref")]

    def __str__(self) -> str:
        return f"{self.order_ref} {self.kind}"
