"""The segment admin's own pages: the audience count endpoint (the builder calls it as the manager edits), members
with a CSV export, CSV imports with a progress bar polling a small JSON endpoint, and unmatched rows as CSV.

Every page looks the segment up in the actor's labels: another label's id is 404, like a missing one.
"""

from __future__ import annotations

import json

from django import forms
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect, JsonResponse, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from unfold.widgets import UnfoldAdminFileFieldWidget, UnfoldAdminSelectWidget

from backoffice.errors import DomainValidationError, NotFound
from backoffice.models import Perm
from crm.conditions import TreeError, tree_describe
from crm.exports import csv_line
from crm.models import ImportMode, ImportStatus, Segment, SegmentImport, SegmentImportRow, SegmentKind
from crm.segments_selectors import segment_for_actor, segment_imports, segment_members
from crm.services.segment_imports import UNMATCHED_COLUMNS, segment_import_start
from crm.services.segments import conditions_count, segment_conditions_check

PAGE_SIZE = 100
MEMBER_COLUMNS = ["ext_brand_id", "user_ext_id", "core_username", "user_country", "core_account_status"]


def _segment(model_admin, request, segment_id: int) -> Segment:
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    try:
        return segment_for_actor(actor=model_admin.actor(request), segment_id=segment_id)
    except NotFound as exc:
        raise Http404("No segment with this id.") from exc


# --- the audience count ---------------------------------------------------------------------------------------------
def _errors(errors: dict, status: int = 400) -> JsonResponse:
    return JsonResponse({"errors": errors}, status=status)


def audience_view(model_admin, request):
    """POST {"conditions": tree, "label": id (optional), "segment": id (optional)} -> {"count", "description"}, or
    400 {"errors": {path: [message]}}. The label is the segment's, the one given, or the actor's only label."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    try:
        body = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        return _errors({"conditions": ['The body must be JSON: {"conditions": {...}}.']})
    if not isinstance(body, dict) or "conditions" not in body:
        return _errors({"conditions": ["This field is required."]})
    actor = model_admin.actor(request)
    segment_id, label_id = body.get("segment"), body.get("label")
    if segment_id is not None:
        segment = _segment(model_admin, request, segment_id) if isinstance(segment_id, int) else None
        if segment is None:
            return _errors({"segment": ["Expected a segment id (an integer)."]})
        label_id = segment.label_id
    elif label_id is not None:
        if isinstance(label_id, bool) or not isinstance(label_id, int) or not actor.can(Perm.VIEW, label_id):
            raise Http404("No label with this id.")
    else:
        labels = actor.labels_with(Perm.VIEW)
        if len(labels) != 1:
            return _errors({"label": ["You work in several labels: say which one (label id)."]})
        label_id = next(iter(labels))
    try:
        segment_conditions_check(label_id=label_id, conditions=body["conditions"], segment_id=segment_id)
        count = conditions_count(label_id=label_id, conditions=body["conditions"])
        description = tree_describe(body["conditions"], label_id=label_id)
    except DomainValidationError as exc:
        return _errors(exc.errors)
    except TreeError as exc:
        return _errors(exc.errors)
    return JsonResponse({"count": count, "description": description})


# --- members --------------------------------------------------------------------------------------------------------
def members_view(model_admin, request, segment_id: int):
    """The segment's players now, 100 a page (keyset on the player id: `?after=<id>`)."""
    segment = _segment(model_admin, request, segment_id)
    try:
        after = min(max(int(request.GET.get("after") or 0), 0), 2**63 - 1)
    except ValueError:
        after = 0
    try:
        players = list(segment_members(segment=segment).filter(id__gt=after)[: PAGE_SIZE + 1])
        error = ""
    except TreeError as exc:
        players, error = [], "; ".join(f"{p}: {' '.join(m)}" for p, m in exc.errors.items())
    more = len(players) > PAGE_SIZE
    players = players[:PAGE_SIZE]
    context = {
        **model_admin.admin_site.each_context(request),
        "title": f"Members of {segment}",
        "subtitle": None,
        "opts": model_admin.opts,
        "segment": segment,
        "players": players,
        "error": error,
        "next_url": f"?after={players[-1].pk}" if more else "",
        "first_url": "?" if after else "",
        "export_url": reverse("admin:crm_segment_members_export", args=[segment.pk]),
        "segment_url": reverse("admin:crm_segment_change", args=[segment.pk]),
    }
    return TemplateResponse(request, "admin/crm/segment/members.html", context)


