"""The condition builder's server side: the catalogue JSON (three personas), widgets that post exactly the JSON the
raw boxes posted, server errors handed to the right row, durations in words, human labels."""

from __future__ import annotations

import datetime as dt
import html
import json
import re

import pytest
from django import forms
from django.core.exceptions import ValidationError
from django.urls import reverse

from backoffice.models import Role
from crm.admin.builder import (
    ConditionTreeField,
    DurationWordsField,
    EventConditionsField,
    duration_parse,
    duration_words,
    errors_by_row,
)
from crm.conditions import TreeError, tree_validate
from crm.models import EventType
from gamification.conditions import conditions_validate
from gamification.models import Level, Mission, MissionTask, Tournament
from tests.factories import PlayerFactory

pytestmark = pytest.mark.django_db
URL = "/admin/crm/builder/catalogue/"


def _catalogue(client, label) -> dict:
    response = client.get(URL, {"label": label.pk})
    assert response.status_code == 200, response.content
    return response.json()


# --- the catalogue ---------------------------------------------------------------------------------------------------
def test_the_catalogue_describes_the_labels_own_types_fields_levels_and_markers(tenant_a, tenant_b, staff_client):
    EventType.objects.create(
        label=tenant_a.label, name="wheel_spin", description="A spin of the wheel",
        fields=[{"name": "prize", "type": "string", "required": True}, {"name": "stake", "type": "number"},
                {"name": "spun_at", "type": "timestamp"}],
    )  # fmt: skip
    EventType.objects.create(label=tenant_b.label, name="b_only", fields=[{"name": "x", "type": "string"}])
    Level.objects.create(label=tenant_a.label, name="Gold", required_points=1000)
    Level.objects.create(label=tenant_b.label, name="B level", required_points=5)
    PlayerFactory(brand=tenant_a.brand, markers=["vip", "sports_fan"], custom={"tier": "gold", "spins": 3})
    PlayerFactory(brand=tenant_b.brand, markers=["b_marker"])

    data = _catalogue(staff_client(tenant_a.admin), tenant_a.label)

    assert data["label"]["id"] == tenant_a.label.pk
    types = {t["name"]: t for t in data["event_types"]}
    assert "b_only" not in types
    spin = types["wheel_spin"]
    assert (spin["label"], spin["origin"], spin["description"]) == ("Wheel spin", "custom", "A spin of the wheel")
    # A timestamp cannot be tested by an event condition: not offered.
    assert [(f["name"], f["kind"], f["ops"]) for f in spin["fields"]] == [
        ("prize", "string", ["eq", "ne", "in", "not_in", "contains"]),
        ("stake", "number", ["eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in"]),
    ]
    bet = {f["name"]: f for f in types["casino_bet"]["fields"]}
    assert bet["bet_amount"] == {
        "name": "bet_amount", "label": "Bet amount", "kind": "number",
        "ops": ["eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in"], "choices": [], "money": True,
    }  # fmt: skip
    result = {f["name"]: f for f in types["sport_bet_settled"]["fields"]}["result"]
    assert (result["kind"], result["ops"]) == ("choice", ["eq", "ne", "in", "not_in"])
    assert ["won", "Won"] in result["choices"]
    profile = {f["name"]: f for f in types["profile_update"]["fields"]}
    assert profile["core_account_status"]["label"] == "Account status"

    fields = {f["key"]: f for f in data["fields"]}
    control = fields["gamification.control_group"]
    assert (control["label"], control["kind"], control["ops"]) == (
        "In gamification control group", "boolean", ["is_true", "is_false"],
    )  # fmt: skip
    assert ["MT", "Malta"] in fields["user_country"]["suggestions"]  # offered, not imposed: the kind stays text
    assert (fields["user_country"]["kind"], fields["user_country"]["choices"]) == ("text", [])
    assert fields["custom.spins"]["kind"] == "number"
    assert fields["custom.tier"]["group"] == "Custom properties"
    assert fields["gamification.level"]["choices"] == [[Level.objects.get(name="Gold").pk, "Gold"]]
    assert data["levels"] == fields["gamification.level"]["choices"]
    assert data["markers"] == ["sports_fan", "vip"]
    assert data["ops"]["gte"] == "at least"
    assert data["ops"]["within_last_days"] == "within the last … days"
    assert data["kind_ops"]["markers"]["is_set"] == "has any marker"


