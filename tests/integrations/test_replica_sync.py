"""Replica sync end to end on the service: a real second database with the reference's views, read into events.

Each test reads through `sync_view_run` (what the Celery task calls) and looks at what a user would: the events,
the players' profiles and aggregates after processing, and the view's status in the admin.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import psycopg
import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone
from psycopg.conninfo import make_conninfo

from crm.models import Event, EventSource, EventType, Player, PlayerAggregate
from crm.pipeline import events_apply
from integrations.models import CursorKind, DataSource, SyncView, ViewKind
from integrations.replica import tasks
from integrations.replica.services import (
    BUSY,
    DONE,
    FAILED,
    LOCK_NAMESPACE,
    MORE,
    SKIPPED,
    sync_view_run,
    sync_views_due,
)
from tests.factories import BrandFactory, LabelFactory
from tests.integrations.test_replica_reader import (
    cutting_proxy_to,
    password_cluster,
    proxied_dsn,
    replica_database,
    server_params,
)

pytestmark = pytest.mark.django_db
T0 = dt.datetime(2025, 3, 1, 10, 0, tzinfo=dt.UTC)


@pytest.fixture
def replica():
    with replica_database() as database:
        yield database


@pytest.fixture
def cutting_proxy(replica):
    with cutting_proxy_to(replica) as proxy:
        yield proxy


@pytest.fixture(scope="module")
def password_server():
    with password_cluster() as server:
        yield server


@pytest.fixture
def label(db):
    label = LabelFactory(name="Replica casino")
    BrandFactory(label=label, ext_brand_id="casino-1")
    BrandFactory(label=label, ext_brand_id="5")
    return label


@pytest.fixture
def source(label, replica):
    return DataSource.objects.create(label=label, name="Operator replica", dsn=replica.dsn)


def make_view(source, **fields) -> SyncView:
    kinds = {
        "deposits": {"kind": ViewKind.TRANSACTIONS, "event_type": "deposit", "cursor_column": "dt_finalized"},
        "user_profile": {"kind": ViewKind.USERS, "event_type": "profile_update", "cursor_column": "dt_update"},
        "casino_bets": {
            "kind": ViewKind.TRANSACTIONS, "event_type": "casino_bet", "cursor_column": "id",
            "cursor_kind": CursorKind.ID, "type_column": "transaction_type",
            "type_map": {"bet": "casino_bet", "win": "casino_win", "rollback": None},
        },
    }  # fmt: skip
    name = fields.pop("name", "deposits")
    view = SyncView(source=source, name=name, **{**kinds.get(name, kinds["deposits"]), **fields})
    view.full_clean()
    view.save()
    return view


def add_deposits(replica, first: int, last: int, *, at: dt.datetime = T0, step: int = 1, amount="10.50", login="p1"):
    """Deposits tx-<i> finalized `step` seconds apart from `at` (step 0: all at the same instant)."""
    replica.sql(
        """INSERT INTO payments (brand, login, tx, created_at, finalized_at, amount, bonus_balance, method)
           SELECT 'casino-1', %s, 'tx-' || lpad(i::text, 5, '0'), %s::timestamptz AT TIME ZONE 'UTC' - interval '1 minute',
                  (%s::timestamptz AT TIME ZONE 'UTC') + i * %s::int * interval '1 second', %s::numeric, 2, 'PaySafe'
           FROM generate_series(%s::int, %s::int) AS i""",
        [login, at, at, step, amount, first, last],
    )


def run(view: SyncView, **kwargs):
    result = sync_view_run(view_id=view.pk, **kwargs)
    view.refresh_from_db()
    return result


def deposit_ids(label) -> list[str]:
    return sorted(Event.objects.filter(label=label, type="deposit").values_list("event_id", flat=True))


def process_all(label) -> None:
    """Run the handlers over the label's events that an earlier call did not (in a test, ids only grow)."""
    ids = list(
        Event.objects.filter(label=label, id__gt=getattr(label, "applied_through", 0)).values_list("id", flat=True)
    )
    if ids:
        events_apply(ids)
        label.applied_through = max(ids)


