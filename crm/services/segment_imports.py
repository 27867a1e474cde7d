"""Imported segments: a CSV of `user_ext_id` (and `ext_brand_id` where ids clash across brands) becomes the list.

The upload is streamed to disk, then a Celery task (`crm.segment_import_run`) reads it in chunks: each chunk of rows
is checked in Python (ids cleaned by the rule ingest applies, with the problem of each bad row) and COPYed into a
temporary table; the progress counters are committed after every chunk, for the admin's progress bar. Then one
statement matches every row against the label's players and stores the rows (matched player or the reason), and one
transaction replaces or extends the list. A file-level problem (not UTF-8/UTF-16, no `user_ext_id` column, a broken
CSV line) fails the import naming the line, and changes nothing.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import structlog
from django.conf import settings
from django.db import connection, transaction

from backoffice.errors import DomainValidationError
from crm.exports import FORMULA_PREFIXES
from crm.models import ImportMode, ImportStatus, Segment, SegmentImport, SegmentKind
from crm.validators import FieldError, identifier

log = structlog.get_logger(__name__)

CHUNK_ROWS = 50_000
MAX_FILE_BYTES = 200 * 1024 * 1024  # about 5 million ids
ID_COLUMN, BRAND_COLUMN = "user_ext_id", "ext_brand_id"
UNMATCHED_COLUMNS = ["line", "ext_brand_id", "user_ext_id", "problem"]


class ImportFailed(Exception):
    """A file-level problem: the import stops and changes nothing. The message names the line."""


def imports_dir() -> Path:
    path = Path(settings.VAR_DIR) / "segment_imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def segment_import_start(*, segment: Segment, upload: Any, mode: str = ImportMode.REPLACE, user=None) -> SegmentImport:
    """Store an uploaded CSV (a Django UploadedFile, read in chunks) and queue its import into `segment`'s list."""
    errors: dict[str, list[str]] = {}
    if segment.kind != SegmentKind.IMPORTED:
        errors["segment"] = ["Only an imported segment takes a CSV list."]
    if mode not in ImportMode.values:
        errors["mode"] = [f"One of: {', '.join(ImportMode.values)}."]
    if upload is None or not getattr(upload, "size", 0):
        errors["file"] = ["Choose a CSV file; this one is empty."]
    elif upload.size > MAX_FILE_BYTES:
        errors["file"] = [f"At most {MAX_FILE_BYTES // (1024 * 1024)} MB per file; split it and append the rest."]
    if errors:
        raise DomainValidationError(errors)
    path = imports_dir() / f"{segment.pk}-{uuid.uuid4().hex}.csv"
    with path.open("wb") as out:
        for chunk in upload.chunks():
            out.write(chunk)
    job = SegmentImport.objects.create(
        segment=segment,
        file_name=str(getattr(upload, "name", "upload.csv"))[:255],
        file_path=str(path),
        file_size=path.stat().st_size,
        mode=mode,
        created_by=user,
    )
    transaction.on_commit(lambda: _run_later(job.pk))
    return job


def _run_later(import_id: int) -> None:
    from crm.tasks_segments import segment_import_task

    segment_import_task.delay(import_id)


