"""schemathesis against the live test server: every operation of the published schema, called with a partner key of
one label on real data (players, a wallet with entries, missions, badges, running tournaments with scores, a store).
Every response must be no server error, documented by its status code, and valid against its schema.

It drives schemathesis's strategies with hypothesis itself: `schemathesis.pytest.from_fixture` (the way to load the
schema from `live_server`) fails on pytest 9 (it sets `Function._nodeid`, gone there)."""

from __future__ import annotations

import os
import re
import uuid
from collections import Counter
from dataclasses import dataclass

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from backoffice.management.commands.demo import LabelSpec, _events, _label
from backoffice.models import ExchangeRate, Role
from backoffice.services.apikeys import api_key_create
from crm.demo_affiliates import affiliates_demo
from crm.demo_financial import financial_demo
from crm.demo_usage import usage_demo
from crm.models import (
    Affiliate,
    Bonus,
    BonusTemplate,
    Campaign,
    Click,
    Conversion,
    CustomerAccount,
    Order,
    Player,
    Rule,
    Segment,
    TrackingLink,
    UsageUser,
)
from crm.pipeline import pipeline_drain
from crm.services.bonuses import bonus_give
from crm.services.segments import segment_save
from gamification.demo import gamification_demo
from gamification.models import Badge, Mission, StoreItem, TournamentInstance
from gamification.services.badges import badge_award
from gamification.services.missions import mission_opt_in
from gamification.services.store import store_purchase
from gamification.services.tournament_registration import tournament_register
from gamification.services.wallet import wallet_adjust
from tests.crm.rules.helpers import rule_make
from tests.factories import StaffRoleFactory

pytestmark = pytest.mark.django_db(transaction=True)

SPEC = LabelSpec("Schema Casino", (("sc-casino", "Schema Casino"), ("sc-sports", "Schema Sports")), 30, 7, events=400)
# Per operation and generation mode (valid, then invalid data): enough to reach every response kind on this data,
# few enough that the whole file runs in a few minutes on a small CI host.
# PITBOSS_SCHEMATHESIS_EXAMPLES=150 hunts deeper (about 14 minutes).
MAX_EXAMPLES = int(os.environ.get("PITBOSS_SCHEMATHESIS_EXAMPLES", "25"))
# No shrinking: each HTTP call costs, and a failure's report already carries the request to reproduce it.
SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]


@dataclass(frozen=True)
class World:
    raw_key: str
    label_key: str
    players: list[tuple[str, str]]  # (ext_brand_id, user_ext_id)
    ids: dict[str, list]  # a path parameter's (or item_id's) name to the label's real ids


def _activity(label, staff) -> None:
    """What partners and staff do, so the responses carry every kind of value: a staff adjustment (created_by set),
    a purchase, a badge award, an opt-in, tournament entries and bonuses given."""
    players = list(Player.objects.filter(label=label).select_related("brand", "label").order_by("id")[:6])
    wallet_adjust(player=players[0], currency="gems", amount=80, source="manual", key="sc:gems", created_by=staff)
    store_purchase(player=players[0], item=StoreItem.objects.get(label=label, name="Pitboss cap"), key="sc:cap")
    badge = Badge.objects.get(label=label, name="Slots explorer")
    badge_award(player=players[1], badge=badge, source="api", key="sc:badge", reason="Schema test")
    mission_opt_in(player=players[2], mission=Mission.objects.get(label=label, name="Sports weekend"))
    for instance in TournamentInstance.objects.filter(label=label, tournament__registration_type="opt_in"):
        for player in players[:4]:
            tournament_register(player=player, instance=instance)
    template = BonusTemplate.objects.create(label=label, name="Spins", operator_code="SPINS", type="free_spins")
    bonus_give(player=players[0], template=template, source="staff", key="sc:bonus", created_by=staff, reason="Hi")
    bonus_give(player=players[1], template=template, source="api", key="sc:bonus2")
    segment_save(label=label, name="Active players")  # starts with "account status is ACTIVE": everyone here
    segment_save(
        label=label,
        name="Depositors",
        conditions={"all": [{"field": "aggregate.deposit_count", "op": "gte", "value": 1}]},
    )
    rule_make(label, name="50 points per big deposit")
    rule_make(label, name="Weekly draft", kind="scheduled", schedule="0 9 * * 1", status="draft")


