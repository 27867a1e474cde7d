"""`manage.py demo`: the data it says it makes, a working login and API key, and nothing twice when run again."""

from __future__ import annotations

import io
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.urls import reverse
from rest_framework.test import APIClient

from backoffice.crypto import lookup_digest
from backoffice.fx import rate_book, wallet_currencies_without_rate
from backoffice.management.commands.demo import DEMO_PASSWORD
from backoffice.models import ApiKey, Brand, Label, Role, StaffRole
from crm.models import Event, Player
from crm.pipeline import events_apply
from gamification.models import PlayerMission, TournamentParticipant

pytestmark = pytest.mark.django_db
KEY_RE = re.compile(r"pb_[0-9a-f]{8}_[A-Za-z0-9_-]+")
DEMO_USERS = ["demo_admin", "demo_manager", "demo_support", "demo_integration", "demo_multi"]


def _demo(*args: str) -> str:
    out = io.StringIO()
    call_command("demo", *args, stdout=out)
    return out.getvalue()


def _printed_key(output: str) -> str:
    keys = set(KEY_RE.findall(output))
    assert len(keys) == 1, output
    return keys.pop()


def _counts() -> dict[str, int]:
    models = (Label, Brand, Player, get_user_model(), StaffRole, Event)
    counts = {model.__name__: model.objects.count() for model in models}
    counts["active keys"] = ApiKey.objects.filter(revoked_at__isnull=True).count()
    return counts


def _players_page(raw_key: str, **params) -> tuple[int, dict]:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw_key}")
    response = client.get("/api/v1/players", params)
    return response.status_code, response.json()


def test_demo_makes_two_labels_with_brands_and_varied_players():
    _demo()

    demo, second = Label.objects.get(name="Demo Casino Group"), Label.objects.get(name="Second Operator")
    assert sorted(Brand.objects.filter(label=demo).values_list("ext_brand_id", flat=True)) == [
        "demo-casino",
        "demo-sports",
    ]
    players = Player.objects.filter(label=demo)
    assert players.count() == 1000
    assert all(players.filter(brand__ext_brand_id=b).count() > 100 for b in ("demo-casino", "demo-sports"))
    assert Player.objects.filter(label=second).count() == 5
    for field in ("core_account_status", "user_country", "core_wallet_currency", "core_kyc_status"):
        assert players.values(field).distinct().count() >= 3, field
    assert 0 < players.filter(user_email__isnull=True).count() < 300
    assert players.exclude(markers=[]).exists()
    assert players.filter(core_affiliate_id__isnull=False).exists()


def test_demo_labels_have_a_rate_for_every_wallet_currency_of_their_players():
    _demo()
    for label in Label.objects.all():
        assert wallet_currencies_without_rate(label_id=label.pk) == [], label.name
    assert rate_book(label_id=Label.objects.get(name="Demo Casino Group").pk).currencies == {
        "SEK", "NOK", "GBP", "CAD", "BRL"
    }  # fmt: skip


def test_demo_players_are_found_by_email_and_phone_digests():
    _demo()

    player = Player.objects.filter(user_email__isnull=False, user_phone__isnull=False).first()
    assert player.user_email_digest == lookup_digest(player.user_email)
    assert Player.objects.get(user_phone_digest=lookup_digest(player.user_phone)) == player


def test_demo_staff_have_one_role_each_and_log_in_with_the_printed_password(client):
    output = _demo()

    assert DEMO_PASSWORD in output
    demo = Label.objects.get(name="Demo Casino Group")
    roles = dict(StaffRole.objects.filter(label=demo).values_list("user__username", "role"))
    assert roles == {
        "demo_admin": Role.ADMIN,
        "demo_manager": Role.MANAGER,
        "demo_support": Role.SUPPORT,
        "demo_integration": Role.INTEGRATION_ENGINEER,
        "demo_multi": Role.MANAGER,
    }
    for username in DEMO_USERS:
        assert username in output
        user = get_user_model().objects.get(username=username)
        assert (user.is_staff, user.is_superuser) == (True, False)
        # Through the login form: django-axes (admin login lockout) authenticates only with a request.
        login = client.post(reverse("admin:login"), {"username": username, "password": DEMO_PASSWORD})
        assert login.status_code == 302, username
    multi_labels = StaffRole.objects.filter(user__username="demo_multi").values_list("label__name", "role")
    assert set(multi_labels) == {("Demo Casino Group", Role.MANAGER), ("Second Operator", Role.ADMIN)}