def members_export(model_admin, request, segment_id: int):
    """Every member now, as CSV, streamed (formulas escaped; no email or phone)."""
    segment = _segment(model_admin, request, segment_id)

    def lines():
        yield csv_line(MEMBER_COLUMNS)
        for player in segment_members(segment=segment).iterator(chunk_size=2000):
            yield csv_line([player.brand.ext_brand_id, *(getattr(player, c) for c in MEMBER_COLUMNS[1:])])

    response = StreamingHttpResponse(lines(), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="segment-{segment.pk}-members.csv"'
    return response


# --- imports --------------------------------------------------------------------------------------------------------
class ImportForm(forms.Form):
    file = forms.FileField(
        widget=UnfoldAdminFileFieldWidget,
        help_text="CSV, UTF-8 (or UTF-16 with a BOM). First line: user_ext_id, and ext_brand_id where the same id "
        "exists in several brands.",
    )
    mode = forms.ChoiceField(
        choices=ImportMode.choices, initial=ImportMode.REPLACE, widget=UnfoldAdminSelectWidget,
        help_text="Replace: the list becomes this file's players. Add: they join the players already on it.",
    )  # fmt: skip


def import_view(model_admin, request, segment_id: int):
    """Upload a CSV into an imported segment's list (admins and managers); everyone in the label sees the imports."""
    segment = _segment(model_admin, request, segment_id)
    if segment.kind != SegmentKind.IMPORTED:
        raise Http404("Only imported segments take a CSV.")
    may_import = model_admin.actor(request).can(Perm.CONFIG_CHANGE, segment.label_id)
    form = ImportForm()
    if request.method == "POST":
        if not may_import:
            raise PermissionDenied
        form = ImportForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                segment_import_start(
                    segment=segment, upload=form.cleaned_data["file"], mode=form.cleaned_data["mode"],
                    user=request.user,
                )  # fmt: skip
            except DomainValidationError as exc:
                for field, errors in exc.errors.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                return HttpResponseRedirect(reverse("admin:crm_segment_import", args=[segment.pk]))
    imports = list(segment_imports(segment=segment)[:10])
    context = {
        **model_admin.admin_site.each_context(request),
        "title": f"Import a list into {segment}",
        "subtitle": None,
        "opts": model_admin.opts,
        "segment": segment,
        "form": form if may_import else None,
        "imports": [_import_row(segment, job) for job in imports],
        "segment_url": reverse("admin:crm_segment_change", args=[segment.pk]),
    }
    return TemplateResponse(request, "admin/crm/segment/import.html", context)


def _import_row(segment: Segment, job: SegmentImport) -> dict:
    return {
        "job": job,
        "progress_url": reverse("admin:crm_segment_import_progress", args=[segment.pk, job.pk]),
        "unmatched_url": reverse("admin:crm_segment_import_unmatched", args=[segment.pk, job.pk]),
        "progress": _progress(job),
    }


def _progress(job: SegmentImport) -> dict:
    return {
        "status": job.status,
        "status_display": job.get_status_display(),
        "percent": job.progress_percent,
        "rows_read": job.rows_read,
        "rows_matched": job.rows_matched,
        "rows_unmatched": job.rows_unmatched,
        "list_size": job.list_size,
        "error": job.error,
        "finished": job.status in (ImportStatus.DONE, ImportStatus.FAILED),
    }


def _job(model_admin, request, segment_id: int, import_id: int) -> SegmentImport:
    segment = _segment(model_admin, request, segment_id)
    job = SegmentImport.objects.filter(pk=import_id, segment=segment).first()
    if job is None:
        raise Http404("No import with this id.")
    return job


def import_progress(model_admin, request, segment_id: int, import_id: int):
    """The progress bar's JSON: status, percent, counters, the error."""
    return JsonResponse(_progress(_job(model_admin, request, segment_id, import_id)))


def import_unmatched(model_admin, request, segment_id: int, import_id: int):
    """The rows of an import that named no player, with the reason, as CSV (formulas escaped)."""
    job = _job(model_admin, request, segment_id, import_id)
    rows = SegmentImportRow.objects.filter(segment_import=job, player__isnull=True).order_by("line")

    def lines():
        yield csv_line(UNMATCHED_COLUMNS)
        for row in rows.values_list("line", "ext_brand_id", "user_ext_id", "problem").iterator(chunk_size=5000):
            yield csv_line(row)

    response = StreamingHttpResponse(lines(), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="segment-{job.segment_id}-import-{job.pk}-unmatched.csv"'
    return response


def list_panel(segment: Segment) -> str:
    """The change page's panel of an imported segment: its latest import and the link to upload."""
    job = segment_imports(segment=segment).first()
    url = reverse("admin:crm_segment_import", args=[segment.pk])
    if job is None:
        return format_html('No list yet. <a href="{}">Import a CSV</a>.', url)
    return format_html(
        'Last import: {} ({}), {} matched, {} unmatched. <a href="{}">Imports</a>',
        job.file_name, job.get_status_display(), f"{job.rows_matched:,}", f"{job.rows_unmatched:,}", url,
    )  # fmt: skip
