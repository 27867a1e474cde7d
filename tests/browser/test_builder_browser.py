"""The condition builder in a real browser: a manager builds a mission task's conditions and a segment's tree by
clicking, saves, and finds the same on reload; the preview speaks plain words; errors from the server sit next to
their row. Screenshots land in var/screenshots/ (70-79)."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from backoffice.models import Role
from crm.models import EventType
from crm.services.players import player_upsert
from gamification.models import Level, Mission, MissionTask
from tests.browser.test_admin_browser import PASSWORD, SCREENSHOTS, _shot, browser  # noqa: F401 - browser is a fixture
from tests.factories import BrandFactory, LabelFactory, StaffRoleFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def riviera(transactional_db):
    """One label with a manager, a custom event type, two levels and players with markers."""
    label = LabelFactory(name="Riviera Gaming", base_currency="EUR")
    brand = BrandFactory(label=label, name="Lucky Spins", ext_brand_id="lucky-spins")
    manager = UserFactory(username="maya")
    manager.set_password(PASSWORD)
    manager.save()
    StaffRoleFactory(user=manager, label=label, role=Role.MANAGER)
    EventType.objects.create(
        label=label,
        name="wheel_spin",
        fields=[{"name": "prize", "type": "string", "required": True}, {"name": "stake", "type": "number"}],
    )
    Level.objects.create(label=label, name="Bronze", required_points=0)
    Level.objects.create(label=label, name="Gold", required_points=1000)
    for i, markers in enumerate((["vip"], ["vip", "sports_fan"], [])):
        player_upsert(
            brand=brand,
            user_ext_id=f"p{i}",
            data={
                "user_country": "MT",
                "markers": markers,
                "core_registration_date": dt.datetime.now(dt.UTC).isoformat(),
            },
        )
    return label


def _login(chrome, live_server, username: str = "maya"):
    page = chrome.new_page(viewport={"width": 1440, "height": 900})
    page.goto(f"{live_server.url}{reverse('admin:login')}")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}{reverse('admin:index')}")
    return page


def _shot_of(locator, name: str) -> None:
    """A close-up of one part of the page, next to the full-page shots."""
    locator.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def _task_builder(page, row: int = 0):
    return page.locator(f"[data-condition-builder]:has(textarea[name='tasks-{row}-conditions'])")


def test_a_manager_builds_a_mission_tasks_conditions_by_clicking(browser, live_server, riviera):  # noqa: F811
    page = _login(browser, live_server)
    page.goto(f"{live_server.url}{reverse('admin:gamification_mission_add')}")
    page.fill("#id_name", "Slots week")
    page.get_by_text(re.compile(r"Add another mission task", re.I)).click()
    page.fill("[name='tasks-0-name']", "Bet 3 times on slots")
    page.fill("[name='tasks-0-event_type']", "casino_bet")
    page.fill("[name='tasks-0-target']", "3")
    page.fill("[name='tasks-0-window']", "1 week")
    builder = _task_builder(page)
    builder.get_by_test_id("builder-add-condition").click()
    # The added row's builder reads the mission's label, as the page's own builders do.
    assert builder.evaluate("(root) => root.builder.labelId()") == str(riviera.pk)
    row = builder.get_by_test_id("builder-row").nth(0)
    row.get_by_label("Event field").select_option("game_category")
    row.get_by_label("Comparison").select_option("eq")
    row.get_by_label("Value").fill("slots")
    builder.get_by_test_id("builder-add-condition").click()
    second = builder.get_by_test_id("builder-row").nth(1)
    second.get_by_label("Event field").select_option("bet_amount")
    second.get_by_label("Comparison").select_option("gte")
    second.get_by_label("Value").fill("1")
    preview = builder.get_by_test_id("builder-preview")
    assert preview.inner_text() == ("Casino bet events where game category is slots and bet amount is at least 1.")
    _shot(page, "70-builder-mission-task")
    _shot_of(page.locator("#tasks-group"), "70b-builder-mission-task-close-up")
    page.click("button[name=_continue]")
    page.wait_for_url(re.compile(r".*/mission/\d+/change/$"))
    task = MissionTask.objects.get(mission__name="Slots week")
    assert task.conditions == [
        {"field": "game_category", "op": "eq", "value": "slots"},
        {"field": "bet_amount", "op": "gte", "value": 1},
    ]
    assert task.window == dt.timedelta(days=7)

    page.reload()
    builder = _task_builder(page)
    rows = builder.get_by_test_id("builder-row")
    expect(rows).to_have_count(2)
    assert rows.nth(0).get_by_label("Event field").input_value() == "game_category"
    assert rows.nth(1).get_by_label("Comparison").input_value() == "gte"
    assert rows.nth(1).get_by_label("Value").input_value() == "1"
    assert json.loads(builder.locator("textarea").input_value()) == task.conditions
    assert builder.get_by_test_id("builder-preview").inner_text().startswith("Casino bet events where game category")
    assert page.locator("[name='tasks-0-window']").input_value() == "1 week"
    _shot(page, "71-builder-mission-task-reloaded")


def test_a_server_error_sits_next_to_its_row_and_changes_nothing(browser, live_server, riviera):  # noqa: F811
    mission = Mission.objects.create(label=riviera, name="Wheel week", reward_points=10)
    MissionTask.objects.create(
        mission=mission, name="Spin", event_type="wheel_spin", target=1,
        conditions=[{"field": "prize", "op": "eq", "value": "car"}, {"field": "stake", "op": "gte", "value": 5}],
    )  # fmt: skip
    page = _login(browser, live_server)
    page.goto(f"{live_server.url}{reverse('admin:gamification_mission_change', args=[mission.pk])}")
    builder = _task_builder(page)
    expect(builder.get_by_test_id("builder-row")).to_have_count(2)
    assert "Wheel spin events where prize is car and stake is at least 5" in builder.inner_text()
    # "stake" is a number: typed as a text on the second row, the catalogue check refuses it, on that row.
    builder.get_by_test_id("builder-row").nth(1).get_by_label("Comparison").select_option("eq")
    page.fill("[name='tasks-0-event_type']", "wheel_spin")
    page.evaluate(
        """() => { const t = document.querySelector("textarea[name='tasks-0-conditions']");
                   t.value = JSON.stringify([{field: "prize", op: "eq", value: "car"},
                                             {field: "stake", op: "eq", value: "five"}]);
                   t.dispatchEvent(new Event("input")); }"""
    )
    page.click("button[name=_continue]")
    builder = _task_builder(page)
    second = builder.get_by_test_id("builder-row").nth(1)
    expect(second).to_be_visible()
    assert "pb-row-error" in (second.get_attribute("class") or "")
    errors = builder.locator(".pb-errors")
    assert errors.count() == 1
    assert "stake is a number" in errors.inner_text()
    _shot(page, "72-builder-server-error-on-its-row")
    _shot_of(page.locator("#tasks-group"), "72b-builder-server-error-close-up")
    assert MissionTask.objects.get(mission=mission).conditions[1] == {"field": "stake", "op": "gte", "value": 5}


def test_a_manager_builds_a_segment_tree_by_clicking_and_sees_its_audience(browser, live_server, riviera):  # noqa: F811
    from crm.models import Segment

    page = _login(browser, live_server)
    page.goto(f"{live_server.url}{reverse('admin:crm_segment_add')}")
    page.fill("#id_name", "Maltese VIPs")
    builder = page.locator("[data-condition-builder='tree']")
    leaves = builder.get_by_test_id("builder-leaf")
    expect(leaves).to_have_count(1)  # a new segment starts with "Account status is ACTIVE"
    assert leaves.nth(0).get_by_label("Player field").input_value() == "core_account_status"

    builder.get_by_test_id("builder-add-field").last.click()
    country = leaves.nth(1)
    country.get_by_label("Player field").select_option("user_country")
    country.get_by_label("Comparison").select_option("eq")
    country.get_by_label("Value").fill("MT")
    # A nested "any of" group: the marker vip, or at least 100 points.
    builder.get_by_test_id("builder-add-group").last.click()
    group = builder.get_by_test_id("builder-group").nth(1)
    expect(group.get_by_label("Match")).to_have_value("any")
    group.get_by_test_id("builder-add-field").click()
    marker = group.get_by_test_id("builder-leaf").nth(0)
    marker.get_by_label("Player field").select_option("markers")
    marker.get_by_label("Comparison").select_option("has")
    marker.get_by_label("Value").fill("vip")
    group.get_by_test_id("builder-add-field").click()
    points = group.get_by_test_id("builder-leaf").nth(1)
    points.get_by_label("Player field").select_option("gamification.points")
    points.get_by_label("Comparison").select_option("gte")
    points.get_by_label("Value").fill("100")
    # An activity condition shows its own controls (taken out again: behaviour leaves come with the roll-ups).
    builder.get_by_test_id("builder-add-behaviour").first.click()
    activity = builder.get_by_test_id("builder-leaf").last
    expect(activity.get_by_label("Event type")).to_have_value("deposit")
    expect(activity.get_by_label("Number of days")).to_have_value("30 days")
    activity.get_by_label("Number of days").fill("2 weeks")
    assert (
        "who had at least 1 deposit event in the last 14 days" in builder.get_by_test_id("builder-preview").inner_text()
    )
    _shot_of(builder, "73b-builder-segment-activity-close-up")
    activity.get_by_role("button", name="Remove this condition").click()

    preview = builder.get_by_test_id("builder-preview")
    expected = (
        "Players whose account status is Active, whose country is Malta and "
        "(who have the marker “vip” or whose points is at least 100)."
    )
    expect(preview).to_have_text(expected)
    expect(builder.get_by_test_id("builder-audience")).to_have_text("Audience: 2 players")
    _shot(page, "73-builder-segment-tree")
    _shot_of(builder, "73c-builder-segment-tree-close-up")
    page.click("button[name=_continue]")
    page.wait_for_url(re.compile(r".*/segment/\d+/change/$"))
    segment = Segment.objects.get(name="Maltese VIPs")
    assert segment.conditions == {
        "all": [
            {"field": "core_account_status", "op": "eq", "value": "ACTIVE"},
            {"field": "user_country", "op": "eq", "value": "MT"},
            {"any": [{"field": "markers", "op": "has", "value": "vip"},
                     {"field": "gamification.points", "op": "gte", "value": 100}]},
        ]
    }  # fmt: skip

    page.reload()
    builder = page.locator("[data-condition-builder='tree']")
    expect(builder.get_by_test_id("builder-preview")).to_have_text(expected)
    expect(builder.get_by_test_id("builder-leaf")).to_have_count(4)
    assert json.loads(builder.locator("textarea").input_value()) == segment.conditions
    expect(builder.get_by_test_id("builder-audience")).to_have_text("Audience: 2 players")
    _shot(page, "74-builder-segment-tree-reloaded")


def test_the_builder_works_from_the_keyboard(browser, live_server, riviera):  # noqa: F811
    page = _login(browser, live_server)
    page.goto(f"{live_server.url}{reverse('admin:crm_segment_add')}")
    builder = page.locator("[data-condition-builder='tree']")
    expect(builder.get_by_test_id("builder-leaf")).to_have_count(1)
    add = builder.get_by_test_id("builder-add-field").last
    add.focus()
    page.keyboard.press("Enter")
    # The new condition's field menu has the focus: choose by keyboard, then Tab to its comparison.
    focused = page.evaluate("() => document.activeElement.getAttribute('aria-label')")
    assert focused == "Player field"
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.getAttribute('aria-label')") == "Comparison"
    remove = builder.get_by_test_id("builder-leaf").nth(1).get_by_role("button", name="Remove this condition")
    remove.focus()
    page.keyboard.press("Enter")
    expect(builder.get_by_test_id("builder-leaf")).to_have_count(1)
    assert page.evaluate("() => document.activeElement.dataset.testid") == "builder-add-field"


def test_a_rules_trigger_conditions_and_audience_use_the_same_builder(browser, live_server, riviera):  # noqa: F811
    from crm.models.rules import Rule

    page = _login(browser, live_server)
    page.goto(f"{live_server.url}{reverse('admin:crm_rule_add')}")
    page.fill("#id_name", "Big Maltese deposits")
    page.fill("#id_trigger_type", "deposit")
    trigger = page.locator("[data-condition-builder='event']:has(textarea[name='conditions'])")
    trigger.get_by_test_id("builder-add-condition").click()
    row = trigger.get_by_test_id("builder-row").nth(0)
    row.get_by_label("Event field").select_option("deposit_amount")
    row.get_by_label("Comparison").select_option("gte")
    row.get_by_label("Value").fill("100")
    expect(trigger.get_by_test_id("builder-preview")).to_have_text(
        "Deposit events where deposit amount is at least 100."
    )
    audience = page.locator("[data-condition-builder='tree']:has(textarea[name='segment_conditions'])")
    expect(audience.get_by_test_id("builder-preview")).to_have_text("Every player of the label.")
    audience.get_by_test_id("builder-add-field").click()
    leaf = audience.get_by_test_id("builder-leaf").nth(0)
    leaf.get_by_label("Player field").select_option("user_country")
    leaf.get_by_label("Value").fill("MT")
    expect(audience.get_by_test_id("builder-audience")).to_have_text("Audience: 3 players")
    page.get_by_test_id("add-activity").click()  # the activities' own editor: a new row adds 10 points
    page.get_by_test_id("activity").nth(0).get_by_test_id("activity-amount").fill("50")
    _shot_of(page.locator("fieldset:has(#id_trigger_type)"), "75b-builder-rule-trigger-close-up")
    _shot(page, "75-builder-rule")
    # Saved to the list: the rule's own page is the rules' to test (its panels are theirs).
    page.click("button[name=_save]")
    page.wait_for_url(re.compile(r".*/rule/$"))
    rule = Rule.objects.get(name="Big Maltese deposits")
    assert rule.conditions == [{"field": "deposit_amount", "op": "gte", "value": 100}]
    assert rule.segment_conditions == {"all": [{"field": "user_country", "op": "eq", "value": "MT"}]}
    assert rule.activities == [{"type": "points", "amount": 50}]


def test_a_tree_error_sits_under_the_condition_it_is_about(browser, live_server, riviera):  # noqa: F811
    from crm.models import Segment

    page = _login(browser, live_server)
    page.goto(f"{live_server.url}{reverse('admin:crm_segment_add')}")
    page.fill("#id_name", "Broken")
    builder = page.locator("[data-condition-builder='tree']")
    expect(builder.get_by_test_id("builder-leaf")).to_have_count(1)
    bad = {"all": [{"field": "user_country", "op": "eq", "value": "MT"},
                   {"any": [{"field": "markers", "op": "has", "value": "vip"},
                            {"field": "gamification.points", "op": "gte", "value": "lots"}]}]}  # fmt: skip
    builder.get_by_role("button", name="Show the JSON").click()
    builder.locator("textarea").fill(json.dumps(bad))
    expect(builder.get_by_test_id("builder-leaf")).to_have_count(3)
    page.click("button[name=_continue]")
    builder = page.locator("[data-condition-builder='tree']")
    wrong = builder.locator("[data-path='all[1].any[1]']")
    expect(wrong).to_have_class(re.compile(r"pb-row-error"))
    expect(wrong.locator("xpath=..").locator(".pb-errors")).to_contain_text("number")
    assert builder.locator(".pb-row-error").count() == 1
    expect(wrong.get_by_label("Value")).to_have_value("lots")  # what was typed is still there, to correct
    _shot_of(builder, "76-builder-tree-error-on-its-condition")
    assert not Segment.objects.filter(name="Broken").exists()


def test_with_two_labels_the_builder_waits_for_the_label_then_offers_its_types(browser, live_server, riviera):  # noqa: F811
    atlas = LabelFactory(name="Atlas Bet")
    StaffRoleFactory(user=riviera.staff_roles.get().user, label=atlas, role=Role.MANAGER)
    EventType.objects.create(label=atlas, name="atlas_only", fields=[{"name": "odds_boost", "type": "number"}])
    page = _login(browser, live_server)
    page.goto(f"{live_server.url}{reverse('admin:gamification_tournament_add')}")
    builder = page.locator("[data-condition-builder]:has(textarea[name='conditions'])")
    expect(builder).to_contain_text("Choose the label first")
    page.select_option("#id_label", str(atlas.pk))
    page.fill("#id_event_type", "atlas_only")
    builder.get_by_test_id("builder-add-condition").click()
    row = builder.get_by_test_id("builder-row").nth(0)
    expect(row.get_by_label("Event field")).to_have_value("odds_boost")
    row.get_by_label("Comparison").select_option("gt")
    row.get_by_label("Value").fill("1.5")
    expect(builder.get_by_test_id("builder-preview")).to_have_text(
        "Atlas only events where odds boost is more than 1.5."
    )
    _shot_of(builder, "77-builder-second-label-custom-type")


def test_each_kind_gets_its_own_input_and_writes_the_right_json(browser, live_server, riviera):  # noqa: F811
    page = _login(browser, live_server)
    page.goto(f"{live_server.url}{reverse('admin:crm_segment_add')}")
    builder = page.locator("[data-condition-builder='tree']")
    leaves = builder.get_by_test_id("builder-leaf")
    expect(leaves).to_have_count(1)
    status = leaves.nth(0)
    status.get_by_label("Comparison").select_option("in")  # a closed list: one check box per value
    expect(status.get_by_label("Active", exact=True)).to_be_checked()  # "is Active" became "is one of: Active"
    status.get_by_label("Pending", exact=True).check()

    def add(field: str, op: str):
        builder.get_by_test_id("builder-add-field").last.click()
        leaf = leaves.last
        leaf.get_by_label("Player field").select_option(field)
        leaf.get_by_label("Comparison").select_option(op)
        return leaf

    add("core_registration_date", "within_last_days").get_by_label("Number of days").fill("2 weeks")
    points = add("gamification.points", "between")
    points.get_by_label("From").fill("10")
    points.get_by_label("To").fill("20")
    add("user_birthdate", "birthday_in_days").get_by_label("Number of days").fill("0")
    add("gamification.control_group", "is_false")
    add("gamification.level", "eq").get_by_label("Value").select_option(label="Gold")
    expect(builder.get_by_test_id("builder-preview")).to_have_text(
        "Players whose account status is one of Active or Pending, whose registration date is within the last 14 "
        "days, whose points is between 10 and 20, whose birthday is today, who are not in gamification control "
        "group and whose level is Gold."
    )
    gold = Level.objects.get(label=riviera, name="Gold")
    assert json.loads(builder.locator("textarea").input_value()) == {
        "all": [
            {"field": "core_account_status", "op": "in", "value": ["ACTIVE", "PENDING"]},
            {"field": "core_registration_date", "op": "within_last_days", "value": 14},
            {"field": "gamification.points", "op": "between", "value": [10, 20]},
            {"field": "user_birthdate", "op": "birthday_in_days", "value": 0},
            {"field": "gamification.control_group", "op": "is_false"},
            {"field": "gamification.level", "op": "eq", "value": gold.pk},
        ]
    }
    _shot_of(builder, "78-builder-inputs-by-kind")
