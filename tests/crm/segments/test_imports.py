"""Imported segments: CSV lists matched in SQL, with clear errors naming the line, unmatched rows downloadable with
formulas escaped, replace and append, and a list of 1,000,000 rows."""

from __future__ import annotations

import codecs
import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from backoffice.errors import DomainValidationError
from backoffice.models import Role
from crm.models import Event, SegmentImport, SegmentImportRow, SegmentListEntry, SegmentMember
from crm.services.segment_imports import segment_import_run, segment_import_start
from tests.factories import BrandFactory, PlayerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def vip(tenant_a, make_segment):
    return make_segment(tenant_a, name="VIP", kind="imported")


def upload(segment, content: bytes | str, mode: str = "replace", name: str = "list.csv"):
    data = content.encode() if isinstance(content, str) else content
    job = segment_import_start(segment=segment, upload=SimpleUploadedFile(name, data), mode=mode)
    return segment_import_run(import_id=job.pk)


def listed(segment) -> set[str]:
    return set(SegmentListEntry.objects.filter(segment=segment).values_list("player__user_ext_id", flat=True))


def unmatched(job) -> list[tuple[int, str, str]]:
    rows = SegmentImportRow.objects.filter(segment_import=job, player__isnull=True).order_by("line")
    return list(rows.values_list("line", "user_ext_id", "problem"))


def test_rows_are_matched_and_the_unmatched_ones_say_why(tenant_a, vip):
    PlayerFactory(brand=tenant_a.brand, user_ext_id="p-2")
    job = upload(vip, "user_ext_id\nshared-player\np-2\n\nnobody\n  \n")
    assert (job.status, job.rows_read, job.rows_matched, job.rows_unmatched, job.list_size) == ("done", 3, 2, 1, 2)
    assert job.progress_percent == 100
    assert listed(vip) == {"shared-player", "p-2"}
    assert unmatched(job) == [(5, "nobody", "No player with this id.")]
    # the refresh after the import: the list's players entered the segment, as events
    assert set(SegmentMember.objects.filter(segment=vip).values_list("player__user_ext_id", flat=True)) == listed(vip)
    assert Event.objects.filter(type="segment_entered", payload__segment_id=vip.pk).count() == 2


def test_replace_and_append(tenant_a, vip):
    for uid in ("a", "b", "c"):
        PlayerFactory(brand=tenant_a.brand, user_ext_id=uid)
    upload(vip, "user_ext_id\na\nb\n")
    upload(vip, "user_ext_id\nc\n", mode="append")
    assert listed(vip) == {"a", "b", "c"}
    upload(vip, "user_ext_id\nb\n", mode="replace")
    assert listed(vip) == {"b"}
    left = Event.objects.filter(type="segment_left", payload__segment_id=vip.pk)
    assert sorted(left.values_list("player__user_ext_id", flat=True)) == ["a", "c"]


def test_bom_utf16_and_extra_columns_in_any_order_and_case(tenant_a, vip):
    job = upload(vip, codecs.BOM_UTF8 + b"Name,User_Ext_Id\r\nAnna,shared-player\r\n")
    assert (job.status, listed(vip)) == ("done", {"shared-player"})
    job = upload(vip, "user_ext_id\nshared-player\n".encode("utf-16"))
    assert (job.status, job.rows_matched) == ("done", 1)


def test_a_bad_encoding_fails_naming_the_line_and_changes_nothing(tenant_a, vip):
    upload(vip, "user_ext_id\nshared-player\n")
    job = upload(vip, b"user_ext_id\nshared-player\nJos\xe9\n")
    assert job.status == "failed"
    assert job.error.startswith("Line 3 is not UTF-8 text (byte 0xe9 at position 4)")
    assert listed(vip) == {"shared-player"}
    assert not SegmentImportRow.objects.filter(segment_import=job).exists()


@pytest.mark.parametrize(
    ("content", "error"),
    [
        ("id,brand\n1,x\n", "Line 1: the header has no user_ext_id column (found 'id', 'brand')."),
        ("", None),
        ('user_ext_id\n"unterminated\n', "Line 2: unexpected end of data."),
        ('user_ext_id\n"a"b\n', "Line 2: ',' expected after '\"'."),
    ],
)
def test_missing_columns_and_broken_files_fail_with_a_clear_error(tenant_a, vip, content, error):
    if not content:
        with pytest.raises(DomainValidationError) as caught:
            upload(vip, content)
        assert caught.value.errors == {"file": ["Choose a CSV file; this one is empty."]}
        return
    job = upload(vip, content)
    assert job.status == "failed"
    assert job.error.startswith(error), job.error
    assert listed(vip) == set()


