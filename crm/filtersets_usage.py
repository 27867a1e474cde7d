"""FilterSets of the usage analytics list endpoints (crm/api/usage.py)."""

from __future__ import annotations

import django_filters as filters

from backoffice.filtersets import BaseFilterSet, IsoDateTimeFilter, MultiValueCharFilter
from crm.models import CustomerAccount, CustomerAccountStatus, UsagePlatform, UsageUser, UsageUserKind, UsageUserStatus


class CustomerAccountFilterSet(BaseFilterSet):
    account_id = MultiValueCharFilter(help_text="Account ids (repeat for several).")
    app_id = MultiValueCharFilter(help_text="SmartKarrot app ids the accounts were written through.")
    status = filters.ChoiceFilter(choices=CustomerAccountStatus.choices, help_text="Active or Inactive.")

    class Meta:
        model = CustomerAccount
        fields: list[str] = []

    def filter_q(self, queryset, name, value):
        """`q`: an exact account id or the start of a name."""
        return queryset.filter(account_id=value) | queryset.filter(name__istartswith=value)


class UsageUserFilterSet(BaseFilterSet):
    user_id = MultiValueCharFilter(help_text="SmartKarrot user ids (repeat for several).")
    app_id = MultiValueCharFilter(field_name="app__app_id", help_text="SmartKarrot app ids.")
    customer_account_id = MultiValueCharFilter(
        field_name="customer_account__account_id", help_text="Customer account ids."
    )
    kind = filters.ChoiceFilter(choices=UsageUserKind.choices, help_text="AUTH (a player) or GUEST.")
    status = filters.ChoiceFilter(choices=UsageUserStatus.choices, help_text="Active or Inactive.")
    platform = filters.ChoiceFilter(choices=UsagePlatform.choices, help_text="iOS, Android or Web.")
    seen_after = IsoDateTimeFilter(
        field_name="last_seen_at", lookup_expr="gte", help_text="Last seen at or after (ISO 8601)."
    )

    class Meta:
        model = UsageUser
        fields: list[str] = []

    def filter_q(self, queryset, name, value):
        return queryset.filter(user_id=value)
