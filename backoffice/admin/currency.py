"""Exchange rates: listed per label with the wallet currencies that still lack one, entered one by one or as a CSV.

Every write goes through backoffice.services.currency, the same rules as the API's.
"""

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib import admin, messages
from django.db.models import OuterRef, Subquery
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from unfold.contrib.filters.admin import DropdownFilter, RangeDateFilter, TextFilter
from unfold.decorators import action, display
from unfold.widgets import UnfoldAdminFileFieldWidget, UnfoldAdminSelectWidget

from backoffice.admin.base import LabelScopedAdmin
from backoffice.admin.filters import ScopedRelatedFilter
from backoffice.errors import DomainValidationError
from backoffice.fx import rates_changed, rates_valid_on, wallet_currencies_without_rate_cached
from backoffice.models import ExchangeRate, Label, Perm
from backoffice.services.currency import (
    IMPORT_COLUMNS,
    MAX_IMPORT_ROWS,
    currency_errors,
    exchange_rate_create,
    exchange_rate_update,
    exchange_rates_import,
    rate_errors,
)

MAX_IMPORT_BYTES = 1_000_000


class CurrencyFilter(DropdownFilter):
    """The currencies that have rates in the labels in view (a small table: no need for the whole ISO list)."""

    title = "currency"
    parameter_name = "currency"

    def lookups(self, request, model_admin):
        rows = ExchangeRate.objects.for_actor(model_admin.actor(request)).values_list("currency", flat=True)
        return [(code, code) for code in sorted(set(rows))]

    def queryset(self, request, queryset):
        value = self.value()
        return queryset.filter(currency=value) if value else queryset


class ValidOnFilter(TextFilter):
    """The rate each currency uses on a day (YYYY-MM-DD): what a bet of that day converts at."""

    title = "valid on (YYYY-MM-DD)"
    parameter_name = "valid_on"

    def queryset(self, request, queryset):
        value = (self.value() or "").strip()
        if not value:
            return queryset
        try:
            day = dt.date.fromisoformat(value)
        except ValueError:
            return queryset.none()  # a date nobody can read matches nothing, like a search for it would
        return rates_valid_on(queryset, day)


class RateFormField(forms.DecimalField):
    """Trailing zeros carry no precision: "0.087123456789000" (15 decimals, as spreadsheets write them) is accepted;
    a 13th significant decimal is refused, never rounded away."""

    def to_python(self, value):
        value = super().to_python(value)
        return value.normalize() if value is not None and value.is_finite() else value


class ExchangeRateForm(forms.ModelForm):
    class Meta:
        model = ExchangeRate
        fields = ["label", "currency", "rate", "valid_from"]
        field_classes = {"rate": RateFormField}

    def clean_currency(self):
        return (self.cleaned_data.get("currency") or "").strip().upper()

    def clean(self):
        # The service's rules, on the form's fields; errors here also keep Django's generic constraint messages away.
        data = super().clean()
        changing = self.instance.pk is not None  # label and currency are read-only then
        label = self.instance.label if changing else data.get("label")
        currency = self.instance.currency if changing else data.get("currency")
        if label is not None and currency and not changing:
            for message in currency_errors(label=label, currency=currency):
                self.add_error("currency", message)
        if data.get("rate") is not None:
            for message in rate_errors(rate=data["rate"]):
                self.add_error("rate", message)
        day = data.get("valid_from")
        if label is not None and currency and day is not None:
            other = ExchangeRate.objects.filter(label=label, currency=currency, valid_from=day)
            existing = other.exclude(pk=self.instance.pk).first() if changing else other.first()
            if existing is not None:
                self.add_error(
                    "valid_from",
                    f"{currency} already has a rate from {day} (1 {currency} = {_plain(existing.rate)} "
                    f"{label.base_currency}): change that one.",
                )
        return data


