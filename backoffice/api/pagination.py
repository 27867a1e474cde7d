"""Pagination: cursor-based, so deep pages of large tables cost the same as the first.

A cursor that cannot be decoded, or whose position does not fit the ordering field (a crafted `p=abc` for `-id`, an
id past the column's range, a NUL character), answers 400 `{"code": "invalid", "message": "Invalid value for:
cursor.", "errors": {"cursor": ["Invalid cursor."]}}` on every list. DRF would answer 404 for the first and let the
second reach the database (a 500).
"""

from __future__ import annotations

from django.core.exceptions import FieldDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination as _CursorPagination

INVALID_CURSOR = "Invalid cursor."


class CursorPagination(_CursorPagination):
    ordering = "-id"
    page_size = 100
    page_size_query_param = "limit"
    max_page_size = 1000
    invalid_cursor_message = INVALID_CURSOR

    def paginate_queryset(self, queryset, request, view=None):
        self.model = queryset.model  # decode_cursor checks the position against the ordering field's type
        return super().paginate_queryset(queryset, request, view)

    def decode_cursor(self, request):
        try:
            cursor = super().decode_cursor(request)
        except NotFound:
            raise _invalid_cursor() from None
        if cursor is not None and cursor.position is not None and not self._position_fits(cursor.position):
            raise _invalid_cursor()
        return cursor

    def _position_fits(self, position: str) -> bool:
        if "\x00" in position:
            return False
        try:
            field = self.model._meta.get_field(self.ordering[0].lstrip("-"))
        except FieldDoesNotExist:  # an ordering across a relation: PostgreSQL casts the text itself
            return True
        try:
            field.run_validators(field.to_python(position))  # the integer fields' validators carry their range
        except (DjangoValidationError, TypeError, ValueError):
            return False
        return True


def _invalid_cursor() -> ValidationError:
    return ValidationError({"cursor": [INVALID_CURSOR]})