# --- reading ------------------------------------------------------------------------------------------------------
def test_a_deposits_view_with_the_reference_columns_needs_no_column_map(label, source, replica):
    view = make_view(source)
    add_deposits(replica, 1, 2)
    replica.sql("UPDATE payments SET amount = 20 WHERE tx = 'tx-00002'")

    result = run(view)

    assert (result.status, result.accepted, result.invalid) == (DONE, 2, 0)
    first, second = Event.objects.filter(label=label, type="deposit").order_by("event_id")
    assert first.event_id == "tx-00001"
    assert first.source == EventSource.REPLICA
    assert first.occurred_at == T0 - dt.timedelta(minutes=1)  # transaction_date, not dt_finalized
    assert first.payload == {"deposit_amount": 10.5, "bonus_balance": 2, "deposit_method": "PaySafe"}
    assert second.payload["deposit_amount"] == 20
    assert isinstance(second.payload["deposit_amount"], int)
    assert first.player.user_ext_id == "p1"
    assert first.player.brand.ext_brand_id == "casino-1"
    assert view.cursor_value == (T0 + dt.timedelta(seconds=2)).isoformat()
    assert (view.rows_read, view.rows_invalid, view.last_error) == (2, 0, "")
    assert view.last_success_at is not None
    assert view.last_run_at is not None
    expected_lag = (timezone.now() - (T0 + dt.timedelta(seconds=2))).total_seconds()
    assert view.lag_seconds == pytest.approx(expected_lag, abs=60)


def test_a_backlog_larger_than_a_page_is_read_page_by_page_and_resumed_after_a_restart(label, source, replica):
    view = make_view(source, page_size=100)
    add_deposits(replica, 1, 250)

    # A zero budget stops each run after one page that made progress: as if the worker stopped there.
    statuses = [run(view, budget_seconds=0).status]
    assert len(deposit_ids(label)) == 100
    assert view.cursor_value == (T0 + dt.timedelta(seconds=100)).isoformat()
    statuses += [run(SyncView.objects.get(pk=view.pk), budget_seconds=0).status for _ in range(2)]

    assert statuses == [MORE, MORE, DONE]
    assert deposit_ids(label) == [f"tx-{i:05d}" for i in range(1, 251)]
    add_deposits(replica, 251, 255)
    result = run(view)
    assert (result.status, result.accepted) == (DONE, 5)
    assert result.rows - result.accepted == result.duplicates  # only the overlap was read again
    assert len(deposit_ids(label)) == 255
    assert view.rows_read == 255


def test_rows_sharing_one_timestamp_beyond_a_page_are_all_read_and_never_loop(label, source, replica):
    view = make_view(source, page_size=100)
    add_deposits(replica, 1, 250, step=0)  # 250 rows, one dt_finalized

    statuses = []
    while not statuses or statuses[-1] == MORE:
        statuses.append(run(view, budget_seconds=0).status)
        assert len(statuses) <= 3, "each run must get past the rows it read before"

    assert len(deposit_ids(label)) == 250
    again = run(view)
    assert (again.status, again.accepted, again.duplicates) == (DONE, 0, 250)
    assert view.rows_read == 250