def _tickets(label) -> list[str]:
    """Tickets with a comment each, an agent and a contact, on the app id the compatible reads are given."""
    from crm.services.tickets import Who, agents_upsert, comment_create, contacts_upsert, ticket_create

    agents_upsert(label_id=label.pk, rows=[{"email": "agent@example.com", "first_name": "Sam", "app_id": "app"}])
    contacts_upsert(label_id=label.pk, rows=[{"email": "anne@example.com", "first_name": "Anne", "app_id": "app"}])
    ids = []
    for n in range(30):
        ticket = ticket_create(label_id=label.pk, data={"app_id": "app", "ticket_name": f"T{n}"}, who=Who("schema"))
        comment_create(label_id=label.pk, ticket_id=ticket.ticket_id, description="Hi", who=Who("schema"))
        ids.append(str(ticket.ticket_id))
    return ids


@pytest.fixture
def world(transactional_db, monkeypatch) -> World:
    label, _ = _label(SPEC)
    gamification_demo(label)
    staff = StaffRoleFactory(label=label, role=Role.ADMIN).user
    _activity(label, staff)
    usage_demo(label)  # usage analytics: customer accounts and app users
    _events(SPEC, label)
    financial_demo(label)
    affiliates_demo(label)  # affiliates, campaigns, links, a month of clicks and conversions
    while pipeline_drain():  # every group applies the events, then the facts their handlers emitted
        pass
    tickets = _tickets(label)
    _key, raw = api_key_create(label=label, name="schemathesis")
    return World(
        raw_key=raw,
        label_key=label.label_key,
        players=list(Player.objects.filter(label=label).values_list("brand__ext_brand_id", "user_ext_id")),
        ids={
            "mission_id": list(Mission.objects.filter(label=label).values_list("id", flat=True)),
            "badge_id": list(Badge.objects.filter(label=label).values_list("id", flat=True)),
            "instance_id": list(TournamentInstance.objects.filter(label=label).values_list("id", flat=True)),
            "item_id": list(StoreItem.objects.filter(label=label).values_list("id", flat=True)),
            "rate_id": list(ExchangeRate.objects.filter(label=label).values_list("id", flat=True)),  # from the demo
            "bonus_id": list(Bonus.objects.filter(label=label).values_list("id", flat=True)),
            "template_id": list(BonusTemplate.objects.filter(label=label).values_list("id", flat=True)),
            "segment_id": list(Segment.objects.filter(label=label).values_list("id", flat=True)),
            "rule_id": list(Rule.objects.filter(label=label).values_list("id", flat=True)),
            "order_pk": list(Order.objects.filter(label=label).values_list("id", flat=True)),
            "ticket_id": tickets,  # 30: deletes take the last 15, reads the first 15 (_pool)
            "account_id": list(CustomerAccount.objects.filter(label=label).values_list("account_id", flat=True)),
            "usage_user_id": list(UsageUser.objects.filter(label=label).values_list("id", flat=True)),
            "affiliate_id": list(Affiliate.objects.filter(label=label).values_list("id", flat=True)),
            "campaign_id": list(Campaign.objects.filter(label=label).values_list("id", flat=True)),
            "link_id": list(TrackingLink.objects.filter(label=label).values_list("id", flat=True)),
            "click_id": [str(pk) for pk in Click.objects.filter(label=label).values_list("pk", flat=True)[:50]],
            "conversion_id": list(Conversion.objects.filter(label=label).values_list("id", flat=True)[:50]),
        },
    )


def _cases(operation, mode: GenerationMode, world: World):
    """Cases of one operation; three in four address the label's real players and objects (random ids find nobody)."""
    generated = operation.as_strategy(mode)
    names = set(re.findall(r"{(\w+)}", operation.path))
    reads_tickets = operation.path.endswith("/tickets/comments/") or operation.path == "/v4/tickets/"
    if not names and reads_tickets and mode is GenerationMode.POSITIVE:  # `_real_values` names real tickets
        real = st.tuples(generated, st.sampled_from(world.ids["item_id"])).map(lambda pair: _real_values(*pair, world))
        return st.one_of(real, real, real, generated)
    if not names:
        return generated
    players = st.sampled_from(world.players).map(lambda p: {"ext_brand_id": p[0], "user_ext_id": p[1]})
    pools = {name: _pool(world.ids[name], operation.method) for name in names & world.ids.keys()}
    ids = st.fixed_dictionaries({name: st.sampled_from(pool) for name, pool in pools.items()})
    params = st.tuples(players, ids).map(lambda pair: {k: v for k, v in (pair[0] | pair[1]).items() if k in names})
    real = params.flatmap(lambda values: operation.as_strategy(mode, path_parameters=values))
    if mode is GenerationMode.POSITIVE:
        real = st.tuples(real, st.sampled_from(world.ids["item_id"])).map(lambda pair: _real_values(*pair, world))
    return st.one_of(real, real, real, generated)


