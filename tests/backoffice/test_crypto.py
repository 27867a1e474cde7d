"""PII encryption at rest: ciphertext in the table, readable in Python, rotatable keys, lookups by digest only."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import FieldError
from django.db import connection

from backoffice.crypto import _fernet, lookup_digest
from crm.models import Player
from crm.services.players import player_upsert

pytestmark = pytest.mark.django_db


def _raw_column(player: Player, column: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM crm_player WHERE id = %s", [player.pk])  # noqa: S608 - test constant
        return cursor.fetchone()[0]


def test_email_and_phone_are_ciphertext_in_the_table(tenant_a):
    result = player_upsert(
        brand=tenant_a.brand, user_ext_id="pii", data={"user_email": "a@b.co", "user_phone": "+35612345678"}
    )
    assert "a@b.co" not in _raw_column(result.player, "user_email")
    assert "35612345678" not in _raw_column(result.player, "user_phone")
    assert Player.objects.get(pk=result.player.pk).user_email == "a@b.co"
    assert result.player.user_email_digest == lookup_digest("a@b.co")


def test_old_keys_still_decrypt_after_rotation(tenant_a, settings):
    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    player = player_upsert(brand=tenant_a.brand, user_ext_id="rot", data={"user_email": "old@b.co"}).player
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode(), old_key]
    _fernet.cache_clear()
    assert Player.objects.get(pk=player.pk).user_email == "old@b.co"
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    _fernet.cache_clear()
    with pytest.raises(Exception, match="cannot be decrypted"):
        Player.objects.get(pk=player.pk).user_email  # noqa: B018
    _fernet.cache_clear()


def test_encrypted_fields_cannot_be_filtered_on(tenant_a):
    with pytest.raises(FieldError):
        list(Player.objects.filter(user_email="a@b.co"))
    assert list(Player.objects.filter(user_email__isnull=True)) == [tenant_a.player]