def test_formula_injection_is_kept_as_text_reported_and_escaped_in_the_download(tenant_a, vip, staff_client):
    job = upload(vip, "user_ext_id\n=cmd|' /C calc'!A0\n+1+1\nshared-player\n\x1bbad\nnul\x00\n")
    assert unmatched(job) == [
        (2, "=cmd|' /C calc'!A0", "No player with this id. It looks like a spreadsheet formula."),
        (3, "+1+1", "No player with this id. It looks like a spreadsheet formula."),
        (5, "\x1bbad", "Not a valid id: Must not contain control, invisible or bidirectional formatting characters "
                       "(U+001B at position 1)."),
        (6, "nul\\x00", "Not a valid id: Must not contain control, invisible or bidirectional formatting characters "
                         "(U+0000 at position 4)."),
    ]  # fmt: skip
    url = reverse("admin:crm_segment_import_unmatched", args=[vip.pk, job.pk])
    response = staff_client(tenant_a.admin).get(url)
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["line", "ext_brand_id", "user_ext_id", "problem"]
    assert [r[2] for r in rows[1:]] == ["'=cmd|' /C calc'!A0", "'+1+1", "\x1bbad", "nul\\x00"]


def test_ids_that_clash_across_brands_need_the_brand_column(tenant_a, vip):
    other = BrandFactory(label=tenant_a.label, ext_brand_id="second")
    twin = PlayerFactory(brand=other, user_ext_id="shared-player")
    job = upload(vip, "user_ext_id\nshared-player\n")
    assert unmatched(job) == [
        (2, "shared-player", "Players of several brands have this id: add an ext_brand_id column.")
    ]
    job = upload(vip, "ext_brand_id,user_ext_id\nsecond,shared-player\nnope,shared-player\n")
    assert set(SegmentListEntry.objects.filter(segment=vip).values_list("player_id", flat=True)) == {twin.pk}
    assert unmatched(job) == [(3, "shared-player", "No brand nope in this label.")]


def test_another_labels_players_never_match(tenant_a, tenant_b, vip):
    PlayerFactory(brand=tenant_b.brand, user_ext_id="only-in-b")
    job = upload(vip, "user_ext_id\nonly-in-b\n")
    assert (job.rows_matched, listed(vip)) == (0, set())


def test_a_conditions_segment_takes_no_csv(tenant_a, make_segment):
    segment = make_segment(tenant_a)
    with pytest.raises(DomainValidationError) as caught:
        segment_import_start(segment=segment, upload=SimpleUploadedFile("a.csv", b"user_ext_id\n1\n"))
    assert caught.value.errors == {"segment": ["Only an imported segment takes a CSV list."]}


def test_a_redelivered_task_of_a_finished_import_does_nothing(tenant_a, vip):
    job = upload(vip, "user_ext_id\nshared-player\n")
    assert segment_import_run(import_id=job.pk) is None
    assert SegmentImportRow.objects.filter(segment_import=job).count() == 1


def test_a_million_rows(tenant_a, vip, tmp_path):
    matching = [f"u{i}" for i in range(0, 1_000_000, 1000)]
    PlayerFactory._meta.model.objects.bulk_create(
        [PlayerFactory.build(brand=tenant_a.brand, label=tenant_a.label, user_ext_id=uid) for uid in matching]
    )
    path = tmp_path / "million.csv"
    with path.open("w") as out:
        out.write("user_ext_id\n")
        out.writelines(f"u{i}\n" for i in range(1_000_000))
    with path.open("rb") as handle:
        job = segment_import_start(segment=vip, upload=SimpleUploadedFile("million.csv", handle.read()))
    job = segment_import_run(import_id=job.pk)
    assert (job.status, job.rows_read, job.rows_matched, job.rows_unmatched) == ("done", 1_000_000, 1000, 999_000)
    assert job.list_size == SegmentListEntry.objects.filter(segment=vip).count() == 1000
    assert SegmentMember.objects.filter(segment=vip).count() == 1000
    assert unmatched(job)[:1] == [(3, "u1", "No player with this id.")]


def test_the_import_pages_for_the_three_personas(tenant_a, tenant_b, outsider, staff_with_role, staff_client, vip):
    page = reverse("admin:crm_segment_import", args=[vip.pk])
    manager = staff_client(staff_with_role(tenant_a.label, Role.MANAGER))
    assert manager.post(page, {"file": SimpleUploadedFile("l.csv", b"user_ext_id\nshared-player\n"),
                               "mode": "replace"}).status_code == 302  # fmt: skip
    job = SegmentImport.objects.get(segment=vip)
    progress = reverse("admin:crm_segment_import_progress", args=[vip.pk, job.pk])
    assert manager.get(progress).json()["status"] == "pending"  # the task runs after the commit
    segment_import_run(import_id=job.pk)
    body = manager.get(progress).json()
    assert (body["status"], body["percent"], body["rows_matched"], body["list_size"]) == ("done", 100, 1, 1)
    assert "list.csv" not in manager.get(page).content.decode()
    assert "l.csv" in manager.get(page).content.decode()

    support = staff_client(staff_with_role(tenant_a.label, Role.SUPPORT))
    assert support.get(page).status_code == 200
    assert support.get(progress).status_code == 200
    assert 'type="file"' not in support.get(page).content.decode()
    refused = support.post(page, {"file": SimpleUploadedFile("x.csv", b"user_ext_id\n1\n"), "mode": "replace"})
    assert refused.status_code == 403
    other = staff_client(tenant_b.admin)
    for url in (page, progress, reverse("admin:crm_segment_import_unmatched", args=[vip.pk, job.pk])):
        assert other.get(url).status_code == 404
        assert staff_client(outsider).get(url).status_code == 403
    assert SegmentImport.objects.filter(segment=vip).count() == 1