def test_a_row_arriving_late_with_an_earlier_or_equal_timestamp_is_read_once(label, source, replica):
    view = make_view(source, overlap_seconds=5)
    add_deposits(replica, 1, 3, step=0)
    replica.sql("DELETE FROM payments WHERE tx = 'tx-00002'")
    run(view)
    assert deposit_ids(label) == ["tx-00001", "tx-00003"]

    # Committed after the run: one with the same dt_finalized, ordered between the two read, one 2 s earlier.
    add_deposits(replica, 2, 2, step=0)
    replica.sql(
        "INSERT INTO payments (brand, login, tx, created_at, finalized_at, amount) VALUES "
        "('casino-1', 'p1', 'tx-late', %s, %s, 7)",
        [T0.replace(tzinfo=None), (T0 - dt.timedelta(seconds=2)).replace(tzinfo=None)],
    )
    late = run(view)
    third = run(view)

    assert late.accepted == 2
    assert third.accepted == 0
    assert deposit_ids(label) == ["tx-00001", "tx-00002", "tx-00003", "tx-late"]
    assert view.rows_read == 4
    process_all(label)
    aggregate = PlayerAggregate.objects.get(player__user_ext_id="p1", label=label)
    assert (aggregate.deposit_count, aggregate.deposit_sum) == (4, Decimal("38.50"))


def test_the_users_view_updates_a_profile_only_when_dt_update_advances(label, source, replica):
    view = make_view(source, name="user_profile", column_map={"core_kyc_status": "custom.kyc_level"})
    t1, t2 = T0, T0 + dt.timedelta(minutes=5)
    replica.sql(
        """INSERT INTO accounts (brand, login, nickname, country, email, affiliate_id, no_sms, gender, kyc, changed_at)
           VALUES ('casino-1', 'p1', 'first', 'MT', 'P1@Example.com', 4322, true, 'F', 'verified', %s)""",
        [t1],
    )
    run(view)
    process_all(label)
    player = Player.objects.get(label=label, user_ext_id="p1")
    assert (player.core_username, player.user_country, player.core_affiliate_id) == ("first", "MT", 4322)
    assert (player.custom, player.core_kyc_status) == ({"kyc_level": "verified"}, "")  # as the column map says
    assert player.core_is_sms_disabled_by_platform is True
    assert player.dt_update == t1

    replica.sql("UPDATE accounts SET nickname = 'second', changed_at = %s", [t2])
    run(view)
    replica.sql("UPDATE accounts SET nickname = 'not applied'")  # changed without moving dt_update
    run(view)
    run(view)
    process_all(label)

    player.refresh_from_db()
    assert (player.core_username, player.dt_update) == ("second", t2)
    assert Event.objects.filter(label=label, type="profile_update").count() == 2
    assert view.rows_read == 2
    assert view.last_error == ""


def test_bets_and_wins_in_one_table_become_bet_and_win_events_by_their_type_column(label, source, replica):
    view = make_view(source, name="casino_bets", page_size=2)
    replica.sql(
        """INSERT INTO casino_tx (brand_id, player_id, kind, round, created_at, bet, win, game, game_code, provider)
           VALUES (5, 77, 'bet', 'r1', %(t)s, 1.5, NULL, 'Golden Slot 2', 'gs2', 'Pragmatic'),
                  (5, 77, 'win', 'r1', %(t)s, NULL, 4, 'Golden Slot 2', 'gs2', 'Pragmatic'),
                  (5, 77, 'rollback', 'r1', %(t)s, 1.5, NULL, 'Golden Slot 2', 'gs2', NULL),
                  (5, 77, 'jackpot', 'r2', %(t)s, NULL, 100, 'Golden Slot 2', 'gs2', NULL),
                  (5, 77, 'bet', 'r3', %(t)s, 2, NULL, 'Golden Slot 2', 'gs2', NULL)""",
        {"t": T0},
    )

    result = run(view)

    events = {(e.type, e.event_id): e.payload for e in Event.objects.filter(label=label)}
    assert events == {
        ("casino_bet", "r1"): {"bet_amount": 1.5, "game_name": "Golden Slot 2", "game_id": "gs2", "game_provider": "Pragmatic"},
        ("casino_win", "r1"): {"win_amount": 4, "bet_id": "r1", "game_name": "Golden Slot 2", "game_id": "gs2", "game_provider": "Pragmatic"},
        ("casino_bet", "r3"): {"bet_amount": 2, "game_name": "Golden Slot 2", "game_id": "gs2"},
    }  # fmt: skip
    assert Player.objects.get(label=label).brand.ext_brand_id == "5"  # integer ids in the view
    assert (result.status, result.accepted, view.rows_read, view.rows_invalid) == (DONE, 3, 5, 1)
    assert "transaction_type: 'jackpot' is not in the type map" in view.last_invalid
    max_id = replica.sql("SELECT max(id) FROM casino_tx")[0][0]
    assert view.cursor_value == str(max_id)

    replica.sql("INSERT INTO casino_tx (brand_id, player_id, kind, round, created_at, bet, game, game_code) "
                "VALUES (5, 77, 'bet', 'r4', %s, 3, 'Golden Slot 2', 'gs2')", [T0])  # fmt: skip
    again = run(view)
    assert (again.rows, again.accepted, view.rows_invalid) == (1, 1, 1)  # an id cursor reads strictly after


