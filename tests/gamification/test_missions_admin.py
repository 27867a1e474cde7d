"""The mission builder and badges in the admin: tasks inline, guarded transitions, read-only once active, isolation."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from backoffice.models import Role
from gamification.models import Badge, BadgeStage, Mission
from gamification.services.badges import badge_award
from tests.gamification.mission_helpers import SLOT_BETS, bet, feed, mission_make

pytestmark = pytest.mark.django_db

ADD = "admin:gamification_mission_add"
LIST = "admin:gamification_mission_changelist"
INLINE = "tasks"


def _change(mission) -> str:
    return reverse("admin:gamification_mission_change", args=[mission.pk])


def _action(mission, name) -> str:
    return reverse(f"admin:gamification_mission_{name}", args=[mission.pk])


def _form(label, tasks=(), **overrides) -> dict:
    data = {
        "label": label.pk, "name": "Spin week", "names": "{}", "descriptions": "{}", "image_url": "", "custom": "{}",
        "position": "0", "type": "general", "unlock_level": "", "unlock_mission": "", "unlock_event_type": "",
        "unlock_event_conditions": "[]", "active_from_0": "", "active_from_1": "", "active_till_0": "",
        "active_till_1": "", "recurrence": "", "recurrence_month_days": "",
        "max_completions": "", "time_limit": "", "reward_points": "100", "reward_gems": "0", "reward_diamonds": "0",
        "reward_badge": "",
        f"{INLINE}-TOTAL_FORMS": str(len(tasks)), f"{INLINE}-INITIAL_FORMS": "0",
        f"{INLINE}-MIN_NUM_FORMS": "0", f"{INLINE}-MAX_NUM_FORMS": "1000",
    }  # fmt: skip
    for n, task in enumerate(tasks):
        data |= {f"{INLINE}-{n}-{k}": v for k, v in task.items()}
    return data | overrides


TASK = {
    "position": "0",
    "name": "Bet 3 times on slots",
    "event_type": "casino_bet",
    "conditions": '[{"field": "game_category", "op": "eq", "value": "slots"}]',
    "aggregation": "count",
    "sum_field": "",
    "target": "3",
    "window": "",
}


def test_a_manager_builds_a_mission_with_tasks_and_activates_it(tenant_a, staff_with_role, staff_client):
    client = staff_client(staff_with_role(tenant_a.label, Role.MANAGER))
    assert client.get(reverse(ADD)).status_code == 200
    response = client.post(reverse(ADD), _form(tenant_a.label, [TASK]))
    assert response.status_code == 302, response.content.decode()[:3000]
    mission = Mission.objects.get(name="Spin week")
    assert (mission.status, mission.tasks.get().target) == ("draft", 3)
    page = client.get(_change(mission)).content.decode()
    assert "game_category = slots" in page  # the conditions in plain words, in the inline and the preview
    assert "100 points (given on completion)" in page
    assert _action(mission, "activate") in page
    assert client.get(_action(mission, "activate")).status_code == 200  # the confirmation page
    assert client.post(_action(mission, "activate")).status_code == 302
    mission.refresh_from_db()
    assert mission.status == "active"
    listing = client.get(reverse(LIST)).content.decode()
    assert "Spin week" in listing
    assert "Active" in listing


def test_bad_conditions_and_a_foreign_badge_are_named(tenant_a, tenant_b, staff_client):
    client = staff_client(tenant_a.admin)
    bad = dict(TASK, conditions='[{"field": "x", "op": "between", "value": 1}]')
    page = client.post(reverse(ADD), _form(tenant_a.label, [bad])).content.decode()
    assert "op must be one of" in page
    foreign = Badge.objects.create(label=tenant_b.label, name="B badge")
    response = client.post(reverse(ADD), _form(tenant_a.label, [TASK], reward_badge=foreign.pk))
    assert response.status_code == 200
    assert not Mission.objects.exists()


def test_an_incomplete_mission_is_not_activated_and_says_why(tenant_a, staff_client):
    mission = Mission.objects.create(label=tenant_a.label, name="Empty")
    client = staff_client(tenant_a.admin)
    response = client.post(_action(mission, "activate"), follow=True)
    assert "Add at least one task" in response.content.decode()
    assert Mission.objects.get(pk=mission.pk).status == "draft"


def test_archived_cannot_go_back_and_active_tasks_are_read_only(tenant_a, staff_client):
    mission = mission_make(tenant_a.label, name="Live", reward_points=10)
    client = staff_client(tenant_a.admin)
    task = mission.tasks.get()
    data = _form(tenant_a.label, name="Live renamed", reward_points="999")
    data |= {f"{INLINE}-TOTAL_FORMS": "1", f"{INLINE}-INITIAL_FORMS": "1", f"{INLINE}-0-id": task.pk,
             f"{INLINE}-0-mission": mission.pk, **{f"{INLINE}-0-{k}": v for k, v in TASK.items()}}  # fmt: skip
    data[f"{INLINE}-0-target"] = "1"
    assert client.post(_change(mission), data).status_code == 302
    mission.refresh_from_db()
    task.refresh_from_db()
    assert (mission.name, mission.reward_points, task.target) == ("Live renamed", 10, 3)
    page = client.get(_change(mission)).content.decode()
    assert _action(mission, "archive") in page
    assert _action(mission, "activate") not in page  # only the next step is offered
    assert client.post(_action(mission, "archive")).status_code == 302
    assert Mission.objects.get(pk=mission.pk).status == "archived"
    client.post(_action(mission, "activate"))
    assert Mission.objects.get(pk=mission.pk).status == "archived"


def test_support_reads_but_cannot_change(tenant_a, staff_with_role, staff_client):
    mission = mission_make(tenant_a.label, status="draft", name="Draft one")
    support = staff_client(staff_with_role(tenant_a.label, Role.SUPPORT))
    assert support.get(reverse(LIST)).status_code == 200
    assert support.get(_change(mission)).status_code == 200
    assert support.post(reverse(ADD), _form(tenant_a.label, [TASK])).status_code == 403
    assert support.post(_change(mission), _form(tenant_a.label, name="Hacked")).status_code == 403
    support.post(_action(mission, "activate"))
    mission.refresh_from_db()
    assert (mission.name, mission.status) == ("Draft one", "draft")


def test_each_label_sees_only_its_own_missions_and_badges(tenant_a, tenant_b, outsider, staff_client):
    mission_a = mission_make(tenant_a.label, name="Mission of A")
    mission_b = mission_make(tenant_b.label, name="Mission of B")
    badge_a = Badge.objects.create(label=tenant_a.label, name="Badge of A")
    badge_b = Badge.objects.create(label=tenant_b.label, name="Badge of B")
    client_b = staff_client(tenant_b.admin)
    page = client_b.get(reverse(LIST)).content.decode()
    assert "Mission of B" in page
    assert "Mission of A" not in page
    assert client_b.get(_change(mission_a)).status_code == 404
    assert client_b.post(_action(mission_a, "archive")).status_code == 404
    assert Mission.objects.get(pk=mission_a.pk).status == "active"
    badges = client_b.get(reverse("admin:gamification_badge_changelist")).content.decode()
    assert "Badge of B" in badges
    assert "Badge of A" not in badges
    assert client_b.get(reverse("admin:gamification_badge_change", args=[badge_a.pk])).status_code == 404
    assert staff_client(tenant_a.admin).get(_change(mission_a)).status_code == 200
    nobody = staff_client(outsider)
    assert nobody.get(reverse(LIST)).status_code == 403
    assert nobody.get(_change(mission_b)).status_code == 404  # the transition buttons look the row up first
    assert nobody.get(reverse("admin:gamification_badge_change", args=[badge_b.pk])).status_code == 403


def test_the_badge_page_has_stages_inline_and_lists_awards(tenant_a, staff_client):
    client = staff_client(tenant_a.admin)
    data = {
        "label": tenant_a.label.pk, "name": "Spinner", "names": "{}", "descriptions": "{}", "image_url": "",
        "visibility": "greyed", "position": "0", "is_active": "on",
        "stages-TOTAL_FORMS": "2", "stages-INITIAL_FORMS": "0", "stages-MIN_NUM_FORMS": "0",
        "stages-MAX_NUM_FORMS": "1000",
        "stages-0-number": "1", "stages-0-name": "Bronze", "stages-0-names": "{}", "stages-0-image_url": "",
        "stages-1-number": "2", "stages-1-name": "Silver", "stages-1-names": "{}", "stages-1-image_url": "",
    }  # fmt: skip
    response = client.post(reverse("admin:gamification_badge_add"), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    badge = Badge.objects.get(name="Spinner")
    assert list(BadgeStage.objects.filter(badge=badge).values_list("name", flat=True)) == ["Bronze", "Silver"]
    badge_award(player=tenant_a.player, badge=badge, source="manual", key="k", reason="Welcome gift")
    page = client.get(reverse("admin:gamification_badge_change", args=[badge.pk])).content.decode()
    assert "Welcome gift" in page
    assert "shared-player" in page


def test_the_changelist_counts_tasks_and_players_in_progress_and_completed(tenant_a, staff_client):
    mission = mission_make(
        tenant_a.label, name="Counted", tasks=[{"target": 2, "conditions": SLOT_BETS}, {"target": 9}]
    )
    feed(tenant_a.label, [bet(), bet(user="second"), bet(user="second")])
    client = staff_client(tenant_a.admin)
    listed = client.get(reverse(LIST)).context["cl"].result_list
    [row] = [m for m in listed if m.pk == mission.pk]
    assert (row.n_tasks, row.n_in_progress, row.n_completed) == (2, 2, 0)


def test_a_recurring_schedule_is_picked_as_days_not_typed_as_json(tenant_a, staff_client):
    client = staff_client(tenant_a.admin)
    form = _form(tenant_a.label, [TASK], type="recurring", recurrence="weekdays") | {"recurrence_weekdays": ["5", "6"]}
    assert client.post(reverse(ADD), form).status_code == 302
    mission = Mission.objects.get(name="Spin week")
    assert mission.recurrence_weekdays == [5, 6]
    page = client.get(reverse("admin:gamification_mission_change", args=[mission.pk])).content.decode()
    checked = re.findall(r'<input[^>]*name="recurrence_weekdays"[^>]*>', page)
    ticked = [re.search(r'value="(\d)"', tag).group(1) for tag in checked if re.search(r"\schecked[\s>]", tag)]
    assert ticked == ["5", "6"]
    monthly = _form(tenant_a.label, [TASK], name="Payday", type="recurring", recurrence="days_of_month")
    bad = client.post(reverse(ADD), monthly | {"recurrence_month_days": "1, 32"})
    assert "&#x27;32&#x27; is not a day of the month" in bad.content.decode()
    assert client.post(reverse(ADD), monthly | {"recurrence_month_days": "15, 1,15"}).status_code == 302
    assert Mission.objects.get(name="Payday").recurrence_month_days == [1, 15]
