"""player_upsert: races, timestamps, and the validators it shares with ingest."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection

from crm.models import Player
from crm.services.players import player_upsert
from crm.validators import clean_profile, parse_timestamp


@pytest.mark.django_db(transaction=True)
def test_concurrent_creates_of_one_player_make_one_row_and_both_succeed(tenant_a):
    barrier = threading.Barrier(4)
    results, errors = [], []

    def create(n: int) -> None:
        try:
            barrier.wait()
            results.append(player_upsert(brand=tenant_a.brand, user_ext_id="race", data={"core_username": f"n{n}"}))
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=create, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert Player.objects.filter(user_ext_id="race").count() == 1
    assert sum(r.created for r in results) == 1


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-05-01T12:30:00.123Z", dt.datetime(2024, 5, 1, 12, 30, 0, 123000, tzinfo=dt.UTC)),
        ("2024-05-01T14:30:00+02:00", dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.UTC)),
        ("2024-05-01 12:30:00", dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.UTC)),  # naive means UTC
        ("2024-05-01", dt.datetime(2024, 5, 1, tzinfo=dt.UTC)),
        (1714566600123, dt.datetime(2024, 5, 1, 12, 30, 0, 123000, tzinfo=dt.UTC)),  # epoch milliseconds
    ],
)
def test_timestamps_accept_iso_8601_and_epoch_milliseconds(raw, expected):
    assert parse_timestamp(raw) == expected


def test_every_error_is_reported_at_once():
    _, errors = clean_profile({"user_country": "ZZ", "core_user_gender": "?", "core_user_language": "e"})
    assert sorted(errors) == ["core_user_gender", "core_user_language", "user_country"]


@pytest.mark.django_db
def test_digests_follow_the_value(tenant_a):
    player = player_upsert(brand=tenant_a.brand, user_ext_id="d", data={"user_email": "A@B.CO"}).player
    first = player.user_email_digest
    player = player_upsert(brand=tenant_a.brand, user_ext_id="d", data={"user_email": "c@d.co"}).player
    assert player.user_email_digest not in (None, first)
    assert Player.objects.get(user_email_digest=player.user_email_digest).pk == player.pk
