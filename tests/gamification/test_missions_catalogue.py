"""Missions are checked against the event catalogue when saved (admin, model clean) and again at activation: a task
on an unknown type or field, a sum over a text, a condition that can never match, an end before a start are refused
naming the field. A mission saved before these checks still opens in the admin and shows what is wrong."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from backoffice.errors import DomainError
from crm.models import EventType
from gamification.models import Mission, MissionTask
from gamification.services.missions import mission_transition
from tests.gamification.mission_helpers import mission_make

pytestmark = pytest.mark.django_db
T = dt.datetime(2026, 1, 5, 11, 0, tzinfo=dt.UTC)


def _draft_with_task(label, **task) -> Mission:
    mission = Mission.objects.create(label=label, name="Deposit week")
    fields = {"name": "Deposit 3 times", "event_type": "deposit", "target": 3} | task
    MissionTask.objects.create(mission=mission, **fields)
    return mission


def test_a_mission_on_the_typo_deposits_cannot_be_activated(tenant_a):
    mission = _draft_with_task(tenant_a.label, event_type="deposits")
    with pytest.raises(DomainError) as exc:
        mission_transition(mission=mission, to="active")
    assert exc.value.errors == {"tasks[0].event_type": ['Unknown event type "deposits"; did you mean "deposit"?']}
    assert Mission.objects.get(pk=mission.pk).status == "draft"


def test_activation_names_each_task_and_field_the_catalogue_refuses(tenant_a):
    mission = _draft_with_task(tenant_a.label, conditions=[{"field": "deposit_method", "op": "eq", "value": "card"}])
    MissionTask.objects.create(
        mission=mission, position=1, name="Sum", event_type="deposit", aggregation="sum", sum_field="deposit_code",
        conditions=[{"field": "amount", "op": "gte", "value": 10}], target=100,
    )  # fmt: skip
    with pytest.raises(DomainError) as exc:
        mission_transition(mission=mission, to="active")
    assert exc.value.errors == {
        "tasks[1].conditions": ['Condition 1: deposit events have no field "amount".'],
        "tasks[1].sum_field": ["deposit_code is a text: only a number can be added up."],
    }


def test_a_valid_mission_on_a_custom_type_activates_and_a_switched_off_type_does_not(tenant_a):
    EventType.objects.create(
        label=tenant_a.label, name="cashback_paid", fields=[{"name": "amount", "type": "number", "required": True}]
    )
    fine = _draft_with_task(tenant_a.label, event_type="cashback_paid", aggregation="sum", sum_field="amount")
    mission_transition(mission=fine, to="active")
    assert Mission.objects.get(pk=fine.pk).status == "active"
    EventType.objects.filter(name="cashback_paid").update(is_active=False)
    off = _draft_with_task(tenant_a.label, event_type="cashback_paid")
    with pytest.raises(DomainError) as exc:
        mission_transition(mission=off, to="active")
    assert exc.value.errors == {
        "tasks[0].event_type": ['The event type "cashback_paid" is switched off: ingest refuses its events.']
    }


def test_another_labels_custom_type_is_unknown(tenant_a, tenant_b):
    EventType.objects.create(label=tenant_b.label, name="cashback_paid", fields=[])
    mission = _draft_with_task(tenant_a.label, event_type="cashback_paid")
    with pytest.raises(DomainError) as exc:
        mission_transition(mission=mission, to="active")
    assert list(exc.value.errors) == ["tasks[0].event_type"]


def test_full_clean_refuses_a_task_and_a_mission_naming_the_field(tenant_a):
    mission = Mission(
        label=tenant_a.label, name="Bad", type="locked", unlock_event_type="deposit", active_from=T, active_till=T,
        unlock_event_conditions=[{"field": "deposit_amount", "op": "eq", "value": "100"}],
    )  # fmt: skip
    with pytest.raises(ValidationError) as exc:
        mission.full_clean()
    assert exc.value.message_dict == {
        "active_till": ["Must be after active from."],
        "unlock_event_conditions": ['Condition 1: deposit_amount is a number; "100" is not.'],
    }
    mission.active_till, mission.unlock_event_conditions = T + dt.timedelta(days=1), []
    mission.full_clean()
    mission.save()
    task = MissionTask(
        mission=mission, name="t", event_type="casino_bet", aggregation="count", sum_field="bet_amount", target=0,
        conditions=[{"field": "game_category", "op": "gt", "value": 1}], window=dt.timedelta(0),
    )  # fmt: skip
    with pytest.raises(ValidationError) as exc:
        task.full_clean()
    assert exc.value.message_dict == {
        "conditions": ["Condition 1: gt compares numbers; game_category is a text."],
        "sum_field": ["Only for a sum: a count adds up no field."],
        "target": ["Must be above zero."],
        "window": ["Must be longer than zero."],
    }


# --- the admin -------------------------------------------------------------------------------------------------------
ADD = "admin:gamification_mission_add"
INLINE = "tasks"


def _form(label, tasks=(), **overrides) -> dict:
    data = {
        "label": label.pk, "name": "Deposit week", "names": "{}", "descriptions": "{}", "image_url": "",
        "custom": "{}", "position": "0", "type": "general", "unlock_level": "", "unlock_mission": "",
        "unlock_event_type": "", "unlock_event_conditions": "[]", "active_from_0": "", "active_from_1": "",
        "active_till_0": "", "active_till_1": "", "recurrence": "", "recurrence_month_days": "", "max_completions": "",
        "time_limit": "", "reward_points": "100", "reward_gems": "0", "reward_diamonds": "0", "reward_badge": "",
        f"{INLINE}-TOTAL_FORMS": str(len(tasks)), f"{INLINE}-INITIAL_FORMS": "0",
        f"{INLINE}-MIN_NUM_FORMS": "0", f"{INLINE}-MAX_NUM_FORMS": "1000",
    }  # fmt: skip
    for n, task in enumerate(tasks):
        data |= {f"{INLINE}-{n}-{k}": v for k, v in task.items()}
    return data | overrides


TASK = {"position": "0", "name": "Deposit 3 times", "event_type": "deposit", "conditions": "[]",
        "aggregation": "count", "sum_field": "", "target": "3", "window": ""}  # fmt: skip


def _errors_on(page: str, field: str) -> str:
    """The text of the page from the named inline field on (its errors are rendered next to it)."""
    return page[page.index(f'name="{INLINE}-0-{field}"') - 2000 :]


def test_the_admin_refuses_the_typo_on_the_tasks_field_and_saves_nothing(tenant_a, staff_client):
    client = staff_client(tenant_a.admin)
    response = client.post(reverse(ADD), _form(tenant_a.label, [TASK | {"event_type": "deposits"}]))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Unknown event type &quot;deposits&quot;; did you mean &quot;deposit&quot;?" in page
    formset = next(f for f in response.context["inline_admin_formsets"] if f.formset.prefix == INLINE).formset
    assert formset.forms[0].errors == {"event_type": ['Unknown event type "deposits"; did you mean "deposit"?']}
    assert not Mission.objects.exists()
    assert not MissionTask.objects.exists()


def test_the_admin_refuses_a_sum_over_a_text_and_a_condition_on_an_unknown_field(tenant_a, staff_client):
    client = staff_client(tenant_a.admin)
    task = TASK | {"aggregation": "sum", "sum_field": "deposit_method",
                   "conditions": '[{"field": "deposit_amont", "op": "gte", "value": 10}]'}  # fmt: skip
    response = client.post(reverse(ADD), _form(tenant_a.label, [task]))
    formset = next(f for f in response.context["inline_admin_formsets"] if f.formset.prefix == INLINE).formset
    assert formset.forms[0].errors == {
        "conditions": ['Condition 1: deposit events have no field "deposit_amont"; did you mean "deposit_amount"?'],
        "sum_field": ["deposit_method is a text: only a number can be added up."],
    }
    assert not Mission.objects.exists()


def test_the_admin_refuses_an_unlock_event_typo_and_an_end_before_the_start(tenant_a, staff_client):
    client = staff_client(tenant_a.admin)
    data = _form(
        tenant_a.label, [TASK], type="locked", unlock_event_type="loginn", active_from_0="2026-02-01",
        active_from_1="00:00:00", active_till_0="2026-01-01", active_till_1="00:00:00",
    )  # fmt: skip
    response = client.post(reverse(ADD), data)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "unlock_event_type": ['Unknown event type "loginn"; did you mean "login"?'],
        "active_till": ["Must be after active from."],
    }
    assert not Mission.objects.exists()


def test_a_valid_mission_is_saved_and_activated_from_the_admin(tenant_a, staff_client):
    client = staff_client(tenant_a.admin)
    task = TASK | {"aggregation": "sum", "sum_field": "deposit_amount",
                   "conditions": '[{"field": "deposit_method", "op": "in", "value": ["card", "wallet"]}]'}  # fmt: skip
    response = client.post(reverse(ADD), _form(tenant_a.label, [task], type="locked", unlock_event_type="login"))
    assert response.status_code == 302
    mission = Mission.objects.get()
    assert client.post(reverse("admin:gamification_mission_activate", args=[mission.pk])).status_code == 302
    assert Mission.objects.get().status == "active"


def test_a_stored_mission_the_catalogue_now_refuses_still_opens_and_says_what_is_wrong(tenant_a, staff_client):
    active = mission_make(tenant_a.label, name="Old")
    MissionTask.objects.filter(mission=active).update(event_type="deposits", sum_field="")  # saved before the checks
    draft = _draft_with_task(tenant_a.label, conditions=[{"field": "bonus", "op": "eq", "value": 1}])
    client = staff_client(tenant_a.admin)
    page = client.get(reverse("admin:gamification_mission_change", args=[active.pk])).content.decode()
    assert "tasks[0].event_type: Unknown event type &quot;deposits&quot;" in page
    assert "Players can never complete it" in page
    page = client.get(reverse("admin:gamification_mission_change", args=[draft.pk])).content.decode()
    assert "tasks[0].conditions: Condition 1: deposit events have no field &quot;bonus&quot;." in page
    # its texts can still be changed (the tasks of an active mission are read-only)
    data = _form(tenant_a.label, name="Old, renamed")
    data |= {f"{INLINE}-TOTAL_FORMS": "1", f"{INLINE}-INITIAL_FORMS": "1"}
    data |= {f"{INLINE}-0-id": active.tasks.get().pk, f"{INLINE}-0-mission": active.pk}
    response = client.post(reverse("admin:gamification_mission_change", args=[active.pk]), data)
    assert response.status_code == 302
    assert Mission.objects.get(pk=active.pk).name == "Old, renamed"


def test_only_staff_of_the_missions_label_see_its_page_and_what_is_wrong(tenant_a, tenant_b, outsider, staff_client):
    mission = _draft_with_task(tenant_a.label, event_type="deposits")
    url = reverse("admin:gamification_mission_change", args=[mission.pk])
    assert "Unknown event type &quot;deposits&quot;" in staff_client(tenant_a.admin).get(url).content.decode()
    assert staff_client(tenant_b.admin).get(url).status_code == 404
    assert staff_client(outsider).get(url).status_code == 404
