"""Custom event types in the admin: integration engineers and admins register them with a table of typed fields,
everyone else in the label reads them, nobody renames or deletes them, and other labels' types stay out of sight."""

from __future__ import annotations

import pytest
from django.urls import reverse

from backoffice.models import Role
from crm.models import EventType
from crm.services.ingest import events_ingest
from tests.crm.test_admin_events import event

pytestmark = pytest.mark.django_db

ALL_ROLES = [Role.ADMIN, Role.MANAGER, Role.SUPPORT, Role.INTEGRATION_ENGINEER]
MAY_EDIT = {Role.ADMIN, Role.INTEGRATION_ENGINEER}
LIST, ADD = "admin:crm_eventtype_changelist", "admin:crm_eventtype_add"


def _form(label, name="tournament_joined", rows=(), **extra) -> dict:
    """The add/change form as the browser posts it: one set of inputs per row of the fields table."""
    data = {"label": label.pk, "name": name, "description": "", "is_active": "on", "fields-TOTAL": str(len(rows))}
    for i, row in enumerate(rows):
        data[f"fields-{i}-name"] = row[0]
        data[f"fields-{i}-type"] = row[1]
        if len(row) > 2 and row[2]:
            data[f"fields-{i}-required"] = "on"
    return {**data, **extra}


@pytest.fixture
def types_ab(tenant_a, tenant_b):
    fields = [{"name": "tournament_id", "type": "string", "required": True}]
    return {
        t.label.pk: EventType.objects.create(label=t.label, name="tournament_joined", fields=fields)
        for t in (tenant_a, tenant_b)
    }


def _change(obj) -> str:
    return reverse("admin:crm_eventtype_change", args=[obj.pk])


# --- three personas ------------------------------------------------------------------------------------------------
def test_each_label_sees_only_its_types(types_ab, tenant_a, tenant_b, outsider, staff_client):
    for own, other in ((tenant_a, tenant_b), (tenant_b, tenant_a)):
        client = staff_client(own.admin)
        html = client.get(reverse(LIST)).content.decode()
        assert _change(types_ab[own.label.pk]) in html
        assert _change(types_ab[other.label.pk]) not in html
        assert client.get(_change(types_ab[own.label.pk])).status_code == 200
        assert client.get(_change(types_ab[other.label.pk])).status_code == 404
    outsider_client = staff_client(outsider)
    assert outsider_client.get(reverse(LIST)).status_code == 403
    assert outsider_client.get(reverse(ADD)).status_code == 403
    assert outsider_client.get(_change(types_ab[tenant_a.label.pk])).status_code == 403


# --- roles ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("role", ALL_ROLES)
def test_only_integration_engineers_and_admins_register_types(role, tenant_a, staff_with_role, staff_client):
    client = staff_client(staff_with_role(tenant_a.label, role))
    allowed = role in MAY_EDIT
    assert client.get(reverse(ADD)).status_code == (200 if allowed else 403)
    response = client.post(
        reverse(ADD), _form(tenant_a.label, rows=[("tournament_id", "string", True), ("buy_in", "number")])
    )
    assert response.status_code == (302 if allowed else 403)
    created = EventType.objects.filter(label=tenant_a.label, name="tournament_joined").first()
    assert (created is not None) is allowed
    if allowed:
        assert created.fields == [
            {"name": "tournament_id", "type": "string", "required": True},
            {"name": "buy_in", "type": "number", "required": False},
        ]


@pytest.mark.parametrize("role", ALL_ROLES)
def test_others_read_types_but_change_nothing(role, types_ab, tenant_a, staff_with_role, staff_client):
    client = staff_client(staff_with_role(tenant_a.label, role))
    allowed = role in MAY_EDIT
    obj = types_ab[tenant_a.label.pk]
    page = client.get(_change(obj)).content.decode()
    assert "tournament_id" in page
    assert ('name="_save"' in page) is allowed
    assert ('name="fields-0-name"' in page) is allowed  # the editor, or a read-only table
    response = client.post(_change(obj), _form(tenant_a.label, rows=[("prize", "number", True)]))
    assert response.status_code == (302 if allowed else 403)
    obj.refresh_from_db()
    assert (obj.fields == [{"name": "prize", "type": "number", "required": True}]) is allowed


@pytest.mark.parametrize("role", ALL_ROLES)
def test_nobody_deletes_or_renames_a_type(role, types_ab, tenant_a, staff_with_role, staff_client):
    client = staff_client(staff_with_role(tenant_a.label, role))
    obj = types_ab[tenant_a.label.pk]
    assert client.post(reverse("admin:crm_eventtype_delete", args=[obj.pk]), {"post": "yes"}).status_code == 403
    client.post(_change(obj), _form(tenant_a.label, name="renamed", rows=[("tournament_id", "string", True)]))
    obj.refresh_from_db()
    assert obj.name == "tournament_joined"  # events refer to their type by name