def test_support_reads_the_catalogue_and_the_only_label_is_the_default(tenant_a, staff_with_role, staff_client):
    client = staff_client(staff_with_role(tenant_a.label, Role.SUPPORT))
    response = client.get(URL)
    assert response.status_code == 200
    assert response.json()["label"]["id"] == tenant_a.label.pk


def test_another_labels_staff_gets_404_an_outsider_403_and_anonymous_the_login(
    tenant_a, tenant_b, outsider, staff_client
):
    assert staff_client(tenant_b.admin).get(URL, {"label": tenant_a.label.pk}).status_code == 404
    assert staff_client(tenant_b.admin).get(URL, {"label": 999_999}).status_code == 404  # same as a missing one
    response = staff_client(outsider).get(URL, {"label": tenant_a.label.pk})
    assert (response.status_code, response.json()["code"]) == (403, "forbidden")
    anonymous = staff_client().get(URL, {"label": tenant_a.label.pk})
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith(reverse("admin:login"))


def test_a_bad_label_parameter_is_a_clear_400(tenant_a, tenant_b, staff_with_role, staff_client):
    both = staff_with_role(tenant_a.label, Role.ADMIN)
    staff_with_role(tenant_b.label, Role.ADMIN, username="other")
    staff_with_role(tenant_b.label, Role.MANAGER, user=both)
    client = staff_client(both)
    for params in ({}, {"label": "abc"}, {"label": "1" * 40}):
        response = client.get(URL, params)
        assert response.status_code == 400
        assert response.json()["errors"] == {"label": ["Say which label: ?label=<id>."]}
    assert client.post(URL, {"label": tenant_a.label.pk}).status_code == 405


# --- widgets: the same JSON in, the same JSON out --------------------------------------------------------------------
class TaskForm(forms.Form):
    event_type = forms.CharField()
    conditions = EventConditionsField()

    def clean_conditions(self):
        value = self.cleaned_data["conditions"]
        try:
            conditions_validate(value)
        except ValidationError as exc:
            raise ValidationError(exc.messages, code="conditions") from exc
        return value


