"""Stream sources in the admin: label isolation (staff of A, staff of B, an outsider), roles, a write-only broker URL."""

from __future__ import annotations

import pytest
from django.urls import reverse

from backoffice.models import Role
from integrations.models import StreamSource

pytestmark = pytest.mark.django_db

PASSWORD = "s3cret-A-pass"
URL_A = f"amqp://operator-a:{PASSWORD}@rabbit-a.example:5672/casino"
URL_B = "amqp://operator-b:other-B-pass@rabbit-b.example:5672/sports"


@pytest.fixture
def source_a(tenant_a) -> StreamSource:
    return StreamSource.objects.create(
        label=tenant_a.label, name="A platform", broker_url=URL_A, queue="a-events", dead_letter_queue="a-dead"
    )


@pytest.fixture
def source_b(tenant_b) -> StreamSource:
    return StreamSource.objects.create(
        label=tenant_b.label, name="B platform", broker_url=URL_B, queue="b-events", dead_letter_queue="b-dead"
    )


def _url(page: str, source=None) -> str:
    name = f"admin:integrations_streamsource_{page}"
    return reverse(name, args=[source.pk]) if source is not None else reverse(name)


def _form(source: StreamSource, **changes) -> dict:
    data = {
        "label": source.label_id,
        "name": source.name,
        "broker_url": "",
        "queue": source.queue,
        "dead_letter_queue": source.dead_letter_queue,
        "prefetch": source.prefetch,
        "is_active": "on" if source.is_active else "",
    }
    return {**data, **changes}


# --- isolation ----------------------------------------------------------------------------------------------------
def test_each_label_lists_only_its_own_sources_and_an_outsider_none(
    tenant_a, tenant_b, source_a, source_b, outsider, staff_client
):
    for tenant, own, other in ((tenant_a, source_a, source_b), (tenant_b, source_b, source_a)):
        html = staff_client(tenant.admin).get(_url("changelist")).content.decode()
        assert _url("change", own) in html
        assert _url("change", other) not in html
        assert other.name not in html
    assert staff_client(outsider).get(_url("changelist")).status_code == 403


@pytest.mark.parametrize("page", ["change", "history", "delete"])
def test_another_labels_source_answers_not_found(page, tenant_a, source_a, source_b, outsider, staff_client):
    admin_a = staff_client(tenant_a.admin)
    assert admin_a.get(_url(page, source_a)).status_code == 200
    assert admin_a.get(_url(page, source_b)).status_code == 404
    assert admin_a.post(_url(page, source_b), _form(source_b, name="Taken over")).status_code == 404
    assert staff_client(outsider).get(_url(page, source_a)).status_code == (404 if page == "history" else 403)
    source_b.refresh_from_db()
    assert source_b.name == "B platform"


def test_a_source_cannot_be_created_in_or_moved_to_another_label(tenant_a, tenant_b, source_a, staff_client):
    client = staff_client(tenant_a.admin)
    planted = {**_form(source_a, name="Planted", broker_url=URL_A), "label": tenant_b.label.pk}
    response = client.post(_url("add"), planted)
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not StreamSource.objects.filter(name="Planted").exists()

    assert client.post(_url("change", source_a), {**_form(source_a), "label": tenant_b.label.pk}).status_code == 302
    source_a.refresh_from_db()
    assert source_a.label_id == tenant_a.label.pk  # the label is read-only once the source exists


# --- roles --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("role", [Role.SUPPORT, Role.MANAGER])
def test_support_and_managers_see_sources_but_change_nothing(role, tenant_a, source_a, staff_with_role, staff_client):
    client = staff_client(staff_with_role(tenant_a.label, role))
    assert source_a.name in client.get(_url("changelist")).content.decode()
    page = client.get(_url("change", source_a))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="_save"' not in html
    assert PASSWORD not in html  # the read-only page does not print the stored URL either
    assert "amqp://rabbit-a.example:5672/casino" in html
    assert client.post(_url("change", source_a), _form(source_a, name="Renamed")).status_code == 403
    assert client.get(_url("add")).status_code == 403
    assert client.post(_url("delete", source_a), {"post": "yes"}).status_code == 403
    source_a.refresh_from_db()
    assert source_a.name == "A platform"


