"""Every admin page on the demo data, as each demo persona opens it (admin, manager, support, integration engineer,
and a manager of one label who is admin of another): the list of every model, the first rows it lists, and its add
page. Each answers what the persona's role allows (200, or 403 where the role may not), never an error: the walk a
new CRM manager takes after `make run`, which found an agent's page answering 500 and, for the two-label persona, a
list offering a row its page then refused."""

from __future__ import annotations

import io
import re

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import RequestFactory
from django.urls import NoReverseMatch, reverse

pytestmark = pytest.mark.django_db
PERSONAS = ["demo_admin", "demo_manager", "demo_support", "demo_integration", "demo_multi"]
ROWS_OPENED = 2  # of each list, the first rows


@pytest.fixture
def demo_staff():
    call_command("demo", stdout=io.StringIO())
    return {user.username: user for user in get_user_model().objects.filter(username__in=PERSONAS)}


def _request(user):
    request = RequestFactory().get("/admin/")
    request.user = user
    return request


def _expected(allowed: bool) -> int:
    return 200 if allowed else 403


@pytest.mark.parametrize("persona", PERSONAS)
def test_every_list_its_first_rows_and_every_add_page_open_as_the_role_allows(persona, demo_staff, staff_client):
    user = demo_staff[persona]
    client = staff_client(user)
    opened = 0
    for model, model_admin in admin.site._registry.items():
        app, name = model._meta.app_label, model._meta.model_name
        request = _request(user)
        changelist = reverse(f"admin:{app}_{name}_changelist")
        response = client.get(changelist)
        assert response.status_code == _expected(model_admin.has_view_or_change_permission(request)), changelist
        if response.status_code == 200:
            ids = re.findall(rf'href="/admin/{app}/{name}/(\d+)/change/', response.content.decode())
            for pk in list(dict.fromkeys(ids))[:ROWS_OPENED]:
                page = reverse(f"admin:{app}_{name}_change", args=[pk])
                assert client.get(page).status_code == 200, page  # a listed row is the persona's to see
                opened += 1
        try:
            add = reverse(f"admin:{app}_{name}_add")
        except NoReverseMatch:
            continue
        assert client.get(add).status_code == _expected(model_admin.has_add_permission(_request(user))), add
    assert opened >= 40  # the demo fills most lists: the walk opened rows, not only empty lists
    dashboard = client.get(reverse("admin:crm_event_ingestion"))
    assert dashboard.status_code == 200
