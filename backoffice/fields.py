"""Model fields of the shared kernel."""

from __future__ import annotations

from django.db import models

from backoffice.crypto import decrypt, encrypt


class EncryptedTextField(models.TextField):
    """Text stored encrypted. Python sees plain text; the column holds Fernet tokens.

    Equal values encrypt differently, so the field cannot be filtered on: pair it with a digest column for lookups.
    """

    def from_db_value(self, value, expression, connection):
        return None if value is None else decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        return None if value is None or value == "" else encrypt(value)

    def get_lookup(self, lookup_name):
        if lookup_name != "isnull":
            return None  # ciphertext is never compared; filter on the digest column instead
        return super().get_lookup(lookup_name)