# --- failures -----------------------------------------------------------------------------------------------------
def test_a_connection_dropped_mid_page_loses_and_doubles_nothing(label, source, replica, cutting_proxy):
    source.dsn = proxied_dsn(replica, cutting_proxy)
    source.save()
    view = make_view(source, page_size=100)
    add_deposits(replica, 1, 250, amount="3.25")
    cutting_proxy.cut(rows=50, skip=1)  # the second page dies after 50 of its rows

    broken = run(view)

    assert cutting_proxy.cuts == 1
    assert broken.status == FAILED
    assert "server closed the connection" in view.last_error or "consuming input failed" in view.last_error
    assert "password" not in view.last_error
    assert len(deposit_ids(label)) == 100  # the first page was committed with its cursor
    assert view.last_success_at is None

    healed = run(view)

    assert healed.status == DONE
    assert view.last_error == ""
    assert deposit_ids(label) == [f"tx-{i:05d}" for i in range(1, 251)]
    process_all(label)
    aggregate = PlayerAggregate.objects.get(label=label)
    assert (aggregate.deposit_count, aggregate.deposit_sum) == (250, Decimal("812.50"))


def test_a_wrong_password_is_recorded_and_other_views_still_run(label, source, replica, password_server):
    bad = DataSource.objects.create(
        label=label, name="Wrong password",
        dsn=f"postgresql://reader:wrong-pw-123@/postgres?host={password_server.socket_dir}",
    )  # fmt: skip
    failing, working = make_view(bad), make_view(source)
    add_deposits(replica, 1, 3)

    assert run(failing).status == FAILED
    assert run(working).status == DONE

    assert 'password authentication failed for user "reader"' in failing.last_error
    assert "wrong-pw-123" not in failing.last_error
    assert failing.last_success_at is None
    assert failing.cursor_value == ""
    assert len(deposit_ids(label)) == 3


