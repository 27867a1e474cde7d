"""Replica data sources and their synced views. The DSN holds a password: it is written, never shown again.

Integration engineers and admins (Perm.DATA_SOURCES) configure; everyone with a role in the label sees the status:
cursor, lag, rows read and refused, last error.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, Q
from django.http import HttpResponseRedirect
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from unfold.decorators import action, display
from unfold.widgets import UnfoldAdminPasswordWidget

from backoffice.admin.base import LabelScopedAdmin, may_act_on
from backoffice.admin.filters import ScopedRelatedFilter
from backoffice.admin.helpers import badge, confirm_page
from backoffice.models import Perm
from integrations.models import DataSource, SyncView
from integrations.replica import tasks
from integrations.replica.reader import ReplicaError, dsn_display, dsn_params
from integrations.replica.services import data_source_check

NEW_DSN_HELP = "postgresql://user:password@host:5432/dbname (stored encrypted, never shown again)."
KEEP_DSN_HELP = "Stored encrypted and never shown. Leave blank to keep the current one; type a new one to replace it."
# Changing what the cursor means makes the stored position meaningless: the view is read again from the start.
POSITION_FIELDS = {"name", "kind", "cursor_column", "cursor_kind", "id_column"}
STATUS_FIELDS = [
    "cursor_value", "lag", "rows_read", "rows_invalid", "last_run_at", "last_success_at", "error_text", "last_invalid",
]  # fmt: skip


def lag_text(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


class DataSourceForm(forms.ModelForm):
    """`dsn` is write-only: the form never renders it, and blank on a change keeps the stored one."""

    dsn = forms.CharField(
        label="DSN", required=False, max_length=2000, widget=UnfoldAdminPasswordWidget(render_value=False)
    )

    class Meta:
        model = DataSource
        fields = ["label", "name", "dsn", "poll_interval_seconds", "is_active"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.initial["dsn"] = ""
        self.fields["dsn"].help_text = KEEP_DSN_HELP if self.instance.pk else NEW_DSN_HELP

    def clean_dsn(self) -> str:
        value = self.cleaned_data["dsn"].strip()
        if not value:
            if not self.instance.pk:
                raise forms.ValidationError("Enter the replica's DSN.")
            return self.instance.dsn
        try:
            dsn_params(value)
        except ReplicaError as exc:
            raise forms.ValidationError(str(exc)) from None
        return value


class _SyncPermissions:
    """Reading now and testing the connection: for those who may change the label's data sources."""

    def has_sync_permission(self, request, object_id=None) -> bool:
        return may_act_on(self, request, Perm.DATA_SOURCES, object_id)

    def _enqueue(self, request, views) -> None:
        ids = [view.pk for view in views if view.is_active]
        sent = tasks.sync_enqueue(ids)
        if sent < len(ids):
            messages.error(request, "The task queue is not reachable: the views will be read at their next poll.")
        elif ids:
            messages.success(request, f"{sent} view(s) will be read in a moment; refresh to see their status.")
        else:
            messages.info(request, "No active view to read.")


@admin.register(DataSource)
class DataSourceAdmin(_SyncPermissions, LabelScopedAdmin):
    add_perm = change_perm = delete_perm = Perm.DATA_SOURCES
    form = DataSourceForm
    list_display = ("name", "label", "view_count", "health", "poll_interval_seconds", "is_active")
    list_filter = (("label", ScopedRelatedFilter), "is_active")
    list_select_related = ("label",)
    search_fields = ("name",)
    actions_detail = ["test_connection", "sync_now"]

    def get_queryset(self, request):
        failing = Count("views", filter=~Q(views__last_error=""))
        return super().get_queryset(request).annotate(n_views=Count("views"), n_failing=failing)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": ["label", "name", "dsn", "poll_interval_seconds", "is_active"]})]
        return [
            (None, {"fields": ["label", "name", "current_dsn", "dsn", "poll_interval_seconds", "is_active"]}),
            ("Views", {"fields": ["views_table"]}),
            ("Timestamps", {"fields": ["created_at", "updated_at"]}),
        ]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else ["label", "current_dsn", "views_table", "created_at", "updated_at"]

    @display(description="Views", ordering="n_views")
    def view_count(self, obj) -> int:
        return obj.n_views

    @display(description="Status", label={"OK": "success", "Failing": "danger", "No views": "info"})
    def health(self, obj) -> str:
        if not obj.n_views:
            return "No views"
        return "Failing" if obj.n_failing else "OK"

    @display(description="Current DSN")
    def current_dsn(self, obj) -> str:
        return dsn_display(obj.dsn)

    @display(description="Views of this source")
    def views_table(self, obj) -> SafeString:
        rows = [
            [
                format_html('<a href="{}">{}</a>', reverse("admin:integrations_syncview_change", args=[v.pk]), v.name),
                v.event_type, v.cursor_value or "-", lag_text(v.lag_seconds), v.rows_read, v.rows_invalid,
                _error_badge(v),
            ]
            for v in obj.views.order_by("name", "event_type")
        ]  # fmt: skip
        table = {"headers": ["view", "event", "cursor", "lag", "rows read", "refused", "status"], "rows": rows}
        add_url = f"{reverse('admin:integrations_syncview_add')}?source={obj.pk}"
        return render_to_string("unfold/components/table.html", {"table": table}) + format_html(
            '<p class="mt-2"><a href="{}">Add a view</a></p>', add_url
        )

    @action(description="Test connection", url_path="test-connection", permissions=["sync"], icon="cable")
    def test_connection(self, request, object_id):
        source = self.get_object(request, object_id)
        for ok, line in data_source_check(source=source).lines:
            messages.add_message(request, messages.SUCCESS if ok else messages.ERROR, line)
        return HttpResponseRedirect(reverse("admin:integrations_datasource_change", args=[source.pk]))

    @action(description="Sync now", url_path="sync-now", permissions=["sync"], icon="sync")
    def sync_now(self, request, object_id):
        source = self.get_object(request, object_id)
        change_url = reverse("admin:integrations_datasource_change", args=[source.pk])
        if request.method != "POST":
            return confirm_page(
                self, request, obj=source, title=f"Read {source} now",
                text="Each active view of this source is read now, from its cursor, instead of at its next poll.",
                button="Read now", cancel_url=change_url,
            )  # fmt: skip
        self._enqueue(request, source.views.all())
        return HttpResponseRedirect(change_url)


