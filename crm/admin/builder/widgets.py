"""The builder's Django side: widgets that store exactly the JSON the raw boxes stored, and form fields that tell the
builder which row each server error belongs to.

    class TaskForm(forms.ModelForm):
        conditions = EventConditionsField(type_field="event_type")      # a mission task's event-condition list

    class SegmentForm(forms.ModelForm):
        conditions = ConditionTreeField(audience_url=reverse_lazy("admin:crm_segment_audience"))

The widget renders the JSON in a textarea (what is posted, so the POST format is unchanged) and a mount point that
static/crm/builder/builder.js turns into the builder; without JavaScript the textarea stays usable. The label comes
from `label_id` (set by the admin for an existing object) or from the form's `label` select as it changes.
"""

from __future__ import annotations

import json
import re
from typing import Any

from django import forms
from django.forms.boundfield import BoundField
from django.forms.fields import InvalidJSONInput
from django.template.loader import render_to_string
from django.urls import reverse

EVENT, TREE = "event", "tree"
_CONDITION = re.compile(r"^Condition (\d+): (.+)$", re.S)
# A tree path as crm.conditions names it: conditions.all[1].any[0].value; the node is the part made of group steps.
_TREE_PATH = re.compile(r"^\w*conditions((?:\.(?:all|any)\[\d+\]|\.not)*)((?:\.[A-Za-z_]+(?:\[\d+\])?)*): (.+)$", re.S)
_SPLIT = re.compile(r"; (?=\w*conditions[.:])")
_PLAIN_PARTS = {"field", "op", "value", "segment"}
_WHERE = re.compile(r"^where\[(\d+)\]$")


def errors_by_row(messages: list[str], mode: str) -> dict[str, list[str]]:
    """The form's error messages of a conditions field, by the row they are about.

    Event lists: "Condition 2: ..." belongs to row "1" (rows count from 0). Trees: "conditions.all[1].any[0].value:
    ..." belongs to node "all[1].any[0]" (the root is ""); a part below the node other than field/op/value (e.g.
    "behaviour.window") is kept in front of the message. Anything else is the whole field's, under "".
    """
    placed: dict[str, list[str]] = {}
    for message in messages:
        for part in _SPLIT.split(str(message)) if mode == TREE else [str(message)]:
            row, text = _place(part, mode)
            placed.setdefault(row, []).append(text)
    return placed


def _place(message: str, mode: str) -> tuple[str, str]:
    if mode == EVENT:
        found = _CONDITION.match(message)
        return (str(int(found.group(1)) - 1), found.group(2)) if found else ("", message)
    found = _TREE_PATH.match(message)
    if not found:
        return "", message
    node, rest, text = found.groups()
    parts = [p for p in rest.split(".") if p and p not in _PLAIN_PARTS and p != "behaviour"]
    if parts:
        words = [_WHERE.sub(lambda m: f"event condition {int(m.group(1)) + 1}", p).replace("_", " ") for p in parts]
        text = f"{' '.join(words).capitalize()}: {text}"
    return node.lstrip("."), text


class BuilderBoundField(BoundField):
    """Hands the field's errors to the builder widget, by row, so each shows next to the row it is about."""

    def build_widget_attrs(self, attrs, widget=None):
        attrs = super().build_widget_attrs(attrs, widget)
        widget = widget or self.field.widget
        if self.form.is_bound and self.errors and isinstance(widget, BuilderWidget):
            attrs["data-row-errors"] = json.dumps(errors_by_row(list(self.errors), widget.mode))
        return attrs


class BuilderWidget(forms.Textarea):
    """The JSON in a textarea (posted as before) and the builder over it."""

    template_name = "admin/crm/builder/widget.html"
    mode = ""

    class Media:
        js = ["crm/builder/builder.js"]
        css = {"all": ["crm/builder/builder.css"]}

    def __init__(self, attrs=None, *, label_id: int | None = None, label_field: str = "label"):
        super().__init__(attrs={"rows": 3, "cols": 60, **(attrs or {})})
        self.label_id = label_id
        self.label_field = label_field

    def render(self, name, value, attrs=None, renderer=None) -> str:
        # The project's template engine: Django's default form renderer does not look in templates/.
        return render_to_string(self.template_name, self.get_context(name, value, attrs))

    def builder_data(self) -> dict[str, Any]:
        return {
            "condition-builder": self.mode,
            "catalogue-url": reverse("crm_builder_catalogue"),
            "label-id": self.label_id or "",
            "label-field": self.label_field,
        }

    def get_context(self, name, value, attrs):
        attrs = dict(attrs or {})
        row_errors = attrs.pop("data-row-errors", "")
        context = super().get_context(name, value, attrs)
        data = {key: value for key, value in self.builder_data().items() if value is not None}
        if row_errors:
            data["row-errors"] = row_errors
        context["widget"]["builder"] = data
        return context


