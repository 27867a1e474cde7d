"""Data sources and synced views in the admin: who sees and changes what, the write-only DSN, status and actions.

Personas: staff of label A, staff of label B, an outsider; and per role inside label A (support sees, cannot change;
integration engineers and admins can).
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from backoffice.models import Role
from integrations.models import DataSource, SyncView, ViewKind
from integrations.replica import tasks
from tests.integrations.test_replica_reader import replica_database

pytestmark = pytest.mark.django_db


@pytest.fixture
def replica():
    with replica_database() as database:
        yield database


ALL_ROLES = [Role.ADMIN, Role.MANAGER, Role.SUPPORT, Role.INTEGRATION_ENGINEER]
CONFIGURES = {Role.ADMIN, Role.INTEGRATION_ENGINEER}
CLOSED_PORT_DSN = "postgresql://reader:{secret}@127.0.0.1:1/casino"  # refused at once, no network needed


@pytest.fixture
def enqueued(monkeypatch) -> list[int]:
    """View ids the admin asked to read now (the shared broker is left alone)."""
    sent: list[int] = []
    monkeypatch.setattr(tasks.sync_view, "apply_async", lambda args, *a, **kw: sent.append(args[0]))
    return sent


def _source(tenant, secret: str) -> DataSource:
    source = DataSource.objects.create(
        label=tenant.label, name=f"{tenant.label.name} replica", dsn=CLOSED_PORT_DSN.format(secret=secret)
    )
    SyncView.objects.create(
        source=source, name="deposits", kind=ViewKind.TRANSACTIONS, event_type="deposit", cursor_column="dt_finalized"
    )
    return source


@pytest.fixture
def source_a(tenant_a) -> DataSource:
    return _source(tenant_a, "secret-A-pass")


@pytest.fixture
def source_b(tenant_b) -> DataSource:
    return _source(tenant_b, "secret-B-pass")


def _url(name: str, obj=None) -> str:
    return reverse(f"admin:integrations_{name}", args=[obj.pk] if obj is not None else [])


def _source_form(source, **changes) -> dict:
    return {
        "name": source.name,
        "dsn": "",
        "poll_interval_seconds": source.poll_interval_seconds,
        "is_active": "on",
        **changes,
    }


def _view_form(view, **changes) -> dict:
    data = {
        "source": view.source_id, "name": view.name, "kind": view.kind, "event_type": view.event_type, "is_active": "on",
        "cursor_column": view.cursor_column, "cursor_kind": view.cursor_kind, "overlap_seconds": view.overlap_seconds,
        "page_size": view.page_size, "id_column": view.id_column, "column_map": "{}", "type_column": "", "type_map": "{}",
    }  # fmt: skip
    return {**data, **changes}


# --- tenants ------------------------------------------------------------------------------------------------------
def test_lists_show_only_the_viewers_label(source_a, source_b, tenant_a, tenant_b, outsider, staff_client):
    for model, row in (("datasource", lambda s: s), ("syncview", lambda s: s.views.get())):
        for tenant, own, other in ((tenant_a, source_a, source_b), (tenant_b, source_b, source_a)):
            html = staff_client(tenant.admin).get(_url(f"{model}_changelist")).content.decode()
            assert _url(f"{model}_change", row(own)) in html
            assert _url(f"{model}_change", row(other)) not in html
        assert staff_client(outsider).get(_url(f"{model}_changelist")).status_code == 403


@pytest.mark.parametrize("model", ["datasource", "syncview"])
def test_another_labels_rows_and_actions_answer_not_found(
    model, source_a, source_b, tenant_a, outsider, staff_client, enqueued
):
    own, foreign = (source_a, source_b) if model == "datasource" else (source_a.views.get(), source_b.views.get())
    admin_a = staff_client(tenant_a.admin)
    for page in ("change", "delete", "history"):
        assert admin_a.get(_url(f"{model}_{page}", own)).status_code == 200
        assert admin_a.get(_url(f"{model}_{page}", foreign)).status_code == 404
    before = DataSource.objects.get(pk=source_b.pk).dsn
    admin_a.post(_url(f"{model}_change", foreign), {"name": "hijacked", "dsn": "postgresql://x:y@h/db"})
    admin_a.post(_url(f"{model}_delete", foreign), {"post": "yes"})
    actions = ["sync_now", "test_connection"] if model == "datasource" else ["sync_now", "read_from_start"]
    for action in actions:
        for client, obj, status in ((admin_a, foreign, 404), (staff_client(outsider), own, 403)):
            assert client.get(_url(f"{model}_{action}", obj)).status_code == status
            assert client.post(_url(f"{model}_{action}", obj)).status_code == status
    source_b.refresh_from_db()
    assert (source_b.name, source_b.dsn, source_b.views.get().name) == ("Label B replica", before, "deposits")
    assert enqueued == []


def test_a_view_cannot_be_added_to_another_labels_source(source_a, source_b, tenant_a, staff_client):
    client = staff_client(tenant_a.admin)
    form = _view_form(source_b.views.get(), name="withdrawals", event_type="withdrawal")
    response = client.post(_url("syncview_add"), form)
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not SyncView.objects.filter(name="withdrawals").exists()


# --- roles --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("role", ALL_ROLES)
def test_everyone_in_the_label_sees_sources_and_only_admins_and_integration_engineers_change_them(
    role, source_a, tenant_a, staff_with_role, staff_client, enqueued
):
    client = staff_client(staff_with_role(tenant_a.label, role))
    allowed = role in CONFIGURES
    view = source_a.views.get()
    for model, obj in (("datasource", source_a), ("syncview", view)):
        assert client.get(_url(f"{model}_changelist")).status_code == 200
        page = client.get(_url(f"{model}_change", obj)).content.decode()
        assert ('name="_save"' in page) is allowed
        assert client.get(_url(f"{model}_add")).status_code == (200 if allowed else 403)

    response = client.post(_url("datasource_change", source_a), _source_form(source_a, name="Renamed"))
    assert response.status_code == (302 if allowed else 403)
    response = client.post(_url("syncview_change", view), _view_form(view, page_size=250))
    assert response.status_code == (302 if allowed else 403)
    assert client.post(_url("syncview_sync_now", view)).status_code == (302 if allowed else 403)
    assert client.get(_url("datasource_test_connection", source_a)).status_code == (302 if allowed else 403)

    source_a.refresh_from_db()
    view.refresh_from_db()
    assert (source_a.name == "Renamed") is allowed
    assert (view.page_size == 250) is allowed
    assert enqueued == ([view.pk] if allowed else [])
    assert client.post(_url("syncview_delete", view), {"post": "yes"}).status_code == (302 if allowed else 403)
    assert SyncView.objects.filter(pk=view.pk).exists() is not allowed
    assert client.post(_url("datasource_delete", source_a), {"post": "yes"}).status_code == (302 if allowed else 403)
    assert DataSource.objects.filter(pk=source_a.pk).exists() is not allowed


# --- the DSN ------------------------------------------------------------------------------------------------------
def test_the_dsn_is_write_only(source_a, tenant_a, staff_client):
    client = staff_client(tenant_a.admin)
    url = _url("datasource_change", source_a)

    html = client.get(url).content.decode()
    assert "secret-A-pass" not in html
    assert source_a.dsn not in html
    assert 'type="password" name="dsn"' in html
    assert "postgresql://reader:•••@127.0.0.1:1/casino" in html  # where it points, never the password

    assert client.post(url, _source_form(source_a)).status_code == 302  # blank keeps it
    source_a.refresh_from_db()
    assert source_a.dsn == CLOSED_PORT_DSN.format(secret="secret-A-pass")

    client.post(url, _source_form(source_a, dsn="postgresql://reader2:new-secret@10.0.0.9:6432/casino"))
    source_a.refresh_from_db()
    assert source_a.dsn == "postgresql://reader2:new-secret@10.0.0.9:6432/casino"
    raw = DataSource.objects.filter(pk=source_a.pk).extra(select={"raw": "dsn"}).values_list("raw", flat=True)[0]
    assert "new-secret" not in raw  # encrypted at rest


@pytest.mark.parametrize(
    ("dsn", "error"),
    [
        ("", "Enter the replica"),
        ("not a dsn", "Not a valid DSN"),
        ("postgresql://u:p@h/db?passfile=/root/.pgpass", "not allowed: passfile"),
    ],
)
def test_a_source_needs_a_valid_dsn(dsn, error, tenant_a, staff_client):
    response = staff_client(tenant_a.admin).post(
        _url("datasource_add"), {"label": tenant_a.label.pk, "name": "New", "dsn": dsn, "poll_interval_seconds": 30}
    )
    assert response.status_code == 200
    assert error in response.content.decode()
    assert not DataSource.objects.filter(name="New").exists()


# --- views: settings, status, actions -----------------------------------------------------------------------------
def test_the_list_shows_each_views_cursor_lag_rows_and_last_error(source_a, tenant_a, staff_client):
    SyncView.objects.filter(source=source_a).update(
        cursor_value="2025-03-01T10:00:00+00:00", lag_seconds=125, rows_read=1234, rows_invalid=7,
        last_error="Cannot connect: Connection refused",
    )  # fmt: skip
    for url in (_url("syncview_changelist"), _url("datasource_change", source_a)):
        html = staff_client(tenant_a.admin).get(url).content.decode()
        for text in ("2025-03-01T10:00:00+00:00", "2.1 min", "1234", "Failing"):
            assert text in html, (url, text)
    assert (
        "Cannot connect: Connection refused"
        in staff_client(tenant_a.admin).get(_url("syncview_changelist")).content.decode()
    )


def test_the_view_list_costs_the_same_queries_for_one_view_or_twenty(
    source_a, tenant_a, staff_client, django_assert_max_num_queries
):
    client = staff_client(tenant_a.admin)
    client.get(_url("syncview_changelist"))
    with django_assert_max_num_queries(100) as one:
        client.get(_url("syncview_changelist"))
    for i in range(19):
        SyncView.objects.create(
            source=source_a, name=f"view_{i}", kind=ViewKind.TRANSACTIONS, event_type="deposit", cursor_column="dt"
        )
    with django_assert_max_num_queries(len(one.captured_queries)):
        client.get(_url("syncview_changelist"))


def test_settings_that_cannot_work_are_refused_by_the_form(source_a, tenant_a, staff_client):
    view = source_a.views.get()
    response = staff_client(tenant_a.admin).post(
        _url("syncview_change", view), _view_form(view, kind=ViewKind.USERS, column_map='{"amount": "deposit_amout"}')
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "A users view becomes profile_update events." in html
    view.refresh_from_db()
    assert view.kind == ViewKind.TRANSACTIONS


def test_changing_what_the_cursor_means_reads_the_view_again_from_the_start(source_a, tenant_a, staff_client):
    view = source_a.views.get()
    SyncView.objects.filter(pk=view.pk).update(cursor_value="2025-03-01T10:00:00+00:00", cursor_key='["tx-9"]')
    client = staff_client(tenant_a.admin)

    client.post(_url("syncview_change", view), _view_form(view, page_size=500))
    view.refresh_from_db()
    assert view.cursor_value == "2025-03-01T10:00:00+00:00"  # paging settings keep the position

    client.post(_url("syncview_change", view), _view_form(view, cursor_column="dt_created"))
    view.refresh_from_db()
    assert (view.cursor_value, view.cursor_key) == ("", "")


def test_read_from_the_start_clears_the_cursor_after_confirmation(source_a, tenant_a, staff_client):
    view = source_a.views.get()
    SyncView.objects.filter(pk=view.pk).update(cursor_value="2025-03-01T10:00:00+00:00", cursor_key='["tx-9"]')
    client = staff_client(tenant_a.admin)
    url = _url("syncview_read_from_start", view)

    assert client.get(url).status_code == 200  # the confirmation page changes nothing
    view.refresh_from_db()
    assert view.cursor_value
    assert client.post(url).status_code == 302
    view.refresh_from_db()
    assert (view.cursor_value, view.cursor_key) == ("", "")


def test_sync_now_asks_for_a_run_of_each_active_view(source_a, tenant_a, staff_client, enqueued):
    paused = SyncView.objects.create(
        source=source_a,
        name="bets",
        kind=ViewKind.TRANSACTIONS,
        event_type="casino_bet",
        cursor_column="id",
        is_active=False,
    )
    client = staff_client(tenant_a.admin)
    assert client.get(_url("datasource_sync_now", source_a)).status_code == 200  # confirmation first
    assert enqueued == []

    response = client.post(_url("datasource_sync_now", source_a), follow=True)

    assert enqueued == [source_a.views.get(name="deposits").pk]
    assert paused.pk not in enqueued
    assert "1 view(s) will be read in a moment" in response.content.decode()
    client.post(_url("syncview_changelist"), {"action": "sync_selected", "_selected_action": [paused.pk, *enqueued]})
    assert enqueued == [source_a.views.get(name="deposits").pk] * 2


def test_test_connection_reports_the_connection_and_each_view(tenant_a, staff_client, replica):
    source = DataSource.objects.create(label=tenant_a.label, name="Real replica", dsn=replica.dsn)
    SyncView.objects.create(
        source=source, name="deposits", kind=ViewKind.TRANSACTIONS, event_type="deposit", cursor_column="dt_finalized"
    )
    SyncView.objects.create(
        source=source,
        name="withdrawals",
        kind=ViewKind.TRANSACTIONS,
        event_type="withdrawal",
        cursor_column="dt_finalized",
    )

    response = staff_client(tenant_a.admin).get(_url("datasource_test_connection", source), follow=True)

    html = response.content.decode()
    assert "Connected to PostgreSQL" in html
    assert "deposits (deposit): OK, reads dt_finalized, transaction_id, ext_brand_id" in html
    assert "withdrawals (withdrawal): relation &quot;withdrawals&quot; does not exist" in html


def test_test_connection_says_why_it_cannot_connect(source_a, tenant_a, staff_client):
    response = staff_client(tenant_a.admin).get(_url("datasource_test_connection", source_a), follow=True)
    html = response.content.decode()
    assert "Cannot connect:" in html
    assert "Connection refused" in html
    assert "secret-A-pass" not in html


def _users_views(tenant, replica, views: dict[str, dict]) -> DataSource:
    source = DataSource.objects.create(label=tenant.label, name="Real replica", dsn=replica.dsn)
    for name, column_map in views.items():
        SyncView.objects.create(
            source=source, name=name, kind=ViewKind.USERS, event_type="profile_update", cursor_column="dt_update",
            column_map=column_map,
        )  # fmt: skip
    return source


def _check_errors(staff_client, tenant, source) -> tuple[list[str], str]:
    response = staff_client(tenant.admin).get(_url("datasource_test_connection", source), follow=True)
    return [str(m) for m in response.context["messages"] if m.level_tag == "error"], response.content.decode()


def test_test_connection_fails_a_users_view_without_the_required_columns(tenant_a, staff_client, replica):
    replica.sql(
        """CREATE VIEW profile_partial AS SELECT dt_update, ext_brand_id, user_ext_id, core_account_status,
               core_registration_date, user_email FROM user_profile"""
    )
    source = _users_views(tenant_a, replica, {"profile_partial": {}})

    errors, html = _check_errors(staff_client, tenant_a, source)

    assert errors == [
        "profile_partial (profile_update): no column core_user_language, core_wallet_currency, which a users "
        "view must have (or map a column to each).",
    ]
    assert "profile_partial (profile_update): OK, reads dt_update, ext_brand_id, user_ext_id" in html


def test_test_connection_takes_the_required_columns_from_the_users_views_together(tenant_a, staff_client, replica):
    """One users view per table, as the reference allows: each carries its table's fields."""
    replica.sql(
        """CREATE VIEW profile_status AS SELECT dt_update, ext_brand_id, user_ext_id, core_account_status,
               core_registration_date FROM user_profile;
           CREATE VIEW profile_wallet AS SELECT dt_update, ext_brand_id, user_ext_id, core_user_language,
               core_wallet_currency AS wallet FROM user_profile;
           CREATE VIEW profile_contact AS SELECT dt_update, ext_brand_id, user_ext_id, user_email FROM user_profile"""
    )
    source = _users_views(
        tenant_a, replica, {"profile_status": {}, "profile_wallet": {"wallet": "core_wallet_currency"},
                            "profile_contact": {}},
    )  # fmt: skip

    errors, html = _check_errors(staff_client, tenant_a, source)

    assert errors == []
    assert "profile_contact (profile_update): OK, reads dt_update, ext_brand_id, user_ext_id, user_email." in html


def test_test_connection_names_the_users_views_and_what_none_of_them_carries(tenant_a, staff_client, replica):
    replica.sql(
        """CREATE VIEW profile_status AS SELECT dt_update, ext_brand_id, user_ext_id, core_account_status,
               core_registration_date FROM user_profile;
           CREATE VIEW profile_mapped AS SELECT dt_update, ext_brand_id, user_ext_id, core_wallet_currency AS wallet
               FROM user_profile;
           CREATE VIEW profile_full AS SELECT * FROM user_profile"""
    )
    source = _users_views(tenant_a, replica, {"profile_status": {}, "profile_mapped": {"wallet": "core_wallet_currency"},
                                              "profile_full": {}})  # fmt: skip
    SyncView.objects.filter(name="profile_full").update(is_active=False)  # an inactive view brings nothing

    errors, _ = _check_errors(staff_client, tenant_a, source)

    assert errors == [
        "Users views profile_mapped, profile_status: none has a column core_user_language; the users views must "
        "carry each between them (or map a column to it).",
    ]