def test_garbage_values_are_refused_row_by_row_and_the_rest_is_read(label, source, replica):
    replica.sql(
        """CREATE TABLE messy (dt timestamptz, brand text, login text, tx text, at timestamptz, amount numeric,
                               method bytea, code json);
           CREATE VIEW deposits_messy AS SELECT dt AS dt_finalized, brand AS ext_brand_id, login AS user_ext_id,
               tx AS transaction_id, at AS transaction_date, amount AS deposit_amount, method AS deposit_method,
               code AS deposit_code FROM messy;
           INSERT INTO messy VALUES
             (%(t)s + interval '1 s', 'casino-1', 'p1', 'ok-1', %(t)s, 10, NULL, NULL),
             (%(t)s + interval '2 s', 'casino-1', 'p1', 'nan', %(t)s, 'NaN', NULL, NULL),
             (%(t)s + interval '3 s', 'casino-1', 'p1', 'negative', %(t)s, -5, NULL, NULL),
             (%(t)s + interval '4 s', 'casino-1', NULL, 'no-user', %(t)s, 1, NULL, NULL),
             (%(t)s + interval '5 s', 'nope', 'p1', 'unknown-brand', %(t)s, 1, NULL, NULL),
             (%(t)s + interval '6 s', 'casino-1', 'p1', 'bytes', %(t)s, 1, '\\x00ff', NULL),
             (%(t)s + interval '7 s', 'casino-1', 'p1', 'future', '2999-01-01', 1, NULL, NULL),
             (%(t)s + interval '8 s', 'casino-1', 'p1', 'object', %(t)s, 1, NULL, '{"a": 1}'),
             (%(t)s + interval '9 s', 'casino-1', 'p1', 'ok-2', %(t)s, 20, NULL, NULL)""".replace(
            "%(t)s", f"'{T0.isoformat()}'::timestamptz"
        )
    )
    view = make_view(source, name="deposits_messy", event_type="deposit")

    result = run(view)
    run(view)  # the refused rows are re-read in the overlap: not counted twice

    assert (result.status, result.accepted, result.invalid) == (DONE, 2, 7)
    assert deposit_ids(label) == ["ok-1", "ok-2"]
    assert (view.rows_read, view.rows_invalid, view.last_error) == (9, 7, "")
    assert view.cursor_value == (T0 + dt.timedelta(seconds=9)).isoformat()
    lines = view.last_invalid.splitlines()
    assert len(lines) == 7
    assert lines[0].startswith("transaction_id=object: payload.deposit_code:")  # the newest first
    assert any(
        line.startswith("transaction_id=bytes: deposit_method: Unsupported column type (bytes)") for line in lines
    )
    assert any(line.startswith("transaction_id=unknown-brand: ext_brand_id: Unknown brand") for line in lines)
    assert any(line.startswith("transaction_id=nan: payload.deposit_amount:") for line in lines)


@pytest.mark.parametrize(
    ("setup", "fields", "message"),
    [
        ("", {"name": "no_such_view"}, 'relation "no_such_view" does not exist'),
        (
            "CREATE VIEW deposits_short AS SELECT dt_finalized, ext_brand_id, user_ext_id, transaction_id FROM deposits",
            {"name": "deposits_short"},
            "View deposits_short: no column for deposit field deposit_amount (map one).",
        ),
        ("", {"column_map": {"amount": "deposit_amount"}}, "View deposits has no column amount."),
        (
            "CREATE VIEW deposits_text AS SELECT dt_finalized::text AS dt_finalized, ext_brand_id, user_ext_id, "
            "transaction_id, deposit_amount FROM deposits",
            {"name": "deposits_text"},
            "Cursor column dt_finalized of deposits_text must be a timestamp (timestamp, timestamptz).",
        ),
    ],
)
def test_a_view_that_does_not_fit_its_settings_is_reported_before_a_row_is_read(
    label, source, replica, setup, fields, message
):
    if setup:
        replica.sql(setup)
    add_deposits(replica, 1, 2)
    view = make_view(source, **fields)

    assert run(view).status == FAILED

    assert message in view.last_error
    assert Event.objects.filter(label=label).count() == 0
    assert view.cursor_value == ""


def test_a_stored_cursor_that_no_longer_fits_is_a_clear_error(label, source, replica):
    view = make_view(source)
    add_deposits(replica, 1, 2)
    SyncView.objects.filter(pk=view.pk).update(cursor_value="12345")  # an id where a timestamp is expected

    assert run(view).status == FAILED

    assert view.last_error == "The stored cursor '12345' does not fit a timestamp cursor: read the view from the start."
    assert deposit_ids(label) == []


# --- one run at a time, the poll ----------------------------------------------------------------------------------
def test_a_view_being_read_is_not_read_by_a_second_run(label, source, replica):
    view = make_view(source)
    add_deposits(replica, 1, 2)
    other = psycopg.connect(
        make_conninfo("", dbname=connection.settings_dict["NAME"], **server_params()), autocommit=True
    )
    try:
        other.execute("SELECT pg_advisory_lock(%s, %s)", [LOCK_NAMESPACE, view.pk])
        assert run(view).status == BUSY
        assert deposit_ids(label) == []
        other.execute("SELECT pg_advisory_unlock(%s, %s)", [LOCK_NAMESPACE, view.pk])
    finally:
        other.close()

    assert run(view).status == DONE
    assert len(deposit_ids(label)) == 2