def _error_badge(view: SyncView) -> str:
    if view.last_error:
        return badge("Failing", "danger")
    return badge("OK", "success") if view.last_success_at else badge("Not read yet", "info")


@admin.register(SyncView)
class SyncViewAdmin(_SyncPermissions, LabelScopedAdmin):
    add_perm = change_perm = delete_perm = Perm.DATA_SOURCES
    scoped_foreign_keys = {"source": DataSource}
    list_display = (
        "name", "event_type", "source", "cursor_value", "lag", "rows_read", "rows_invalid", "last_run_at", "status",
        "error_summary",
    )  # fmt: skip
    list_filter = (("source", ScopedRelatedFilter), "kind", "is_active")
    list_select_related = ("source", "source__label")
    search_fields = ("name", "event_type")
    actions = ["sync_selected"]
    actions_detail = ["sync_now", "read_from_start"]

    def label_id_of(self, obj) -> int | None:
        return obj.source.label_id

    def get_fieldsets(self, request, obj=None):
        fieldsets = [
            (None, {"fields": ["source", "name", "kind", "event_type", "is_active"]}),
            ("Cursor", {"fields": ["cursor_column", "cursor_kind", "overlap_seconds", "page_size"]}),
            (
                "Mapping",
                {
                    "fields": ["id_column", "column_map", "type_column", "type_map"],
                    "description": "Columns named as in the reference need no mapping. For bets and wins in one "
                    'table, set the type column and map its values, e.g. {"bet": "casino_bet", "win": '
                    '"casino_win"}. When the profile lives in several tables, add a users view per table, each '
                    "with its own dt_update: each field keeps the value of the latest update that carried it, so "
                    "the views never undo each other.",
                },
            ),
        ]
        if obj is not None:
            fieldsets.append(("Status", {"fields": STATUS_FIELDS}))
        return fieldsets

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else ["source", *STATUS_FIELDS]

    def save_model(self, request, obj, form, change) -> None:
        if change and POSITION_FIELDS & set(form.changed_data) and obj.cursor_value:
            obj.cursor_value = obj.cursor_key = ""
            messages.warning(request, "The cursor settings changed: the view is read again from the start.")
        super().save_model(request, obj, form, change)

    @display(description="Lag", ordering="lag_seconds")
    def lag(self, obj) -> str:
        return lag_text(obj.lag_seconds)

    @display(description="Status", label={"OK": "success", "Failing": "danger", "Not read yet": "info"})
    def status(self, obj) -> str:
        if obj.last_error:
            return "Failing"
        return "OK" if obj.last_success_at else "Not read yet"

    @display(description="Last error")
    def error_summary(self, obj) -> str:
        return obj.last_error[:120] or "-"

    @display(description="Last error")
    def error_text(self, obj) -> str:
        return obj.last_error or "-"

    @admin.action(description="Sync selected views now", permissions=["sync"])
    def sync_selected(self, request, queryset) -> None:
        self._enqueue(request, queryset.for_actor(self.actor(request), Perm.DATA_SOURCES))

    @action(description="Sync now", url_path="sync-now", permissions=["sync"], icon="sync")
    def sync_now(self, request, object_id):
        view = self.get_object(request, object_id)
        change_url = reverse("admin:integrations_syncview_change", args=[view.pk])
        if request.method != "POST":
            return confirm_page(
                self, request, obj=view, title=f"Read {view} now",
                text="The view is read now, from its cursor, instead of at its next poll.",
                button="Read now", cancel_url=change_url,
            )  # fmt: skip
        self._enqueue(request, [view])
        return HttpResponseRedirect(change_url)

    @action(description="Read from the start", url_path="read-from-start", permissions=["sync"], icon="restart_alt")
    def read_from_start(self, request, object_id):
        view = self.get_object(request, object_id)
        change_url = reverse("admin:integrations_syncview_change", args=[view.pk])
        if request.method != "POST":
            return confirm_page(
                self, request, obj=view, title=f"Read {view} from the start",
                text="The cursor is cleared and the whole view is read again at the next run. Rows read before "
                "are recognized and skipped; rows refused before (an unknown brand, say) get another chance.",
                button="Clear the cursor", cancel_url=change_url,
            )  # fmt: skip
        SyncView.objects.filter(pk=view.pk).update(cursor_value="", cursor_key="")
        self.log_change(request, view, "Cleared the cursor: read from the start.")
        messages.success(request, f"{view} will be read from the start at its next run.")
        return HttpResponseRedirect(change_url)
