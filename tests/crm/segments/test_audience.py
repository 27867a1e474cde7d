"""Audience: a mission, a tournament or a store item limited to a segment is seen, progressed, entered and bought
only by the segment's members, checked live (a player who joins the segment later takes part from then on)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from backoffice.errors import NotFound, Refused
from crm.models import Player
from gamification.models import PlayerMission, TournamentParticipant
from gamification.selectors import missions_for_player, store_item_get, store_items_for_player
from gamification.selectors.missions import mission_get
from gamification.selectors.tournaments import tournaments_for_player
from gamification.services.missions import mission_opt_in
from gamification.services.store import store_purchase
from gamification.services.tournament_registration import tournament_register
from tests.crm.segments.conftest import country
from tests.factories import PlayerFactory
from tests.gamification.mission_helpers import bet, feed, mission_make
from tests.gamification.store_helpers import fund, item_make
from tests.gamification.tournament_helpers import T0, instance_make, play, players_make, tournament_make

pytestmark = pytest.mark.django_db


@pytest.fixture
def germans(tenant_a, make_segment):
    """A segment of German players; the tenant's own player (Maltese) is outside it."""
    return make_segment(tenant_a, name="Germans", conditions={"all": [country("DE")]})


def _german(tenant):
    return PlayerFactory(brand=tenant.brand, label=tenant.label, user_ext_id="hans", user_country="DE")


def _refused(code, func, **kwargs):
    with pytest.raises(Refused) as caught:
        func(**kwargs)
    assert caught.value.code == code, caught.value.message


def test_a_mission_limited_to_a_segment_is_seen_and_progressed_by_members_only(tenant_a, germans):
    mission = mission_make(tenant_a.label, tasks=[{"target": 3}], audience=germans, requires_opt_in=False)
    open_to_all = mission_make(tenant_a.label, tasks=[{"target": 3}])
    hans = _german(tenant_a)
    outsider = tenant_a.player
    assert [v.id for v in missions_for_player(player=outsider)] == [open_to_all.pk]
    assert {v.id for v in missions_for_player(player=hans)} == {mission.pk, open_to_all.pk}
    with pytest.raises(NotFound):
        mission_get(player=outsider, mission_id=mission.pk)
    assert mission_get(player=hans, mission_id=mission.pk) == mission

    feed(tenant_a.label, [bet(user="shared-player"), bet(user="hans")])
    assert not PlayerMission.objects.filter(mission=mission, player=outsider).exists()
    assert PlayerMission.objects.get(mission=mission, player=hans).progress == {str(mission.tasks.get().pk): "1"}
    assert PlayerMission.objects.filter(mission=open_to_all).count() == 2

    Player.objects.filter(pk=outsider.pk).update(user_country="DE")  # joins the segment: takes part from now on
    feed(tenant_a.label, [bet(user="shared-player")])
    assert PlayerMission.objects.get(mission=mission, player=outsider).progress == {str(mission.tasks.get().pk): "1"}

    # Hans leaves the segment: his run counts nothing meanwhile (the mission open to all, on the same counter, does)
    Player.objects.filter(pk=hans.pk).update(user_country="MT")
    feed(tenant_a.label, [bet(user="hans")])
    Player.objects.filter(pk=hans.pk).update(user_country="DE")
    feed(tenant_a.label, [bet(user="hans")])
    assert PlayerMission.objects.get(mission=mission, player=hans).progress == {str(mission.tasks.get().pk): "2"}
    assert PlayerMission.objects.get(mission=open_to_all, player=hans).state == "claimed"  # 3 of 3


def test_the_missions_handler_asks_each_audience_once_per_batch(tenant_a, germans, make_segment):
    maltese = make_segment(tenant_a, name="Maltese", conditions={"all": [country("MT")]})
    for segment in (germans, germans, maltese):
        mission_make(tenant_a.label, tasks=[{"target": 9}], audience=segment)
    players = [PlayerFactory(brand=tenant_a.brand, user_ext_id=f"p{i}", user_country="DE") for i in range(5)]
    items = [bet(user=p.user_ext_id) for p in players for _ in range(3)]
    with CaptureQueriesContext(connection) as ctx:
        feed(tenant_a.label, items)
    audience_queries = [q["sql"] for q in ctx.captured_queries if "user_country" in q["sql"] and "ANY(" in q["sql"]]
    # One statement per audience segment for the whole batch (not per event nor per mission); the crm group's
    # segments handler evaluates the two active segments once more each, for the tracked membership.
    assert len(audience_queries) == 4
    assert PlayerMission.objects.filter(mission__audience=germans).count() == 10
    assert not PlayerMission.objects.filter(mission__audience=maltese).exists()


def test_opting_in_outside_the_audience_is_refused(tenant_a, germans):
    mission = mission_make(tenant_a.label, tasks=[{"target": 3}], audience=germans, requires_opt_in=True)
    _refused("not_in_audience", mission_opt_in, player=tenant_a.player, mission=mission)
    assert mission_opt_in(player=_german(tenant_a), mission=mission).state == "in_progress"


def test_a_tournament_limited_to_a_segment(tenant_a, germans):
    opt_in = instance_make(tournament_make(tenant_a.label, audience=germans), status="started")
    auto = instance_make(
        tournament_make(tenant_a.label, name="Auto", registration_type="auto", audience=germans), status="started"
    )
    maltese, = players_make(tenant_a, 1, prefix="mt")  # fmt: skip
    hans = _german(tenant_a)
    assert {t.instance.pk for t in tournaments_for_player(player=maltese)} == set()
    assert {t.instance.pk for t in tournaments_for_player(player=hans)} == {opt_in.pk, auto.pk}
    _refused("not_in_audience", tournament_register, player=maltese, instance=opt_in)
    assert tournament_register(player=hans, instance=opt_in).created
    payload = {"bet_amount": 1, "game_id": "g-1", "game_name": "Starburst"}
    from datetime import timedelta

    play(tenant_a, [(p, "casino_bet", payload, T0 + timedelta(minutes=1)) for p in (maltese, hans)])
    scored = TournamentParticipant.objects.filter(instance=auto).values_list("player_id", "score")
    assert list(scored) == [(hans.pk, Decimal(1))]
    assert list(TournamentParticipant.objects.filter(instance=opt_in).values_list("player_id", flat=True)) == [hans.pk]


def test_a_store_item_limited_to_a_segment(tenant_a, germans):
    item = item_make(tenant_a.label, audience=germans)
    other = item_make(tenant_a.label, name="Mug")
    hans = _german(tenant_a)
    for player in (tenant_a.player, hans):
        fund(player, 100, key=f"fund-{player.pk}")
    assert [i.pk for i in store_items_for_player(player=tenant_a.player)] == [other.pk]
    assert {i.pk for i in store_items_for_player(player=hans)} == {item.pk, other.pk}
    with pytest.raises(NotFound):
        store_item_get(player=tenant_a.player, item_id=item.pk)
    _refused("not_in_audience", store_purchase, player=tenant_a.player, item=item, key="k1")
    assert store_purchase(player=hans, item=item, key="k1").created


def test_an_audience_must_belong_to_the_same_label(tenant_a, tenant_b, make_segment):
    from django.core.exceptions import ValidationError

    theirs = make_segment(tenant_b, name="B's")
    item = item_make(tenant_a.label)
    item.audience = theirs
    with pytest.raises(ValidationError) as caught:
        item.full_clean()
    assert caught.value.message_dict["audience"] == ["The segment must belong to the item's label."]