def test_a_queued_run_is_skipped_when_a_run_started_after_it_was_queued(label, source, replica):
    view = make_view(source)
    queued_at = timezone.now()
    run(view)
    add_deposits(replica, 1, 2)

    assert run(view, enqueued_at=queued_at).status == SKIPPED
    assert deposit_ids(label) == []
    assert run(view, enqueued_at=timezone.now()).status == DONE


def test_the_poll_picks_the_views_whose_poll_interval_has_passed(label, source):
    source.poll_interval_seconds = 30
    source.save()
    never = make_view(source, name="never_read")
    recent = make_view(source, name="read_just_now", last_run_at=timezone.now() - dt.timedelta(seconds=20))
    due = make_view(source, name="read_long_ago", last_run_at=timezone.now() - dt.timedelta(seconds=31))
    make_view(source, name="inactive", is_active=False)
    stopped = DataSource.objects.create(label=label, name="Stopped", dsn=source.dsn, is_active=False)
    make_view(stopped)

    assert sorted(view_id for view_id, _ in sync_views_due()) == sorted([never.pk, due.pk])
    assert recent.pk not in dict(sync_views_due())


def test_the_poll_survives_a_broker_that_is_down(label, source, monkeypatch):
    make_view(source)

    def broker_down(*args, **kwargs):
        raise ConnectionRefusedError("broker down")

    monkeypatch.setattr(tasks.sync_view, "apply_async", broker_down)
    assert tasks.sync_poll() == 0


# --- settings -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fields", "errors"),
    [
        ({"name": "user_profile", "event_type": "deposit"}, {"event_type"}),
        ({"name": "user_profile", "cursor_kind": CursorKind.ID}, {"cursor_kind"}),
        ({"event_type": "profile_update"}, {"event_type"}),
        ({"event_type": "tournament_opened"}, {"event_type"}),
        ({"column_map": {"amount": "deposit_amout"}}, {"column_map"}),
        ({"column_map": {"bad name": "deposit_amount"}}, {"column_map"}),
        ({"column_map": ["amount"]}, {"column_map"}),
        ({"type_column": "kind"}, {"type_map"}),
        ({"type_column": "kind", "type_map": {"bet": "sport_bet_placd"}}, {"type_map"}),
        ({"cursor_column": "public.dt"}, {"cursor_column"}),
    ],
)
def test_settings_that_cannot_work_are_refused_with_field_errors(source, fields, errors):
    with pytest.raises(ValidationError) as raised:
        make_view(source, **fields)
    assert set(raised.value.message_dict) == errors


def test_a_custom_event_type_and_a_column_map_are_honoured(label, source, replica):
    EventType.objects.create(
        label=label, name="cashback_paid",
        fields=[{"name": "cashback", "type": "number", "required": True}, {"name": "scheme", "type": "string"}],
    )  # fmt: skip
    view = make_view(
        source, event_type="cashback_paid",
        column_map={"deposit_amount": "cashback", "deposit_method": "scheme", "dt_finalized": "occurred_at"},
    )  # fmt: skip
    add_deposits(replica, 1, 1)

    run(view)

    event = Event.objects.get(label=label)
    assert (event.type, event.event_id, event.payload) == (
        "cashback_paid",
        "tx-00001",
        {"cashback": 10.5, "scheme": "PaySafe"},
    )
    assert event.occurred_at == T0 + dt.timedelta(seconds=1)