@admin.register(ExchangeRate)
class ExchangeRateAdmin(LabelScopedAdmin):
    """One row per currency and first day. The list warns about wallet currencies of the label's players that have
    no rate: their bets and deposits count for nothing in missions and tournaments until one is entered."""

    add_perm = change_perm = delete_perm = Perm.RATES_WRITE
    form = ExchangeRateForm
    list_display = ("currency", "rate_display", "valid_from", "valid_until", "label", "entered_by", "updated_at")
    list_filter = (("label", ScopedRelatedFilter), CurrencyFilter, ValidOnFilter, ("valid_from", RangeDateFilter))
    list_filter_submit = True
    list_select_related = ("label", "created_by", "api_key")
    search_fields = ("currency",)
    actions = ["delete_selected"]
    actions_list = ["import_csv"]
    ordering = ("label__name", "currency", "-valid_from")

    def get_queryset(self, request):
        following = ExchangeRate.objects.filter(
            label_id=OuterRef("label_id"), currency=OuterRef("currency"), valid_from__gt=OuterRef("valid_from")
        ).order_by("valid_from")
        return super().get_queryset(request).annotate(next_from=Subquery(following.values("valid_from")[:1]))

    def get_fieldsets(self, request, obj=None):
        main = (None, {"fields": ["label", "currency", "rate", "valid_from"]})
        if obj is None:
            return [main]
        return [main, ("History", {"fields": ["entered_by", "created_at", "updated_at"]})]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        # A rate belongs to its label and currency; a wrong currency is deleted and entered again.
        return ["label", "currency", "entered_by", "created_at", "updated_at"]

    # --- list columns --------------------------------------------------------------------------------------------
    @display(description="Rate", ordering="rate")
    def rate_display(self, obj) -> str:
        return f"1 {obj.currency} = {_plain(obj.rate)} {obj.label.base_currency}"

    @display(description="Valid until")
    def valid_until(self, obj) -> str:
        next_from = getattr(obj, "next_from", None)
        return f"{next_from - dt.timedelta(days=1)}" if next_from else "until a newer rate"

    @display(description="Entered by")
    def entered_by(self, obj) -> str:
        if obj.created_by_id:
            return obj.created_by.get_username()
        if obj.api_key_id:
            return f"API key {obj.api_key.name}"
        return "-"

    # --- writes --------------------------------------------------------------------------------------------------
    def save_model(self, request, obj, form, change) -> None:
        data = form.cleaned_data
        if change:
            exchange_rate_update(exchange_rate=obj, rate=data["rate"], valid_from=data["valid_from"])
            return
        saved = exchange_rate_create(
            label=data["label"],
            currency=data["currency"],
            rate=data["rate"],
            valid_from=data["valid_from"],
            created_by=request.user,
        )
        obj.pk, obj.created_at, obj.updated_at = saved.pk, saved.created_at, saved.updated_at
        obj._state.adding = False

    def delete_model(self, request, obj) -> None:
        super().delete_model(request, obj)
        rates_changed(label_id=obj.label_id)

    def delete_queryset(self, request, queryset) -> None:
        label_ids = set(queryset.values_list("label_id", flat=True))
        super().delete_queryset(request, queryset)
        for label_id in label_ids:
            rates_changed(label_id=label_id)

    # --- the warning about currencies without a rate -------------------------------------------------------------
    def changelist_view(self, request, extra_context=None):
        if request.method == "GET":
            for text in self._missing_warnings(request):
                messages.warning(request, text)
        return super().changelist_view(request, extra_context)

    def _missing_warnings(self, request) -> list[str]:
        labels = Label.objects.for_actor(self.actor(request)).order_by("name")
        warnings = []
        for label in labels:
            missing = wallet_currencies_without_rate_cached(label_id=label.pk, base_currency=label.base_currency)
            if missing:
                listed = ", ".join(
                    f"{code or 'no wallet currency'} ({count} player{'s' if count != 1 else ''})"
                    for code, count in missing
                )
                warnings.append(
                    f"{label.name}: no rate into {label.base_currency} for {listed}. Their bets, wins and deposits "
                    "count for nothing in missions and tournaments that sum or compare money until a rate is entered."
                )
        return warnings

    # --- CSV import -----------------------------------------------------------------------------------------------
    def has_import_csv_permission(self, request) -> bool:
        return self.has_add_permission(request)

    @action(description="Import rates CSV", url_path="import-csv", icon="upload", permissions=["import_csv"])
    def import_csv(self, request):
        """Create or correct many rates from a CSV: a rate for a currency and day that exists is replaced."""
        labels = Label.objects.for_actor(self.actor(request), Perm.RATES_WRITE)
        form = RateImportForm(request.POST or None, request.FILES or None, labels=labels)
        if request.method == "POST" and form.is_valid():
            label = form.cleaned_data["label"]
            try:
                result = exchange_rates_import(label=label, text=form.cleaned_data["text"], created_by=request.user)
            except DomainValidationError as exc:
                for problem in exc.errors.get("file", [exc.message]):
                    form.add_error("file", problem)
            else:
                messages.success(
                    request,
                    f"{label.name}: {result.created} rate(s) created, {result.updated} corrected, "
                    f"{result.unchanged} unchanged.",
                )
                return HttpResponseRedirect(reverse("admin:backoffice_exchangerate_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": "Import exchange rates",
            "form": form,
            "columns": ", ".join(IMPORT_COLUMNS),
            "max_rows": MAX_IMPORT_ROWS,
            "cancel_url": reverse("admin:backoffice_exchangerate_changelist"),
        }
        return TemplateResponse(request, "admin/backoffice/exchangerate_import.html", context)


class RateImportForm(forms.Form):
    label = forms.ModelChoiceField(queryset=Label.objects.none(), widget=UnfoldAdminSelectWidget)
    file = forms.FileField(
        widget=UnfoldAdminFileFieldWidget,
        help_text=f"CSV with a header row naming the columns {', '.join(IMPORT_COLUMNS)} (comma or semicolon), "
        "e.g. `SEK,0.0875,2026-03-01`: one unit of the currency is worth `rate` units of the label's base currency "
        f"from that day. At most {MAX_IMPORT_ROWS} rows; a wrong row refuses the whole file.",
    )

    def __init__(self, *args, labels, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["label"].queryset = labels
        if len(labels) == 1:
            self.fields["label"].initial = labels[0].pk

    def clean(self):
        data = super().clean()
        upload = data.get("file")
        if upload is None:
            return data
        if upload.size > MAX_IMPORT_BYTES:
            self.add_error("file", f"The file is over {MAX_IMPORT_BYTES // 1000} kB.")
            return data
        try:
            data["text"] = upload.read().decode("utf-8-sig")
        except UnicodeDecodeError:
            self.add_error("file", "The file is not UTF-8 text.")
        return data


def _plain(rate) -> str:
    """A rate without trailing zeros or an exponent: 0.0875, 150, 0.000057."""
    return format(rate.normalize(), "f")
