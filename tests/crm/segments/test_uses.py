"""The segment leaf (member of another segment), cycles refused, and "used by": a segment in use is never deleted."""

from __future__ import annotations

import pytest

from backoffice.errors import DomainValidationError
from crm.models import Segment, SegmentListEntry
from crm.services.segments import (
    SegmentInUse,
    register_segment_user,
    segment_delete,
    segment_member_ids,
    segment_save,
    segment_uses,
)
from tests.crm.segments.conftest import country
from tests.factories import PlayerFactory

pytestmark = pytest.mark.django_db


def test_a_segment_leaf_reads_an_imported_list_or_another_tree(tenant_a, make_segment):
    vip_list = make_segment(tenant_a, name="VIP list", kind="imported")
    malta = make_segment(tenant_a, name="Malta")
    german = PlayerFactory(brand=tenant_a.brand, user_country="DE")
    SegmentListEntry.objects.create(segment=vip_list, player=german)
    SegmentListEntry.objects.create(segment=vip_list, player=tenant_a.player)
    both = make_segment(
        tenant_a, name="Maltese VIPs", conditions={"all": [{"segment": vip_list.pk}, {"segment": malta.pk}]}
    )
    either = make_segment(
        tenant_a, name="VIP or Malta", conditions={"any": [{"segment": vip_list.pk}, {"segment": malta.pk}]}
    )
    maltese = PlayerFactory(brand=tenant_a.brand)
    ids = [tenant_a.player.pk, german.pk, maltese.pk]
    assert segment_member_ids(segment=both, player_ids=ids) == {tenant_a.player.pk}
    assert segment_member_ids(segment=either, player_ids=ids) == set(ids)


def test_a_segment_leaf_must_name_a_segment_of_the_same_label_and_no_cycle(tenant_a, tenant_b, make_segment):
    other_label = make_segment(tenant_b, name="B's")
    with pytest.raises(DomainValidationError) as caught:
        make_segment(tenant_a, name="X", conditions={"all": [{"segment": other_label.pk}]})
    assert list(caught.value.errors) == ["conditions.all[0]"]
    assert caught.value.errors["conditions.all[0]"] == [f"No segment {other_label.pk} in this label."]

    first = make_segment(tenant_a, name="First")
    second = make_segment(tenant_a, name="Second", conditions={"all": [{"segment": first.pk}]})
    with pytest.raises(DomainValidationError) as caught:  # First -> Second -> First
        segment_save(label=tenant_a.label, name="First", conditions={"all": [{"segment": second.pk}]}, segment=first)
    assert caught.value.errors == {
        "conditions.all[0]": ["Segment “Second” refers back to this segment: segments cannot form a cycle."]
    }
    with pytest.raises(DomainValidationError) as caught:
        segment_save(label=tenant_a.label, name="First", conditions={"not": {"segment": first.pk}}, segment=first)
    assert caught.value.errors == {"conditions.not": ["A segment cannot contain itself."]}


def test_uses_name_segments_missions_tournaments_store_items_and_registered_users(tenant_a, make_segment):
    from gamification.models import Mission, StoreItem

    target = make_segment(tenant_a, name="Target")
    assert segment_uses(segment=target) == []
    user = make_segment(tenant_a, name="Uses it", conditions={"any": [country("DE"), {"not": {"segment": target.pk}}]})
    mission = Mission.objects.create(label=tenant_a.label, name="Bet 10 times", audience=target)
    item = StoreItem.objects.create(label=tenant_a.label, name="T-shirt", type="tangible", price=10, currency="points",
                                    audience=target)  # fmt: skip

    def rules(segment):
        return [("Rule", "Welcome bonus")] if segment.pk == target.pk else []

    register_segment_user(rules)
    try:
        uses = segment_uses(segment=target)
    finally:
        from crm.segment_users import _USERS

        _USERS.remove(rules)
    assert uses == [("Segment", user), ("Mission", mission), ("Store item", item), ("Rule", "Welcome bonus")]


def test_a_segment_in_use_is_not_deleted_and_the_refusal_names_the_users(tenant_a, make_segment):
    target = make_segment(tenant_a, name="Target")
    user = make_segment(tenant_a, name="Uses it", conditions={"all": [{"segment": target.pk}]})
    with pytest.raises(SegmentInUse) as caught:
        segment_delete(segment=target)
    assert caught.value.message == "This segment is in use and cannot be deleted: used by Segment “Uses it”."
    assert caught.value.code == "segment_in_use"
    assert Segment.objects.filter(pk=target.pk).exists()
    segment_delete(segment=user)
    segment_delete(segment=target)
    assert not Segment.objects.filter(pk__in=[target.pk, user.pk]).exists()


def test_the_python_evaluator_agrees_with_sql_on_segment_leaves(tenant_a, make_segment):
    import datetime as dt

    from crm.conditions import player_states, tree_matches

    vip_list = make_segment(tenant_a, name="VIP list", kind="imported")
    malta = make_segment(tenant_a, name="Malta")
    german = PlayerFactory(brand=tenant_a.brand, user_country="DE")
    maltese = PlayerFactory(brand=tenant_a.brand)
    SegmentListEntry.objects.create(segment=vip_list, player=german)
    ids = [tenant_a.player.pk, german.pk, maltese.pk]
    now = dt.datetime.now(dt.UTC)
    trees = [
        {"all": [{"segment": vip_list.pk}]},
        {"any": [{"segment": vip_list.pk}, {"segment": malta.pk}]},
        {"not": {"segment": malta.pk}},
        {"all": [{"not": {"segment": vip_list.pk}}, {"segment": malta.pk}]},
    ]
    for number, tree in enumerate(trees):
        segment = make_segment(tenant_a, name=f"Tree {number}", conditions=tree)
        in_sql = segment_member_ids(segment=segment, player_ids=ids, now=now)
        states = player_states(label_id=tenant_a.label.pk, player_ids=ids)
        in_python = {pid for pid in ids if tree_matches(tree, state=states[pid], now=now)}
        assert in_python == in_sql, tree
    assert segment_member_ids(segment=make_segment(tenant_a, name="x", conditions=trees[3]), player_ids=ids) == {
        tenant_a.player.pk,
        maltese.pk,
    }