def test_demo_prints_a_working_api_key_of_the_demo_label_with_a_curl_example():
    output = _demo("--base-url", "http://127.0.0.1:8123/")

    raw_key = _printed_key(output)
    assert "http://127.0.0.1:8123/admin/" in output
    assert "http://127.0.0.1:8123/api/docs/" in output
    assert f'curl -H "Authorization: Api-Key {raw_key}" "http://127.0.0.1:8123/api/v1/players' in output
    status, body = _players_page(raw_key, limit=1000)
    assert status == 200
    assert len(body["results"]) == 1000
    assert {player["ext_brand_id"] for player in body["results"]} == {"demo-casino", "demo-sports"}
    assert _players_page(raw_key, ext_brand_id="second-casino")[1]["results"] == []


def test_running_demo_again_duplicates_nothing_and_rotates_the_key():
    first_key = _printed_key(_demo())
    counts = _counts()
    demo_admin_password = get_user_model().objects.get(username="demo_admin").password

    output = _demo()

    second_key = _printed_key(output)
    assert _counts() == counts
    assert "0 created now" in output
    assert get_user_model().objects.get(username="demo_admin").password == demo_admin_password
    assert second_key != first_key
    assert _players_page(first_key)[0] == 401
    assert _players_page(second_key)[0] == 200


def test_demo_completes_what_is_missing():
    _demo()
    Player.objects.filter(label__name="Demo Casino Group", user_ext_id__in=["100999", "101000"]).delete()
    StaffRole.objects.filter(user__username="demo_support").delete()

    output = _demo()

    assert Player.objects.filter(label__name="Demo Casino Group").count() == 1000
    assert "2 created now" in output
    assert StaffRole.objects.filter(user__username="demo_support", role=Role.SUPPORT).exists()


def test_demo_refuses_production_settings(settings):
    settings.SETTINGS_MODULE = "backoffice.settings.production"

    with pytest.raises(CommandError, match="refuses production settings"):
        _demo()
    assert not Label.objects.exists()


def test_demo_ingests_a_day_of_events_once_and_the_handlers_apply_them():
    output = _demo()
    events = Event.objects.filter(label__name="Demo Casino Group", source="api")
    assert events.count() == 6000
    assert "6,000 events ingested now" in output
    assert set(events.values_list("type", flat=True).distinct()) == {
        "login",
        "casino_bet",
        "casino_win",
        "deposit",
        "sport_bet_placed",
        "withdrawal",
    }
    ids = list(events.order_by("id").values_list("id", flat=True))
    assert events_apply(ids) == 6000  # every group's handlers, in this transaction; a handler error would raise
    done = ids[-1]
    while facts := list(Event.objects.filter(id__gt=done).order_by("id").values_list("id", flat=True)):
        events_apply(facts)  # the gamification facts the handlers emitted (mission completed...)
        done = facts[-1]
    player = Player.objects.filter(aggregate__deposit_count__gt=0).select_related("aggregate").first()
    deposits = Event.objects.filter(player=player, type="deposit")
    assert player.aggregate.deposit_count == deposits.count()
    # The demo's missions and tournaments counted the day: progress, completions, a live leaderboard.
    assert PlayerMission.objects.filter(state__in=["completed", "claimed"]).exists()
    assert TournamentParticipant.objects.filter(instance__tournament__name="Slots marathon", score__gt=0).count() > 10
    assert "gamification: 4 levels, 4 badges, 7 missions, 4 tournaments" in output
    _demo()
    assert events.count() == 6000