def test_a_selections_view_takes_selection_id_as_the_row_id_not_the_repeated_bet_id(label, source, replica):
    replica.sql(
        """CREATE TABLE legs (id bigserial PRIMARY KEY, brand text, login text, bet text, leg text, placed timestamptz,
                              price numeric(8, 3), sport text);
           CREATE VIEW sport_selections AS SELECT id, brand AS ext_brand_id, login AS user_ext_id, bet AS bet_id,
                  leg AS selection_id, placed AS bet_date, price AS odds, sport FROM legs;
           INSERT INTO legs (brand, login, bet, leg, placed, price, sport) VALUES
                  ('casino-1', 'p1', 'b-1', 'b-1/1', '2025-03-01T10:00:00Z', 1.5, 'football'),
                  ('casino-1', 'p1', 'b-1', 'b-1/2', '2025-03-01T10:00:00Z', 2.25, 'tennis');"""
    )
    view = make_view(
        source, name="sport_selections", event_type="sport_selection_placed", cursor_column="id",
        cursor_kind=CursorKind.ID,
    )  # fmt: skip

    result = run(view)

    assert (result.status, result.accepted, result.invalid) == (DONE, 2, 0)
    events = Event.objects.filter(label=label, type="sport_selection_placed").order_by("event_id")
    assert [(e.event_id, e.occurred_at, e.payload) for e in events] == [
        ("b-1/1", T0, {"bet_id": "b-1", "selection_id": "b-1/1", "odds": 1.5, "sport": "football"}),
        ("b-1/2", T0, {"bet_id": "b-1", "selection_id": "b-1/2", "odds": 2.25, "sport": "tennis"}),
    ]


def test_two_users_views_one_per_table_never_undo_each_other(label, source, replica):
    """The reference lets each table of the user's data be a users view of its own, tracked on its own: a row of one
    view changed before the other view's last change still sets the fields no later row set."""
    replica.sql(
        """CREATE TABLE contacts (brand text, login text, phone text, nickname text, changed_at timestamptz);
           CREATE VIEW user_contacts AS SELECT changed_at AS dt_update, brand AS ext_brand_id, login AS user_ext_id,
                  phone AS user_phone, nickname AS core_username FROM contacts;
           CREATE VIEW user_accounts AS SELECT dt_update, ext_brand_id, user_ext_id, core_account_status,
                  core_registration_date, core_user_language, core_wallet_currency, core_username FROM user_profile;"""
    )
    accounts = make_view(source, name="user_accounts", kind=ViewKind.USERS, event_type="profile_update",
                         cursor_column="dt_update")  # fmt: skip
    contacts = make_view(source, name="user_contacts", kind=ViewKind.USERS, event_type="profile_update",
                         cursor_column="dt_update")  # fmt: skip
    t1, t2, t3 = T0, T0 + dt.timedelta(minutes=5), T0 + dt.timedelta(minutes=10)
    replica.sql("INSERT INTO accounts (brand, login, nickname, changed_at) VALUES ('casino-1', 'p1', 'acc', %s)", [t2])
    replica.sql("INSERT INTO contacts VALUES ('casino-1', 'p1', '+35699123456', 'con', %s)", [t1])

    run(accounts)
    process_all(label)
    run(contacts)  # read after the accounts row, changed before it
    process_all(label)

    player = Player.objects.get(label=label, user_ext_id="p1")
    assert (player.user_phone, player.core_username, player.core_wallet_currency) == ("+35699123456", "acc", "EUR")
    assert player.dt_update == t2

    replica.sql("UPDATE contacts SET nickname = 'renamed', changed_at = %s", [t3])
    run(contacts)
    process_all(label)
    player.refresh_from_db()
    assert (player.core_username, player.dt_update) == ("renamed", t3)

    # Replay: both views read again from the start bring the same rows back, as duplicates that change nothing.
    before = Player.objects.filter(pk=player.pk).values().get()
    SyncView.objects.filter(pk__in=[accounts.pk, contacts.pk]).update(cursor_value="", cursor_key="")
    results = [run(accounts), run(contacts)]
    process_all(label)
    assert [(r.accepted, r.duplicates) for r in results] == [(0, 1), (0, 1)]
    assert Player.objects.filter(pk=player.pk).values().get() == before