class EventConditionsWidget(BuilderWidget):
    """An event-condition list (`[{"field", "op", "value"}, ...]`, gamification/conditions.py) for the event type
    chosen in the sibling field `type_field` (in an inline, the sibling of the same row). The sibling boxes named in
    `number_fields` (a summed or scored field) are offered the type's numeric fields. With `money_in_base_currency`
    (missions, tournaments) a money field says its amounts are in the label's base currency."""

    mode = EVENT

    def __init__(
        self,
        attrs=None,
        *,
        type_field: str = "event_type",
        number_fields: tuple[str, ...] = (),
        money_in_base_currency: bool = False,
        **kwargs,
    ):
        super().__init__(attrs, **kwargs)
        self.type_field = type_field
        self.number_fields = number_fields
        self.money_in_base_currency = money_in_base_currency

    def builder_data(self) -> dict[str, Any]:
        return {
            **super().builder_data(),
            "type-field": self.type_field,
            "number-fields": ",".join(self.number_fields),
            "money-base": "1" if self.money_in_base_currency else "",
        }


class ConditionTreeWidget(BuilderWidget):
    """A condition tree (docs/conditions.md): nested all / any / none-of groups of field, behaviour and segment
    conditions. With `audience_url`, the builder shows the audience count as it changes (POST {"conditions": tree}
    answering {"count", "description"} or {"errors"}); `exclude_segment` keeps a segment out of its own choices."""

    mode = TREE

    def __init__(self, attrs=None, *, audience_url: str | None = None, exclude_segment: int | None = None, **kwargs):
        super().__init__(attrs, **kwargs)
        self.audience_url = audience_url
        self.exclude_segment = exclude_segment

    def builder_data(self) -> dict[str, Any]:
        return {
            **super().builder_data(),
            "audience-url": str(self.audience_url) if self.audience_url else "",
            "exclude-segment": self.exclude_segment or "",
        }


class _ConditionsField(forms.JSONField):
    bound_field_class = BuilderBoundField
    widget_class: type[BuilderWidget] = BuilderWidget

    def __init__(self, *, widget_options: dict | None = None, **kwargs):
        kwargs.setdefault("widget", self.widget_class(**(widget_options or {})))
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)


class EventConditionsField(_ConditionsField):
    """A JSON field edited with `EventConditionsWidget`; validators stay the form's (clean_<name>, model clean). A new
    row starts with no condition (`[]`)."""

    widget_class = EventConditionsWidget

    def __init__(
        self,
        *,
        type_field: str = "event_type",
        number_fields: tuple[str, ...] = (),
        money_in_base_currency: bool = False,
        **kwargs,
    ):
        kwargs.setdefault("initial", list)
        options = {"type_field": type_field, "number_fields": number_fields}
        super().__init__(widget_options={**options, "money_in_base_currency": money_in_base_currency}, **kwargs)


def _everyone() -> dict:
    return {"all": []}


class ConditionTreeField(_ConditionsField):
    """A JSON field edited with `ConditionTreeWidget`; a new object starts with `initial` (default: everyone). The
    JSON is indented, so that "Show the JSON" (and a browser without JavaScript) shows a tree as a tree."""

    widget_class = ConditionTreeWidget

    def __init__(self, *, audience_url: str | None = None, **kwargs):
        kwargs.setdefault("initial", _everyone)
        super().__init__(widget_options={"audience_url": audience_url}, **kwargs)

    def prepare_value(self, value):
        if isinstance(value, InvalidJSONInput):
            return value
        return json.dumps(value, ensure_ascii=False, indent=2, cls=self.encoder)


class ActivitiesWidget(BuilderWidget):
    """A rule's activities (`[{"type": "points", "amount": 10}, ...]`, crm/automation/activities.py) edited row by
    row by static/crm/builder/activities.js: what each does, its amount or expression, the mission, badge or bonus
    template it gives (the label's, from the catalogue), the accumulation's field (the trigger type's numeric fields,
    from the sibling `type_field`). The textarea is what the form posts; without JavaScript it stays editable."""

    mode = "activities"

    class Media:
        js = ["crm/builder/activities.js"]
        css = {"all": ["crm/builder/builder.css"]}

    def __init__(self, attrs=None, *, type_field: str = "trigger_type", **kwargs):
        super().__init__(attrs, **kwargs)
        self.type_field = type_field

    def builder_data(self) -> dict[str, Any]:
        data = super().builder_data()
        del data["condition-builder"]  # not a condition builder: builder.js leaves it alone
        return {"activities-editor": "1", **data, "type-field": self.type_field}


class ActivitiesField(forms.JSONField):
    """A rule's activities, edited with `ActivitiesWidget`; validated by the rule's form (`rule_errors`), whose
    messages name the row ("Activity 2, amount: ...") and are shown under it."""

    def __init__(self, *, type_field: str = "trigger_type", **kwargs):
        kwargs.setdefault("widget", ActivitiesWidget(type_field=type_field))
        kwargs.setdefault("required", False)
        kwargs.setdefault("initial", list)
        super().__init__(**kwargs)


def builder_label(form: forms.BaseForm, label_id: int | None) -> None:
    """Tell every builder widget of `form` the label it edits for (an existing object's label)."""
    for field in form.fields.values():
        if isinstance(field.widget, BuilderWidget) and label_id:
            field.widget.label_id = label_id