@pytest.mark.parametrize("role", [Role.ADMIN, Role.INTEGRATION_ENGINEER])
def test_admins_and_integration_engineers_set_sources_up(role, tenant_a, staff_with_role, staff_client):
    client = staff_client(staff_with_role(tenant_a.label, role))
    data = {
        "label": tenant_a.label.pk, "name": "New stream", "broker_url": URL_A, "queue": "events",
        "dead_letter_queue": "events.dead", "prefetch": 200, "is_active": "on",
    }  # fmt: skip
    assert client.post(_url("add"), data).status_code == 302
    source = StreamSource.objects.get(name="New stream")
    assert (source.label_id, source.broker_url, source.queue, source.prefetch) == (
        tenant_a.label.pk,
        URL_A,
        "events",
        200,
    )
    assert client.post(_url("delete", source), {"post": "yes"}).status_code == 302
    assert not StreamSource.objects.filter(pk=source.pk).exists()


# --- the broker URL -----------------------------------------------------------------------------------------------
def test_the_broker_url_is_never_sent_back(tenant_a, source_a, staff_client):
    client = staff_client(tenant_a.admin)
    for url in (_url("changelist"), _url("change", source_a), _url("history", source_a)):
        html = client.get(url).content.decode()
        assert PASSWORD not in html, url
        assert "operator-a" not in html, url
    html = client.get(_url("change", source_a)).content.decode()
    assert 'type="password" name="broker_url"' in html
    assert "amqp://rabbit-a.example:5672/casino" in html  # where it points, without the credentials


def test_a_blank_broker_url_keeps_the_stored_one_and_a_new_one_replaces_it(tenant_a, source_a, staff_client):
    client = staff_client(tenant_a.admin)
    assert client.post(_url("change", source_a), _form(source_a, prefetch=300)).status_code == 302
    source_a.refresh_from_db()
    assert (source_a.broker_url, source_a.prefetch) == (URL_A, 300)

    new_url = "amqps://operator-a:rotated-pass@rabbit-a2.example:5671/casino"
    assert client.post(_url("change", source_a), _form(source_a, broker_url=new_url)).status_code == 302
    source_a.refresh_from_db()
    assert source_a.broker_url == new_url
    assert "rotated-pass" not in client.get(_url("change", source_a)).content.decode()


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"broker_url": ""}, "broker_url", "This field is required."),
        ({"broker_url": "filesystem:///etc/"}, "broker_url", "Only RabbitMQ"),
        ({"broker_url": "redis://cache:6379/0"}, "broker_url", "Only RabbitMQ"),
        ({"broker_url": "amqp:///vhost"}, "broker_url", "The URL names no host."),
        ({"broker_url": "amqp://host:port/"}, "broker_url", "This is not a valid URL."),
        ({"dead_letter_queue": "a-events"}, "dead_letter_queue", "Must differ from the queue consumed."),
        ({"dead_letter_queue": "amq.dead"}, "dead_letter_queue", "reserved by RabbitMQ"),
        ({"prefetch": 0}, "prefetch", "greater than or equal to 1"),
    ],
)
def test_a_new_source_is_validated(changes, field, message, tenant_a, source_a, staff_client):
    data = {**_form(source_a, name="Checked", broker_url=URL_A), **changes}
    response = staff_client(tenant_a.admin).post(_url("add"), data)
    assert response.status_code == 200
    assert message in " ".join(response.context["adminform"].form.errors.get(field, []))
    assert not StreamSource.objects.filter(name="Checked").exists()


def test_the_list_shows_each_sources_status(tenant_a, source_a, staff_client):
    from django.utils import timezone

    now = timezone.now()
    StreamSource.objects.filter(pk=source_a.pk).update(
        messages_read=12, events_accepted=34, messages_dead_lettered=5, last_message_at=now
    )
    StreamSource.objects.create(
        label=tenant_a.label, name="Broken", broker_url=URL_A, queue="q2", dead_letter_queue="d2",
        last_error="NotFound: no queue 'q2'", last_error_at=now,
    )  # fmt: skip
    StreamSource.objects.create(
        label=tenant_a.label, name="Off", broker_url=URL_A, queue="q3", dead_letter_queue="d3", is_active=False
    )
    response = staff_client(tenant_a.admin).get(_url("changelist"))
    rows = {obj.name: obj for obj in response.context["cl"].result_list}
    model_admin = response.context["cl"].model_admin
    assert {name: model_admin.status(obj) for name, obj in rows.items()} == {
        "A platform": "OK",
        "Broken": "Error",
        "Off": "Inactive",
    }
    html = response.content.decode()
    for text in ("12", "34", "5", "Error", "Inactive"):
        assert text in html
