"""Custom event types: a label's integration engineers and admins register them with a table of typed fields;
everyone else in the label reads them.

Events refer to their type by name, so a type is never renamed nor deleted here: deactivate it to refuse new events.
Switching a type off, or removing or retyping a field, is allowed (it is deliberate) but the save warns, naming the
live missions and tournaments that read the type (or those fields), which then stop counting; the change form lists
them beforehand ("Used by"). Below the label's custom types, the list shows the built-in types with their fields.
"""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.template.loader import render_to_string
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from unfold.decorators import display
from unfold.widgets import CHECKBOX_CLASSES, INPUT_CLASSES, SELECT_CLASSES

from backoffice.admin.base import LabelScopedAdmin
from backoffice.admin.filters import ScopedRelatedFilter
from backoffice.admin.helpers import badge
from backoffice.models import Perm
from crm.catalogue import CORE_TYPE_NAMES, ENVELOPE_FIELDS, NUMERIC_KINDS, TypeUse, type_uses
from crm.event_docs import builtin_types
from crm.models import EventType, FieldType

MAX_FIELDS = 50
BLANK_ROWS = 3
FIELD_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


# --- the fields editor ---------------------------------------------------------------------------------------------
class FieldsEditorWidget(forms.Widget):
    """A table with one row per field (name, type, required, remove), plus blank rows to add more.

    Posted as `<name>-<i>-name`, `-type`, `-required`, `-remove` and `<name>-TOTAL`; read back as the list
    EventType.fields stores. Works without JavaScript; a button adds rows beyond the blank ones.
    """

    template_name = "admin/crm/eventtype/fields_widget.html"

    class Media:
        js = ["pitboss/fields-editor.js"]  # the "Add a field" button

    def render(self, name, value, attrs=None, renderer=None) -> str:
        # The project's template engine: Django's default form renderer does not look in templates/.
        return render_to_string(self.template_name, self.get_context(name, value, attrs))

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        rows, seen = [], set()
        for row in value if isinstance(value, list) else []:
            rows.append({**row, "invalid": _field_problem(row, seen) is not None})  # outline only the rows at fault
            seen.add(row["name"])
        rows += [{"name": "", "type": FieldType.STRING, "required": False} for _ in range(BLANK_ROWS)]
        context["widget"].update(
            rows=rows,
            types=FieldType.choices,
            input_class=_without_error_outline(INPUT_CLASSES),
            select_class=_without_error_outline(SELECT_CLASSES),
            checkbox_class=" ".join(CHECKBOX_CLASSES),
        )
        return context

    def value_from_datadict(self, data, files, name) -> list[dict[str, Any]]:
        try:
            total = min(int(data.get(f"{name}-TOTAL", 0)), MAX_FIELDS + BLANK_ROWS + 100)
        except (TypeError, ValueError):
            total = 0
        rows = []
        for i in range(total):
            prefix = f"{name}-{i}-"
            field_name = (data.get(f"{prefix}name") or "").strip()
            required = bool(data.get(f"{prefix}required"))
            if data.get(f"{prefix}remove") or (not field_name and not required):
                continue  # removed, or a blank row left blank
            rows.append({"name": field_name, "type": data.get(f"{prefix}type") or "", "required": required})
        return rows

    def value_omitted_from_data(self, data, files, name) -> bool:
        return f"{name}-TOTAL" not in data


def _without_error_outline(classes: list[str]) -> str:
    # unfold outlines every input of a field in error; in a table of rows, only the faulty row should stand out.
    return " ".join(c for c in classes if "errors" not in c)


class EventFieldsField(forms.Field):
    """The typed payload fields of a custom type, validated as ingest will use them (crm.catalogue.custom_spec)."""

    widget = FieldsEditorWidget

    def to_python(self, value) -> list[dict[str, Any]]:
        return list(value or [])

    def validate(self, value) -> None:
        super().validate(value)
        if len(value) > MAX_FIELDS:
            raise ValidationError(f"At most {MAX_FIELDS} fields; this type has {len(value)}.")
        errors, seen = [], set()
        for position, row in enumerate(value, start=1):
            problem = _field_problem(row, seen)
            if problem:
                named = f" ({row['name']})" if row["name"] else ""
                errors.append(f"Field {position}{named}: {problem}")
            seen.add(row["name"])
        if errors:
            raise ValidationError(errors)


def _field_problem(row: dict[str, Any], seen: set[str]) -> str | None:
    name = row["name"]
    if not name:
        return "give it a name."
    if not FIELD_NAME_RE.match(name):
        return "use lower-case letters, digits and _, starting with a letter (64 characters at most)."
    if name in ENVELOPE_FIELDS:
        return f"“{name}” is an envelope field of every event; the payload cannot hold it."
    if name in CORE_TYPE_NAMES:
        return f"“{name}” is the name of a core event type; choose another name."
    if name in seen:
        return f"“{name}” appears twice."
    if row["type"] not in FieldType.values:
        return f"choose a type ({', '.join(FieldType.values)})."
    return None


class EventTypeForm(forms.ModelForm):
    class Meta:
        model = EventType
        fields = ["label", "name", "description", "is_active", "fields"]

    def clean_name(self) -> str:
        name = self.cleaned_data["name"]
        if name in CORE_TYPE_NAMES:
            raise ValidationError(f"“{name}” is a core event type; a custom type needs a name of its own.")
        return name


