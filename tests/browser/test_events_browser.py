"""The event pages in a real browser: the explorer, a failed event retried, an event's payload, the player's
timeline, the ingestion dashboard with its chart drawn and refreshed in place, the pipeline failures, and the
custom-type editor.

The events are real: stored by the ingest service and applied by the pipeline (`pipeline_drain`, what the sweeper
runs), in this process. Screenshots land in var/screenshots/.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from backoffice.models import Role
from crm import pipeline
from crm.models import Event, EventType, PipelineFailure
from crm.pipeline import LATENCY_BOUNDS_MS, pipeline_drain
from crm.selectors import event_group_status
from crm.services.ingest import events_ingest
from crm.services.players import player_upsert
from tests.browser.test_admin_browser import (  # noqa: F401 - browser is a fixture
    PASSWORD,
    SCREENSHOTS,
    _login,
    _shot,
    browser,
)
from tests.factories import BrandFactory, LabelFactory, StaffRoleFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

POISON = "Poisoned Reels"
GAMES = ["Book of Dead", "Gates of Olympus", "Sweet Bonanza", "Starburst"]


def _refuse_poison(events) -> None:
    for row in events:
        if row.payload.get("game_name") == POISON:
            raise RuntimeError(f"no scoring rule for game {POISON!r}")


def _minute_batch(minute: int, count: int, players: list[str], prefix: str = "m") -> list[dict]:
    """`count` events of several types, as a casino's platform sends them in one minute; a few bets are of the game
    the pipeline refuses (minutes 7, 22, 37 and 52)."""
    items = []
    for i in range(count):
        n = minute * 100 + i
        game = POISON if i == 2 and minute % 15 == 7 else GAMES[n % len(GAMES)]
        kind = ("casino_bet", "casino_bet", "casino_win", "login", "deposit", "sport_bet_placed")[n % 6]
        payload = {
            "casino_bet": {"bet_amount": round(0.2 * (n % 25 + 1), 2), "game_id": f"g-{n % 4}", "game_name": game},
            "casino_win": {"win_amount": n % 40, "game_id": f"g-{n % 4}", "game_name": game},
            "login": {"entry_point": ("lobby", "mobile_app")[n % 2]},
            "deposit": {"deposit_amount": 10 * (n % 9 + 1), "deposit_method": ("Trustly", "Visa")[n % 2]},
            "sport_bet_placed": {"bet_amount": 5, "sport": "football", "event_name": "Valletta v Hibernians"},
        }[kind]
        items.append(
            {
                "event_id": f"{prefix}{minute}-{i}",
                "type": kind,
                "ext_brand_id": "lucky-spins",
                "user_ext_id": players[n % len(players)],
                "occurred_at": (timezone.now() - dt.timedelta(minutes=minute, seconds=3)).isoformat(),
                "payload": payload,
            }
        )
    return items


@pytest.fixture
def pipeline_casino(transactional_db, monkeypatch):
    """Riviera Gaming with an hour of traffic (the current minute pending, a few bets failed in the gamification
    group), Maria's history, and Northwind's events, which nobody at Riviera may see."""
    poisoned = [*pipeline._GROUPS["gamification"], pipeline._Registered(1000, "poison", _refuse_poison)]
    monkeypatch.setitem(pipeline._GROUPS, "gamification", poisoned)
    riviera, northwind = LabelFactory(name="Riviera Gaming"), LabelFactory(name="Northwind Casino")
    BrandFactory(label=riviera, name="Lucky Spins", ext_brand_id="lucky-spins")
    BrandFactory(label=northwind, name="Northwind", ext_brand_id="lucky-spins")
    users = {}
    for username, role in (("alice", Role.ADMIN), ("ivan", Role.INTEGRATION_ENGINEER), ("sam", Role.SUPPORT)):
        users[username] = UserFactory(username=username, first_name=username.title())
        users[username].set_password(PASSWORD)
        users[username].save()
        StaffRoleFactory(user=users[username], label=riviera, role=role)
    maria = player_upsert(
        brand=riviera.brands.get(),
        user_ext_id="777001",
        data={"core_username": "highroller", "core_wallet_currency": "EUR", "user_country": "MT"},
    ).player
    EventType.objects.create(
        label=riviera,
        name="tournament_joined",
        fields=[{"name": "tournament_id", "type": "string", "required": True}, {"name": "buy_in", "type": "number"}],
    )
    players = ["777001", *(f"{100200 + i}" for i in range(12))]
    now = timezone.now()
    for minute in range(59, -1, -1):  # an hour of traffic, busier at the top of the hour
        count = 6 + (minute * 7) % 11 + (8 if 20 <= minute <= 30 else 0)
        received = now - dt.timedelta(minutes=minute, seconds=1)
        batch = _minute_batch(minute, count, players)
        if minute > 0:  # the current minute comes after the pipeline ran: it waits for the workers
            events_ingest(label=riviera, items=batch, source="api", received_at=received)
    replica = [
        {"event_id": f"tx-{i}", "type": "deposit", "ext_brand_id": "lucky-spins", "user_ext_id": players[i],
         "occurred_at": (now - dt.timedelta(minutes=2)).isoformat(), "payload": {"deposit_amount": 25 * (i + 1)}}
        for i in range(6)
    ]  # fmt: skip
    events_ingest(label=riviera, items=replica, source="replica")
    events_ingest(
        label=riviera,
        items=[
            {
                "event_id": "t-spring-1",
                "type": "tournament_joined",
                "ext_brand_id": "lucky-spins",
                "user_ext_id": "777001",
                "occurred_at": now.isoformat(),
                "payload": {"tournament_id": "spring-cup", "buy_in": 20},
            },
        ],
        source="api",
    )
    pipeline_drain()
    events_ingest(label=riviera, items=_minute_batch(0, 6, players), source="api", received_at=now)
    events_ingest(label=northwind, items=_minute_batch(3, 5, ["nw-1"]), source="stream", received_at=now)
    # The pipeline ran just now; a worker would have run each minute as it came. Count each minute's events in the
    # minute they were received, as a worker's stats would (crm within 300 ms, gamification within 750 ms).
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM pipeline_stat WHERE label_id = %s", [riviera.pk])
        cursor.execute(
            """INSERT INTO pipeline_stat (group_name, label_id, minute, applied, failed, latency_ms)
               SELECT g, label_id, date_trunc('minute', received_at), count(*), 0,
                      array_fill(0, ARRAY[b]) || count(*)::int || array_fill(0, ARRAY[%s - b])
                 FROM crm_event, (VALUES ('crm', %s), ('gamification', %s)) AS groups(g, b)
                WHERE label_id = %s AND received_at < now() - interval '1 minute'
                GROUP BY 1, 2, 3, b""",
            [len(LATENCY_BOUNDS_MS), LATENCY_BOUNDS_MS.index(300), LATENCY_BOUNDS_MS.index(750), riviera.pk],
        )
    yield {"riviera": riviera, "maria": maria, "users": users, "pending": 6}
    with connection.cursor() as cursor:  # the pipeline's tables are not flushed between tests
        cursor.execute("DELETE FROM pipeline_failure")


def _explorer(live_server, **params) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"{live_server.url}{reverse('admin:crm_event_changelist')}{'?' + query if query else ''}"


def test_an_admin_explores_events_and_retries_a_failed_one(browser, live_server, pipeline_casino):  # noqa: F811
    page = _login(browser, live_server, "alice")
    page.click("#nav-sidebar a:has-text('Events')")
    page.wait_for_url(re.compile(r".*/admin/crm/event/$"))
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 50
    listed = page.locator("#result_list").inner_text()
    assert "nw-1" not in listed  # Northwind's player
    assert "PENDING" in listed.upper()
    _shot(page, "40-events-explorer")

    page.click("text=Filters")
    page.wait_for_timeout(300)  # the filter sheet slides in
    page.screenshot(path=str(SCREENSHOTS / "41-events-filters.png"))
    page.goto(_explorer(live_server, status="failed"))
    failed_rows = page.locator("#result_list tbody tr")
    assert failed_rows.count() == 4
    assert "FAILED" in page.locator("#result_list").inner_text().upper()
    _shot(page, "42-events-failed")

    failed_rows.first.locator("td a").first.click()
    page.wait_for_url(re.compile(r".*/admin/crm/event/\d+/change/$"))
    assert "no scoring rule for game" in page.content()
    assert POISON in page.content()
    _shot(page, "43-event-failed")
    event_pk = int(re.search(r"/event/(\d+)/change/", page.url).group(1))

    page.click("a:has-text('Retry')")
    page.wait_for_url(re.compile(r".*/retry/$"))
    _shot(page, "44-event-retry-confirm")
    page.click("button:has-text('Retry event')")
    page.wait_for_url(re.compile(rf".*/admin/crm/event/{event_pk}/change/$"))
    assert "a retry in gamification is scheduled" in page.content()
    _shot(page, "45-event-retried")
    # The handler is fixed; the partition's worker (here the sweeper's drain) applies the retry.
    pipeline._GROUPS["gamification"][:] = [r for r in pipeline._GROUPS["gamification"] if r.name != "poison"]
    pipeline_drain()
    page.reload()
    assert {s.state for s in event_group_status(event_ids=[event_pk])[event_pk]} == {"applied"}
    assert "Applied by a retry on" in page.content()
    assert page.get_by_text("Retry", exact=True).count() == 0
    _shot(page, "46-event-applied-after-retry")


def test_the_payload_and_the_players_timeline(browser, live_server, pipeline_casino):  # noqa: F811
    page = _login(browser, live_server, "alice")
    custom = Event.objects.get(event_id="t-spring-1")
    page.goto(f"{live_server.url}{reverse('admin:crm_event_change', args=[custom.pk])}")
    content = page.content()
    assert "spring-cup" in content
    assert "tournament_joined" in content
    _shot(page, "47-event-custom-type")

    deposit = Event.objects.filter(label=pipeline_casino["riviera"], type="deposit", source="replica").first()
    page.goto(f"{live_server.url}{reverse('admin:crm_event_change', args=[deposit.pk])}")
    assert "Replica DB" in page.content()
    _shot(page, "48-event-deposit")

    maria = pipeline_casino["maria"]
    page.goto(f"{live_server.url}{reverse('admin:crm_player_change', args=[maria.pk])}")
    timeline = page.get_by_test_id("player-timeline")
    assert timeline.locator("tbody tr").count() == 50
    text = timeline.inner_text()
    assert "tournament_joined" in text.lower()
    assert "EUR" in text
    aggregate = maria.aggregate
    assert f"{aggregate.deposit_count:,} ·" in page.content()
    _shot(page, "49-player-activity-and-timeline")
    page.get_by_text("Totals of the player's processed events").evaluate("el => el.scrollIntoView({block: 'start'})")
    page.screenshot(path=str(SCREENSHOTS / "49a-player-activity.png"))
    timeline.evaluate("el => el.scrollIntoView({block: 'start'})")
    page.screenshot(path=str(SCREENSHOTS / "49b-player-timeline.png"))

    timeline.get_by_text("All events of this player").click()
    page.wait_for_url(re.compile(rf".*player_id={maria.pk}.*"))
    players = page.locator("#result_list tbody tr a[href*='/admin/crm/player/']").all_inner_texts()
    assert set(players) == {"777001"}
    _shot(page, "50-player-events")


def test_the_ingestion_dashboard_draws_and_refreshes(browser, live_server, pipeline_casino):  # noqa: F811
    page = _login(browser, live_server, "sam")
    page.click("#nav-sidebar a:has-text('Ingestion')")
    page.wait_for_url(re.compile(r".*/admin/crm/event/ingestion/$"))
    page.wait_for_load_state("load")
    drawn = page.evaluate(
        """() => {
            const canvas = document.querySelector('[data-chart] canvas');
            const chart = Chart.getChart(canvas);
            const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
            let painted = 0;
            for (let i = 3; i < pixels.length; i += 4) if (pixels[i]) painted++;
            return {received: chart.data.datasets[0].data.reduce((a, b) => a + b, 0), painted};
        }"""
    )
    window_start = timezone.now().replace(second=0, microsecond=0) - dt.timedelta(minutes=59)
    riviera = Event.objects.filter(label=pipeline_casino["riviera"])
    assert drawn["received"] == riviera.filter(received_at__gte=window_start).count()
    assert drawn["painted"] > 2000  # the lines are on the canvas, not only in its data
    dashboard = page.get_by_test_id("ingestion").inner_text()
    assert "Riviera Gaming" in dashboard
    assert "Northwind" not in dashboard
    pending = page.locator("[data-kpi=lag-gamification] .pitboss-kpi-hint")
    assert pending.inner_text() == f"{pipeline_casino['pending']} pending"
    groups = page.get_by_test_id("ingestion-groups").inner_text()
    assert "crm" in groups
    assert "≤ 300 ms" in groups  # the crm group's p95
    assert "≤ 750 ms" in groups
    assert page.locator("[data-kpi=failures] [data-kpi-value]").inner_text() == "4"
    _shot(page, "51-ingestion-dashboard")

    # New traffic arrives; the page refreshes its numbers and its chart in place, without a reload.
    page.evaluate("window.notReloaded = true")
    before = pending.inner_text()
    events_ingest(
        label=pipeline_casino["riviera"], items=_minute_batch(0, 40, ["777001"], prefix="late"), source="stream"
    )
    page.wait_for_function(
        "before => document.querySelector('[data-kpi=lag-gamification] .pitboss-kpi-hint').innerText !== before",
        arg=before,
        timeout=20000,
    )
    assert pending.inner_text() == f"{pipeline_casino['pending'] + 40} pending"
    assert page.evaluate("window.notReloaded") is True
    assert "Stream" in page.get_by_test_id("ingestion").inner_text()
    total = page.evaluate("Chart.getChart(document.querySelector('[data-chart] canvas')).data.datasets[0].data.at(-1)")
    assert total == riviera.filter(received_at__gte=timezone.now().replace(second=0, microsecond=0)).count()
    _shot(page, "52-ingestion-refreshed")


def test_an_integration_engineer_retries_a_parked_failure(browser, live_server, pipeline_casino):  # noqa: F811
    PipelineFailure.objects.filter(event__event_id="m52-2").update(retry_after=None, attempts=6)  # parked
    page = _login(browser, live_server, "ivan")
    page.click("#nav-sidebar a:has-text('Pipeline failures')")
    page.wait_for_url(re.compile(r".*/admin/crm/pipelinefailure/$"))
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 4
    listed = page.locator("#result_list").inner_text()
    assert "no scoring rule for game" in listed
    assert "Parked: staff retry it" in listed
    _shot(page, "58-pipeline-failures")
    page.locator("#result_list tbody tr", has_text="m52-2").locator("td a").first.click()
    page.wait_for_url(re.compile(r".*/admin/crm/pipelinefailure/\d+/change/$"))
    _shot(page, "59-pipeline-failure")
    page.click("a:has-text('Retry now')")
    page.wait_for_url(re.compile(r".*/retry/$"))
    page.click("button:has-text('Retry now')")
    page.wait_for_url(re.compile(r".*/admin/crm/pipelinefailure/\d+/change/$"))
    assert "is scheduled" in page.content()
    assert PipelineFailure.objects.get(event__event_id="m52-2").retry_after <= timezone.now()


def test_an_integration_engineer_registers_a_custom_type(browser, live_server, pipeline_casino):  # noqa: F811
    page = _login(browser, live_server, "ivan")
    page.click("#nav-sidebar a:has-text('Event types')")
    page.wait_for_url(re.compile(r".*/admin/crm/eventtype/$"))
    page.goto(f"{live_server.url}{reverse('admin:crm_eventtype_add')}")
    page.fill("#id_name", "quest_finished")
    page.fill("[name=fields-0-name]", "mission_id")
    page.check("[name=fields-0-required]")
    page.fill("[name=fields-1-name]", "reward_points")
    page.select_option("[name=fields-1-type]", "integer")
    page.fill("[name=fields-2-name]", "completed_at")
    page.select_option("[name=fields-2-type]", "timestamp")
    page.click("[data-add-row]")
    page.fill("[name=fields-3-name]", "user_ext_id")  # an envelope name: refused
    _shot(page, "53-event-type-add")
    page.click("[name=_save]")
    page.get_by_text("is an envelope field of every event").wait_for()
    assert page.input_value("[name=fields-2-name]") == "completed_at"  # the rows come back as typed
    _shot(page, "54-event-type-refused")
    page.check("[name=fields-3-remove]")
    page.click("[name=_save]")
    page.wait_for_url(re.compile(r".*/admin/crm/eventtype/$"))
    created = EventType.objects.get(name="quest_finished")
    assert created.fields == [
        {"name": "mission_id", "type": "string", "required": True},
        {"name": "reward_points", "type": "integer", "required": False},
        {"name": "completed_at", "type": "timestamp", "required": False},
    ]
    _shot(page, "55-event-types")


def test_support_reads_but_neither_retries_nor_edits(browser, live_server, pipeline_casino):  # noqa: F811
    page = _login(browser, live_server, "sam")
    page.goto(_explorer(live_server, status="failed"))
    assert page.locator("#result_list input.action-select").count() == 0
    page.locator("#result_list tbody tr td a").first.click()
    page.wait_for_url(re.compile(r".*/admin/crm/event/\d+/change/$"))
    assert "no scoring rule for game" in page.content()
    assert page.get_by_text("Retry", exact=True).count() == 0
    _shot(page, "56-support-failed-event")
    page.goto(f"{live_server.url}{reverse('admin:crm_eventtype_change', args=[EventType.objects.get().pk])}")
    assert "tournament_id" in page.content()
    assert page.locator("[name=_save]").count() == 0
    assert page.locator("[name=fields-0-name]").count() == 0
    _shot(page, "57-support-event-type")