# --- reading the file -----------------------------------------------------------------------------------------------
class _Counting(io.RawIOBase):
    """A binary reader that counts the bytes read (the progress bar)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw, self.count = raw, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.raw.read(len(buffer))
        buffer[: len(data)] = data
        self.count += len(data)
        return len(data)


def _lines(counting: _Counting) -> Iterator[str]:
    """The file's text lines. UTF-8 (with or without BOM) is decoded line by line, so a bad byte names its line;
    UTF-16 needs its BOM."""
    reader = io.BufferedReader(counting, buffer_size=1 << 20)
    head = reader.peek(4)[:4]
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        text = io.TextIOWrapper(reader, encoding="utf-16", newline="")
        try:
            yield from text
        except UnicodeDecodeError as exc:
            raise ImportFailed(f"The file is not valid UTF-16 text ({exc.reason}).") from exc
        return
    for number, raw in enumerate(reader, start=1):
        if number == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ImportFailed(
                f"Line {number} is not UTF-8 text (byte 0x{raw[exc.start]:02x} at position {exc.start + 1}): save the "
                "file as “CSV UTF-8” and upload it again."
            ) from exc


def _columns(header: list[str]) -> tuple[int, int | None]:
    names = [name.strip().strip("\ufeff").lower() for name in header]
    if ID_COLUMN not in names:
        found = ", ".join(repr(n) for n in names[:10] if n) or "nothing"
        raise ImportFailed(
            f"Line 1: the header has no {ID_COLUMN} column (found {found}). The first line names the columns: "
            f"{ID_COLUMN}, and {BRAND_COLUMN} where the same id exists in several brands."
        )
    return names.index(ID_COLUMN), names.index(BRAND_COLUMN) if BRAND_COLUMN in names else None


def _row(values: list[str], id_at: int, brand_at: int | None) -> tuple[str, str, str, str]:
    """(ext_brand_id, user_ext_id, problem, hint) of one data row."""
    raw_id = values[id_at] if id_at < len(values) else ""
    raw_brand = values[brand_at] if brand_at is not None and brand_at < len(values) else ""
    shown, raw_brand = _storable(raw_id), _storable(raw_brand)
    if not raw_id.strip():
        return raw_brand, shown, f"No {ID_COLUMN} on this row.", ""
    try:
        user_ext_id = identifier(raw_id.strip())
        brand = identifier(raw_brand.strip()) if raw_brand.strip() else ""
    except FieldError as exc:
        return raw_brand, shown, f"Not a valid id: {exc}", ""
    hint = " It looks like a spreadsheet formula." if user_ext_id.startswith(FORMULA_PREFIXES) else ""
    return brand, user_ext_id, "", hint


def _storable(value: str) -> str:
    """A value as kept for the unmatched list: PostgreSQL text holds no NUL, and 200 characters say enough."""
    return value[:200].replace("\x00", "\\x00")


def _rows(lines: Iterator[str]) -> Iterator[tuple[int, tuple[str, str, str, str]]]:
    reader = csv.reader(lines, strict=True)
    start = 1  # the line where the row being read starts: a broken row is named by it
    try:
        header = next(reader, None)
        if header is None:
            raise ImportFailed("The file is empty: the first line names the columns, e.g. user_ext_id.")
        id_at, brand_at = _columns(header)
        start = reader.line_num + 1
        for values in reader:
            if any(v.strip() for v in values):  # a blank line is skipped
                yield start, _row(values, id_at, brand_at)
            start = reader.line_num + 1
    except csv.Error as exc:
        raise ImportFailed(f"Line {start}: {exc}.") from exc


# --- the task's work ------------------------------------------------------------------------------------------------
def _claim(import_id: int) -> SegmentImport | None:
    """Take the import (pending, or running when a killed worker's message is delivered again)."""
    now = dt.datetime.now(dt.UTC)
    claimed = SegmentImport.objects.filter(
        pk=import_id, status__in=[ImportStatus.PENDING, ImportStatus.RUNNING]
    ).update(status=ImportStatus.RUNNING, started_at=now, bytes_read=0, rows_read=0, error="")
    return SegmentImport.objects.select_related("segment").filter(pk=import_id).first() if claimed else None


def segment_import_run(*, import_id: int) -> SegmentImport | None:
    """Process one import end to end (the Celery task's body). Returns the import, or None if it is gone or done."""
    job = _claim(import_id)
    if job is None:
        return None
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "CREATE TEMP TABLE IF NOT EXISTS segment_import_tmp (line bigint, ext_brand_id text, user_ext_id text,"
                " problem text, hint text)"
            )
            cursor.execute("TRUNCATE segment_import_tmp")
        _load(job)
        _store(job)
    except ImportFailed as exc:
        SegmentImport.objects.filter(pk=job.pk).update(
            status=ImportStatus.FAILED, error=str(exc), finished_at=dt.datetime.now(dt.UTC)
        )
        log.info("segment_import_failed", import_id=job.pk, segment_id=job.segment_id)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS segment_import_tmp")
        Path(job.file_path).unlink(missing_ok=True)
    job.refresh_from_db()
    if job.status == ImportStatus.DONE:
        from crm.services.segments import segment_refresh

        segment_refresh(segment=job.segment)  # the list changed: entered / left events
    return job


def _load(job: SegmentImport) -> None:
    try:
        handle = open(job.file_path, "rb")  # noqa: SIM115 - closed below, read through wrappers
    except FileNotFoundError as exc:
        raise ImportFailed("The uploaded file is gone; upload it again.") from exc
    with handle:
        counting = _Counting(handle)
        chunk: list[tuple] = []
        read = 0
        for line, (brand, user_ext_id, problem, hint) in _rows(_lines(counting)):
            chunk.append((line, brand, user_ext_id, problem, hint))
            if len(chunk) >= CHUNK_ROWS:
                read += _copy(chunk)
                _progress(job.pk, counting.count, read)
                chunk = []
        read += _copy(chunk)
        _progress(job.pk, counting.count, read)


