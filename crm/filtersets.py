"""FilterSets of CRM list endpoints."""

from __future__ import annotations

import django_filters as filters

from backoffice.crypto import lookup_digest, normalize_email, normalize_phone
from backoffice.filtersets import BaseFilterSet, IsoDateTimeFilter, MultiValueCharFilter
from crm.models import AccountStatus, Gender, Player


class PlayerFilterSet(BaseFilterSet):
    ext_brand_id = MultiValueCharFilter(field_name="brand__ext_brand_id", help_text="Brand ids (repeat for several).")
    user_ext_id = MultiValueCharFilter(help_text="Player ids (repeat for several).")
    core_account_status = filters.MultipleChoiceFilter(choices=AccountStatus.choices, help_text="Account statuses.")
    core_user_gender = filters.MultipleChoiceFilter(choices=Gender.choices, help_text="Genders.")
    user_country = MultiValueCharFilter(help_text="ISO 3166-1 alpha-2 countries.", transform=str.upper)
    core_user_language = MultiValueCharFilter(help_text="ISO 639-1 languages.", transform=str.upper)
    core_wallet_currency = MultiValueCharFilter(help_text="ISO 4217 currencies.", transform=str.upper)
    marker = MultiValueCharFilter(method="filter_markers", help_text="Has all these markers (repeat for several).")
    registered_after = IsoDateTimeFilter(
        field_name="core_registration_date", lookup_expr="gte", help_text="Registered at or after (ISO 8601)."
    )
    registered_before = IsoDateTimeFilter(
        field_name="core_registration_date", lookup_expr="lt", help_text="Registered before (ISO 8601)."
    )
    updated_after = IsoDateTimeFilter(
        field_name="dt_update", lookup_expr="gte", help_text="Profile changed at or after (ISO 8601)."
    )
    updated_before = IsoDateTimeFilter(
        field_name="dt_update", lookup_expr="lt", help_text="Profile changed before (ISO 8601)."
    )
    email = filters.CharFilter(method="filter_email", help_text="Exact email address (matched by its digest).")
    phone = filters.CharFilter(method="filter_phone", help_text="Exact phone number (matched by its digest).")

    class Meta:
        model = Player
        fields: list[str] = []

    def filter_q(self, queryset, name, value):
        """`q`: an exact player id or the start of a username."""
        return queryset.filter(user_ext_id=value) | queryset.filter(core_username__istartswith=value)

    def filter_markers(self, queryset, name, value: list[str]):
        return queryset.filter(markers__contains=value)

    def filter_email(self, queryset, name, value):
        return queryset.filter(user_email_digest=lookup_digest(normalize_email(value)))

    def filter_phone(self, queryset, name, value):
        return queryset.filter(user_phone_digest=lookup_digest(normalize_phone(value)))
