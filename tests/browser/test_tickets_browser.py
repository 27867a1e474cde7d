"""Support tickets in a real browser: support sees the queues with an overdue ticket in red, opens it, assigns it to
themselves, escalates it, comments, and reads the history; the player page lists the player's tickets.
Screenshots land in var/screenshots/ (85-…)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from backoffice.models import Role
from crm.models import Ticket, TicketAgent
from crm.services.tickets import Who, agents_upsert, comment_create, ticket_create
from tests.browser.test_admin_browser import _shot, browser  # noqa: F401 - browser is a fixture
from tests.factories import BrandFactory, LabelFactory, PlayerFactory, StaffRoleFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "pw-123456!"


@pytest.fixture
def desk(transactional_db):
    label = LabelFactory(name="Riviera Gaming")
    brand = BrandFactory(label=label, ext_brand_id="riviera", name="Riviera Casino")
    player = PlayerFactory(brand=brand, label=label, user_ext_id="u-1001", core_username="lucky_mia")
    support = UserFactory(username="sam_support")
    StaffRoleFactory(label=label, role=Role.SUPPORT, user=support)
    agents = agents_upsert(
        label_id=label.pk,
        rows=[
            {"email": "sam@riviera.example", "first_name": "Sam", "last_name": "Support"},
            {"email": "lee@riviera.example", "first_name": "Lee", "last_name": "Payments"},
        ],
    )
    TicketAgent.objects.filter(first_name="Sam").update(staff_user=support)
    lee = next(a for a in agents if a.first_name == "Lee")
    now = timezone.now()
    who = Who("api key platform")
    late = ticket_create(
        label_id=label.pk,
        data={"visible_id": "T-1001", "ticket_name": "Withdrawal pending for 3 days", "priority": "High",
              "due_date": now - timedelta(hours=20), "player": player, "type": "payments"},
        who=who,
    )  # fmt: skip
    comment_create(label_id=label.pk, ticket_id=late.ticket_id, description="Where is my money?", who=who,
                   created_by_type="contact", created_by="mia")  # fmt: skip
    ticket_create(
        label_id=label.pk,
        data={"visible_id": "T-1002", "ticket_name": "Bonus not credited", "priority": "Medium",
              "due_date": now + timedelta(days=2), "assignee": lee},
        who=who,
    )  # fmt: skip
    ticket_create(label_id=label.pk, data={"visible_id": "T-1003", "ticket_name": "Thanks!", "status": "Resolved"},
                  who=who)  # fmt: skip
    return late


def _login(chrome, live_server, username: str):
    page = chrome.new_page(viewport={"width": 1440, "height": 900})
    page.goto(f"{live_server.url}{reverse('admin:login')}")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}{reverse('admin:index')}")
    return page


def test_support_works_an_overdue_ticket(browser, live_server, desk):  # noqa: F811
    page = _login(browser, live_server, "sam_support")
    page.goto(f"{live_server.url}{reverse('admin:crm_ticket_changelist')}")
    queues = page.get_by_test_id("ticket-queues").inner_text()
    assert "Overdue: 1" in re.sub(r"\s+", " ", queues)
    assert page.get_by_test_id("overdue").count() == 1
    _shot(page, "85-ticket-queues")

    page.get_by_role("link", name="Overdue:").click()
    page.wait_for_url(re.compile(r".*queue=overdue"))
    assert "Bonus not credited" not in page.content()
    page.get_by_text("Withdrawal pending for 3 days").click()
    page.wait_for_url(re.compile(rf".*/ticket/{desk.pk}/change/"))
    assert page.get_by_test_id("ticket-overdue").is_visible()
    page.select_option("#id_assignee", label="Sam Support")
    page.select_option("#id_escalation", value="escalated")
    _shot(page, "86-ticket-page")
    page.click("button[name=_continue]")
    page.wait_for_url(re.compile(rf".*/ticket/{desk.pk}/change/"))

    page.fill("[data-testid=ticket-comment-form] textarea", "Escalated to payments, refund within the hour.")
    page.click("[data-testid=ticket-comment-form] button[type=submit]")
    page.wait_for_url(re.compile(rf".*/ticket/{desk.pk}/change/"))
    assert "Escalated to payments" in page.get_by_test_id("ticket-comments").inner_text()
    history = page.get_by_test_id("ticket-history").inner_text()
    assert "staff sam_support" in history
    assert "escalated" in history
    _shot(page, "87-ticket-thread-history")
    desk.refresh_from_db()
    assert (desk.assignee.first_name, desk.escalation, desk.version) == ("Sam", "escalated", 2)

    page.goto(f"{live_server.url}{reverse('admin:crm_ticket_changelist')}?queue=mine")
    assert "Withdrawal pending for 3 days" in page.content()
    page.goto(f"{live_server.url}{reverse('admin:crm_player_change', args=[desk.player_id])}")
    card = page.get_by_test_id("player-tickets")
    assert "T-1001" in card.inner_text()
    card.scroll_into_view_if_needed()
    _shot(page, "88-player-tickets")
    assert Ticket.objects.count() == 3