def test_no_one_writes_into_another_label(types_ab, tenant_a, tenant_b, staff_with_role, staff_client):
    engineer = staff_with_role(tenant_a.label, Role.INTEGRATION_ENGINEER)
    client = staff_client(engineer)
    foreign = types_ab[tenant_b.label.pk]
    assert client.post(_change(foreign), _form(tenant_b.label, rows=[("x", "string")])).status_code == 404
    response = client.post(reverse(ADD), _form(tenant_b.label, name="planted"))
    assert response.status_code == 200  # the form refuses the label
    assert "label" in response.context["adminform"].form.errors
    assert not EventType.objects.filter(name="planted").exists()
    foreign.refresh_from_db()
    assert foreign.fields == [{"name": "tournament_id", "type": "string", "required": True}]


# --- the fields editor ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([("Amount", "number")], "lower-case letters"),
        ([("9lives", "integer")], "lower-case letters"),
        ([("prize", "number"), ("prize", "string")], "“prize” appears twice"),
        ([("user_ext_id", "string")], "envelope field"),
        ([("payload", "string")], "envelope field"),
        ([("deposit", "number")], "core event type"),
        ([("prize", "money")], "choose a type"),
        ([("", "string", True)], "give it a name"),
    ],
)
def test_the_editor_refuses_bad_fields(rows, message, tenant_a, staff_client):
    response = staff_client(tenant_a.admin).post(reverse(ADD), _form(tenant_a.label, rows=rows))
    assert response.status_code == 200
    errors = " ".join(response.context["adminform"].form.errors.get("fields", []))
    assert message in errors
    assert not EventType.objects.exists()
    assert 'value="' + rows[0][0] + '"' in response.content.decode()  # what was typed is shown again


@pytest.mark.parametrize("name", ["deposit", "profile_update", "login"])
def test_a_custom_type_cannot_take_a_core_types_name(name, tenant_a, staff_client):
    response = staff_client(tenant_a.admin).post(reverse(ADD), _form(tenant_a.label, name=name))
    assert "is a core event type" in " ".join(response.context["adminform"].form.errors["name"])
    assert not EventType.objects.exists()


def test_blank_and_removed_rows_are_dropped(types_ab, tenant_a, staff_client):
    obj = types_ab[tenant_a.label.pk]
    rows = [("tournament_id", "string", True), ("old_field", "string"), ("", "string"), ("buy_in", "number")]
    data = _form(tenant_a.label, rows=rows, **{"fields-1-remove": "on"})
    assert staff_client(tenant_a.admin).post(_change(obj), data).status_code == 302
    obj.refresh_from_db()
    assert [f["name"] for f in obj.fields] == ["tournament_id", "buy_in"]


def test_the_registered_fields_are_what_ingest_validates(tenant_a, staff_client):
    rows = [("tournament_id", "string", True), ("buy_in", "number"), ("rebuy", "boolean")]
    staff_client(tenant_a.admin).post(reverse(ADD), _form(tenant_a.label, rows=rows))
    good = event("t-1", "tournament_joined", {"tournament_id": "spring", "buy_in": 10, "rebuy": False})
    missing = event("t-2", "tournament_joined", {"buy_in": 10})
    wrong = event("t-3", "tournament_joined", {"tournament_id": "spring", "rebuy": "yes"})
    result = events_ingest(label=tenant_a.label, items=[good, missing, wrong], source="api")
    assert [item.status for item in result.items] == ["accepted", "invalid", "invalid"]
    assert list(result.items[1].errors) == ["payload.tournament_id"]
    assert list(result.items[2].errors) == ["payload.rebuy"]


def test_the_list_costs_a_fixed_number_of_queries(tenant_a, staff_client, django_assert_num_queries):
    # session, user, roles, the switcher's labels, the pending credit approvals, two counts (tens of types), the page
    client = staff_client(tenant_a.admin)
    EventType.objects.create(label=tenant_a.label, name="first_type")
    with django_assert_num_queries(8):
        client.get(reverse(LIST))
    for i in range(20):
        EventType.objects.create(label=tenant_a.label, name=f"type_{i}", fields=[{"name": "x", "type": "string"}])
    with django_assert_num_queries(8):
        response = client.get(reverse(LIST))
    assert len(response.context["cl"].result_list) == 21
