"""Admin login lockout (django-axes): a (username, client address) pair is locked after 5 wrong passwords."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from backoffice.models import Role

pytestmark = pytest.mark.django_db
PASSWORD = "a-Long-enough-passphrase-42"
LOGIN = reverse("admin:login")


@pytest.fixture
def nora(tenant_a, staff_with_role):
    user = staff_with_role(tenant_a.label, Role.MANAGER, username="nora")
    user.set_password(PASSWORD)
    user.save()
    return user


def _login(username: str, password: str, address: str = "127.0.0.1"):
    return Client().post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=address)


def _fail(username: str, times: int, address: str = "127.0.0.1") -> list[int]:
    return [_login(username, "wrong-password", address).status_code for _ in range(times)]


def test_five_wrong_passwords_lock_the_user_out_from_that_address(nora):
    # The login form again with its error, then the lockout page from the fifth failure on.
    assert _fail("nora", 5) == [200, 200, 200, 200, 429]

    response = _login("nora", PASSWORD)

    assert response.status_code == 429
    page = response.content.decode()
    assert "Too many failed logins" in page
    assert "blocked for 15 minutes after\n        5 wrong passwords" in page
    assert response.headers["Retry-After"] == "900"
    assert "_auth_user_id" not in response.client.session


def test_the_lockout_page_has_the_admins_look(nora):
    _fail("nora", 5)

    page = _login("nora", PASSWORD).content.decode()

    assert "unfold/css/styles.css" in page  # unfold's stylesheet: rendered with the admin site's context
    assert f'href="{LOGIN}"' in page


def test_a_locked_user_does_not_lock_other_users_or_other_addresses(nora, staff_with_role, tenant_a):
    other = staff_with_role(tenant_a.label, Role.SUPPORT, username="otto")
    other.set_password(PASSWORD)
    other.save()
    _fail("nora", 5)

    assert _login("otto", PASSWORD).status_code == 302
    assert _login("nora", PASSWORD, address="10.0.0.7").status_code == 302


def test_a_successful_login_resets_the_count(nora):
    _fail("nora", 4)
    assert _login("nora", PASSWORD).status_code == 302

    _fail("nora", 4)

    assert _login("nora", PASSWORD).status_code == 302


def test_axes_reset_unlocks(nora):
    _fail("nora", 5)
    assert _login("nora", PASSWORD).status_code == 429

    call_command("axes_reset", verbosity=0)

    assert _login("nora", PASSWORD).status_code == 302