# --- the admin -----------------------------------------------------------------------------------------------------
@admin.register(EventType)
class EventTypeAdmin(LabelScopedAdmin):
    add_perm = change_perm = Perm.DATA_SOURCES
    # delete_perm stays None: stored events name their type, so a type is deactivated, never deleted.
    form = EventTypeForm
    list_display = ("name", "field_list", "active", "updated_at")
    list_select_related = ("label",)
    search_fields = ("name",)
    actions = None
    list_after_template = "admin/crm/eventtype/builtin_types.html"

    def changelist_view(self, request, extra_context=None):
        # The built-in types are the same for every label: listed under the label's custom ones.
        return super().changelist_view(request, {**(extra_context or {}), "builtin_types": builtin_types()})

    def get_list_display(self, request):
        if len(self.actor(request).label_ids) > 1:
            return (*self.list_display[:1], "label", *self.list_display[1:])
        return self.list_display

    def get_list_filter(self, request):
        filters = ["is_active"]
        if len(self.actor(request).label_ids) > 1:
            filters.insert(0, ("label", ScopedRelatedFilter))
        return filters

    def get_fieldsets(self, request, obj=None):
        editable = self.has_add_permission(request) if obj is None else self.has_change_permission(request, obj)
        fieldsets = [
            (None, {"fields": ["label", "name", "description", "is_active"]}),
            (
                "Payload fields",
                {
                    "fields": ["fields" if editable else "field_table"],
                    "description": "What the payload of an event of this type may hold. Required fields must be "
                    "present; others may be left out. Ingest refuses fields not listed here.",
                },
            ),
        ]
        if obj is not None:
            fieldsets.insert(1, ("Used by", {
                "fields": ["used_by"],
                "description": "Live missions and tournaments that read events of this type: switching it off, or "
                "removing or retyping a field they read, stops them counting.",
            }))  # fmt: skip
            fieldsets.append(("Timestamps", {"fields": [("created_at", "updated_at")]}))
        return fieldsets

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ["field_table"]
        # events refer to the type by name
        return ["label", "name", "field_table", "used_by", "created_at", "updated_at"]

    def save_model(self, request, obj, form, change) -> None:
        before = EventType.objects.filter(pk=obj.pk).values("is_active", "fields").first() if change else None
        super().save_model(request, obj, form, change)
        if before is not None:
            warning = _change_warning(obj, was_active=before["is_active"], old_fields=before["fields"] or [])
            if warning:
                messages.warning(request, warning)

    @display(description="Used by")
    def used_by(self, obj) -> str:
        uses = type_uses(label_id=obj.label_id, type_name=obj.name) if obj is not None and obj.pk else []
        if not uses:
            return "No active mission or running tournament reads this type."
        return format_html_join(
            mark_safe("<br>"),
            '{} <a href="{}">{}</a>{}',
            ((use.kind, use.url, use.name, _fields_note(use.fields)) for use in uses),
        )

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "fields":
            return EventFieldsField(required=False, label="Fields")
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    @display(description="Fields")
    def field_list(self, obj) -> str:
        if not obj.fields:
            return "-"
        return ", ".join(f"{f['name']}{'*' if f.get('required') else ''}" for f in obj.fields)

    @display(description="Active")
    def active(self, obj) -> str:
        return badge("Active", "success") if obj.is_active else badge("Inactive", "")

    @display(description="Fields")
    def field_table(self, obj) -> str:
        if obj is None or not obj.fields:
            return "No fields: events of this type carry an empty payload."
        rows = format_html_join(
            "",
            '<tr><th scope="row">{}</th><td>{}</td><td>{}</td></tr>',
            ((f["name"], f["type"], "required" if f.get("required") else "optional") for f in obj.fields),
        )
        return format_html(
            '<table class="pitboss-kv"><thead><tr><th>Field</th><th>Type</th><th></th></tr></thead>'
            "<tbody>{}</tbody></table>",
            rows,
        )


# --- what a change breaks --------------------------------------------------------------------------------------------
def _fields_note(fields) -> str:
    return f" (reads {', '.join(sorted(fields))})" if fields else ""


def _uses_html(uses: list[TypeUse], fields: set[str] | None = None):
    """Each use as a link, with the fields of `fields` it reads (all its fields when None)."""
    return format_html_join(
        ", ",
        '{} <a href="{}">{}</a>{}',
        ((u.kind, u.url, u.name, _fields_note(u.fields if fields is None else u.fields & fields)) for u in uses),
    )


def _still_reads(old: str, new: str | None) -> bool:
    """Whether conditions and sums written for a field of kind `old` still work on kind `new` (None: removed)."""
    return new == old or (new in NUMERIC_KINDS and old in NUMERIC_KINDS)


def _change_warning(obj: EventType, *, was_active: bool, old_fields: list[dict[str, Any]]) -> str:
    """What the saved change stops counting, naming the live missions and tournaments; "" when nothing."""
    new_types = {f["name"]: f["type"] for f in obj.fields or []}
    gone = {f["name"] for f in old_fields if not _still_reads(f["type"], new_types.get(f["name"]))}
    switched_off = was_active and not obj.is_active
    if not switched_off and not gone:
        return ""
    uses = type_uses(label_id=obj.label_id, type_name=obj.name)
    if switched_off and uses:
        return format_html(
            "“{}” is switched off: its events are refused from now on, so these stop counting: {}. Archive or change "
            "them, or switch the type back on.",
            obj.name,
            _uses_html(uses),
        )
    hit = [u for u in uses if u.fields & gone]
    if not hit:
        return ""
    removed = sorted(gone - set(new_types))
    retyped = sorted(gone & set(new_types))
    what = "; ".join(
        part
        for part in (
            f"removed {', '.join(removed)}" if removed else "",
            f"changed the type of {', '.join(retyped)}" if retyped else "",
        )
        if part
    )
    return format_html(
        "This change ({}) breaks what these read: {}. They cannot match those fields any more and open with a warning "
        "until they are changed.",
        what,
        _uses_html(hit, gone),
    )
