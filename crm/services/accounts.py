"""Customer accounts: create-or-update by the partner's id, safe under concurrent calls (one INSERT … ON CONFLICT)."""

from __future__ import annotations

from django.db import transaction

from crm.models import CustomerAccount, CustomerAccountStatus


def customer_account_upsert(
    *,
    label_id: int,
    account_id: str,
    app_id: str = "",
    name: str = "",
    status: str = CustomerAccountStatus.ACTIVE,
    product_ids: list[str] | None = None,
    logo: bytes | None = None,
    logo_content_type: str = "",
) -> CustomerAccount:
    """Creates the account or overwrites the given fields of an existing one; a logo of None keeps the current one."""
    row = CustomerAccount(
        label_id=label_id,
        account_id=account_id,
        app_id=app_id,
        name=name,
        status=status,
        product_ids=list(product_ids or []),
        logo=logo,
        logo_content_type=logo_content_type if logo is not None else "",
    )
    fields = ["app_id", "name", "status", "product_ids", "updated_at"]
    if logo is not None:
        fields += ["logo", "logo_content_type"]
    with transaction.atomic():
        (saved,) = CustomerAccount.objects.bulk_create(
            [row], update_conflicts=True, unique_fields=["label", "account_id"], update_fields=fields
        )
    return saved


def customer_account_ensure(*, label_id: int, account_id: str, app_id: str = "") -> CustomerAccount:
    """The account named by another record (an order, a ticket, a contact), created bare if the partner has not sent
    it yet; an existing account is left as it is."""
    CustomerAccount.objects.bulk_create(
        [CustomerAccount(label_id=label_id, account_id=account_id, app_id=app_id)],
        ignore_conflicts=True,
        unique_fields=["label", "account_id"],
    )
    return CustomerAccount.objects.get(label_id=label_id, account_id=account_id)
