"""Switching off a custom event type, or removing or retyping a field, that live missions and tournaments read: the
save goes through (it is deliberate) and warns, naming them; the change form lists them beforehand."""

from __future__ import annotations

import pytest
from django.urls import reverse

from crm.models import EventType
from gamification.models import Mission, MissionStatus
from tests.gamification.mission_helpers import mission_make
from tests.gamification.tournament_helpers import instance_make, tournament_make

pytestmark = pytest.mark.django_db

FIELDS = [
    {"name": "spin_amount", "type": "number", "required": True},
    {"name": "game", "type": "string", "required": False},
    {"name": "bonus_round", "type": "boolean", "required": False},
    {"name": "note", "type": "string", "required": False},
    {"name": "lines", "type": "integer", "required": False},
]


def _form(obj, fields, *, active=True) -> dict:
    data = {"label": obj.label_id, "name": obj.name, "description": "", "fields-TOTAL": str(len(fields))}
    if active:
        data["is_active"] = "on"
    for i, f in enumerate(fields):
        data |= {f"fields-{i}-name": f["name"], f"fields-{i}-type": f["type"]}
        if f["required"]:
            data[f"fields-{i}-required"] = "on"
    return data


def _change(obj) -> str:
    return reverse("admin:crm_eventtype_change", args=[obj.pk])


@pytest.fixture
def spins(tenant_a, tenant_b):
    """The custom type `spin` in labels A and B; in A an active mission and a running tournament read it, a draft
    mission and an archived tournament do too; in B a mission reads B's own `spin`."""
    types = {
        t.label.pk: EventType.objects.create(label=t.label, name="spin", fields=FIELDS) for t in (tenant_a, tenant_b)
    }
    game = [{"field": "game", "op": "eq", "value": "Book"}]
    task = {"event_type": "spin", "conditions": game, "aggregation": "sum", "sum_field": "spin_amount", "target": 10}
    mission_make(tenant_a.label, name="Spin ten", tasks=[task])
    mission_make(tenant_a.label, name="Draft spins", tasks=[task], status=MissionStatus.DRAFT)
    mission_make(tenant_b.label, name="B spins", tasks=[task])
    bonus = [{"field": "bonus_round", "op": "eq", "value": True}]
    race = tournament_make(tenant_a.label, name="Bonus race", event_type="spin", conditions=bonus)
    instance_make(race, status="started")
    tournament_make(tenant_a.label, name="Old race", event_type="spin", status="archived")
    return types


def _warnings(response) -> list[str]:
    return [str(m) for m in response.context["messages"] if m.level_tag == "warning"]


def test_switching_a_type_off_warns_naming_the_live_missions_and_tournaments_of_the_label(
    spins, tenant_a, staff_client
):
    obj = spins[tenant_a.label.pk]
    response = staff_client(tenant_a.admin).post(_change(obj), _form(obj, FIELDS, active=False), follow=True)
    assert response.status_code == 200
    obj.refresh_from_db()
    assert obj.is_active is False  # saved: switching off is deliberate
    (warning,) = _warnings(response)
    assert warning.startswith("“spin” is switched off: its events are refused from now on, so these stop counting:")
    assert "Mission <a" in warning
    assert ">Spin ten</a> (reads game, spin_amount)" in warning
    assert "Tournament <a" in warning
    assert ">Bonus race</a> (reads bonus_round)" in warning
    for other in ("Draft spins", "Old race", "B spins"):
        assert other not in warning


def test_removing_or_retyping_a_field_warns_naming_only_what_reads_it(spins, tenant_a, staff_client):
    obj = spins[tenant_a.label.pk]
    client = staff_client(tenant_a.admin)
    without_game = [f for f in FIELDS if f["name"] != "game"]
    (warning,) = _warnings(client.post(_change(obj), _form(obj, without_game), follow=True))
    assert warning.startswith("This change (removed game) breaks what these read: Mission <a")
    assert ">Spin ten</a> (reads game)." in warning
    assert "Bonus race" not in warning
    obj.refresh_from_db()
    assert [f["name"] for f in obj.fields] == ["spin_amount", "bonus_round", "note", "lines"]

    retyped = [f | {"type": "string"} if f["name"] == "bonus_round" else f for f in without_game]
    (warning,) = _warnings(client.post(_change(obj), _form(obj, retyped), follow=True))
    assert warning.startswith("This change (changed the type of bonus_round) breaks what these read: Tournament <a")
    assert "Spin ten" not in warning


def test_a_change_that_breaks_nothing_saves_without_a_warning(spins, tenant_a, staff_client):
    obj = spins[tenant_a.label.pk]
    client = staff_client(tenant_a.admin)
    harmless = [f | {"type": "number"} if f["name"] == "lines" else f for f in FIELDS if f["name"] != "note"]
    harmless.append({"name": "extra", "type": "string", "required": False})
    response = client.post(_change(obj), _form(obj, harmless), follow=True)  # unread field gone, integer -> number
    assert _warnings(response) == []
    obj.refresh_from_db()
    assert [f["name"] for f in obj.fields] == ["spin_amount", "game", "bonus_round", "lines", "extra"]
    other = EventType.objects.create(label=tenant_a.label, name="unread", fields=FIELDS)
    assert _warnings(client.post(_change(other), _form(other, [], active=False), follow=True)) == []


def test_the_change_form_lists_the_readers_of_its_own_label_only(spins, tenant_a, tenant_b, outsider, staff_client):
    a, b = spins[tenant_a.label.pk], spins[tenant_b.label.pk]
    page_a = staff_client(tenant_a.admin).get(_change(a)).content.decode()
    assert ">Spin ten</a> (reads game, spin_amount)" in page_a
    assert ">Bonus race</a> (reads bonus_round)" in page_a
    assert "B spins" not in page_a
    mission = Mission.objects.get(name="Spin ten")
    assert reverse("admin:gamification_mission_change", args=[mission.pk]) in page_a
    page_b = staff_client(tenant_b.admin).get(_change(b)).content.decode()
    assert ">B spins</a>" in page_b
    assert "Spin ten" not in page_b
    assert "Bonus race" not in page_b
    assert staff_client(tenant_b.admin).get(_change(a)).status_code == 404
    assert staff_client(tenant_b.admin).post(_change(a), _form(a, FIELDS, active=False)).status_code == 404
    assert staff_client(outsider).get(_change(a)).status_code == 403
    assert staff_client(outsider).post(_change(a), _form(a, FIELDS, active=False)).status_code == 403
    a.refresh_from_db()
    assert a.is_active is True