def _copy(rows: list[tuple]) -> int:
    if rows:
        with (
            connection.cursor() as cursor,
            cursor.cursor.copy(
                "COPY segment_import_tmp (line, ext_brand_id, user_ext_id, problem, hint) FROM STDIN"
            ) as copy,
        ):
            for row in rows:
                copy.write_row(row)
    return len(rows)


def _progress(import_id: int, bytes_read: int, rows: int) -> None:
    SegmentImport.objects.filter(pk=import_id).update(bytes_read=bytes_read, rows_read=rows)


_MATCH = """
INSERT INTO crm_segmentimportrow (segment_import_id, line, ext_brand_id, user_ext_id, player_id, problem)
SELECT %(job)s, t.line, t.ext_brand_id, t.user_ext_id, CASE WHEN m.n = 1 THEN m.player_id END,
       CASE WHEN t.problem <> '' THEN t.problem
            WHEN m.n > 1 THEN 'Players of several brands have this id: add an ext_brand_id column.'
            WHEN m.n = 1 THEN ''
            WHEN t.ext_brand_id <> '' AND t.ext_brand_id NOT IN (SELECT ext_brand_id FROM backoffice_brand
                                                                  WHERE label_id = %(label)s)
            THEN 'No brand ' || t.ext_brand_id || ' in this label.'
            ELSE 'No player with this id.' || t.hint END
  FROM segment_import_tmp t
  LEFT JOIN (SELECT t2.line, min(p.id) AS player_id, count(*) AS n
               FROM segment_import_tmp t2
               JOIN crm_player p ON p.label_id = %(label)s AND p.user_ext_id = t2.user_ext_id
               JOIN backoffice_brand b ON b.id = p.brand_id
              WHERE t2.problem = '' AND (t2.ext_brand_id = '' OR b.ext_brand_id = t2.ext_brand_id)
              GROUP BY t2.line) m ON m.line = t.line
"""


def _store(job: SegmentImport) -> None:
    """Match every row in one statement, then replace or extend the list, in one transaction."""
    segment = job.segment
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM crm_segment WHERE id = %s FOR UPDATE", [segment.pk])  # one import at a time
        cursor.execute("ANALYZE segment_import_tmp")
        cursor.execute(_MATCH, {"job": job.pk, "label": segment.label_id})
        cursor.execute(
            "SELECT count(player_id), count(*) - count(player_id) FROM crm_segmentimportrow"
            " WHERE segment_import_id = %s",
            [job.pk],
        )
        matched, unmatched = cursor.fetchone()
        if job.mode == ImportMode.REPLACE:
            cursor.execute(
                """DELETE FROM crm_segmentlistentry l WHERE l.segment_id = %s AND NOT EXISTS (
                       SELECT 1 FROM crm_segmentimportrow r
                        WHERE r.segment_import_id = %s AND r.player_id = l.player_id)""",
                [segment.pk, job.pk],
            )
        cursor.execute(
            """INSERT INTO crm_segmentlistentry (segment_id, player_id, added_by_id)
               SELECT DISTINCT %s, player_id, %s::bigint FROM crm_segmentimportrow
                WHERE segment_import_id = %s AND player_id IS NOT NULL
               ON CONFLICT DO NOTHING""",
            [segment.pk, job.pk, job.pk],
        )
        cursor.execute("SELECT count(*) FROM crm_segmentlistentry WHERE segment_id = %s", [segment.pk])
        size = cursor.fetchone()[0]
        # Only the latest import's rows are kept (its unmatched rows are the ones staff download).
        cursor.execute(
            """DELETE FROM crm_segmentimportrow WHERE segment_import_id IN (
                   SELECT id FROM crm_segmentimport WHERE segment_id = %s AND id < %s)""",
            [segment.pk, job.pk],
        )
        SegmentImport.objects.filter(pk=job.pk).update(
            status=ImportStatus.DONE,
            rows_matched=matched,
            rows_unmatched=unmatched,
            list_size=size,
            bytes_read=job.file_size,
            finished_at=dt.datetime.now(dt.UTC),
        )
    log.info("segment_imported", import_id=job.pk, segment_id=segment.pk, matched=matched, unmatched=unmatched)
