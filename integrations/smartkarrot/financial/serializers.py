"""Request bodies of the financial endpoints, field for field as reference/smartkarrot-api.txt names them.

Unknown keys are ignored (the family's rule, docs/smartkarrot.md). Numbers may come as JSON numbers or numeric
strings (the reference types `logoChurnTolerance` as a String and shows a number); amounts are rounded to the cent.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from rest_framework import serializers

from crm.models import OrderStatus

ID_LENGTH = 128
DATE_FORMATS = ["%Y-%m-%d"]
MAX_AMOUNT = Decimal("9999999999999999.99")  # NUMERIC(18, 2)


def _id(help_text: str) -> serializers.CharField:
    return serializers.CharField(max_length=ID_LENGTH, help_text=help_text)


def _date(help_text: str) -> serializers.DateField:
    return serializers.DateField(input_formats=DATE_FORMATS, help_text=f"{help_text} ('yyyy-MM-dd').")


class NumberField(serializers.DecimalField):
    """A JSON number (or a numeric string) in [min, max], rounded to `places` decimal places; never a boolean."""

    def __init__(self, *, places: int, minimum: Decimal, maximum: Decimal, **kwargs):
        super().__init__(max_digits=None, decimal_places=None, **kwargs)
        self.places, self.minimum, self.maximum = places, minimum, maximum

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | float | str):
            self.fail("invalid")
        if isinstance(data, str) and len(data) > 64:
            self.fail("invalid")
        value = super().to_internal_value(data)
        if not self.minimum <= value <= self.maximum:
            raise serializers.ValidationError(f"Must be between {self.minimum} and {self.maximum}.")
        return value.quantize(Decimal(1).scaleb(-self.places), rounding=ROUND_HALF_UP)


class StatusField(serializers.ChoiceField):
    """Activated or Draft; any letter case is accepted and stored as the reference spells it."""

    def to_internal_value(self, data):
        if isinstance(data, str):
            data = {v.lower(): v for v in OrderStatus.values}.get(data.strip().lower(), data)
        return super().to_internal_value(data)


class OrderInputSerializer(serializers.Serializer):
    customerAccountId = _id("The customer account ID in your system.")
    appId = _id("SmartKarrot App ID.")
    orgProductId = _id("SmartKarrot Product Id for your product.")
    orderId = _id("The order ID in your system.")
    status = StatusField(choices=OrderStatus.choices, help_text="The status of the order: Activated or Draft.")
    amount = NumberField(
        places=2,
        minimum=Decimal(0),
        maximum=MAX_AMOUNT,
        help_text="Amount of the order: its total value over its term (see docs/financial.md), rounded to the cent.",
    )
    effectiveDate = _date("The start date of the order")
    endDate = _date("The end date of the order, included")

    def to_internal_value(self, data):
        # The reference's curl example names the product `productId`; its field table says `orgProductId`.
        if isinstance(data, dict) and "orgProductId" not in data and "productId" in data:
            data = {**data, "orgProductId": data["productId"]}
        return super().to_internal_value(data)

    def validate(self, attrs):
        if attrs["endDate"] < attrs["effectiveDate"]:
            raise serializers.ValidationError({"endDate": ["Must be on or after effectiveDate."]})
        return attrs


class AppIdSerializer(serializers.Serializer):
    """The body of a DELETE that names the app (or `?appId=` in the query)."""

    appId = _id("SmartKarrot App ID.")


class AppFinancialInputSerializer(serializers.Serializer):
    appId = _id("SmartKarrot App ID.")
    logoChurnTolerance = NumberField(
        places=4,
        minimum=Decimal(0),
        maximum=Decimal(1),
        help_text="The upper limit of customer (logo) churn per month, as a fraction: 0.05 = 5 %. A number or a "
        "numeric string.",
    )


class AccountFinancialInputSerializer(serializers.Serializer):
    customerAccountId = _id("The customer account ID in your system.")
    appId = _id("SmartKarrot App ID.")
    accountStartDate = _date("Creation date of the account for financial data")
    arrTarget = NumberField(
        places=2, minimum=Decimal(0), maximum=MAX_AMOUNT, help_text="The ARR target defined for this customer."
    )
