"""Serializer fields shared by the partner API."""

from __future__ import annotations

from rest_framework import serializers


class StrictIntegerField(serializers.IntegerField):
    """A whole number sent as a JSON number. DRF's IntegerField also takes "5" and 5.0; a partner sending a string
    most likely has a bug worth hearing about, and the events API refuses numbers in strings too."""

    default_error_messages = {"invalid": "A whole number is required, sent as a JSON number (not a string)."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)
