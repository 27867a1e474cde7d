"""The sandbox operator is served only when PITBOSS_SANDBOX is on: on in development and tests, forced off in
production settings whatever the environment says."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys

import pytest
from django.urls import clear_url_caches

import backoffice.urls
from backoffice.env import BASE_DIR
from tests.backoffice.test_settings import PRODUCTION_ENV


@pytest.fixture
def reload_urls(settings):
    def reload(sandbox: bool):
        settings.PITBOSS_SANDBOX = sandbox
        clear_url_caches()
        return [str(p.pattern) for p in importlib.reload(backoffice.urls).urlpatterns]

    yield reload
    settings.PITBOSS_SANDBOX = True
    clear_url_caches()
    importlib.reload(backoffice.urls)


def test_the_sandbox_urls_follow_the_setting(reload_urls):
    assert "sandbox/" in reload_urls(True)
    assert "sandbox/" not in reload_urls(False)


@pytest.mark.django_db
def test_the_sandbox_answers_404_when_off(reload_urls, client):
    reload_urls(False)
    assert client.get("/sandbox/bonus-api/any/catalogue").status_code == 404


def test_production_settings_turn_the_sandbox_off_even_when_the_environment_asks_for_it():
    code = "from django.conf import settings; print(settings.PITBOSS_SANDBOX)"
    clean = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), **PRODUCTION_ENV}
    clean["PITBOSS_SANDBOX"] = "true"
    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=BASE_DIR, env=clean, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.stdout.strip().splitlines()[-1] == "False", result.stderr