class SegmentForm(forms.Form):
    conditions = ConditionTreeField(audience_url="/admin/crm/segment/audience/")

    def __init__(self, *args, label_id: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.label_id = label_id

    def clean_conditions(self):
        value = self.cleaned_data["conditions"]
        try:
            tree_validate(value, label_id=self.label_id)
        except TreeError as exc:
            raise ValidationError([f"{path}: {' '.join(msgs)}" for path, msgs in exc.errors.items()]) from exc
        return value


def _textarea(page: str, name: str) -> str:
    found = re.search(rf'<textarea name="{re.escape(name)}"[^>]*>\n?(.*?)</textarea>', page, re.S)
    assert found, f"no textarea {name}"
    return html.unescape(found.group(1))


def _builder_attrs(page: str, name: str) -> dict[str, str]:
    found = re.search(rf'<div class="pb-builder"([^>]*)>\s*<textarea name="{re.escape(name)}"', page, re.S)
    assert found, f"no builder for {name}"
    return {k: html.unescape(v) for k, v in re.findall(r'data-([\w-]+)="([^"]*)"', found.group(1))}


CONDITIONS = [
    {"field": "game_category", "op": "in", "value": ["slots", "live casino"]},
    {"field": "bet_amount", "op": "gte", "value": 2.5},
    {"field": "game_name", "op": "contains", "value": "Book “of” <Ra> & co"},
]
TREE = {
    "all": [
        {"field": "user_country", "op": "in", "value": ["MT", "DE"]},
        {"not": {"any": [{"field": "markers", "op": "has", "value": "vip"}, {"field": "gamification.points",
                                                                             "op": "between", "value": [0, 10]}]}},
        {"any": [{"field": "core_registration_date", "op": "within_last_days", "value": 30},
                 {"field": "gamification.control_group", "op": "is_true"}]},
    ]
}  # fmt: skip


def test_an_event_list_renders_and_posts_back_exactly_the_same_json():
    page = str(TaskForm(initial={"event_type": "casino_bet", "conditions": CONDITIONS})["conditions"])
    posted = _textarea(page, "conditions")
    assert json.loads(posted) == CONDITIONS
    attrs = _builder_attrs(page, "conditions")
    assert attrs["condition-builder"] == "event"
    assert attrs["type-field"] == "event_type"
    assert attrs["catalogue-url"] == URL
    form = TaskForm({"event_type": "casino_bet", "conditions": posted})
    assert form.is_valid(), form.errors
    assert form.cleaned_data["conditions"] == CONDITIONS
    assert json.loads(_textarea(str(TaskForm()["conditions"]), "conditions")) == []  # a new row starts empty


def test_a_tree_renders_and_posts_back_exactly_the_same_json(tenant_a):
    page = str(SegmentForm(initial={"conditions": TREE}, label_id=tenant_a.label.pk)["conditions"])
    posted = _textarea(page, "conditions")
    assert json.loads(posted) == TREE
    attrs = _builder_attrs(page, "conditions")
    assert (attrs["condition-builder"], attrs["audience-url"]) == ("tree", "/admin/crm/segment/audience/")
    form = SegmentForm({"conditions": posted}, label_id=tenant_a.label.pk)
    assert form.is_valid(), form.errors
    assert form.cleaned_data["conditions"] == TREE
    new = SegmentForm(label_id=tenant_a.label.pk)["conditions"]
    assert json.loads(_textarea(str(new), "conditions")) == {"all": []}


def test_server_errors_are_handed_to_the_row_they_are_about(tenant_a):
    bad = [{"field": "game_category", "op": "eq", "value": "slots"}, {"field": "bet_amount", "op": "gte", "value": "x"}]
    form = TaskForm({"event_type": "casino_bet", "conditions": json.dumps(bad)})
    assert not form.is_valid()
    rows = json.loads(_builder_attrs(str(form["conditions"]), "conditions")["row-errors"])
    assert rows == {"1": ["gte needs a number."]}

    tree = {"all": [{"field": "user_country", "op": "eq", "value": "MT"},
                    {"any": [{"field": "gamification.points", "op": "gte", "value": "many"},
                             {"field": "nope", "op": "eq", "value": 1}]}]}  # fmt: skip
    form = SegmentForm({"conditions": json.dumps(tree)}, label_id=tenant_a.label.pk)
    assert not form.is_valid()
    rows = json.loads(_builder_attrs(str(form["conditions"]), "conditions")["row-errors"])
    assert set(rows) == {"all[1].any[0]", "all[1].any[1]"}
    assert "number" in rows["all[1].any[0]"][0]
    assert rows["all[1].any[1]"][0].startswith('Unknown field "nope"')
    assert json.loads(_textarea(str(form["conditions"]), "conditions")) == tree  # what was typed is kept


def test_errors_by_row_reads_every_message_shape():
    assert errors_by_row(["Condition 3: stake is a number.", "At most 20 conditions."], "event") == {
        "2": ["stake is a number."], "": ["At most 20 conditions."],
    }  # fmt: skip
    joined = "conditions.all[0].value: Too big.; conditions.not.any[2].behaviour.where[1]: Bad op."
    assert errors_by_row([joined, "conditions: At most 50 conditions.", "Something else"], "tree") == {
        "all[0]": ["Too big."],
        "not.any[2]": ["Event condition 2: Bad op."],
        "": ["At most 50 conditions.", "Something else"],
    }
    assert errors_by_row(["conditions.all[0].behaviour.window: At most 365 days."], "tree") == {
        "all[0]": ["Window: At most 365 days."]
    }


def _mission_form(label, task: dict) -> dict:
    data = {
        "label": label.pk, "name": "Spin week", "names": "{}", "descriptions": "{}", "image_url": "", "custom": "{}",
        "position": "0", "type": "general", "unlock_level": "", "unlock_mission": "", "unlock_event_type": "",
        "unlock_event_conditions": "[]", "active_from_0": "", "active_from_1": "", "active_till_0": "",
        "active_till_1": "", "recurrence": "", "recurrence_month_days": "", "max_completions": "",
        "time_limit": "3 days", "reward_points": "100", "reward_gems": "0", "reward_diamonds": "0", "reward_badge": "",
        "tasks-TOTAL_FORMS": "1", "tasks-INITIAL_FORMS": "0", "tasks-MIN_NUM_FORMS": "0",
        "tasks-MAX_NUM_FORMS": "1000",
    }  # fmt: skip
    return data | {f"tasks-0-{k}": v for k, v in task.items()}


TASK = {"position": "0", "name": "Bet on slots", "event_type": "casino_bet", "conditions": json.dumps(CONDITIONS),
        "aggregation": "count", "sum_field": "", "target": "3", "window": "2 weeks"}  # fmt: skip


def test_the_mission_admin_round_trips_task_conditions_and_durations_in_words(tenant_a, staff_client):
    client = staff_client(tenant_a.admin)
    response = client.post(reverse("admin:gamification_mission_add"), _mission_form(tenant_a.label, TASK))
    assert response.status_code == 302, response.content.decode()[:2000]
    mission = Mission.objects.get(name="Spin week")
    task = mission.tasks.get()
    assert task.conditions == CONDITIONS
    assert (task.window, mission.time_limit) == (dt.timedelta(days=14), dt.timedelta(days=3))

    page = client.get(reverse("admin:gamification_mission_change", args=[mission.pk])).content.decode()
    assert json.loads(_textarea(page, "tasks-0-conditions")) == CONDITIONS
    assert _builder_attrs(page, "tasks-0-conditions")["number-fields"] == "sum_field"
    assert 'value="2 weeks"' in page
    assert 'value="3 days"' in page
    # The preview, as the player reads it.
    assert (
        "Bet on slots — 3 casino bets where game category is one of slots or live casino, bet amount is at least "
        "2.5 and game name contains “Book “of” &lt;Ra&gt; &amp; co”, within 2 weeks" in page
    )


def test_the_mission_admin_places_a_catalogue_error_on_its_row_and_saves_nothing(tenant_a, staff_client):
    bad = [{"field": "game_category", "op": "eq", "value": "slots"}, {"field": "bet_amount", "op": "eq", "value": "x"}]
    data = _mission_form(tenant_a.label, TASK | {"conditions": json.dumps(bad)})
    response = staff_client(tenant_a.admin).post(reverse("admin:gamification_mission_add"), data)
    assert response.status_code == 200
    page = response.content.decode()
    rows = json.loads(_builder_attrs(page, "tasks-0-conditions")["row-errors"])
    assert rows == {"1": ['bet_amount is a number; "x" is not.']}
    assert json.loads(_textarea(page, "tasks-0-conditions")) == bad
    assert not Mission.objects.exists()


def test_a_duration_in_words_that_means_nothing_is_named(tenant_a, staff_client):
    data = _mission_form(tenant_a.label, TASK | {"window": "3 fortnights"}) | {"time_limit": "1 month"}
    response = staff_client(tenant_a.admin).post(reverse("admin:gamification_mission_add"), data)
    assert response.status_code == 200
    page = html.unescape(response.content.decode())
    assert "“fortnights” is not a unit of time" in page
    assert "A month has no fixed length: type days instead, e.g. 30 days." in page
    assert not Mission.objects.exists()
    assert not MissionTask.objects.exists()


def test_the_tournament_admin_takes_durations_in_words_and_shows_them_so(tenant_a, staff_client):
    from tests.gamification.test_tournament_admin import _form

    data = _form(tenant_a.label, duration="2 hours", publish_before="1 day", repeat_every="")
    client = staff_client(tenant_a.admin)
    assert client.post(reverse("admin:gamification_tournament_add"), data).status_code == 302
    tournament = Tournament.objects.get()
    assert (tournament.duration, tournament.publish_before) == (dt.timedelta(hours=2), dt.timedelta(days=1))
    page = client.get(reverse("admin:gamification_tournament_change", args=[tournament.pk])).content.decode()
    assert 'value="2 hours"' in page
    assert 'value="1 day"' in page
    assert json.loads(_textarea(page, "conditions")) == tournament.conditions
    assert _builder_attrs(page, "conditions")["number-fields"] == "score_field"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7 days", dt.timedelta(days=7)),
        ("2 weeks", dt.timedelta(days=14)),
        ("1 day 12 hours", dt.timedelta(hours=36)),
        ("1 day and 12 hours", dt.timedelta(hours=36)),
        ("90 minutes", dt.timedelta(minutes=90)),
        ("1.5 hours", dt.timedelta(minutes=90)),
        ("2h 30m", dt.timedelta(hours=2, minutes=30)),
        ("1 00:00:00", dt.timedelta(days=1)),  # Django's own format, as before
        ("02:00:00", dt.timedelta(hours=2)),
        ("P3D", dt.timedelta(days=3)),
    ],
)
def test_durations_are_read_in_words(text, expected):
    assert duration_parse(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("7", "Say the unit: 7 days, hours or minutes?"),
        ("2 months", "A month has no fixed length: type days instead, e.g. 30 days."),
        ("3 fortnights", "“fortnights” is not a unit of time: use weeks, days, hours, minutes or seconds."),
        ("soon", "“soon” is not a duration: e.g. 7 days, 2 weeks, 1 day 12 hours or 90 minutes."),
        ("7 days later", "“7 days later” is not a duration: e.g. 7 days, 2 weeks, 1 day 12 hours or 90 minutes."),
    ],
)
def test_a_duration_that_is_not_one_says_why(text, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        duration_parse(text)


def test_durations_are_written_as_a_person_writes_them():
    assert [duration_words(dt.timedelta(**kw)) for kw in (
        {"days": 7}, {"days": 14}, {"days": 10}, {"hours": 36}, {"minutes": 90}, {"hours": 2}, {"seconds": 45},
    )] == ["1 week", "2 weeks", "10 days", "1 day 12 hours", "90 minutes", "2 hours", "45 seconds"]  # fmt: skip
    assert duration_words(None) == ""
    field = DurationWordsField()
    with pytest.raises(ValidationError, match="At most 3650 days"):
        field.clean("5000 days")
    assert field.clean("3 weeks") == dt.timedelta(days=21)


# --- human labels ----------------------------------------------------------------------------------------------------
def test_the_player_page_speaks_the_builders_words(tenant_a, staff_client):
    page = staff_client(tenant_a.admin).get(reverse("admin:crm_player_change", args=[tenant_a.player.pk]))
    text = page.content.decode()
    for label in ("In gamification control group", "Account status", "Registration date", "Wallet currency",
                  "KYC status", "Birth date", "Player id (operator)"):  # fmt: skip
        assert f">{label}<" in re.sub(r"\s*<", "<", re.sub(r">\s*", ">", text)), label
    for raw in ("Ach gamification", "Core account status", "Core kyc status", "User ext id"):
        assert raw not in text, raw


# --- a rule's activities ---------------------------------------------------------------------------------------------
def test_the_catalogue_lists_what_the_labels_rules_may_give(tenant_a, tenant_b, staff_client):
    from crm.models import BonusTemplate
    from gamification.models import Badge

    Mission.objects.create(label=tenant_a.label, name="Weekly wager", status="active")
    Mission.objects.create(label=tenant_a.label, name="Old one", status="archived")
    Mission.objects.create(label=tenant_b.label, name="B mission", status="active")
    gold = Badge.objects.create(label=tenant_a.label, name="Gold spinner")
    Badge.objects.create(label=tenant_b.label, name="B badge")
    cash = BonusTemplate.objects.create(
        label=tenant_a.label, name="5 EUR cash", operator_code="CASH_5_EUR", type="cash"
    )
    BonusTemplate.objects.create(label=tenant_a.label, name="Gone", operator_code="GONE", type="cash", is_active=False)
    BonusTemplate.objects.create(label=tenant_b.label, name="B cash", operator_code="CASH_5_EUR", type="cash")

    data = _catalogue(staff_client(tenant_a.admin), tenant_a.label)

    assert data["missions"] == [[Mission.objects.get(name="Weekly wager").pk, "Weekly wager"]]
    assert data["badges"] == [[gold.pk, "Gold spinner"]]
    assert data["bonus_templates"] == [[cash.pk, "5 EUR cash (CASH_5_EUR)"]]
    other = staff_client(tenant_b.admin).get(URL, {"label": tenant_a.label.pk})
    assert (other.status_code, other.json()["code"]) == (404, "not_found")


def test_the_rule_page_edits_activities_in_the_editor_and_posts_the_same_json(tenant_a, staff_client):
    from crm.models.rules import Rule
    from tests.crm.rules.helpers import rule_make

    rule = rule_make(tenant_a.label, activities=[{"type": "points", "amount": 50}])
    client = staff_client(tenant_a.admin)
    page = client.get(reverse("admin:crm_rule_change", args=[rule.pk])).content.decode()
    editor = re.search(r'<div class="pb-builder"[^>]*data-activities-editor="1"[^>]*>', page)
    assert editor is not None
    assert "data-condition-builder" not in editor.group(0)
    assert f'data-label-id="{tenant_a.label.pk}"' in editor.group(0)
    assert 'data-type-field="trigger_type"' in editor.group(0)
    assert 0 < page.index("crm/builder/builder.js") < page.index("crm/builder/activities.js")  # it uses builder.js's
    textarea = re.search(r'<textarea name="activities"[^>]*>(.*?)</textarea>', page, re.S)
    assert json.loads(html.unescape(textarea.group(1))) == [{"type": "points", "amount": 50}]
    assert Rule.objects.get(pk=rule.pk).activities == [{"type": "points", "amount": 50}]
