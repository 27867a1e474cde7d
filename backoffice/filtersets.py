"""The base of every FilterSet: multi-value filters, created_after/before, `q`, `label_key` (NetBox's way)."""

from __future__ import annotations

import django_filters as filters
from django import forms


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


class BaseFilterSet(filters.FilterSet):
    """Every list endpoint filters by creation time, a free-text `q`, and label (for staff with several labels)."""

    created_after = filters.IsoDateTimeFilter(
        field_name="created_at", lookup_expr="gte", help_text="Created at or after (ISO 8601)."
    )
    created_before = filters.IsoDateTimeFilter(
        field_name="created_at", lookup_expr="lt", help_text="Created before (ISO 8601)."
    )
    q = filters.CharFilter(method="filter_q", help_text="Free-text search.")
    label_key = filters.CharFilter(field_name="label__label_key", help_text="Only this label (staff with several).")

    def filter_q(self, queryset, name, value):
        return queryset
