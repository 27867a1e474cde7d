"""Customer accounts: the accounts a partner's customer-success tools know (SmartKarrot's `accountId`).

One account is shared by every part of the customer-success family: usage analytics users and events, financial
orders and targets, ticket contacts and tickets all name it by the partner's `account_id`, unique per label. The
`app_id` is the partner's app the account was last written through (SmartKarrot's `appId`); it is kept, not checked.
"""

from __future__ import annotations

from django.db import models

from backoffice.models.base import LabelScopedModel


class CustomerAccountStatus(models.TextChoices):
    ACTIVE = "Active", "Active"
    INACTIVE = "Inactive", "Inactive"


class CustomerAccount(LabelScopedModel):
    account_id = models.CharField(max_length=128, help_text="The partner's id of the customer account.")
    app_id = models.CharField(max_length=128, blank=True, help_text="The partner's app id it was written through.")
    name = models.CharField(max_length=255, blank=True, help_text="Name of the customer account.")
    logo = models.BinaryField(null=True, blank=True, editable=False, help_text="Logo image (under 3 MB).")
    logo_content_type = models.CharField(max_length=32, blank=True, editable=False)
    product_ids = models.JSONField(default=list, blank=True, help_text="The partner's product ids.")
    status = models.CharField(max_length=8, choices=CustomerAccountStatus.choices, default=CustomerAccountStatus.ACTIVE)

    class Meta:
        ordering = ["label", "name", "account_id"]
        constraints = [
            models.UniqueConstraint(fields=["label", "account_id"], name="customer_account_unique_id"),
        ]

    def __str__(self) -> str:
        return self.name or self.account_id