def _pool(ids: list, method: str) -> list:
    """Deletes take their ids from the second half, everything else from the first: hypothesis favours the first
    elements of a list, so shared ids let a few deletes leave the later reads of a thread or history nothing to find."""
    half = max(1, len(ids) // 2)
    return ids[half:] or ids if method.upper() == "DELETE" else ids[:half]


def _real_values(case, item_id: int, world: World):
    """A purchase names one of the label's store items, a bonus its template, and `label_key` the key's label (random
    ones find none)."""
    if isinstance(case.body, dict) and "item_id" in case.body:
        case.body["item_id"] = item_id
    if isinstance(case.body, dict) and "template_id" in case.body:
        case.body["template_id"] = world.ids["template_id"][0]
    if case.query and "label_key" in case.query:
        case.query["label_key"] = world.label_key
    if case.operation.path.endswith("/tickets/comments/") and case.method == "GET":  # a real ticket's thread
        readable = _pool(world.ids["ticket_id"], "GET")
        case.query = {**(case.query or {}), "ticketId": readable[item_id % len(readable)]}
    if case.operation.path == "/v4/tickets/" and case.method == "GET":  # the app the world's tickets are on
        # Only the app: a generated page token or limit is mostly invalid (400), and the real cases are there to
        # reach the tickets (CI once saw one 200 in 50, then none).
        case.query = {"appId": "app"}
    return case


def _probe(operation, world: World, base_url: str, statuses: Counter) -> list[str]:
    """Run the operation's cases in both generation modes, counting the statuses; the failures found, one each."""
    failures = []
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

        @settings(SETTINGS)
        @given(case=_cases(operation, mode, world))
        def run(case):
            headers = {"Authorization": f"Api-Key {world.raw_key}"}
            if "Idempotency-Key" not in (case.headers or {}):  # writes need one, in the body or this header
                headers["Idempotency-Key"] = uuid.uuid4().hex
            response = case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS)
            statuses[response.status_code] += 1

        try:
            run()
        except (AssertionError, FailureGroup) as exc:  # collected: one run reports every operation's failures
            failures.append(f"{operation.label} ({mode.value}): {exc}")
        except Unsatisfiable:  # nothing to make invalid (GET /brands has no input): only valid cases exist
            assert mode is GenerationMode.NEGATIVE, operation.label
    return failures


def test_every_response_is_documented_and_matches_the_schema(live_server, world):
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/schema/")
    operations = [result.ok() for result in schema.get_all_operations()]  # .ok() raises on an invalid operation
    statuses = {operation.label: Counter() for operation in operations}
    failures = [f for op in operations for f in _probe(op, world, live_server.url, statuses[op.label])]
    assert failures == [], "\n\n".join(failures)
    # Green for a reason: every read reached real data (writes depend on the state earlier cases left).
    table = "\n".join(f"{label}: {dict(sorted(counts.items()))}" for label, counts in statuses.items())
    assert all(counts[200] for label, counts in statuses.items() if label.startswith("GET ")), table


def test_the_single_event_forms_answers_match_the_schema(live_server, tenant_a):
    """202, 200 and 409 of a single event are its item result, not a batch's counts (generated cases send batches)."""
    operation = schemathesis.openapi.from_url(f"{live_server.url}/api/schema/")["/api/v1/events"]["POST"]
    event = {
        "event_id": "one",
        "type": "login",
        "ext_brand_id": tenant_a.brand.ext_brand_id,
        "user_ext_id": tenant_a.player.user_ext_id,
        "occurred_at": "2026-03-01T12:00:00Z",
        "payload": {},
    }
    for status, body in ((202, event), (200, event), (409, {**event, "payload": {"entry_point": "lobby"}})):
        case = operation.Case(body=body, media_type="application/json")
        response = case.call_and_validate(
            base_url=live_server.url, headers={"Authorization": f"Api-Key {tenant_a.raw_key}"}, checks=CHECKS
        )
        assert (response.status_code, response.json().get("event_id")) == (status, "one")
