"""Stream sources: a label's RabbitMQ queue of events. The broker URL holds a password: it is written, never shown."""

from __future__ import annotations

from urllib.parse import urlsplit

from django import forms
from django.contrib import admin
from unfold.decorators import display
from unfold.widgets import UnfoldAdminPasswordWidget

from backoffice.admin.base import LabelScopedAdmin
from backoffice.admin.filters import ScopedRelatedFilter
from backoffice.models import Perm
from integrations.models import StreamSource
from integrations.stream.config import BROKER_SCHEMES, safe_broker_url

STATUS_FIELDS = [
    "messages_read",
    "events_accepted",
    "messages_dead_lettered",
    "last_message_at",
    "last_error",
    "last_error_at",
]
NEW_HELP = "amqp://user:password@host:5672/vhost (stored encrypted)."
KEEP_HELP = "Stored encrypted and never shown. Leave blank to keep the current one; type a new one to replace it."


def validate_broker_url(value: str) -> None:
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError as exc:
        raise forms.ValidationError("This is not a valid URL.") from exc
    if parts.scheme not in BROKER_SCHEMES:
        raise forms.ValidationError("Only RabbitMQ: amqp://user:password@host:5672/vhost (or amqps://).")
    if not parts.hostname:
        raise forms.ValidationError("The URL names no host.")


class StreamSourceForm(forms.ModelForm):
    """`broker_url` is write-only: blank on a change keeps the stored URL."""

    broker_url = forms.CharField(
        label="Broker URL",
        required=False,
        max_length=2000,
        widget=UnfoldAdminPasswordWidget(render_value=False),
    )

    class Meta:
        model = StreamSource
        fields = ["label", "name", "broker_url", "queue", "dead_letter_queue", "prefetch", "is_active"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.initial["broker_url"] = ""  # never sent to the browser; blank means "unchanged"
        self.fields["broker_url"].help_text = KEEP_HELP if self.instance.pk else NEW_HELP

    def clean_broker_url(self) -> str:
        value = self.cleaned_data["broker_url"].strip()
        if not value:
            if self.instance.pk:
                return self.instance.broker_url
            raise forms.ValidationError("This field is required.", code="required")
        validate_broker_url(value)
        return value

    def clean_dead_letter_queue(self) -> str:
        value = self.cleaned_data["dead_letter_queue"].strip()
        if value.startswith("amq."):
            raise forms.ValidationError("Names starting with amq. are reserved by RabbitMQ.")
        return value

    def clean(self):
        cleaned = super().clean()
        queue, dead_letters = cleaned.get("queue"), cleaned.get("dead_letter_queue")
        if queue and dead_letters and queue.strip() == dead_letters:
            self.add_error("dead_letter_queue", "Must differ from the queue consumed.")
        return cleaned


@admin.register(StreamSource)
class StreamSourceAdmin(LabelScopedAdmin):
    """Integration engineers and admins set sources up; everyone in the label sees how they are doing."""

    add_perm = change_perm = delete_perm = Perm.DATA_SOURCES
    form = StreamSourceForm
    list_display = (
        "name",
        "label",
        "queue",
        "status",
        "messages_read",
        "events_accepted",
        "messages_dead_lettered",
        "last_message_at",
        "last_error_at",
    )
    list_filter = (("label", ScopedRelatedFilter), "is_active")
    list_select_related = ("label",)
    search_fields = ("name", "queue")

    def get_fieldsets(self, request, obj=None):
        broker = ["broker_url", "queue", "dead_letter_queue", "prefetch"]
        if obj is None:
            return [(None, {"fields": ["label", "name", "is_active"]}), ("Broker", {"fields": broker})]
        if not self.has_change_permission(request, obj):
            broker.remove("broker_url")  # a read-only page would print the stored value
        return [
            (None, {"fields": ["label", "name", "is_active"]}),
            (
                "Broker",
                {
                    "fields": ["broker", *broker],
                    "description": "The queue must exist on the broker; the dead-letter queue is created if missing. "
                    "Changes reach the running consumer within a minute.",
                },
            ),
            ("Status", {"fields": STATUS_FIELDS}),
        ]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        # The label is fixed: the queue's events belong to it.
        return ["label", "broker", *STATUS_FIELDS]

    @display(description="Broker")
    def broker(self, obj) -> str:
        return safe_broker_url(obj.broker_url) if obj.broker_url else "-"

    @display(description="Status", label={"Inactive": "", "Error": "danger", "OK": "success", "Idle": "info"})
    def status(self, obj) -> str:
        if not obj.is_active:
            return "Inactive"
        if obj.last_error_at and (obj.last_message_at is None or obj.last_error_at > obj.last_message_at):
            return "Error"
        return "OK" if obj.last_message_at else "Idle"
