"""The base of every FilterSet: multi-value filters, created_after/before, `q`, `label_key` (NetBox's way)."""

from __future__ import annotations

import datetime as dt

import django_filters as filters
from django import forms
from django.core.exceptions import ValidationError
from django_filters.fields import IsoDateTimeField

from backoffice.fx import rates_valid_on
from backoffice.models import ExchangeRate


class MultiValueCharField(forms.Field):
    widget = forms.SelectMultiple  # reads every value of a repeated query parameter

    def to_python(self, value):
        if value in (None, "", []):
            return []
        return [str(v).strip() for v in (value if isinstance(value, list) else [value]) if str(v).strip()]


class MultiValueCharFilter(filters.MultipleChoiceFilter):
    """`?name=a&name=b` matches either (with `lookup_expr="contains"`: has all of them). Values are free text.

    It extends MultipleChoiceFilter only so that the OpenAPI schema shows a repeated (exploded) array parameter.
    """

    field_class = MultiValueCharField

    def __init__(self, *args, transform=None, **kwargs):
        self.transform = transform
        super().__init__(*args, **kwargs)

    def filter(self, qs, value):
        if not value:
            return qs
        if self.transform:
            value = [self.transform(v) for v in value]
        if self.lookup_expr == "contains":
            return qs.filter(**{f"{self.field_name}__contains": value})
        return qs.filter(**{f"{self.field_name}__in": value})


class UtcIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 time, compared in UTC. PostgreSQL refuses offsets past 15:59 (DataError, a 500), and a time at the
    edge of the calendar (9999-12-31T23:59:59-01:00) has no UTC value: both are a field error instead."""

    default_error_messages = {"out_of_range": "Out of range: the time has no UTC value between years 1 and 9999."}

    def to_python(self, value):
        value = super().to_python(value)
        if value is None:
            return None
        try:
            return value.astimezone(dt.UTC)
        except OverflowError as exc:
            raise ValidationError(self.error_messages["out_of_range"], code="out_of_range") from exc


class IsoDateTimeFilter(filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField


class IdField(forms.IntegerField):
    """A row id: a whole number in bigint's range, so a value past it is a 400 naming the parameter, not a
    DataError."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", 2**63 - 1)
        super().__init__(*args, **kwargs)


class IdFilter(filters.NumberFilter):
    field_class = IdField


class IdInFilter(filters.BaseInFilter, IdFilter):
    """Comma-separated row ids (`?campaign_id=3,7`)."""


class BaseFilterSet(filters.FilterSet):
    """Every list endpoint filters by creation time, a free-text `q`, and label (for staff with several labels)."""

    created_after = IsoDateTimeFilter(
        field_name="created_at", lookup_expr="gte", help_text="Created at or after (ISO 8601)."
    )
    created_before = IsoDateTimeFilter(
        field_name="created_at", lookup_expr="lt", help_text="Created before (ISO 8601)."
    )
    q = filters.CharFilter(method="filter_q", help_text="Free-text search.")
    label_key = filters.CharFilter(field_name="label__label_key", help_text="Only this label (staff with several).")

    def filter_q(self, queryset, name, value):
        return queryset


class ExchangeRateFilterSet(BaseFilterSet):
    currency = MultiValueCharFilter(help_text="ISO 4217 currencies (repeat for several).")
    valid_on = filters.DateFilter(
        method="filter_valid_on", help_text="Only the rate each currency converts at on this day (YYYY-MM-DD)."
    )
    valid_from_after = filters.DateFilter(
        field_name="valid_from", lookup_expr="gte", help_text="First day on or after (YYYY-MM-DD)."
    )
    valid_from_before = filters.DateFilter(
        field_name="valid_from", lookup_expr="lt", help_text="First day before (YYYY-MM-DD)."
    )

    class Meta:
        model = ExchangeRate
        fields: list[str] = []

    def filter_q(self, queryset, name, value):
        """`q`: a currency code."""
        return queryset.filter(currency=value.strip().upper())

    def filter_valid_on(self, queryset, name, value: dt.date):
        return rates_valid_on(queryset, value)
