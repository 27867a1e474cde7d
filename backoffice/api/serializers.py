"""Input serializer bases shared by the partner API's write endpoints."""

from __future__ import annotations

from collections.abc import Mapping

from rest_framework import serializers

UNKNOWN_FIELD = "Unknown field."


class StrictSerializer(serializers.Serializer):
    """An input serializer that refuses keys it does not know, naming each: `{"reasn": ["Unknown field."]}`.

    DRF drops unknown keys silently, so a misspelt optional field (`reasn` for `reason`) would be accepted and ignored;
    a partner with such a bug should hear about it. Nested serializers built on this class refuse theirs too (the error
    handler names them `parent.child`).
    """

    def to_internal_value(self, data):
        unknown = {}
        if isinstance(data, Mapping):
            known = {name for name, field in self.fields.items() if not field.read_only}
            unknown = {str(key): [UNKNOWN_FIELD] for key in data if key not in known}
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if unknown and isinstance(exc.detail, Mapping):
                raise serializers.ValidationError({**exc.detail, **unknown}) from None
            raise
        if unknown:
            raise serializers.ValidationError(unknown)
        return value


class NoBodySerializer(StrictSerializer):
    """The body of an action that takes no input: none, `{}` or `null`. Any key in it is refused by name."""


def refuse_body(request) -> None:
    """400 naming each key of a body sent to an action that reads none (or when the body is not an object)."""
    data = request.data
    NoBodySerializer(data={} if data is None else data).is_valid(raise_exception=True)
