"""A brand's ext_brand_id typed in the admin follows the rule of every external id (backoffice/identifiers.py)."""

from __future__ import annotations

import datetime as dt
import unicodedata

import pytest
from django.urls import reverse

from backoffice.models import Brand
from crm.services.ingest import ACCEPTED, events_ingest

pytestmark = pytest.mark.django_db
DECOMPOSED = "cafe\u0301-casino"  # "e" + combining acute
COMPOSED = unicodedata.normalize("NFC", DECOMPOSED)


def _add(client, label, ext_brand_id: str):
    data = {"label": label.pk, "name": "New site", "ext_brand_id": ext_brand_id, "is_active": "on"}
    return client.post(reverse("admin:backoffice_brand_add"), data)


@pytest.mark.parametrize(("ext_brand_id", "code_point"), [("a\u202eb", "U+202E at position 2"), ("a\u200bb", "U+200B at position 2"), ("a\tb", "U+0009 at position 2")])  # fmt: skip
def test_an_id_with_an_invisible_or_control_character_is_refused_naming_the_field(
    tenant_a, staff_client, ext_brand_id, code_point
):
    response = _add(staff_client(tenant_a.admin), tenant_a.label, ext_brand_id)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["ext_brand_id"] == [
        f"Must not contain control, invisible or bidirectional formatting characters ({code_point})."
    ]
    assert not Brand.objects.filter(name="New site").exists()


def test_an_id_is_stored_in_nfc_so_events_in_either_form_reach_the_brand(tenant_a, staff_client):
    response = _add(staff_client(tenant_a.admin), tenant_a.label, DECOMPOSED)
    assert response.status_code == 302
    brand = Brand.objects.get(name="New site")
    assert brand.ext_brand_id == COMPOSED
    now = dt.datetime.now(dt.UTC)
    items = [
        {
            "event_id": f"e{i}",
            "type": "login",
            "ext_brand_id": sent,
            "user_ext_id": "u1",
            "occurred_at": now.isoformat(),
        }
        for i, sent in enumerate([DECOMPOSED, COMPOSED])
    ]
    result = events_ingest(label=tenant_a.label, items=items, source="api")
    assert [item.status for item in result.items] == [ACCEPTED, ACCEPTED]
